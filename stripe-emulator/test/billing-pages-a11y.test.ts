import fs from "node:fs";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser } from "@playwright/test";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { CANCEL_URL, PLAN_BASIC, startHarness, type Harness } from "../../tests/support/emulator-harness";

// axe-core in a real browser (the e2e suite's Chromium: Playwright's own, or Debian's) on the
// pages people use for subscriptions: no violation of any impact, as tests/e2e requires.
function chromiumExecutable(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    if (fs.existsSync(chromium.executablePath())) return undefined;
  } catch {
    // no bundled browser registered
  }
  return fs.existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined;
}

let browser: Browser;
let h: Harness;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: chromiumExecutable() });
}, 60_000);

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

async function axeViolations(url: string): Promise<string[]> {
  // The pages' CSP allows no scripts at all; axe is injected by the test, not by the page.
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  try {
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    const results = await new AxeBuilder({ page })
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
      .analyze();
    return results.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(" | ")}`);
  } finally {
    await context.close();
  }
}

describe("subscription pages pass axe", () => {
  test("subscription checkout, Customer Portal (with a notice) and the test clock page", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    const checkout = await h.stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: PLAN_BASIC.id, quantity: 1 }],
      customer: customer.id,
      cancel_url: CANCEL_URL,
    });
    expect(await axeViolations(checkout.url ?? "")).toEqual([]);

    await h.driver(`/checkout/sessions/${checkout.id}/pay`, {});
    const subscription = (await h.stripe.checkout.sessions.retrieve(checkout.id)).subscription as string;
    await h.stripe.subscriptions.update(subscription, { cancel_at_period_end: true });
    const portal = await h.stripe.billingPortal.sessions.create({ customer: customer.id, return_url: CANCEL_URL });
    const page = await axeViolations(`${portal.url}?done=cancel`);
    expect(page).toEqual([]);

    expect(await axeViolations(`${h.emulator.url}/__emulator/pages/subscriptions/${subscription}?done=advance`)).toEqual([]);
  }, 60_000);
});

describe("saved-card pages pass axe", () => {
  test("setup-mode checkout (Save card) and a purchase that saves the card, each with its test card select", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    const setup = await h.stripe.checkout.sessions.create({ mode: "setup", currency: "usd", customer: customer.id, cancel_url: CANCEL_URL });
    expect(await axeViolations(setup.url ?? "")).toEqual([]);
    const purchase = await h.createSession({ customer: customer.id, payment_intent_data: { setup_future_usage: "off_session" } });
    expect(await axeViolations(purchase.url ?? "")).toEqual([]);
  }, 60_000);
});
