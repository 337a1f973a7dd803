import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterEach, describe, expect, test } from "vitest";
import {
  PRICE,
  WEBHOOK_SECRET,
  startHarness,
  startWebhookReceiver,
  stripeClient,
  type Harness,
  type WebhookReceiver,
} from "../../tests/support/emulator-harness";
import { startStripeEmulator, type StripeEmulator } from "../src/index.server";
import type { DeliveryAttempt } from "../src/store.server";
import { signWebhookPayload } from "../src/webhooks.server";

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function harness(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(options);
  cleanups.push(() => h.close());
  return h;
}

async function deliveries(h: { driver: Harness["driver"] }, eventId?: string): Promise<DeliveryAttempt[]> {
  const query = eventId ? `?event_id=${eventId}` : "";
  return ((await (await h.driver(`/deliveries${query}`)).json()) as { data: DeliveryAttempt[] }).data;
}

describe("signatures", () => {
  test("every delivery carries a Stripe-Signature that stripe.webhooks.constructEvent accepts", async () => {
    const h = await harness();
    await h.paySession();

    expect(h.receiver.rejected).toEqual([]);
    expect(h.receiver.received.length).toBeGreaterThanOrEqual(3);
    for (const { rawBody, signature, event } of h.receiver.received) {
      expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(rawBody).toBe(JSON.stringify(event, null, 2));
      // One changed byte and the signature no longer holds.
      expect(() => h.stripe.webhooks.constructEvent(rawBody.replace('"livemode": false', '"livemode": true'), signature, WEBHOOK_SECRET)).toThrow(
        Stripe.errors.StripeSignatureVerificationError,
      );
      expect(() => h.stripe.webhooks.constructEvent(rawBody, signature, "whsec_other")).toThrow(
        Stripe.errors.StripeSignatureVerificationError,
      );
    }
  });

  test("signs exactly as the SDK's own test helper does", () => {
    const stripe = stripeClient(1);
    const payload = JSON.stringify({ id: "evt_1", object: "event" }, null, 2);
    const timestamp = 1_700_000_000;
    expect(signWebhookPayload(payload, WEBHOOK_SECRET, timestamp)).toBe(
      stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp }),
    );
  });
});

describe("delivery", () => {
  test("a receiver that answers 500 twice and then 200 gets the event three times", async () => {
    const h = await harness({
      respond: (event, deliveryNumber) => (event.type === "checkout.session.completed" && deliveryNumber <= 2 ? 500 : 200),
    });
    const session = await h.paySession();

    const copies = h.receiver.received.filter(({ event }) => event.type === "checkout.session.completed");
    expect(copies).toHaveLength(3);
    expect(new Set(copies.map(({ event }) => event.id)).size).toBe(1);
    expect(copies.every(({ event }) => (event.data.object as Stripe.Checkout.Session).id === session.id)).toBe(true);

    const eventId = copies[0].event.id;
    const attempts = await deliveries(h, eventId);
    expect(attempts.map((attempt) => attempt.statusCode)).toEqual([500, 500, 200]);
    expect(attempts.map((attempt) => attempt.attempt)).toEqual([1, 2, 3]);
    // Backoff follows the schedule [100, 200, 400] ms.
    expect(attempts[1].startedAt - attempts[0].startedAt).toBeGreaterThanOrEqual(95);
    expect(attempts[2].startedAt - attempts[1].startedAt).toBeGreaterThanOrEqual(195);

    const events = (await (await h.driver("/events?type=checkout.session.completed")).json()) as {
      data: Array<{ event: Stripe.Event; delivery: { status: string; attempts: number } }>;
    };
    expect(events.data[0].delivery).toMatchObject({ status: "delivered", attempts: 3 });
  });

  test("network errors are retried, and the event is marked failed when the schedule runs out", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/webhook`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const h = await harness({ emulator: { webhookUrl: deadUrl, retryScheduleMs: [20, 40] } });
    await h.stripe.customers.create({ email: "a@example.com" });
    await h.emulator.waitForDeliveries();

    const attempts = await deliveries(h);
    expect(attempts).toHaveLength(3);
    expect(attempts.every((attempt) => attempt.statusCode === null && attempt.error !== null)).toBe(true);
    const events = (await (await h.driver("/events")).json()) as {
      data: Array<{ delivery: { status: string; attempts: number } }>;
    };
    expect(events.data[0].delivery).toMatchObject({ status: "failed", attempts: 3 });
  });

  test("the payment does not wait for the webhook", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived = 0;
    const slow = createServer((req, res) => {
      arrived += 1;
      req.resume();
      void held.then(() => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          slow.close(() => resolve());
          slow.closeAllConnections();
        }),
    );
    const h = await harness({
      emulator: { webhookUrl: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook` },
    });

    const session = await h.createSession();
    const response = await h.pressButton(session, "pay");
    expect(response.status).toBe(303);
    await expect.poll(() => arrived).toBeGreaterThan(0);
    const pending = (await (await h.driver("/events?type=checkout.session.completed")).json()) as {
      data: Array<{ delivery: { status: string } }>;
    };
    expect(pending.data[0].delivery.status).toBe("pending");

    release();
    await h.emulator.waitForDeliveries();
    const done = (await (await h.driver("/events?type=checkout.session.completed")).json()) as {
      data: Array<{ delivery: { status: string } }>;
    };
    expect(done.data[0].delivery.status).toBe("delivered");
  });

  test("without a webhook URL, events are recorded but not sent", async () => {
    const h = await harness({ emulator: { webhookUrl: null } });
    await h.paySession();
    expect(h.receiver.received).toEqual([]);
    const events = (await (await h.driver("/events")).json()) as {
      data: Array<{ event: Stripe.Event; delivery: { status: string } }>;
    };
    expect(events.data.map(({ event }) => event.type)).toContain("checkout.session.completed");
    expect(events.data.every(({ delivery }) => delivery.status === "not_sent")).toBe(true);
    expect(events.data.every(({ event }) => event.pending_webhooks === 0)).toBe(true);
  });

  test("the test driver resends an event that was already delivered", async () => {
    const h = await harness();
    await h.paySession();
    const [completed] = h.receiver.eventsOfType("checkout.session.completed");

    const resend = await h.driver(`/events/${completed.id}/resend`, {});
    expect(resend.status).toBe(200);
    await h.emulator.waitForDeliveries();
    const copies = h.receiver.received.filter(({ event }) => event.id === completed.id);
    expect(copies).toHaveLength(2);
    expect(copies[1].event).toEqual(copies[0].event);
  });
});

describe("persistence", () => {
  test("a restart keeps sessions and charges, and resumes pending deliveries and delayed payments", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "stripe-emulator-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dbPath = path.join(dir, "stripe.sqlite");

    // First run: the app is down (500 on every delivery) with a retry due in 300 ms.
    const down = await startWebhookReceiver({ respond: () => 500 });
    cleanups.push(() => down.close());
    const first = await startStripeEmulator({
      dbPath,
      webhookUrl: down.url,
      webhookSecret: WEBHOOK_SECRET,
      prices: [PRICE],
      asyncPaymentDelayMs: 800,
      retryScheduleMs: [300],
    });
    let firstClosed = false;
    cleanups.push(() => (firstClosed ? undefined : first.close()));
    const stripe = stripeClient(first.port);
    const paid = await stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: PRICE.id, quantity: 1 }],
      success_url: "https://app.example/ok",
    });
    const delayed = await stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: PRICE.id, quantity: 1 }],
      success_url: "https://app.example/ok",
    });
    expect((await post(first, `/checkout/${paid.id}`, "action=pay")).status).toBe(303);
    expect((await post(first, `/checkout/${delayed.id}`, "action=delayed_success")).status).toBe(303);
    await expect.poll(() => down.eventsOfType("checkout.session.completed").length).toBe(2);
    const chargeId = (await stripe.paymentIntents.retrieve(
      (await stripe.checkout.sessions.retrieve(paid.id)).payment_intent as string,
    )).latest_charge as string;
    expect(await stripe.checkout.sessions.retrieve(delayed.id)).toMatchObject({ payment_status: "unpaid" });
    await first.close();
    firstClosed = true;

    // Second run on the same file: the app is up again.
    const up: WebhookReceiver = await startWebhookReceiver();
    cleanups.push(() => up.close());
    const second = await startStripeEmulator({
      dbPath,
      webhookUrl: up.url,
      webhookSecret: WEBHOOK_SECRET,
      prices: [PRICE],
      asyncPaymentDelayMs: 800,
      retryScheduleMs: [300],
    });
    cleanups.push(() => second.close());
    const restarted = stripeClient(second.port);

    expect(await restarted.checkout.sessions.retrieve(paid.id)).toMatchObject({ status: "complete", payment_status: "paid" });
    expect(await restarted.charges.retrieve(chargeId)).toMatchObject({ status: "succeeded", amount: 1000 });

    await second.waitForDeliveries();
    const completedIds = up.eventsOfType("checkout.session.completed").map((event) => event.id).sort();
    expect(completedIds).toEqual(
      down
        .eventsOfType("checkout.session.completed")
        .map((event) => event.id)
        .sort(),
    );
    expect(up.eventsOfType("checkout.session.async_payment_succeeded").map((event) => event.data.object.id)).toEqual([
      delayed.id,
    ]);
    expect(await restarted.checkout.sessions.retrieve(delayed.id)).toMatchObject({ payment_status: "paid" });
  });
});

function post(emulator: StripeEmulator, pathname: string, body: string): Promise<Response> {
  return fetch(`${emulator.publicUrl}${pathname}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body,
    redirect: "manual",
  });
}
