import { expect, test } from "@playwright/test";
import { expectNoA11yViolations, signUp } from "./support";

// /settings/api-keys with and without JavaScript: create a key, see it once, find it in the list
// by its prefix, use it from outside the browser, revoke it, and see it refused (401) at once.

for (const javaScriptEnabled of [true, false]) {
  test.describe(`API keys ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("create, see once, use, revoke", async ({ page, request }) => {
      await signUp(page);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
      await expect(page).toHaveURL(/\/settings\/api-keys$/);
      await expect(page.getByRole("heading", { name: "API keys", level: 1 })).toBeVisible();
      if (javaScriptEnabled) await expectNoA11yViolations(page); // axe runs in the page: it needs JavaScript

      // A bad limit is refused on the page and creates nothing.
      await page.getByLabel("Name").fill("nightly thumbnails");
      await page.getByLabel("Monthly credit limit (optional)").fill("0");
      await page.getByRole("button", { name: "Create key" }).click();
      await expect(page.getByText(/The monthly limit must be a whole number/)).toBeVisible();
      await expect(page.getByText("No API keys yet.")).toBeVisible();

      await page.getByLabel("Name").fill("nightly thumbnails");
      await page.getByLabel("Monthly credit limit (optional)").fill("10");
      await page.getByRole("button", { name: "Create key" }).click();
      const field = page.getByLabel("Your new API key");
      await expect(field).toHaveValue(/^csk_[A-Za-z0-9_-]{43}$/);
      await expect(field).toHaveAttribute("readonly", "");
      const key = await field.inputValue();
      if (javaScriptEnabled) await expect(page.getByRole("button", { name: "Copy" })).toBeVisible();
      else await expect(page.getByRole("button", { name: "Copy" })).toHaveCount(0);
      if (javaScriptEnabled) await expectNoA11yViolations(page);

      const row = page.getByTestId("api-key-row").filter({ hasText: "nightly thumbnails" });
      await expect(row).toContainText(`${key.slice(0, 12)}…`);
      await expect(row).toContainText("never");
      await expect(row).toContainText("10");

      // Shown once: the page never shows it again.
      await page.goto("/settings/api-keys");
      await expect(page.getByTestId("new-key")).toHaveCount(0);
      expect(await page.content()).not.toContain(key);

      // From outside the browser: no cookie, no Origin.
      const before = await request.get("/api/credits", { headers: { Authorization: `Bearer ${key}` } });
      expect(before.status()).toBe(200);

      await row.getByRole("link", { name: /Revoke/ }).click();
      await expect(page.getByTestId("confirm-revoke")).toContainText("nightly thumbnails");
      if (javaScriptEnabled) await expectNoA11yViolations(page);
      await page.getByRole("button", { name: "Revoke key" }).click();
      await expect(page.getByText("API key revoked").first()).toBeVisible();
      await expect(page.getByText("No API keys yet.")).toBeVisible();

      const after = await request.get("/api/credits", { headers: { Authorization: `Bearer ${key}` } });
      expect(after.status()).toBe(401);
      expect(await after.json()).toMatchObject({ error: "invalid_api_key" });
    });
  });
}
