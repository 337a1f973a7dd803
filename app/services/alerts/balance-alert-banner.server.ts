/**
 * What the app layout shows about the balance alert: the balance and threshold while below it,
 * else null. Each page load is also a check (checkBalanceAlert): it re-arms an alert the balance
 * is back above, and fires one a spend-free fall (an expiry, an admin's correction) went below.
 * A busy database must not fail the page for a banner: then it only reads.
 */
import { isDatabaseBusy, type PortableDb } from "#db/client.server";
import { logger } from "../logger.server";
import { checkBalanceAlert, getBalanceAlert, type BalanceAlertView } from "./balance-alerts.server";

export type BalanceAlertBannerData = { balance: number; thresholdCredits: number } | null;

function bannerOf(view: BalanceAlertView): BalanceAlertBannerData {
  return view.thresholdCredits !== null && view.below ? { balance: view.balance, thresholdCredits: view.thresholdCredits } : null;
}

export async function balanceAlertBannerOf(db: PortableDb, userId: number, appUrl: string): Promise<BalanceAlertBannerData> {
  try {
    return bannerOf(await checkBalanceAlert(db, userId, { appUrl }));
  } catch (error) {
    if (!isDatabaseBusy(error)) throw error;
    logger.warn({ err: error, userId }, "balance alert check met a busy database; showing the banner from a read");
    return bannerOf(await getBalanceAlert(db, userId));
  }
}
