import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { createEmulatedAccount } from "./account.server";
import { createActivityTracker, createScheduler } from "./activity.server";
import { createApiHandler } from "./api-routes.server";
import { createDriverHandler } from "./driver-routes.server";
import { createBillingPages } from "./billing-pages.server";
import { createHostedPages } from "./hosted-pages.server";
import { createRequestListener, isLoopbackAddress, type EmulatorHandlers } from "./http-server.server";
import { openEmulatorStore } from "./store.server";
import { DEFAULT_RETRY_SCHEDULE_MS, createWebhookDispatcher } from "./webhooks.server";

export { EMULATED_API_VERSION } from "./api-version.server";
export { isLoopbackAddress } from "./http-server.server";

/**
 * A local Stripe: the `/v1` API the stripe SDK calls (customers, Checkout Sessions, prices,
 * PaymentIntents, charges, refunds, events), a hosted checkout page, signed webhooks with retries,
 * and test driver endpoints, persisted in its own SQLite file. The app starts it in-process when
 * no real Stripe keys are configured. Why and what it covers: docs/decisions/005-stripe-emulator.md.
 */

export type EmulatorPrice = {
  id: string;
  unitAmount: number;
  currency: string;
  productName: string;
  /** A subscription's price (Checkout `mode=subscription`); omitted for a one-time price. */
  recurring?: { interval: RecurringInterval; interval_count?: number };
};

export type RecurringInterval = "day" | "week" | "month" | "year";

export type StripeEmulatorOptions = {
  /** Where the API, the driver and the pages listen: a loopback address only (default 127.0.0.1). */
  host?: string;
  port?: number; // 0 = pick a free port
  /**
   * A second listener, for browsers on other machines: it serves only the hosted checkout and
   * receipt pages (never `/v1` or `/__emulator`). Omit it when browsers run on this machine.
   */
  publicListener?: { host: string; port: number };
  publicUrl?: string; // base URL the browser uses to reach the pages (default http://host:port)
  dbPath: string; // SQLite file or ':memory:'
  webhookUrl: string | null; // where to POST events (null = record only)
  webhookSecret: string; // whsec_...
  prices: EmulatorPrice[];
  asyncPaymentDelayMs?: number;
  retryScheduleMs?: number[];
  log?: (msg: string, fields?: Record<string, unknown>) => void;
};

export type StripeEmulator = {
  /** Base URL of the API (`${url}/v1/...`), e.g. http://127.0.0.1:41234. */
  url: string;
  host: string;
  port: number;
  /** Base URL of the pages the browser sees (hosted checkout, receipts). */
  publicUrl: string;
  /** The pages-only listener, when one was asked for. */
  publicListener: { host: string; port: number } | null;
  close(): Promise<void>; // stops the server and pending retries
  waitForDeliveries(): Promise<void>; // resolves when no delivery is in flight or scheduled (for tests)
};

export const DEFAULT_ASYNC_PAYMENT_DELAY_MS = 2_000;

const OptionsSchema = z.object({
  host: z
    .string()
    .min(1)
    .refine(isLoopbackAddress, "the API and the test driver listen on a loopback address only; use publicListener for browsers elsewhere")
    .default("127.0.0.1"),
  port: z.number().int().min(0).max(65_535).default(0),
  publicListener: z
    .object({ host: z.string().min(1), port: z.number().int().min(0).max(65_535) })
    .strict()
    .optional(),
  publicUrl: z.string().url().optional(),
  dbPath: z.string().min(1),
  webhookUrl: z.string().url().nullable(),
  webhookSecret: z.string().min(1),
  prices: z
    .array(
      z.object({
        id: z.string().min(1),
        unitAmount: z.number().int().min(0),
        currency: z
          .string()
          .regex(/^[a-zA-Z]{3}$/, "a three-letter ISO currency code")
          .transform((value) => value.toLowerCase()),
        productName: z.string().min(1),
        recurring: z
          .object({
            interval: z.enum(["day", "week", "month", "year"]),
            interval_count: z.number().int().min(1).max(12).default(1),
          })
          .strict()
          .optional(),
      }),
    )
    .refine((prices) => new Set(prices.map((price) => price.id)).size === prices.length, "price ids must be unique"),
  asyncPaymentDelayMs: z.number().int().min(0).default(DEFAULT_ASYNC_PAYMENT_DELAY_MS),
  retryScheduleMs: z.array(z.number().int().min(0)).default(DEFAULT_RETRY_SCHEDULE_MS),
});

/** How often open sessions past their `expires_at` are expired (they also expire when read). */
const EXPIRY_SWEEP_MS = 60_000;

export async function startStripeEmulator(options: StripeEmulatorOptions): Promise<StripeEmulator> {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "options"}: ${issue.message}`);
    throw new Error(`Invalid Stripe emulator options: ${problems.join("; ")}`);
  }
  const config = parsed.data;
  const log = options.log ?? (() => undefined);
  const now = () => Date.now();

  const store = openEmulatorStore(config.dbPath);
  let handlers: EmulatorHandlers | null = null;
  const server = createServer(createRequestListener(() => handlers, log, "loopback"));
  const publicServer = config.publicListener
    ? createServer(createRequestListener(() => handlers, log, "public"))
    : null;
  try {
    await listen(server, config.port, config.host);
    if (publicServer && config.publicListener) {
      await listen(publicServer, config.publicListener.port, config.publicListener.host);
    }
  } catch (error) {
    await Promise.all([closeServer(server), publicServer ? closeServer(publicServer) : undefined]);
    store.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = baseUrl(config.host, port);
  const publicListener =
    publicServer && config.publicListener
      ? { host: config.publicListener.host, port: (publicServer.address() as AddressInfo).port }
      : null;
  const publicUrl = (config.publicUrl ?? (publicListener ? baseUrl(publicListener.host, publicListener.port) : url)).replace(
    /\/+$/,
    "",
  );

  const activity = createActivityTracker();
  const scheduler = createScheduler(activity, (key, error) =>
    log("stripe-emulator: background job failed", {
      job: key,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    }),
  );
  const dispatcher = createWebhookDispatcher({
    store,
    webhookUrl: config.webhookUrl,
    webhookSecret: config.webhookSecret,
    retryScheduleMs: config.retryScheduleMs,
    activity,
    scheduler,
    now,
    log,
  });
  const account = createEmulatedAccount({
    store,
    dispatcher,
    scheduler,
    publicUrl,
    asyncPaymentDelayMs: config.asyncPaymentDelayMs,
    now,
    log,
  });
  account.syncCatalog(config.prices);
  handlers = {
    api: createApiHandler({ account, store, now }),
    driver: createDriverHandler({ account, store, dispatcher }),
    pages: createHostedPages({ account, asyncPaymentDelayMs: config.asyncPaymentDelayMs }),
    billingPages: createBillingPages({ account }),
  };

  // Pick up where a previous run stopped.
  account.expireDueSessions();
  account.resumeAsyncPayments();
  dispatcher.resumePending();
  const sweep = setInterval(() => {
    try {
      account.expireDueSessions();
    } catch (error) {
      log("stripe-emulator: expiry sweep failed", { error: String(error) });
    }
  }, EXPIRY_SWEEP_MS);
  sweep.unref();

  log("stripe-emulator: started", {
    url,
    publicUrl,
    publicListener,
    dbPath: config.dbPath,
    webhookUrl: config.webhookUrl,
    prices: config.prices.map((price) => price.id),
  });

  let closing: Promise<void> | null = null;
  return {
    url,
    host: config.host,
    port,
    publicUrl,
    publicListener,
    waitForDeliveries: () => activity.whenIdle(),
    close() {
      closing ??= (async () => {
        clearInterval(sweep);
        scheduler.cancelAll();
        dispatcher.close();
        await Promise.all([closeServer(server), publicServer ? closeServer(publicServer) : undefined]);
        await activity.whenIdle();
        store.close();
        log("stripe-emulator: stopped", { url });
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function baseUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
