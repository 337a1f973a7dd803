import { createHash, randomBytes } from "node:crypto";
import { and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { prepared } from "#db/prepared.server";
import { generations, users, type Generation, type GenerationKind, type GenerationStatus } from "#db/schema";
import { hold, LedgerError, postHold, voidHold, type Insufficient } from "./money/ledger.server";
import { ledgerKeys } from "./money/ledger-keys.server";
import { incrementCounter } from "./metrics.server";
import { isProviderError } from "./providers/types";

// The `generations` table: one row per job, its state machine, and how a job is shown to its owner.
// Each transition that moves money is ONE SQLite transaction with the ledger call that goes with it
// (the ledger nests as a savepoint), so a job row and its hold never disagree, whatever crashes when:
//
//   openGeneration:      hold placed      + row inserted (queued or running)
//   completeGeneration:  hold posted      + row succeeded      (hold already voided? → failed)
//   failGeneration:      hold voided      + row failed
//
//   queued ──► running ──► succeeded   (hold posted: the credits are spent)
//      │          │
//      └──────────┴──────► failed      (hold voided: the credits are back)

export type { Generation, GenerationKind, GenerationStatus };
export const UNFINISHED: GenerationStatus[] = ["queued", "running"];

export function newGenerationId(): string {
  return `gen_${randomBytes(12).toString("hex")}`;
}

/** The job id a caller's request key names: the same key (per user) is the same job. */
export function generationIdForKey(userId: number, requestKey: string): string {
  return `gen_${createHash("sha256").update(`${userId}:${requestKey}`).digest("hex").slice(0, 24)}`;
}

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

export function findGeneration(db: AppDb, id: string): Generation | undefined {
  return prepared(db, "findGeneration", (d) =>
    d.orm.select().from(generations).where(eq(generations.id, sql.placeholder("id"))).prepare(),
  ).get({ id });
}

/** Only the owner's job: another user's id is simply not found. */
export function findUserGeneration(db: AppDb, userId: number, id: string): Generation | undefined {
  return prepared(db, "findUserGeneration", (d) =>
    d.orm
      .select()
      .from(generations)
      .where(and(eq(generations.id, sql.placeholder("id")), eq(generations.userId, sql.placeholder("userId"))))
      .prepare(),
  ).get({ id, userId });
}

/** Newest first; `before` is the id of the last job of the previous page. */
export function listUserGenerations(
  db: AppDb,
  userId: number,
  opts: { limit: number; before?: string | null },
): { items: Generation[]; nextBefore: string | null } {
  const limit = Math.max(1, Math.min(100, Math.trunc(opts.limit) || 1));
  const where = [eq(generations.userId, userId)];
  const cursor = opts.before ? findUserGeneration(db, userId, opts.before) : undefined;
  if (cursor) {
    where.push(
      or(
        lt(generations.createdAt, cursor.createdAt),
        and(eq(generations.createdAt, cursor.createdAt), lt(generations.id, cursor.id)),
      )!,
    );
  }
  const rows = db.orm
    .select()
    .from(generations)
    .where(and(...where))
    .orderBy(desc(generations.createdAt), desc(generations.id))
    .limit(limit + 1)
    .all();
  const items = rows.slice(0, limit);
  return { items, nextBefore: rows.length > limit ? items[items.length - 1].id : null };
}

export function countUnfinishedVideos(db: AppDb, userId: number): number {
  return db.orm
    .select({ n: sql<number>`count(*)` })
    .from(generations)
    .where(and(eq(generations.userId, userId), eq(generations.kind, "video"), inArray(generations.status, UNFINISHED)))
    .get()!.n;
}

/** Every job a previous process left unfinished, oldest first. */
export function listUnfinishedGenerations(db: AppDb): Generation[] {
  return db.orm
    .select()
    .from(generations)
    .where(inArray(generations.status, UNFINISHED))
    .orderBy(generations.createdAt, generations.id)
    .all();
}

/** Status of the ledger row behind a job's hold (a read; only the ledger writes that table). */
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
  now: number;
};

/** Places the hold and creates the job in one transaction, or refuses without changing anything. */
export function openGeneration(db: AppDb, args: OpenArgs): { ok: true; job: Generation; replayed: boolean } | OpenRefusal {
  const id = args.id ?? newGenerationId();
  return db.sqlite
    .transaction((): { ok: true; job: Generation; replayed: boolean } | OpenRefusal => {
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
      const held = hold(db, {
        userId: args.userId,
        cost: args.cost,
        key: ledgerKeys.generation(id),
        description: args.holdDescription,
        ttlSeconds: args.holdTtlSeconds,
        meta: { generationId: id, kind: args.kind },
        now: args.now,
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
    })
    .immediate();
}

export type Completion = { ok: true; job: Generation } | { ok: false; reason: "hold_voided" | "not_running"; job: Generation | undefined };

/**
 * Posts the hold and marks the job succeeded, atomically. If the hold is no longer pending (the
 * sweeper voided it when it expired) nothing is charged and the caller must fail the job.
 */
export function completeGeneration(db: AppDb, id: string, result: { resultPath: string; mimeType: string }, now: number): Completion {
  try {
    const job = db.sqlite
      .transaction(() => {
        const current = findGeneration(db, id);
        if (!current || !UNFINISHED.includes(current.status) || current.holdId === null) return undefined;
        postHold(db, current.holdId, now);
        markSucceeded(db, id, result, now);
        return findGeneration(db, id)!;
      })
      .immediate();
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
export function failGeneration(db: AppDb, id: string, error: string, voidReason: string, now: number): Generation | undefined {
  let failedNow = false;
  const job = db.sqlite
    .transaction(() => {
      const current = findGeneration(db, id);
      if (!current || !UNFINISHED.includes(current.status)) return current;
      if (current.holdId !== null) voidHold(db, current.holdId, voidReason, now);
      failedNow = markFailed(db, id, error, now);
      return findGeneration(db, id);
    })
    .immediate();
  if (failedNow && job) incrementCounter("generations_total", { kind: job.kind, status: "failed" });
  return job;
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

// ---------------------------------------------------------------------------------------------
// What the owner sees (the JSON API and the /generate page).

export type GenerationOptions = { size?: string; resolution?: string; durationSeconds?: number };

export type GenerationView = {
  id: string;
  kind: GenerationKind;
  status: GenerationStatus;
  /** 0-100; 100 once succeeded. */
  progress: number;
  /** Credits this job costs when it succeeds. */
  cost: number;
  /** The job's credit hold: pending while it runs, posted (charged) on success, voided (given back) on failure. */
  hold: "pending" | "posted" | "voided";
  prompt: string;
  options: GenerationOptions;
  provider: string;
  error: string | null;
  /** Where the finished file is served (signed-in owner only); null until succeeded. */
  resultUrl: string | null;
  mimeType: string | null;
  statusUrl: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
};

function parseOptions(text: string): GenerationOptions {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as GenerationOptions) : {};
  } catch {
    return {};
  }
}

export function toGenerationView(job: Generation): GenerationView {
  const done = job.status === "succeeded" && job.resultPath !== null;
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    progress: job.status === "succeeded" ? 100 : job.progress,
    cost: job.cost,
    hold: job.status === "succeeded" ? "posted" : job.status === "failed" ? "voided" : "pending",
    prompt: job.prompt,
    options: parseOptions(job.options),
    provider: job.provider,
    error: job.error,
    resultUrl: done ? `/generations/${job.id}/file` : null,
    mimeType: done ? job.resultMimeType : null,
    statusUrl: `/api/generations/${job.id}`,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
  };
}
