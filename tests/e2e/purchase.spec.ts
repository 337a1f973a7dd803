import { expect, test, type Page } from "@playwright/test";
import { signUp } from "./support";

async function buyOnePack(page: Page) {
  await signUp(page);
  await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
  await expect(page.getByText("Test mode — no real payments")).toBeVisible();

  await page.getByRole("link", { name: "Billing" }).click();
  await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
  await expect(page.getByText("500 credits · $5.00")).toBeVisible();
  await page.getByRole("button", { name: "Buy 500 credits" }).click();

  // The emulator's hosted checkout page (another origin), marked as test mode.
  await expect(page.getByRole("heading", { name: "Checkout" })).toBeVisible();
  await expect(page.getByText(/Test mode/i).first()).toBeVisible();
  await expect(page.getByText("Total due: $5.00")).toBeVisible();
  await page.getByRole("button", { name: "Pay", exact: true }).click();

  await expect(page).toHaveURL(/\/settings\/billing$/);
  await expect(page.getByTestId("toast")).toContainText("Payment received: 500 credits added");
  await expect(page.getByTestId("billing-balance")).toHaveText("510 credits");
  await expect(page.getByTestId("credit-balance")).toHaveText("510 credits");

  // Coming back later (webhook and success page both done) still shows one purchase.
  await page.reload();
  await expect(page.getByTestId("credit-balance")).toHaveText("510 credits");
}

test.describe("buying credits with JavaScript", () => {
  test("billing page → emulator checkout → Pay → new balance and a toast", async ({ page }) => {
    await buyOnePack(page);
  });

  test("cancelling the checkout charges nothing", async ({ page }) => {
    await signUp(page);
    await page.goto("/settings/billing");
    await page.getByRole("button", { name: "Buy 500 credits" }).click();
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page).toHaveURL(/\/settings\/billing$/);
    await expect(page.getByTestId("toast")).toContainText("Checkout cancelled");
    await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
  });
});

test.describe("a promotion code (STRIPE_ALLOW_PROMOTION_CODES=on)", () => {
  test("a 100% discount on the emulator's page: nothing to pay, the pack arrives once", async ({ page }) => {
    await signUp(page);
    await page.goto("/settings/billing");
    await page.getByRole("button", { name: "Buy 500 credits" }).click();
    await expect(page.getByText("Total due: $5.00")).toBeVisible();
    await page.getByRole("button", { name: "Apply a 100% discount code and complete" }).click();

    await expect(page).toHaveURL(/\/settings\/billing$/);
    await expect(page.getByTestId("toast")).toContainText("500 credits added");
    await expect(page.getByTestId("billing-balance")).toHaveText("510 credits");
    await page.reload();
    await expect(page.getByTestId("credit-balance")).toHaveText("510 credits");
    await expect(page.getByTestId("history").getByTestId("history-row").filter({ hasText: "500" })).toHaveCount(1);
  });
});

test.describe("buying credits without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("billing page → emulator checkout → Pay → new balance and a toast", async ({ page }) => {
    await buyOnePack(page);
  });
});
