import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseEnv } from "../../app/services/env.server";
import { startStripe, stopStripe } from "../../app/services/stripe.server";
import { freePort } from "../support/server";

// The demo set-up the audit found open: STRIPE_EMULATOR=on in production, HOST=0.0.0.0 and a
// fixed STRIPE_EMULATOR_PORT that the container publishes. Visitors must get the hosted checkout
// on that port and nothing else; the app's own client reaches the API on loopback.

afterEach(async () => {
  await stopStripe();
});

async function demoConfig(host: string) {
  const port = await freePort();
  const config = parseEnv({
    NODE_ENV: "production",
    STRIPE_EMULATOR: "on",
    MAIL_OUTBOX: "on",
    SESSION_SECRET: "test-secret-test-secret-test-secret-000",
    HOST: host,
    PORT: "3000",
    APP_URL: "http://127.0.0.1:3000",
    STRIPE_EMULATOR_PORT: String(port),
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "stripe-listeners-")),
    LOG_LEVEL: "warn",
  });
  return { config, port };
}

describe("startStripe with a fixed emulator port", () => {
  it("on HOST=0.0.0.0 the published port serves the hosted checkout only; the API is on loopback", async () => {
    const { config, port } = await demoConfig("0.0.0.0");
    const { stripe, emulator } = await startStripe(config);
    expect(emulator?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator?.url).not.toBe(`http://127.0.0.1:${port}`);
    expect(emulator?.publicListener).toEqual({ host: "0.0.0.0", port });

    // The wildcard listener also takes connections made to 127.0.0.1 on its port: even those get
    // no driver and no API, because what serves them is the public listener.
    const published = `http://127.0.0.1:${port}`;
    expect((await fetch(`${published}/__emulator/events`)).status).toBe(404);
    expect((await fetch(`${published}/__emulator/charges/ch_x/disputes`, { method: "POST", body: "{}" })).status).toBe(404);
    const customers = await fetch(`${published}/v1/customers`, {
      method: "POST",
      headers: { Authorization: "Bearer sk_test_anyone", "Content-Type": "application/x-www-form-urlencoded" },
      body: "email=mallory%40example.com",
    });
    expect(customers.status).toBe(404);

    const session = await stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: config.packs[0].priceId, quantity: 1 }],
      success_url: "http://127.0.0.1:3000/billing/success",
    });
    expect(session.url).toBe(`http://127.0.0.1:${port}/checkout/${session.id}`);
    const page = await fetch(session.url!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Test mode — no real payments");

    expect((await fetch(`${emulator!.url}/__emulator/health`)).status).toBe(200);
  });

  it("on a loopback HOST everything stays on the fixed port (nothing is reachable from outside)", async () => {
    const { config, port } = await demoConfig("127.0.0.1");
    const { emulator } = await startStripe(config);
    expect(emulator?.url).toBe(`http://127.0.0.1:${port}`);
    expect(emulator?.publicListener).toBeNull();
    expect((await fetch(`http://127.0.0.1:${port}/__emulator/health`)).status).toBe(200);
  });
});
