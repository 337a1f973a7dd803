import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, submitSignup, uniqueEmail, verificationLinkOf, withAppDb } from "./support";

// Address verification in the browser, with and without JavaScript: the "check your inbox" page,
// the banner and its resend button, the link's page and its button, the bonus.

for (const javaScriptEnabled of [true, false]) {
  test.describe(`verification ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("sign up, see the banner, resend, open the link, confirm, get the bonus", async ({ page }) => {
      const email = uniqueEmail(javaScriptEnabled ? "verify-js" : "verify-nojs");
      await submitSignup(page, email);
      await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();
      await expect(page.getByTestId("credit-balance")).toHaveCount(0); // nobody is logged in yet
      if (javaScriptEnabled) await expectNoA11yViolations(page);

      await page.getByRole("main").getByRole("link", { name: "Log in" }).click();
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill("correct-horse-1");
      await page.getByRole("button", { name: "Log in" }).click();
      await expect(page).toHaveURL(/\/generate$/);
      const banner = page.getByTestId("verify-banner");
      await expect(banner).toContainText("Confirm your e-mail address to get your 10 free credits.");
      await expect(page.getByTestId("credit-balance")).toHaveText("0 credits");
      if (javaScriptEnabled) await expectNoA11yViolations(page);

      const first = verificationLinkOf(email);
      await banner.getByRole("button", { name: "Resend the e-mail" }).click();
      await expect(page).toHaveURL(/\/generate$/);
      await expect(page.getByTestId("toast")).toContainText("E-mail sent");
      const second = verificationLinkOf(email);
      expect(second).not.toBe(first);

      await page.goto(second);
      await expect(page.getByRole("heading", { name: "Confirm your e-mail address" })).toBeVisible();
      await expect(page.getByTestId("credit-balance")).toHaveText("0 credits"); // opening the link changes nothing
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await expect(page).toHaveURL(/\/generate$/);
      await expect(page.getByTestId("toast")).toContainText("10 free credits were added");
      await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
      await expect(page.getByTestId("verify-banner")).toHaveCount(0);

      await page.goto(second);
      await expect(page.getByText("This confirmation link was already used.")).toBeVisible();
      await expect(page.getByRole("button", { name: "Confirm my address" })).toHaveCount(0);
    });

    test("an expired link says so and sends a new one", async ({ page }) => {
      const email = uniqueEmail("verify-expired");
      await submitSignup(page, email);
      withAppDb((db) => db.sqlite.prepare("update email_tokens set expires_at = 1 where email = ?").run(email));
      await page.goto(verificationLinkOf(email));
      await expect(page.getByText("This confirmation link has expired")).toBeVisible();
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await page.getByRole("button", { name: "Send me a new link" }).click();
      await expect(page.getByText("We sent a new confirmation link.")).toBeVisible();
      await page.goto(verificationLinkOf(email));
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await expect(page.getByRole("heading", { name: "Address confirmed" })).toBeVisible();
      await expect(page.getByText("10 free credits were added")).toBeVisible();
      if (javaScriptEnabled) await expectNoA11yViolations(page);
    });
  });
}
