/**
 * Balance alerts: a threshold a user sets (off by default); ONE mail when the spendable balance
 * first falls below it, re-armed only once the balance is back at or above it.
 *
 * States: no row = off; `fired_at` null = armed; `fired_at` set = fired (mailed, or the threshold
 * was set while already below it: the banner says so, and no mail pretends the balance just fell).
 * armed -> fired and its mail commit in ONE `BEGIN IMMEDIATE` transaction, through an UPDATE
 * guarded on the state it read, so twenty spends checked at once (or two processes) mail once.
 * fired -> armed happens when a check reads the balance at or above the threshold, OR when the
 * ledger shows it was there since the fire: a row written after `fired_tx_id` whose balance after
 * it (or, for a spend, before it) reached the threshold. So a purchase by webhook followed by a
 * spend through the API mails again even if nobody looked at a page in between.
 * This module only reads balances (getBalance); the ledger alone writes them.
 * Why: docs/decisions/028-balance-alerts.md.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { balanceAlerts, transactions, type BalanceAlertRow } from "#db/schema";
import { enqueueMail } from "../mail/mail-queue.server";
import { getBalance } from "../money/ledger.server";
import { findUserByIdOnSqlite } from "../users.server";
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

function readAlert(db: AppDb, userId: number): BalanceAlertRow | undefined {
  return db.orm.select().from(balanceAlerts).where(eq(balanceAlerts.userId, userId)).get();
}

function lastTxId(db: AppDb, userId: number): number {
  const row = db.orm
    .select({ id: sql<number | null>`max(${transactions.id})` })
    .from(transactions)
    .where(eq(transactions.userId, userId))
    .get();
  return row?.id ?? 0;
}

/** Whether a ledger row since `sinceTxId` shows the balance at or above `threshold`. A spend's
 * balance before it counts too (balance_after - amount): a void gives credits back without a row
 * of its own, so the next spend's starting point is the only trace of it. */
function wasBackAbove(db: AppDb, userId: number, sinceTxId: number, threshold: number): boolean {
  const row = db.sqlite
    .prepare(
      `select 1 as hit from transactions where user_id = ? and id > ?
         and (balance_after >= ? or (type = 'usage' and balance_after - amount >= ?)) limit 1`,
    )
    .get(userId, sinceTxId, threshold, threshold);
  return row !== undefined;
}

function viewOf(alert: BalanceAlertRow | undefined, balance: number): BalanceAlertView {
  if (!alert) return { thresholdCredits: null, state: "off", balance, below: false };
  return { thresholdCredits: alert.thresholdCredits, state: alert.firedAt === null ? "armed" : "fired", balance, below: balance < alert.thresholdCredits };
}

/** The setting and the balance as they are now; no writes. */
export function getBalanceAlert(db: AppDb, userId: number, now: number = Date.now()): BalanceAlertView {
  return viewOf(readAlert(db, userId), getBalance(db, userId, now).balance);
}

/**
 * Sets (a whole number 1..MAX_ALERT_THRESHOLD) or turns off (null) the threshold. The same value
 * again changes nothing; a new one starts armed if the balance is at or above it, else fired
 * without a mail (the user is looking at the balance already; the next fall after a rise mails).
 */
export function setBalanceAlert(db: AppDb, userId: number, thresholdCredits: number | null, now: number = Date.now()): BalanceAlertView {
  if (thresholdCredits !== null && (!Number.isSafeInteger(thresholdCredits) || thresholdCredits < 1 || thresholdCredits > MAX_ALERT_THRESHOLD)) {
    throw new RangeError(`thresholdCredits must be a whole number from 1 to ${MAX_ALERT_THRESHOLD}, or null; got ${thresholdCredits}`);
  }
  return db.sqlite
    .transaction((): BalanceAlertView => {
      const balance = getBalance(db, userId, now).balance;
      if (thresholdCredits === null) {
        db.orm.delete(balanceAlerts).where(eq(balanceAlerts.userId, userId)).run();
        return viewOf(undefined, balance);
      }
      const current = readAlert(db, userId);
      if (current?.thresholdCredits === thresholdCredits) return viewOf(current, balance);
      const below = balance < thresholdCredits;
      const state = { thresholdCredits, firedAt: below ? now : null, firedTxId: below ? lastTxId(db, userId) : null, updatedAt: now };
      db.orm
        .insert(balanceAlerts)
        .values({ userId, ...state })
        .onConflictDoUpdate({ target: balanceAlerts.userId, set: state })
        .run();
      return viewOf(readAlert(db, userId), balance);
    })
    .immediate();
}

export type CheckOptions = { appUrl: string; now?: number };

/** The decision on one reading: what the alert should become. */
function transitionOf(db: AppDb, userId: number, alert: BalanceAlertRow, balance: number): "none" | "rearm" | "fire" {
  const below = balance < alert.thresholdCredits;
  if (alert.firedAt === null) return below ? "fire" : "none";
  if (!below) return "rearm";
  return wasBackAbove(db, userId, alert.firedTxId ?? 0, alert.thresholdCredits) ? "fire" : "none";
}

/**
 * The one check, run after a spend and on page loads: reads, and writes only when a transition is
 * due. The write re-reads inside BEGIN IMMEDIATE and updates only the state it read, so of many
 * checks racing over one crossing exactly one fires and queues the mail.
 */
export function checkBalanceAlert(db: AppDb, userId: number, options: CheckOptions): BalanceAlertCheck {
  const now = options.now ?? Date.now();
  const peek = readAlert(db, userId);
  if (!peek) return { ...viewOf(undefined, 0), transition: "none" };
  const peekBalance = getBalance(db, userId, now).balance;
  if (transitionOf(db, userId, peek, peekBalance) === "none") return { ...viewOf(peek, peekBalance), transition: "none" };
  return db.sqlite
    .transaction((): BalanceAlertCheck => {
      const alert = readAlert(db, userId);
      const balance = getBalance(db, userId, now).balance;
      if (!alert) return { ...viewOf(undefined, balance), transition: "none" };
      const due = transitionOf(db, userId, alert, balance);
      if (due === "none") return { ...viewOf(alert, balance), transition: "none" };
      const guard = and(
        eq(balanceAlerts.userId, userId),
        eq(balanceAlerts.thresholdCredits, alert.thresholdCredits),
        alert.firedAt === null ? isNull(balanceAlerts.firedAt) : eq(balanceAlerts.firedAt, alert.firedAt),
      );
      if (due === "rearm") {
        db.orm.update(balanceAlerts).set({ firedAt: null, firedTxId: null, updatedAt: now }).where(guard).run();
        return { ...viewOf(readAlert(db, userId), balance), transition: "rearmed" };
      }
      const claimed = db.orm.update(balanceAlerts).set({ firedAt: now, firedTxId: lastTxId(db, userId), updatedAt: now }).where(guard).run();
      if (claimed.changes !== 1) return { ...viewOf(readAlert(db, userId), balance), transition: "none" };
      const user = findUserByIdOnSqlite(db, userId);
      if (!user) throw new Error(`balance alert of user ${userId} has no users row`);
      // A deleted account keeps its row for the ledger but has no address to write to.
      const mailId = user.deletedAt === null ? enqueueMail(db, user.email, "balance_low", balanceLowMail(options.appUrl, balance, alert.thresholdCredits), now) : undefined;
      return { ...viewOf(readAlert(db, userId), balance), transition: "fired", mailId };
    })
    .immediate();
}
