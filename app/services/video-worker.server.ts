import { isDatabaseBusy, type AppDb } from "#db/client.server";
import { extendHold, holdStatus } from "./money/ledger.server";
import { removeJobQuietly, type ResultStore } from "./results/result-store.server";
import { findGeneration, listUnfinishedGenerations, UNFINISHED, type Generation } from "./generation-job-reads.server";
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
// It is one class of ~320 lines on purpose: the queue and the steps of a job share its state (the
// running set, the stop signal, the settler), and splitting them would pass that state around.

export type WorkerLog = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  warn: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

export type VideoWorkerOptions = {
  db: AppDb;
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
};

export type RecoveryReport = { resumed: number; failed: number };

const DOWNLOAD_ATTEMPTS = 3;

export function defaultPollInterval(attempt: number): number {
  if (attempt < 20) return 500;
  if (attempt < 75) return 2_000;
  return 5_000;
}

export class VideoWorker {
  private readonly queue: string[] = [];
  private readonly active = new Map<string, Promise<void>>();
  private readonly wakers = new Set<() => void>();
  private readonly idleWaiters = new Set<() => void>();
  private readonly controller = new AbortController();
  private stopping = false;
  private readonly now: () => number;
  private readonly pollInterval: (attempt: number) => number;

  constructor(private readonly options: VideoWorkerOptions) {
    this.now = options.now ?? Date.now;
    this.pollInterval = options.pollIntervalMs ?? defaultPollInterval;
  }

  get stats(): { queued: number; running: number } {
    return { queued: this.queue.length, running: this.active.size };
  }

  /** Adds a job (queued, or running with a provider id) to the queue. A job already known is ignored. */
  enqueue(id: string): void {
    if (this.stopping || this.active.has(id) || this.queue.includes(id)) return;
    this.queue.push(id);
    this.pump();
  }

  /**
   * After a start: fails what cannot be resumed (voiding its hold) and queues the rest.
   * - an image job: the request that ran it is gone;
   * - a video marked running without a provider id: the process died while the provider was
   *   being asked, so nobody knows whether a remote job exists (it cannot be polled);
   * - a video whose hold is no longer pending (the sweeper voided it): it can no longer be charged.
   */
  async recover(): Promise<RecoveryReport> {
    const { db, results, log } = this.options;
    const report: RecoveryReport = { resumed: 0, failed: 0 };
    for (const job of listUnfinishedGenerations(db)) {
      const now = this.now();
      const holdPending = job.holdId !== null && holdStatus(db, job.holdId) === "pending";
      if (job.kind === "image") {
        await failGeneration(db, job.id, "The job was interrupted by a restart of the server.", "restart", now);
        // Off the start-up path: a slow bucket must not hold the server back; a file left behind
        // belongs to a failed job nobody can read.
        void removeJobQuietly(results, job.userId, job.id, log);
        report.failed++;
      } else if (!holdPending) {
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
    return report;
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /**
   * Stops taking work, wakes sleeping pollers (they leave their jobs as they are, to be resumed by
   * the next start) and waits for in-flight provider calls; after the grace period they are aborted.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.queue.length = 0;
    for (const wake of this.wakers) wake();
    const all = Promise.allSettled([...this.active.values()]);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.stopGraceMs ?? 5_000);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    this.controller.abort(new Error("the server is shutting down"));
    await all;
  }

  private pump(): void {
    while (!this.stopping && this.active.size < this.options.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const run = this.run(id)
        .catch((error: unknown) => this.crashed(id, error))
        .finally(() => {
          this.active.delete(id);
          this.pump();
          if (this.queue.length === 0 && this.active.size === 0) {
            for (const resolve of this.idleWaiters) resolve();
            this.idleWaiters.clear();
          }
        });
      this.active.set(id, run);
    }
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

  /** Progress, and the hold kept alive with it (one transaction). A busy database skips this
   * report: the next poll writes the next one. */
  private async reportProgress(job: Generation, progress: number): Promise<void> {
    const { db, holdTtlMs } = this.options;
    try {
      await db.sql.write(async (tx) => {
        const now = this.now();
        updateProgress(db, job.id, progress, now);
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

  private async run(id: string): Promise<void> {
    const { db } = this.options;
    const job = findGeneration(db, id);
    if (!job || !UNFINISHED.includes(job.status)) return;
    if (job.holdId === null || holdStatus(db, job.holdId) !== "pending") {
      await this.failJob(id, "The credit hold expired before the video started.", "hold_expired");
      return;
    }
    const providerJobId = job.providerJobId ?? (await this.begin(job));
    if (!providerJobId) return;
    const outcome = await this.poll(job, providerJobId);
    if (outcome !== "completed") return;
    const file = await this.download(job, providerJobId);
    if (!file) return;
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
      if (holdStatus(db, job.holdId!) !== "pending") {
        await this.failJob(job.id, "The credit hold expired before the video finished.", "hold_expired");
        return "done";
      }
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
