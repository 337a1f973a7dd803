import { createHash, randomBytes } from "node:crypto";
import type { Generation, GenerationKind, GenerationStatus } from "#db/schema";
import { readerOf, type SqlTarget } from "./sql-target.server";

// The `generations` table, read side: job ids, and the queries that find and list jobs. Every
// write (and the state machine) is in generation-job-writes.server.ts; what an owner sees of a job
// is in generation-view.server.ts. One SQL text for SQLite and PostgreSQL (decision 036): a target
// is the app's database (committed rows) or a write body's `tx` (its own rows too).

export type { Generation, GenerationKind, GenerationStatus };
export const UNFINISHED: GenerationStatus[] = ["queued", "running"];

/** Every column, in drizzle's row shape (quoted camelCase aliases: PostgreSQL folds the rest). */
export const GENERATION_COLUMNS = `id, user_id AS "userId", kind, prompt, options, cost, status, progress, hold_id AS "holdId",
  provider, provider_job_id AS "providerJobId", result_path AS "resultPath", result_mime_type AS "resultMimeType", error,
  created_at AS "createdAt", updated_at AS "updatedAt", finished_at AS "finishedAt", deleted_at AS "deletedAt",
  lease_owner AS "leaseOwner", lease_until AS "leaseUntil"`;

const SQL = {
  byId: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE id = ?`,
  byOwner: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE id = ? AND user_id = ?`,
  page: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE user_id = ? AND deleted_at IS NULL
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  pageBefore: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE user_id = ? AND deleted_at IS NULL
    AND (created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  unfinishedOf: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE user_id = ? AND status IN ('queued', 'running')
    ORDER BY created_at, id LIMIT ?`,
  unfinishedVideos: `SELECT count(*) AS n FROM generations WHERE user_id = ? AND kind = 'video' AND status IN ('queued', 'running')`,
  unfinished: `SELECT ${GENERATION_COLUMNS} FROM generations WHERE status IN ('queued', 'running') ORDER BY created_at, id`,
  settledHolds: `SELECT g.id, g.kind, g.status, g.hold_id AS "holdId", t.status AS hold, t.meta AS meta
    FROM generations g JOIN transactions t ON t.id = g.hold_id
    WHERE g.status IN ('queued', 'running') AND t.status IN ('posted', 'voided')
    ORDER BY g.created_at, g.id LIMIT ?`,
} as const;

export function newGenerationId(): string {
  return `gen_${randomBytes(12).toString("hex")}`;
}

/** The job id a caller's request key names: the same key (per user) is the same job. */
export function generationIdForKey(userId: number, requestKey: string): string {
  return `gen_${createHash("sha256").update(`${userId}:${requestKey}`).digest("hex").slice(0, 24)}`;
}

export async function findGeneration(target: SqlTarget, id: string): Promise<Generation | undefined> {
  return readerOf(target).get<Generation>(SQL.byId, [id]);
}

/** Only the owner's job: another user's id is simply not found. */
export async function findUserGeneration(target: SqlTarget, userId: number, id: string): Promise<Generation | undefined> {
  return readerOf(target).get<Generation>(SQL.byOwner, [id, userId]);
}

/** Newest first; `before` is the id of the last job of the previous page. */
export async function listUserGenerations(
  target: SqlTarget,
  userId: number,
  opts: { limit: number; before?: string | null },
): Promise<{ items: Generation[]; nextBefore: string | null }> {
  const limit = Math.max(1, Math.min(100, Math.trunc(opts.limit) || 1));
  const cursor = opts.before ? await findUserGeneration(target, userId, opts.before) : undefined;
  const r = readerOf(target);
  const rows = cursor
    ? await r.all<Generation>(SQL.pageBefore, [userId, cursor.createdAt, cursor.createdAt, cursor.id, limit + 1])
    : await r.all<Generation>(SQL.page, [userId, limit + 1]);
  const items = rows.slice(0, limit);
  return { items, nextBefore: rows.length > limit ? items[items.length - 1]!.id : null };
}

/** The owner's queued and running jobs, oldest first: what the page shows as "in progress". */
export async function listUserUnfinished(target: SqlTarget, userId: number, limit = 20): Promise<Generation[]> {
  return readerOf(target).all<Generation>(SQL.unfinishedOf, [userId, limit]);
}

export async function countUnfinishedVideos(target: SqlTarget, userId: number): Promise<number> {
  return (await readerOf(target).get<{ n: number }>(SQL.unfinishedVideos, [userId]))?.n ?? 0;
}

/** Every unfinished job, oldest first. */
export async function listUnfinishedGenerations(target: SqlTarget): Promise<Generation[]> {
  return readerOf(target).all<Generation>(SQL.unfinished);
}

/** An unfinished job whose hold is no longer pending: the two disagree (the reconciler's work). */
export type UnsettledPair = { id: string; kind: GenerationKind; status: GenerationStatus; holdId: number; hold: "posted" | "voided"; voidReason: string | null };

function voidReasonOf(meta: string | null): string | null {
  if (!meta) return null;
  try {
    const reason = (JSON.parse(meta) as { voidReason?: unknown }).voidReason;
    return reason === undefined || reason === null ? null : String(reason);
  } catch {
    return null;
  }
}

export async function listJobsWithSettledHolds(target: SqlTarget, limit = 500): Promise<UnsettledPair[]> {
  const rows = await readerOf(target).all<Omit<UnsettledPair, "voidReason"> & { meta: string | null }>(SQL.settledHolds, [limit]);
  return rows.map(({ meta, ...row }) => ({ ...row, voidReason: voidReasonOf(meta) }));
}
