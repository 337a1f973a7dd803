/**
 * The admin console's user list (search, sort, keyset pages) and one user's summary. Read-only.
 * Why the queries look the way they do: docs/decisions/011-admin-console.md.
 */
import type { PortableDb } from "#db/client.server";
import type { UserRole } from "#db/schema";
import type { SortDirection, UserListQuery, UserSort } from "~/utils/admin-schemas";

export const USER_PAGE_SIZE = 50;
/** The longest search taken into account: a longer one is cut (nothing is longer than an address). */
const MAX_SEARCH = 320;
/** A search matching at least this many users walks the sort column's index instead (decision 011). */
const BROAD_SEARCH = 2_000;

type UserBase = { id: number; email: string; role: UserRole; credits: number; createdAt: number; flaggedAt: number | null; emailVerifiedAt: number | null };
type UserFigures = { id: number; onHold: number; purchased: number; lastActivity: number | null };

const USER_COLUMNS = `id, email, role, credits, created_at AS "createdAt", flagged_at AS "flaggedAt", email_verified_at AS "emailVerifiedAt"`;

// Per-user figures for the users of one page only, each from a (user_id, ...) index. Purchased:
// from the user's daily totals (decision 037), a row per day rather than one per purchase. One
// placeholder per id (a page is at most 200): portable, no json_each.
const figuresSql = (count: number) => `SELECT u.id AS id,
   (SELECT coalesce(sum(-amount), 0) FROM transactions
     WHERE user_id = u.id AND type = 'usage' AND status = 'pending') AS "onHold",
   (SELECT coalesce(sum(credits), 0) FROM user_daily_totals WHERE user_id = u.id AND type = 'purchase') AS purchased,
   (SELECT created_at FROM transactions WHERE user_id = u.id ORDER BY id DESC LIMIT 1) AS "lastActivity"
 FROM users u WHERE u.id IN (${Array.from({ length: count }, () => "?").join(", ")})`;

const USER_BY_ID = `SELECT ${USER_COLUMNS}, flagged_reason AS "flaggedReason" FROM users WHERE id = ?`;

function readFigures(db: PortableDb, ids: readonly number[]): Promise<UserFigures[]> {
  return ids.length ? db.sql.all<UserFigures>(figuresSql(ids.length), ids) : Promise.resolve([]);
}

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

/**
 * The LIKE pattern of an email-prefix search: the text lower-cased, its `\`, `%` and `_` escaped
 * (they match themselves, never "anything"), then `%`. Used with `lower(email) LIKE lower(?)
 * ESCAPE '\'`: LIKE is case-insensitive on SQLite (ASCII) and case-sensitive on PostgreSQL, so
 * both sides are lowered (addresses are stored lower-case already).
 */
export function prefixPattern(q: string): string {
  return `${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Upper bound of an email-prefix range: every string that starts with `prefix` sorts below it (bytewise). */
function prefixEnd(prefix: string): string {
  return `${prefix}\u{10FFFF}`;
}

/**
 * How a search finds its users. SQLite (the default, and the file the admin pages are benched on)
 * compares text bytewise, so a prefix is a range of the UNIQUE email index (addresses are stored
 * lower-case): "index" reads a narrow search's few matches from it; "filter" (a broad one, at least
 * BROAD_SEARCH matches, sorted by another column) walks that column's index and filters, the unary
 * `+` keeping the planner off the email index (decision 011). PostgreSQL's text order follows the
 * database's collation, where a range is not a prefix: "like", the escaped LIKE (correct under any
 * collation; fast there with a `text_pattern_ops` index, not created here).
 */
type SearchShape = "index" | "filter" | "like" | null;

const COUNT_MATCHES = `SELECT count(*) AS n FROM (SELECT 1 FROM users WHERE email >= ? AND email < ? LIMIT ${BROAD_SEARCH}) m`;

async function searchShape(db: PortableDb, q: string | null, sort: UserSort): Promise<SearchShape> {
  if (!q) return null;
  if (db.sql.dialect !== "sqlite") return "like";
  if (sort === "email") return "index";
  const matches = (await db.sql.get<{ n: number }>(COUNT_MATCHES, [q, prefixEnd(q)]))!.n;
  return matches >= BROAD_SEARCH ? "filter" : "index";
}

function listSql(shape: { sort: UserSort; order: "ASC" | "DESC"; cmp: "<" | ">" | null; search: SearchShape }): string {
  const col = SORT_COLUMNS[shape.sort];
  const where: string[] = [];
  if (shape.search === "index") where.push("email >= @lo AND email < @hi");
  if (shape.search === "filter") where.push("+email >= @lo AND +email < @hi");
  if (shape.search === "like") where.push(`lower(email) LIKE lower(@pattern) ESCAPE '\\'`);
  if (shape.cmp) where.push(`(${col}, id) ${shape.cmp} (@value, @id)`);
  return `SELECT ${USER_COLUMNS} FROM users ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY ${col} ${shape.order}, id ${shape.order} LIMIT @limit`;
}

/**
 * One page of users, sorted by an indexed column (created_at, email or credits, then id), with an
 * optional email-prefix search. Keyset: `after` continues past the last row, `before` goes back
 * before the first. Per-row figures are computed for the page's users only.
 */
export async function listUsers(db: PortableDb, query: Partial<UserListQuery> & { limit?: number }): Promise<UserListPage> {
  const sort = query.sort ?? "created";
  const dir = query.dir ?? DEFAULT_DIRECTION[sort];
  const limit = Math.max(1, Math.min(200, query.limit ?? USER_PAGE_SIZE));
  const q = query.q?.trim().slice(0, MAX_SEARCH).toLowerCase() || null;
  const after = decodeCursor(query.after, sort);
  const before = after ? null : decodeCursor(query.before, sort);
  const backwards = before !== null;
  const cursor = after ?? before;

  const ascending = (dir === "asc") !== backwards;
  const search = await searchShape(db, q, sort);
  const text = listSql({
    sort,
    order: ascending ? "ASC" : "DESC",
    cmp: cursor ? (ascending ? ">" : "<") : null,
    search,
  });
  const params: Record<string, unknown> = { limit: limit + 1 };
  if (q && search === "like") Object.assign(params, { pattern: prefixPattern(q) });
  if (q && (search === "index" || search === "filter")) Object.assign(params, { lo: q, hi: prefixEnd(q) });
  if (cursor) Object.assign(params, { value: cursor[0], id: cursor[1] });
  let rows = await db.sql.all<UserBase>(text, params);
  const more = rows.length > limit;
  rows = rows.slice(0, limit);
  if (backwards) {
    // Back at the start: show the first page as it is, full.
    if (!more) return listUsers(db, { ...query, after: undefined, before: undefined });
    rows.reverse();
  }

  const figures = new Map((await readFigures(db, rows.map((r) => r.id))).map((f) => [f.id, f]));
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

export async function getUserSummary(db: PortableDb, userId: number): Promise<UserSummary | null> {
  const user = await db.sql.get<UserBase & { flaggedReason: string | null }>(USER_BY_ID, [userId]);
  if (!user) return null;
  const [f] = await readFigures(db, [userId]);
  return { ...user, onHold: f?.onHold ?? 0, purchased: f?.purchased ?? 0, lastActivity: f?.lastActivity ?? null };
}
