/**
 * Auto-recharge (decision 027): when a spend leaves the spendable balance below the user's
 * threshold, buy their pack off-session with their saved card.
 *
 * 1. claim: in ONE BEGIN IMMEDIATE transaction, re-check the settings, the balance and the monthly
 *    cap and insert an attempt row; a unique index allows one claimed/sent attempt per user, so 20
 *    racing spends (or two processes) make one claim;
 * 2. send: create the PaymentIntent with the attempt's Idempotency-Key, so a retry after a crash
 *    (the background job re-sends claimed attempts) gets the same PaymentIntent, never a second;
 * 3. credits arrive ONLY from payment_intent.succeeded (grantRecharge, ledger key per
 *    PaymentIntent); a refusal (the 402 answer or payment_intent.payment_failed, whichever comes
 *    first) closes the attempt as failed once, mails the user, and the third in a row switches
 *    auto-recharge off.
 */
import { and, eq, gte, inArray, lt, ne, sql } from "drizzle-orm";
import Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { autoRechargeAttempts, autoRechargeSettings, savedCards, users, type AutoRechargeAttempt } from "#db/schema";
import { utcMonthStart } from "~/utils/time";
import type { Config } from "../env.server";
import { enqueueMailOnSqlite } from "../mail/mail-queue.server";
import { incrementCounter } from "../metrics.server";
import { rechargeFailedMail, rechargeSucceededMail } from "./auto-recharge-mails.server";
import { getBalance, grant } from "./ledger.server";
import { ledgerKeys, stripeRequestKeys } from "./ledger-keys.server";
import { appPaymentMetadata } from "./ownership.server";
import { listPacksWithPrices } from "./pack-prices.server";
import { findPack } from "./pricing.server";

/** Failures in a row after which the app switches auto-recharge off. */
export const MAX_CONSECUTIVE_FAILURES = 3;
export const SWITCHED_OFF_REASON = "three_failures";

type Log = { info: (o: Record<string, unknown>, m?: string) => void; warn: (o: Record<string, unknown>, m?: string) => void; error: (o: Record<string, unknown>, m?: string) => void };
export type RechargeDeps = { db: AppDb; stripe: Stripe; config: Pick<Config, "packs" | "appUrl">; log: Log; now?: () => number };

export type ClaimOutcome =
  | { claimed: true; attempt: AutoRechargeAttempt }
  | { claimed: false; reason: "off" | "no_card" | "above_threshold" | "in_flight" | "cap_reached" | "account_on_hold" | "unknown_pack" | "no_price" };

/** The metadata marking a PaymentIntent as an auto-recharge: the app's marker, the user and the
 * pack (so refunds and disputes find it like a purchase), and the crossing (the attempt). */
function rechargeMetadata(a: AutoRechargeAttempt): Record<string, string> {
  return { ...appPaymentMetadata(a.userId, a.packId), autoRechargeAttempt: String(a.id), threshold: String(a.thresholdCredits), balanceAtClaim: String(a.balanceAtClaim) };
}

/** The attempt a PaymentIntent's metadata names (the app's marker and a matching user), or null. */
export function rechargeAttemptOf(db: AppDb, intent: Pick<Stripe.PaymentIntent, "metadata">): AutoRechargeAttempt | null {
  const m = intent.metadata ?? {};
  if (m.app !== "credits" || typeof m.autoRechargeAttempt !== "string" || !/^[1-9]\d{0,15}$/.test(m.autoRechargeAttempt)) return null;
  const row = db.orm.select().from(autoRechargeAttempts).where(eq(autoRechargeAttempts.id, Number(m.autoRechargeAttempt))).get();
  return row && String(row.userId) === m.userId ? row : null;
}

/** Attempts that count against the monthly cap this UTC month: every one not failed (a failed
 * one charged nothing; an in-flight one might still charge). */
export function monthlyUse(db: AppDb, userId: number, now: number): { count: number; amount: number } {
  const row = db.orm
    .select({ count: sql<number>`count(*)`, amount: sql<number>`coalesce(sum(${autoRechargeAttempts.amount}), 0)` })
    .from(autoRechargeAttempts)
    .where(and(eq(autoRechargeAttempts.userId, userId), ne(autoRechargeAttempts.status, "failed"), gte(autoRechargeAttempts.createdAt, utcMonthStart(now))))
    .get();
  return { count: Number(row?.count ?? 0), amount: Number(row?.amount ?? 0) };
}

/** Step 1. Synchronous and BEGIN IMMEDIATE: every check and the insert see the same state. */
export function claimRecharge(db: AppDb, userId: number, price: { packId: string; credits: number; amount: number; currency: string }, now: number): ClaimOutcome {
  try {
    return claimInTransaction(db, userId, price, now);
  } catch (error) {
    // The in-flight index refused a second claim the check above it could not see (it cannot,
    // inside BEGIN IMMEDIATE, but a hand-written row or a future change might): the same answer.
    if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return { claimed: false, reason: "in_flight" };
    throw error;
  }
}

function claimInTransaction(db: AppDb, userId: number, price: { packId: string; credits: number; amount: number; currency: string }, now: number): ClaimOutcome {
  return db.sqlite
    .transaction((): ClaimOutcome => {
      const settings = db.orm.select().from(autoRechargeSettings).where(eq(autoRechargeSettings.userId, userId)).get();
      if (!settings?.enabled || settings.packId !== price.packId) return { claimed: false, reason: "off" };
      const card = db.orm.select().from(savedCards).where(eq(savedCards.userId, userId)).get();
      if (!card) return { claimed: false, reason: "no_card" };
      const user = db.orm.select({ flaggedAt: users.flaggedAt, deletedAt: users.deletedAt }).from(users).where(eq(users.id, userId)).get();
      if (!user || user.flaggedAt || user.deletedAt) return { claimed: false, reason: "account_on_hold" };
      const balance = getBalance(db, userId, now).balance;
      if (balance >= settings.thresholdCredits) return { claimed: false, reason: "above_threshold" };
      const inFlight = db.orm
        .select({ id: autoRechargeAttempts.id })
        .from(autoRechargeAttempts)
        .where(and(eq(autoRechargeAttempts.userId, userId), inArray(autoRechargeAttempts.status, ["claimed", "sent"])))
        .get();
      if (inFlight) return { claimed: false, reason: "in_flight" };
      const used = monthlyUse(db, userId, now);
      if (settings.maxRechargesPerMonth !== null && used.count + 1 > settings.maxRechargesPerMonth) return { claimed: false, reason: "cap_reached" };
      if (settings.maxAmountPerMonth !== null && used.amount + price.amount > settings.maxAmountPerMonth) return { claimed: false, reason: "cap_reached" };
      const attempt = db.orm
        .insert(autoRechargeAttempts)
        .values({
          userId,
          packId: price.packId,
          credits: price.credits,
          amount: price.amount,
          currency: price.currency,
          paymentMethodId: card.paymentMethodId,
          status: "claimed",
          balanceAtClaim: balance,
          thresholdCredits: settings.thresholdCredits,
          createdAt: now,
          updatedAt: now,
        })
        .returning()
        .get();
      return { claimed: true, attempt };
    })
    .immediate();
}

/** The failure code when a PaymentIntent can no longer pay without the user, or null while it
 * still may (processing) or did. Off-session nobody can pass 3-D Secure, so `requires_action` is a
 * refusal too (Stripe answers 402 instead, but an answer read later may show it). */
export function refusalOf(intent: Stripe.PaymentIntent): string | null {
  if (intent.status === "requires_action") return "authentication_required";
  if (intent.status === "requires_payment_method" || intent.status === "canceled") return intent.last_payment_error?.code ?? intent.status;
  return null;
}

/** Step 2: the PaymentIntent, under the attempt's key. The answer never grants: it only names the
 * PaymentIntent (sent), or, refused, closes the attempt as failed. Other errors (network, 5xx)
 * leave the attempt claimed for the background job to re-send with the same key. */
export async function sendRecharge(deps: RechargeDeps, attempt: AutoRechargeAttempt): Promise<"sent" | "failed" | "closed"> {
  const { db, stripe } = deps;
  const customer = db.orm.select({ id: users.stripeCustomerId }).from(users).where(eq(users.id, attempt.userId)).get()?.id;
  if (!customer) {
    failAttempt(deps, attempt.id, null, "no_customer");
    return "failed";
  }
  const pack = findPack(deps.config, attempt.packId);
  try {
    const intent = await stripe.paymentIntents.create(
      {
        amount: attempt.amount,
        currency: attempt.currency,
        customer,
        payment_method: attempt.paymentMethodId,
        off_session: true,
        confirm: true,
        // This API version has no payment_method_types; a card needs no return_url.
        allowed_payment_method_types: ["card"],
        description: `Auto-recharge: ${pack?.name ?? `${attempt.credits} credits`}`,
        metadata: rechargeMetadata(attempt),
      },
      { idempotencyKey: stripeRequestKeys.autoRecharge(attempt.userId, attempt.id) },
    );
    const refused = refusalOf(intent);
    if (refused) {
      failAttempt(deps, attempt.id, intent.id, refused);
      return "failed";
    }
    const changed = db.orm
      .update(autoRechargeAttempts)
      .set({ status: "sent", paymentIntentId: intent.id, updatedAt: Date.now() })
      .where(and(eq(autoRechargeAttempts.id, attempt.id), eq(autoRechargeAttempts.status, "claimed")))
      .run().changes;
    if (changed > 0) incrementCounter("auto_recharge_total", { outcome: "sent" });
    return changed > 0 ? "sent" : "closed";
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError) {
      const raw = error.raw as { payment_intent?: { id?: string } } | undefined;
      failAttempt(deps, attempt.id, raw?.payment_intent?.id ?? null, error.code ?? "card_error");
      return "failed";
    }
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      // The card was detached or is not the customer's any more: no retry can succeed.
      failAttempt(deps, attempt.id, null, error.code ?? "invalid_request");
      return "failed";
    }
    throw error;
  }
}

/** The whole path after a spend: cheap checks first (most users have it off), then the pack's
 * price, the claim and the call. Never throws into the spend: errors are logged. */
export async function maybeRecharge(deps: RechargeDeps, userId: number): Promise<ClaimOutcome | { claimed: true; sent: string }> {
  const { db } = deps;
  const settings = db.orm.select().from(autoRechargeSettings).where(eq(autoRechargeSettings.userId, userId)).get();
  if (!settings?.enabled) return { claimed: false, reason: "off" };
  const now = deps.now?.() ?? Date.now();
  if (getBalance(db, userId, now).balance >= settings.thresholdCredits) return { claimed: false, reason: "above_threshold" };
  const pack = findPack(deps.config, settings.packId);
  if (!pack) return { claimed: false, reason: "unknown_pack" };
  const priced = (await listPacksWithPrices(deps.stripe, { packs: [pack] }))[0];
  if (!priced || priced.unitAmount === null || !priced.currency) return { claimed: false, reason: "no_price" };
  const claim = claimRecharge(db, userId, { packId: pack.id, credits: pack.credits, amount: priced.unitAmount, currency: priced.currency }, now);
  if (!claim.claimed) return claim;
  deps.log.info({ userId, attemptId: claim.attempt.id, balance: claim.attempt.balanceAtClaim }, "auto-recharge claimed");
  incrementCounter("auto_recharge_total", { outcome: "claimed" });
  return { claimed: true, sent: await sendRecharge(deps, claim.attempt) };
}

/** The spend hook: fire and forget, so the generation's answer never waits for Stripe. */
export function rechargeAfterSpend(deps: RechargeDeps, userId: number): void {
  void maybeRecharge(deps, userId).catch((error: unknown) => deps.log.error({ err: error, userId }, "auto-recharge failed to start"));
}

// ---------------------------------------------------------------------------------------------
// Step 3: the outcomes, inside the webhook's write body (or the job's own).

/** Grants the credits a succeeded recharge PaymentIntent paid for, once (its ledger key), and
 * closes its attempt. A replay, or a reordered event, grants nothing more. */
export async function grantRecharge(deps: Pick<RechargeDeps, "db" | "config">, attempt: AutoRechargeAttempt, intent: Stripe.PaymentIntent, tx: SqlRunner) {
  const { db } = deps;
  if (intent.status !== "succeeded") return { status: "not_paid" as const, attemptId: attempt.id };
  const now = Date.now();
  const pack = findPack(deps.config, attempt.packId);
  const written = await grant(tx, {
    now,
    userId: attempt.userId,
    amount: attempt.credits,
    type: "topup",
    key: ledgerKeys.topup(intent.id),
    description: `Auto-recharge: ${pack?.name ?? `${attempt.credits} credits`}`,
    stripePaymentId: intent.id,
    expiresAt: pack?.expiresAfterMs ? now + pack.expiresAfterMs : null,
    meta: { autoRechargeAttempt: attempt.id, pack: attempt.packId, amountTotal: intent.amount_received ?? intent.amount, currency: intent.currency },
  });
  db.orm
    .update(autoRechargeAttempts)
    .set({ status: "succeeded", paymentIntentId: intent.id, txId: written.transaction.id, failureCode: null, updatedAt: now })
    .where(eq(autoRechargeAttempts.id, attempt.id))
    .run();
  if (!written.replayed) {
    incrementCounter("auto_recharge_total", { outcome: "granted" });
    db.orm.update(autoRechargeSettings).set({ consecutiveFailures: 0, updatedAt: now }).where(eq(autoRechargeSettings.userId, attempt.userId)).run();
    // In the grant's own transaction: one top-up, one mail, whatever the webhook's replays.
    const user = db.orm.select({ email: users.email, deletedAt: users.deletedAt }).from(users).where(eq(users.id, attempt.userId)).get();
    if (user && user.deletedAt === null) {
      const mail = rechargeSucceededMail(deps.config.appUrl, {
        packName: pack?.name ?? `${attempt.credits} credits`,
        credits: attempt.credits,
        amount: intent.amount_received ?? intent.amount,
        currency: intent.currency,
      });
      enqueueMailOnSqlite(db, user.email, "auto_recharge_succeeded", mail, now);
    }
  }
  return { status: written.replayed ? ("already_granted" as const) : ("granted" as const), attemptId: attempt.id, userId: attempt.userId, credits: attempt.credits };
}

/** Closes an in-flight attempt as failed, once: counts the failure in a row, queues the mail
 * with the on-session link, and at the third switches auto-recharge off (said on the page and in
 * the mail). An attempt already closed changes nothing. Runs in its caller's transaction, or its own. */
export function failAttempt(deps: Pick<RechargeDeps, "db" | "config">, attemptId: number, paymentIntentId: string | null, failureCode: string | null) {
  const { db } = deps;
  const run = () => {
    const now = Date.now();
    const closed = db.orm
      .update(autoRechargeAttempts)
      .set({ status: "failed", failureCode, updatedAt: now, ...(paymentIntentId ? { paymentIntentId } : {}) })
      .where(and(eq(autoRechargeAttempts.id, attemptId), inArray(autoRechargeAttempts.status, ["claimed", "sent"])))
      .returning()
      .get();
    if (!closed) return { status: "already_closed" as const, attemptId };
    const settings = db.orm
      .update(autoRechargeSettings)
      .set({ consecutiveFailures: sql`${autoRechargeSettings.consecutiveFailures} + 1`, updatedAt: now })
      .where(eq(autoRechargeSettings.userId, closed.userId))
      .returning()
      .get();
    const switchedOff = Boolean(settings && settings.enabled && settings.consecutiveFailures >= MAX_CONSECUTIVE_FAILURES);
    incrementCounter("auto_recharge_total", { outcome: switchedOff ? "switched_off" : "failed" });
    if (switchedOff) {
      db.orm.update(autoRechargeSettings).set({ enabled: false, disabledReason: SWITCHED_OFF_REASON }).where(eq(autoRechargeSettings.userId, closed.userId)).run();
    }
    const user = db.orm.select({ email: users.email, deletedAt: users.deletedAt }).from(users).where(eq(users.id, closed.userId)).get();
    const packName = findPack(deps.config, closed.packId)?.name ?? `${closed.credits} credits`;
    if (user && user.deletedAt === null) {
      enqueueMailOnSqlite(db, user.email, switchedOff ? "auto_recharge_off" : "auto_recharge_failed", rechargeFailedMail(deps.config.appUrl, { packName, failureCode, switchedOff }), now);
    }
    return { status: "failed" as const, attemptId, userId: closed.userId, failureCode, switchedOff };
  };
  return db.sqlite.inTransaction ? run() : db.sqlite.transaction(run).immediate();
}

// ---------------------------------------------------------------------------------------------
// The background job: attempts a crash left behind.

/** Claimed but never answered (a crash or a network error between the claim and Stripe's
 * answer): re-sent with the same key. Sent but never settled (a lost webhook): read from Stripe
 * and settled as the webhook would. */
export async function reconcileRecharges(deps: RechargeDeps, opts: { claimedAfterMs: number; sentAfterMs: number }): Promise<{ resent: number; settled: number }> {
  const { db } = deps;
  const now = deps.now?.() ?? Date.now();
  const claimed = db.orm
    .select()
    .from(autoRechargeAttempts)
    .where(and(eq(autoRechargeAttempts.status, "claimed"), lt(autoRechargeAttempts.updatedAt, now - opts.claimedAfterMs)))
    .limit(50)
    .all();
  let resent = 0;
  for (const attempt of claimed) {
    try {
      await sendRecharge(deps, attempt);
      resent++;
    } catch (error) {
      deps.log.warn({ err: error, attemptId: attempt.id }, "auto-recharge re-send failed; will retry");
    }
  }
  const sent = db.orm
    .select()
    .from(autoRechargeAttempts)
    .where(and(eq(autoRechargeAttempts.status, "sent"), lt(autoRechargeAttempts.updatedAt, now - opts.sentAfterMs)))
    .limit(50)
    .all();
  let settled = 0;
  for (const attempt of sent) {
    if (!attempt.paymentIntentId) continue;
    try {
      const intent = await deps.stripe.paymentIntents.retrieve(attempt.paymentIntentId);
      if (intent.status === "succeeded") {
        await db.sql.write((tx) => grantRecharge(deps, attempt, intent, tx));
        settled++;
      } else if (refusalOf(intent)) {
        failAttempt(deps, attempt.id, intent.id, refusalOf(intent));
        settled++;
      }
    } catch (error) {
      deps.log.warn({ err: error, attemptId: attempt.id }, "auto-recharge settle failed; will retry");
    }
  }
  return { resent, settled };
}

export function startRechargeReconciler(deps: RechargeDeps, opts: { intervalMs: number; claimedAfterMs: number; sentAfterMs: number }) {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await reconcileRecharges(deps, opts);
    } catch (error) {
      deps.log.error({ err: error }, "auto-recharge reconciler failed");
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
