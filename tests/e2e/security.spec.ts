import { expect, test } from "@playwright/test";

// The Content-Security-Policy lets the app's own scripts run (with the response's nonce) and
// blocks nothing the app needs: pages hydrate and navigate on the client, with no violation.

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});

test("pages hydrate under the CSP without a single violation", async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  const documents: string[] = [];
  page.on("request", (r) => {
    if (r.resourceType() === "document") documents.push(r.url());
  });

  await page.goto("/login");
  await expect(page.getByRole("heading", { name: "Log in" })).toBeVisible();
  // Hydrated: the link is followed by the client router, without loading a new document.
  await page.waitForFunction(() => "__remixRouter" in window);
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();
  await expect(page).toHaveURL(/\/signup$/);
  expect(documents).toHaveLength(1);

  // The honeypot is in the form but nobody sees it or tabs into it.
  await expect(page.locator('input[name="website"]')).toBeHidden();

  const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
  expect(violations).toEqual([]);
  expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e))).toEqual([]);
});

test("the page may not be framed by another site", async ({ page, request }) => {
  const res = await request.get("/login");
  expect(res.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(res.headers()["x-frame-options"]).toBe("DENY");
  await page.goto("/login");
  const nonce = await page.locator("script[nonce]").first().evaluate((s) => (s as HTMLScriptElement).nonce ?? "");
  expect(nonce.length).toBeGreaterThan(10); // the browser saw the nonce (and hides it from the DOM attribute)
});
