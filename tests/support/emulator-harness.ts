import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import {
  EMULATED_API_VERSION,
  startStripeEmulator,
  type StripeEmulator,
  type StripeEmulatorOptions,
} from "../../stripe-emulator/src/index.server";

/**
 * Test harness for the emulator's own tests: an emulator on a free port, the REAL stripe SDK
 * pointed at it, and a small webhook receiver that verifies every delivery with
 * `stripe.webhooks.constructEvent`, as the app does.
 */

/** The version the SDK clients here pin: the one the emulator speaks. */
export const API_VERSION = EMULATED_API_VERSION;
export const WEBHOOK_SECRET = "whsec_emulator_test_secret";
export const PRICE = { id: "price_test_credits_100", unitAmount: 1000, currency: "usd", productName: "100 credits" };
export const EUR_PRICE = { id: "price_test_credits_eur", unitAmount: 900, currency: "eur", productName: "100 credits (EUR)" };
/** Monthly plans (recurring prices) for subscription-mode Checkout and the Customer Portal. */
export const PLAN_BASIC = {
  id: "price_test_plan_basic",
  unitAmount: 900,
  currency: "usd",
  productName: "Basic plan",
  recurring: { interval: "month" as const, interval_count: 1 },
};
export const PLAN_PRO = {
  id: "price_test_plan_pro",
  unitAmount: 2900,
  currency: "usd",
  productName: "Pro plan",
  recurring: { interval: "month" as const, interval_count: 1 },
};
export const SUCCESS_URL = "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}";
export const CANCEL_URL = "https://app.example/billing?cancelled=1";

export function stripeClient(port: number, key = "sk_test_emulator"): Stripe {
  return new Stripe(key, { apiVersion: API_VERSION, host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0 });
}

export type ReceivedWebhook = { event: Stripe.Event; rawBody: string; signature: string };

/** Answers each delivery with the status `respond` picks (200 by default), after verifying it. */
export async function startWebhookReceiver(
  options: { secret?: string; respond?: (event: Stripe.Event, deliveryNumber: number) => number } = {},
) {
  const secret = options.secret ?? WEBHOOK_SECRET;
  const verifier = stripeClient(1);
  const received: ReceivedWebhook[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const signature = String(req.headers["stripe-signature"] ?? "");
      let event: Stripe.Event;
      try {
        event = verifier.webhooks.constructEvent(rawBody, signature, secret);
      } catch (error) {
        rejected.push(error instanceof Error ? error.message : String(error));
        res.writeHead(400).end("bad signature");
        return;
      }
      received.push({ event, rawBody, signature });
      const deliveryNumber = received.filter((item) => item.event.id === event.id).length;
      const status = options.respond?.(event, deliveryNumber) ?? 200;
      res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify({ received: status < 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/stripe/webhook`,
    received,
    rejected,
    /** Distinct events of a type, in the order they first arrived. */
    eventsOfType<T extends Stripe.Event["type"]>(type: T): Array<Extract<Stripe.Event, { type: T }>> {
      const seen = new Set<string>();
      const events: Array<Extract<Stripe.Event, { type: T }>> = [];
      for (const { event } of received) {
        if (event.type !== type || seen.has(event.id)) continue;
        seen.add(event.id);
        events.push(event as Extract<Stripe.Event, { type: T }>);
      }
      return events;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

export type Harness = {
  emulator: StripeEmulator;
  stripe: Stripe;
  receiver: WebhookReceiver;
  createSession(params?: Partial<Stripe.Checkout.SessionCreateParams>): Promise<Stripe.Checkout.Session>;
  /**
   * Presses a button of the hosted checkout page, as a browser without JavaScript would, with the
   * form's other fields (`{ card: "4000002760003184" }`, the page's test card select).
   */
  pressButton(session: Stripe.Checkout.Session, action: string, fields?: Record<string, string>): Promise<Response>;
  /** Pays a session through the hosted page and waits for every webhook. */
  paySession(params?: Partial<Stripe.Checkout.SessionCreateParams>): Promise<Stripe.Checkout.Session>;
  driver(path: string, body?: unknown): Promise<Response>;
  /** Every event recorded so far, oldest first (the order the emulator emitted them in). */
  eventLog(): Promise<Stripe.Event[]>;
  close(): Promise<void>;
};

export async function startHarness(
  options: {
    emulator?: Partial<StripeEmulatorOptions>;
    respond?: (event: Stripe.Event, deliveryNumber: number) => number;
  } = {},
): Promise<Harness> {
  const receiver = await startWebhookReceiver({ respond: options.respond });
  const emulator = await startStripeEmulator({
    dbPath: ":memory:",
    webhookUrl: receiver.url,
    webhookSecret: WEBHOOK_SECRET,
    prices: [PRICE, EUR_PRICE, PLAN_BASIC, PLAN_PRO],
    // Delayed payments settle only when a test asks (driver) or sets a short delay itself.
    asyncPaymentDelayMs: 60_000,
    retryScheduleMs: [100, 200, 400],
    ...options.emulator,
  });
  const stripe = stripeClient(emulator.port);

  const createSession: Harness["createSession"] = (params = {}) =>
    stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: PRICE.id, quantity: 1 }],
      client_reference_id: "7",
      metadata: { userId: "7" },
      success_url: SUCCESS_URL,
      cancel_url: CANCEL_URL,
      ...params,
    });

  const pressButton: Harness["pressButton"] = (session, action, fields = {}) =>
    fetch(session.url ?? `${emulator.publicUrl}/checkout/${session.id}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...fields, action }).toString(),
      redirect: "manual",
    });

  return {
    emulator,
    stripe,
    receiver,
    createSession,
    pressButton,
    async paySession(params) {
      const session = await createSession(params);
      const response = await pressButton(session, "pay");
      if (response.status !== 303) throw new Error(`Paying ${session.id} answered ${response.status}`);
      await emulator.waitForDeliveries();
      return stripe.checkout.sessions.retrieve(session.id);
    },
    driver(path, body) {
      return fetch(`${emulator.url}/__emulator${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    async eventLog() {
      const response = await fetch(`${emulator.url}/__emulator/events?limit=1000`);
      const body = (await response.json()) as { data: Array<{ event: Stripe.Event }> };
      return body.data.map((record) => record.event).reverse();
    },
    async close() {
      await emulator.close();
      await receiver.close();
    },
  };
}
