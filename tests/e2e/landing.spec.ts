import { expect, test } from "@playwright/test";
import { expectNoA11yViolations } from "./support";

// The landing page (issue #17) says what you get and for how much, with real pictures from the
// built-in generator; a footer on every page links pricing and the operator's pages.

const PHONE = { width: 390, height: 844 };

for (const viewport of [PHONE, { width: 1280, height: 800 }]) {
  test(`landing at ${viewport.width} px: examples, prices in money, footer links`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await page.goto("/");
    await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    const images = page.getByRole("img", { name: /Generated for the prompt/ });
    await expect(images).toHaveCount(3);
    for (const img of await images.all()) {
      await img.scrollIntoViewIfNeeded();
      // Really drawn: the browser decoded a PNG of the promised size.
      await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(384);
    }
    const offers = page.getByTestId("landing-offers");
    await expect(offers.getByRole("listitem").first()).toContainText(/\$\d/);
    await expect(offers).toContainText(/Starter plan · 1,000 credits\$[\d.]+ a month/);
    await expect(offers).toContainText(/Credit pack · 500 credits\$5\.00/);
    const footer = page.getByRole("contentinfo").getByRole("navigation", { name: "Site" });
    for (const name of ["Pricing", "Terms", "Privacy", "Support"]) await expect(footer.getByRole("link", { name, exact: true })).toBeVisible();
    await expectNoA11yViolations(page);
  });
}

test("an example image is a cached PNG, and an unknown one is a 404", async ({ request }) => {
  const res = await request.get("/examples/neon-forest.png");
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toBe("image/png");
  expect(res.headers()["cache-control"]).toContain("max-age=");
  expect((await res.body()).subarray(1, 4).toString()).toBe("PNG");
  expect((await request.get("/examples/nope.png")).status()).toBe(404);
});

for (const javaScriptEnabled of [true, false]) {
  test(`the footer reaches terms, privacy and support ${javaScriptEnabled ? "with" : "without"} JavaScript, default text when the operator set none`, async ({ browser }) => {
    const context = await browser.newContext({ javaScriptEnabled, viewport: PHONE });
    const page = await context.newPage();
    await page.goto("/pricing");
    const footer = page.getByRole("contentinfo");
    await footer.getByRole("link", { name: "Terms", exact: true }).click();
    await expect(page).toHaveURL(/\/terms$/);
    await expect(page.getByRole("heading", { name: "Terms of service", level: 1 })).toBeVisible();
    await expect(page.getByRole("main")).toContainText("has not published its terms");
    await footer.getByRole("link", { name: "Privacy", exact: true }).click();
    await expect(page.getByRole("heading", { name: "Privacy", level: 1 })).toBeVisible();
    await footer.getByRole("link", { name: "Support", exact: true }).click();
    await expect(page.getByRole("heading", { name: "Support", level: 1 })).toBeVisible();
    if (javaScriptEnabled) await expectNoA11yViolations(page);
    await context.close();
  });
}
