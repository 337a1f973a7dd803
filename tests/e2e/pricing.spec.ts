import { expect, test, type Page } from "@playwright/test";
import { expectNoA11yViolations, signUp, uniqueEmail } from "./support";

// /pricing as people use it: read it signed out (desktop and a 390 px phone), sign up from a plan
// and come back to it, buy a pack from it; with and without JavaScript. The e2e server runs the
// emulator's default catalogue: Starter (1,000 credits, $8.00 a month, 500 roll over), Pro
// (5,000, $40.00, 2,500), the 500-credit pack ($5.00); images 5 credits, 720p video 50 for 8 s.

async function expectCatalogue(page: Page) {
  await expect(page.getByRole("heading", { name: "Pricing", level: 1 })).toBeVisible();
  const starter = page.getByTestId("plan-card").filter({ hasText: "Starter" });
  await expect(starter).toContainText("$8.00 per month");
  await expect(starter).toContainText("1,000 credits every month");
  await expect(starter).toContainText("≈ 200 images or 160 seconds of 720p video (80 s at 1080p)");
  await expect(starter).toContainText("up to 500 unspent credits roll over");
  const pro = page.getByTestId("plan-card").filter({ hasText: "Pro" });
  await expect(pro).toContainText("$40.00 per month");
  await expect(pro).toContainText("5,000 credits every month");
  const pack = page.getByTestId("pack-card");
  await expect(pack).toHaveCount(1);
  await expect(pack).toContainText("$5.00 once");
  await expect(pack).toContainText("These credits never expire.");
  await expect(page.getByText("An image costs 5 credits")).toBeVisible();
  await expect(page.getByTestId("video-costs").getByRole("row", { name: /^8 s/ })).toContainText("50 credits");
  await expect(page.getByText("expires 30 days after it arrives")).toBeVisible();
}

/** From a plan card signed out: sign up, "check your inbox", log in, and land back on /pricing. */
async function signUpFromPricing(page: Page) {
  const email = uniqueEmail("pricing");
  await page.goto("/");
  await page.getByRole("main").getByRole("link", { name: "See plans, packs and what a credit buys" }).click();
  await expect(page).toHaveURL(/\/pricing$/);
  await page.getByRole("link", { name: "Sign up to subscribe to Starter" }).click();
  await expect(page).toHaveURL(/\/signup\?redirectTo=%2Fpricing$/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct-horse-1");
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/signup\/check-inbox\?redirectTo=%2Fpricing$/);
  await page.getByRole("main").getByRole("link", { name: "Log in" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct-horse-1");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/pricing$/);
  // Signed in now: checkout forms instead of sign-up links.
  await expect(page.getByRole("button", { name: "Subscribe to Starter" })).toBeVisible();
  await expect(page.getByRole("link", { name: /^Sign up to/ })).toHaveCount(0);
}

/** Buys the pack from /pricing on the emulator's hosted page; the credits arrive on the billing page. */
async function buyPackFromPricing(page: Page, javaScriptEnabled: boolean) {
  await signUp(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Pricing", exact: true }).click();
  await expect(page).toHaveURL(/\/pricing$/);
  if (javaScriptEnabled) await page.waitForLoadState("networkidle");
  await page.getByRole("button", { name: "Buy 500 credits" }).click();
  await expect(page.getByText("Total due: $5.00")).toBeVisible();
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  await expect(page.getByTestId("toast")).toContainText("Payment received: 500 credits added");
  await expect(page.getByTestId("billing-balance")).toHaveText("510 credits");
}

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? "with" : "without";

  test.describe(`pricing ${how} JavaScript, desktop`, () => {
    test.use({ javaScriptEnabled });

    test("a visitor reads plans, packs, costs and lifetimes", async ({ page }) => {
      await page.goto("/pricing");
      await expectCatalogue(page);
      if (javaScriptEnabled) await expectNoA11yViolations(page);
    });

    test("a visitor signs up from a plan and comes back to /pricing", async ({ page }) => {
      await signUpFromPricing(page);
    });

    test("a customer buys a pack from /pricing", async ({ page }) => {
      await buyPackFromPricing(page, javaScriptEnabled);
    });
  });

  test.describe(`subscribing from pricing ${how} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("Subscribe opens the emulator's subscription checkout; cancelling it charges nothing", async ({ page }) => {
      await signUp(page);
      await page.goto("/pricing");
      if (javaScriptEnabled) await page.waitForLoadState("networkidle");
      await page.getByRole("button", { name: "Subscribe to Pro" }).click();
      await expect(page.getByRole("heading", { name: "Checkout" })).toBeVisible();
      await expect(page.getByText("Pro plan").first()).toBeVisible();
      await expect(page.getByText("$40.00").first()).toBeVisible();
      await page.getByRole("button", { name: "Cancel" }).click();
      await expect(page).toHaveURL(/\/settings\/billing$/);
      await expect(page.getByTestId("toast")).toContainText("Checkout cancelled");
      await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
      await expect(page.getByTestId("plan-section").getByRole("button", { name: "Subscribe to Pro" })).toBeVisible();
    });
  });

  test.describe(`pricing ${how} JavaScript, 390 px phone`, () => {
    test.use({ javaScriptEnabled, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

    test("fits the screen: no sideways scrolling, every plan and pack readable", async ({ page }) => {
      await page.goto("/pricing");
      await expectCatalogue(page);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      const signUpToBuy = page.getByRole("link", { name: "Sign up to buy 500 credits" });
      await signUpToBuy.scrollIntoViewIfNeeded();
      await expect(signUpToBuy).toBeInViewport();
      if (javaScriptEnabled) await expectNoA11yViolations(page);
    });

    test("a signed-in customer on a phone sees the checkout buttons", async ({ page }) => {
      await signUp(page);
      await page.goto("/pricing");
      for (const name of ["Subscribe to Starter", "Subscribe to Pro", "Buy 500 credits"]) {
        const button = page.getByRole("button", { name });
        await button.scrollIntoViewIfNeeded();
        await expect(button).toBeVisible();
      }
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      if (javaScriptEnabled) await expectNoA11yViolations(page);
    });
  });
}
