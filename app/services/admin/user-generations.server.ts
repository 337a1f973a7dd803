/**
 * One user's recent generations, for the admin's user page (decision 032). Read-only. A deleted
 * generation (generations.deleted_at, decision 030) is listed, marked deleted and without a file:
 * its file is gone, and what it cost stays in the ledger, so the admin still sees what happened.
 */
import type { PortableDb } from "#db/client.server";
import type { GenerationKind, GenerationStatus } from "#db/schema";

/** How many the page lists: the newest ones, with "showing N of M" for the rest. */
export const ADMIN_GENERATIONS_SHOWN = 20;

export type AdminGenerationRow = {
  id: string;
  kind: GenerationKind;
  prompt: string;
  status: GenerationStatus;
  cost: number;
  createdAt: number;
  deletedAt: number | null;
  /** A finished, not deleted result: the file route serves it to an admin. */
  hasFile: boolean;
  /** "image/png", "video/mp4"…: whether a thumbnail can be shown. */
  mimeType: string | null;
  error: string | null;
};

type Row = Omit<AdminGenerationRow, "hasFile"> & { resultPath: string | null };

const SQL = {
  // The (user_id, created_at) index: newest first, id as the tie-break.
  recent: `SELECT id, kind, prompt, status, cost, created_at AS "createdAt", deleted_at AS "deletedAt",
       result_mime_type AS "mimeType", result_path AS "resultPath", error
     FROM generations WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
  count: `SELECT count(*) AS n FROM generations WHERE user_id = ?`,
} as const;

export async function listRecentGenerations(
  db: PortableDb,
  userId: number,
  limit = ADMIN_GENERATIONS_SHOWN,
): Promise<{ rows: AdminGenerationRow[]; total: number }> {
  const recent = await db.sql.all<Row>(SQL.recent, [userId, limit]);
  const rows = recent.map(({ resultPath, ...row }) => ({
    ...row,
    hasFile: row.status === "succeeded" && row.deletedAt === null && resultPath !== null && row.mimeType !== null,
    mimeType: row.deletedAt === null ? row.mimeType : null,
  }));
  return { rows, total: (await db.sql.get<{ n: number }>(SQL.count, [userId]))?.n ?? 0 };
}
