import { expect, test, type Page } from "@playwright/test";
import { appLink, renderMail } from "../../app/services/mail/mail-layout.server";
import { enqueueMailOnSqlite } from "../../app/services/mail/mail-queue.server";
import { expectNoA11yViolations, logInAsAdmin, signUp, uniqueEmail, withAppDb } from "./support";

// /admin/mail (failed deliveries, "Retry now") and /dev/outbox (MAIL_OUTBOX=on in the e2e server,
// so admin-only), with and without JavaScript. A message that failed for good is written straight
// into the server's database, as the sender leaves one after its last attempt.

function failedMail(to: string, subject: string): number {
  return withAppDb((db) => {
    const mail = renderMail({
      subject,
      paragraphs: ["Open the link to continue."],
      action: { label: "Continue", url: appLink(`http://127.0.0.1:${process.env.E2E_PORT}`, "/generate?from=mail") },
    });
    const id = enqueueMailOnSqlite(db, to, "verify_email", mail);
    db.sqlite.prepare("update mail_queue set status = 'failed', attempts = 8, last_error = '451: Service temporarily unavailable' where id = ?").run(id);
    return id;
  });
}

async function retryAndFollow(page: Page, js: boolean) {
  // axe runs inside the page: only where JavaScript runs.
  const axe = () => (js ? expectNoA11yViolations(page) : Promise.resolve());
  const to = uniqueEmail("bounce");
  const subject = `Failed ${to}`;
  const id = failedMail(to, subject);
  await logInAsAdmin(page);
  await page.goto("/admin/credits");
  await page.getByRole("navigation", { name: "Admin console" }).getByRole("link", { name: "Mail delivery" }).click();
  await expect(page).toHaveURL(/\/admin\/mail$/);
  await expect(page.getByRole("heading", { name: "Mail delivery" })).toBeVisible();
  const row = page.getByTestId("mail-failed").getByTestId("mail-row").filter({ hasText: to });
  await expect(row).toContainText("451: Service temporarily unavailable");
  await expect(row).toContainText(subject);
  await axe();

  await row.getByRole("button", { name: `Retry message #${id} to ${to} now` }).click();
  await expect(page.getByTestId("toast")).toContainText("Queued again");
  await expect(page.getByTestId("mail-failed").getByTestId("mail-row").filter({ hasText: to })).toHaveCount(0);
  await expect
    .poll(() => withAppDb((db) => (db.sqlite.prepare("select status from mail_queue where id = ?").get(id) as { status: string }).status), { timeout: 15_000 })
    .toBe("sent");
  expect(withAppDb((db) => (db.sqlite.prepare("select count(*) n from audit_log where action = 'mail.retry' and details like ?").get(`%"mailId":${id},%`) as { n: number }).n)).toBe(1);

  // The redelivered message is in the outbox (admin-only in production): open it, follow its link.
  await page.goto("/dev/outbox");
  await axe();
  await page.getByTestId("outbox-row").filter({ hasText: to }).getByRole("link", { name: subject }).click();
  await expect(page.getByRole("heading", { name: subject })).toBeVisible();
  await axe();
  await page.getByTestId("outbox-links").getByRole("link").first().click();
  await expect(page).toHaveURL(/\/generate\?from=mail$/);
}

test.describe("mail delivery pages with JavaScript", () => {
  test("an admin retries a failed message and reads it in the outbox", async ({ page }) => {
    await retryAndFollow(page, true);
  });
});

test.describe("mail delivery pages without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("an admin retries a failed message and reads it in the outbox", async ({ page }) => {
    await retryAndFollow(page, false);
  });

  test("a customer sees neither page", async ({ page }) => {
    await signUp(page, uniqueEmail("nosy"));
    for (const path of ["/admin/mail", "/dev/outbox"]) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(403);
    }
  });
});
