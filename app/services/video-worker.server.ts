import { randomBytes } from "node:crypto";
import os from "node:os";
import { isDatabaseBusy, type PortableDb } from "#db/client.server";
import { extendHold } from "./money/ledger.server";
import { readHoldStatus } from "./money/ledger-reads.server";
import { removeJobQuietly, type ResultStore } from "./results/result-store.server";
import { GENERATION_COLUMNS, listUnfinishedGenerations, UNFINISHED, type Generation } from "./generation-job-reads.server";
import { asSentence, failGeneration, failureOf, markRunning, updateProgress } from "./generation-job-writes.server";
import { completeJob, failJob, retryWhenBusy, type Settler } from "./generation-settle.server";
import { isProviderError, type GeneratedFile, type GenerationProvider, type VideoRequest } from "./providers/types";

// The in-process video worker: at most `concurrency` jobs at once, each one
//   start (provider.startVideo; the provider's job id is stored at once)
//   → poll (provider.getVideo, with a growing interval; progress stored)
//   → download → store the file → post the hold (completeGeneration).
// Any end other than success voids the hold (failGeneration), an unexpected throw included: no job
// is left `running` without a worker. While the provider reports progress the hold's timeout is
// pushed forward, so a long video is not voided mid-render. Writes that meet a busy database are
// retried (generation-settle.server.ts). Everything it needs to resume is in the database, so
// after a crash or a restart `recover()` picks every unfinished job up again.
//
// Several instances on one PostgreSQL database (decision 036): a video job is run by the worker
// that CLAIMED it, one guarded UPDATE that sets generations.lease_owner / lease_until (on
// PostgreSQL the candidate row is picked `FOR UPDATE SKIP LOCKED`, so two workers never wait on
// or take the same job; SQLite's writes are serial). While it runs jobs, a heartbeat renews its
// leases every leaseMs / 3, and each provider call renews first: a worker whose renewal finds
// another owner drops the job without touching it. A killed instance's lease runs out and
// another worker's scan takes the job over, exactly once (on SQLite, the next start does: one
// process owns the file, so a lease it finds at start-up is a dead process's): it polls
// the provider's job again (or fails a job that never reached the provider), and the hold is
// posted or voided once, whoever ends it (the transitions are guarded, generation-job-writes).
// A clean stop() releases the leases it holds, so the next start resumes at once.
// It is one class of ~400 lines on purpose: the queue and the steps of a job share its state (the
// running set, the stop signal, the settler), and splitting them would pass that state around.

export type WorkerLog = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  warn: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

export type VideoWorkerOptions = {
  db: PortableDb;
  /** Retries writes through a busy database; remembers failures it could not write. */
  settler: Settler;
  /** A progress report moves the job's hold timeout to now + this. */
  holdTtlMs: number;
  provider: GenerationProvider;
  results: ResultStore;
  concurrency: number;
  /** How long retryable poll failures (network, 5xx) may last before the job fails. */
  maxFailingMs: number;
  /** Poll interval for the n-th poll of a job (default: 500 ms, then 2 s after 10 s, 5 s after 2 min). */
  pollIntervalMs?: (attempt: number) => number;
  /** How long stop() waits for in-flight provider calls before it aborts them. */
  stopGraceMs?: number;
  log?: WorkerLog;
  now?: () => number;
  /** This worker's name in generations.lease_owner (default: host, pid and a random part). */
  workerId?: string;
  /** How long a claim lasts unless renewed (default 30 s). While the worker runs jobs a heartbeat
   * renews all its leases every leaseMs / 3, so a live worker's claim never lapses mid-call. */
  leaseMs?: number;
  /** How often, once recover() ran, the worker looks for jobs nobody holds (0: never; default 5 s). */
  scanIntervalMs?: number;
};

export type RecoveryReport = { resumed: number; failed: number };

const DOWNLOAD_ATTEMPTS = 3;
const DEFAULT_SCAN_INTERVAL_MS = 5_000;
const DEFAULT_LEASE_MS = 30_000;

const UNLEASED = "(lease_owner IS NULL OR lease_until < @now)";
const CLAIM_SQL = {
  // One job by id: unfinished, a video, and nobody else's live lease.
  byId: `UPDATE generations SET lease_owner = @me, lease_until = @until
    WHERE id = @id AND kind = 'video' AND status IN ('queued', 'running') AND (lease_owner = @me OR ${UNLEASED})
    RETURNING ${GENERATION_COLUMNS}`,
  byIdFromDead: `UPDATE generations SET lease_owner = @me, lease_until = @until
    WHERE id = @id AND kind = 'video' AND status IN ('queued', 'running')
    RETURNING ${GENERATION_COLUMNS}`,
  // The oldest video nobody holds. The outer guard repeats the inner one: on PostgreSQL the row is
  // re-checked once locked, so a claim that lost a race updates nothing.
  next: (skipLocked: string) => `UPDATE generations SET lease_owner = @me, lease_until = @until
    WHERE id = (SELECT id FROM generations WHERE kind = 'video' AND status IN ('queued', 'running') AND ${UNLEASED}
                ORDER BY created_at, id LIMIT 1${skipLocked})
      AND status IN ('queued', 'running') AND ${UNLEASED}
    RETURNING ${GENERATION_COLUMNS}`,
  renew: `UPDATE generations SET lease_until = @until WHERE id = @id AND lease_owner = @me AND status IN ('queued', 'running')`,
  // The heartbeat: every job this worker holds (its running videos, and the images of its requests).
  renewAll: `UPDATE generations SET lease_until = @until WHERE lease_owner = @me AND status IN ('queued', 'running')`,
  release: `UPDATE generations SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = @me AND status IN ('queued', 'running')`,
} as const;

export function newWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

export function defaultPollInterval(attempt: number): number {
  if (attempt < 20) return 500;
  if (attempt < 75) return 2_000;
  return 5_000;
}

export class VideoWorker {
  /** This worker's name in generations.lease_owner. */
  readonly id: string;
  private readonly queue: string[] = [];
  private readonly active = new Map<string, Promise<void>>();
  private readonly wakers = new Set<() => void>();
  private readonly idleWaiters = new Set<() => void>();
  private readonly controller = new AbortController();
  private stopping = false;
  /** Claims in flight from scan(): they count against the concurrency. */
  private claiming = 0;
  private scanning: Promise<number> | null = null;
  private scanTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly pollInterval: (attempt: number) => number;
  private readonly leaseMs: number;
  private readonly claimNextSql: string;

  constructor(private readonly options: VideoWorkerOptions) {
    this.now = options.now ?? Date.now;
    this.pollInterval = options.pollIntervalMs ?? defaultPollInterval;
    this.id = options.workerId ?? newWorkerId();
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.claimNextSql = CLAIM_SQL.next(options.db.sql.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "");
  }

  get stats(): { queued: number; running: number } {
    return { queued: this.queue.length, running: this.active.size };
  }

  /** Adds a job (queued, or running with a provider id) to the queue. A job already known is ignored.
   * It runs once claimed: a job another worker holds is left to it. */
  enqueue(id: string): void {
    if (this.stopping || this.active.has(id) || this.queue.includes(id)) return;
    this.queue.push(id);
    this.pump();
  }

  /** Claims one job by id for this worker (or renews its own claim); undefined: not claimable. */
  async claim(id: string): Promise<Generation | undefined> {
    const now = this.now();
    return this.options.db.sql.get<Generation>(CLAIM_SQL.byId, { id, me: this.id, now, until: now + this.leaseMs });
  }

  /** SQLite's start-up: a job a dead process of this file still names as its own. */
  private async claimFromDead(id: string): Promise<Generation | undefined> {
    const now = this.now();
    return this.options.db.sql.get<Generation>(CLAIM_SQL.byIdFromDead, { id, me: this.id, until: now + this.leaseMs });
  }

  /** Claims the oldest video job nobody holds (never held, released, or its lease expired). */
  async claimNext(): Promise<Generation | undefined> {
    const now = this.now();
    return this.options.db.sql.get<Generation>(this.claimNextSql, { me: this.id, now, until: now + this.leaseMs });
  }

  /**
   * Takes over jobs nobody holds, as long as there is room: what another instance left when it
   * was killed (its lease ran out) or queued without running. Answers how many it started.
   */
  scan(): Promise<number> {
    this.scanning ??= this.takeOver().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async takeOver(): Promise<number> {
    let started = 0;
    while (!this.stopping && this.active.size + this.claiming < this.options.concurrency) {
      this.claiming++;
      let job: Generation | undefined;
      try {
        job = await this.claimNext();
      } finally {
        this.claiming--;
      }
      if (!job) break;
      if (this.active.has(job.id)) continue; // our own, its lease renewed
      if (this.stopping) break; // stop() releases what this worker holds
      this.start(job.id, job);
      started++;
    }
    return started;
  }

  /**
   * After a start: fails what cannot be resumed (voiding its hold) and queues the rest; then scans
   * for jobs nobody holds every scanIntervalMs. A job another live worker holds is left alone.
   * - an image job: the request that ran it is gone;
   * - a video marked running without a provider id: the process died while the provider was
   *   being asked, so nobody knows whether a remote job exists (it cannot be polled);
   * - a video whose hold is no longer pending (the sweeper voided it): it can no longer be charged.
   */
  async recover(): Promise<RecoveryReport> {
    const { db, results, log } = this.options;
    const report: RecoveryReport = { resumed: 0, failed: 0 };
    for (const found of await listUnfinishedGenerations(db)) {
      const now = this.now();
      // On SQLite one process owns the file (the server refuses a second writer), so at start-up
      // every other worker's lease is a dead process's: taken over at once, as before leases.
      // On PostgreSQL a live instance may hold it: it is left until its lease runs out (scan()).
      const heldElsewhere = found.leaseOwner !== null && found.leaseOwner !== this.id && found.leaseUntil !== null && found.leaseUntil >= now;
      if (heldElsewhere && db.sql.dialect === "postgres") continue;
      if (found.kind === "image") {
        await failGeneration(db, found.id, "The job was interrupted by a restart of the server.", "restart", now);
        // Off the start-up path: a slow bucket must not hold the server back; a file left behind
        // belongs to a failed job nobody can read.
        void removeJobQuietly(results, found.userId, found.id, log);
        report.failed++;
        continue;
      }
      const job = heldElsewhere ? await this.claimFromDead(found.id) : await this.claim(found.id);
      if (!job) continue; // another worker claimed it meanwhile
      const holdPending = job.holdId !== null && (await readHoldStatus(db, job.holdId)) === "pending";
      if (!holdPending) {
        await failGeneration(db, job.id, "The credit hold expired before the video finished.", "hold_expired", now);
        report.failed++;
      } else if (job.status === "running" && !job.providerJobId) {
        await failGeneration(db, job.id, "The job was interrupted by a restart before the generator accepted it.", "restart", now);
        report.failed++;
      } else {
        this.enqueue(job.id);
        report.resumed++;
      }
    }
    if (report.resumed || report.failed) log?.info({ ...report }, "generation jobs recovered after start-up");
    this.startScanning();
    return report;
  }

  private startScanning(): void {
    const every = this.options.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS;
    if (this.scanTimer || this.stopping || every <= 0) return;
    this.scanTimer = setInterval(() => {
      this.scan().catch((error: unknown) => this.options.log?.[isDatabaseBusy(error) ? "warn" : "error"]({ err: error }, "video worker scan failed; retrying next tick"));
    }, every);
    this.scanTimer.unref();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /**
   * Stops taking work, wakes sleeping pollers (they leave their jobs as they are, to be resumed by
   * the next start) and waits for in-flight provider calls; after the grace period they are aborted.
   * Then releases this worker's leases, so another instance (or the next start) takes over at once.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.scanTimer);
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.queue.length = 0;
    for (const wake of this.wakers) wake();
    const all = Promise.allSettled([...this.active.values(), ...(this.scanning ? [this.scanning] : [])]);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.stopGraceMs ?? 5_000);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    this.controller.abort(new Error("the server is shutting down"));
    await all;
    try {
      await this.options.db.sql.run(CLAIM_SQL.release, { me: this.id });
    } catch (error) {
      // Not fatal: the leases run out on their own and another worker takes the jobs over then.
      this.options.log?.warn({ err: error }, "could not release the video worker's leases; they will expire");
    }
  }

  private pump(): void {
    while (!this.stopping && this.active.size + this.claiming < this.options.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      if (!this.active.has(id)) this.start(id);
    }
  }

  /** Runs a job (claimed already, or claimed first by id). */
  private start(id: string, claimed?: Generation): void {
    const run = this.run(id, claimed)
      .catch((error: unknown) => this.crashed(id, error))
      .finally(() => {
        this.active.delete(id);
        if (this.active.size === 0) {
          clearInterval(this.heartbeat);
          this.heartbeat = undefined;
        }
        this.pump();
        if (this.queue.length === 0 && this.active.size === 0) {
          for (const resolve of this.idleWaiters) resolve();
          this.idleWaiters.clear();
        }
      });
    this.active.set(id, run);
    this.beat();
  }

  /** While jobs run: renews every lease this worker holds, well before they would lapse. */
  private beat(): void {
    if (this.heartbeat || this.stopping) return;
    this.heartbeat = setInterval(() => {
      const now = this.now();
      this.options.db.sql.run(CLAIM_SQL.renewAll, { me: this.id, until: now + this.leaseMs }).catch((error: unknown) => {
        // A busy database or a blip: the next beat (or the next provider call) renews it.
        this.options.log?.warn({ err: error }, "video worker heartbeat could not renew its leases");
      });
    }, Math.max(10, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.wakers.add(wake);
    });
  }

  private failJob(id: string, message: string, voidReason: string): Promise<void> {
    return failJob(this.options.settler, id, message, voidReason);
  }

  private fail(job: Generation, error: unknown): Promise<void> {
    const failure = failureOf(error);
    if (failure.unexpected) this.options.log?.error({ err: error, generationId: job.id }, "video job failed unexpectedly");
    return this.failJob(job.id, failure.message, failure.voidReason);
  }

  /** A throw nobody caught: the job has no worker any more, so it ends here and costs nothing. */
  private async crashed(id: string, error: unknown): Promise<void> {
    this.options.log?.error({ err: error, generationId: id }, "video job crashed; failing it");
    await this.failJob(id, "The job failed because of an internal error.", "internal_error");
  }

  /**
   * Renews this worker's lease on the job before a provider call. False: the job ended, or another
   * worker took it over (this one was presumed dead): leave it alone. A busy database keeps the
   * job (the lease still has time; the next call renews it).
   */
  private async keep(job: Generation): Promise<boolean> {
    const now = this.now();
    try {
      const renewed = await this.options.db.sql.run(CLAIM_SQL.renew, { id: job.id, me: this.id, until: now + this.leaseMs });
      if (renewed.changes > 0) return true;
    } catch (error) {
      if (!isDatabaseBusy(error)) throw error;
      this.options.log?.warn({ err: error, generationId: job.id }, "database busy: the job's lease not renewed this time");
      return true;
    }
    this.options.log?.warn({ generationId: job.id, worker: this.id }, "video job ended or taken over by another worker; leaving it");
    return false;
  }

  /** Progress, and the hold kept alive with it (one transaction). A busy database skips this
   * report: the next poll writes the next one. */
  private async reportProgress(job: Generation, progress: number): Promise<void> {
    const { db, holdTtlMs } = this.options;
    try {
      await db.sql.write(async (tx) => {
        const now = this.now();
        await updateProgress(tx, job.id, progress, now);
        await extendHold(tx, job.holdId!, now + holdTtlMs);
      });
    } catch (error) {
      if (!isDatabaseBusy(error)) throw error;
      this.options.log?.warn({ err: error, generationId: job.id }, "database busy: progress not recorded this time");
    }
  }

  private abortedByStop(error: unknown): boolean {
    return this.stopping && isProviderError(error) && (error.code === "aborted" || error.code === "timeout");
  }

  private async run(id: string, claimed?: Generation): Promise<void> {
    const { db } = this.options;
    const job = claimed ?? (await this.claim(id));
    if (!job || !UNFINISHED.includes(job.status)) return; // ended, or another worker holds it
    if (job.holdId === null || (await readHoldStatus(db, job.holdId)) !== "pending") {
      await this.failJob(id, "The credit hold expired before the video started.", "hold_expired");
      return;
    }
    const providerJobId = job.providerJobId ?? (await this.begin(job));
    if (!providerJobId) return;
    const outcome = await this.poll(job, providerJobId);
    if (outcome !== "completed") return;
    const file = await this.download(job, providerJobId);
    if (!file) return;
    if (!(await this.keep(job))) return;
    await this.store(job, file);
  }

  /** Asks the provider to start; its job id, or null when the job ended instead. */
  private async begin(job: Generation): Promise<string | null> {
    const { db, provider, settler } = this.options;
    if (job.status === "running") {
      await this.failJob(job.id, "The job was interrupted before the generator accepted it.", "restart");
      return null;
    }
    // Marked running first: if we die while the provider is asked, the next start knows it
    // cannot resume this job (there is no id to poll) and gives the credits back.
    await retryWhenBusy(() => markRunning(db, job.id, this.now()), settler.busyRetry);
    if (!(await this.keep(job))) return null;
    const options = JSON.parse(job.options) as Partial<VideoRequest>;
    let providerJobId: string;
    try {
      ({ providerJobId } = await provider.startVideo(
        { prompt: job.prompt, resolution: options.resolution!, durationSeconds: options.durationSeconds! },
        { signal: this.controller.signal },
      ));
    } catch (error) {
      await this.fail(job, error);
      return null;
    }
    await retryWhenBusy(() => markRunning(db, job.id, this.now(), providerJobId), settler.busyRetry);
    return providerJobId;
  }

  /** Polls until the provider says completed ("completed"), or the job ended or we stop ("done"). */
  private async poll(job: Generation, providerJobId: string): Promise<"completed" | "done"> {
    const { db, provider, maxFailingMs } = this.options;
    let failingSince: number | null = null;
    for (let attempt = 0; ; attempt++) {
      await this.sleep(this.pollInterval(attempt));
      if (this.stopping) return "done";
      if ((await readHoldStatus(db, job.holdId!)) !== "pending") {
        await this.failJob(job.id, "The credit hold expired before the video finished.", "hold_expired");
        return "done";
      }
      if (!(await this.keep(job))) return "done";
      let state;
      try {
        state = await provider.getVideo(providerJobId, { signal: this.controller.signal });
      } catch (error) {
        if (this.stopping) return "done";
        if (isProviderError(error) && error.retryable) {
          failingSince ??= this.now();
          if (this.now() - failingSince <= maxFailingMs) {
            this.options.log?.warn({ err: error, generationId: job.id }, "video poll failed; will retry");
            continue;
          }
        }
        await this.fail(job, error);
        return "done";
      }
      failingSince = null;
      if (state.status === "completed") return "completed";
      if (state.status === "failed") {
        await this.failJob(job.id, asSentence(`The video failed: ${state.error.slice(0, 400)}`), "provider_failed");
        return "done";
      }
      await this.reportProgress(job, state.progress);
    }
  }

  private async download(job: Generation, providerJobId: string): Promise<GeneratedFile | null> {
    for (let attempt = 1; ; attempt++) {
      if (!(await this.keep(job))) return null;
      try {
        return await this.options.provider.downloadVideo(providerJobId, { signal: this.controller.signal });
      } catch (error) {
        // Stopping: leave the job running; the next start polls again and downloads.
        if (this.abortedByStop(error)) return null;
        if (isProviderError(error) && error.retryable && attempt < DOWNLOAD_ATTEMPTS && !this.stopping) {
          await this.sleep(this.pollInterval(attempt));
          continue;
        }
        await this.fail(job, error);
        return null;
      }
    }
  }

  private async store(job: Generation, file: GeneratedFile): Promise<void> {
    const { results, log } = this.options;
    let resultPath: string;
    try {
      resultPath = await results.write(job.userId, job.id, file);
    } catch (error) {
      log?.error({ err: error, generationId: job.id }, "could not store a finished video");
      await this.failJob(job.id, "The video could not be stored.", "storage_error");
      return;
    }
    let done;
    try {
      done = await completeJob(this.options.settler, job.id, { resultPath, mimeType: file.mimeType });
    } catch (error) {
      await removeJobQuietly(results, job.userId, job.id, log);
      throw error; // crashed(): the job fails, nothing is charged
    }
    if (done.ok) return;
    await removeJobQuietly(results, job.userId, job.id, log);
    if (done.reason === "hold_voided") {
      await this.failJob(job.id, "The credit hold expired before the video finished.", "hold_expired");
    }
  }
}
