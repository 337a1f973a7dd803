import http from "node:http";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { PLAN_BASIC, PLAN_PRO, startHarness, type Harness } from "../../tests/support/emulator-harness";
import { freePort } from "../../tests/support/server";

// 127.0.0.2 stands in for a public address (see listeners.test.ts).
const PUBLIC_HOST = "127.0.0.2";
const RETURN_URL = "https://app.example/billing";

let h: Harness;
let port: number;

beforeEach(async () => {
  port = await freePort();
  h = await startHarness({ emulator: { host: "127.0.0.1", port, publicListener: { host: PUBLIC_HOST, port } } });
});

afterEach(async () => {
  await h.close();
});

function publicRequest(method: string, path: string, body?: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "Content-Type": "application/x-www-form-urlencoded" };
    const req = http.request({ host: PUBLIC_HOST, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), location: res.headers.location }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function subscribedCustomer(price = PLAN_BASIC.id): Promise<{ customer: Stripe.Customer; subscription: Stripe.Subscription }> {
  const customer = await h.stripe.customers.create({ email: "ada@example.com" });
  const session = await h.stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price, quantity: 1 }], customer: customer.id });
  await h.driver(`/checkout/sessions/${session.id}/pay`, {});
  const paid = await h.stripe.checkout.sessions.retrieve(session.id);
  return { customer, subscription: await h.stripe.subscriptions.retrieve(paid.subscription as string) };
}

function portalPath(session: Stripe.BillingPortal.Session): string {
  return new URL(session.url).pathname;
}

describe("Customer Portal sessions", () => {
  test("POST /v1/billing_portal/sessions answers a session whose url is the emulator's portal page", async () => {
    const { customer } = await subscribedCustomer();
    const session = await h.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: RETURN_URL });
    expect(session.id).toMatch(/^bps_\w{24}$/);
    expect(session).toMatchObject({ object: "billing_portal.session", customer: customer.id, return_url: RETURN_URL, livemode: false });
    expect(session.url).toBe(`http://${PUBLIC_HOST}:${port}/portal/${session.id}`);
    const [created] = (await h.eventLog()).filter((event) => event.type === "billing_portal.session.created");
    expect(created.data.object).toMatchObject({ id: session.id });

    const missing = await h.stripe.billingPortal.sessions.create({ customer: "cus_nope" }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 400, code: "resource_missing", param: "customer" });
  });

  test("on the public listener the page switches the plan, cancels at period end and takes it back", async () => {
    const { customer, subscription } = await subscribedCustomer();
    const session = await h.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: RETURN_URL });
    const page = await publicRequest("GET", portalPath(session));
    expect(page.status).toBe(200);
    expect(page.body).toContain("Basic plan");
    expect(page.body).toContain("Pro plan");
    expect(page.body).toContain(`href="${RETURN_URL}"`);
    expect(page.body).not.toContain("100 credits"); // a one-time price is not a plan

    const before = (await h.eventLog()).length;
    const switched = await publicRequest(
      "POST",
      portalPath(session),
      new URLSearchParams({ action: "switch_plan", subscription: subscription.id, price: PLAN_PRO.id }).toString(),
    );
    expect(switched.status).toBe(303);
    expect(switched.location).toBe(`${portalPath(session)}?done=switch_plan`);
    expect((await h.stripe.subscriptions.retrieve(subscription.id)).items.data[0].price.id).toBe(PLAN_PRO.id);

    await publicRequest("POST", portalPath(session), new URLSearchParams({ action: "cancel", subscription: subscription.id }).toString());
    expect(await h.stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ cancel_at_period_end: true, status: "active" });
    const canceledPage = await publicRequest("GET", `${portalPath(session)}?done=cancel`);
    expect(canceledPage.body).toContain("will be canceled");

    await publicRequest("POST", portalPath(session), new URLSearchParams({ action: "renew", subscription: subscription.id }).toString());
    expect(await h.stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ cancel_at_period_end: false });

    const events = (await h.eventLog()).slice(before);
    expect(events.map((event) => event.type)).toEqual([
      "customer.subscription.updated",
      "customer.subscription.updated",
      "customer.subscription.updated",
    ]);
    expect(events.map((event) => event.data.previous_attributes && Object.keys(event.data.previous_attributes).sort())).toEqual([
      ["items"],
      ["cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details"],
      ["cancel_at", "cancel_at_period_end", "canceled_at", "cancellation_details"],
    ]);
    expect(events.every((event) => event.request?.id === null)).toBe(true);
  });

  test("a portal session acts on its own customer's subscriptions only; an unknown session is a 404", async () => {
    const ada = await subscribedCustomer();
    const bob = await subscribedCustomer(PLAN_PRO.id);
    const session = await h.stripe.billingPortal.sessions.create({ customer: ada.customer.id });
    const page = await publicRequest("GET", portalPath(session));
    expect(page.body).toContain(ada.subscription.id);
    expect(page.body).not.toContain(bob.subscription.id);

    const attack = await publicRequest(
      "POST",
      portalPath(session),
      new URLSearchParams({ action: "cancel", subscription: bob.subscription.id }).toString(),
    );
    expect(attack.status).toBe(404);
    expect(await h.stripe.subscriptions.retrieve(bob.subscription.id)).toMatchObject({ cancel_at_period_end: false });
    expect((await publicRequest("GET", "/portal/bps_unknown")).status).toBe(404);
  });
});

describe("the test clock page", () => {
  test("is on loopback only, and its button moves the subscription to its next period", async () => {
    const { subscription } = await subscribedCustomer();
    const path = `/__emulator/pages/subscriptions/${subscription.id}`;
    expect((await publicRequest("GET", path)).status).toBe(404);
    expect((await publicRequest("POST", path, "action=advance")).status).toBe(404);

    const page = await fetch(`${h.emulator.url}${path}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Advance to next period");
    const list = await (await fetch(`${h.emulator.url}/__emulator/pages/subscriptions`)).text();
    expect(list).toContain(subscription.id);

    const pressed = await fetch(`${h.emulator.url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "action=advance_failed",
      redirect: "manual",
    });
    expect(pressed.status).toBe(303);
    const renewed = await h.stripe.subscriptions.retrieve(subscription.id);
    expect(renewed.status).toBe("past_due");
    expect(renewed.items.data[0].current_period_start).toBe(subscription.items.data[0].current_period_end);
  });
});
