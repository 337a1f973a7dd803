import Database from "better-sqlite3";
import path from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";

// STRIPE_ALLOW_PROMOTION_CODES=on against the built app and its in-process emulator: the pack's
// Checkout Session allows promotion codes (read back through the real SDK), and a 100% discount
// taken on the emulator's hosted page completes with nothing to pay and grants the pack once.
// Off (the default) is checked in stripe-flow.test.ts, on the default server.

let server: RunningServer;
let stripe: Stripe;
let db: Database.Database;

beforeAll(async () => {
  const emulatorPort = await freePort();
  server = await startServer({ STRIPE_EMULATOR_PORT: String(emulatorPort), STRIPE_ALLOW_PROMOTION_CODES: "on" });
  stripe = new Stripe("sk_test_emulator", { apiVersion: STRIPE_API_VERSION, host: "127.0.0.1", port: emulatorPort, protocol: "http" });
  db = new Database(path.join(server.dataDir, "app.sqlite"), { readonly: true });
});
afterAll(async () => {
  db?.close();
  await server?.stop();
});

const balanceOf = async (client: HttpClient) => ((await (await client.get("/api/credits")).json()) as { balance: number }).balance;

async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("promotion codes on Checkout (STRIPE_ALLOW_PROMOTION_CODES=on)", () => {
  it("the session allows them; a 100% discount on the hosted page grants the pack once", async () => {
    const client = new HttpClient(server.url);
    await client.signup(`promo-${Date.now()}@example.com`);
    expect(await balanceOf(client)).toBe(10);

    const res = await client.post("/api/stripe/checkout", { pack: "default" });
    expect(res.status).toBe(303);
    const url = res.headers.get("location")!;
    const sessionId = new URL(url).pathname.split("/checkout/")[1]!;
    const session = await stripe.checkout.sessions.retrieve(sessionId);
    expect(session.allow_promotion_codes).toBe(true);
    expect(session.amount_total).toBeGreaterThan(0);

    // The buyer's side: the hosted page offers the code, and applying it completes the checkout.
    const page = await fetch(url);
    expect(await page.text()).toContain("Apply a 100% discount code and complete");
    const applied = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "action=free_with_discount",
      redirect: "manual",
    });
    expect(applied.status).toBe(303);
    expect(applied.headers.get("location")).toBe(`${server.url}/settings/billing/success?session_id=${sessionId}`);

    const paid = await stripe.checkout.sessions.retrieve(sessionId);
    expect(paid).toMatchObject({ status: "complete", payment_status: "no_payment_required", amount_total: 0, payment_intent: null });

    // The webhook and the success page both fulfil; the pack arrives once.
    await until("the grant", () => balanceOf(client), (b) => b === 510);
    const back = await client.get(`/settings/billing/success?session_id=${sessionId}`);
    expect(back.status).toBe(303);
    await client.get(`/settings/billing/success?session_id=${sessionId}`);
    expect(await balanceOf(client)).toBe(510);
    const rows = db.prepare("select type, amount, status from transactions where idempotency_key = ?").all(`checkout:${sessionId}`);
    expect(rows).toEqual([{ type: "purchase", amount: 500, status: "posted" }]);

    // A second press of the button on the now-closed session changes nothing.
    const again = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "action=free_with_discount",
      redirect: "manual",
    });
    expect(again.status).toBe(409);
    expect(await balanceOf(client)).toBe(510);
  });
});
