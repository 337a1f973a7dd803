// Auto-recharge (settings, claim, send, outcomes, reconciler) on SQLite and on a real PostgreSQL
// (decision 036), with a stand-in for Stripe. Races: 20 triggers for one user make one claim and
// one PaymentIntent; 20 replays of the success grant once and mail once; 20 refusals fail once.
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import type { AutoRechargeAttempt } from "../../../db/schema";
import { claimRecharge, failAttempt, grantRecharge, maybeRecharge, rechargeAttemptOf, reconcileRecharges, startRechargeReconciler, type RechargeDeps } from "./auto-recharge.server";
import { forgetAutoRechargeOf, getAutoRecharge, saveAutoRecharge } from "./auto-recharge-settings.server";
import { isUniqueViolation } from "../sql-target.server";
import { hold, readBalance } from "./ledger.server";

afterAll(closeEngines);

const PACK = { id: "p100", priceId: "price_p100", credits: 100, name: "100 credits", expiresAfterMs: null };
const config = { packs: [PACK], appUrl: "https://credits.example" };
const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Stripe as far as auto-recharge uses it: prices.retrieve, paymentIntents.create/retrieve, with
 * Idempotency-Key replays answered from memory like Stripe's. */
function fakeStripe(behaviour: { status?: Stripe.PaymentIntent.Status; delayMs?: number } = {}) {
  const created: Array<{ params: Stripe.PaymentIntentCreateParams; key: string | undefined }> = [];
  const byKey = new Map<string, Stripe.PaymentIntent>();
  const byId = new Map<string, Stripe.PaymentIntent>();
  let n = 0;
  const stripe = {
    prices: { retrieve: async () => ({ unit_amount: 999, currency: "eur", recurring: null }) },
    paymentIntents: {
      async create(params: Stripe.PaymentIntentCreateParams, options?: { idempotencyKey?: string }) {
        if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
        const key = options?.idempotencyKey;
        if (key && byKey.has(key)) return byKey.get(key)!;
        created.push({ params, key });
        const intent = {
          id: `pi_fake_${++n}_${Math.random().toString(36).slice(2, 8)}`,
          status: behaviour.status ?? "processing",
          amount: params.amount,
          amount_received: behaviour.status === "succeeded" ? params.amount : 0,
          currency: params.currency,
          metadata: params.metadata,
          last_payment_error: behaviour.status === "requires_payment_method" ? { code: "card_declined" } : null,
        } as unknown as Stripe.PaymentIntent;
        if (key) byKey.set(key, intent);
        byId.set(intent.id, intent);
        return intent;
      },
      async retrieve(id: string) {
        const intent = byId.get(id);
        if (!intent) throw new Error(`no such PaymentIntent ${id}`);
        return intent;
      },
    },
  };
  const settle = (id: string, status: Stripe.PaymentIntent.Status) => {
    const intent = byId.get(id)!;
    Object.assign(intent, { status, amount_received: status === "succeeded" ? intent.amount : 0, last_payment_error: status === "requires_payment_method" ? { code: "card_declined" } : null });
    return intent;
  };
  return { stripe: stripe as unknown as Stripe, created, settle };
}

describe.each(ENGINES)("auto-recharge on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  const depsWith = (stripe: Stripe): RechargeDeps => ({ db, stripe, config, log });

  /** A user with `credits`, a Stripe customer, a saved card, and auto-recharge on below 50. */
  async function rechargeUser(credits = 5, settings: { maxRechargesPerMonth?: number | null; maxAmountPerMonth?: number | null } = {}): Promise<number> {
    const userId = await insertUserOn(db, `ar${++n}-${engine.name.toLowerCase()}@example.com`, "user", credits);
    await db.sql.run("UPDATE users SET stripe_customer_id = ? WHERE id = ?", [`cus_${engine.name}_${n}`, userId]);
    await db.sql.run("INSERT INTO saved_cards (user_id, payment_method_id, brand, last4, created_at) VALUES (?, ?, 'visa', '4242', ?)", [userId, `pm_${n}`, Date.now()]);
    const saved = await saveAutoRecharge(db, config, userId, {
      enabled: true,
      thresholdCredits: 50,
      pack: PACK.id,
      maxRechargesPerMonth: settings.maxRechargesPerMonth ?? null,
      maxAmountPerMonth: settings.maxAmountPerMonth ?? null,
    });
    expect(saved.ok).toBe(true);
    return userId;
  }
  const attemptsOf = (userId: number) =>
    db.sql.all<{ id: number; status: string; paymentIntentId: string | null; txId: number | null }>(
      `SELECT id, status, payment_intent_id AS "paymentIntentId", tx_id AS "txId" FROM auto_recharge_attempts WHERE user_id = ? ORDER BY id`,
      [userId],
    );
  const mailsTo = async (userId: number) => {
    const u = await db.sql.get<{ email: string }>("SELECT email FROM users WHERE id = ?", [userId]);
    return db.sql.all<{ kind: string }>("SELECT kind FROM mail_queue WHERE to_address = ? ORDER BY id", [u!.email]);
  };
  const attemptRow = async (id: number) => (await rechargeAttemptOf(db, { metadata: { app: "credits", autoRechargeAttempt: String(id), userId: String((await db.sql.get<{ u: number }>("SELECT user_id AS u FROM auto_recharge_attempts WHERE id = ?", [id]))!.u) } }))!;

  it("settings: saved and shown; switching on needs a card; an unknown pack is refused", async () => {
    const userId = await rechargeUser();
    expect(await getAutoRecharge(db, userId)).toEqual({
      enabled: true,
      thresholdCredits: 50,
      pack: "p100",
      maxRechargesPerMonth: null,
      maxAmountPerMonth: null,
      switchedOffReason: null,
      consecutiveFailures: 0,
      thisMonth: { recharges: 0, amount: 0 },
      card: { brand: "visa", last4: "4242" },
    });
    const input = { enabled: true, thresholdCredits: 20, pack: "p100", maxRechargesPerMonth: 2, maxAmountPerMonth: 5000 };
    expect(await saveAutoRecharge(db, config, userId, { ...input, pack: "nope" })).toMatchObject({ ok: false, reason: "unknown_pack" });
    const saved = await saveAutoRecharge(db, config, userId, input);
    expect(saved.ok && saved.view).toMatchObject({ enabled: true, thresholdCredits: 20, maxRechargesPerMonth: 2, maxAmountPerMonth: 5000 });
    const noCard = await insertUserOn(db, `nocard${++n}-${engine.name.toLowerCase()}@example.com`);
    expect(await saveAutoRecharge(db, config, noCard, input)).toMatchObject({ ok: false, reason: "no_saved_card" });
    expect((await saveAutoRecharge(db, config, noCard, { ...input, enabled: false })).ok).toBe(true);
    expect((await getAutoRecharge(db, noCard)).enabled).toBe(false);
    expect(await getAutoRecharge(db, 987654)).toMatchObject({ enabled: false, pack: null, card: null });
  });

  it("20 parallel triggers for one user: one claim, one PaymentIntent, the others in flight", async () => {
    const userId = await rechargeUser();
    const { stripe, created } = fakeStripe({ delayMs: 5 });
    const deps = depsWith(stripe);
    const results = await Promise.all(Array.from({ length: 20 }, () => maybeRecharge(deps, userId)));
    expect(results.filter((r) => r.claimed)).toEqual([{ claimed: true, sent: "sent" }]);
    expect(results.filter((r) => !r.claimed)).toEqual(Array.from({ length: 19 }, () => ({ claimed: false, reason: "in_flight" })));
    expect(created).toHaveLength(1);
    expect(created[0]!.params).toMatchObject({ amount: 999, currency: "eur", off_session: true, confirm: true, payment_method: expect.stringMatching(/^pm_/) });
    const attempts = await attemptsOf(userId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ status: "sent", paymentIntentId: expect.stringMatching(/^pi_fake_/) });
    expect(created[0]!.key).toBe(`auto-recharge-${userId}-${attempts[0]!.id}`);
    // Nothing granted yet: credits arrive only with the success.
    expect((await readBalance(db, userId)).balance).toBe(5);
  });

  it("20 claims racing straight into the guarded insert: exactly one attempt row", async () => {
    const userId = await rechargeUser();
    const price = { packId: PACK.id, credits: PACK.credits, amount: 999, currency: "eur" };
    const claims = await Promise.all(Array.from({ length: 20 }, () => claimRecharge(db, userId, price, Date.now())));
    expect(claims.filter((c) => c.claimed)).toHaveLength(1);
    expect(claims.filter((c) => !c.claimed && c.reason === "in_flight")).toHaveLength(19);
    expect(await attemptsOf(userId)).toHaveLength(1);
  });

  it("the success, replayed 20 times at once, grants once and mails once; the next crossing may claim again", async () => {
    const userId = await rechargeUser();
    const { stripe, settle } = fakeStripe();
    const deps = depsWith(stripe);
    expect(await maybeRecharge(deps, userId)).toEqual({ claimed: true, sent: "sent" });
    const [attempt] = await attemptsOf(userId);
    const intent = settle(attempt!.paymentIntentId!, "succeeded");
    const row = await attemptRow(attempt!.id);
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => db.sql.write((tx) => grantRecharge(deps, row, intent, tx))));
    const outcomes = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    expect(outcomes.filter((o) => o.status === "granted")).toHaveLength(1);
    // On PostgreSQL a replay racing the first grant's commit meets the ledger key's unique index
    // (the ledger refuses rather than waits); its body rolls back and the webhook's retry replays.
    for (const r of settled) if (r.status === "rejected") expect(isUniqueViolation(r.reason)).toBe(true);
    if (engine.name === "SQLite") expect(outcomes.filter((o) => o.status === "already_granted")).toHaveLength(19);
    expect(await db.sql.write((tx) => grantRecharge(deps, row, intent, tx))).toMatchObject({ status: "already_granted" });
    expect((await readBalance(db, userId)).balance).toBe(105);
    expect(await attemptsOf(userId)).toEqual([expect.objectContaining({ status: "succeeded", txId: expect.any(Number) })]);
    expect(await mailsTo(userId)).toEqual([{ kind: "auto_recharge_succeeded" }]);
    expect(await maybeRecharge(deps, userId)).toEqual({ claimed: false, reason: "above_threshold" });
    // Spend below the threshold again: a new crossing, a new claim.
    const spent = await hold(db.sql, { userId, cost: 80, key: `spend-${userId}`, description: "x", ttlSeconds: 60 });
    expect(spent.ok).toBe(true);
    expect(await maybeRecharge(deps, userId)).toEqual({ claimed: true, sent: "sent" });
    expect(await attemptsOf(userId)).toHaveLength(2);
  });

  it("a refusal, 20 times at once, fails the attempt once; the third failure in a row switches it off", async () => {
    const userId = await rechargeUser();
    const { stripe } = fakeStripe();
    const deps = depsWith(stripe);
    for (let round = 1; round <= 3; round++) {
      expect(await maybeRecharge(deps, userId)).toEqual({ claimed: true, sent: "sent" });
      const attempt = (await attemptsOf(userId)).at(-1)!;
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => failAttempt(deps, attempt.id, attempt.paymentIntentId, "card_declined")));
      expect(outcomes.filter((o) => o.status === "failed")).toEqual([expect.objectContaining({ switchedOff: round === 3 })]);
      expect(outcomes.filter((o) => o.status === "already_closed")).toHaveLength(19);
    }
    expect(await getAutoRecharge(db, userId)).toMatchObject({ enabled: false, switchedOffReason: "three_failures", consecutiveFailures: 3 });
    expect(await mailsTo(userId)).toEqual([{ kind: "auto_recharge_failed" }, { kind: "auto_recharge_failed" }, { kind: "auto_recharge_off" }]);
    expect(await maybeRecharge(deps, userId)).toEqual({ claimed: false, reason: "off" });
    // Switching on again starts the count over.
    const again = await saveAutoRecharge(db, config, userId, { enabled: true, thresholdCredits: 50, pack: PACK.id, maxRechargesPerMonth: null, maxAmountPerMonth: null });
    expect(again.ok && again.view).toMatchObject({ enabled: true, switchedOffReason: null, consecutiveFailures: 0 });
  });

  it("a refusal inside the caller's body rolls back with it; a declined answer fails at once", async () => {
    const userId = await rechargeUser();
    const declined = fakeStripe({ status: "requires_payment_method" });
    expect(await maybeRecharge(depsWith(declined.stripe), userId)).toEqual({ claimed: true, sent: "failed" });
    expect(await attemptsOf(userId)).toEqual([expect.objectContaining({ status: "failed" })]);

    const other = await rechargeUser();
    const { stripe } = fakeStripe();
    const deps = depsWith(stripe);
    await maybeRecharge(deps, other);
    const attempt = (await attemptsOf(other))[0]!;
    await expect(
      db.sql.write(async (tx) => {
        expect(await failAttempt(deps, attempt.id, null, "card_declined", tx)).toMatchObject({ status: "failed" });
        throw new Error("the webhook failed");
      }),
    ).rejects.toThrow(/webhook failed/);
    expect((await attemptsOf(other))[0]!.status).toBe("sent");
    expect(await mailsTo(other)).toEqual([]);
  });

  it("the monthly cap, an account on hold, no card, a balance above the threshold", async () => {
    const capped = await rechargeUser(5, { maxRechargesPerMonth: 1 });
    const { stripe } = fakeStripe();
    const deps = depsWith(stripe);
    expect(await maybeRecharge(deps, capped)).toEqual({ claimed: true, sent: "sent" });
    const a = (await attemptsOf(capped))[0]!;
    await failAttempt(deps, a.id, a.paymentIntentId, "card_declined"); // a failed one does not count
    expect(await maybeRecharge(deps, capped)).toEqual({ claimed: true, sent: "sent" });
    const b = (await attemptsOf(capped))[1]!;
    await db.sql.run("UPDATE auto_recharge_attempts SET status = 'succeeded' WHERE id = ?", [b.id]);
    expect(await maybeRecharge(deps, capped)).toEqual({ claimed: false, reason: "cap_reached" });

    const amountCapped = await rechargeUser(5, { maxAmountPerMonth: 998 });
    expect(await maybeRecharge(deps, amountCapped)).toEqual({ claimed: false, reason: "cap_reached" });

    const held = await rechargeUser();
    await db.sql.run("UPDATE users SET flagged_at = ? WHERE id = ?", [Date.now(), held]);
    expect(await maybeRecharge(deps, held)).toEqual({ claimed: false, reason: "account_on_hold" });

    const gone = await rechargeUser();
    await db.sql.write((tx) => forgetAutoRechargeOf(tx, gone));
    expect(await maybeRecharge(deps, gone)).toEqual({ claimed: false, reason: "off" });
    expect(await getAutoRecharge(db, gone)).toMatchObject({ enabled: false, switchedOffReason: "account_deleted", card: null });

    const rich = await rechargeUser(500);
    expect(await maybeRecharge(deps, rich)).toEqual({ claimed: false, reason: "above_threshold" });
  });

  it("rechargeAttemptOf refuses metadata that is not the app's or not the attempt's user", async () => {
    const userId = await rechargeUser();
    const { stripe } = fakeStripe();
    await maybeRecharge(depsWith(stripe), userId);
    const a = (await attemptsOf(userId))[0]!;
    const hostile: Array<Record<string, string>> = [
      {},
      { app: "other", autoRechargeAttempt: String(a.id), userId: String(userId) },
      { app: "credits", autoRechargeAttempt: String(a.id), userId: String(userId + 1) },
      { app: "credits", autoRechargeAttempt: "0", userId: String(userId) },
      { app: "credits", autoRechargeAttempt: "-1", userId: String(userId) },
      { app: "credits", autoRechargeAttempt: "1e3", userId: String(userId) },
      { app: "credits", autoRechargeAttempt: `${a.id} OR 1=1`, userId: String(userId) },
      { app: "credits", autoRechargeAttempt: "9999999999999999", userId: String(userId) },
      { app: "credits", autoRechargeAttempt: "99999999", userId: String(userId) },
    ];
    for (const metadata of hostile) expect(await rechargeAttemptOf(db, { metadata })).toBeNull();
    expect((await rechargeAttemptOf(db, { metadata: { app: "credits", autoRechargeAttempt: String(a.id), userId: String(userId) } }))?.id).toBe(a.id);
  });

  it("the reconciler re-sends a stale claim with the same key and settles a stale sent attempt", async () => {
    const userId = await rechargeUser();
    const { stripe, created, settle } = fakeStripe();
    const deps = depsWith(stripe);
    const price = { packId: PACK.id, credits: PACK.credits, amount: 999, currency: "eur" };
    const claim = await claimRecharge(db, userId, price, Date.now() - 120_000);
    expect(claim.claimed).toBe(true);
    const attempt = (claim as { attempt: AutoRechargeAttempt }).attempt;
    // 20 overlapping reconciler ticks: the lock lets one pass run at a time.
    const reconcilers = Array.from({ length: 20 }, () => startRechargeReconciler(deps, { intervalMs: 3_600_000, claimedAfterMs: 60_000, sentAfterMs: 60_000 }));
    await expect.poll(async () => (await attemptsOf(userId))[0]!.status).toBe("sent");
    for (const r of reconcilers) r.stop();
    expect(created.filter((c) => c.key === `auto-recharge-${userId}-${attempt.id}`)).toHaveLength(1);
    const sentRow = (await attemptsOf(userId))[0]!;
    settle(sentRow.paymentIntentId!, "succeeded");
    await db.sql.run("UPDATE auto_recharge_attempts SET updated_at = ? WHERE id = ?", [Date.now() - 120_000, attempt.id]);
    const passes = await Promise.all(Array.from({ length: 5 }, () => reconcileRecharges(deps, { claimedAfterMs: 60_000, sentAfterMs: 60_000 })));
    expect(passes.reduce((s, p) => s + p.settled, 0)).toBeGreaterThanOrEqual(1);
    expect((await readBalance(db, userId)).balance).toBe(105);
    expect(await attemptsOf(userId)).toEqual([expect.objectContaining({ status: "succeeded" })]);
    expect(await mailsTo(userId)).toEqual([{ kind: "auto_recharge_succeeded" }]);
  });
});
