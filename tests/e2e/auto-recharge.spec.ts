import { expect, test, type Page } from "@playwright/test";
import { expectNoA11yViolations, signUp } from "./support";

// Auto-recharge (decision 027) as a person uses it, on the in-process emulator (its webhooks reach
// the app by themselves): opt in to saving the card during a purchase, set the threshold,
// generate until the balance falls below it, see the top-up in the history.

async function buyAndSaveCard(page: Page, javaScript: boolean) {
  await signUp(page);
  await page.goto("/settings/billing");
  if (javaScript) await page.waitForLoadState("networkidle");
  await expect(page.getByTestId("saved-card")).toContainText("No card saved");
  await page.getByLabel("Save my card for auto-recharge (500 credits)").check();
  await page.getByRole("button", { name: "Buy 500 credits" }).click();
  await expect(page.getByText("Total due: $5.00")).toBeVisible();
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  await expect(page.getByTestId("billing-balance")).toHaveText("510 credits");
  // The card arrives with Stripe's payment_method.attached, a moment after the payment.
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("saved-card")).toContainText("Visa ending in 4242", { timeout: 500 });
  }).toPass({ timeout: 15_000 });
}

async function setThreshold(page: Page, javaScript: boolean) {
  if (javaScript) await page.waitForLoadState("networkidle");
  const form = page.getByTestId("auto-recharge-form");
  await form.getByLabel("Recharge automatically").check();
  await form.getByLabel("When my balance falls below (credits)").fill("505");
  await form.getByLabel("Buy this pack").selectOption("default");
  await form.getByLabel("At most this many recharges a month (optional)").fill("2");
  await form.getByRole("button", { name: "Save auto-recharge" }).click();
  await expect(page.getByTestId("toast")).toContainText("Auto-recharge on: below 505 credits");
  await expect(form.getByLabel("When my balance falls below (credits)")).toHaveValue("505");
}

async function generateUntilRecharged(page: Page) {
  await page.goto("/generate");
  for (const expected of ["505 credits", "500 credits"]) {
    await page.getByLabel("Image prompt").fill("a lighthouse at dusk");
    await page.getByRole("button", { name: "Generate image (5 credits)" }).click();
    await expect(page.getByTestId("current-job").getByTestId("job-status")).toHaveText("Done");
    // The second image took the balance below 505: the top-up may already be in.
    if (expected === "505 credits") await expect(page.getByTestId("credit-balance")).toHaveText(expected);
  }
  await page.goto("/settings/billing");
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("billing-balance")).toHaveText("1000 credits", { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  const topups = page.getByTestId("history").getByTestId("history-row").filter({ hasText: "Auto-recharge: 500 credits" });
  await expect(topups).toHaveCount(1);
  await expect(topups).toContainText("Top-up");
  await expect(page.getByTestId("auto-recharge-month")).toContainText("1 recharge, $5.00");
}

for (const javaScript of [true, false]) {
  test.describe(`auto-recharge ${javaScript ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled: javaScript });

    test("opt in during a purchase, set the threshold, generate until it recharges, see the top-up; remove the card", async ({ page }) => {
      await buyAndSaveCard(page, javaScript);
      await setThreshold(page, javaScript);
      await generateUntilRecharged(page);
      await page.getByRole("button", { name: "Remove card" }).click();
      await expect(page.getByTestId("toast")).toContainText("Card removed");
      await expect(page.getByTestId("saved-card")).toContainText("No card saved");
    });

    test("a threshold that is not a positive whole number is refused on its field, switching on without a card says why, and Add a card saves one", async ({ page }) => {
      await signUp(page);
      await page.goto("/settings/billing");
      if (javaScript) await page.waitForLoadState("networkidle");
      const form = page.getByTestId("auto-recharge-form");
      await form.getByLabel("When my balance falls below (credits)").fill("-5");
      await form.getByRole("button", { name: "Save auto-recharge" }).click();
      await expect(form.getByRole("alert")).toContainText("positive whole number");
      await form.getByLabel("When my balance falls below (credits)").fill("50");
      await form.getByLabel("Recharge automatically").check();
      await form.getByRole("button", { name: "Save auto-recharge" }).click();
      await expect(form.getByRole("alert")).toContainText("Save a card first");

      // "Add a card": Stripe's setup page saves one without paying.
      await page.getByRole("button", { name: "Add a card" }).click();
      await page.getByRole("button", { name: "Save card" }).click();
      await expect(page).toHaveURL(/\/settings\/billing\?card=saved$/);
      await expect(async () => {
        await page.reload();
        await expect(page.getByTestId("saved-card")).toContainText("Visa ending in 4242", { timeout: 500 });
      }).toPass({ timeout: 15_000 });
      await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
    });
  });
}

test("the billing page with a saved card and auto-recharge on passes axe", async ({ page }) => {
  await buyAndSaveCard(page, true);
  await setThreshold(page, true);
  await expectNoA11yViolations(page);
});
