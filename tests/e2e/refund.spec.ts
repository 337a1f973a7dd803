import { expect, test, type Browser, type Page } from "@playwright/test";
import { expectNoA11yViolations, logInAsAdmin, signUp, uniqueEmail, userIdOf, withAppDb } from "./support";

// An admin refunds a customer's purchase on /admin/credits/:id: a pack bought through the
// emulator's hosted checkout, refunded in part then in full (or in full at once), the credits
// coming back only when the emulator's charge.refunded webhook lands. With and without JavaScript.

/** A customer in their own browser, who bought one 500-credit pack for $5.00. */
async function customerWithPack(browser: Browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const { email } = await signUp(page, uniqueEmail("customer"));
  await page.goto("/settings/billing");
  await page.getByRole("button", { name: "Buy 500 credits" }).click();
  await expect(page.getByText("Total due: $5.00")).toBeVisible();
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  await expect(page.getByTestId("billing-balance")).toHaveText("510 credits");
  await context.close();
  return { email, id: userIdOf(email) };
}

function refundAudits(userId: number): Array<Record<string, unknown>> {
  return withAppDb((db) =>
    (db.sqlite.prepare("select details from audit_log where target_user_id = ? and action = 'purchase.refund' order by id").all(userId) as Array<{
      details: string;
    }>).map((r) => JSON.parse(r.details)),
  );
}

async function requestRefund(page: Page, reason: string, amount?: string) {
  const form = page.locator("form#refund-purchase");
  await form.getByLabel("Purchase").selectOption({ index: 1 });
  if (amount !== undefined) await form.getByLabel("Amount to refund (optional)").fill(amount);
  await form.getByLabel(/^Reason/).fill(reason);
  await form.getByRole("button", { name: "Request refund" }).click();
  await expect(page.getByTestId("toast")).toContainText("Refund requested");
}

/** The webhook is asynchronous: reload until the balance shows what it took back. */
async function expectBalance(page: Page, text: string) {
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("admin-user-balance")).toHaveText(text, { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`refunds ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("an admin refunds 2.50 of a $5.00 pack, then the rest; half the credits come back each time", async ({ page, browser }) => {
      const customer = await customerWithPack(browser);
      await logInAsAdmin(page);
      await page.goto(`/admin/credits/${customer.id}`);
      await expect(page.getByTestId("admin-user-balance")).toHaveText("510 credits");

      await requestRefund(page, `Half back ${customer.id}`, "2.50");
      await expect(page.getByTestId("toast")).toContainText("$2.50");
      await expectBalance(page, "260 credits");
      expect(refundAudits(customer.id)).toMatchObject([{ amount: 250, requestedAmount: 250, currency: "usd" }]);

      // More than is left is refused on the form, and nothing is asked of Stripe.
      const form = page.locator("form#refund-purchase");
      await form.getByLabel("Purchase").selectOption({ index: 1 });
      await expect(form.getByLabel("Purchase")).toContainText("250 already taken back");
      await form.getByLabel("Amount to refund (optional)").fill("2.51");
      await form.getByLabel(/^Reason/).fill("Too much");
      await form.getByRole("button", { name: "Request refund" }).click();
      await expect(form.getByText("At most 2.50 is left to refund on this purchase.")).toBeVisible();
      expect(refundAudits(customer.id)).toHaveLength(1);

      // The rest: an empty amount refunds what is left of the payment.
      await page.goto(`/admin/credits/${customer.id}`);
      await requestRefund(page, `The rest ${customer.id}`);
      await expectBalance(page, "10 credits");
      await expect(page.locator("form#refund-purchase")).toContainText("No purchase of this user can be refunded.");
      expect(refundAudits(customer.id)).toMatchObject([{ requestedAmount: 250 }, { amount: 250, requestedAmount: null }]);
      const ledger = page.getByTestId("admin-ledger").getByTestId("history-row");
      await expect(ledger.first()).toContainText("Payment refunded: credits taken back");
      await expect(ledger.nth(1)).toContainText("Partial refund: credits taken back");
      if (javaScriptEnabled) await expectNoA11yViolations(page);
    });

    test("a full refund at once takes every credit of the pack back", async ({ page, browser }) => {
      const customer = await customerWithPack(browser);
      await logInAsAdmin(page);
      await page.goto(`/admin/credits/${customer.id}`);
      await requestRefund(page, `Full ${customer.id}`);
      await expect(page.getByTestId("toast")).toContainText("$5.00");
      await expectBalance(page, "10 credits");
      expect(refundAudits(customer.id)).toMatchObject([{ amount: 500, requestedAmount: null }]);
    });
  });
}
