import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";

// /metrics: Prometheus text, behind a token or an admin session, with request, webhook,
// generation and ledger numbers that move when the app does something.
const TOKEN = "metrics-test-token-0123456789";
let server: RunningServer;
let emulatorUrl: string;

beforeAll(async () => {
  const emulatorPort = await freePort();
  emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  server = await startServer({ METRICS_TOKEN: TOKEN, ADMIN_EMAILS: "ops@example.com", STRIPE_EMULATOR_PORT: String(emulatorPort) });
});
afterAll(async () => {
  await server?.stop();
});

async function scrape(init: RequestInit = { headers: { Authorization: `Bearer ${TOKEN}` } }) {
  const res = await fetch(`${server.url}/metrics`, init);
  return { res, text: res.status === 200 ? await res.text() : "" };
}

/** The value of one sample, e.g. value(text, 'users') or value(text, 'ledger_rows{status="posted",type="bonus"}'). */
function value(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

describe("/metrics access", () => {
  it("asks anonymous scrapers for a token (401 + WWW-Authenticate)", async () => {
    const { res } = await scrape({});
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
  });

  it("refuses a wrong token and a signed-in non-admin (403)", async () => {
    expect((await scrape({ headers: { Authorization: "Bearer not-the-token-at-all" } })).res.status).toBe(403);
    const user = new HttpClient(server.url);
    await user.signup("curious@example.com");
    expect((await user.get("/metrics")).status).toBe(403);
  });

  it("serves the Prometheus text format with the token, and to an admin's session", async () => {
    const { res, text } = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(text).toMatch(/^# HELP users Accounts in the database\n# TYPE users gauge\nusers \d+$/m);
    const admin = new HttpClient(server.url);
    await admin.signup("ops@example.com");
    const page = await admin.get("/metrics");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("# TYPE http_requests_total counter");
  });
});

describe("/metrics numbers", () => {
  it("counts requests, sign-ups in the ledger, generations and webhooks", async () => {
    const before = (await scrape()).text;
    const client = new HttpClient(server.url);
    await client.signup(`counted-${Date.now()}@example.com`);
    await new HttpClient(server.url).signup(`counted2-${Date.now()}@example.com`);

    const image = await client.request("/api/generate-image", {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: server.url },
      body: JSON.stringify({ prompt: "a lighthouse at dusk", size: "256x256" }),
    });
    expect(image.status).toBe(201);

    // A purchase: checkout, paid on the emulator, fulfilled by its signed webhook.
    const checkout = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    const session = (await checkout.json()) as { id: string };
    const pay = await fetch(`${emulatorUrl}/__emulator/checkout/sessions/${session.id}/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "paid" }),
    });
    expect(pay.ok).toBe(true);
    let after = "";
    for (let i = 0; i < 100; i++) {
      after = (await scrape()).text;
      if (value(after, 'stripe_webhooks_total{outcome="processed",type="checkout.session.completed"}') >= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const delta = (sample: string) => value(after, sample) - value(before, sample);
    expect(delta('http_requests_total{method="POST",route="/signup",status="3xx"}')).toBe(2);
    expect(delta("users")).toBe(2);
    expect(delta('ledger_rows{status="posted",type="bonus"}')).toBe(2);
    expect(delta('ledger_rows{status="posted",type="usage"}')).toBe(1);
    expect(delta('ledger_rows{status="posted",type="purchase"}')).toBe(1);
    expect(delta('generations_total{kind="image",status="succeeded"}')).toBe(1);
    expect(delta('generation_jobs{kind="image",status="succeeded"}')).toBe(1);
    expect(delta('stripe_webhooks_total{outcome="processed",type="checkout.session.completed"}')).toBe(1);
    expect(delta("stripe_events_recorded")).toBeGreaterThanOrEqual(1);
    expect(value(after, "ledger_balance_credits")).toBeGreaterThan(value(before, "ledger_balance_credits"));
    expect(value(after, "sqlite_database_bytes")).toBeGreaterThan(0);
    expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("counts refused cross-origin requests", async () => {
    const before = value((await scrape()).text, 'security_refusals_total{reason="cross_origin"}');
    const res = await fetch(`${server.url}/signup`, { method: "POST", headers: { Origin: "https://evil.example" }, body: "email=x" });
    expect(res.status).toBe(403);
    expect(value((await scrape()).text, 'security_refusals_total{reason="cross_origin"}')).toBe(before + 1);
  });
});
