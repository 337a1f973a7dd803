/**
 * The admin console's user list (search, sort, keyset pages) and one user's summary. Read-only.
 * Why the queries look the way they do: docs/decisions/011-admin-console.md.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import type { UserRole } from "#db/schema";
import type { SortDirection, UserListQuery, UserSort } from "~/utils/admin-schemas";

export const USER_PAGE_SIZE = 50;
/** A search matching at least this many users is "broad": walk the sort index instead of sorting matches. */
const BROAD_SEARCH = 2_000;

type UserBase = { id: number; email: string; role: UserRole; credits: number; createdAt: number; flaggedAt: number | null; emailVerifiedAt: number | null };
type UserFigures = { id: number; onHold: number; purchased: number; lastActivity: number | null };

const USER_COLUMNS = "id, email, role, credits, created_at AS createdAt, flagged_at AS flaggedAt, email_verified_at AS emailVerifiedAt";

const stmts = perConnection((sqlite) => ({
  // Per-user figures for the users of one page only, each from a (user_id, ...) index. Purchased:
  // from the user's daily totals (decision 037), a row per day rather than one per purchase.
  figures: sqlite.prepare<[string], UserFigures>(
    `SELECT u.id AS id,
       (SELECT coalesce(sum(-amount), 0) FROM transactions
         WHERE user_id = u.id AND type = 'usage' AND status = 'pending') AS onHold,
       (SELECT coalesce(sum(credits), 0) FROM user_daily_totals WHERE user_id = u.id AND type = 'purchase') AS purchased,
       (SELECT created_at FROM transactions WHERE user_id = u.id ORDER BY id DESC LIMIT 1) AS lastActivity
     FROM users u WHERE u.id IN (SELECT value FROM json_each(?))`,
  ),
  user: sqlite.prepare<[number], UserBase & { flaggedReason: string | null }>(
    `SELECT ${USER_COLUMNS}, flagged_reason AS flaggedReason FROM users WHERE id = ?`,
  ),
  countMatches: sqlite.prepare<[string, string, number], { n: number }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM users WHERE email >= ? AND email < ? LIMIT ?)`,
  ),
}));

export type AdminUserRow = UserBase & Omit<UserFigures, "id">;
export type UserListPage = {
  users: AdminUserRow[];
  sort: UserSort;
  dir: SortDirection;
  q: string | null;
  /** Cursor of the next page (`after`), of the previous page (`before`); null at either end. */
  next: string | null;
  prev: string | null;
};

const SORT_COLUMNS: Record<UserSort, string> = { created: "created_at", email: "email", credits: "credits" };
export const DEFAULT_DIRECTION: Record<UserSort, SortDirection> = { created: "desc", email: "asc", credits: "desc" };

type Cursor = [value: string | number, id: number];

export function encodeCursor(value: string | number, id: number): string {
  return Buffer.from(JSON.stringify([value, id])).toString("base64url");
}

/** A cursor from a URL: anything malformed is treated as "no cursor" (the first page). */
export function decodeCursor(raw: string | undefined, sort: UserSort): Cursor | null {
  if (!raw) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [value, id] = parsed as [unknown, unknown];
    if (typeof id !== "number" || !Number.isSafeInteger(id)) return null;
    if (sort === "email" ? typeof value !== "string" : typeof value !== "number" || !Number.isSafeInteger(value)) return null;
    return [value as string | number, id];
  } catch {
    return null;
  }
}

/** Upper bound of an email-prefix range: every string that starts with `prefix` sorts below it. */
function prefixEnd(prefix: string): string {
  return `${prefix}\u{10FFFF}`;
}

const listStatements = new WeakMap<Database.Database, Map<string, Database.Statement<Record<string, unknown>, UserBase>>>();

function listStatement(db: AppDb, shape: { sort: UserSort; order: "ASC" | "DESC"; cmp: "<" | ">" | null; search: "index" | "filter" | null }) {
  let cache = listStatements.get(db.sqlite);
  if (!cache) listStatements.set(db.sqlite, (cache = new Map()));
  const key = JSON.stringify(shape);
  let statement = cache.get(key);
  if (!statement) {
    const col = SORT_COLUMNS[shape.sort];
    const where: string[] = [];
    // "filter": a broad search walks the sort column's index and filters (the unary + keeps SQLite
    // off the email index); "index": a narrow one reads its few matches from the email index.
    if (shape.search === "index") where.push("email >= @lo AND email < @hi");
    if (shape.search === "filter") where.push("+email >= @lo AND +email < @hi");
    if (shape.cmp) where.push(`(${col}, id) ${shape.cmp} (@value, @id)`);
    statement = db.sqlite.prepare<Record<string, unknown>, UserBase>(
      `SELECT ${USER_COLUMNS} FROM users ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY ${col} ${shape.order}, id ${shape.order} LIMIT @limit`,
    );
    cache.set(key, statement);
  }
  return statement;
}

/**
 * One page of users, sorted by an indexed column (created_at, email or credits, then id), with an
 * optional email-prefix search. Keyset: `after` continues past the last row, `before` goes back
 * before the first. Per-row figures are computed for the page's users only.
 */
export function listUsers(db: AppDb, query: Partial<UserListQuery> & { limit?: number }): UserListPage {
  const sort = query.sort ?? "created";
  const dir = query.dir ?? DEFAULT_DIRECTION[sort];
  const limit = Math.max(1, Math.min(200, query.limit ?? USER_PAGE_SIZE));
  const q = query.q?.trim().toLowerCase() || null;
  const after = decodeCursor(query.after, sort);
  const before = after ? null : decodeCursor(query.before, sort);
  const backwards = before !== null;
  const cursor = after ?? before;

  let search: "index" | "filter" | null = null;
  if (q) {
    const broad = sort !== "email" && stmts(db).countMatches.get(q, prefixEnd(q), BROAD_SEARCH)!.n >= BROAD_SEARCH;
    search = broad ? "filter" : "index";
  }
  const ascending = (dir === "asc") !== backwards;
  const statement = listStatement(db, {
    sort,
    order: ascending ? "ASC" : "DESC",
    cmp: cursor ? (ascending ? ">" : "<") : null,
    search,
  });
  const params: Record<string, unknown> = { limit: limit + 1 };
  if (q) Object.assign(params, { lo: q, hi: prefixEnd(q) });
  if (cursor) Object.assign(params, { value: cursor[0], id: cursor[1] });
  let rows = statement.all(params);
  const more = rows.length > limit;
  rows = rows.slice(0, limit);
  if (backwards) {
    // Back at the start: show the first page as it is, full.
    if (!more) return listUsers(db, { ...query, after: undefined, before: undefined });
    rows.reverse();
  }

  const figures = new Map(
    rows.length ? stmts(db).figures.all(JSON.stringify(rows.map((r) => r.id))).map((f) => [f.id, f]) : [],
  );
  const users = rows.map((r) => {
    const f = figures.get(r.id);
    return { ...r, onHold: f?.onHold ?? 0, purchased: f?.purchased ?? 0, lastActivity: f?.lastActivity ?? null };
  });
  const col = (u: UserBase) => (sort === "email" ? u.email : sort === "credits" ? u.credits : u.createdAt);
  const first = users[0];
  const last = users[users.length - 1];
  return {
    users,
    sort,
    dir,
    q,
    next: last && (backwards || more) ? encodeCursor(col(last), last.id) : null,
    prev: first && (backwards || after) ? encodeCursor(col(first), first.id) : null,
  };
}
export type UserSummary = AdminUserRow & { flaggedReason: string | null };

export function getUserSummary(db: AppDb, userId: number): UserSummary | null {
  const user = stmts(db).user.get(userId);
  if (!user) return null;
  const f = stmts(db).figures.get(JSON.stringify([userId]));
  return { ...user, onHold: f?.onHold ?? 0, purchased: f?.purchased ?? 0, lastActivity: f?.lastActivity ?? null };
}
