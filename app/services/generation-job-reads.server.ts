import { createHash, randomBytes } from "node:crypto";
import { and, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { perConnection, prepared } from "#db/prepared.server";
import { generations, type Generation, type GenerationKind, type GenerationStatus } from "#db/schema";

// The `generations` table, read side: job ids, and the queries that find and list jobs. Every
// write (and the state machine) is in generation-job-writes.server.ts; what an owner sees of a job
// is in generation-view.server.ts.

export type { Generation, GenerationKind, GenerationStatus };
export const UNFINISHED: GenerationStatus[] = ["queued", "running"];

export function newGenerationId(): string {
  return `gen_${randomBytes(12).toString("hex")}`;
}

/** The job id a caller's request key names: the same key (per user) is the same job. */
export function generationIdForKey(userId: number, requestKey: string): string {
  return `gen_${createHash("sha256").update(`${userId}:${requestKey}`).digest("hex").slice(0, 24)}`;
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
  const where = [eq(generations.userId, userId), isNull(generations.deletedAt)];
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

/** The owner's queued and running jobs, oldest first: what the page shows as "in progress". */
export function listUserUnfinished(db: AppDb, userId: number, limit = 20): Generation[] {
  return db.orm
    .select()
    .from(generations)
    .where(and(eq(generations.userId, userId), inArray(generations.status, UNFINISHED)))
    .orderBy(generations.createdAt, generations.id)
    .limit(limit)
    .all();
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

/** An unfinished job whose hold is no longer pending: the two disagree (the reconciler's work). */
export type UnsettledPair = { id: string; kind: GenerationKind; status: GenerationStatus; holdId: number; hold: "posted" | "voided"; voidReason: string | null };

const reconcileStatements = perConnection((sqlite) => ({
  settledHolds: sqlite.prepare<[number], UnsettledPair>(
    `SELECT g.id, g.kind, g.status, g.hold_id AS holdId, t.status AS hold, json_extract(t.meta, '$.voidReason') AS voidReason
     FROM generations g JOIN transactions t ON t.id = g.hold_id
     WHERE g.status IN ('queued', 'running') AND t.status IN ('posted', 'voided')
     ORDER BY g.created_at, g.id LIMIT ?`,
  ),
}));

export function listJobsWithSettledHolds(db: AppDb, limit = 500): UnsettledPair[] {
  return reconcileStatements(db).settledHolds.all(limit);
}
