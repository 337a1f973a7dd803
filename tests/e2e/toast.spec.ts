import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, signUp } from "./support";

// A flash message ("Welcome!" after sign-up) is shown on the page it was meant for and on no
// other; it can be dismissed, with or without JavaScript; with JavaScript it hides by itself.

for (const javaScriptEnabled of [true, false]) {
  test.describe(`toasts ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("the Welcome toast shows on the first page only, not on the next one", async ({ page }) => {
      await signUp(page);
      await expect(page.getByTestId("toast")).toContainText("Welcome!");
      await page.getByRole("link", { name: "Billing" }).click();
      await expect(page).toHaveURL(/\/settings\/billing$/);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await expect(page.getByTestId("toast")).toHaveCount(0);
      await page.getByRole("link", { name: "Generate" }).click();
      await expect(page).toHaveURL(/\/generate$/);
      await expect(page.getByTestId("toast")).toHaveCount(0);
      await page.reload();
      await expect(page.getByTestId("toast")).toHaveCount(0);
    });

    test("Dismiss removes the toast and stays on the page", async ({ page }) => {
      await signUp(page);
      const toast = page.getByTestId("toast");
      await expect(toast).toContainText("Welcome!");
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await toast.getByRole("link", { name: "Dismiss this message" }).click();
      await expect(page.getByTestId("toast")).toHaveCount(0);
      await expect(page).toHaveURL(/\/generate$/);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    });
  });
}

test("with JavaScript the toast hides by itself after a few seconds", async ({ page }) => {
  await signUp(page);
  await expect(page.getByTestId("toast")).toContainText("Welcome!");
  await page.mouse.move(0, 0); // not hovering it (hovering holds it)
  await expect(page.getByTestId("toast")).toHaveCount(0, { timeout: 12_000 });
});
