import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, logInAsAdmin, signUp, uniqueEmail, userIdOf, withAppDb } from "./support";

// An admin puts an account on hold from the user's page and lifts it again, with a reason, with
// and without JavaScript; the customer's billing page says the account is on hold meanwhile.

const heldAt = (id: number) =>
  withAppDb((db) => (db.sqlite.prepare("select flagged_at as f from users where id = ?").get(id) as { f: number | null }).f);

for (const javaScriptEnabled of [true, false]) {
  test.describe(`account holds ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("put on hold with a reason, then lift it", async ({ page, browser }) => {
      const customerContext = await browser.newContext({ javaScriptEnabled });
      const customer = await customerContext.newPage();
      const { email } = await signUp(customer, uniqueEmail("held"));
      const id = userIdOf(email);

      await logInAsAdmin(page);
      await page.goto(`/admin/credits/${id}`);
      await page.getByRole("link", { name: "Put the account on hold" }).click();
      await expect(page.getByTestId("hold-state")).toContainText("is not on hold");
      if (javaScriptEnabled) await expectNoA11yViolations(page); // axe runs in the page: it needs JavaScript
      // A missing reason is refused on the page, and nothing changes.
      await page.getByRole("button", { name: "Put on hold" }).click();
      await expect(page.getByText(/A reason is required/)).toBeVisible();
      expect(heldAt(id)).toBeNull();

      await page.getByLabel("Reason (kept in the audit log)").fill("Unusual refunds, ticket 99");
      await page.getByRole("button", { name: "Put on hold" }).click();
      await expect(page).toHaveURL(new RegExp(`/admin/credits/${id}$`));
      await expect(page.getByText("Account put on hold").first()).toBeVisible();
      expect(heldAt(id)).not.toBeNull();

      await customer.goto("/settings/billing");
      await expect(customer.getByRole("alert").filter({ hasText: "on hold" })).toBeVisible();
      await expect(customer.getByRole("button", { name: /Buy/ }).first()).toBeDisabled();

      await page.getByRole("link", { name: "Lift the account hold" }).click();
      await page.getByLabel("Reason (kept in the audit log)").fill("Reviewed with the customer");
      await page.getByRole("button", { name: "Lift the hold" }).click();
      await expect(page).toHaveURL(new RegExp(`/admin/credits/${id}$`));
      expect(heldAt(id)).toBeNull();
      await customer.reload();
      await expect(customer.getByRole("button", { name: /Buy/ }).first()).toBeEnabled();
      await customerContext.close();
    });
  });
}
