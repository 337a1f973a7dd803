import { expect, test, type Locator, type Page } from "@playwright/test";
import { signUp, uniqueEmail } from "./support";

// After a field error, the user fixes the field and clicks the submit button once with a real
// mouse. Pressing the button blurs the field; if that blur re-validates and the error line goes
// away, the button moves up under the pointer before it is released and the click is lost.
// The button must stay where it was pressed, and that one click must submit.

/** A real click (move, press, release), checking the button does not move while pressed. */
async function pressAndRelease(page: Page, button: Locator) {
  // Mouse coordinates outside the viewport press nothing (the video form's button can be below it).
  await button.scrollIntoViewIfNeeded();
  const before = await button.boundingBox();
  expect(before).not.toBeNull();
  await page.mouse.move(before!.x + before!.width / 2, before!.y + before!.height / 2);
  await page.mouse.down(); // the field loses focus here
  await page.waitForTimeout(100); // let any re-render triggered by the blur land
  const pressed = await button.boundingBox();
  expect(pressed, "the button moved while it was pressed").toEqual(before);
  await page.mouse.up();
}

function postTo(page: Page, pathname: string) {
  return page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === pathname, { timeout: 5000 });
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`one click after a field error submits ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled });

    test("sign-up", async ({ page }) => {
      await page.goto("/signup");
      // The first click is the field error's, not this test's point: with JS it must reach a
      // hydrated form (a click mid-hydration is React's to replay or drop).
      if (javaScriptEnabled) await page.waitForLoadState("networkidle");
      await page.getByLabel("Email").fill("a@b"); // the browser accepts it, the schema does not
      await page.getByLabel("Password").fill("correct-horse-1");
      await page.getByRole("button", { name: "Sign up" }).click();
      await expect(page.getByText("Enter a valid email address")).toBeVisible();

      await page.getByLabel("Email").fill(uniqueEmail("oneclick"));
      if (!javaScriptEnabled) await page.getByLabel("Password").fill("correct-horse-1"); // not kept by the server
      await page.getByLabel("Email").focus();
      await pressAndRelease(page, page.getByRole("button", { name: "Sign up" }));
      await expect(page).toHaveURL(/\/signup\/check-inbox$/);
    });

    test("log-in", async ({ page, browser }) => {
      const other = await browser.newContext();
      const { email, password } = await signUp(await other.newPage(), uniqueEmail("oneclick"));
      await other.close();

      await page.goto("/login");
      if (javaScriptEnabled) await page.waitForLoadState("networkidle"); // as for sign-up above
      await page.getByLabel("Email").fill("a@b");
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Log in" }).click();
      await expect(page.getByText("Enter a valid email address")).toBeVisible();

      await page.getByLabel("Email").fill(email);
      if (!javaScriptEnabled) await page.getByLabel("Password").fill(password);
      await page.getByLabel("Email").focus();
      await pressAndRelease(page, page.getByRole("button", { name: "Log in" }));
      await expect(page).toHaveURL(/\/generate$/);
    });

    for (const [kind, label, button] of [
      ["image", "Image prompt", "Generate image (5 credits)"],
      ["video", "Video prompt", "Generate video"],
    ] as const) {
      test(`the ${kind} form on /generate`, async ({ page }) => {
        await signUp(page);
        // The sign-up's 10 credits pay for a 1 s clip, not the 4 s default: with JS the button of an
        // unaffordable clip is disabled, and this test is about the click, not the price.
        if (kind === "video") await page.getByLabel("Duration (seconds)").fill("1");
        await page.getByLabel(label).fill("   "); // not empty for the browser, empty for the schema
        await page.getByRole("button", { name: button }).click();
        await expect(page.getByText("The prompt must not be empty")).toBeVisible();

        await page.getByLabel(label).fill("a lighthouse at dusk");
        await page.getByLabel(label).focus();
        const posted = postTo(page, "/generate");
        await pressAndRelease(page, page.getByRole("button", { name: button }));
        await posted; // the one click sent the form
      });
    }

    test("the auto-recharge form on /settings/billing", async ({ page }) => {
      await signUp(page);
      await page.goto("/settings/billing");
      if (javaScriptEnabled) await page.waitForLoadState("networkidle");
      const threshold = page.getByTestId("auto-recharge-form").getByLabel("When my balance falls below (credits)");
      await threshold.fill("0");
      await page.getByRole("button", { name: "Save auto-recharge" }).click();
      await expect(page.getByText("The threshold must be a positive whole number")).toBeVisible();

      await threshold.fill("50");
      // A long page: the mouse can only press what is on screen.
      await page.getByRole("button", { name: "Save auto-recharge" }).scrollIntoViewIfNeeded();
      await threshold.focus();
      const posted = postTo(page, "/settings/billing");
      await pressAndRelease(page, page.getByRole("button", { name: "Save auto-recharge" }));
      await posted;
      await expect(page.getByTestId("toast")).toContainText("Auto-recharge settings saved (off)");
    });
  });
}
