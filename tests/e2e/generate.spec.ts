import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { openDatabase } from "../../db/client.server";
import { grant } from "../../app/services/money/ledger.server";
import { signUp } from "./support";

// /generate with the built-in local provider (LOCAL_VIDEO_DURATION_MS=1500 in playwright.config):
// an image and a video, with and without JavaScript, and the balance falls by exactly the costs
// (IMAGE_COST 5; VIDEO_COST 50 per VIDEO_COST_SECONDS 8 at 720p, pro rata — the defaults: a 12 s
// clip costs 75).

function uniqueEmail(tag: string) {
  return `${tag}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.test`;
}

/** Test set-up through the ledger itself (a bonus grant), on the server's database file. */
async function topUp(email: string, amount: number) {
  const db = openDatabase(path.join(process.env.E2E_DATA_DIR!, "app.sqlite"));
  try {
    const user = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
    await grant(db, { userId: user.id, amount, type: "bonus", key: `e2e-topup:${email}`, description: "e2e top-up" });
  } finally {
    db.sqlite.close();
  }
}

async function signUpWithCredits(page: Page, tag: string) {
  const email = uniqueEmail(tag);
  await signUp(page, email);
  await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
  await topUp(email, 100);
  await page.goto("/generate");
  await expect(page.getByTestId("credit-balance")).toHaveText("110 credits");
}

async function expectLoaded(page: Page) {
  const img = page.getByTestId("current-job").getByRole("img");
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true);
}

async function generateImageAndVideo(page: Page, { javaScript }: { javaScript: boolean }) {
  const balance = page.getByTestId("credit-balance");
  const current = page.getByTestId("current-job");
  await expect(page.getByText("Costs 5 credits.")).toBeVisible();

  await page.getByLabel("Image prompt").fill("a lighthouse at dusk");
  await page.getByLabel("Size").selectOption("256x256");
  await page.getByRole("button", { name: "Generate image (5 credits)" }).click();
  await expect(page).toHaveURL(/\/generate\?job=gen_/);
  await expect(current.getByTestId("job-status")).toHaveText("Done");
  await expect(current.getByTestId("job-credits")).toHaveText("5 credits charged");
  await expectLoaded(page);
  await expect(balance).toHaveText("105 credits");

  await page.getByLabel("Video prompt").fill("waves on a pier");
  await page.getByLabel("Resolution").selectOption("720p");
  await page.getByLabel("Duration (seconds)").fill("12");
  // The rule is stated either way; the price of the chosen clip follows the fields only with JS.
  await expect(page.getByText("50 credits per 8 s at 720p, 100 at 1080p")).toBeVisible();
  const videoButton = page.getByRole("button", { name: /^Generate video/ });
  if (javaScript) {
    await expect(videoButton).toHaveText("Generate video (75 credits)");
    await expect(page.getByTestId("video-cost")).toHaveText("This video costs 75 credits.");
    await page.getByLabel("Resolution").selectOption("1080p");
    await expect(videoButton).toHaveText("Generate video (150 credits)");
    await page.getByLabel("Duration (seconds)").fill("1");
    await expect(videoButton).toHaveText("Generate video (13 credits)");
    await page.getByLabel("Resolution").selectOption("720p");
    await page.getByLabel("Duration (seconds)").fill("12");
    await expect(videoButton).toHaveText("Generate video (75 credits)");
  } else {
    // Without JS the button cannot follow the fields: it points at the price table beside it.
    await expect(videoButton).toHaveText("Generate video (price in the table)");
    await expect(page.getByTestId("video-cost")).toHaveCount(0);
    const table = page.getByTestId("video-price-table");
    await expect(table.getByRole("row", { name: "4 s 25 50" })).toBeVisible();
    await expect(table.getByRole("row", { name: "16 s 100 200" })).toBeVisible();
  }
  await videoButton.click();
  await expect(current).toHaveAttribute("data-status", /queued|running/);
  await expect(current.getByTestId("job-credits")).toHaveText("75 credits on hold");
  await expect(balance).toHaveText("30 credits");
  // The page follows the job by itself (revalidation with JS, a meta refresh without).
  await expect(current.getByTestId("job-status")).toHaveText("Done", { timeout: 20_000 });
  await expect(current.getByTestId("job-credits")).toHaveText("75 credits charged");
  await expectLoaded(page); // the local provider's animated GIF preview
  await expect(balance).toHaveText("30 credits");

  const gallery = page.getByTestId("gallery-item");
  await expect(gallery).toHaveCount(2);
  await expect(gallery.first()).toHaveAttribute("data-kind", "video");
  await expect(gallery.nth(1)).toHaveAttribute("data-kind", "image");
}

test.describe("generate with JavaScript", async () => {
  test("an image and a 12 s video: the balance falls by 5 and 75; the price follows the length", async ({ page }) => {
    await signUpWithCredits(page, "gen-js");
    await generateImageAndVideo(page, { javaScript: true });
  });

  test("a failed generation says so and costs nothing; a bad form shows its error", async ({ page }) => {
    await signUpWithCredits(page, "gen-fail");
    await page.getByLabel("Image prompt").fill("a storm [fail]");
    await page.getByRole("button", { name: "Generate image (5 credits)" }).click();
    const current = page.getByTestId("current-job");
    await expect(current.getByTestId("job-status")).toHaveText("Failed");
    await expect(current.getByTestId("job-credits")).toHaveText("No credits charged");
    await expect(page.getByTestId("toast")).toContainText("No credits were charged.");
    await expect(page.getByTestId("credit-balance")).toHaveText("110 credits");

    await page.getByLabel("Video prompt").fill("   ");
    await page.getByRole("button", { name: "Generate video" }).click();
    await expect(page.getByText("The prompt must not be empty")).toBeVisible();
    await expect(page.getByTestId("credit-balance")).toHaveText("110 credits");
  });
});

test.describe("generate without JavaScript", async () => {
  test.use({ javaScriptEnabled: false });

  test("an image and a 12 s video: the balance falls by 5 and 75; the page states the rule", async ({ page }) => {
    await signUpWithCredits(page, "gen-nojs");
    await generateImageAndVideo(page, { javaScript: false });
  });

  test("asking for more than the balance is refused with a clear message", async ({ page }) => {
    await signUp(page, uniqueEmail("gen-poor"));
    await page.getByLabel("Video prompt").fill("an epic");
    await page.getByRole("button", { name: "Generate video" }).click();
    // The default 4 s clip: half of 50.
    const refusal = page.getByTestId("form-error");
    await expect(refusal).toContainText("Not enough credits: this costs 25 and your balance is 10.");
    await expect(refusal.getByRole("link", { name: "See prices" })).toHaveAttribute("href", "/pricing");
    await expect(refusal.getByRole("link", { name: "buy credits" })).toHaveAttribute("href", "/settings/billing");
    await expect(page.getByTestId("credit-balance")).toHaveText("10 credits");
  });
});
