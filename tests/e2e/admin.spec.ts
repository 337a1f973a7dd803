import { expect, test, type Browser, type Page } from "@playwright/test";
import {
  expectNoA11yViolations,
  logInAsAdmin,
  signUp,
  uniqueEmail,
  userIdOf,
  withAppDb,
} from "./support";

// /admin/credits: find a user by email, change their balance with a reason (once, however often
// the form is sent), the user sees it, the audit log records it; a non-admin is refused. With and
// without JavaScript.

/** A customer signed up in their own browser context. */
async function newCustomer(browser: Browser, javaScriptEnabled: boolean) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  const { email } = await signUp(page, uniqueEmail("customer"));
  return { context, page, email, id: userIdOf(email) };
}

function auditRowsFor(userId: number, reason: string): number {
  return withAppDb(
    (db) =>
      (db.sqlite.prepare("select count(*) as n from audit_log where target_user_id = ? and reason = ?").get(userId, reason) as { n: number }).n,
  );
}

function balanceOf(userId: number): number {
  return withAppDb((db) => (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits);
}

async function findUser(page: Page, email: string) {
  await page.goto("/admin/credits");
  await page.getByLabel("Search by email").fill(email.slice(0, email.indexOf("@")));
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/q=customer-/);
  const rows = page.getByTestId("admin-user-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("10"); // the sign-up bonus is the whole balance
  await rows.first().getByRole("link", { name: email }).click();
  await expect(page.getByRole("heading", { level: 1, name: email })).toBeVisible();
}

async function fillAdjustment(page: Page, amount: string, reason: string, type: "bonus" | "adjustment" = "bonus") {
  const form = page.locator("form#adjust-credits");
  await form.getByLabel("Amount (credits)").fill(amount);
  await form.getByLabel("Type").selectOption(type);
  await form.getByLabel(/^Reason/).fill(reason);
  return form;
}

async function adminAddsCredits(page: Page, browser: Browser, javaScriptEnabled: boolean) {
  const customer = await newCustomer(browser, javaScriptEnabled);
  await logInAsAdmin(page);
  await findUser(page, customer.email);

  // Add 250 credits with a reason.
  const reason = `Goodwill ${customer.id}`;
  const form = await fillAdjustment(page, "250", reason);
  await form.getByRole("button", { name: "Apply change" }).click();
  await expect(page.getByTestId("toast")).toContainText("Balance changed");
  await expect(page.getByTestId("admin-user-balance")).toHaveText("260 credits");
  // The applied form starts over (a fresh token), so it cannot be applied again by accident.
  await expect(page.locator("form#adjust-credits").getByLabel("Amount (credits)")).toHaveValue("");
  const ledgerRow = page.getByTestId("admin-ledger").getByTestId("history-row").first();
  await expect(ledgerRow).toContainText("+250");
  await expect(ledgerRow).toContainText(reason);

  // The customer sees them.
  await customer.page.goto("/settings/billing");
  await expect(customer.page.getByTestId("billing-balance")).toHaveText("260 credits");
  const row = customer.page.getByTestId("history-row").first();
  await expect(row).toContainText("Bonus credits");
  await expect(row).toContainText("+250");
  await expect(row).not.toContainText(reason); // the admin's reason stays internal

  // The audit log says who, when and why.
  await page.getByRole("navigation", { name: "Admin console" }).getByRole("link", { name: "Audit log" }).click();
  const entry = page.getByTestId("audit-row").first();
  await expect(entry).toContainText("admin@e2e.test");
  await expect(entry).toContainText(customer.email);
  await expect(entry).toContainText(reason);
  await expect(entry).toContainText("+250 credits (bonus)");
  expect(auditRowsFor(customer.id, reason)).toBe(1);

  // A double-submitted form adds once: the button pressed twice...
  await page.goto(`/admin/credits/${customer.id}`);
  const twice = await fillAdjustment(page, "40", `Twice ${customer.id}`);
  await twice.getByRole("button", { name: "Apply change" }).dblclick();
  await expect(page.getByTestId("toast")).toBeVisible();
  await expect(page.getByTestId("admin-user-balance")).toHaveText("300 credits");
  expect(balanceOf(customer.id)).toBe(300);
  expect(auditRowsFor(customer.id, `Twice ${customer.id}`)).toBe(1);

  // ...and the same form (same token) sent again, as a browser re-posting it would.
  const again = await fillAdjustment(page, "15", `Resent ${customer.id}`);
  const fields = {
    intent: "adjust",
    token: await again.locator('input[name="token"]').inputValue(),
    amount: "15",
    type: "bonus",
    reason: `Resent ${customer.id}`,
  };
  await again.getByRole("button", { name: "Apply change" }).click();
  await expect(page.getByTestId("admin-user-balance")).toHaveText("315 credits");
  const resent = await page.request.post(`/admin/credits/${customer.id}`, {
    form: fields,
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(resent.status()).toBe(200); // followed the 303 back to the page
  expect(await resent.text()).toContain("Already applied");
  expect(balanceOf(customer.id)).toBe(315);
  expect(auditRowsFor(customer.id, `Resent ${customer.id}`)).toBe(1);

  await customer.context.close();
  return customer;
}

async function badInputChangesNothing(page: Page, browser: Browser, javaScriptEnabled: boolean) {
  const customer = await newCustomer(browser, javaScriptEnabled);
  await logInAsAdmin(page);
  await page.goto(`/admin/credits/${customer.id}`);
  const cases: Array<[amount: string, reason: string, message: RegExp]> = [
    ["1.5", "A reason", /whole number of credits/],
    ["0", "A reason", /cannot be zero/],
    ["99999999999", "A reason", /At most 1,000,000 credits/],
    ["25", "", /A reason is required/],
    ["-11", "Take back", /balance is 10 credits: removing 11 would take it below zero/],
  ];
  for (const [amount, reason, message] of cases) {
    const form = await fillAdjustment(page, amount, reason, "adjustment");
    await form.getByRole("button", { name: "Apply change" }).click();
    await expect(form.getByText(message)).toBeVisible();
    // What was typed stays, so it can be corrected.
    await expect(form.getByLabel("Amount (credits)")).toHaveValue(amount);
  }
  // A large change needs the confirmation box, checked by the server too.
  const form = await fillAdjustment(page, "5000", "Enterprise deal");
  await form.getByRole("button", { name: "Apply change" }).click();
  await expect(form.getByText("This is a large change: tick to confirm.")).toBeVisible();
  expect(balanceOf(customer.id)).toBe(10);
  await form.getByLabel("I confirm this large change").check();
  await form.getByRole("button", { name: "Apply change" }).click();
  await expect(page.getByTestId("admin-user-balance")).toHaveText("5,010 credits");
  expect(withAppDb((db) => db.sqlite.prepare("select count(*) as n from audit_log where target_user_id = ?").get(customer.id))).toEqual({ n: 1 });
  await customer.context.close();
}

test.describe("admin console with JavaScript", () => {
  test("an admin finds a user by email, adds credits with a reason, the user sees them, a double submit adds once", async ({ page, browser }) => {
    await adminAddsCredits(page, browser, true);
  });

  test("bad amounts, a missing reason and an unconfirmed large change are refused with field errors", async ({ page, browser }) => {
    await badInputChangesNothing(page, browser, true);
  });

  test("the admin pages have no serious accessibility violation", async ({ page, browser }) => {
    const customer = await newCustomer(browser, true);
    await customer.context.close();
    await logInAsAdmin(page);
    for (const path of ["/admin/credits", `/admin/credits/${customer.id}`, "/admin/credits/audit", "/admin/credits/overview"]) {
      await page.goto(path);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await expectNoA11yViolations(page);
    }
    // With the forms showing their errors too.
    await page.goto(`/admin/credits/${customer.id}`);
    await page.locator("form#adjust-credits").getByRole("button", { name: "Apply change" }).click();
    await expect(page.locator("form#adjust-credits").getByRole("alert").first()).toBeVisible();
    await expectNoA11yViolations(page);
  });

  test("on a phone the user list and a user's page fit the screen", async ({ browser }) => {
    const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const customer = await newCustomer(browser, true);
    await customer.context.close();
    await logInAsAdmin(page);
    for (const path of ["/admin/credits", `/admin/credits/${customer.id}`, "/admin/credits/audit", "/admin/credits/overview"]) {
      await page.goto(path);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(375);
    }
    await expect(page.getByTestId("overview-sold")).toBeVisible();
    await context.close();
  });
});

test.describe("admin console without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("an admin finds a user by email, adds credits with a reason, the user sees them, a double submit adds once", async ({ page, browser }) => {
    await adminAddsCredits(page, browser, false);
  });

  test("bad amounts, a missing reason and an unconfirmed large change are refused with field errors", async ({ page, browser }) => {
    await badInputChangesNothing(page, browser, false);
  });
});

test.describe("who may use the admin console", () => {
  test.use({ javaScriptEnabled: false });

  test("an anonymous visitor is sent to log in; a signed-in customer gets 403", async ({ page }) => {
    await page.goto("/admin/credits");
    await expect(page).toHaveURL(/\/login\?redirectTo=%2Fadmin%2Fcredits$/);
    const { email } = await signUp(page);
    const id = userIdOf(email);
    for (const path of ["/admin/credits", `/admin/credits/${id}`, "/admin/credits/audit", "/admin/credits/overview"]) {
      const response = await page.goto(path);
      expect(response?.status(), path).toBe(403);
      await expect(page.getByText("administrators only")).toBeVisible();
    }
    // Nor can a customer post the form by hand.
    const post = await page.request.post(`/admin/credits/${id}`, {
      form: { intent: "adjust", token: "aaaaaaaaaaaaaaaaaaaa", amount: "1000", type: "bonus", reason: "free money" },
      headers: { Origin: new URL(page.url()).origin },
      maxRedirects: 0,
    });
    expect(post.status()).toBe(403);
    expect(balanceOf(id)).toBe(10);
  });
});
