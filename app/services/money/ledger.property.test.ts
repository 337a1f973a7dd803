/**
 * Model-based property test: random sequences of ledger operations (grants with random expiries,
 * holds, posts, voids, deductions, clawbacks, adjustments, hold sweeps, grant expiries, clock
 * ticks, REPLAYS of earlier writes and key conflicts) run against the real module, through the
 * executor, on SQLite and on a real PostgreSQL (decision 036), and against a tiny in-memory model
 * that keeps its own grants. The clock is the model's: every call is given `now`. After every step
 * the invariants are checked (TigerBeetle style: invariants are code), read through the executor
 * with portable SQL: credits == the live rows == the open grants, every balance_after replays
 * (tests/support/ledger.ts), the spendable balance (readBalance), every grant's remaining, and
 * which grants each spending row drew from (soonest expiry first, never an expired one).
 *
 * One database per engine for the whole file (a PostgreSQL database costs about a second to
 * create and migrate): each sequence gets users of its own, every check is limited to them, and
 * each sequence runs on a clock of its own further in the PAST than the previous one, so a sweep or
 * an expiry (which act on every user) never finds anything of an earlier sequence due.
 * Runs: LEDGER_PROPERTY_RUNS (default 120) on SQLite, LEDGER_PROPERTY_RUNS_PG (default 30) on
 * PostgreSQL, whose every write is a durable commit over a socket.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlDb } from "../../../db/sql.server";
import type { TransactionType } from "../../../db/schema";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { ledgerViolationsOn } from "../../../tests/support/ledger";
import {
  LedgerError,
  adjust,
  clawback,
  closeGrant,
  expireDueGrants,
  grant,
  hold,
  postHold,
  readBalance,
  readSpendableBalance,
  sweepExpiredHolds,
  voidHold,
  voidRecordOf,
  type Insufficient,
  type Tx,
  type Written,
} from "./ledger.server";

const USERS = 3;
const T0 = 1_800_000_000_000;
/** How much earlier each sequence's clock starts than the previous one's: far more than a
 * sequence can move it (300 steps of at most 30 s). */
const EPOCH_STEP = 100_000_000;

type Op =
  | { kind: "grant"; user: number; amount: number; type: "purchase" | "topup" | "bonus"; expiresIn: number | null }
  | { kind: "hold"; user: number; cost: number; ttlSeconds: number }
  | { kind: "post"; pick: number }
  | { kind: "void"; pick: number }
  | { kind: "deduct"; user: number; cost: number }
  | { kind: "clawback"; user: number; amount: number }
  | { kind: "adjust"; user: number; amount: number; type: "adjustment" | "bonus" }
  | { kind: "sweep" }
  | { kind: "expire" }
  | { kind: "close"; pick: number }
  | { kind: "tick"; ms: number }
  | { kind: "toExpiry"; pick: number }
  | { kind: "replay"; pick: number }
  | { kind: "conflict"; pick: number; change: "amount" | "user" | "type" };

const user = fc.integer({ min: 0, max: USERS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("grant" as const), user, amount: fc.integer({ min: 1, max: 200 }),
      type: fc.constantFrom("purchase" as const, "topup" as const, "bonus" as const),
      // Often the same few expiries, so ties (spending order by id) happen.
      expiresIn: fc.option(fc.oneof(fc.constantFrom(1_000, 5_000), fc.integer({ min: 1, max: 30_000 })), { nil: null }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("hold" as const), user, cost: fc.integer({ min: 1, max: 80 }), ttlSeconds: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("post" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("void" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("deduct" as const), user, cost: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clawback" as const), user, amount: fc.integer({ min: 1, max: 150 }) }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant("adjust" as const), user, amount: fc.integer({ min: -100, max: 100 }).filter((n) => n !== 0), type: fc.constant("adjustment" as const) }),
      fc.record({ kind: fc.constant("adjust" as const), user, amount: fc.integer({ min: 1, max: 100 }), type: fc.constant("bonus" as const) }),
    ),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "sweep" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "expire" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 8_000 }) }) },
  // The clock lands exactly on a grant's expiry: the instant it stops being spendable.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("toExpiry" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("replay" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("conflict" as const), pick: fc.nat(), change: fc.constantFrom("amount" as const, "user" as const, "type" as const) }) },
);

type HoldState = { userId: number; cost: number; status: "pending" | "posted" | "voided"; expiresAt: number | null };
type Result = Written | ({ ok: true } & Written) | Insufficient;
type KeyedWrite = { key: string; userId: number; type: TransactionType; amount: number; id: number; call: () => Promise<Result> };

type ModelGrant = {
  id: number; userId: number; remaining: number; expiresAt: number | null; closed: boolean; debt: boolean;
  /** The row that opened it, and what its first closing expired (closeGrant answers it). */
  sourceTxId?: number; expiredRest?: number;
};
type Draw = { grantId: number; amount: number };

class Model {
  /** users.credits: the sum of counting rows, and of unclosed grants. */
  balance = new Map<number, number>();
  holds = new Map<number, HoldState>();
  grants: ModelGrant[] = [];
  draws = new Map<number, Draw[]>();
  /** Per user: what last changed the balance (a new row, or a void of hold N). */
  last = new Map<number, { row: number } | { voidOf: number } | { expired: true }>();
  now = T0;
  constructor(readonly userIds: number[]) {
    for (const id of userIds) this.balance.set(id, 0);
  }
  live(g: ModelGrant): boolean {
    return !g.closed && (g.expiresAt === null || g.expiresAt > this.now);
  }
  /** Live grants with something left, in spending order: soonest expiry, then oldest, never last. */
  spendingOrder(userId: number): ModelGrant[] {
    return this.grants
      .filter((g) => g.userId === userId && this.live(g) && g.remaining > 0)
      .sort((a, b) => (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.id - b.id);
  }
  spendable(userId: number): number {
    let sum = 0;
    for (const g of this.grants) if (g.userId === userId && this.live(g)) sum += g.remaining;
    return sum;
  }
  nextExpiry(userId: number): { amount: number; expiresAt: number } | null {
    const first = this.spendingOrder(userId).find((g) => g.expiresAt !== null);
    if (!first) return null;
    const amount = this.spendingOrder(userId).filter((g) => g.expiresAt === first.expiresAt).reduce((a, g) => a + g.remaining, 0);
    return { amount, expiresAt: first.expiresAt! };
  }
  /** Takes `amount` in spending order for row `txId` (the caller checked it is covered). */
  draw(txId: number, userId: number, amount: number): Draw[] {
    const draws: Draw[] = [];
    let left = amount;
    for (const g of this.spendingOrder(userId)) {
      if (left === 0) break;
      const n = Math.min(left, g.remaining);
      g.remaining -= n;
      left -= n;
      draws.push({ grantId: g.id, amount: n });
    }
    if (left > 0) {
      const debt = this.grants.find((g) => g.userId === userId && g.debt);
      if (!debt) throw new Error("model: the debt grant must be created by the caller");
      debt.remaining -= left;
      draws.push({ grantId: debt.id, amount: left });
    }
    this.draws.set(txId, draws);
    return draws;
  }
  /** A void's give-back; what goes back to a grant that is no longer live expires at once. */
  giveBack(txId: number): void {
    for (const d of this.draws.get(txId) ?? []) {
      const g = this.grants.find((x) => x.id === d.grantId)!;
      g.remaining += d.amount;
      if (!this.live(g)) this.close(g);
    }
    this.draws.delete(txId);
  }
  close(g: ModelGrant): void {
    if (!g.closed) g.expiredRest = Math.max(0, g.remaining);
    this.balance.set(g.userId, this.balance.get(g.userId)! - g.remaining);
    g.remaining = 0;
    g.closed = true;
  }
  onHold(userId: number): number {
    let sum = 0;
    for (const h of this.holds.values()) if (h.userId === userId && h.status === "pending") sum += h.cost;
    return sum;
  }
}

afterAll(closeEngines);

/** `IN (?, ?, …)` for a list of ids. */
const list = (ids: readonly number[]) => `(${ids.map(() => "?").join(", ")})`;

/** Everything the ledger owns of these users, to prove a replay or a refusal changed nothing. */
async function snapshot(db: SqlDb, ids: readonly number[]): Promise<string> {
  const u = await db.all(`SELECT id, credits FROM users WHERE id IN ${list(ids)} ORDER BY id`, ids);
  const t = await db.all(`SELECT * FROM transactions WHERE user_id IN ${list(ids)} ORDER BY id`, ids);
  const g = await db.all(`SELECT * FROM credit_grants WHERE user_id IN ${list(ids)} ORDER BY id`, ids);
  const d = await db.all(
    `SELECT d.tx_id, d.grant_id, d.amount FROM grant_draws d JOIN credit_grants g ON g.id = d.grant_id WHERE g.user_id IN ${list(ids)} ORDER BY d.tx_id, d.grant_id`,
    ids,
  );
  return JSON.stringify([u, t, g, d]);
}

async function expectCode(fn: () => Promise<unknown>, code: LedgerError["code"]): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected LedgerError ${code}`).toBeInstanceOf(LedgerError);
  expect((thrown as LedgerError).code).toBe(code);
}

async function runSequence(engine: EngineDb, run: number, ops: Op[]): Promise<void> {
  const db = engine.sql;
  const userIds: number[] = [];
  for (let i = 0; i < USERS; i++) userIds.push(await insertUserOn(engine, `p${i}-run${run}@example.com`));
  const adminId = await insertUserOn(engine, `admin-run${run}@example.com`, "admin");
  const everyone = [...userIds, adminId];
  const model = new Model(userIds);
  model.now = T0 - run * EPOCH_STEP;
  const writes: KeyedWrite[] = [];
  let keyCounter = 0;
  const holdIds: number[] = [];

  /** A new row was written: it must match the model's new balance. */
  const wroteRow = (tx: Tx, userId: number, delta: number) => {
    const before = model.balance.get(userId)!;
    const after = before + delta;
    model.balance.set(userId, after);
    model.last.set(userId, { row: tx.id });
    expect(tx.balanceAfter).toBe(after);
  };

  /** A keyed write under a fresh key: refused (nothing changed), or a new row matching the model. */
  const keyed = async (userId: number, type: TransactionType, amount: number, guarded: boolean, write: (key: string) => Promise<Result>): Promise<Tx | undefined> => {
    const key = `run${run}-key-${++keyCounter}`;
    const before = await snapshot(db, everyone);
    const result = await write(key);
    const spendable = model.spendable(userId);
    if ("ok" in result && !result.ok) {
      expect(guarded).toBe(true);
      expect(spendable < -amount).toBe(true);
      expect(result).toEqual({ ok: false, reason: "insufficient_credits", balance: spendable, needed: -amount });
      expect(await snapshot(db, everyone)).toBe(before);
      return undefined;
    }
    const { transaction, replayed } = result;
    expect(replayed).toBe(false);
    expect(transaction).toMatchObject({ userId, type, amount, idempotencyKey: key });
    wroteRow(transaction, userId, amount);
    if (guarded) {
      expect(spendable).toBeGreaterThanOrEqual(-amount);
      expect(transaction.balanceAfter).toBeGreaterThanOrEqual(0);
    }
    writes.push({ key, userId, type, amount, id: transaction.id, call: () => write(key) });
    return transaction;
  };

  const idOf = async (text: string, id: number) => (await db.get<{ id: number }>(text, [id]))!.id;
  /** A new positive row opened a grant: the model gets the same one. */
  const opened = async (tx: Tx | undefined, expiresAt: number | null) => {
    if (!tx) return;
    const id = await idOf("SELECT id FROM credit_grants WHERE source_tx_id = ?", tx.id);
    model.grants.push({ id, userId: tx.userId, remaining: tx.amount, expiresAt, closed: false, debt: false, sourceTxId: tx.id });
  };
  /** A new spending row: it drew exactly what the model draws (grant by grant: which grants it
   * emptied and which one it took the rest from is the spending order). */
  const drew = async (tx: Tx | undefined, userId: number, amount: number) => {
    if (!tx) return;
    const covered = model.spendingOrder(userId).reduce((a, g) => a + g.remaining, 0) >= amount;
    if (!covered && !model.grants.some((g) => g.userId === userId && g.debt)) {
      const id = await idOf("SELECT id FROM credit_grants WHERE user_id = ? AND kind = 'debt'", userId);
      model.grants.push({ id, userId, remaining: 0, expiresAt: null, closed: false, debt: true });
    }
    const draws = await db.all<Draw>(`SELECT grant_id AS "grantId", amount FROM grant_draws WHERE tx_id = ? ORDER BY grant_id`, [tx.id]);
    expect(draws).toEqual([...model.draw(tx.id, userId, amount)].sort((a, b) => a.grantId - b.grantId));
  };
  /** Voids hold `id` in the model: credits back, then what went back to dead grants expires. */
  const modelVoid = (id: number, h: HoldState) => {
    h.status = "voided";
    model.balance.set(h.userId, model.balance.get(h.userId)! + h.cost);
    const after = model.balance.get(h.userId)!;
    model.last.set(h.userId, { voidOf: id });
    model.giveBack(id);
    if (model.balance.get(h.userId)! !== after) model.last.set(h.userId, { expired: true });
    return after;
  };

  const step = async (op: Op) => {
    const u = (i: number) => userIds[i];
    switch (op.kind) {
      case "grant": {
        const userId = u(op.user);
        const now = model.now;
        const expiresAt = op.expiresIn === null ? null : now + op.expiresIn;
        const tx = await keyed(userId, op.type, op.amount, false, async (key) =>
          await grant(db, { userId, amount: op.amount, type: op.type, key, description: "grant", expiresAt, now }),
        );
        await opened(tx, expiresAt);
        return;
      }
      case "hold": {
        const userId = u(op.user);
        const now = model.now;
        const tx = await keyed(userId, "usage", -op.cost, true, async (key) =>
          await hold(db, { userId, cost: op.cost, key, description: "hold", ttlSeconds: op.ttlSeconds, now }),
        );
        await drew(tx, userId, op.cost);
        if (tx) {
          expect(tx.status).toBe("pending");
          expect(tx.expiresAt).toBe(now + op.ttlSeconds * 1000);
          model.holds.set(tx.id, { userId, cost: op.cost, status: "pending", expiresAt: tx.expiresAt });
          holdIds.push(tx.id);
        }
        return;
      }
      case "deduct": {
        const userId = u(op.user);
        const now = model.now;
        const tx = await keyed(userId, "usage", -op.cost, true, async (key) => {
          const held = await hold(db, { userId, cost: op.cost, key, description: "deduct", ttlSeconds: 3600, now });
          return held.ok ? { ok: true, ...(await postHold(db, held.transaction.id, now)), replayed: held.replayed } : held;
        });
        await drew(tx, userId, op.cost);
        if (tx) {
          expect(tx.status).toBe("posted");
          model.holds.set(tx.id, { userId, cost: op.cost, status: "posted", expiresAt: null });
          holdIds.push(tx.id);
        }
        return;
      }
      case "clawback": {
        const userId = u(op.user);
        const now = model.now;
        const tx = await keyed(userId, "refund", -op.amount, false, async (key) =>
          await clawback(db, { userId, amount: op.amount, key, description: "refund", now }),
        );
        await drew(tx, userId, op.amount);
        return;
      }
      case "adjust": {
        const userId = u(op.user);
        const now = model.now;
        const tx = await keyed(userId, op.type, op.amount, op.amount < 0, async (key) =>
          await adjust(db, { userId, amount: op.amount, adminId, reason: "property test", key, type: op.type, now }),
        );
        if (op.amount > 0) await opened(tx, null);
        else await drew(tx, userId, -op.amount);
        return;
      }
      case "post":
      case "void": {
        const before = await snapshot(db, everyone);
        if (holdIds.length === 0) {
          await expectCode(() => (op.kind === "post" ? postHold(db, 9_999_999) : voidHold(db, 9_999_999, "x")), "hold_not_found");
          expect(await snapshot(db, everyone)).toBe(before);
          return;
        }
        const id = holdIds[op.pick % holdIds.length];
        const h = model.holds.get(id)!;
        const target = op.kind === "post" ? "posted" : "voided";
        const call = () => (op.kind === "post" ? postHold(db, id, model.now) : voidHold(db, id, "failed", model.now));
        if (h.status === "pending") {
          const { transaction, replayed } = await call();
          expect(replayed).toBe(false);
          expect(transaction.status).toBe(target);
          expect(transaction.settledAt).toBe(model.now);
          if (target === "voided") {
            const after = modelVoid(id, h);
            expect(voidRecordOf(transaction)).toMatchObject({ voidReason: "failed", voidBalanceAfter: after });
          } else h.status = target;
        } else if (h.status === target) {
          const { transaction, replayed } = await call();
          expect(replayed).toBe(true);
          expect(transaction.id).toBe(id);
          expect(await snapshot(db, everyone)).toBe(before);
        } else {
          await expectCode(call, h.status === "voided" ? "hold_voided" : "hold_posted");
          expect(await snapshot(db, everyone)).toBe(before);
        }
        return;
      }
      case "sweep": {
        const due = [...model.holds.entries()].filter(([, h]) => h.status === "pending" && h.expiresAt! <= model.now);
        expect(await sweepExpiredHolds(db, model.now)).toBe(due.length);
        // The sweeper voids in timeout order (ties by id).
        for (const [id, h] of due.sort(([a, x], [b, y]) => x.expiresAt! - y.expiresAt! || a - b)) modelVoid(id, h);
        return;
      }
      case "expire": {
        const due = model.grants.filter((g) => !g.closed && g.expiresAt !== null && g.expiresAt <= model.now);
        expect(await expireDueGrants(db, model.now)).toBe(due.length);
        for (const g of due) {
          if (g.remaining > 0) model.last.set(g.userId, { expired: true });
          model.close(g);
        }
        return;
      }
      case "close": {
        // A renewal closing a period's grant before its expiry: now, or a replay of a closing.
        const closable = model.grants.filter((g) => g.sourceTxId !== undefined);
        if (closable.length === 0) return;
        const g = closable[op.pick % closable.length];
        const before = await snapshot(db, everyone);
        const wasClosed = g.closed;
        if (!wasClosed && g.remaining > 0) model.last.set(g.userId, { expired: true });
        if (!wasClosed) model.close(g);
        expect(await closeGrant(db, { sourceTxId: g.sourceTxId!, now: model.now })).toEqual({ expired: g.expiredRest });
        if (wasClosed) expect(await snapshot(db, everyone)).toBe(before);
        return;
      }
      case "tick":
        model.now += op.ms;
        return;
      case "toExpiry": {
        const ahead = model.grants.filter((g) => g.expiresAt !== null && g.expiresAt > model.now);
        if (ahead.length > 0) model.now = ahead[op.pick % ahead.length].expiresAt!;
        return;
      }
      case "replay": {
        if (writes.length === 0) return;
        const w = writes[op.pick % writes.length];
        const before = await snapshot(db, everyone);
        const result = await w.call();
        if ("ok" in result && !result.ok) throw new Error(`a replay was refused: ${JSON.stringify(result)}`);
        const { transaction, replayed } = result;
        expect(replayed).toBe(true);
        expect(transaction.id).toBe(w.id);
        expect(await snapshot(db, everyone)).toBe(before);
        return;
      }
      case "conflict": {
        if (writes.length === 0) return;
        const w = writes[op.pick % writes.length];
        const before = await snapshot(db, everyone);
        const otherUser = userIds.find((id) => id !== w.userId)!;
        const userId = op.change === "user" ? otherUser : w.userId;
        const amount = op.change === "amount" ? Math.abs(w.amount) + 1 : Math.abs(w.amount);
        const call =
          op.change === "type"
            ? w.type === "bonus"
              ? async () => await grant(db, { userId, amount, type: "purchase", key: w.key, description: "x" })
              : async () => await grant(db, { userId, amount, type: "bonus", key: w.key, description: "x" })
            : w.type === "usage"
              ? async () => await hold(db, { userId, cost: amount, key: w.key, description: "x", ttlSeconds: 5, now: model.now })
              : w.type === "refund"
                ? async () => await clawback(db, { userId, amount, key: w.key, description: "x" })
                : w.type === "adjustment"
                  ? async () => await adjust(db, { userId, amount: w.amount < 0 ? -amount : amount, adminId, reason: "x", key: w.key })
                  : async () => await grant(db, { userId, amount, type: w.type as "bonus", key: w.key, description: "x" });
        await expectCode(call, "key_conflict");
        expect(await snapshot(db, everyone)).toBe(before);
        return;
      }
    }
  };

  const checkInvariants = async (op: Op, balancesBefore: Map<number, number>) => {
    for (const userId of userIds) {
      const balance = model.balance.get(userId)!;
      expect(await readBalance(db, userId, model.now)).toEqual({ balance: model.spendable(userId), onHold: model.onHold(userId), nextExpiry: model.nextExpiry(userId) });
      expect(await readSpendableBalance(db, userId, model.now)).toBe(model.spendable(userId));
      // No balance goes negative except through a clawback (spending is guarded), or further
      // below zero as credits expire or are closed early (a debt is not paid by credits that
      // expired unspent).
      const before = balancesBefore.get(userId)!;
      if (balance < 0 && !["clawback", "expire", "close", "void", "sweep"].includes(op.kind)) expect(balance).toBeGreaterThanOrEqual(before);
      // What last changed the balance recorded the balance it left.
      const last = model.last.get(userId);
      const newest = await db.get<Pick<Tx, "id" | "type" | "balanceAfter" | "meta">>(
        `SELECT id, type, balance_after AS "balanceAfter", meta FROM transactions WHERE user_id = ? ORDER BY id DESC LIMIT 1`,
        [userId],
      );
      if (!last) expect(newest).toBeUndefined();
      else if ("row" in last) expect(newest).toMatchObject({ id: last.row, balanceAfter: balance });
      else if ("expired" in last) expect(newest).toMatchObject({ type: "expire", balanceAfter: balance });
      else {
        const voided = await db.get<Pick<Tx, "meta">>("SELECT meta FROM transactions WHERE id = ?", [last.voidOf]);
        expect(voidRecordOf(voided!)?.voidBalanceAfter).toBe(balance);
      }
    }
    // credits == SUM(counting rows) == SUM(open grants), keys unique, every balance_after
    // replays, hold shapes, grants and draws add up.
    expect(await ledgerViolationsOn(db, everyone)).toEqual([]);
    // Every hold's status is what the model says.
    const statuses = await db.all<{ id: number; status: string }>(`SELECT id, status FROM transactions WHERE type = 'usage' AND user_id IN ${list(everyone)}`, everyone);
    expect(statuses.length).toBe(model.holds.size);
    for (const s of statuses) expect(s.status).toBe(model.holds.get(s.id)?.status);
    // Every grant holds what the model says, and is closed when the model closed it.
    const grants = await db.all(
      `SELECT id, remaining, CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END AS closed FROM credit_grants WHERE user_id IN ${list(everyone)} ORDER BY id`,
      everyone,
    );
    expect(grants).toEqual(model.grants.map((g) => ({ id: g.id, remaining: g.remaining, closed: g.closed ? 1 : 0 })).sort((a, b) => a.id - b.id));
  };

  for (const op of ops) {
    const balancesBefore = new Map(model.balance);
    await step(op);
    await checkInvariants(op, balancesBefore);
  }
}

const RUNS = {
  SQLite: { short: Number(process.env.LEDGER_PROPERTY_RUNS ?? 120), long: 5 },
  PostgreSQL: { short: Number(process.env.LEDGER_PROPERTY_RUNS_PG ?? 30), long: 2 },
} as const;

describe.each(ENGINES)("the ledger against its model on $name", (engine) => {
  let db: EngineDb;
  let runs = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  it("random operation sequences keep the ledger equal to the model and every invariant true", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        await runSequence(db, ++runs, ops);
      }),
      { numRuns: RUNS[engine.name].short },
    );
  }, 600_000); // LEDGER_PROPERTY_RUNS=2000 (LEDGER_PROPERTY_RUNS_PG=…) for a longer hunt

  it("the invariant check sees a broken ledger (so a clean report means something)", async () => {
    const userId = await insertUserOn(db, `broken-${engine.name.toLowerCase()}@example.com`);
    await grant(db.sql, { userId, amount: 10, type: "bonus", key: `broken-${userId}`, description: "x", now: T0 });
    const held = await hold(db.sql, { userId, cost: 4, key: `broken-hold-${userId}`, description: "x", ttlSeconds: 60, now: T0 + 1 });
    expect(held.ok).toBe(true);
    expect(await ledgerViolationsOn(db.sql, [userId])).toEqual([]);
    const breaks = [
      "UPDATE users SET credits = credits + 1 WHERE id = ?",
      "UPDATE credit_grants SET remaining = remaining + 1 WHERE user_id = ?",
      "UPDATE transactions SET balance_after = balance_after + 1 WHERE user_id = ? AND type = 'usage'",
      "UPDATE grant_draws SET amount = amount + 1 WHERE tx_id IN (SELECT id FROM transactions WHERE user_id = ?)",
    ];
    for (const text of breaks) {
      await db.sql.write((tx) => tx.run(text, [userId]));
      expect(await ledgerViolationsOn(db.sql, [userId]), text).not.toEqual([]);
      await db.sql.write((tx) => tx.run(text.replace("+ 1", "- 1"), [userId]));
      expect(await ledgerViolationsOn(db.sql, [userId])).toEqual([]);
    }
  });

  it("a long sequence with many holds and sweeps", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 200, maxLength: 300 }), async (ops) => {
        await runSequence(db, ++runs, ops);
      }),
      { numRuns: RUNS[engine.name].long },
    );
  }, 300_000);
});
