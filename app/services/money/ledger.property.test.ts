/**
 * Model-based property test: random sequences of ledger operations (grants with random expiries,
 * holds, posts, voids, deductions, clawbacks, adjustments, hold sweeps, grant expiries, clock
 * ticks, REPLAYS of earlier writes and key conflicts) run against the real module on a real SQLite
 * file and against a tiny in-memory model that keeps its own grants. The clock is the model's:
 * every call is given `now`. After every step the invariants are checked (TigerBeetle style:
 * invariants are code): the verifier, the spendable balance, every grant's remaining, and which
 * grants each spending row drew from (soonest expiry first, never an expired one).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../../db/client.server";
import type { TransactionType } from "../../../db/schema";
import {
  LedgerError,
  adjust,
  clawback,
  closeGrant,
  expireDueGrants,
  getBalance,
  grant,
  hold,
  postHold,
  sweepExpiredHolds,
  voidHold,
  voidRecordOf,
  type Insufficient,
  type Tx,
  type Written,
} from "./ledger.server";
import { verifyLedger } from "./ledger-verify.server";

const USERS = 3;
const T0 = 1_800_000_000_000;

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

let dir: string;
let template: AppDb;
let runs = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-prop-"));
  template = openMigratedDatabase(path.join(dir, "template.sqlite")); // migrated once, copied per run
  closeDatabase(template);
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Everything the ledger owns, to prove a replay or a refusal changed nothing. */
function snapshot(db: AppDb): string {
  const u = db.sqlite.prepare("select id, credits from users order by id").all();
  const t = db.sqlite.prepare("select * from transactions order by id").all();
  return JSON.stringify([u, t]);
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

async function runSequence(ops: Op[]): Promise<void> {
  const file = path.join(dir, `run-${++runs}.sqlite`);
  fs.copyFileSync(path.join(dir, "template.sqlite"), file);
  const db = openMigratedDatabase(file);
  try {
    const insertUser = db.sqlite.prepare("insert into users(email, password_hash) values (?, 'x')");
    const userIds = Array.from({ length: USERS }, (_, i) => Number(insertUser.run(`p${i}@example.com`).lastInsertRowid));
    const adminId = Number(insertUser.run("admin@example.com").lastInsertRowid);
    const model = new Model(userIds);
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
      const key = `key-${++keyCounter}`;
      const before = snapshot(db);
      const result = await write(key);
      const spendable = model.spendable(userId);
      if ("ok" in result && !result.ok) {
        expect(guarded).toBe(true);
        expect(spendable < -amount).toBe(true);
        expect(result).toEqual({ ok: false, reason: "insufficient_credits", balance: spendable, needed: -amount });
        expect(snapshot(db)).toBe(before);
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

    const grantIdOf = db.sqlite.prepare<[number], { id: number }>("select id from credit_grants where source_tx_id = ?");
    const debtOf = db.sqlite.prepare<[number], { id: number }>("select id from credit_grants where user_id = ? and kind = 'debt'");
    const drawsOf = db.sqlite.prepare<[number], Draw>("select grant_id as grantId, amount from grant_draws where tx_id = ? order by rowid");
    /** A new positive row opened a grant: the model gets the same one. */
    const opened = (tx: Tx | undefined, expiresAt: number | null) => {
      if (tx) model.grants.push({ id: grantIdOf.get(tx.id)!.id, userId: tx.userId, remaining: tx.amount, expiresAt, closed: false, debt: false, sourceTxId: tx.id });
    };
    /** A new spending row: it drew exactly what the model draws, in the same order. */
    const drew = (tx: Tx | undefined, userId: number, amount: number) => {
      if (!tx) return;
      const covered = model.spendingOrder(userId).reduce((a, g) => a + g.remaining, 0) >= amount;
      if (!covered && !model.grants.some((g) => g.userId === userId && g.debt)) {
        model.grants.push({ id: debtOf.get(userId)!.id, userId, remaining: 0, expiresAt: null, closed: false, debt: true });
      }
      expect(drawsOf.all(tx.id)).toEqual(model.draw(tx.id, userId, amount));
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
          opened(tx, expiresAt);
          return;
        }
        case "hold": {
          const userId = u(op.user);
          const now = model.now;
          const tx = await keyed(userId, "usage", -op.cost, true, async (key) =>
            await hold(db, { userId, cost: op.cost, key, description: "hold", ttlSeconds: op.ttlSeconds, now }),
          );
          drew(tx, userId, op.cost);
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
          drew(tx, userId, op.cost);
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
          drew(tx, userId, op.amount);
          return;
        }
        case "adjust": {
          const userId = u(op.user);
          const now = model.now;
          const tx = await keyed(userId, op.type, op.amount, op.amount < 0, async (key) =>
            await adjust(db, { userId, amount: op.amount, adminId, reason: "property test", key, type: op.type, now }),
          );
          if (op.amount > 0) opened(tx, null);
          else drew(tx, userId, -op.amount);
          return;
        }
        case "post":
        case "void": {
          const before = snapshot(db);
          if (holdIds.length === 0) {
            await expectCode(() => (op.kind === "post" ? postHold(db, 9_999_999) : voidHold(db, 9_999_999, "x")), "hold_not_found");
            expect(snapshot(db)).toBe(before);
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
            expect(snapshot(db)).toBe(before);
          } else {
            await expectCode(call, h.status === "voided" ? "hold_voided" : "hold_posted");
            expect(snapshot(db)).toBe(before);
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
          const before = snapshot(db);
          const wasClosed = g.closed;
          if (!wasClosed && g.remaining > 0) model.last.set(g.userId, { expired: true });
          if (!wasClosed) model.close(g);
          expect(await closeGrant(db, { sourceTxId: g.sourceTxId!, now: model.now })).toEqual({ expired: g.expiredRest });
          if (wasClosed) expect(snapshot(db)).toBe(before);
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
          const before = snapshot(db);
          const result = await w.call();
          if ("ok" in result && !result.ok) throw new Error(`a replay was refused: ${JSON.stringify(result)}`);
          const { transaction, replayed } = result;
          expect(replayed).toBe(true);
          expect(transaction.id).toBe(w.id);
          expect(snapshot(db)).toBe(before);
          return;
        }
        case "conflict": {
          if (writes.length === 0) return;
          const w = writes[op.pick % writes.length];
          const before = snapshot(db);
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
          expect(snapshot(db)).toBe(before);
          return;
        }
      }
    };

    const checkInvariants = (op: Op, balancesBefore: Map<number, number>) => {
      for (const userId of userIds) {
        const balance = model.balance.get(userId)!;
        expect(getBalance(db, userId, model.now)).toEqual({ balance: model.spendable(userId), onHold: model.onHold(userId), nextExpiry: model.nextExpiry(userId) });
        // No balance goes negative except through a clawback (spending is guarded), or further
        // below zero as credits expire or are closed early (a debt is not paid by credits that
        // expired unspent).
        const before = balancesBefore.get(userId)!;
        if (balance < 0 && !["clawback", "expire", "close", "void", "sweep"].includes(op.kind)) expect(balance).toBeGreaterThanOrEqual(before);
        // What last changed the balance recorded the balance it left.
        const last = model.last.get(userId);
        const newest = db.sqlite
          .prepare("select id, type, balance_after as balanceAfter, meta from transactions where user_id = ? order by id desc limit 1")
          .get(userId) as Pick<Tx, "id" | "type" | "balanceAfter" | "meta"> | undefined;
        if (!last) expect(newest).toBeUndefined();
        else if ("row" in last) expect(newest).toMatchObject({ id: last.row, balanceAfter: balance });
        else if ("expired" in last) expect(newest).toMatchObject({ type: "expire", balanceAfter: balance });
        else {
          const voided = db.sqlite.prepare("select meta from transactions where id = ?").get(last.voidOf) as Pick<Tx, "meta">;
          expect(voidRecordOf(voided)?.voidBalanceAfter).toBe(balance);
        }
      }
      // credits == SUM(counting rows), keys unique, every balance_after replays, hold shapes.
      const counted = db.sqlite
        .prepare(
          `select u.id, u.credits, coalesce((select sum(amount) from transactions t
             where t.user_id = u.id and t.status in ('pending', 'posted')), 0) as total from users u`,
        )
        .all() as Array<{ id: number; credits: number; total: number }>;
      for (const c of counted) expect(c.credits).toBe(c.total);
      expect(verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER, now: model.now }).violations).toEqual([]);
      // Every hold's status is what the model says.
      const statuses = db.sqlite.prepare("select id, status from transactions where type = 'usage'").all() as Array<{ id: number; status: string }>;
      expect(statuses.length).toBe(model.holds.size);
      for (const s of statuses) expect(s.status).toBe(model.holds.get(s.id)?.status);
      // Every grant holds what the model says, and is closed when the model closed it.
      const grants = db.sqlite.prepare("select id, remaining, closed_at is not null as closed from credit_grants order by id").all();
      expect(grants).toEqual(model.grants.map((g) => ({ id: g.id, remaining: g.remaining, closed: g.closed ? 1 : 0 })).sort((a, b) => a.id - b.id));
    };

    for (const op of ops) {
      const balancesBefore = new Map(model.balance);
      await step(op);
      checkInvariants(op, balancesBefore);
    }
  } finally {
    closeDatabase(db);
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}-wal`, { force: true });
    fs.rmSync(`${file}-shm`, { force: true });
  }
}

it("random operation sequences keep the ledger equal to the model and every invariant true", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
      await runSequence(ops);
    }),
    { numRuns: Number(process.env.LEDGER_PROPERTY_RUNS ?? 120) },
  );
}, 600_000); // LEDGER_PROPERTY_RUNS=2000 for a longer hunt

it("a long sequence with many holds and sweeps", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 200, maxLength: 300 }), async (ops) => {
      await runSequence(ops);
    }),
    { numRuns: 5 },
  );
});
