import crypto from "node:crypto";
import path from "node:path";
import Stripe from "stripe";
import type { Config } from "./env.server";
import { logger } from "./logger.server";
import {
  isLoopbackAddress,
  startStripeEmulator,
  type EmulatorPrice,
  type StripeEmulator,
} from "../../stripe-emulator/src/index.server";

/** Pinned: the shapes this code reads (and the emulator serves) are those of this version. */
export const STRIPE_API_VERSION = "2026-10-28.endive" as const;

export type StripeContext = {
  stripe: Stripe;
  webhookSecret: string;
  /** Set when payments go through the in-process emulator (test mode, no real money). */
  emulator: StripeEmulator | null;
};

/** host/port/protocol for the SDK from a base URL such as http://127.0.0.1:12111. */
export function stripeApiBaseOptions(base: string): { host: string; port: number; protocol: "http" | "https" } {
  const url = new URL(base);
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === "http" ? 80 : 443, protocol };
}

export function createStripeClient(secretKey: string, apiBase?: string): Stripe {
  return new Stripe(secretKey, {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: 2,
    timeout: 20_000,
    appInfo: { name: "credits-studio" },
    ...(apiBase ? stripeApiBaseOptions(apiBase) : {}),
  });
}

/**
 * The emulator's catalogue mirrors the configured packs and plans: one cent per credit for a pack,
 * so the default 500-credit pack costs $5.00 in test mode; a plan's month costs 80% of that.
 */
export function emulatorPrices(config: Pick<Config, "packs" | "plans">): EmulatorPrice[] {
  return [
    ...config.packs.map((p) => ({ id: p.priceId, unitAmount: p.credits, currency: "usd", productName: p.name })),
    ...config.plans.map((p) => ({
      id: p.priceId,
      unitAmount: Math.max(50, Math.round(p.credits * 0.8)),
      currency: "usd",
      productName: `${p.name} plan`,
      recurring: { interval: "month" as const },
    })),
  ];
}

let current: StripeContext | undefined;

export function getStripeContext(): StripeContext {
  if (!current) throw new Error("Stripe is not set up yet (the runtime starts it).");
  return current;
}

/** For tests that drive the services with their own client. */
export function setStripeContext(ctx: StripeContext | undefined): void {
  current = ctx;
}

export async function startStripe(config: Config): Promise<StripeContext> {
  if (!config.stripeEmulated) {
    current = {
      stripe: createStripeClient(config.STRIPE_SECRET_KEY!, config.STRIPE_API_BASE),
      webhookSecret: config.STRIPE_WEBHOOK_SECRET!,
      emulator: null,
    };
    return current;
  }
  // The emulator lives as long as this process; its webhook secret is made fresh each start
  // (it signs at delivery time, so a retry after a restart is signed with the new one).
  const webhookSecret = config.STRIPE_WEBHOOK_SECRET ?? `whsec_emulator${crypto.randomBytes(16).toString("hex")}`;
  // With a fixed STRIPE_EMULATOR_PORT (a container publishing it) the browser reaches the hosted
  // checkout on the app's host name; with a random port, on loopback (a developer's machine).
  // The emulator's API takes any test key and its driver no key at all, so they stay on loopback
  // whatever HOST says: a HOST reachable from the network gets a second, pages-only listener on
  // the published port, and the API moves to a free loopback port (HOST=0.0.0.0 already holds
  // 127.0.0.1 on that port).
  const fixedPort = config.STRIPE_EMULATOR_PORT !== 0;
  const exposed = fixedPort && !isLoopbackAddress(config.HOST);
  const emulator = await startStripeEmulator({
    host: "127.0.0.1",
    port: exposed ? 0 : config.STRIPE_EMULATOR_PORT,
    publicListener: exposed ? { host: config.HOST, port: config.STRIPE_EMULATOR_PORT } : undefined,
    publicUrl: fixedPort ? `http://${new URL(config.appUrl).hostname}:${config.STRIPE_EMULATOR_PORT}` : undefined,
    dbPath: path.join(config.DATA_DIR, "stripe-emulator.sqlite"),
    webhookUrl: `http://127.0.0.1:${config.PORT}/api/stripe/webhook`,
    webhookSecret,
    prices: emulatorPrices(config),
    log: (msg, fields) => logger.debug({ ...fields, component: "stripe-emulator" }, msg),
  });
  logger.warn(
    { checkout: emulator.publicUrl },
    "Stripe emulator running: TEST MODE, no real payments (set STRIPE_SECRET_KEY for real Stripe)",
  );
  current = {
    stripe: createStripeClient("sk_test_emulator", config.STRIPE_API_BASE ?? emulator.url),
    webhookSecret,
    emulator,
  };
  return current;
}

export async function stopStripe(): Promise<void> {
  const ctx = current;
  current = undefined;
  await ctx?.emulator?.close();
}
