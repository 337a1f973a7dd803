/**
 * npx tsx scripts/stripe-emulator.ts — runs the local Stripe emulator on its own, for manual testing
 * (the app normally starts it in-process when no Stripe keys are configured).
 *
 *   STRIPE_EMULATOR_PORT=12111                  port to listen on (0 = any free port)
 *   STRIPE_EMULATOR_HOST=127.0.0.1              loopback address for the API, driver and pages
 *   STRIPE_EMULATOR_PUBLIC_HOST=                an address for browsers elsewhere (e.g. 0.0.0.0): a second
 *   STRIPE_EMULATOR_PUBLIC_PORT=12112           listener that serves only the checkout and receipt pages
 *   STRIPE_EMULATOR_PUBLIC_URL=                 base URL browsers use (default http://host:port)
 *   STRIPE_EMULATOR_DB=:memory:                 SQLite file for its state (e.g. ./data/stripe-emulator.sqlite)
 *   STRIPE_EMULATOR_WEBHOOK_URL=                where to POST events (default $APP_URL/api/stripe/webhook
 *                                               when APP_URL is set, else events are only recorded)
 *   STRIPE_WEBHOOK_SECRET=whsec_emulator_local  secret the Stripe-Signature header is made with
 *   STRIPE_PRICE_ID_CREDITS_PACK=price_emulator_credits_pack
 *   STRIPE_EMULATOR_PRICE_AMOUNT=1000           unit amount in the smallest currency unit
 *   STRIPE_EMULATOR_CURRENCY=usd
 *   STRIPE_EMULATOR_PRODUCT_NAME="Credit pack"
 *   STRIPE_EMULATOR_PRICES='[{"id":"price_a","unitAmount":500,"currency":"usd","productName":"Small"}]'
 *                                               several prices at once (replaces the four above);
 *                                               a plan: add "recurring":{"interval":"month"}
 *   STRIPE_EMULATOR_ASYNC_DELAY_MS=2000         how long a delayed payment takes to settle
 */
import { z } from "zod";
import { startStripeEmulator, type EmulatorPrice } from "../stripe-emulator/src/index.server";

const PriceList = z.array(
  z.object({
    id: z.string().min(1),
    unitAmount: z.number().int().min(0),
    currency: z.string().length(3),
    productName: z.string().min(1),
    recurring: z
      .object({ interval: z.enum(["day", "week", "month", "year"]), interval_count: z.number().int().min(1).optional() })
      .optional(),
  }),
);

const Env = z.object({
  STRIPE_EMULATOR_PORT: z.coerce.number().int().min(0).max(65_535).default(12_111),
  STRIPE_EMULATOR_HOST: z.string().min(1).default("127.0.0.1"),
  STRIPE_EMULATOR_PUBLIC_HOST: z.string().min(1).optional(),
  STRIPE_EMULATOR_PUBLIC_PORT: z.coerce.number().int().min(0).max(65_535).default(12_112),
  STRIPE_EMULATOR_PUBLIC_URL: z.string().url().optional(),
  STRIPE_EMULATOR_DB: z.string().min(1).default(":memory:"),
  STRIPE_EMULATOR_WEBHOOK_URL: z.string().url().optional(),
  APP_URL: z.string().url().optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).default("whsec_emulator_local"),
  STRIPE_PRICE_ID_CREDITS_PACK: z.string().min(1).default("price_emulator_credits_pack"),
  STRIPE_EMULATOR_PRICE_AMOUNT: z.coerce.number().int().min(0).default(1000),
  STRIPE_EMULATOR_CURRENCY: z.string().length(3).default("usd"),
  STRIPE_EMULATOR_PRODUCT_NAME: z.string().min(1).default("Credit pack"),
  STRIPE_EMULATOR_PRICES: z
    .string()
    .transform((value, ctx) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be a JSON array of prices" });
        return z.NEVER;
      }
    })
    .pipe(PriceList)
    .optional(),
  STRIPE_EMULATOR_ASYNC_DELAY_MS: z.coerce.number().int().min(0).default(2000),
});

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) console.error(`stripe-emulator: ${issue.path.join(".")}: ${issue.message}`);
    process.exit(2);
  }
  const env = parsed.data;
  const prices: EmulatorPrice[] = env.STRIPE_EMULATOR_PRICES ?? [
    {
      id: env.STRIPE_PRICE_ID_CREDITS_PACK,
      unitAmount: env.STRIPE_EMULATOR_PRICE_AMOUNT,
      currency: env.STRIPE_EMULATOR_CURRENCY,
      productName: env.STRIPE_EMULATOR_PRODUCT_NAME,
    },
  ];
  const webhookUrl =
    env.STRIPE_EMULATOR_WEBHOOK_URL ?? (env.APP_URL ? `${env.APP_URL.replace(/\/+$/, "")}/api/stripe/webhook` : null);

  const emulator = await startStripeEmulator({
    host: env.STRIPE_EMULATOR_HOST,
    port: env.STRIPE_EMULATOR_PORT,
    publicListener: env.STRIPE_EMULATOR_PUBLIC_HOST
      ? { host: env.STRIPE_EMULATOR_PUBLIC_HOST, port: env.STRIPE_EMULATOR_PUBLIC_PORT }
      : undefined,
    publicUrl: env.STRIPE_EMULATOR_PUBLIC_URL,
    dbPath: env.STRIPE_EMULATOR_DB,
    webhookUrl,
    webhookSecret: env.STRIPE_WEBHOOK_SECRET,
    prices,
    asyncPaymentDelayMs: env.STRIPE_EMULATOR_ASYNC_DELAY_MS,
    log: (msg, fields) => {
      if (msg === "stripe-emulator: request") {
        console.log(`${String(fields?.method)} ${String(fields?.path)} -> ${String(fields?.status)}`);
      } else {
        console.log(msg, fields ? JSON.stringify(fields) : "");
      }
    },
  });

  console.log(`
Stripe emulator (test mode, no real payments) listening on ${emulator.url}
  API:       ${emulator.url}/v1   (any sk_test_... key)
  Pages:     ${emulator.publicUrl}/checkout/<session id>
  Webhooks:  ${webhookUrl ?? "not sent (set STRIPE_EMULATOR_WEBHOOK_URL or APP_URL)"}
  Prices:    ${prices.map((price) => `${price.id} (${price.unitAmount} ${price.currency})`).join(", ")}
  Driver:    ${emulator.url}/__emulator/events, /__emulator/deliveries

  new Stripe("sk_test_emulator", { host: "${emulator.host}", port: ${emulator.port}, protocol: "http" })
`);

  const stop = (signal: string) => {
    console.log(`stripe-emulator: ${signal}, stopping`);
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((error: unknown) => {
  console.error("stripe-emulator: failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});
