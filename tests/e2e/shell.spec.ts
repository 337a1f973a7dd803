import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, signUp } from "./support";

// The app shell (issue #17): a phone gets a "Menu" disclosure instead of a nav wrapping onto two
// rows, the test-mode banner fits one line, and a skip link comes first on every page.

const PHONE = { width: 390, height: 844 };

for (const javaScriptEnabled of [true, false]) {
  test.describe(`phone nav ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled, viewport: PHONE });

    test("the links and Log out are in a Menu disclosure, the balance beside it, on one nav row", async ({ page }) => {
      await signUp(page);
      const nav = page.getByRole("navigation", { name: "Main" });
      const menu = page.getByText("Menu", { exact: true });
      await expect(menu).toBeVisible();
      // Closed: the nav is one row (brand and Menu button), nothing else shown.
      await expect(nav.getByRole("link", { name: "Billing" })).toBeHidden();
      await expect(nav.getByRole("button", { name: "Log out" })).toBeHidden();
      // The balance stays in sight on every page, beside the Menu button.
      await expect(page.getByTestId("credit-balance-phone")).toBeVisible();
      await expect(page.getByTestId("credit-balance-phone")).toHaveText("10 credits");
      const navBox = await nav.boundingBox();
      expect(navBox!.height).toBeLessThan(70);

      await menu.click();
      await expect(nav.getByRole("button", { name: "Log out" })).toBeVisible();
      await expect(nav.getByRole("link", { name: "Pricing" })).toBeVisible();
      if (javaScriptEnabled) await expectNoA11yViolations(page);

      await nav.getByRole("link", { name: "Billing" }).click();
      await expect(page).toHaveURL(/\/settings\/billing$/);
      // A new page closes the menu again.
      await expect(nav.getByRole("link", { name: "Generate" })).toBeHidden();

      await menu.click();
      await nav.getByRole("button", { name: "Log out" }).click();
      await expect(page).toHaveURL(/\/$/);
      await menu.click();
      await expect(nav.getByRole("link", { name: "Log in" })).toBeVisible();
    });

    test("the test-mode banner is one line", async ({ page }) => {
      await page.goto("/pricing");
      const banner = page.getByRole("note").filter({ hasText: "Test mode" });
      await expect(banner).toHaveText("Test mode — no real payments", { useInnerText: true });
      const box = await banner.boundingBox();
      // text-sm is 20 px a line, plus 8 px padding: two lines would be 48.
      expect(box!.height).toBeLessThan(34);
    });
  });
}

test("desktop: the nav is a row with no Menu button, and the banner says why it is test mode", async ({ page }) => {
  await signUp(page);
  await expect(page.getByText("Menu", { exact: true })).toBeHidden();
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Billing" })).toBeVisible();
  await expect(nav.getByRole("button", { name: "Log out" })).toBeVisible();
  await expect(page.getByTestId("credit-balance")).toBeVisible();
  await expect(page.getByRole("note").filter({ hasText: "Test mode" })).toHaveText("Test mode — no real payments (local Stripe emulator)");
});

for (const viewport of [PHONE, { width: 1280, height: 800 }]) {
  test(`skip link at ${viewport.width} px: first focusable, moves focus to the main content`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await page.goto("/pricing");
    await page.keyboard.press("Tab");
    const skip = page.getByRole("link", { name: "Skip to content" });
    await expect(skip).toBeFocused();
    await expect(skip).toBeVisible();
    await expectNoA11yViolations(page);
    await page.keyboard.press("Enter");
    await expect(page).toHaveURL(/#main$/);
    await expect(page.locator("main#main")).toBeFocused();
    // The next Tab lands inside the content, not back in the nav.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.closest("main") !== null)).toBe(true);
  });
}
