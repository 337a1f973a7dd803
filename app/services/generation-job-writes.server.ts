import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { prepared } from "#db/prepared.server";
import { generations, users, type Generation, type GenerationKind, type GenerationStatus } from "#db/schema";
import { hold, LedgerError, postHold, voidHold, type Insufficient, type KeyLimitReached, type SpendingKey, type Tx } from "./money/ledger.server";
import { ledgerKeys } from "./money/ledger-keys.server";
import { countUnfinishedVideos, findGeneration, newGenerationId, UNFINISHED } from "./generation-job-reads.server";
import { incrementCounter } from "./metrics.server";
import { isProviderError } from "./providers/types";

// The `generations` table, write side: one row per job and its state machine. Each transition that
// moves money is ONE SQLite transaction with the ledger call that goes with it (the ledger nests as
// a savepoint), so a job row and its hold never disagree, whatever crashes when:
//
//   openGeneration:      hold placed      + row inserted (queued or running)
//   completeGeneration:  hold posted      + row succeeded      (hold already voided? → failed)
//   failGeneration:      hold voided      + row failed
//   failJobOfVoidedHold: (the sweeper voided an expired hold) + row failed
//
//   queued ──► running ──► succeeded   (hold posted: the credits are spent)
//      │          │
//      └──────────┴──────► failed      (hold voided: the credits are back)

export type NewGeneration = {
  id: string;
  userId: number;
  kind: GenerationKind;
  prompt: string;
  options: Record<string, unknown>;
  cost: number;
  holdId: number;
  provider: string;
  status: GenerationStatus;
  now: number;
};

export function insertGeneration(db: AppDb, job: NewGeneration): Generation {
  return db.orm
    .insert(generations)
    .values({
      id: job.id,
      userId: job.userId,
      kind: job.kind,
      prompt: job.prompt,
      options: JSON.stringify(job.options),
      cost: job.cost,
      status: job.status,
      progress: 0,
      holdId: job.holdId,
      provider: job.provider,
      createdAt: job.now,
      updatedAt: job.now,
    })
    .returning()
    .get();
}

/** queued → running, optionally with the provider's job id. Only an unfinished job changes. */
export function markRunning(db: AppDb, id: string, now: number, providerJobId?: string): boolean {
  const changed = db.orm
    .update(generations)
    .set({ status: "running", updatedAt: now, ...(providerJobId ? { providerJobId } : {}) })
    .where(and(eq(generations.id, id), inArray(generations.status, UNFINISHED)))
    .run();
  return changed.changes > 0;
}

export function updateProgress(db: AppDb, id: string, progress: number, now: number): void {
  db.orm
    .update(generations)
    .set({ progress: Math.max(0, Math.min(100, Math.round(progress))), updatedAt: now })
    .where(and(eq(generations.id, id), eq(generations.status, "running")))
    .run();
}

export function markSucceeded(db: AppDb, id: string, result: { resultPath: string; mimeType: string }, now: number): boolean {
  const changed = db.orm
    .update(generations)
    .set({
      status: "succeeded",
      progress: 100,
      resultPath: result.resultPath,
      resultMimeType: result.mimeType,
      error: null,
      updatedAt: now,
      finishedAt: now,
    })
    .where(and(eq(generations.id, id), inArray(generations.status, UNFINISHED)))
    .run();
  return changed.changes > 0;
}

/**
 * Hides a finished job of its owner (decision 030). Only a finished job: a queued or running one
 * still has a pending hold that its end must settle. Touches no ledger row.
 */
export function markDeleted(db: AppDb, userId: number, id: string, now: number): boolean {
  const changed = db.orm
    .update(generations)
    .set({ deletedAt: now, updatedAt: now })
    .where(
      and(
        eq(generations.id, id),
        eq(generations.userId, userId),
        isNull(generations.deletedAt),
        inArray(generations.status, ["succeeded", "failed"]),
      ),
    )
    .run();
  return changed.changes > 0;
}

export function markFailed(db: AppDb, id: string, error: string, now: number): boolean {
  const changed = db.orm
    .update(generations)
    .set({ status: "failed", error: error.slice(0, 500), updatedAt: now, finishedAt: now })
    .where(and(eq(generations.id, id), inArray(generations.status, UNFINISHED)))
    .run();
  return changed.changes > 0;
}

// ---------------------------------------------------------------------------------------------
// Transitions that move money.

export type OpenRefusal =
  | Insufficient
  | KeyLimitReached
  | { ok: false; reason: "account_flagged" }
  | { ok: false; reason: "too_many_running"; running: number; limit: number };

export type OpenArgs = {
  id?: string;
  userId: number;
  kind: GenerationKind;
  prompt: string;
  options: Record<string, unknown>;
  cost: number;
  provider: string;
  /** Images start running at once; videos wait in the worker's queue. */
  status: "queued" | "running";
  holdTtlSeconds: number;
  holdDescription: string;
  /** Refuse a video when the user already has this many unfinished (null: no limit). */
  maxUnfinishedVideos: number | null;
  /** The API key the request came through (null: a browser session); the hold checks its limit. */
  apiKey?: SpendingKey | null;
  now: number;
};

/** Places the hold and creates the job in one transaction, or refuses without changing anything. */
export function openGeneration(db: AppDb, args: OpenArgs): Promise<{ ok: true; job: Generation; replayed: boolean } | OpenRefusal> {
  const id = args.id ?? newGenerationId();
  return db.sql.write(async (tx): Promise<{ ok: true; job: Generation; replayed: boolean } | OpenRefusal> => {
      // The same request again (a retry, a double submit): the first job, nothing new held.
      const existing = findGeneration(db, id);
      if (existing) {
        if (existing.userId !== args.userId) throw new LedgerError("key_conflict", `generation ${id} belongs to another user`);
        return { ok: true, job: existing, replayed: true };
      }
      const user = prepared(db, "userFlag", (d) =>
        d.orm.select({ flaggedAt: users.flaggedAt }).from(users).where(eq(users.id, sql.placeholder("id"))).prepare(),
      ).get({ id: args.userId });
      if (!user) throw new LedgerError("user_not_found", `user ${args.userId} not found`);
      if (user.flaggedAt !== null) return { ok: false, reason: "account_flagged" };
      if (args.kind === "video" && args.maxUnfinishedVideos !== null) {
        const running = countUnfinishedVideos(db, args.userId);
        if (running >= args.maxUnfinishedVideos) return { ok: false, reason: "too_many_running", running, limit: args.maxUnfinishedVideos };
      }
      const held = await hold(tx, {
        userId: args.userId,
        cost: args.cost,
        key: ledgerKeys.generation(id),
        description: args.holdDescription,
        ttlSeconds: args.holdTtlSeconds,
        meta: { generationId: id, kind: args.kind },
        now: args.now,
        apiKey: args.apiKey,
      });
      if (!held.ok) return held;
      const job = insertGeneration(db, {
        id,
        userId: args.userId,
        kind: args.kind,
        prompt: args.prompt,
        options: args.options,
        cost: args.cost,
        holdId: held.transaction.id,
        provider: args.provider,
        status: args.status,
        now: args.now,
      });
      return { ok: true, job, replayed: false };
    });
}

export type Completion = { ok: true; job: Generation } | { ok: false; reason: "hold_voided" | "not_running"; job: Generation | undefined };

/**
 * Posts the hold and marks the job succeeded, atomically. If the hold is no longer pending (the
 * sweeper voided it when it expired) nothing is charged and the caller must fail the job.
 */
export async function completeGeneration(db: AppDb, id: string, result: { resultPath: string; mimeType: string }, now: number): Promise<Completion> {
  try {
    const job = await db.sql.write(async (tx) => {
      const current = findGeneration(db, id);
      if (!current || !UNFINISHED.includes(current.status) || current.holdId === null) return undefined;
      await postHold(tx, current.holdId, now);
      markSucceeded(db, id, result, now);
      return findGeneration(db, id)!;
    });
    if (!job) return { ok: false, reason: "not_running", job: findGeneration(db, id) };
    incrementCounter("generations_total", { kind: job.kind, status: "succeeded" });
    return { ok: true, job };
  } catch (error) {
    if (error instanceof LedgerError && error.code === "hold_voided") return { ok: false, reason: "hold_voided", job: findGeneration(db, id) };
    throw error;
  }
}

/**
 * Voids the hold and marks the job failed, atomically: a failed generation costs nothing. A job
 * that already ended is left alone (returns its row unchanged).
 */
export async function failGeneration(db: AppDb, id: string, error: string, voidReason: string, now: number, within?: SqlRunner): Promise<Generation | undefined> {
  let failedNow = false;
  const body = async (tx: SqlRunner) => {
    const current = findGeneration(db, id);
    if (!current || !UNFINISHED.includes(current.status)) return current;
    if (current.holdId !== null) await voidHold(tx, current.holdId, voidReason, now);
    failedNow = markFailed(db, id, error, now);
    return findGeneration(db, id);
  };
  // Inside a caller's write body (account deletion) or in a transaction of its own.
  const job = within ? await body(within) : await db.sql.write(body);
  if (failedNow && job) incrementCounter("generations_total", { kind: job.kind, status: "failed" });
  return job;
}

/**
 * The hold sweeper's onVoided hook: runs INSIDE the sweep's transaction, so the job an expired
 * hold paid for fails in the same commit as the void (it cannot linger `running`, counting
 * against the running-videos limit). The hold names its job in meta.generationId.
 */
export function failJobOfVoidedHold(db: AppDb, voided: Tx, now: number): void {
  const id = generationIdOf(voided.meta);
  if (!id) return;
  const job = findGeneration(db, id);
  if (!job || job.holdId !== voided.id) return;
  if (markFailed(db, id, "The credit hold expired before the job finished.", now)) {
    incrementCounter("generations_total", { kind: job.kind, status: "failed" });
  }
}

function generationIdOf(meta: string | null): string | undefined {
  if (!meta) return undefined;
  try {
    const id = (JSON.parse(meta) as { generationId?: unknown }).generationId;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Ends a message with a full stop, so "… No credits were charged." reads well after it. */
export function asSentence(text: string): string {
  const trimmed = text.replace(/\s+/g, " ").trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

export type Failure = { message: string; voidReason: string; unexpected: boolean };

/** What a failed job tells its owner, and the short reason recorded on the voided hold. */
export function failureOf(error: unknown): Failure {
  if (isProviderError(error)) {
    const detail = error.message.replace(/\s+/g, " ").trim().slice(0, 300);
    const messages: Record<typeof error.code, string> = {
      timeout: "The generator did not answer in time.",
      aborted: "The job was interrupted.",
      unavailable: `The generator is unavailable right now${error.status ? ` (HTTP ${error.status})` : ""}. Try again later.`,
      rejected: asSentence(`The generator refused the request: ${detail}`),
      bad_response: "The generator sent back a result that could not be used.",
      not_found: "The generator no longer knows this job.",
    };
    return { message: messages[error.code], voidReason: `provider_${error.code}`, unexpected: false };
  }
  return { message: "The job failed because of an internal error.", voidReason: "internal_error", unexpected: true };
}
