import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { Generation, GenerationKind, GenerationStatus } from "#db/schema";
import { hold, LedgerError, postHold, voidHold, type Insufficient, type KeyLimitReached, type SpendingKey, type Tx } from "./money/ledger.server";
import { ledgerKeys } from "./money/ledger-keys.server";
import { countUnfinishedVideos, findGeneration, GENERATION_COLUMNS, newGenerationId } from "./generation-job-reads.server";
import { incrementCounter } from "./metrics.server";
import { isProviderError } from "./providers/types";
import { inWrite, readerOf, type SqlTarget } from "./sql-target.server";

// The `generations` table, write side: one row per job and its state machine. Each transition that
// moves money is ONE write body with the ledger call that goes with it (the ledger nests as a
// savepoint), so a job row and its hold never disagree, whatever crashes when. One SQL text for
// SQLite and PostgreSQL (decision 036); every transition is a guarded UPDATE on the job's status
// (on PostgreSQL it takes the row's lock, so two enders of one job serialise and one wins):
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
  /** Who runs it and until when (an image: its request's instance); null: any worker may claim it. */
  leaseOwner?: string | null;
  leaseUntil?: number | null;
  now: number;
};

const SQL = {
  // ON CONFLICT: a concurrent open of the same request key made the row first (no row back).
  insert: `INSERT INTO generations (id, user_id, kind, prompt, options, cost, status, progress, hold_id, provider,
      created_at, updated_at, lease_owner, lease_until)
    VALUES (@id, @userId, @kind, @prompt, @options, @cost, @status, 0, @holdId, @provider, @now, @now, @leaseOwner, @leaseUntil)
    ON CONFLICT (id) DO NOTHING
    RETURNING ${GENERATION_COLUMNS}`,
  running: `UPDATE generations SET status = 'running', updated_at = ? WHERE id = ? AND status IN ('queued', 'running')`,
  runningWithId: `UPDATE generations SET status = 'running', updated_at = ?, provider_job_id = ? WHERE id = ? AND status IN ('queued', 'running')`,
  progress: `UPDATE generations SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'`,
  succeeded: `UPDATE generations SET status = 'succeeded', progress = 100, result_path = @resultPath, result_mime_type = @mimeType,
      error = NULL, updated_at = @now, finished_at = @now, lease_owner = NULL, lease_until = NULL
    WHERE id = @id AND status IN ('queued', 'running') AND hold_id IS NOT NULL
    RETURNING ${GENERATION_COLUMNS}`,
  deleted: `UPDATE generations SET deleted_at = ?, updated_at = ?
    WHERE id = ? AND user_id = ? AND deleted_at IS NULL AND status IN ('succeeded', 'failed')`,
  failed: `UPDATE generations SET status = 'failed', error = @error, updated_at = @now, finished_at = @now, lease_owner = NULL, lease_until = NULL
    WHERE id = @id AND status IN ('queued', 'running')
    RETURNING ${GENERATION_COLUMNS}`,
  failedOfHold: `UPDATE generations SET status = 'failed', error = @error, updated_at = @now, finished_at = @now, lease_owner = NULL, lease_until = NULL
    WHERE id = @id AND hold_id = @holdId AND status IN ('queued', 'running')
    RETURNING kind`,
  // The user's row, locked on PostgreSQL for the rest of the open: opens of one user serialise,
  // so the running-videos count and the key's replay are read after the previous open committed.
  userFlag: `SELECT flagged_at AS "flaggedAt" FROM users WHERE id = ?`,
} as const;

export async function insertGeneration(target: SqlTarget, job: NewGeneration): Promise<Generation | undefined> {
  return readerOf(target).get<Generation>(SQL.insert, {
    id: job.id,
    userId: job.userId,
    kind: job.kind,
    prompt: job.prompt,
    options: JSON.stringify(job.options),
    cost: job.cost,
    status: job.status,
    holdId: job.holdId,
    provider: job.provider,
    now: job.now,
    leaseOwner: job.leaseOwner ?? null,
    leaseUntil: job.leaseUntil ?? null,
  });
}

/** queued → running, optionally with the provider's job id. Only an unfinished job changes. */
export async function markRunning(target: SqlTarget, id: string, now: number, providerJobId?: string): Promise<boolean> {
  const r = readerOf(target);
  const changed = providerJobId ? await r.run(SQL.runningWithId, [now, providerJobId, id]) : await r.run(SQL.running, [now, id]);
  return changed.changes > 0;
}

export async function updateProgress(target: SqlTarget, id: string, progress: number, now: number): Promise<void> {
  await readerOf(target).run(SQL.progress, [Math.max(0, Math.min(100, Math.round(progress))), now, id]);
}

/**
 * Hides a finished job of its owner (decision 030). Only a finished job: a queued or running one
 * still has a pending hold that its end must settle. Touches no ledger row.
 */
export async function markDeleted(target: SqlTarget, userId: number, id: string, now: number): Promise<boolean> {
  return (await readerOf(target).run(SQL.deleted, [now, now, id, userId])).changes > 0;
}

/** unfinished → failed (no ledger call: the caller voids the hold in the same body). */
export async function markFailed(target: SqlTarget, id: string, error: string, now: number): Promise<Generation | undefined> {
  return readerOf(target).get<Generation>(SQL.failed, { id, error: error.slice(0, 500), now });
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
  /** The job's first lease (an image: the request's instance, see NewGeneration). */
  leaseOwner?: string | null;
  leaseUntil?: number | null;
  now: number;
};

type Opened = { ok: true; job: Generation; replayed: boolean };

/** Places the hold and creates the job in one transaction, or refuses without changing anything. */
export function openGeneration(db: PortableDb, args: OpenArgs): Promise<Opened | OpenRefusal> {
  const id = args.id ?? newGenerationId();
  const lock = db.sql.dialect === "postgres" ? " FOR UPDATE" : "";
  return db.sql.write(async (tx): Promise<Opened | OpenRefusal> => {
    const user = await tx.get<{ flaggedAt: number | null }>(SQL.userFlag + lock, [args.userId]);
    if (!user) throw new LedgerError("user_not_found", `user ${args.userId} not found`);
    // The same request again (a retry, a double submit): the first job, nothing new held.
    const existing = await findGeneration(tx, id);
    if (existing) return replayOf(existing, args.userId);
    if (user.flaggedAt !== null) return { ok: false, reason: "account_flagged" };
    if (args.kind === "video" && args.maxUnfinishedVideos !== null) {
      const running = await countUnfinishedVideos(tx, args.userId);
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
    const job = await insertGeneration(tx, {
      id,
      userId: args.userId,
      kind: args.kind,
      prompt: args.prompt,
      options: args.options,
      cost: args.cost,
      holdId: held.transaction.id,
      provider: args.provider,
      status: args.status,
      leaseOwner: args.leaseOwner,
      leaseUntil: args.leaseUntil,
      now: args.now,
    });
    if (job) return { ok: true, job, replayed: false };
    // Another user's job of that id (a request key's hash is per user, so this is a bug) is refused.
    const other = await findGeneration(tx, id);
    if (!other) throw new Error(`generation ${id}: insert refused and no row found`);
    return replayOf(other, args.userId);
  });
}

function replayOf(existing: Generation, userId: number): Opened {
  if (existing.userId !== userId) throw new LedgerError("key_conflict", `generation ${existing.id} belongs to another user`);
  return { ok: true, job: existing, replayed: true };
}

export type Completion = { ok: true; job: Generation } | { ok: false; reason: "hold_voided" | "not_running"; job: Generation | undefined };

/**
 * Posts the hold and marks the job succeeded, atomically. If the hold is no longer pending (the
 * sweeper voided it when it expired) nothing is charged and the caller must fail the job.
 */
export async function completeGeneration(db: SqlTarget, id: string, result: { resultPath: string; mimeType: string }, now: number): Promise<Completion> {
  try {
    const job = await inWrite(db, async (tx) => {
      const done = await tx.get<Generation>(SQL.succeeded, { id, resultPath: result.resultPath, mimeType: result.mimeType, now });
      if (!done) return undefined;
      await postHold(tx, done.holdId!, now); // a voided hold throws: the row goes back with it
      return done;
    });
    if (!job) return { ok: false, reason: "not_running", job: await findGeneration(db, id) };
    incrementCounter("generations_total", { kind: job.kind, status: "succeeded" });
    return { ok: true, job };
  } catch (error) {
    if (error instanceof LedgerError && error.code === "hold_voided") return { ok: false, reason: "hold_voided", job: await findGeneration(db, id) };
    throw error;
  }
}

/**
 * Voids the hold and marks the job failed, atomically: a failed generation costs nothing. A job
 * that already ended is left alone (returns its row unchanged). `target`: the app's database (a
 * transaction of its own) or a caller's write body's `tx` (account deletion: inside that body).
 */
export async function failGeneration(target: SqlTarget, id: string, error: string, voidReason: string, now: number): Promise<Generation | undefined> {
  const result = await inWrite(target, async (tx) => {
    const failed = await markFailed(tx, id, error, now);
    if (!failed) return { job: await findGeneration(tx, id), failedNow: false };
    if (failed.holdId !== null) await voidHold(tx, failed.holdId, voidReason, now);
    return { job: failed, failedNow: true };
  });
  if (result.failedNow && result.job) incrementCounter("generations_total", { kind: result.job.kind, status: "failed" });
  return result.job;
}

/**
 * The hold sweeper's onVoided hook: runs INSIDE the sweep's transaction (its `tx`), so the job an
 * expired hold paid for fails in the same commit as the void (it cannot linger `running`, counting
 * against the running-videos limit). The hold names its job in meta.generationId.
 */
export async function failJobOfVoidedHold(tx: SqlRunner, voided: Tx, now: number): Promise<void> {
  const id = generationIdOf(voided.meta);
  if (!id) return;
  const failed = await tx.get<{ kind: GenerationKind }>(SQL.failedOfHold, { id, holdId: voided.id, error: "The credit hold expired before the job finished.", now });
  if (failed) incrementCounter("generations_total", { kind: failed.kind, status: "failed" });
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
