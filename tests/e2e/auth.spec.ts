import { expect, test, type Page } from "@playwright/test";
import { signUp, submitSignup, uniqueEmail } from "./support";

async function signUpAndRoundTrip(page: Page, email: string) {
  await signUp(page, email);
  await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Log in" })).toBeVisible();
  await expect(page.getByTestId("credit-balance")).toHaveCount(0);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Log in" }).click();
  await page.getByLabel("Email").fill(email.toUpperCase());
  await page.getByLabel("Password").fill("correct-horse-1");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/generate$/);
  await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
}

test.describe("accounts with JavaScript", () => {
  test("sign up, see 10 credits, log out and back in", async ({ page }) => {
    await signUpAndRoundTrip(page, uniqueEmail("js"));
  });

  test("a bad form shows field errors and signs nobody up", async ({ page }) => {
    await page.goto("/signup");
    // Wait for hydration: before it, the browser's own validation (a bubble, no text) answers.
    await page.waitForLoadState("networkidle");
    await page.getByLabel("Email").fill("nope");
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Sign up" }).click();
    await expect(page.getByText("Enter a valid email address")).toBeVisible();
    await expect(page.getByText("Password must be at least 8 characters")).toBeVisible();
    await expect(page).toHaveURL(/\/signup$/);
  });
});

test.describe("accounts without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign up, see 10 credits, log out and back in", async ({ page }) => {
    await signUpAndRoundTrip(page, uniqueEmail("nojs"));
  });

  test("a registered address gets the same \"check your inbox\" page as a new one, logged in as nobody", async ({ page }) => {
    const email = uniqueEmail("dup");
    await signUp(page, email);
    await page.getByRole("button", { name: "Log out" }).click();
    await submitSignup(page, email, "a-strangers-password");
    await expect(page.getByRole("heading", { name: "Check your inbox" })).toBeVisible();
    await expect(page.getByText("already exists")).toHaveCount(0);
    await expect(page.getByTestId("credit-balance")).toHaveCount(0);
  });

  test("an anonymous visitor is sent to log in and comes back after", async ({ page }) => {
    const email = uniqueEmail("redir");
    await signUp(page, email);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.goto("/settings/billing");
    await expect(page).toHaveURL(/\/login\?redirectTo=%2Fsettings%2Fbilling$/);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("correct-horse-1");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect(page).toHaveURL(/\/settings\/billing$/);
  });
});
