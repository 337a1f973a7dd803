import type { AppDb } from "#db/client.server";
import { holdStatus } from "./money/ledger.server";
import { removeJobFiles, writeResultFile } from "./generation-files.server";
import { findGeneration, listUnfinishedGenerations, UNFINISHED, type Generation } from "./generation-job-reads.server";
import { asSentence, completeGeneration, failGeneration, failureOf, markRunning, updateProgress } from "./generation-job-writes.server";
import { isProviderError, type GeneratedFile, type GenerationProvider, type VideoRequest } from "./providers/types";

// The in-process video worker: at most `concurrency` jobs at once, each one
//   start (provider.startVideo; the provider's job id is stored at once)
//   → poll (provider.getVideo, with a growing interval; progress stored)
//   → download → store the file → post the hold (completeGeneration).
// Any end other than success voids the hold (failGeneration). Everything it needs to resume is in
// the database, so after a crash or a restart `recover()` picks every unfinished job up again.

export type WorkerLog = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  warn: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

export type VideoWorkerOptions = {
  db: AppDb;
  provider: GenerationProvider;
  dataDir: string;
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
  recover(): RecoveryReport {
    const { db, dataDir, log } = this.options;
    const report: RecoveryReport = { resumed: 0, failed: 0 };
    for (const job of listUnfinishedGenerations(db)) {
      const now = this.now();
      const holdPending = job.holdId !== null && holdStatus(db, job.holdId) === "pending";
      if (job.kind === "image") {
        failGeneration(db, job.id, "The job was interrupted by a restart of the server.", "restart", now);
        removeJobFiles(dataDir, job.userId, job.id);
        report.failed++;
      } else if (!holdPending) {
        failGeneration(db, job.id, "The credit hold expired before the video finished.", "hold_expired", now);
        report.failed++;
      } else if (job.status === "running" && !job.providerJobId) {
        failGeneration(db, job.id, "The job was interrupted by a restart before the generator accepted it.", "restart", now);
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
        .catch((error: unknown) => this.options.log?.error({ err: error, generationId: id }, "video job crashed"))
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

  private fail(job: Generation, error: unknown): void {
    const failure = failureOf(error);
    if (failure.unexpected) this.options.log?.error({ err: error, generationId: job.id }, "video job failed unexpectedly");
    failGeneration(this.options.db, job.id, failure.message, failure.voidReason, this.now());
  }

  private abortedByStop(error: unknown): boolean {
    return this.stopping && isProviderError(error) && (error.code === "aborted" || error.code === "timeout");
  }

  private async run(id: string): Promise<void> {
    const { db, provider } = this.options;
    const job = findGeneration(db, id);
    if (!job || !UNFINISHED.includes(job.status)) return;
    if (job.holdId === null || holdStatus(db, job.holdId) !== "pending") {
      failGeneration(db, id, "The credit hold expired before the video started.", "hold_expired", this.now());
      return;
    }

    let providerJobId = job.providerJobId;
    if (!providerJobId) {
      if (job.status === "running") {
        failGeneration(db, id, "The job was interrupted before the generator accepted it.", "restart", this.now());
        return;
      }
      // Marked running first: if we die while the provider is asked, the next start knows it
      // cannot resume this job (there is no id to poll) and gives the credits back.
      markRunning(db, id, this.now());
      const options = JSON.parse(job.options) as Partial<VideoRequest>;
      try {
        ({ providerJobId } = await provider.startVideo(
          { prompt: job.prompt, resolution: options.resolution!, durationSeconds: options.durationSeconds! },
          { signal: this.controller.signal },
        ));
      } catch (error) {
        this.fail(job, error);
        return;
      }
      markRunning(db, id, this.now(), providerJobId);
    }

    const outcome = await this.poll(job, providerJobId);
    if (outcome !== "completed") return;
    const file = await this.download(job, providerJobId);
    if (!file) return;
    await this.store(job, file);
  }

  /** Polls until the provider says completed ("completed"), or the job ended or we stop ("done"). */
  private async poll(job: Generation, providerJobId: string): Promise<"completed" | "done"> {
    const { db, provider, maxFailingMs } = this.options;
    let failingSince: number | null = null;
    for (let attempt = 0; ; attempt++) {
      await this.sleep(this.pollInterval(attempt));
      if (this.stopping) return "done";
      if (holdStatus(db, job.holdId!) !== "pending") {
        failGeneration(db, job.id, "The credit hold expired before the video finished.", "hold_expired", this.now());
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
        this.fail(job, error);
        return "done";
      }
      failingSince = null;
      if (state.status === "completed") return "completed";
      if (state.status === "failed") {
        failGeneration(db, job.id, asSentence(`The video failed: ${state.error.slice(0, 400)}`), "provider_failed", this.now());
        return "done";
      }
      updateProgress(db, job.id, state.progress, this.now());
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
        this.fail(job, error);
        return null;
      }
    }
  }

  private async store(job: Generation, file: GeneratedFile): Promise<void> {
    const { db, dataDir, log } = this.options;
    let resultPath: string;
    try {
      resultPath = await writeResultFile(dataDir, job.userId, job.id, file);
    } catch (error) {
      log?.error({ err: error, generationId: job.id }, "could not store a finished video");
      failGeneration(db, job.id, "The video could not be stored.", "storage_error", this.now());
      return;
    }
    const done = completeGeneration(db, job.id, { resultPath, mimeType: file.mimeType }, this.now());
    if (done.ok) return;
    removeJobFiles(dataDir, job.userId, job.id);
    if (done.reason === "hold_voided") {
      failGeneration(db, job.id, "The credit hold expired before the video finished.", "hold_expired", this.now());
    }
  }
}
