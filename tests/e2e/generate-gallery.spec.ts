import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { openDatabase } from "../../db/client.server";
import { grant } from "../../app/services/money/ledger.server";
import { expectNoA11yViolations, signUp } from "./support";

// Issue #17, the generate page: forms first and results compact; the balance once; a price and a
// reason on the video button; a running video that survives a refresh, its bar and "Video ready";
// Download, Delete and "Use this prompt" — on a desktop and a 390 px phone, with and without JS.
// Local provider: IMAGE_COST 5, a 4 s 720p clip 25, LOCAL_VIDEO_DURATION_MS 1500 (playwright.config).

function uniqueEmail(tag: string) {
  return `${tag}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.test`;
}

async function topUp(email: string, amount: number) {
  const db = openDatabase(path.join(process.env.E2E_DATA_DIR!, "app.sqlite"));
  try {
    const user = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
    await grant(db, { userId: user.id, amount, type: "bonus", key: `e2e-topup:${email}`, description: "e2e top-up" });
  } finally {
    db.sqlite.close();
  }
}

async function signUpWith(page: Page, tag: string, extra: number) {
  const email = uniqueEmail(tag);
  await signUp(page, email);
  if (extra) await topUp(email, extra);
  await page.goto("/generate");
}

async function makeImage(page: Page, prompt: string) {
  await page.getByLabel("Image prompt").fill(prompt);
  await page.getByLabel("Size").selectOption("256x256");
  await page.getByRole("button", { name: "Generate image (5 credits)" }).click();
  await expect(page.getByTestId("current-job").getByTestId("job-status")).toHaveText("Done");
}

/** axe runs inside the page, so it needs JavaScript: the no-JS runs render the same markup. */
async function axe(page: Page, javaScriptEnabled: boolean) {
  if (javaScriptEnabled) await expectNoA11yViolations(page);
}

for (const viewport of [
  { name: "desktop", size: { width: 1280, height: 800 } },
  { name: "phone", size: { width: 390, height: 800 } },
]) {
  for (const javaScriptEnabled of [true, false]) {
    test.describe(`${viewport.name}, ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
      test.use({ viewport: viewport.size, javaScriptEnabled });

      test("forms first, compact thumbnails, the balance once, the gallery one tap away; download, reuse and delete", async ({ page }) => {
        await signUpWith(page, `gal-${viewport.name}-${javaScriptEnabled}`, 100);
        await makeImage(page, "a red kite");
        await makeImage(page, "a blue boat");
        await page.goto("/generate");

        // The balance appears once on the screen: the header's.
        await expect(page.getByTestId("credit-balance")).toHaveText("100 credits");
        await expect(page.getByText("100 credits", { exact: true }).filter({ visible: true })).toHaveCount(1);
        await expect(page.getByText(/Your balance/)).toHaveCount(0);

        // Both forms start above the fold; thumbnails are small.
        for (const name of ["Image", "Video"]) {
          const top = await page.getByRole("heading", { name, exact: true }).evaluate((el) => el.getBoundingClientRect().top);
          if (viewport.name === "desktop") expect(top).toBeLessThan(800);
        }
        const item = page.getByTestId("gallery-item").first();
        const box = (await item.boundingBox())!;
        expect(box.height).toBeLessThan(340);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.size.width);

        // The jump link reaches the gallery (a phone has both forms above it).
        await page.getByTestId("jump-to-gallery").click();
        await expect(page.getByRole("heading", { name: "Your generations" })).toBeInViewport();
        await axe(page, javaScriptEnabled);

        // Download: the file route, as an attachment.
        const download = item.getByTestId("action-download");
        const href = (await download.getAttribute("href"))!;
        expect(href).toMatch(/^\/generations\/gen_[0-9a-f]{24}\/file\?download=1$/);
        const res = await page.request.get(href);
        expect(res.status()).toBe(200);
        expect(res.headers()["content-disposition"]).toMatch(/^attachment; filename="gen_[0-9a-f]{24}\.png"$/);

        // Use this prompt: the form is filled, by the server.
        await item.getByTestId("action-reuse").click();
        await expect(page.getByLabel("Image prompt")).toHaveValue("a blue boat");

        // Delete: a confirm step, then the result is gone; the balance is untouched.
        const id = await item.getAttribute("data-id");
        await item.getByTestId("action-delete").click();
        const confirm = page.getByTestId("delete-confirm");
        await expect(confirm).toContainText("a blue boat");
        await axe(page, javaScriptEnabled);
        await confirm.getByRole("button", { name: "Delete for good" }).click();
        await expect(page.getByTestId("toast")).toContainText("Deleted");
        await expect(page.getByTestId("gallery-item")).toHaveCount(1);
        await expect(page.locator(`[data-id="${id}"]`)).toHaveCount(0);
        await expect(page.getByTestId("credit-balance")).toHaveText("100 credits");
        expect((await page.request.get(href)).status()).toBe(404);
      });

      test("a running video survives a refresh, shows a styled bar, then says Video ready", async ({ page }) => {
        await signUpWith(page, `run-${viewport.name}-${javaScriptEnabled}`, 100);
        await page.getByLabel("Video prompt").fill("a slow tide");
        await page.getByRole("button", { name: /^Generate video/ }).click();
        await expect(page.getByTestId("current-job")).toHaveAttribute("data-status", /queued|running/);
        // Away and back: the job is rendered from the server, not from the redirect.
        await page.goto("/generate");
        const running = page.getByTestId("running-job");
        await expect(running).toHaveCount(1);
        await expect(running.getByRole("progressbar", { name: /Progress of video/ })).toBeVisible();
        await axe(page, javaScriptEnabled);
        await expect(page.getByTestId("ready-notice")).toContainText("Video ready", { timeout: 20_000 });
        await expect(page.getByTestId("running-job")).toHaveCount(0);
        await expect(page.getByTestId("credit-balance")).toHaveText("85 credits");
      });

      test("too little credit: the button is disabled with the reason and links to buy", async ({ page }) => {
        await signUpWith(page, `poor-${viewport.name}-${javaScriptEnabled}`, 0);
        // 10 credits (the sign-up bonus) less an image: 5 left, and the cheapest clip (1 s) costs 7.
        await makeImage(page, "a small thing");
        await expect(page.getByTestId("credit-balance")).toHaveText("5 credits");
        const videoButton = page.getByRole("button", { name: /^Generate video/ });
        const reason = page.getByTestId("too-little");
        await expect(videoButton).toBeDisabled();
        await expect(page.getByRole("button", { name: "Generate image (5 credits)" })).toBeEnabled();
        // With JS the chosen clip (the 4 s default, 25); without, the cheapest one.
        await expect(reason).toHaveText(
          `Not enough credits: this costs ${javaScriptEnabled ? 25 : 7} and your balance is 5. See prices or buy credits.`,
        );
        await expect(reason.getByRole("link", { name: "See prices" })).toHaveAttribute("href", "/pricing");
        await expect(reason.getByRole("link", { name: "buy credits" })).toHaveAttribute("href", "/settings/billing");
        if (javaScriptEnabled) {
          await page.getByLabel("Duration (seconds)").fill("1");
          await expect(reason).toContainText("this costs 7");
          await expect(videoButton).toBeDisabled();
        }
        await axe(page, javaScriptEnabled);
      });
    });
  }
}
