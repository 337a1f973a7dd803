import { expect, test } from "@playwright/test";
import { logIn, logInAsAdmin, submitSignup, uniqueEmail } from "./support";

// The whole sign-up as a person does it with the embedded mail default: the form, then the mail
// opened from the outbox page (MAIL_OUTBOX=on; in production that page is for admins, so an admin
// reads it here), its link, the confirm button, and the bonus. With and without JavaScript.

for (const javaScriptEnabled of [true, false]) {
  test.describe(`sign-up through the outbox ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("sign up, open the mail from the outbox page, verify, see the bonus", async ({ page, browser }) => {
      const email = uniqueEmail("outbox");
      await submitSignup(page, email);
      await logIn(page, email);
      await expect(page.getByText("Confirm your e-mail address")).toBeVisible();

      const adminContext = await browser.newContext({ javaScriptEnabled });
      const admin = await adminContext.newPage();
      await logInAsAdmin(admin);
      await expect
        .poll(async () => {
          await admin.goto("/dev/outbox");
          return admin.getByTestId("outbox-row").filter({ hasText: email }).count();
        }, { timeout: 20_000 })
        .toBeGreaterThan(0);
      await admin.getByTestId("outbox-row").filter({ hasText: email }).getByRole("link").first().click();
      await expect(admin.getByRole("heading", { name: "Confirm your e-mail address" })).toBeVisible();
      const link = await admin.getByTestId("outbox-links").getByRole("link").first().getAttribute("href");
      expect(link).toMatch(/\/verify-email\?token=/);
      await adminContext.close();

      await page.goto(link!);
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await expect(page).toHaveURL(/\/generate$/);
      await page.goto("/settings/billing");
      await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
      await expect(page.getByText("Confirm your e-mail address")).toHaveCount(0);
    });
  });
}
