import { expect, test, type Browser, type Page } from "@playwright/test";
import { expectNoA11yViolations, logInAsAdmin, signUp, uniqueEmail, userIdOf, withAppDb } from "./support";

// Redeem codes in a real browser, with and without JavaScript: the admin creates a code on
// /admin/credits/codes (a bad figure first: the field says why), a user redeems it on the billing
// page (a wrong code first: the field says why), sees the toast, the balance and the history row;
// the admin disables a code through its confirm step and the audit log shows all of it.

function codeRows(): Array<{ code: string; used: number }> {
  return withAppDb((db) => db.sqlite.prepare("select code, redemption_count used from redeem_codes order by id desc").all() as Array<{ code: string; used: number }>);
}

async function ready(page: Page, js: boolean) {
  // Client validation only answers once React has hydrated the form.
  if (js) await page.waitForLoadState("networkidle");
}

async function adminCreatesCode(page: Page, js: boolean, credits: string): Promise<string> {
  await logInAsAdmin(page);
  await page.goto("/admin/credits");
  await page.getByRole("navigation", { name: "Admin console" }).getByRole("link", { name: "Redeem codes" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Redeem codes" })).toBeVisible();
  await ready(page, js);
  if (js) await expectNoA11yViolations(page);

  const form = page.locator("form#create-code");
  const before = codeRows().length;
  // A bad figure: refused on its field (in the browser with JS, by the server without), nothing created.
  await form.getByLabel("Credits per redemption").fill("1.5");
  await form.getByLabel("Times it may be used").fill("3");
  await form.getByLabel("Credits expire after (optional)").fill("-5d");
  await form.getByRole("button", { name: "Create code" }).click();
  await expect(form.getByText("Enter the credits per redemption as a whole number")).toBeVisible();
  await expect(form.getByText("Credits expire after: a duration like 30d")).toBeVisible();
  await expect(form.getByLabel("Credits per redemption")).toHaveAttribute("aria-invalid", "true");
  expect(codeRows()).toHaveLength(before);

  await form.getByLabel("Credits per redemption").fill(credits);
  await form.getByLabel("Credits expire after (optional)").fill("30d");
  await form.getByRole("button", { name: "Create code" }).click();
  await expect(page.getByTestId("toast")).toContainText(/Code [A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4} created/);
  await expect.poll(() => codeRows().length).toBe(before + 1);
  const created = codeRows()[0]!.code;
  const shown = `${created.slice(0, 4)}-${created.slice(4, 8)}-${created.slice(8)}`;
  const row = page.getByTestId("redeem-code-row").filter({ hasText: shown });
  await expect(row).toContainText("0 / 3");
  await expect(row).toContainText("Active");
  await expect(row).toContainText("30d");
  // The applied form starts over.
  await expect(page.locator("form#create-code").getByLabel("Credits per redemption")).toHaveValue("");
  if (js) await expectNoA11yViolations(page);
  return shown;
}

async function userRedeems(browser: Browser, js: boolean, shown: string, credits: number) {
  const context = await browser.newContext({ javaScriptEnabled: js });
  const page = await context.newPage();
  const { email } = await signUp(page, uniqueEmail(`redeem-${js ? "js" : "nojs"}`));
  await page.goto("/settings/billing");
  await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
  await ready(page, js);
  const form = page.getByTestId("redeem-form");
  // A wrong code: the field says so, nothing changes.
  await form.getByLabel("Code").fill("WRONG-CODE-9999");
  await form.getByRole("button", { name: "Redeem" }).click();
  await expect(form.getByRole("alert")).toHaveText("This code is not valid. Check it and try again.");
  await expect(page.getByTestId("billing-balance")).toHaveText("10 credits");
  // A malformed one: the browser (JS) or the server says what a code looks like.
  await form.getByLabel("Code").fill("%%%");
  await form.getByRole("button", { name: "Redeem" }).click();
  await expect(form.getByRole("alert")).toContainText("A code is 6 to 32 letters");

  // The right one, typed in lower case.
  await form.getByLabel("Code").fill(shown.toLowerCase());
  await form.getByRole("button", { name: "Redeem" }).click();
  await expect(page.getByTestId("toast")).toContainText(new RegExp(`${credits} credits added \\(expire on \\d{4}-\\d\\d-\\d\\d\\)`));
  await expect(page.getByTestId("billing-balance")).toHaveText(`${10 + credits} credits`);
  await expect(page.getByTestId("redeem-form").getByLabel("Code")).toHaveValue("");
  const row = page.getByTestId("history").getByTestId("history-row").first();
  await expect(row).toContainText("Redeemed code");
  await expect(row).toContainText(`+${credits}`);
  await expect(row).toContainText(shown);
  await expect(row).toContainText(/expires \d{4}-\d\d-\d\d/);

  // Twice: refused, once per account.
  await page.getByTestId("redeem-form").getByLabel("Code").fill(shown);
  await page.getByTestId("redeem-form").getByRole("button", { name: "Redeem" }).click();
  await expect(page.getByTestId("redeem-form").getByRole("alert")).toHaveText("You have already redeemed this code.");
  await expect(page.getByTestId("billing-balance")).toHaveText(`${10 + credits} credits`);
  if (js) await expectNoA11yViolations(page);
  await context.close();
  return userIdOf(email);
}

async function adminDisablesAndAudits(page: Page, shown: string, userId: number) {
  await page.goto("/admin/credits/codes");
  const row = page.getByTestId("redeem-code-row").filter({ hasText: shown });
  await expect(row).toContainText("1 / 3");
  await row.getByRole("link", { name: `Disable ${shown}` }).click();
  await expect(page.getByRole("heading", { name: `Disable the code ${shown}?` })).toBeVisible();
  await page.getByRole("button", { name: `Disable ${shown}` }).click();
  await expect(page.getByTestId("toast")).toContainText(`Code ${shown} disabled`);
  await expect(page.getByTestId("redeem-code-row").filter({ hasText: shown })).toContainText("Disabled");

  await page.getByRole("navigation", { name: "Admin console" }).getByRole("link", { name: "Audit log" }).click();
  const log = page.getByTestId("audit-log");
  await expect(log.getByTestId("audit-row").filter({ hasText: "Redeem code disabled" }).filter({ hasText: shown })).toHaveCount(1);
  await expect(log.getByTestId("audit-row").filter({ hasText: "Redeem code created" }).filter({ hasText: shown })).toHaveCount(1);
  await page.goto(`/admin/credits/audit?user=${userId}`);
  await expect(page.getByTestId("audit-row").filter({ hasText: "Code redeemed" }).filter({ hasText: shown })).toHaveCount(1);
}

for (const js of [true, false]) {
  test.describe(`redeem codes ${js ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled: js });

    test("admin creates a code, a user redeems it on the billing page, the admin disables it; all audited", async ({ page, browser }) => {
      const credits = js ? 40 : 45;
      const shown = await adminCreatesCode(page, js, String(credits));
      const userId = await userRedeems(browser, js, shown, credits);
      await adminDisablesAndAudits(page, shown, userId);
    });
  });
}

test("a customer is refused the admin codes page", async ({ page }) => {
  await signUp(page, uniqueEmail("not-admin"));
  const res = await page.goto("/admin/credits/codes");
  expect(res?.status()).toBe(403);
});
