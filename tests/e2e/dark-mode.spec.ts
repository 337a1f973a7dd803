import { expect, test, type Page } from "@playwright/test";
import { grant, hold } from "../../app/services/money/ledger.server";
import { spendNow } from "../support/ledger";
import { latestMailTo, linkIn } from "../support/mailbox";
import {
  confirmEmail,
  expectNoA11yViolations,
  logIn,
  logInAsAdmin,
  submitSignup,
  signUp,
  uniqueEmail,
  userIdOf,
  withAppDb,
} from "./support";

// Issue #17: dark mode follows the system setting, and axe finds no violation on any page, in
// either scheme, on a desktop and a 390 px phone (decision 031). Every page of the app is opened
// once and checked in light, then in dark: the media query switches live, no reload needed.
// In dark, the page behind the content must really be dark and its text light, so this fails if
// the palette stopped swapping. The emulator's own pages (Checkout, portal) have their own tests.

const VIEWPORTS = [
  { name: "desktop", viewport: { width: 1280, height: 800 } },
  { name: "phone", viewport: { width: 390, height: 844 } },
] as const;

type Colours = { background: number[]; text: number[]; heading: number[] | null };

/** The colour behind <main> (the first opaque ancestor), its text and its first heading's, as rgb. */
function readColours(page: Page): Promise<Colours> {
  return page.evaluate(() => {
    const rgbOf = (css: string) => (css.match(/[\d.]+/g) ?? []).map(Number);
    const main = document.querySelector("main") ?? document.body;
    let background: number[] | null = null;
    for (let el: Element | null = main; el && !background; el = el.parentElement) {
      const bg = rgbOf(getComputedStyle(el).backgroundColor);
      if (bg.length >= 3 && (bg[3] ?? 1) > 0) background = bg.slice(0, 3);
    }
    const heading = main.querySelector("h1, h2");
    return {
      background: background ?? [],
      text: rgbOf(getComputedStyle(main).color).slice(0, 3),
      heading: heading ? rgbOf(getComputedStyle(heading).color).slice(0, 3) : null,
    };
  });
}

/** WCAG relative luminance, 0 black to 1 white (the same formula axe uses for contrast). */
function luminance([r, g, b]: number[]): number {
  const lin = (v: number) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** The page as it is now, in light then in dark: strict axe in both, and dark really dark. */
async function checkBothSchemes(page: Page, what: string) {
  for (const colorScheme of ["light", "dark"] as const) {
    await test.step(`${what} in ${colorScheme}`, async () => {
      await page.emulateMedia({ colorScheme });
      await expectNoA11yViolations(page);
      const { background, text, heading } = await readColours(page);
      expect(background, `${what}: an opaque background behind the page`).toHaveLength(3);
      if (colorScheme === "dark") {
        expect(luminance(background), `${what}: the background in dark is dark (rgb ${background})`).toBeLessThan(0.03);
        expect(luminance(text), `${what}: the text in dark is light (rgb ${text})`).toBeGreaterThan(0.7);
        if (heading) expect(luminance(heading), `${what}: the heading in dark is light (rgb ${heading})`).toBeGreaterThan(0.5);
      } else {
        expect(luminance(background), `${what}: the background in light is light (rgb ${background})`).toBeGreaterThan(0.85);
        expect(luminance(text), `${what}: the text in light is dark (rgb ${text})`).toBeLessThan(0.05);
      }
    });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Opens a path, waits until the page is hydrated and quiet (axe then sees the final page), checks it. */
async function visit(page: Page, path: string, what = path, status = 200) {
  const response = await page.goto(path);
  expect(response?.status(), path).toBe(status);
  await page.waitForLoadState("networkidle");
  await checkBothSchemes(page, what);
}

/** A customer with something on every page: a history with a hold, today's spending for the chart, a pack payment. */
function seedCustomer(email: string) {
  const userId = userIdOf(email);
  return withAppDb(async (db) => {
    await grant(db, { userId, amount: 1000, type: "bonus", key: `e2e-dark:${email}:topup`, description: "e2e top-up" });
    for (let i = 0; i < 6; i++) await spendNow(db, userId, 5, `Image #${i}`, `e2e-dark:${email}:${i}`);
    await hold(db, { userId, cost: 50, key: `e2e-dark:${email}:running`, description: "Video still running", ttlSeconds: 3600 });
    return (await grant(db, {
      userId, amount: 500, type: "purchase", key: `e2e-dark:${email}:payment`, description: "Bought Starter pack",
      stripePaymentId: `pi_e2e_dark_${userId}`, meta: { amountTotal: 500, currency: "usd" },
    })).transaction.id;
  });
}

/** An image and a video made through the app's API (the local provider), finished. */
async function makeResults(page: Page) {
  for (const [path, data] of [
    ["/api/generate-image", { prompt: "a lighthouse at dusk, long exposure", size: "256x256" }],
    ["/api/generate-video", { prompt: "waves rolling onto a pebble beach", durationSeconds: 4 }],
  ] as const) {
    const res = await page.request.post(path, { data });
    expect(res.status(), `${path}: ${await res.text()}`).toBeLessThan(300);
  }
  await expect(async () => {
    await page.goto("/generate");
    // Both finished: each result offers its download.
    await expect(page.getByTestId("gallery-item").getByTestId("action-download")).toHaveCount(2, { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
}

for (const { name, viewport } of VIEWPORTS) {
  test.describe(`light and dark, ${name}`, () => {
    test.use({ viewport });

    test("public pages, sign-up and password pages, and a 404", async ({ page }) => {
      test.setTimeout(180_000);
      for (const path of ["/", "/pricing", "/terms", "/privacy", "/support", "/login", "/signup", "/forgot-password"]) await visit(page, path);
      await visit(page, "/no-such-page", "404", 404);
      await visit(page, "/reset-password?token=nope", "reset link that does not work");
      await visit(page, "/verify-email?token=nope", "verification link that does not work");

      // A form answered with its errors (red on the card).
      await page.goto("/login");
      await page.waitForLoadState("networkidle");
      await page.getByRole("button", { name: "Log in" }).click();
      await expect(page.getByLabel("Email")).toHaveAttribute("aria-invalid", "true");
      await checkBothSchemes(page, "login with errors");

      const email = uniqueEmail("dark");
      await submitSignup(page, email);
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "check-inbox");
      // Logged in, not yet verified: the verify banner across the top.
      await logIn(page, email);
      await page.waitForLoadState("networkidle");
      await expect(page.getByRole("button", { name: "Resend the e-mail" })).toBeVisible();
      await checkBothSchemes(page, "generate, unverified (banner)");
      await page.goto(linkPathOf(email, "verify_email"));
      await page.waitForLoadState("networkidle");
      await expect(page.getByRole("button", { name: "Confirm my address" })).toBeVisible();
      await checkBothSchemes(page, "verify-email");
      await confirmEmail(page, email);

      await page.context().clearCookies();
      await page.goto("/forgot-password");
      await page.getByLabel("Email").fill(email);
      await page.getByRole("button", { name: "Send me a link" }).click();
      await expect(page.getByRole("status")).toContainText("If an account exists for that address");
      await checkBothSchemes(page, "forgot-password, sent");
      const reset = linkIn(latestMailTo(process.env.E2E_DATA_DIR!, email, "reset_password")!, "/reset-password");
      await visit(page, reset.pathname + reset.search, "reset-password");
    });

    test("a customer's pages: generate with results, billing, receipt, account, API keys", async ({ page }) => {
      test.setTimeout(180_000);
      const { email } = await signUp(page, uniqueEmail("dark-customer"));
      const paymentId = await seedCustomer(email);
      await makeResults(page);
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "generate with results");
      if (name === "phone") {
        await page.getByTestId("nav-menu").locator("summary").click();
        await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
        await checkBothSchemes(page, "phone menu open");
      }

      await page.goto("/settings/billing");
      await expect(page.getByRole("img", { name: /Credits bought and spent/ })).toBeVisible();
      await expect(page.getByTestId("history").getByTestId("history-row").first()).toBeVisible();
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "billing with history and chart");
      // The chart's bars are drawn in the palette too: lighter than the card in dark.
      await page.emulateMedia({ colorScheme: "dark" });
      const bar = await page.getByRole("img", { name: /Credits bought and spent/ }).locator("rect").first().evaluate((el) => getComputedStyle(el).fill);
      expect(luminance((bar.match(/[\d.]+/g) ?? []).map(Number)), `bar colour in dark: ${bar}`).toBeGreaterThan(0.2);
      await page.emulateMedia({ colorScheme: "light" });

      await visit(page, `/settings/billing/payments/${paymentId}`, "receipt");
      await visit(page, "/settings/account");

      await page.goto("/settings/api-keys");
      await page.waitForLoadState("networkidle");
      await page.getByLabel("Name").fill("nightly thumbnails");
      await page.getByRole("button", { name: "Create key" }).click();
      await expect(page.getByLabel("Your new API key")).toHaveValue(/^csk_/);
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "api-keys with a new key");
      await page.getByTestId("api-key-row").getByRole("link", { name: /Revoke/ }).click();
      await expect(page.getByTestId("confirm-revoke")).toBeVisible();
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "api-keys, confirm revoke");

      // A page a customer may not open.
      await visit(page, "/admin/credits", "403 for a customer", 403);
    });

    test("the admin console, the dev outbox and a toast", async ({ page, browser }) => {
      test.setTimeout(180_000);
      const customerContext = await browser.newContext();
      const { email } = await signUp(await customerContext.newPage(), uniqueEmail("dark-held"));
      await seedCustomer(email);
      await customerContext.close();
      const id = userIdOf(email);

      await logInAsAdmin(page);
      await visit(page, "/admin/credits", "admin user list");
      await visit(page, "/admin/credits/overview", "admin overview");
      await visit(page, `/admin/credits/${id}`, "admin user detail");
      await visit(page, `/admin/credits/${id}/hold`, "admin hold");
      await page.getByLabel("Reason (kept in the audit log)").fill("Dark mode check");
      await page.getByRole("button", { name: "Put on hold" }).click();
      await expect(page).toHaveURL(new RegExp(`/admin/credits/${id}$`));
      await expect(page.getByTestId("toast")).toBeVisible();
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "admin user detail, on hold, with a toast");
      await visit(page, "/admin/credits/audit", "admin audit");
      await visit(page, "/admin/credits/codes", "admin codes");
      await visit(page, "/admin/mail", "admin mail");
      await visit(page, "/dev/outbox", "dev outbox");
      await page.getByTestId("outbox-row").first().getByRole("link").first().click();
      await expect(page.getByTestId("outbox-links")).toBeVisible();
      await page.waitForLoadState("networkidle");
      await checkBothSchemes(page, "dev outbox message");
    });
  });
}

function linkPathOf(email: string, kind: string): string {
  const mail = latestMailTo(process.env.E2E_DATA_DIR!, email.toLowerCase(), kind);
  if (!mail?.links[0]) throw new Error(`no ${kind} mail to ${email}`);
  const url = new URL(mail.links[0]);
  return url.pathname + url.search;
}
