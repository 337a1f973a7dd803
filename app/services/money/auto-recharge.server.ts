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
import Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { AutoRechargeAttempt, RechargeStatus } from "#db/schema";
import { utcMonthStart } from "~/utils/time";
import type { Config } from "../env.server";
import { enqueueMail } from "../mail/mail-queue.server";
import { incrementCounter } from "../metrics.server";
import { inWrite, isUniqueViolation, readerOf, type SqlTarget } from "../sql-target.server";
import { rechargeFailedMail, rechargeSucceededMail } from "./auto-recharge-mails.server";
import { grant, readSpendableBalance } from "./ledger.server";
import { ledgerKeys, stripeRequestKeys } from "./ledger-keys.server";
import { appPaymentMetadata } from "./ownership.server";
import { listPacksWithPrices } from "./pack-prices.server";
import { findPack } from "./pricing.server";

/** Failures in a row after which the app switches auto-recharge off. */
export const MAX_CONSECUTIVE_FAILURES = 3;
export const SWITCHED_OFF_REASON = "three_failures";

type Log = { info: (o: Record<string, unknown>, m?: string) => void; warn: (o: Record<string, unknown>, m?: string) => void; error: (o: Record<string, unknown>, m?: string) => void };
export type RechargeDeps = { db: PortableDb; stripe: Stripe; config: Pick<Config, "packs" | "appUrl">; log: Log; now?: () => number };

export type ClaimOutcome =
  | { claimed: true; attempt: AutoRechargeAttempt }
  | { claimed: false; reason: "off" | "no_card" | "above_threshold" | "in_flight" | "cap_reached" | "account_on_hold" | "unknown_pack" | "no_price" };

// ---------------------------------------------------------------------------------------------
// Rows, as drizzle returned them (camelCase; `enabled` a boolean), one SQL text for both engines.

const ATTEMPT_COLUMNS = `id, user_id AS "userId", pack_id AS "packId", credits, amount, currency, payment_method_id AS "paymentMethodId",
  status, payment_intent_id AS "paymentIntentId", tx_id AS "txId", failure_code AS "failureCode", balance_at_claim AS "balanceAtClaim",
  threshold_credits AS "thresholdCredits", created_at AS "createdAt", updated_at AS "updatedAt"`;

type SettingsRow = {
  userId: number;
  enabled: boolean;
  thresholdCredits: number;
  packId: string;
  maxRechargesPerMonth: number | null;
  maxAmountPerMonth: number | null;
  consecutiveFailures: number;
  disabledReason: string | null;
  updatedAt: number;
};
const SETTINGS_COLUMNS = `user_id AS "userId", enabled, threshold_credits AS "thresholdCredits", pack_id AS "packId",
  max_recharges_per_month AS "maxRechargesPerMonth", max_amount_per_month AS "maxAmountPerMonth",
  consecutive_failures AS "consecutiveFailures", disabled_reason AS "disabledReason", updated_at AS "updatedAt"`;

/** The stored 0/1 as the boolean the settings type says. */
const settingsOf = (row: (Omit<SettingsRow, "enabled"> & { enabled: number | boolean }) | undefined): SettingsRow | undefined =>
  row && { ...row, enabled: row.enabled === 1 || row.enabled === true };

/** The user's auto-recharge settings, or undefined (never set). */
export async function readRechargeSettings(target: SqlTarget, userId: number): Promise<SettingsRow | undefined> {
  return settingsOf(await readerOf(target).get(`SELECT ${SETTINGS_COLUMNS} FROM auto_recharge_settings WHERE user_id = ?`, [userId]));
}

/** The card saved for off-session payments, or undefined. */
export async function readSavedCard(target: SqlTarget, userId: number): Promise<{ userId: number; paymentMethodId: string; brand: string; last4: string; createdAt: number } | undefined> {
  return readerOf(target).get(
    `SELECT user_id AS "userId", payment_method_id AS "paymentMethodId", brand, last4, created_at AS "createdAt" FROM saved_cards WHERE user_id = ?`,
    [userId],
  );
}

/** The metadata marking a PaymentIntent as an auto-recharge: the app's marker, the user and the
 * pack (so refunds and disputes find it like a purchase), and the crossing (the attempt). */
function rechargeMetadata(a: AutoRechargeAttempt): Record<string, string> {
  return { ...appPaymentMetadata(a.userId, a.packId), autoRechargeAttempt: String(a.id), threshold: String(a.thresholdCredits), balanceAtClaim: String(a.balanceAtClaim) };
}

const attemptById = (target: SqlTarget, id: number) => readerOf(target).get<AutoRechargeAttempt>(`SELECT ${ATTEMPT_COLUMNS} FROM auto_recharge_attempts WHERE id = ?`, [id]);

/** The attempt a PaymentIntent's metadata names (the app's marker and a matching user), or null.
 * Inside a webhook's body pass its `tx`. */
export async function rechargeAttemptOf(target: SqlTarget, intent: Pick<Stripe.PaymentIntent, "metadata">): Promise<AutoRechargeAttempt | null> {
  const m = intent.metadata ?? {};
  if (m.app !== "credits" || typeof m.autoRechargeAttempt !== "string" || !/^[1-9]\d{0,15}$/.test(m.autoRechargeAttempt)) return null;
  const id = Number(m.autoRechargeAttempt);
  if (!Number.isSafeInteger(id)) return null;
  const row = await attemptById(target, id);
  return row && String(row.userId) === m.userId ? row : null;
}

/** Attempts that count against the monthly cap this UTC month: every one not failed (a failed
 * one charged nothing; an in-flight one might still charge). */
export async function monthlyUse(target: SqlTarget, userId: number, now: number): Promise<{ count: number; amount: number }> {
  const row = await readerOf(target).get<{ count: number; amount: number }>(
    `SELECT count(*) AS count, coalesce(sum(amount), 0) AS amount FROM auto_recharge_attempts
     WHERE user_id = ? AND status <> 'failed' AND created_at >= ?`,
    [userId, utcMonthStart(now)],
  );
  return { count: Number(row?.count ?? 0), amount: Number(row?.amount ?? 0) };
}

type Price = { packId: string; credits: number; amount: number; currency: string };

/**
 * Step 1, ONE write body: every check and the claim see the same state. The claim itself is a
 * guarded insert (`ON CONFLICT DO NOTHING RETURNING`) on the partial unique index that allows
 * one claimed/sent attempt per user: of 20 racing spends (on any instance) one inserts; the
 * others get no row (on PostgreSQL after waiting for the winner's commit) and answer in_flight.
 */
export async function claimRecharge(db: PortableDb, userId: number, price: Price, now: number): Promise<ClaimOutcome> {
  try {
    return await db.sql.write((tx) => claimIn(tx, userId, price, now));
  } catch (error) {
    // ON CONFLICT answers the race; a unique violation that still gets through means the same.
    if (isUniqueViolation(error)) return { claimed: false, reason: "in_flight" };
    throw error;
  }
}

async function claimIn(tx: SqlRunner, userId: number, price: Price, now: number): Promise<ClaimOutcome> {
  const settings = await readRechargeSettings(tx, userId);
  if (!settings?.enabled || settings.packId !== price.packId) return { claimed: false, reason: "off" };
  const card = await readSavedCard(tx, userId);
  if (!card) return { claimed: false, reason: "no_card" };
  const user = await tx.get<{ flaggedAt: number | null; deletedAt: number | null }>(`SELECT flagged_at AS "flaggedAt", deleted_at AS "deletedAt" FROM users WHERE id = ?`, [userId]);
  if (!user || user.flaggedAt !== null || user.deletedAt !== null) return { claimed: false, reason: "account_on_hold" };
  const balance = await readSpendableBalance(tx, userId, now);
  if (balance >= settings.thresholdCredits) return { claimed: false, reason: "above_threshold" };
  const inFlight = await tx.get<{ id: number }>("SELECT id FROM auto_recharge_attempts WHERE user_id = ? AND status IN ('claimed', 'sent')", [userId]);
  if (inFlight) return { claimed: false, reason: "in_flight" };
  const used = await monthlyUse(tx, userId, now);
  if (settings.maxRechargesPerMonth !== null && used.count + 1 > settings.maxRechargesPerMonth) return { claimed: false, reason: "cap_reached" };
  if (settings.maxAmountPerMonth !== null && used.amount + price.amount > settings.maxAmountPerMonth) return { claimed: false, reason: "cap_reached" };
  const attempt = await tx.get<AutoRechargeAttempt>(
    `INSERT INTO auto_recharge_attempts (user_id, pack_id, credits, amount, currency, payment_method_id, status, balance_at_claim, threshold_credits, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'claimed', ?, ?, ?, ?)
     ON CONFLICT DO NOTHING
     RETURNING ${ATTEMPT_COLUMNS}`,
    [userId, price.packId, price.credits, price.amount, price.currency, card.paymentMethodId, balance, settings.thresholdCredits, now, now],
  );
  if (!attempt) return { claimed: false, reason: "in_flight" };
  return { claimed: true, attempt };
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
 * leave the attempt claimed for the background job to re-send with the same key. The Stripe call
 * is outside any write body: each write after it is a body (or a guarded statement) of its own. */
export async function sendRecharge(deps: RechargeDeps, attempt: AutoRechargeAttempt): Promise<"sent" | "failed" | "closed"> {
  const { db, stripe } = deps;
  const customer = (await db.sql.get<{ id: string | null }>(`SELECT stripe_customer_id AS id FROM users WHERE id = ?`, [attempt.userId]))?.id;
  if (!customer) {
    await failAttempt(deps, attempt.id, null, "no_customer");
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
      await failAttempt(deps, attempt.id, intent.id, refused);
      return "failed";
    }
    // Guarded: a webhook that already settled the attempt (succeeded, failed) is not undone.
    const { changes } = await db.sql.run("UPDATE auto_recharge_attempts SET status = 'sent', payment_intent_id = ?, updated_at = ? WHERE id = ? AND status = 'claimed'", [
      intent.id,
      Date.now(),
      attempt.id,
    ]);
    if (changes > 0) incrementCounter("auto_recharge_total", { outcome: "sent" });
    return changes > 0 ? "sent" : "closed";
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError) {
      const raw = error.raw as { payment_intent?: { id?: string } } | undefined;
      await failAttempt(deps, attempt.id, raw?.payment_intent?.id ?? null, error.code ?? "card_error");
      return "failed";
    }
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      // The card was detached or is not the customer's any more: no retry can succeed.
      await failAttempt(deps, attempt.id, null, error.code ?? "invalid_request");
      return "failed";
    }
    throw error;
  }
}

/** The whole path after a spend: cheap checks first (most users have it off), then the pack's
 * price, the claim and the call. Never throws into the spend: errors are logged. */
export async function maybeRecharge(deps: RechargeDeps, userId: number): Promise<ClaimOutcome | { claimed: true; sent: string }> {
  const { db } = deps;
  const settings = await readRechargeSettings(db, userId);
  if (!settings?.enabled) return { claimed: false, reason: "off" };
  const now = deps.now?.() ?? Date.now();
  if (await readSpendableBalance(db, userId, now) >= settings.thresholdCredits) return { claimed: false, reason: "above_threshold" };
  const pack = findPack(deps.config, settings.packId);
  if (!pack) return { claimed: false, reason: "unknown_pack" };
  const priced = (await listPacksWithPrices(deps.stripe, { packs: [pack] }))[0];
  if (!priced || priced.unitAmount === null || !priced.currency) return { claimed: false, reason: "no_price" };
  const claim = await claimRecharge(db, userId, { packId: pack.id, credits: pack.credits, amount: priced.unitAmount, currency: priced.currency }, now);
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

const mailableUser = (tx: SqlRunner, userId: number) =>
  tx.get<{ email: string; deletedAt: number | null }>(`SELECT email, deleted_at AS "deletedAt" FROM users WHERE id = ?`, [userId]);

/** Grants the credits a succeeded recharge PaymentIntent paid for, once (its ledger key), and
 * closes its attempt. A replay, or a reordered event, grants nothing more. Runs on the body's `tx`. */
export async function grantRecharge(deps: Pick<RechargeDeps, "config">, attempt: AutoRechargeAttempt, intent: Stripe.PaymentIntent, tx: SqlRunner) {
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
  await tx.run("UPDATE auto_recharge_attempts SET status = 'succeeded', payment_intent_id = ?, tx_id = ?, failure_code = NULL, updated_at = ? WHERE id = ?", [
    intent.id,
    written.transaction.id,
    now,
    attempt.id,
  ]);
  if (!written.replayed) {
    incrementCounter("auto_recharge_total", { outcome: "granted" });
    await tx.run("UPDATE auto_recharge_settings SET consecutive_failures = 0, updated_at = ? WHERE user_id = ?", [now, attempt.userId]);
    // In the grant's own transaction: one top-up, one mail, whatever the webhook's replays.
    const user = await mailableUser(tx, attempt.userId);
    if (user && user.deletedAt === null) {
      const mail = rechargeSucceededMail(deps.config.appUrl, {
        packName: pack?.name ?? `${attempt.credits} credits`,
        credits: attempt.credits,
        amount: intent.amount_received ?? intent.amount,
        currency: intent.currency,
      });
      await enqueueMail(tx, user.email, "auto_recharge_succeeded", mail, now);
    }
  }
  return { status: written.replayed ? ("already_granted" as const) : ("granted" as const), attemptId: attempt.id, userId: attempt.userId, credits: attempt.credits };
}

/** Closes an in-flight attempt as failed, once (a guarded UPDATE … RETURNING): counts the
 * failure in a row, queues the mail with the on-session link, and at the third switches
 * auto-recharge off (said on the page and in the mail). An attempt already closed changes
 * nothing. Runs in its caller's body (`tx`), or a write of its own. */
export async function failAttempt(
  deps: Pick<RechargeDeps, "db" | "config">,
  attemptId: number,
  paymentIntentId: string | null,
  failureCode: string | null,
  tx?: SqlRunner,
) {
  const counted: Array<"failed" | "switched_off"> = [];
  const result = await inWrite(tx ?? deps.db, async (tx) => {
    counted.length = 0; // a PostgreSQL retry runs the body again
    const now = Date.now();
    const closed = await tx.get<AutoRechargeAttempt>(
      `UPDATE auto_recharge_attempts SET status = 'failed', failure_code = ?, updated_at = ?, payment_intent_id = coalesce(?, payment_intent_id)
       WHERE id = ? AND status IN ('claimed', 'sent') RETURNING ${ATTEMPT_COLUMNS}`,
      [failureCode, now, paymentIntentId, attemptId],
    );
    if (!closed) return { status: "already_closed" as const, attemptId };
    const settings = settingsOf(
      await tx.get(
        `UPDATE auto_recharge_settings SET consecutive_failures = consecutive_failures + 1, updated_at = ? WHERE user_id = ? RETURNING ${SETTINGS_COLUMNS}`,
        [now, closed.userId],
      ),
    );
    const switchedOff = Boolean(settings && settings.enabled && settings.consecutiveFailures >= MAX_CONSECUTIVE_FAILURES);
    counted.push(switchedOff ? "switched_off" : "failed");
    if (switchedOff) await tx.run("UPDATE auto_recharge_settings SET enabled = 0, disabled_reason = ? WHERE user_id = ?", [SWITCHED_OFF_REASON, closed.userId]);
    const user = await mailableUser(tx, closed.userId);
    const packName = findPack(deps.config, closed.packId)?.name ?? `${closed.credits} credits`;
    if (user && user.deletedAt === null) {
      await enqueueMail(tx, user.email, switchedOff ? "auto_recharge_off" : "auto_recharge_failed", rechargeFailedMail(deps.config.appUrl, { packName, failureCode, switchedOff }), now);
    }
    return { status: "failed" as const, attemptId, userId: closed.userId, failureCode, switchedOff };
  });
  // Counted once the outcome is decided, not per attempt of the body (retries).
  for (const outcome of counted) incrementCounter("auto_recharge_total", { outcome });
  return result;
}

// ---------------------------------------------------------------------------------------------
// The background job: attempts a crash left behind.

const stale = (db: PortableDb, status: RechargeStatus, before: number) =>
  db.sql.all<AutoRechargeAttempt>(`SELECT ${ATTEMPT_COLUMNS} FROM auto_recharge_attempts WHERE status = ? AND updated_at < ? ORDER BY updated_at, id LIMIT 50`, [status, before]);

/** Claimed but never answered (a crash or a network error between the claim and Stripe's
 * answer): re-sent with the same key. Sent but never settled (a lost webhook): read from Stripe
 * and settled as the webhook would. The Stripe calls are outside any write body. */
export async function reconcileRecharges(deps: RechargeDeps, opts: { claimedAfterMs: number; sentAfterMs: number }): Promise<{ resent: number; settled: number }> {
  const { db } = deps;
  const now = deps.now?.() ?? Date.now();
  let resent = 0;
  for (const attempt of await stale(db, "claimed", now - opts.claimedAfterMs)) {
    try {
      await sendRecharge(deps, attempt);
      resent++;
    } catch (error) {
      deps.log.warn({ err: error, attemptId: attempt.id }, "auto-recharge re-send failed; will retry");
    }
  }
  let settled = 0;
  for (const attempt of await stale(db, "sent", now - opts.sentAfterMs)) {
    if (!attempt.paymentIntentId) continue;
    try {
      const intent = await deps.stripe.paymentIntents.retrieve(attempt.paymentIntentId);
      if (intent.status === "succeeded") {
        // Re-read inside the body: a webhook may have settled it since the list was read.
        await db.sql.write(async (tx) => {
          const current = await attemptById(tx, attempt.id);
          if (current) await grantRecharge(deps, current, intent, tx);
        });
        settled++;
      } else if (refusalOf(intent)) {
        await failAttempt(deps, attempt.id, intent.id, refusalOf(intent));
        settled++;
      }
    } catch (error) {
      deps.log.warn({ err: error, attemptId: attempt.id }, "auto-recharge settle failed; will retry");
    }
  }
  return { resent, settled };
}

/** Every interval, one pass inside db.sql.exclusive("auto-recharge-reconciler"): with several
 * instances on one PostgreSQL only one reconciles at a time (Stripe's idempotency keys and the
 * guarded updates keep an overlap harmless; the lock spares the duplicate calls). */
export function startRechargeReconciler(deps: RechargeDeps, opts: { intervalMs: number; claimedAfterMs: number; sentAfterMs: number }) {
  const tick = async () => {
    try {
      await deps.db.sql.exclusive("auto-recharge-reconciler", async () => {
        await reconcileRecharges(deps, opts);
      });
    } catch (error) {
      deps.log.error({ err: error }, "auto-recharge reconciler failed");
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
