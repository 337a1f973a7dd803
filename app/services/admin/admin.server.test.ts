import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { clawback, getBalance, grant, hold } from "../money/ledger.server";
import { verifyLedger } from "../money/ledger-verify.server";
import { adjustCredits } from "./adjustments.server";
import { listAudit } from "./audit-log.server";
import { getOverview } from "./overview.server";
import { listRefundablePurchases, requestRefund } from "./refunds.server";
import { decodeCursor, encodeCursor, getUserSummary, listUsers } from "./user-list.server";

let db: ReturnType<typeof createTestDb>;
let adminId: number;
const ids: number[] = [];

function auditCount(): number {
  return (db.sqlite.prepare("select count(*) as n from audit_log").get() as { n: number }).n;
}
function ledgerOk() {
  expect(verifyLedger(db, { sweepGraceMs: 60_000 }).violations).toEqual([]);
}

beforeAll(async () => {
  db = createTestDb();
  adminId = insertUser(db, "boss@example.com", "admin");
  // 120 users with distinct balances and sign-up times.
  const setCreated = db.sqlite.prepare("update users set created_at = ? where id = ?");
  for (let i = 0; i < 120; i++) {
    const id = insertUser(db, `${i % 2 ? "alice" : "bob"}${String(i).padStart(3, "0")}@example.com`);
    setCreated.run(1_700_000_000_000 + i * 1000, id);
    await grant(db, { userId: id, amount: 10 + i, type: "bonus", key: `signup:${id}`, description: "Sign-up bonus" });
    ids.push(id);
  }
});
afterAll(() => db.remove());

describe("user list", () => {
  async function walk(query: Parameters<typeof listUsers>[1]) {
    const seen: string[] = [];
    let page = await listUsers(db, { ...query, limit: 25 });
    expect(page.prev).toBeNull();
    const pages = [page];
    for (;;) {
      seen.push(...page.users.map((u) => u.email));
      if (!page.next) break;
      page = await listUsers(db, { ...query, after: page.next, limit: 25 });
      pages.push(page);
    }
    return { seen, pages };
  }

  it("pages by email, credits and sign-up date in both directions without gaps or repeats", async () => {
    const all = (db.sqlite.prepare("select email, credits, created_at as c, id from users").all() as Array<{ email: string; credits: number; c: number; id: number }>);
    const byEmail = [...all].sort((a, b) => (a.email < b.email ? -1 : 1)).map((u) => u.email);
    expect((await walk({ sort: "email", dir: "asc" })).seen).toEqual(byEmail);
    expect((await walk({ sort: "email", dir: "desc" })).seen).toEqual([...byEmail].reverse());
    const byCredits = [...all].sort((a, b) => b.credits - a.credits || b.id - a.id).map((u) => u.email);
    expect((await walk({ sort: "credits" })).seen).toEqual(byCredits);
    const byCreated = [...all].sort((a, b) => b.c - a.c || b.id - a.id).map((u) => u.email);
    const { seen, pages } = await walk({ sort: "created" });
    expect(seen).toEqual(byCreated);

    // Previous from page 3 is page 2; previous from page 2 is the full first page.
    const back = await listUsers(db, { sort: "created", before: pages[2].prev!, limit: 25 });
    expect(back.users.map((u) => u.id)).toEqual(pages[1].users.map((u) => u.id));
    const top = await listUsers(db, { sort: "created", before: pages[1].prev!, limit: 25 });
    expect(top.users.map((u) => u.id)).toEqual(pages[0].users.map((u) => u.id));
    expect(top.prev).toBeNull();
  });

  it("searches by email prefix, case-insensitively, with any sort", async () => {
    const page = await listUsers(db, { q: "ALICE00", sort: "email" });
    expect(page.users.map((u) => u.email)).toEqual(["alice001@example.com", "alice003@example.com", "alice005@example.com", "alice007@example.com", "alice009@example.com"]);
    const byCredits = await listUsers(db, { q: "alice", sort: "credits", limit: 3 });
    expect(byCredits.users.map((u) => u.email)).toEqual(["alice119@example.com", "alice117@example.com", "alice115@example.com"]);
    expect((await listUsers(db, { q: "nobody" })).users).toEqual([]);
    expect((await listUsers(db, { q: "%" })).users).toEqual([]);
  });

  it("ignores a forged or malformed cursor", async () => {
    expect(decodeCursor("not-base64-json", "email")).toBeNull();
    expect(decodeCursor(encodeCursor(5, 1), "email")).toBeNull();
    expect(decodeCursor(encodeCursor("x", 1.5), "email")).toBeNull();
    expect(decodeCursor(encodeCursor("x", 1), "email")).toEqual(["x", 1]);
    expect((await listUsers(db, { sort: "credits", after: "garbage" })).users).toHaveLength(50);
  });

  it("shows on hold, total purchased and last activity for the page's users", async () => {
    const id = ids[0];
    await grant(db, { userId: id, amount: 500, type: "purchase", key: "checkout:list", description: "Bought", stripePaymentId: "pi_list" });
    const h = await hold(db, { userId: id, cost: 50, key: "hold:list", description: "Video", ttlSeconds: 600 });
    expect(h.ok).toBe(true);
    const row = (await listUsers(db, { q: "bob000@" })).users[0];
    expect(row).toMatchObject({ id, onHold: 50, purchased: 500, credits: 10 + 500 - 50 });
    expect(row.lastActivity).toBeGreaterThan(Date.now() - 60_000);
    expect(await getUserSummary(db, id)).toMatchObject({ onHold: 50, purchased: 500 });
    expect(await getUserSummary(db, 999_999)).toBeNull();
  });
});

describe("manual changes", () => {
  it("adds credits with an audit row in the same transaction; the same token twice adds once", async () => {
    const userId = ids[5];
    const before = getBalance(db, userId).balance;
    const audits = auditCount();
    const first = await adjustCredits(db, { adminId, userId, amount: 250, type: "bonus", reason: "Goodwill", token: "tok-aaaaaaaaaaaaaaaa" });
    expect(first).toMatchObject({ ok: true, replayed: false });
    const again = await adjustCredits(db, { adminId, userId, amount: 250, type: "bonus", reason: "Goodwill", token: "tok-aaaaaaaaaaaaaaaa" });
    expect(again).toMatchObject({ ok: true, replayed: true });
    if (!first.ok || !again.ok) throw new Error("unreachable");
    expect(again.transaction.id).toBe(first.transaction.id);
    expect(getBalance(db, userId).balance).toBe(before + 250);
    expect(auditCount()).toBe(audits + 1);
    const [entry] = (await listAudit(db, { targetUserId: userId })).entries;
    expect(entry).toMatchObject({
      action: AUDIT_ACTIONS.adjust,
      actorEmail: "boss@example.com",
      reason: "Goodwill",
      summary: `+250 credits (bonus), balance after ${before + 250}, transaction #${first.transaction.id}`,
    });
    expect(first.transaction).toMatchObject({ adminId, reason: "Goodwill", type: "bonus" });
    ledgerOk();
  });

  it("removes credits but never below zero, and replays a removal", async () => {
    const userId = ids[6];
    const balance = getBalance(db, userId).balance;
    const audits = auditCount();
    const tooMuch = await adjustCredits(db, { adminId, userId, amount: -(balance + 1), type: "adjustment", reason: "Oops", token: "tok-bbbbbbbbbbbbbbbb" });
    expect(tooMuch).toEqual({ ok: false, reason: "insufficient_credits", balance, needed: balance + 1 });
    expect(auditCount()).toBe(audits);
    const ok = await adjustCredits(db, { adminId, userId, amount: -balance, type: "adjustment", reason: "Abuse", token: "tok-cccccccccccccccc" });
    expect(ok).toMatchObject({ ok: true, replayed: false });
    expect(await adjustCredits(db, { adminId, userId, amount: -balance, type: "adjustment", reason: "Abuse", token: "tok-cccccccccccccccc" })).toMatchObject({ ok: true, replayed: true });
    expect(getBalance(db, userId).balance).toBe(0);
    expect(auditCount()).toBe(audits + 1);
    ledgerOk();
  });

  it("refuses a token reused for another change, and an unknown user, changing nothing", async () => {
    const audits = auditCount();
    const rows = (db.sqlite.prepare("select count(*) as n from transactions").get() as { n: number }).n;
    expect(await adjustCredits(db, { adminId, userId: ids[7], amount: 250, type: "bonus", reason: "x y z", token: "tok-aaaaaaaaaaaaaaaa" })).toEqual({ ok: false, reason: "token_reused" });
    expect(await adjustCredits(db, { adminId, userId: 999_999, amount: 5, type: "bonus", reason: "x y z", token: "tok-dddddddddddddddd" })).toEqual({ ok: false, reason: "user_not_found" });
    expect(auditCount()).toBe(audits);
    expect((db.sqlite.prepare("select count(*) as n from transactions").get() as { n: number }).n).toBe(rows);
  });

  it("rolls the ledger write back when the audit row cannot be written", async () => {
    const userId = ids[8];
    const before = getBalance(db, userId).balance;
    // The audit insert fails after the ledger wrote: both must be gone.
    db.sqlite.exec("CREATE TEMP TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit down'); END");
    try {
      await expect(adjustCredits(db, { adminId, userId, amount: 5, type: "bonus", reason: "lost", token: "tok-eeeeeeeeeeeeeeee" })).rejects.toThrow(/audit down/);
    } finally {
      db.sqlite.exec("DROP TRIGGER audit_down");
    }
    expect(getBalance(db, userId).balance).toBe(before);
    expect(db.sqlite.prepare("select count(*) as n from transactions where idempotency_key = ?").get("admin-adjust:tok-eeeeeeeeeeeeeeee")).toEqual({ n: 0 });
    // And the same token works afterwards, once.
    expect(await adjustCredits(db, { adminId, userId, amount: 5, type: "bonus", reason: "again", token: "tok-eeeeeeeeeeeeeeee" })).toMatchObject({ ok: true, replayed: false });
    expect(getBalance(db, userId).balance).toBe(before + 5);
    ledgerOk();
  });
});

describe("refunds", () => {
  function fakeStripe(fail?: string) {
    const calls: Array<{ params: Stripe.RefundCreateParams; key: string | undefined }> = [];
    const refunds = new Map<string, Stripe.Refund>();
    const stripe = {
      refunds: {
        create: async (params: Stripe.RefundCreateParams, options?: { idempotencyKey?: string }) => {
          calls.push({ params, key: options?.idempotencyKey });
          if (fail) throw new Stripe.errors.StripeInvalidRequestError({ message: fail, type: "invalid_request_error" });
          const key = options?.idempotencyKey ?? String(calls.length);
          if (!refunds.has(key)) refunds.set(key, { id: `re_${refunds.size + 1}`, amount: 500, currency: "usd", status: "succeeded" } as Stripe.Refund);
          return refunds.get(key)!;
        },
      },
    } as unknown as Stripe;
    return { stripe, calls };
  }

  it("asks Stripe once per form token, records it once, and takes no credits itself", async () => {
    const userId = ids[9];
    const purchase = (await grant(db, {
      userId,
      amount: 500,
      type: "purchase",
      key: "checkout:refund-me",
      description: "Bought 500 credits",
      stripePaymentId: "pi_refund",
      meta: { amountTotal: 500, currency: "usd" },
    })).transaction;
    expect((await listRefundablePurchases(db, userId)).map((p) => p.id)).toEqual([purchase.id]);
    const before = getBalance(db, userId).balance;
    const audits = auditCount();
    const { stripe, calls } = fakeStripe();
    const input = { adminId, userId, transactionId: purchase.id, reason: "Customer asked", token: "tok-ffffffffffffffff" };
    const first = await requestRefund(db, stripe, input);
    const second = await requestRefund(db, stripe, input);
    expect(first).toMatchObject({ ok: true, replayed: false, refundId: "re_1", amount: 500 });
    expect(second).toMatchObject({ ok: true, replayed: true, refundId: "re_1" });
    // The second is answered from the audit row; Stripe was asked once, with the token in its key.
    expect(calls).toHaveLength(1);
    expect(calls[0].params).toMatchObject({ payment_intent: "pi_refund" });
    expect(calls[0].key).toContain(input.token);
    expect(auditCount()).toBe(audits + 1);
    expect((await listAudit(db, { targetUserId: userId })).entries[0]).toMatchObject({
      action: AUDIT_ACTIONS.refund,
      reason: "Customer asked",
      summary: `Refund re_1 of $5.00 requested for purchase #${purchase.id}`,
    });
    expect(getBalance(db, userId).balance).toBe(before);

    // Once the webhook took the credits back it is no longer refundable; the same form again is
    // still the first result, without asking Stripe.
    await clawback(db, { userId, amount: 500, key: "refund:ch_x:500", description: "Refunded", stripePaymentId: "pi_refund" });
    expect(await listRefundablePurchases(db, userId)).toEqual([]);
    expect(await requestRefund(db, stripe, input)).toMatchObject({ ok: true, replayed: true, refundId: "re_1", amount: 500 });
    expect(calls).toHaveLength(1);
    expect(await requestRefund(db, stripe, { ...input, token: "tok-gggggggggggggggg" })).toMatchObject({ ok: false, reason: "not_refundable" });
  });

  it("refuses what is not this user's Stripe purchase, and reports Stripe's refusal", async () => {
    const userId = ids[10];
    const purchase = (await grant(db, { userId, amount: 500, type: "purchase", key: "checkout:other", description: "Bought", stripePaymentId: "pi_other" })).transaction;
    const { stripe } = fakeStripe();
    const base = { adminId, reason: "r r r", token: "tok-hhhhhhhhhhhhhhhh" };
    expect(await requestRefund(db, stripe, { ...base, userId: ids[11], transactionId: purchase.id })).toMatchObject({ ok: false, reason: "not_refundable" });
    const bonus = db.sqlite.prepare("select id from transactions where user_id = ? and type = 'bonus'").get(userId) as { id: number };
    expect(await requestRefund(db, stripe, { ...base, userId, transactionId: bonus.id })).toMatchObject({ ok: false, reason: "not_refundable" });
    expect(await requestRefund(db, stripe, { ...base, userId, transactionId: 999_999 })).toMatchObject({ ok: false, reason: "not_refundable" });
    const audits = auditCount();
    const refused = await requestRefund(db, fakeStripe("Charge has already been refunded.").stripe, { ...base, userId, transactionId: purchase.id });
    expect(refused).toMatchObject({ ok: false, reason: "stripe_error", message: expect.stringContaining("already been refunded") });
    expect(auditCount()).toBe(audits);
  });
  it("a partial refund asks Stripe for that amount, records it, and never more than is left", async () => {
    const userId = ids[12];
    const purchase = (await grant(db, {
      userId,
      amount: 500,
      type: "purchase",
      key: "checkout:partial",
      description: "Bought 500 credits",
      stripePaymentId: "pi_partial",
      meta: { amountTotal: 500, currency: "usd" },
    })).transaction;
    const { stripe, calls } = fakeStripe();
    const base = { adminId, userId, transactionId: purchase.id, reason: "Half back" };
    const first = await requestRefund(db, stripe, { ...base, token: "tok-pppppppppppppppp", amountCents: 250 });
    expect(first).toMatchObject({ ok: true, replayed: false });
    expect(calls.at(-1)!.params).toMatchObject({ payment_intent: "pi_partial", amount: 250 });
    const details = JSON.parse(
      (db.sqlite.prepare("select details from audit_log where target_user_id = ? order by id desc").get(userId) as { details: string }).details,
    );
    expect(details).toMatchObject({ transactionId: purchase.id, requestedAmount: 250 });

    // Stripe confirms 2.50 refunded: 2.50 is left, so 2.51 is refused before Stripe is asked.
    await clawback(db, {
      userId,
      amount: 250,
      key: "refund:ch_partial:250",
      description: "Partial refund",
      stripePaymentId: "pi_partial",
      meta: { chargeId: "ch_partial", amountRefunded: 250, amount: 500 },
    });
    expect(await listRefundablePurchases(db, userId)).toMatchObject([{ id: purchase.id, leftToRefund: 250, refundedCredits: 250 }]);
    const asked = calls.length;
    expect(await requestRefund(db, stripe, { ...base, token: "tok-qqqqqqqqqqqqqqqq", amountCents: 251 })).toMatchObject({
      ok: false,
      reason: "amount_too_large",
      message: "At most 2.50 is left to refund on this purchase.",
    });
    expect(calls).toHaveLength(asked);
    // A full refund (no amount) leaves the amount to Stripe: what is left of the payment.
    await requestRefund(db, stripe, { ...base, token: "tok-rrrrrrrrrrrrrrrr" });
    expect(calls.at(-1)!.params.amount).toBeUndefined();
  });
});

describe("audit list and overview", () => {
  it("pages the audit log newest first", async () => {
    const all = (await listAudit(db, { limit: 200 })).entries;
    expect(all.length).toBeGreaterThanOrEqual(3);
    const first = await listAudit(db, { limit: 2 });
    const second = await listAudit(db, { limit: 2, older: first.older! });
    expect([...first.entries, ...second.entries].map((e) => e.id)).toEqual(all.slice(0, 4).map((e) => e.id));
  });

  it("sums the last 30 days per day, and the figures of now", async () => {
    const overview = await getOverview(db);
    expect(overview.days).toHaveLength(30);
    const rows = db.sqlite
      .prepare("select type, status, sum(amount) as total from transactions group by type, status")
      .all() as Array<{ type: string; status: string; total: number }>;
    const sum = (type: string, status = "posted") => rows.find((r) => r.type === type && r.status === status)?.total ?? 0;
    expect(overview.totals.sold).toBe(sum("purchase"));
    expect(overview.totals.given).toBe(sum("bonus"));
    expect(overview.totals.clawedBack).toBe(-sum("refund"));
    expect(overview.totals.adjusted).toBe(sum("adjustment"));
    expect(overview.totals.revenue).toEqual({ usd: 1000 }); // the two priced purchases of the refund tests
    expect(overview.days[29].sold).toBe(overview.totals.sold);
    expect(overview.onHold).toEqual({ credits: 50, holds: 1 });
    expect(overview.users).toBe(121);
    const balances = db.sqlite.prepare("select sum(credits) as s from users").get() as { s: number };
    expect(overview.outstanding).toBe(balances.s);
  });

  it("shows every day as it stands now, an old one too: the totals follow each row (decision 037)", async () => {
    const DAY = 86_400_000;
    // Its own clock: noon (UTC) 100 days ahead, so the window holds only this test's rows.
    const now = (Math.floor(Date.now() / DAY) + 100.5) * DAY;
    const userId = ids[20];
    const backdate = (txId: number, days: number) =>
      db.sqlite.prepare("update transactions set created_at = ? where id = ?").run(now - days * DAY, txId); // test set-up only
    const buy = async (key: string) => (await grant(db, { userId, amount: 100, type: "purchase", key, description: "Bought" })).transaction.id;
    backdate(await buy("overview:old-1"), 10);
    backdate(await buy("overview:recent-1"), 1);
    const first = await getOverview(db, { now });
    expect(first.days[19].sold).toBe(100);
    expect(first.days[28].sold).toBe(100);
    backdate(await buy("overview:old-2"), 10);
    backdate(await buy("overview:recent-2"), 1);
    const next = await getOverview(db, { now: now + 60_000 });
    expect(next.days[19].sold).toBe(200);
    expect(next.days[28].sold).toBe(200);
    expect(next.days.reduce((sum, d) => sum + d.sold, 0)).toBe(400);
  });
});
