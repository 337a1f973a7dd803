/**
 * Balance alerts: a threshold a user sets (off by default); ONE mail when the spendable balance
 * first falls below it, re-armed only once the balance is back at or above it.
 *
 * States: no row = off; `fired_at` null = armed; `fired_at` set = fired (mailed, or the threshold
 * was set while already below it: the banner says so, and no mail pretends the balance just fell).
 * armed -> fired and its mail commit in ONE write body on the executor (decision 036), through an
 * UPDATE guarded on the state it read, so twenty spends checked at once (or two processes, or two
 * instances on PostgreSQL, where the guard's row lock makes the later bodies re-read it) mail once.
 * fired -> armed happens when a check reads the balance at or above the threshold, OR when the
 * ledger shows it was there since the fire: a row written after `fired_tx_id` whose balance after
 * it (or, for a spend, before it) reached the threshold. So a purchase by webhook followed by a
 * spend through the API mails again even if nobody looked at a page in between.
 * This module only reads balances (readSpendableBalance); the ledger alone writes them. One SQL text for
 * SQLite and PostgreSQL; the mail is queued in the same body.
 * Why: docs/decisions/028-balance-alerts.md.
 */
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { BalanceAlertRow } from "#db/schema";
import { enqueueMail, type QueueMailIn } from "../mail/mail-queue.server";
import { readSpendableBalance } from "../money/ledger.server";
import { readerOf, type SqlTarget } from "../sql-target.server";
import { findUserById } from "../users.server";
import { balanceLowMail } from "./balance-alert-mail.server";

export type BalanceAlertState = "off" | "armed" | "fired";

export type BalanceAlertView = {
  thresholdCredits: number | null;
  state: BalanceAlertState;
  balance: number;
  /** The spendable balance is below the threshold: the banner shows. */
  below: boolean;
};

/** What a check did: nothing, re-armed the alert, or queued the mail (its id). */
export type BalanceAlertCheck = BalanceAlertView & { transition: "none" | "rearmed" | "fired"; mailId?: number };

/** The largest threshold a user may set: more than any sane balance, far below MAX_AMOUNT. */
export const MAX_ALERT_THRESHOLD = 1_000_000;

const SQL = {
  alert: `SELECT user_id AS "userId", threshold_credits AS "thresholdCredits", fired_at AS "firedAt", fired_tx_id AS "firedTxId", updated_at AS "updatedAt"
    FROM balance_alerts WHERE user_id = ?`,
  lastTxId: `SELECT coalesce(max(id), 0) AS id FROM transactions WHERE user_id = ?`,
  // A spend's balance before it counts too (balance_after - amount): a void gives credits back
  // without a row of its own, so the next spend's starting point is the only trace of it.
  backAbove: `SELECT 1 AS hit FROM transactions WHERE user_id = @userId AND id > @since
    AND (balance_after >= @threshold OR (type = 'usage' AND balance_after - amount >= @threshold)) LIMIT 1`,
  remove: `DELETE FROM balance_alerts WHERE user_id = ?`,
  upsert: `INSERT INTO balance_alerts (user_id, threshold_credits, fired_at, fired_tx_id, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (user_id) DO UPDATE SET threshold_credits = excluded.threshold_credits, fired_at = excluded.fired_at,
      fired_tx_id = excluded.fired_tx_id, updated_at = excluded.updated_at`,
  // The guards: the row as it was read (threshold and state), or nothing changes.
  rearm: `UPDATE balance_alerts SET fired_at = NULL, fired_tx_id = NULL, updated_at = ?
    WHERE user_id = ? AND threshold_credits = ? AND fired_at = ?`,
  fireArmed: `UPDATE balance_alerts SET fired_at = ?, fired_tx_id = ?, updated_at = ?
    WHERE user_id = ? AND threshold_credits = ? AND fired_at IS NULL`,
  fireAgain: `UPDATE balance_alerts SET fired_at = ?, fired_tx_id = ?, updated_at = ?
    WHERE user_id = ? AND threshold_credits = ? AND fired_at = ?`,
};

async function readAlert(db: SqlTarget, userId: number): Promise<BalanceAlertRow | undefined> {
  return readerOf(db).get<BalanceAlertRow>(SQL.alert, [userId]);
}

async function lastTxId(tx: SqlRunner, userId: number): Promise<number> {
  return (await tx.get<{ id: number }>(SQL.lastTxId, [userId]))?.id ?? 0;
}

/** Whether a ledger row since `sinceTxId` shows the balance at or above `threshold`. */
async function wasBackAbove(db: SqlTarget, userId: number, sinceTxId: number, threshold: number): Promise<boolean> {
  return (await readerOf(db).get(SQL.backAbove, { userId, since: sinceTxId, threshold })) !== undefined;
}

function viewOf(alert: BalanceAlertRow | undefined, balance: number): BalanceAlertView {
  if (!alert) return { thresholdCredits: null, state: "off", balance, below: false };
  return { thresholdCredits: alert.thresholdCredits, state: alert.firedAt === null ? "armed" : "fired", balance, below: balance < alert.thresholdCredits };
}

/** The setting and the balance as they are now; no writes. */
export async function getBalanceAlert(db: PortableDb, userId: number, now: number = Date.now()): Promise<BalanceAlertView> {
  const alert = await readAlert(db, userId);
  return viewOf(alert, await readSpendableBalance(db, userId, now));
}

/**
 * Sets (a whole number 1..MAX_ALERT_THRESHOLD) or turns off (null) the threshold. The same value
 * again changes nothing; a new one starts armed if the balance is at or above it, else fired
 * without a mail (the user is looking at the balance already; the next fall after a rise mails).
 */
export async function setBalanceAlert(db: PortableDb, userId: number, thresholdCredits: number | null, now: number = Date.now()): Promise<BalanceAlertView> {
  if (thresholdCredits !== null && (!Number.isSafeInteger(thresholdCredits) || thresholdCredits < 1 || thresholdCredits > MAX_ALERT_THRESHOLD)) {
    throw new RangeError(`thresholdCredits must be a whole number from 1 to ${MAX_ALERT_THRESHOLD}, or null; got ${thresholdCredits}`);
  }
  return db.sql.write(async (tx): Promise<BalanceAlertView> => {
    const balance = await readSpendableBalance(tx, userId, now);
    if (thresholdCredits === null) {
      await tx.run(SQL.remove, [userId]);
      return viewOf(undefined, balance);
    }
    const current = await readAlert(tx, userId);
    if (current?.thresholdCredits === thresholdCredits) return viewOf(current, balance);
    const below = balance < thresholdCredits;
    await tx.run(SQL.upsert, [userId, thresholdCredits, below ? now : null, below ? await lastTxId(tx, userId) : null, now]);
    return viewOf(await readAlert(tx, userId), balance);
  });
}

export type CheckOptions = {
  appUrl: string;
  now?: number;
  /** Where the mail is queued, in the body that fires (default: the app's mail queue). */
  queueMail?: QueueMailIn;
};

/** The decision on one reading: what the alert should become. */
async function transitionOf(db: SqlTarget, userId: number, alert: BalanceAlertRow, balance: number): Promise<"none" | "rearm" | "fire"> {
  const below = balance < alert.thresholdCredits;
  if (alert.firedAt === null) return below ? "fire" : "none";
  if (!below) return "rearm";
  return (await wasBackAbove(db, userId, alert.firedTxId ?? 0, alert.thresholdCredits)) ? "fire" : "none";
}

/**
 * The one check, run after a spend and on page loads: reads, and writes only when a transition is
 * due. The write re-reads inside its body and updates only the state it read (a guarded UPDATE),
 * so of many checks racing over one crossing exactly one fires and queues the mail.
 */
export async function checkBalanceAlert(db: PortableDb, userId: number, options: CheckOptions): Promise<BalanceAlertCheck> {
  const now = options.now ?? Date.now();
  const peek = await readAlert(db, userId);
  if (!peek) return { ...viewOf(undefined, 0), transition: "none" };
  const peekBalance = await readSpendableBalance(db, userId, now);
  if ((await transitionOf(db, userId, peek, peekBalance)) === "none") return { ...viewOf(peek, peekBalance), transition: "none" };
  const queueMail = options.queueMail ?? enqueueMail;
  return db.sql.write(async (tx): Promise<BalanceAlertCheck> => {
    const alert = await readAlert(tx, userId);
    const balance = await readSpendableBalance(tx, userId, now);
    if (!alert) return { ...viewOf(undefined, balance), transition: "none" };
    const due = await transitionOf(tx, userId, alert, balance);
    if (due === "none") return { ...viewOf(alert, balance), transition: "none" };
    if (due === "rearm") {
      const { changes } = await tx.run(SQL.rearm, [now, userId, alert.thresholdCredits, alert.firedAt]);
      return { ...viewOf(await readAlert(tx, userId), balance), transition: changes === 1 ? "rearmed" : "none" };
    }
    const firedTxId = await lastTxId(tx, userId);
    const claimed =
      alert.firedAt === null
        ? await tx.run(SQL.fireArmed, [now, firedTxId, now, userId, alert.thresholdCredits])
        : await tx.run(SQL.fireAgain, [now, firedTxId, now, userId, alert.thresholdCredits, alert.firedAt]);
    if (claimed.changes !== 1) return { ...viewOf(await readAlert(tx, userId), balance), transition: "none" };
    const user = await findUserById(tx, userId);
    if (!user) throw new Error(`balance alert of user ${userId} has no users row`);
    // A deleted account keeps its row for the ledger but has no address to write to.
    const mailId = user.deletedAt === null ? await queueMail(tx, user.email, "balance_low", balanceLowMail(options.appUrl, balance, alert.thresholdCredits), now) : undefined;
    return { ...viewOf(await readAlert(tx, userId), balance), transition: "fired", mailId };
  });
}
