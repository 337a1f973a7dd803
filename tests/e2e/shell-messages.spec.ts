import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, signUp, submitSignup, uniqueEmail } from "./support";

// The shell's messages (issue #17): why the login page appeared, that logging out worked, and a
// way to log in from the "check your inbox" page that is the same for every address.

const PHONE = { width: 390, height: 844 };

for (const javaScriptEnabled of [true, false]) {
  for (const viewport of [PHONE, { width: 1280, height: 800 }]) {
    test.describe(`${viewport.width} px ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
      test.use({ javaScriptEnabled, viewport });

      test("a page that needs an account says 'Log in to continue'; the plain login page does not", async ({ page }) => {
        await page.goto("/settings/billing");
        await expect(page).toHaveURL(/\/login\?redirectTo=%2Fsettings%2Fbilling$/);
        await expect(page.getByTestId("login-to-continue")).toContainText("Log in to continue");
        if (javaScriptEnabled) await expectNoA11yViolations(page);
        await page.goto("/login");
        await expect(page.getByRole("heading", { name: "Log in" })).toBeVisible();
        await expect(page.getByTestId("login-to-continue")).toHaveCount(0);
      });

      test("logging out says 'You are logged out.' once", async ({ page }) => {
        await signUp(page);
        if (viewport.width < 640) await page.getByText("Menu", { exact: true }).click();
        await page.getByRole("button", { name: "Log out" }).click();
        await expect(page).toHaveURL(/\/$/);
        await expect(page.getByTestId("toast")).toContainText("You are logged out.");
        if (javaScriptEnabled) await expectNoA11yViolations(page);
        await page.goto("/generate"); // logged out for real: sent to log in
        await expect(page).toHaveURL(/\/login\?redirectTo=/);
        await expect(page.getByTestId("toast")).toHaveCount(0);
      });
    });
  }
}

test("'Already have an account?' is on the check-inbox page for a new address and a taken one alike", async ({ page }) => {
  const email = uniqueEmail("taken");
  await submitSignup(page, email);
  const fresh = await page.getByRole("main").innerText();
  await expect(page.getByTestId("already-have-account")).toHaveText("Already have an account? Log in with it below.");
  await expect(page.getByRole("main").getByRole("link", { name: "Log in" })).toBeVisible();
  await submitSignup(page, email); // the same address again
  expect(await page.getByRole("main").innerText()).toBe(fresh);
});
