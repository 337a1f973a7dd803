import { expect, test, type Page } from "@playwright/test";
import { expectNoA11yViolations, logInAsAdmin, signUp, uniqueEmail } from "./support";

// Balance alerts in a real browser, with and without JavaScript: the threshold is set on the
// billing page (a bad value first: the field says why, nothing saved), an image (5 credits) takes
// the 10-credit sign-up bonus below it, the banner shows on every page with a link to buy credits
// (axe, and at 390 px), and the one mail is in the dev outbox.

async function ready(page: Page, js: boolean) {
  // Client validation only answers once React has hydrated the form.
  if (js) await page.waitForLoadState("networkidle");
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`balance alert ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("set a threshold, spend below it, see the banner and the mail", async ({ page, browser }) => {
      const { email } = await signUp(page, uniqueEmail(`alert-${javaScriptEnabled ? "js" : "nojs"}`));
      await page.goto("/settings/billing");
      await ready(page, javaScriptEnabled);
      const form = page.getByTestId("balance-alert-form");
      const status = page.getByTestId("balance-alert-status");
      await expect(status).toHaveText("Off: no mail about a low balance.");
      if (javaScriptEnabled) await expectNoA11yViolations(page);

      const field = form.getByLabel("Mail me when my balance falls below (credits)");
      await field.fill("1.5");
      await form.getByRole("button", { name: "Save alert" }).click();
      await expect(form.getByRole("alert")).toContainText("The alert threshold is a whole number of credits from 1 to 1,000,000.");
      await expect(page.getByTestId("balance-alert-form").getByLabel("Mail me when my balance falls below (credits)")).toHaveAttribute("aria-invalid", "true");
      await expect(status).toHaveText("Off: no mail about a low balance.");

      await page.getByTestId("balance-alert-form").getByLabel("Mail me when my balance falls below (credits)").fill("8");
      await page.getByTestId("balance-alert-form").getByRole("button", { name: "Save alert" }).click();
      await expect(page.getByTestId("toast")).toContainText("Balance alert set at 8 credits");
      await expect(status).toHaveText("On: one mail when your balance falls below 8 credits.");
      await expect(page.getByTestId("balance-alert-form").getByLabel("Mail me when my balance falls below (credits)")).toHaveValue("8");
      await expect(page.getByTestId("balance-alert-banner")).toHaveCount(0);

      await page.goto("/generate");
      await page.getByLabel("Image prompt").fill("a lighthouse at dusk");
      await page.getByLabel("Size").selectOption("256x256");
      await page.getByRole("button", { name: "Generate image (5 credits)" }).click();
      await expect(page).toHaveURL(/\/generate\?job=gen_/);
      await expect(page.getByTestId("current-job").getByTestId("job-status")).toHaveText("Done");
      await expect(page.getByTestId("credit-balance")).toHaveText("5 credits");

      const banner = page.getByTestId("balance-alert-banner");
      await expect(banner).toContainText("Your balance is 5 credits, below your alert at 8.");
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await page.setViewportSize({ width: 390, height: 800 });
      await expect(banner.getByRole("link", { name: "Buy credits" })).toBeVisible();
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await banner.getByRole("link", { name: "Buy credits" }).click();
      await expect(page).toHaveURL(/\/pricing$/);
      await expect(page.getByTestId("balance-alert-banner")).toBeVisible();

      const adminContext = await browser.newContext({ javaScriptEnabled });
      const admin = await adminContext.newPage();
      await logInAsAdmin(admin);
      const rows = () => admin.getByTestId("outbox-row").filter({ hasText: email }).filter({ hasText: "Your balance is below 8 credits" });
      await expect
        .poll(async () => {
          await admin.goto("/dev/outbox");
          return rows().count();
        }, { timeout: 20_000 })
        .toBe(1);
      await rows().getByRole("link").first().click();
      await expect(admin.getByText("Your Credits Studio balance is 5 credits, below the alert you set at 8 credits.")).toBeVisible();
      await adminContext.close();

      // Turning it off (an empty field) hides the banner.
      await page.goto("/settings/billing");
      await ready(page, javaScriptEnabled);
      await page.getByTestId("balance-alert-form").getByLabel("Mail me when my balance falls below (credits)").fill("");
      await page.getByTestId("balance-alert-form").getByRole("button", { name: "Save alert" }).click();
      await expect(page.getByTestId("toast")).toContainText("Balance alert off");
      await expect(page.getByTestId("balance-alert-banner")).toHaveCount(0);
    });
  });
}
