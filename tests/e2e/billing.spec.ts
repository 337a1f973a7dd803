import fs from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { grant, hold, voidHold } from "../../app/services/money/ledger.server";
import { expectNoA11yViolations, signUp, userIdOf, withAppDb } from "./support";
import { spendNow } from "../support/ledger";

// /settings/billing: balance and holds, the history in keyset pages with a type filter, the CSV of
// the whole history, the 30-day chart and the receipt of a purchase; with and without JavaScript.

const SPENDS = 60;

/** A long history written through the ledger itself: 64 rows, the newest a pending hold. */
async function seedHistory(email: string) {
  const userId = userIdOf(email);
  await withAppDb(async (db) => {
    await grant(db, { userId, amount: 1000, type: "bonus", key: `e2e-history:${email}:topup`, description: "e2e top-up" });
    for (let i = 0; i < SPENDS; i++) await spendNow(db, userId, 5, `Image #${i}`, `e2e-history:${email}:${i}`);
    const failed = await hold(db, { userId, cost: 50, key: `e2e-history:${email}:failed`, description: "Video that failed", ttlSeconds: 3600 });
    if (failed.ok) await voidHold(db, failed.transaction.id, "provider_failed");
    await hold(db, { userId, cost: 50, key: `e2e-history:${email}:running`, description: "Video still running", ttlSeconds: 3600 });
  });
  return { rows: 2 + SPENDS + 2, balance: 10 + 1000 - 5 * SPENDS - 50 };
}

/** A pack payment written through the ledger, as fulfilment writes it. */
async function seedPayment(email: string) {
  const userId = userIdOf(email);
  return withAppDb(
    async (db) =>
      (await grant(db, {
        userId, amount: 500, type: "purchase", key: `e2e-payment:${email}`, description: "Bought Starter pack",
        stripePaymentId: `pi_e2e_${userId}`, meta: { amountTotal: 500, currency: "usd" },
      })).transaction.id,
  );
}

async function readReceipt(page: Page, { axe }: { axe: boolean }) {
  const { email } = await signUp(page);
  const id = await seedPayment(email);
  await page.goto("/settings/billing");
  await page.getByRole("link", { name: /^Receipt for the payment/ }).click();
  await expect(page).toHaveURL(new RegExp(`/settings/billing/payments/${id}$`));
  await expect(page.getByTestId("receipt-amount")).toHaveText("$5.00");
  await expect(page.getByTestId("receipt-payment-id")).toHaveText(`pi_e2e_${userIdOf(email)}`);
  await expect(page.getByRole("link", { name: /Card receipt from Stripe/ })).toHaveAttribute("target", "_blank");
  // axe runs inside the page: not without JavaScript (the markup is the same either way).
  if (axe) await expectNoA11yViolations(page);
}

/** An image made through the app's API (the local provider), then read back from the history. */
async function readUsageRow(page: Page) {
  await signUp(page);
  const res = await page.request.post("/api/generate-image", { data: { prompt: "a red fox in fresh snow, morning light", size: "256x256" } });
  expect(res.status()).toBeLessThan(300);
  await expect(async () => {
    await page.goto("/settings/billing");
    await expect(page.getByTestId("usage-prompt").first()).toContainText("“a red fox in fresh snow, morning light”", { timeout: 1000 });
    await expect(page.getByRole("link", { name: /^View result/ })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  const link = page.getByRole("link", { name: /^View result/ });
  await expect(link).toHaveAttribute("target", "_blank");
  const file = await page.request.get((await link.getAttribute("href"))!);
  expect(file.status()).toBe(200);
  expect(file.headers()["content-type"]).toMatch(/^image\//);
  await expectNoA11yViolations(page);
}

async function readPageThroughHistory(page: Page) {
  const { email } = await signUp(page);
  const seeded = await seedHistory(email);
  await page.goto("/settings/billing");
  await expect(page.getByTestId("billing-balance")).toHaveText(`${seeded.balance} credits`);
  await expect(page.getByTestId("billing-on-hold")).toContainText("50 credits on hold");
  await expect(page.getByRole("img", { name: /Credits bought and spent/ })).toBeVisible();

  const rows = page.getByTestId("history").getByTestId("history-row");
  const cell = (n: number, name: string) => rows.nth(n).getByRole("cell", { name, exact: true });
  // Page 1: the pending hold, the voided (refunded) one, then the newest spends.
  await expect(rows).toHaveCount(25);
  await expect(cell(0, "Video still running")).toBeVisible();
  await expect(rows.nth(0)).toContainText("Pending");
  await expect(cell(1, "Video that failed")).toBeVisible();
  await expect(rows.nth(1)).toContainText("Refunded");
  await expect(cell(2, "Image #59")).toBeVisible();
  await expect(page.getByRole("link", { name: "← Newer" })).toHaveCount(0);

  await page.getByRole("link", { name: "Older →" }).click();
  await expect(cell(0, "Image #36")).toBeVisible();
  await expect(rows).toHaveCount(25);
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(cell(0, "Image #11")).toBeVisible();
  await expect(rows).toHaveCount(seeded.rows - 50);
  // The sign-up bonus expires (30 days by default): its row says when.
  await expect(rows.nth(seeded.rows - 51).getByRole("cell", { name: /^Sign-up bonus\s*expires \d{4}-\d\d-\d\d$/ })).toBeVisible();
  await expect(page.getByRole("link", { name: "Older →" })).toHaveCount(0);

  await page.getByRole("link", { name: "← Newer" }).click();
  await expect(cell(0, "Image #36")).toBeVisible();
  await page.getByRole("link", { name: "Newest" }).click();
  await expect(cell(0, "Video still running")).toBeVisible();

  // Filter by type (a GET form).
  await page.getByLabel("Type").selectOption("bonus");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/type=bonus/);
  await expect(rows).toHaveCount(2);
  await expect(cell(0, "e2e top-up")).toBeVisible();
  await expect(rows.nth(1).getByRole("cell", { name: /^Sign-up bonus\s*expires / })).toBeVisible();

  // The whole history as CSV.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /Download CSV/ }).click()]);
  expect(download.suggestedFilename()).toMatch(/^credits-history-\d{4}-\d{2}-\d{2}\.csv$/);
  const lines = fs.readFileSync((await download.path())!, "utf8").trimEnd().split("\r\n");
  expect(lines[0]).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id");
  expect(lines).toHaveLength(seeded.rows + 1);
  expect(lines[1]).toMatch(/,usage,pending,Video still running,-50,/);
  expect(lines[2]).toMatch(/,usage,refunded,Video that failed,-50,/);
  expect(lines[seeded.rows]).toMatch(/,bonus,posted,Sign-up bonus,10,10,\d{4}-\d\d-\d\dT[\d:.]+Z,,,$/);
}

test.describe("billing dashboard with JavaScript", async () => {
  test("a user reads and pages through a long history, filters it and downloads the CSV", async ({ page }) => {
    await readPageThroughHistory(page);
  });

  test("the page has no serious accessibility violation", async ({ page }) => {
    const { email } = await signUp(page);
    await seedHistory(email);
    await page.goto("/settings/billing");
    await expect(page.getByTestId("history")).toBeVisible();
    await expectNoA11yViolations(page);
    // Keyboard: the filter and the pager are reachable and show where focus is.
    await page.getByLabel("Type").focus();
    await page.keyboard.press("Tab");
    await expect(page.getByRole("button", { name: "Show" })).toBeFocused();
  });

  test("a purchase links to its Stripe receipt, for its owner only", async ({ page, browser }) => {
    await signUp(page);
    await page.goto("/settings/billing");
    await page.getByRole("button", { name: "Buy 500 credits" }).click();
    await page.getByRole("button", { name: "Pay", exact: true }).click();
    await expect(page).toHaveURL(/\/settings\/billing$/);
    await expect(page.getByTestId("toast")).toContainText("Payment received: 500 credits added");
    const purchase = page.getByTestId("history-row").filter({ hasText: "Purchase" });
    await expect(purchase).toContainText("+500");
    // Stripe's receipt opens in a new tab: the app stays where it was.
    const [stripeTab] = await Promise.all([page.context().waitForEvent("page"), purchase.getByRole("link", { name: /Stripe card receipt/ }).click()]);
    await expect(stripeTab).toHaveURL(/\/receipts\/ch_/);
    await expect(stripeTab.getByText("$5.00").first()).toBeVisible();
    await stripeTab.close();
    await expect(page).toHaveURL(/\/settings\/billing$/);

    // The app's own receipt: merchant, item, amount, date, number, payment id; printing hides the nav.
    await purchase.getByRole("link", { name: /^Receipt for the payment/ }).click();
    await expect(page).toHaveURL(/\/settings\/billing\/payments\/\d+$/);
    const href = new URL(page.url()).pathname;
    const receipt = page.getByTestId("payment-receipt");
    await expect(receipt.getByTestId("receipt-merchant")).toHaveText("Credits Studio");
    await expect(receipt.getByTestId("receipt-amount")).toHaveText("$5.00");
    await expect(receipt.getByTestId("receipt-item")).toContainText("500 credits");
    await expect(receipt.getByTestId("receipt-number")).toHaveText(/^CS-\d{6,}$/);
    await expect(receipt.getByTestId("receipt-payment-id")).toHaveText(/^pi_/);
    await expectNoA11yViolations(page);
    await page.emulateMedia({ media: "print" });
    await expect(page.getByRole("navigation", { name: "Main" })).toBeHidden();
    await expect(page.getByRole("link", { name: "← Back to billing" })).toBeHidden();
    await expect(receipt).toBeVisible();
    await page.emulateMedia({ media: "screen" });
    await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
    await page.getByRole("link", { name: "← Back to billing" }).click();
    await expect(page).toHaveURL(/\/settings\/billing$/);

    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await signUp(otherPage);
    const response = await otherPage.goto(href!);
    expect(response?.status()).toBe(404);
    await other.close();
  });
});

test("a usage row shows its prompt and links its result", async ({ page }) => {
  await readUsageRow(page);
});

test("each pack says what it buys and its price per credit", async ({ page }) => {
  await signUp(page);
  await page.goto("/settings/billing");
  const pack = page.getByRole("listitem").filter({ has: page.getByRole("button", { name: "Buy 500 credits" }) });
  await expect(pack.getByTestId("pack-per-credit")).toHaveText("· $0.01 per credit");
  await expect(pack.getByTestId("pack-buys")).toHaveText(/^≈ [\d,]+ images or [\d,]+ seconds of 720p video \([\d,]+ s at 1080p\)$/);
});

/** The chart a user sees (the other drawing is display:none): its tick labels' size on screen, in px. */
async function chartLabelPx(page: Page) {
  return page.getByRole("img", { name: /Credits bought and spent/ }).evaluate((svg) => {
    const scale = svg.getBoundingClientRect().width / (svg as SVGSVGElement).viewBox.baseVal.width;
    return [...svg.querySelectorAll("text")].map((t) => Number(t.getAttribute("font-size")) * scale);
  });
}

async function readChart(page: Page) {
  const { email } = await signUp(page);
  await page.goto("/settings/billing");
  await expect(page.getByTestId("credits-chart-empty")).toHaveText(/^No activity in these 30 days yet\./);
  await expect(page.getByRole("img", { name: /Credits bought and spent/ })).toHaveCount(0);
  await withAppDb(async (db) => spendNow(db, userIdOf(email), 3, "Image", `e2e-chart:${email}`));
  await page.reload();
  await expect(page.getByTestId("credits-chart-empty")).toHaveCount(0);
  const sizes = await chartLabelPx(page);
  expect(sizes.length).toBeGreaterThan(3);
  expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
  const ticks = await page.getByRole("img", { name: /Credits bought and spent/ }).getByTestId("chart-tick").allTextContents();
  expect(ticks).toEqual(["0", "1", "2", "3"]);
  await page.getByText("Figures per day").click();
  await expect(page.getByTestId("credits-chart-day")).toHaveCount(1);
  await expectNoA11yViolations(page);
}

test("the chart says 'no activity yet', steps in whole credits and has readable labels", async ({ page }) => {
  await readChart(page);
});

test.describe("billing dashboard without JavaScript", async () => {
  test.use({ javaScriptEnabled: false });

  test("a payment's receipt page opens from the history", async ({ page }) => {
    await readReceipt(page, { axe: false });
  });

  test("a user reads and pages through a long history, filters it and downloads the CSV", async ({ page }) => {
    await readPageThroughHistory(page);
  });
});

test.describe("billing dashboard on a phone", async () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test("fits 375 px: no sideways scrolling, every figure readable, paging works", async ({ page }) => {
    const { email } = await signUp(page);
    await seedHistory(email);
    await page.goto("/settings/billing");
    await expect(page.getByRole("button", { name: "Buy 500 credits" })).toBeVisible();
    const first = page.getByTestId("history-row").first();
    await expect(first.getByText("−50")).toBeVisible();
    await expect(first.getByText("Pending")).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.getByRole("link", { name: "Older →" }).click();
    await expect(page.getByTestId("history-row").first().getByRole("cell", { name: "Image #36", exact: true })).toBeVisible();
    await expectNoA11yViolations(page);
  });

  test("a usage row's prompt and result link fit 390 px", async ({ page }) => {
    await page.setViewportSize({ width: 390, height: 800 });
    await readUsageRow(page);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });

  test("the chart's labels are readable at 390 px", async ({ page }) => {
    await page.setViewportSize({ width: 390, height: 800 });
    await readChart(page);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });

  test("a payment's receipt fits 390 px", async ({ page }) => {
    await page.setViewportSize({ width: 390, height: 800 });
    await readReceipt(page, { axe: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
