/**
 * A user's auto-recharge settings, as the billing page and GET/PUT /api/auto-recharge show them.
 * Input shapes are checked at the boundary (utils/auto-recharge-schemas.ts); here the rules that
 * need the config and the database: the pack must exist, switching on needs a saved card.
 */
import { eq } from "drizzle-orm";
import type { z } from "zod";
import type { AppDb } from "#db/client.server";
import { autoRechargeSettings, savedCards } from "#db/schema";
import type { AutoRechargeJsonSchema } from "~/utils/auto-recharge-schemas";
import type { Config } from "../env.server";
import { monthlyUse } from "./auto-recharge.server";
import { findPack } from "./pricing.server";
import { getSavedCard } from "./saved-cards.server";

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

export function getAutoRecharge(db: AppDb, userId: number, now = Date.now()): AutoRechargeView {
  const row = db.orm.select().from(autoRechargeSettings).where(eq(autoRechargeSettings.userId, userId)).get();
  const card = getSavedCard(db, userId);
  const used = monthlyUse(db, userId, now);
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
 * "switched off" note: the user says the card works now. */
export function saveAutoRecharge(db: AppDb, config: Pick<Config, "packs">, userId: number, input: AutoRechargeInput): { ok: true; view: AutoRechargeView } | SaveRefusal {
  if (!findPack(config, input.pack)) return { ok: false, reason: "unknown_pack", field: "pack", message: `Unknown pack "${input.pack}".` };
  if (input.enabled && !getSavedCard(db, userId)) {
    return { ok: false, reason: "no_saved_card", field: "enabled", message: "Save a card first: auto-recharge pays with your saved card." };
  }
  const now = Date.now();
  const values = {
    enabled: input.enabled,
    thresholdCredits: input.thresholdCredits,
    packId: input.pack,
    maxRechargesPerMonth: input.maxRechargesPerMonth,
    maxAmountPerMonth: input.maxAmountPerMonth,
    updatedAt: now,
    ...(input.enabled ? { consecutiveFailures: 0, disabledReason: null } : {}),
  };
  db.sqlite
    .transaction(() => {
      db.orm.insert(autoRechargeSettings).values({ userId, ...values }).onConflictDoUpdate({ target: autoRechargeSettings.userId, set: values }).run();
    })
    .immediate();
  return { ok: true, view: getAutoRecharge(db, userId, now) };
}

/** A deleted account: auto-recharge off and the card forgotten, in the deletion's transaction, so
 * nothing is ever charged for a person who is gone (the Stripe Customer stays, for refunds). */
export function forgetAutoRechargeOf(db: AppDb, userId: number, now = Date.now()): void {
  db.orm.update(autoRechargeSettings).set({ enabled: false, disabledReason: "account_deleted", updatedAt: now }).where(eq(autoRechargeSettings.userId, userId)).run();
  db.orm.delete(savedCards).where(eq(savedCards.userId, userId)).run();
}
