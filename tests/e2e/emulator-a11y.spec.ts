import { spawn, type ChildProcess } from "node:child_process";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import Stripe from "stripe";
import { EMULATED_API_VERSION } from "../../stripe-emulator/src/api-version.server";
import { freePort } from "../support/server";

// Every HTML page the Stripe emulator serves (stripe-emulator/src: hosted checkout in payment,
// setup and subscription mode, a declined card, closed, expired and cancelled sessions, receipts,
// the Customer Portal, the test clock pages, the index and the error pages) passes a STRICT axe
// check: no violation of any impact, on a desktop and on a 390 px phone. The emulator runs here on
// its own free port (scripts/stripe-emulator.ts in a child process, in memory: Playwright's loader
// cannot import the emulator's JSON fixtures itself), and the real stripe SDK makes the objects
// whose pages a browser then opens.

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/** Strict: every violation counts, whatever its impact (minor and moderate included). */
async function expectNoA11yViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`,
  );
  expect(found, `axe on ${what} (${page.url()})`).toEqual([]);
}

async function visit(page: Page, url: string, status: number, what: string) {
  const response = await page.goto(url);
  expect(response?.status(), what).toBe(status);
  await expect(page.getByText("Test mode — no real payments")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expectNoA11yViolations(page, what);
  // And it fits the screen: nothing scrolls sideways on a phone.
  const width = page.viewportSize()!.width;
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${what} fits ${width} px`).toBeLessThanOrEqual(width);
}

/** A page only a POST answers (the emulator's 400s): its very HTML, rendered and checked. */
async function postAndCheck(page: Page, url: string, body: Record<string, string>, status: number, what: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body).toString(),
    redirect: "manual",
  });
  expect(response.status, what).toBe(status);
  await page.setContent(await response.text());
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expectNoA11yViolations(page, what);
}

const CANCEL_URL = "https://app.example/billing?cancelled=1";
const SUCCESS_URL = "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}";
const PRICE = { id: "price_a11y_credits", unitAmount: 1000, currency: "usd", productName: "100 credits" };
const PLAN_BASIC = { id: "price_a11y_basic", unitAmount: 900, currency: "usd", productName: "Basic plan", recurring: { interval: "month" } };
const PLAN_PRO = { id: "price_a11y_pro", unitAmount: 2900, currency: "usd", productName: "Pro plan", recurring: { interval: "month" } };

type Harness = {
  url: string;
  publicUrl: string;
  stripe: Stripe;
  driver(path: string, body?: unknown): Promise<Response>;
  createSession(params?: Partial<Stripe.Checkout.SessionCreateParams>): Promise<Stripe.Checkout.Session>;
  paySession(): Promise<Stripe.Checkout.Session>;
  close(): Promise<void>;
};

async function startHarness(): Promise<Harness> {
  const port = await freePort();
  // No webhook target: events are only recorded (these pages need none delivered).
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.APP_URL;
  delete env.STRIPE_EMULATOR_WEBHOOK_URL;
  const child: ChildProcess = spawn(process.execPath, ["node_modules/tsx/dist/cli.mjs", "scripts/stripe-emulator.ts"], {
    env: {
      ...env,
      STRIPE_EMULATOR_PORT: String(port),
      STRIPE_EMULATOR_DB: ":memory:",
      STRIPE_EMULATOR_PRICES: JSON.stringify([PRICE, PLAN_BASIC, PLAN_PRO]),
      STRIPE_EMULATOR_ASYNC_DELAY_MS: "60000",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the emulator did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the emulator exited (${code}): ${output}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const stripe = new Stripe("sk_test_a11y", { apiVersion: EMULATED_API_VERSION, host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0 });
  const createSession: Harness["createSession"] = (params = {}) =>
    stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{ price: PRICE.id, quantity: 1 }],
      success_url: SUCCESS_URL,
      cancel_url: CANCEL_URL,
      ...params,
    });
  const driver: Harness["driver"] = (path, body) =>
    fetch(`${url}/__emulator${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return {
    url,
    publicUrl: url,
    stripe,
    driver,
    createSession,
    async paySession() {
      const session = await createSession();
      expect((await driver(`/checkout/sessions/${session.id}/pay`, {})).status).toBe(200);
      return stripe.checkout.sessions.retrieve(session.id);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function subscribed(h: Harness) {
  const customer = await h.stripe.customers.create({ email: "ada@example.com" });
  const checkout = await h.stripe.checkout.sessions.create({
    mode: "subscription",
    line_items: [{ price: PLAN_BASIC.id, quantity: 1 }],
    customer: customer.id,
    cancel_url: CANCEL_URL,
  });
  expect((await h.driver(`/checkout/sessions/${checkout.id}/pay`, {})).status).toBe(200);
  const subscription = (await h.stripe.checkout.sessions.retrieve(checkout.id)).subscription as string;
  return { customer, checkout, subscription };
}

const DECLINED_CARD = "Visa 9995 — declined, insufficient funds (cannot be saved)";

const viewports = [
  { name: "desktop", viewport: { width: 1280, height: 800 } },
  { name: "390 px phone", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
] as const;

for (const device of viewports) {
  test.describe(`the emulator's pages pass a strict axe check on a ${device.name}`, () => {
    // The pages' CSP allows no script at all: axe is the test's, injected past it.
    test.use({ bypassCSP: true, viewport: device.viewport, ...("isMobile" in device ? { isMobile: true, hasTouch: true } : {}) });

    let h: Harness;
    test.beforeEach(async () => {
      h = await startHarness();
    });
    test.afterEach(async () => {
      await h.close();
    });

    test("hosted checkout: payment mode (promotion code, saved card), a declined card, complete, cancelled, expired, unknown", async ({ page }) => {
      const customer = await h.stripe.customers.create({ email: "ada@example.com" });
      const session = await h.createSession({
        customer: customer.id,
        allow_promotion_codes: true,
        payment_intent_data: { setup_future_usage: "off_session" },
      });
      await visit(page, session.url!, 200, "payment checkout");

      // A declined test card: the same page again, with the bank's refusal.
      await page.getByLabel("Test card").selectOption({ label: DECLINED_CARD });
      await page.getByRole("button", { name: "Pay", exact: true }).click();
      await expect(page.getByRole("alert")).toBeVisible();
      await expectNoA11yViolations(page, "checkout after a declined card");

      // Paid: opening the link again says it is complete.
      expect((await h.driver(`/checkout/sessions/${session.id}/pay`, {})).status).toBe(200);
      await visit(page, session.url!, 200, "completed checkout");

      // Cancel on a session without a cancel_url: the emulator's own "cancelled" page.
      const noCancelUrl = await h.createSession({ cancel_url: undefined });
      await postAndCheck(page, noCancelUrl.url!, { action: "cancel" }, 200, "cancelled checkout");
      const expired = await h.createSession();
      expect((await h.driver(`/checkout/sessions/${expired.id}/expire`, {})).status).toBe(200);
      await visit(page, expired.url!, 200, "expired checkout");
      await visit(page, `${h.publicUrl}/checkout/cs_test_unknown`, 404, "unknown checkout");
      await postAndCheck(page, (await h.createSession()).url!, { action: "nonsense" }, 400, "unknown checkout action");
    });

    test("hosted checkout: setup mode (Save card) and subscription mode", async ({ page }) => {
      const customer = await h.stripe.customers.create({ email: "ada@example.com" });
      const setup = await h.stripe.checkout.sessions.create({ mode: "setup", currency: "usd", customer: customer.id, cancel_url: CANCEL_URL });
      await visit(page, setup.url!, 200, "setup checkout");
      await page.getByLabel("Test card").selectOption({ label: DECLINED_CARD });
      await page.getByRole("button", { name: "Save card" }).click();
      await expect(page.getByRole("alert")).toBeVisible();
      await expectNoA11yViolations(page, "setup checkout after a declined card");

      const subscription = await h.stripe.checkout.sessions.create({
        mode: "subscription",
        line_items: [{ price: PLAN_BASIC.id, quantity: 1 }],
        customer: customer.id,
        cancel_url: CANCEL_URL,
      });
      await visit(page, subscription.url!, 200, "subscription checkout");
    });

    test("the Customer Portal (with each notice), the test clock pages, receipts and the index", async ({ page }) => {
      const { customer, subscription } = await subscribed(h);
      const portal: Stripe.BillingPortal.Session = await h.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: CANCEL_URL });
      await visit(page, portal.url, 200, "portal");
      // Switch plan, cancel, take it back: each answer page (a notice) checked.
      await page.getByLabel(new RegExp(PLAN_PRO.productName)).check();
      await page.getByRole("button", { name: "Switch plan" }).click();
      await expect(page.getByRole("status")).toBeVisible();
      await expectNoA11yViolations(page, "portal after switching plan");
      await page.getByRole("button", { name: "Cancel plan at the end of the period" }).click();
      await expect(page.getByText(/will be canceled on/).first()).toBeVisible();
      await expectNoA11yViolations(page, "portal after cancelling");
      await visit(page, `${h.publicUrl}/portal/bps_unknown`, 404, "unknown portal session");
      await postAndCheck(page, portal.url, { action: "nonsense" }, 400, "unknown portal action");

      await visit(page, `${h.url}/__emulator/pages/subscriptions`, 200, "subscriptions list");
      await visit(page, `${h.url}/__emulator/pages/subscriptions/${subscription}`, 200, "test clock");
      await page.getByRole("button", { name: "Advance to next period, renewal payment fails" }).click();
      await expect(page.getByRole("status")).toBeVisible();
      await expectNoA11yViolations(page, "test clock after a failed renewal");
      await visit(page, `${h.url}/__emulator/pages/subscriptions/sub_unknown`, 404, "unknown subscription");
      // Cancelled at the period's end (above), then advanced: the subscription has ended.
      await visit(page, `${h.url}/__emulator/pages/subscriptions/${subscription}`, 200, "ended subscription");
      await expect(page.getByText("This subscription has ended.")).toBeVisible();

      const paid = await h.paySession();
      const intent = await h.stripe.paymentIntents.retrieve(paid.payment_intent as string);
      const chargeId = intent.latest_charge as string;
      await h.stripe.refunds.create({ charge: chargeId, amount: 100 });
      await visit(page, `${h.publicUrl}/receipts/${chargeId}`, 200, "receipt (partly refunded)");
      await visit(page, `${h.publicUrl}/receipts/ch_unknown`, 404, "unknown receipt");
      await visit(page, `${h.url}/`, 200, "index");
    });
  });
}
