/**
 * The admin credits console: the user list (search, sort, keyset pages), a user's summary, manual
 * balance changes and refunds with their audit rows, the audit log, and the overview.
 *
 * Balances change only through the ledger (credits.server.ts `adjust`); the audit row is written
 * in the same SQLite transaction, so a change without its record (or the reverse) cannot exist.
 * Refunds go through billing.server.ts `refundPurchase`; credits come back only when Stripe's
 * charge.refunded webhook arrives. Why the queries look the way they do:
 * docs/decisions/011-admin-console.md.
 */
import type Database from "better-sqlite3";
import Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { auditLog, type TransactionType, type UserRole } from "#db/schema";
import { AUDIT_ACTIONS, type AdjustmentType, type SortDirection, type UserListQuery, type UserSort } from "~/utils/admin-schemas";
import { requestStripeRefund } from "./money/refund-request.server";
import { adjust, LedgerError, type Tx } from "./money/ledger.server";

export const USER_PAGE_SIZE = 50;
export const AUDIT_PAGE_SIZE = 50;
const DAY_MS = 86_400_000;
/** A search matching at least this many users is "broad": walk the sort index instead of sorting matches. */
const BROAD_SEARCH = 2_000;

export { AUDIT_ACTIONS };

// ---------------------------------------------------------------------------------------------
// Prepared statements, one set per connection.

type UserBase = { id: number; email: string; role: UserRole; credits: number; createdAt: number; flaggedAt: number | null };
type UserFigures = { id: number; onHold: number; purchased: number; lastActivity: number | null };

const USER_COLUMNS = "id, email, role, credits, created_at AS createdAt, flagged_at AS flaggedAt";

function prepare(sqlite: Database.Database) {
  return {
    // Per-user figures for the users of one page only, each from a (user_id, ...) index.
    figures: sqlite.prepare<[string], UserFigures>(
      `SELECT u.id AS id,
         (SELECT coalesce(sum(-amount), 0) FROM transactions
           WHERE user_id = u.id AND type = 'usage' AND status = 'pending') AS onHold,
         (SELECT coalesce(sum(amount), 0) FROM transactions WHERE user_id = u.id AND type = 'purchase') AS purchased,
         (SELECT created_at FROM transactions WHERE user_id = u.id ORDER BY id DESC LIMIT 1) AS lastActivity
       FROM users u WHERE u.id IN (SELECT value FROM json_each(?))`,
    ),
    user: sqlite.prepare<[number], UserBase & { flaggedReason: string | null }>(
      `SELECT ${USER_COLUMNS}, flagged_reason AS flaggedReason FROM users WHERE id = ?`,
    ),
    countMatches: sqlite.prepare<[string, string, number], { n: number }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM users WHERE email >= ? AND email < ? LIMIT ?)`,
    ),
    purchases: sqlite.prepare<[number, number], Pick<Tx, "id" | "createdAt" | "amount" | "description" | "meta"> & { refunded: number }>(
      `SELECT t.id AS id, t.created_at AS createdAt, t.amount AS amount, t.description AS description, t.meta AS meta,
         coalesce((SELECT -sum(r.amount) FROM transactions r
                   WHERE r.stripe_payment_id = t.stripe_payment_id AND r.type = 'refund'), 0) AS refunded
       FROM transactions t
       WHERE t.user_id = ? AND t.type = 'purchase' AND t.stripe_payment_id IS NOT NULL
       ORDER BY t.id DESC LIMIT ?`,
    ),
    purchase: sqlite.prepare<[number], Pick<Tx, "id" | "userId" | "type" | "amount" | "stripePaymentId">>(
      `SELECT id, user_id AS userId, type, amount, stripe_payment_id AS stripePaymentId FROM transactions WHERE id = ?`,
    ),
    refundedCredits: sqlite.prepare<[string], { credits: number }>(
      `SELECT coalesce(-sum(amount), 0) AS credits FROM transactions WHERE stripe_payment_id = ? AND type = 'refund'`,
    ),
    refundAudited: sqlite.prepare<[number, string, string], { id: number }>(
      `SELECT id FROM audit_log WHERE target_user_id = ? AND action = ? AND json_extract(details, '$.refundId') = ?`,
    ),
    refundRequested: sqlite.prepare<[number, string, string, number], { details: string }>(
      `SELECT details FROM audit_log WHERE target_user_id = ? AND action = ?
         AND json_extract(details, '$.requestToken') = ? AND json_extract(details, '$.transactionId') = ?`,
    ),
    auditPage: sqlite.prepare<{ older: number; limit: number }, AuditRaw>(
      `SELECT a.id AS id, a.created_at AS createdAt, a.action AS action, a.reason AS reason, a.details AS details,
         a.actor_id AS actorId, actor.email AS actorEmail, a.target_user_id AS targetUserId, target.email AS targetEmail
       FROM audit_log a
       JOIN users actor ON actor.id = a.actor_id
       LEFT JOIN users target ON target.id = a.target_user_id
       WHERE a.id < @older
       ORDER BY a.id DESC LIMIT @limit`,
    ),
    auditPageOfUser: sqlite.prepare<{ user: number; older: number; limit: number }, AuditRaw>(
      `SELECT a.id AS id, a.created_at AS createdAt, a.action AS action, a.reason AS reason, a.details AS details,
         a.actor_id AS actorId, actor.email AS actorEmail, a.target_user_id AS targetUserId, target.email AS targetEmail
       FROM audit_log a
       JOIN users actor ON actor.id = a.actor_id
       LEFT JOIN users target ON target.id = a.target_user_id
       WHERE a.target_user_id = @user AND a.id < @older
       ORDER BY a.id DESC LIMIT @limit`,
    ),
    // The last N days, one range of the created_at index. Revenue is read from the purchase's
    // meta (amountTotal in the currency's minor unit, as Stripe reported it at checkout).
    overviewDays: sqlite.prepare<[number, number], DayFigures>(
      `SELECT created_at / ${DAY_MS} AS day, type, status, sum(amount) AS total,
         sum(CASE WHEN type = 'purchase' THEN coalesce(json_extract(meta, '$.amountTotal'), 0) ELSE 0 END) AS revenue,
         CASE WHEN type = 'purchase' THEN lower(json_extract(meta, '$.currency')) END AS currency
       FROM transactions WHERE created_at >= ? AND created_at < ?
       GROUP BY day, type, status, currency`,
    ),
    onHold: sqlite.prepare<[], { credits: number; holds: number }>(
      `SELECT coalesce(sum(-amount), 0) AS credits, count(*) AS holds FROM transactions WHERE status = 'pending'`,
    ),
    balances: sqlite.prepare<[], { users: number; outstanding: number }>(
      `SELECT count(*) AS users, coalesce(sum(credits), 0) AS outstanding FROM users`,
    ),
  };
}

type DayFigures = { day: number; type: TransactionType; status: string; total: number; revenue: number; currency: string | null };

type AuditRaw = {
  id: number;
  createdAt: number;
  action: string;
  reason: string | null;
  details: string | null;
  actorId: number;
  actorEmail: string;
  targetUserId: number | null;
  targetEmail: string | null;
};

const statements = new WeakMap<Database.Database, ReturnType<typeof prepare>>();
function stmts(db: AppDb) {
  let s = statements.get(db.sqlite);
  if (!s) statements.set(db.sqlite, (s = prepare(db.sqlite)));
  return s;
}

// ---------------------------------------------------------------------------------------------
// The user list

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

// ---------------------------------------------------------------------------------------------
// One user

export type UserSummary = AdminUserRow & { flaggedReason: string | null };

export function getUserSummary(db: AppDb, userId: number): UserSummary | null {
  const user = stmts(db).user.get(userId);
  if (!user) return null;
  const f = stmts(db).figures.get(JSON.stringify([userId]));
  return { ...user, onHold: f?.onHold ?? 0, purchased: f?.purchased ?? 0, lastActivity: f?.lastActivity ?? null };
}

export type RefundablePurchase = {
  id: number;
  createdAt: number;
  credits: number;
  description: string;
  refundedCredits: number;
  /** What the customer paid, in the currency's minor unit, when the purchase recorded it. */
  amountTotal: number | null;
  currency: string | null;
};

/** The user's most recent Stripe purchases that are not refunded in full yet. */
export function listRefundablePurchases(db: AppDb, userId: number, limit = 20): RefundablePurchase[] {
  return stmts(db)
    .purchases.all(userId, limit)
    .filter((p) => p.refunded < p.amount)
    .map((p) => {
      const meta = parseJson(p.meta);
      return {
        id: p.id,
        createdAt: p.createdAt,
        credits: p.amount,
        description: p.description,
        refundedCredits: p.refunded,
        amountTotal: typeof meta.amountTotal === "number" ? meta.amountTotal : null,
        currency: typeof meta.currency === "string" ? meta.currency : null,
      };
    });
}

function parseJson(text: string | null): Record<string, unknown> {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Manual balance changes

export type AdjustInput = {
  adminId: number;
  userId: number;
  amount: number;
  type: AdjustmentType;
  reason: string;
  /** The form's token: the ledger key is `admin-adjust:<token>`, so a double submit is a replay. */
  token: string;
};

export type AdjustResult =
  | { status: "applied" | "replayed"; transaction: Tx }
  | { status: "insufficient"; balance: number; needed: number }
  | { status: "user_not_found" }
  /** The token already made a different change (another user, type or amount). */
  | { status: "token_reused" };

export function adjustmentKey(token: string): string {
  return `admin-adjust:${token}`;
}

/**
 * Adds or removes credits by hand, with who and why. The ledger write and its audit row are one
 * SQLite transaction. The same token again is a replay: nothing changes, no second audit row, and
 * the first result comes back. A removal never takes the balance below zero (the ledger's guard).
 */
export function adjustCredits(db: AppDb, input: AdjustInput): AdjustResult {
  const run = db.sqlite.transaction((): AdjustResult => {
    if (!stmts(db).user.get(input.userId)) return { status: "user_not_found" };
    const result = adjust(db, {
      userId: input.userId,
      amount: input.amount,
      adminId: input.adminId,
      reason: input.reason,
      key: adjustmentKey(input.token),
      type: input.type,
    });
    if (!result.ok) return { status: "insufficient", balance: result.balance, needed: result.needed };
    if (result.replayed) return { status: "replayed", transaction: result.transaction };
    db.orm
      .insert(auditLog)
      .values({
        actorId: input.adminId,
        action: AUDIT_ACTIONS.adjust,
        targetUserId: input.userId,
        reason: result.transaction.reason ?? input.reason.trim(),
        details: JSON.stringify({
          transactionId: result.transaction.id,
          type: input.type,
          amount: input.amount,
          balanceAfter: result.transaction.balanceAfter,
          key: result.transaction.idempotencyKey,
        }),
        createdAt: result.transaction.createdAt,
      })
      .run();
    return { status: "applied", transaction: result.transaction };
  });
  try {
    return run.immediate();
  } catch (error) {
    if (error instanceof LedgerError && error.code === "key_conflict") return { status: "token_reused" };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Refunds

export type RefundInput = { adminId: number; userId: number; transactionId: number; reason: string; token: string };
export type RefundResult =
  | { status: "requested"; replayed: boolean; refundId: string; amount: number; currency: string; refundStatus: string | null }
  | { status: "not_refundable"; message: string }
  | { status: "stripe_error"; message: string };

/**
 * Asks Stripe to refund one of the user's purchases (in full) and records who asked and why.
 * Credits are not touched here: Stripe's charge.refunded webhook takes them back, the one place
 * refunds are applied. The form token is the Stripe idempotency key: a double submit is one refund.
 */
export async function requestRefund(db: AppDb, stripe: Stripe, input: RefundInput): Promise<RefundResult> {
  // The same form again (same token): the first result, even if Stripe has refunded it since.
  const earlier = stmts(db).refundRequested.get(input.userId, AUDIT_ACTIONS.refund, input.token, input.transactionId);
  if (earlier) {
    const d = parseJson(earlier.details);
    return {
      status: "requested",
      replayed: true,
      refundId: String(d.refundId),
      amount: Number(d.amount),
      currency: String(d.currency),
      refundStatus: typeof d.refundStatus === "string" ? d.refundStatus : null,
    };
  }
  const purchase = stmts(db).purchase.get(input.transactionId);
  if (!purchase || purchase.userId !== input.userId || purchase.type !== "purchase" || !purchase.stripePaymentId) {
    return { status: "not_refundable", message: `Transaction #${input.transactionId} is not a Stripe purchase of this user.` };
  }
  if (stmts(db).refundedCredits.get(purchase.stripePaymentId)!.credits >= purchase.amount) {
    return { status: "not_refundable", message: `Purchase #${purchase.id} is already refunded in full.` };
  }
  let refund: Stripe.Refund;
  try {
    refund = await requestStripeRefund(stripe, purchase, purchase.stripePaymentId, { requestToken: input.token });
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return { status: "stripe_error", message: `Stripe refused the refund: ${error.message}` };
    throw error;
  }
  const record = db.sqlite.transaction((): boolean => {
    if (stmts(db).refundAudited.get(input.userId, AUDIT_ACTIONS.refund, refund.id)) return true;
    db.orm
      .insert(auditLog)
      .values({
        actorId: input.adminId,
        action: AUDIT_ACTIONS.refund,
        targetUserId: input.userId,
        reason: input.reason.trim(),
        details: JSON.stringify({
          transactionId: purchase.id,
          refundId: refund.id,
          amount: refund.amount,
          currency: refund.currency,
          refundStatus: refund.status,
          paymentIntent: purchase.stripePaymentId,
          requestToken: input.token,
        }),
      })
      .run();
    return false;
  });
  const replayed = record.immediate();
  return { status: "requested", replayed, refundId: refund.id, amount: refund.amount, currency: refund.currency, refundStatus: refund.status };
}

// ---------------------------------------------------------------------------------------------
// Audit log

export type AuditEntryView = {
  id: number;
  createdAt: number;
  action: string;
  reason: string | null;
  summary: string;
  actorId: number;
  actorEmail: string;
  targetUserId: number | null;
  targetEmail: string | null;
};

function formatMoney(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(minor / 100);
  } catch {
    return `${minor} ${currency}`;
  }
}

function signed(n: number): string {
  return n > 0 ? `+${n.toLocaleString("en-US")}` : `−${Math.abs(n).toLocaleString("en-US")}`;
}

/** One line a person can read, from the row's details. */
export function summarizeAudit(action: string, detailsText: string | null): string {
  const d = parseJson(detailsText);
  if (action === AUDIT_ACTIONS.adjust && typeof d.amount === "number") {
    return `${signed(d.amount)} credits (${String(d.type ?? "adjustment")}), balance after ${String(d.balanceAfter ?? "?")}, transaction #${String(d.transactionId ?? "?")}`;
  }
  if (action === AUDIT_ACTIONS.refund && typeof d.amount === "number" && typeof d.currency === "string") {
    return `Refund ${String(d.refundId)} of ${formatMoney(d.amount, d.currency)} requested for purchase #${String(d.transactionId ?? "?")}`;
  }
  return detailsText ?? "";
}

export function listAudit(
  db: AppDb,
  opts: { targetUserId?: number; older?: number; limit?: number } = {},
): { entries: AuditEntryView[]; older: number | null } {
  const limit = Math.max(1, Math.min(200, opts.limit ?? AUDIT_PAGE_SIZE));
  const params = { older: opts.older ?? Number.MAX_SAFE_INTEGER, limit: limit + 1 };
  const raw =
    opts.targetUserId !== undefined
      ? stmts(db).auditPageOfUser.all({ ...params, user: opts.targetUserId })
      : stmts(db).auditPage.all(params);
  const more = raw.length > limit;
  const entries = raw.slice(0, limit).map((r) => ({
    id: r.id,
    createdAt: r.createdAt,
    action: r.action,
    reason: r.reason,
    summary: summarizeAudit(r.action, r.details),
    actorId: r.actorId,
    actorEmail: r.actorEmail,
    targetUserId: r.targetUserId,
    targetEmail: r.targetEmail,
  }));
  return { entries, older: more ? entries[entries.length - 1].id : null };
}

// ---------------------------------------------------------------------------------------------
// Overview

export type OverviewDay = {
  day: string;
  /** Credits bought (purchases and top-ups). */
  sold: number;
  /** Credits spent: posted usage. */
  spent: number;
  /** Credits given: bonuses (sign-up, promotions, admin grants). */
  given: number;
  /** Credits taken back after refunds and disputes. */
  clawedBack: number;
  /** Net manual adjustments. */
  adjusted: number;
  /** Money taken per currency, in minor units. */
  revenue: Record<string, number>;
};

export type Overview = {
  days: OverviewDay[];
  totals: Omit<OverviewDay, "day">;
  onHold: { credits: number; holds: number };
  users: number;
  /** Sum of every spendable balance: credits sold or given and not spent yet. */
  outstanding: number;
};

/** Days older than this many are closed: every hold of theirs is settled (holds time out within a
 * day, GENERATION_HOLD_TTL_SECONDS ≤ 86,400) and new rows are dated today, so their figures no
 * longer change. Their figures are kept in memory for a while; the recent days are always read. */
const LIVE_DAYS = 3;
const CLOSED_DAYS_TTL_MS = 10 * 60_000;
const closedDays = new WeakMap<Database.Database, Map<number, { at: number; rows: DayFigures[] }>>();

/** Figures per day for [firstDay, lastDay]: closed days from the cache (read in one range when
 * missing or stale), the live ones from the database every time. One range of created_at each. */
function dayFigures(db: AppDb, firstDay: number, today: number, now: number): DayFigures[] {
  let cache = closedDays.get(db.sqlite);
  if (!cache) closedDays.set(db.sqlite, (cache = new Map()));
  const firstLive = Math.max(firstDay, today - LIVE_DAYS + 1);
  let firstMissing: number | null = null;
  for (let d = firstDay; d < firstLive; d++) {
    const hit = cache.get(d);
    if (!hit || now - hit.at > CLOSED_DAYS_TTL_MS) {
      firstMissing = d;
      break;
    }
  }
  if (firstMissing !== null) {
    const fresh = new Map<number, DayFigures[]>();
    for (let d = firstMissing; d < firstLive; d++) fresh.set(d, []);
    for (const r of stmts(db).overviewDays.all(firstMissing * DAY_MS, firstLive * DAY_MS)) fresh.get(r.day)?.push(r);
    for (const [d, rows] of fresh) cache.set(d, { at: now, rows });
    for (const d of cache.keys()) if (d < firstDay - 30) cache.delete(d);
  }
  const rows: DayFigures[] = [];
  for (let d = firstDay; d < firstLive; d++) rows.push(...cache.get(d)!.rows);
  rows.push(...stmts(db).overviewDays.all(firstLive * DAY_MS, (today + 1) * DAY_MS));
  return rows;
}

/** The last `days` UTC days (today included), plus the figures of now. */
export function getOverview(db: AppDb, opts: { days?: number; now?: number } = {}): Overview {
  const days = opts.days ?? 30;
  const now = opts.now ?? Date.now();
  const today = Math.floor(now / DAY_MS);
  const firstDay = today - days + 1;
  const blank = (): Omit<OverviewDay, "day"> => ({ sold: 0, spent: 0, given: 0, clawedBack: 0, adjusted: 0, revenue: {} });
  const series = new Map<number, OverviewDay>();
  for (let d = firstDay; d <= today; d++) series.set(d, { day: new Date(d * DAY_MS).toISOString().slice(0, 10), ...blank() });
  const totals = blank();
  const read = db.sqlite.transaction(() => ({
    rows: dayFigures(db, firstDay, today, now),
    onHold: stmts(db).onHold.get()!,
    balances: stmts(db).balances.get()!,
  }));
  const { rows, onHold, balances } = read.deferred();
  for (const r of rows) {
    const point = series.get(r.day);
    if (!point) continue;
    for (const target of [point, totals]) {
      switch (r.type) {
        case "purchase":
        case "topup":
          target.sold += r.total;
          if (r.currency && r.revenue) target.revenue[r.currency] = (target.revenue[r.currency] ?? 0) + r.revenue;
          break;
        case "usage":
          if (r.status === "posted") target.spent += -r.total;
          break;
        case "bonus":
          target.given += r.total;
          break;
        case "refund":
          target.clawedBack += -r.total;
          break;
        case "adjustment":
          target.adjusted += r.total;
          break;
      }
    }
  }
  return { days: [...series.values()], totals, onHold, users: balances.users, outstanding: balances.outstanding };
}
