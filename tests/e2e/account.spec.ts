import { expect, test, type Page } from "@playwright/test";
import { latestMailTo, linkIn } from "../support/mailbox";
import { expectNoA11yViolations, logIn, signUp, uniqueEmail, withAppDb } from "./support";

const dataDir = () => process.env.E2E_DATA_DIR!;

// axe runs in the page, so only where the page runs scripts.
async function axe(page: Page, js: boolean) {
  if (js) await expectNoA11yViolations(page);
}

async function forgotAndReset(page: Page, email: string, newPassword: string, js: boolean) {
  await page.goto("/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await axe(page, js);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send me a link" }).click();
  await expect(page.getByRole("status")).toContainText("If an account exists for that address, we sent a link");
  await axe(page, js);

  const link = linkIn(latestMailTo(dataDir(), email, "reset_password")!, "/reset-password");
  await page.goto(link.pathname + link.search);
  await axe(page, js);
  await page.getByLabel("New password").fill("short");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.getByText("Password must be at least 8 characters")).toBeVisible();
  await page.getByLabel("New password").fill(newPassword);
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByText("Your password was changed.")).toBeVisible();
  await logIn(page, email, newPassword);

  // The link worked once.
  await page.goto(link.pathname + link.search);
  await expect(page.getByText("This link was already used.")).toBeVisible();
  await expect(page.getByRole("link", { name: "Ask for a new link" })).toHaveAttribute("href", "/forgot-password");
}

async function accountForms(page: Page, browser: import("@playwright/test").Browser, js: boolean) {
  const { email, password } = await signUp(page, uniqueEmail("account"));
  const other = await browser.newContext({ javaScriptEnabled: js });
  const otherPage = await other.newPage();
  await logIn(otherPage, email, password);

  await page.getByTestId("nav-account").click();
  await expect(page).toHaveURL(/\/settings\/account$/);
  await expect(page.getByTestId("account-email")).toContainText(email);
  await expect(page.getByTestId("session-list").locator("tbody tr")).toHaveCount(2);
  await axe(page, js);

  const pw = page.getByRole("region", { name: "Change password" });
  await pw.getByLabel("Current password").fill("not-the-password");
  await pw.getByLabel("New password").fill("another-horse-2");
  await pw.getByRole("button", { name: "Change password" }).click();
  await expect(pw.getByText("The current password is not right.")).toBeVisible();
  await pw.getByLabel("Current password").fill(password);
  await pw.getByLabel("New password").fill("another-horse-2");
  await pw.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Every other session was signed out.")).toBeVisible();
  await expect(page.getByTestId("session-list").locator("tbody tr")).toHaveCount(1);
  await otherPage.goto("/settings/account");
  await expect(otherPage).toHaveURL(/\/login\?redirectTo=/);

  await logIn(otherPage, email, "another-horse-2");
  await page.reload();
  await expect(page.getByTestId("session-list").locator("tbody tr")).toHaveCount(2);
  await page.getByRole("button", { name: "Sign out everywhere else" }).click();
  await expect(page.getByText("1 other session was signed out.")).toBeVisible();
  await expect(page.getByTestId("session-list").locator("tbody tr")).toHaveCount(1);
  await other.close();

  const del = page.getByRole("region", { name: "Delete account" });
  await del.getByLabel("Password").fill("another-horse-2");
  await del.getByLabel("Type DELETE to confirm").fill("nope");
  await del.getByRole("button", { name: "Delete my account" }).click();
  await expect(del.getByText("Type DELETE to confirm", { exact: false }).last()).toBeVisible();
  await expect(page).toHaveURL(/\/settings\/account$/);
  await del.getByLabel("Password").fill("another-horse-2");
  await del.getByLabel("Type DELETE to confirm").fill("DELETE");
  await del.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.getByText("Your account was deleted.")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Log in" })).toBeVisible();
  expect(withAppDb((db) => db.sqlite.prepare("SELECT count(*) AS n FROM users WHERE email = ?").get(email))).toEqual({ n: 0 });
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`account ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("forgot password end to end: request, open the mailed link, set a new password, log in", async ({ page }) => {
      const { email } = await signUp(page, uniqueEmail(`reset-${javaScriptEnabled ? "js" : "nojs"}`));
      await page.getByRole("button", { name: "Log out" }).click();
      await forgotAndReset(page, email, "fresh-horse-9", javaScriptEnabled);
    });

    test("the account page: change password, sign out elsewhere, delete the account", async ({ page, browser }) => {
      await accountForms(page, browser, javaScriptEnabled);
    });
  });
}

test("change e-mail through the form: the confirm page (axe) swaps the address once confirmed", async ({ page }) => {
  const { email, password } = await signUp(page, uniqueEmail("chmail"));
  const newEmail = uniqueEmail("chmail-new");
  await page.goto("/settings/account");
  const form = page.getByRole("region", { name: "Change e-mail" });
  await form.getByLabel("New e-mail address").fill(newEmail);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Send a link to the new address" }).click();
  await expect(page.getByText("We sent a link to the new address.")).toBeVisible();
  await expect(page.getByTestId("account-email")).toContainText(email);
  const link = linkIn(latestMailTo(dataDir(), newEmail, "change_email")!, "/confirm-email-change");
  await page.goto(link.pathname + link.search);
  await expectNoA11yViolations(page);
  await page.getByRole("button", { name: "Confirm the new address" }).click();
  await expect(page).toHaveURL(/\/settings\/account$/);
  await expect(page.getByTestId("account-email")).toContainText(newEmail);
});
