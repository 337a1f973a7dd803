import http from "node:http";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { startStripeEmulator } from "../src/index.server";
import { PRICE, WEBHOOK_SECRET, startHarness, type Harness } from "../../tests/support/emulator-harness";
import { freePort } from "../../tests/support/server";

// The API takes any test-mode key and the driver no key at all: neither may be reachable from the
// network. 127.0.0.2 stands in for a public address here (all of 127.0.0.0/8 is local on Linux,
// but it is a different address from the 127.0.0.1 the API binds, so what answers on it is the
// public listener and nothing else).
const PUBLIC_HOST = "127.0.0.2";

let h: Harness;
let port: number;

beforeEach(async () => {
  port = await freePort();
  h = await startHarness({
    emulator: { host: "127.0.0.1", port, publicListener: { host: PUBLIC_HOST, port } },
  });
});

afterEach(async () => {
  await h.close();
});

/** A raw request to the public listener, with whatever Host header the caller claims. */
function publicRequest(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: PUBLIC_HOST, port, method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }),
      );
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const AUTH = { Authorization: "Bearer sk_test_anyone" };

describe("with a fixed port and a public listener", () => {
  test("the API and the driver answer on loopback", async () => {
    expect(h.emulator.url).toBe(`http://127.0.0.1:${port}`);
    expect(h.emulator.publicListener).toEqual({ host: PUBLIC_HOST, port });
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    expect(customer.id).toMatch(/^cus_/);
    const events = await h.driver("/events");
    expect(events.status).toBe(200);
  });

  test("the public listener refuses the driver and the API", async () => {
    const charge = await paidCharge();
    await h.stripe.customers.create({ email: "ada@example.com" });

    const events = await publicRequest("GET", "/__emulator/events");
    expect(events.status).toBe(404);
    expect(events.body).not.toContain("ada@example.com");

    const dispute = await publicRequest("POST", `/__emulator/charges/${charge}/disputes`, {
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(dispute.status).toBe(404);
    expect(await h.stripe.charges.retrieve(charge)).toMatchObject({ disputed: false });

    const customers = await publicRequest("POST", "/v1/customers", {
      headers: { ...AUTH, "Content-Type": "application/x-www-form-urlencoded" },
      body: "email=mallory%40example.com",
    });
    expect(customers.status).toBe(404);
    expect((await publicRequest("GET", `/v1/charges/${charge}`, { headers: AUTH })).status).toBe(404);
    expect((await publicRequest("GET", "/__emulator/health")).status).toBe(404);
    expect((await publicRequest("GET", "/")).status).toBe(404);
  });

  test("a spoofed Host header does not turn the public listener into the loopback one", async () => {
    for (const host of ["127.0.0.1", `127.0.0.1:${port}`, "localhost"]) {
      const events = await publicRequest("GET", "/__emulator/events", { headers: { Host: host } });
      expect(events.status).toBe(404);
      const api = await publicRequest("GET", "/v1/events", { headers: { Host: host, ...AUTH } });
      expect(api.status).toBe(404);
    }
  });

  test("the hosted checkout page of a session works on the public address", async () => {
    const session = await h.createSession();
    expect(session.url).toBe(`http://${PUBLIC_HOST}:${port}/checkout/${session.id}`);

    const page = await publicRequest("GET", `/checkout/${session.id}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("Test mode — no real payments");

    const paid = await publicRequest("POST", `/checkout/${session.id}`, {
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "action=pay",
    });
    expect(paid.status).toBe(303);
    const completed = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
    expect(completed).toMatchObject({ status: "complete", payment_status: "paid" });

    // The receipt a purchase links to, addressed by its charge id like the checkout page.
    const charge = (completed.payment_intent as { latest_charge: { id: string; receipt_url: string } }).latest_charge;
    expect(charge.receipt_url).toBe(`http://${PUBLIC_HOST}:${port}/receipts/${charge.id}`);
    expect((await publicRequest("GET", `/receipts/${charge.id}`)).status).toBe(200);
  });
});

test("the emulator refuses to put its API and driver on an address reachable from the network", async () => {
  const start = (host: string) =>
    startStripeEmulator({ host, port: 0, dbPath: ":memory:", webhookUrl: null, webhookSecret: WEBHOOK_SECRET, prices: [PRICE] });
  await expect(start("0.0.0.0")).rejects.toThrow(/loopback/);
  await expect(start("::")).rejects.toThrow(/loopback/);
  await expect(start("192.168.1.10")).rejects.toThrow(/loopback/);
});

async function paidCharge(): Promise<string> {
  const session = await h.createSession();
  await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
  const paymentIntent = await h.stripe.paymentIntents.retrieve(
    (await h.stripe.checkout.sessions.retrieve(session.id)).payment_intent as string,
  );
  return paymentIntent.latest_charge as string;
}
