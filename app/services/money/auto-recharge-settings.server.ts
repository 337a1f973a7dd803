/**
 * A user's auto-recharge settings, as the billing page and GET/PUT /api/auto-recharge show them.
 * Input shapes are checked at the boundary (utils/auto-recharge-schemas.ts); here the rules that
 * need the config and the database: the pack must exist, switching on needs a saved card.
 * On the executor (decision 036): PortableDb, one SQL text for both engines.
 */
import type { z } from "zod";
import type { PortableDb } from "#db/client.server";
import type { AutoRechargeJsonSchema } from "~/utils/auto-recharge-schemas";
import type { Config } from "../env.server";
import { inWrite, type SqlTarget } from "../sql-target.server";
import { monthlyUse, readRechargeSettings, readSavedCard } from "./auto-recharge.server";
import { findPack } from "./pricing.server";

/** The settings as the API's schema gives them (the form's maps onto the same). */
export type AutoRechargeInput = z.output<typeof AutoRechargeJsonSchema>;

export type AutoRechargeView = {
  enabled: boolean;
  thresholdCredits: number | null;
  pack: string | null;
  maxRechargesPerMonth: number | null;
  maxAmountPerMonth: number | null;
  /** Set when the app switched it off (three failures in a row); null otherwise. */
  switchedOffReason: string | null;
  consecutiveFailures: number;
  thisMonth: { recharges: number; amount: number };
  card: { brand: string; last4: string } | null;
};

export async function getAutoRecharge(db: PortableDb, userId: number, now = Date.now()): Promise<AutoRechargeView> {
  const [row, card, used] = await Promise.all([readRechargeSettings(db, userId), readSavedCard(db, userId), monthlyUse(db, userId, now)]);
  return {
    enabled: row?.enabled ?? false,
    thresholdCredits: row?.thresholdCredits ?? null,
    pack: row?.packId ?? null,
    maxRechargesPerMonth: row?.maxRechargesPerMonth ?? null,
    maxAmountPerMonth: row?.maxAmountPerMonth ?? null,
    switchedOffReason: row?.disabledReason ?? null,
    consecutiveFailures: row?.consecutiveFailures ?? 0,
    thisMonth: { recharges: used.count, amount: used.amount },
    card: card ? { brand: card.brand, last4: card.last4 } : null,
  };
}

export type SaveRefusal = { ok: false; reason: "unknown_pack" | "no_saved_card"; field: string; message: string };

/** Saves the settings. Switching on (again) starts the failure count over and clears the app's
 * "switched off" note: the user says the card works now. The card check and the upsert are one
 * body, so a card forgotten meanwhile (a detach webhook) cannot be switched on. */
export async function saveAutoRecharge(
  db: PortableDb,
  config: Pick<Config, "packs">,
  userId: number,
  input: AutoRechargeInput,
): Promise<{ ok: true; view: AutoRechargeView } | SaveRefusal> {
  if (!findPack(config, input.pack)) return { ok: false, reason: "unknown_pack", field: "pack", message: `Unknown pack "${input.pack}".` };
  const now = Date.now();
  const refused = await db.sql.write(async (tx): Promise<SaveRefusal | null> => {
    if (input.enabled && !(await readSavedCard(tx, userId))) {
      return { ok: false, reason: "no_saved_card", field: "enabled", message: "Save a card first: auto-recharge pays with your saved card." };
    }
    const values = {
      userId,
      enabled: input.enabled ? 1 : 0,
      threshold: input.thresholdCredits,
      packId: input.pack,
      maxCount: input.maxRechargesPerMonth,
      maxAmount: input.maxAmountPerMonth,
      now,
    };
    // Switching on resets the failure count and the app's note; switching off keeps them.
    const reset = input.enabled ? ", consecutive_failures = 0, disabled_reason = NULL" : "";
    await tx.run(
      `INSERT INTO auto_recharge_settings (user_id, enabled, threshold_credits, pack_id, max_recharges_per_month, max_amount_per_month, updated_at)
       VALUES (@userId, @enabled, @threshold, @packId, @maxCount, @maxAmount, @now)
       ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, threshold_credits = excluded.threshold_credits, pack_id = excluded.pack_id,
         max_recharges_per_month = excluded.max_recharges_per_month, max_amount_per_month = excluded.max_amount_per_month,
         updated_at = excluded.updated_at${reset}`,
      values,
    );
    return null;
  });
  if (refused) return refused;
  return { ok: true, view: await getAutoRecharge(db, userId, now) };
}

/** A deleted account: auto-recharge off and the card forgotten, in the deletion's body (pass its
 * `tx`), so nothing is ever charged for a person who is gone (the Stripe Customer stays, for refunds). */
export async function forgetAutoRechargeOf(target: SqlTarget, userId: number, now = Date.now()): Promise<void> {
  await inWrite(target, async (tx) => {
    await tx.run("UPDATE auto_recharge_settings SET enabled = 0, disabled_reason = 'account_deleted', updated_at = ? WHERE user_id = ?", [now, userId]);
    await tx.run("DELETE FROM saved_cards WHERE user_id = ?", [userId]);
  });
}
