import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, signUp } from "./support";

// An unknown address answers 404 with the whole layout (the signed-in nav too) and words for a
// person, never the router's "No route matches URL". With and without JavaScript.

for (const javaScriptEnabled of [true, false]) {
  test.describe(`the 404 page ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("signed out: 404, the nav, a plain sentence and a way home", async ({ page }) => {
      const response = await page.goto("/nope");
      expect(response?.status()).toBe(404);
      await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("We couldn't find that page");
      await expect(page.locator("body")).not.toContainText("No route matches");
      await expect(page.locator("body")).not.toContainText("Error:");
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await page.getByRole("link", { name: "Go to the home page" }).click();
      await expect(page).toHaveURL(/\/$/);
    });

    test("signed in: the nav still shows the account's links and balance", async ({ page }) => {
      await signUp(page);
      const response = await page.goto("/settings/nope/deeper?x=1");
      expect(response?.status()).toBe(404);
      const nav = page.getByRole("navigation", { name: "Main" });
      await expect(nav.getByRole("link", { name: "Billing" })).toBeVisible();
      await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("We couldn't find that page");
      await expect(page).toHaveTitle(/Page not found/);
    });
  });
}

test("a form posted to an unknown address is a 404 too, not a developer's 405", async ({ request }) => {
  const response = await request.post("/nope", { form: { a: "1" }, headers: { Origin: new URL(test.info().project.use.baseURL!).origin } });
  expect(response.status()).toBe(404);
  const html = await response.text();
  expect(html).toContain("We couldn&#x27;t find that page");
  expect(html).not.toMatch(/did not provide an `action`|No route matches/);
});
