import { expect, test, type Locator, type Page } from "@playwright/test";
import { expectNoA11yViolations, signUp, userIdOf, withAppDb } from "./support";

// A subscription from start to renewal, as a person goes through it: Subscribe on the billing
// page, pay on the emulator's hosted checkout, see the plan; Manage subscription → the emulator's
// Customer Portal → cancel at the period's end → back: "Ends on"; take it back; then the emulator's
// test clock page advances to the next period: the renewal's plan credits, the rollover (Starter
// keeps up to 500 of its 1,000) and the expired rest show in the history; a failed renewal then
// shows as past due with what to do. With and without
// JavaScript. Stripe's webhooks arrive on their own, so the page is read again until they have.

const DAY = /\d{4}-\d{2}-\d{2}/;

/** Reloads the page until `locator` shows `text` (webhooks are asynchronous, like Stripe's). */
async function reloadUntil(page: Page, locator: Locator, text: string | RegExp) {
  await expect
    .poll(async () => {
      if (!(await locator.count())) {
        await page.reload();
        return "";
      }
      const seen = (await locator.first().textContent()) ?? "";
      if (!(typeof text === "string" ? seen.includes(text) : text.test(seen))) await page.reload();
      return seen;
    }, { timeout: 20_000, intervals: [250, 500, 1000] })
    .toMatch(typeof text === "string" ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : text);
}

async function openPortal(page: Page, javaScriptEnabled: boolean) {
  if (javaScriptEnabled) await page.waitForLoadState("networkidle");
  await page.getByRole("button", { name: "Manage subscription" }).click();
  await expect(page.getByRole("heading", { name: "Manage your subscription" })).toBeVisible();
  await expect(page).toHaveURL(/\/portal\/bps_/);
  return new URL(page.url()).origin;
}

async function subscribeAndRenew(page: Page, javaScriptEnabled: boolean) {
  const { email } = await signUp(page);
  await page.goto("/settings/billing");
  if (javaScriptEnabled) await page.waitForLoadState("networkidle");
  const plans = page.getByTestId("plan-section");
  await expect(plans.getByTestId("plan-card")).toHaveCount(2);
  await expect(plans.getByRole("button", { name: "Manage subscription" })).toHaveCount(0);

  // Subscribe → the emulator's hosted checkout (subscription mode) → Pay.
  await plans.getByRole("button", { name: "Subscribe to Starter" }).click();
  await expect(page.getByRole("heading", { name: "Checkout" })).toBeVisible();
  await expect(page.getByText(/Test mode/i).first()).toBeVisible();
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await expect(page).toHaveURL(/\/settings\/billing\?subscribed=1$/);

  // The plan appears once Stripe's events are in: the page looks again by itself.
  await expect(page.getByTestId("subscription-plan")).toHaveText("Starter plan", { timeout: 20_000 });
  await expect(page.getByTestId("subscription-status")).toHaveText("Active");
  await expect(page.getByTestId("subscription-renewal")).toContainText(/^Renews on \d{4}-\d{2}-\d{2}/);
  await expect(page.getByTestId("subscription-arriving")).toHaveCount(0);
  await reloadUntil(page, page.getByTestId("billing-balance"), "1010 credits");
  const history = page.getByTestId("history");
  await expect(history.getByTestId("history-row").filter({ hasText: "Starter plan: 1000 credits for the period" })).toContainText("+1,000");
  if (javaScriptEnabled) await expectNoA11yViolations(page);

  // Manage subscription → the portal → cancel at the end of the period → back: "Ends on".
  const emulator = await openPortal(page, javaScriptEnabled);
  await page.getByRole("button", { name: "Cancel plan at the end of the period" }).click();
  await expect(page.getByText(/will be canceled on/)).toBeVisible();
  await page.getByRole("link", { name: "Return to the shop" }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  await reloadUntil(page, page.getByTestId("subscription-renewal"), /^Ends on \d{4}-\d{2}-\d{2}/);
  await expect(page.getByTestId("subscription-status")).toHaveText("Active");

  // Changed their mind: "Don't cancel my plan" → back: "Renews on" again.
  await openPortal(page, javaScriptEnabled);
  await page.getByRole("button", { name: "Don't cancel my plan" }).click();
  await expect(page.getByText(/Renews on/)).toBeVisible();
  await page.getByRole("link", { name: "Return to the shop" }).click();
  await reloadUntil(page, page.getByTestId("subscription-renewal"), /^Renews on \d{4}-\d{2}-\d{2}/);

  // The test clock page (loopback only, on the emulator): the period ends now and renews, paid.
  const userId = userIdOf(email);
  const subscriptionId = withAppDb((db) => (db.sqlite.prepare("select id from subscriptions where user_id = ?").get(userId) as { id: string }).id);
  await page.goto(`${emulator}/__emulator/pages/subscriptions/${subscriptionId}`);
  await page.getByRole("button", { name: "Advance to next period", exact: true }).click();

  // Back on the billing page: a new period's credits, the rollover and the expired rest.
  await page.goto("/settings/billing");
  await reloadUntil(page, page.getByTestId("billing-balance"), "1510 credits");
  const rows = history.getByTestId("history-row");
  await expect(rows.filter({ hasText: "Starter plan: 1000 credits for the period" })).toHaveCount(2);
  const rollover = rows.filter({ hasText: "Starter plan: 500 unused credits rolled over" });
  await expect(rollover).toContainText("Plan credits");
  await expect(rollover).toContainText("+500");
  const expired = rows.filter({ hasText: "Credits expired" });
  await expect(expired).toHaveCount(1);
  await expect(expired).toContainText("−1,000");
  await expect(page.getByTestId("subscription-renewal")).toContainText(DAY);

  // The history's filter finds the plan rows and the expiry.
  await page.getByLabel("Type").selectOption("plan");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(rows).toHaveCount(3);
  await page.getByLabel("Type").selectOption("expire");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(rows).toHaveCount(1);

  // The next renewal's payment fails: past due, a notice that says what to do, no new credits.
  await page.goto(`${emulator}/__emulator/pages/subscriptions/${subscriptionId}`);
  await page.getByRole("button", { name: "Advance to next period, renewal payment fails" }).click();
  await page.goto("/settings/billing");
  // Two events (invoice.payment_failed, customer.subscription.updated), delivered independently.
  await reloadUntil(page, page.getByTestId("subscription-status"), "Past due");
  await reloadUntil(page, page.getByTestId("subscription-payment-failed"), "Open Manage subscription to update your card");
  await expect(page.getByTestId("billing-balance")).toHaveText("1510 credits");
  await expect(page.getByRole("button", { name: "Manage subscription" })).toBeVisible();
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`subscriptions ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("subscribe, see the plan, cancel at period end and take it back in the portal, renew with the test clock", async ({ page }) => {
      test.setTimeout(120_000);
      await subscribeAndRenew(page, javaScriptEnabled);
    });
  });
}

test.describe("the Plan section on a 390 px phone", () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test("fits the screen with its plans and a subscription, axe clean", async ({ page }) => {
    const { email } = await signUp(page);
    await page.goto("/settings/billing");
    await expect(page.getByTestId("plan-section").getByTestId("plan-card")).toHaveCount(2);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await expectNoA11yViolations(page);

    // A subscription as the webhooks would have written it, with a failed renewal payment.
    const userId = userIdOf(email);
    withAppDb((db) => {
      db.sqlite
        .prepare(
          `insert into subscriptions (id, user_id, stripe_customer_id, plan_id, price_id, status, current_period_end)
           values (?, ?, 'cus_phone', 'pro', 'price_plan_pro', 'past_due', ?)`,
        )
        .run(`sub_phone_${userId}`, userId, Date.now() + 5 * 86_400_000);
      db.sqlite
        .prepare(
          `insert into subscription_periods (invoice_id, subscription_id, user_id, plan_id, status, period_start, period_end)
           values (?, ?, ?, 'pro', 'failed', ?, ?)`,
        )
        .run(`in_phone_${userId}`, `sub_phone_${userId}`, userId, Date.now(), Date.now() + 30 * 86_400_000);
    });
    await page.reload();
    await expect(page.getByTestId("subscription-plan")).toHaveText("Pro plan");
    await expect(page.getByTestId("subscription-status")).toHaveText("Past due");
    await expect(page.getByTestId("subscription-payment-failed")).toContainText("The payment for your plan failed");
    await expect(page.getByRole("button", { name: "Manage subscription" })).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await expectNoA11yViolations(page);
  });
});
