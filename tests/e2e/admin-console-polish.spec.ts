import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Browser, type Locator, type Page } from "@playwright/test";
import { enqueueMailOnSqlite } from "../../app/services/mail/mail-queue.server";
import { renderMail } from "../../app/services/mail/mail-layout.server";
import { logIn, logInAsAdmin, signUp, uniqueEmail, userIdOf, withAppDb } from "./support";

// Decision 032, as an admin uses the console: the large-change box (only for a large amount:
// while typing with JavaScript, from the server's answer without), the user's generations with
// their results, every admin table's columns aligned like their headers (numbers right, tabular),
// and a strict axe check (no violation of any impact) on the admin pages. Desktop and a 390 px
// phone; with and without JavaScript where a form is involved.

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/** Strict: every violation counts, whatever its impact. */
async function expectNoA11yViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`,
  );
  expect(found, `axe on ${page.url()}`).toEqual([]);
}

const balanceOf = (userId: number) =>
  withAppDb((db) => (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits);

/** A customer with a few generations, one of them deleted, made in their own browser context. */
async function customerWithGenerations(browser: Browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const { email, password } = await signUp(page, uniqueEmail("gens"));
  const made: string[] = [];
  for (const prompt of ["a lighthouse at dusk", "a fox in the snow"]) {
    const res = await page.request.post("/api/generate-image", { data: { prompt, size: "256x256" } });
    expect(res.status()).toBe(201);
    made.push(((await res.json()) as { job: { id: string } }).job.id);
  }
  // The owner deletes the second (what the gallery's Delete does).
  const deleted = await page.request.post("/generate", { form: { intent: "delete", id: made[1] }, headers: { Origin: new URL(page.url()).origin }, maxRedirects: 0 });
  expect(deleted.status()).toBe(303);
  await context.close();
  return { email, password, id: userIdOf(email), kept: made[0], deleted: made[1] };
}

const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const devices = [
  { name: "desktop", use: { viewport: { width: 1280, height: 900 } } },
  { name: "390 px phone", use: phone },
] as const;

function adjustForm(page: Page): Locator {
  return page.locator("form#adjust-credits");
}

for (const device of devices) {
  for (const javaScriptEnabled of [true, false]) {
    test.describe(`the large-change box on a ${device.name} ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
      test.use({ ...device.use, javaScriptEnabled });

      test("a small change applies directly; a large one needs the box, ticked, before anything changes", async ({ page, browser }) => {
        const context = await browser.newContext();
        const { email } = await signUp(await context.newPage(), uniqueEmail("large"));
        await context.close();
        const id = userIdOf(email);
        await logInAsAdmin(page);
        await page.goto(`/admin/credits/${id}`);
        if (javaScriptEnabled) await page.waitForLoadState("networkidle");
        const form = adjustForm(page);
        const box = form.getByLabel("I confirm this large change");
        await expect(box).toHaveCount(0);

        if (javaScriptEnabled) {
          // The box follows what is typed: from 1,001 either way, and away again below.
          for (const [typed, shown] of [
            ["999", false],
            ["1000", false],
            ["1001", true],
            ["100", false],
            ["-1001", true],
            ["-1000", false],
            ["1e3", false],
            ["5000", true],
          ] as const) {
            await form.getByLabel("Amount (credits)").fill(typed);
            await expect(box, typed).toHaveCount(shown ? 1 : 0);
          }
        }

        // A small change: no box, applied at once.
        await form.getByLabel("Amount (credits)").fill("1000");
        await form.getByLabel(/^Reason/).fill("Goodwill, small");
        await form.getByRole("button", { name: "Apply change" }).click();
        await expect(page.getByTestId("admin-user-balance")).toHaveText("1,010 credits");
        expect(balanceOf(id)).toBe(1010);

        // A large change without the box ticked: refused, the form kept, the box asked for.
        await form.getByLabel("Amount (credits)").fill("2500");
        await form.getByLabel(/^Reason/).fill("Enterprise deal");
        await form.getByRole("button", { name: "Apply change" }).click();
        await expect(form.getByText("This is a large change: tick to confirm.")).toBeVisible();
        await expect(box).toBeVisible();
        await expect(box).not.toBeChecked();
        await expect(form.getByLabel("Amount (credits)")).toHaveValue("2500");
        await expect(form.getByLabel(/^Reason/)).toHaveValue("Enterprise deal");
        expect(balanceOf(id)).toBe(1010);
        await expectNoA11yViolationsWhereScriptsRun(page, javaScriptEnabled);

        await box.check();
        await form.getByRole("button", { name: "Apply change" }).click();
        await expect(page.getByTestId("admin-user-balance")).toHaveText("3,510 credits");
        expect(balanceOf(id)).toBe(3510);
        // Applied: the form starts over, without the box.
        await expect(adjustForm(page).getByLabel("Amount (credits)")).toHaveValue("");
        await expect(adjustForm(page).getByLabel("I confirm this large change")).toHaveCount(0);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(page.viewportSize()!.width);
      });
    });
  }

  for (const javaScriptEnabled of [true, false]) {
    test.describe(`the redeem-code form's large-total box on a ${device.name} ${javaScriptEnabled ? "with" : "without"} JavaScript`, () => {
      test.use({ ...device.use, javaScriptEnabled });

      test("no box for a small total; a large total asks for it and is created once ticked", async ({ page }) => {
        const codes = () => withAppDb((db) => (db.sqlite.prepare("select count(*) as n from redeem_codes").get() as { n: number }).n);
        await logInAsAdmin(page);
        await page.goto("/admin/credits/codes");
        if (javaScriptEnabled) await page.waitForLoadState("networkidle");
        const form = page.locator("form#create-code");
        const box = form.getByLabel("I confirm this large total");
        await expect(box).toHaveCount(0);
        if (javaScriptEnabled) {
          for (const [credits, times, shown] of [
            ["1000", "10", false],
            ["1000", "11", true],
            ["10", "11", false],
            ["10001", "1", true],
          ] as const) {
            await form.getByLabel("Credits per redemption").fill(credits);
            await form.getByLabel("Times it may be used").fill(times);
            await expect(box, `${credits} × ${times}`).toHaveCount(shown ? 1 : 0);
          }
        }
        const before = codes();
        await form.getByLabel("Credits per redemption").fill("2000");
        await form.getByLabel("Times it may be used").fill("6");
        await form.getByRole("button", { name: "Create code" }).click();
        await expect(form.getByText(/12,000 credits in all .*tick the box to confirm/)).toBeVisible();
        await expect(box).toBeVisible();
        await expect(form.getByLabel("Credits per redemption")).toHaveValue("2000");
        expect(codes()).toBe(before);
        await box.check();
        await form.getByRole("button", { name: "Create code" }).click();
        await expect(page.getByTestId("toast")).toBeVisible();
        expect(codes()).toBe(before + 1);
        await expect(page.locator("form#create-code").getByLabel("I confirm this large total")).toHaveCount(0);
      });
    });
  }

  test.describe(`a user's generations on a ${device.name}`, () => {
    test.use(device.use);

    test("the admin sees them with their results; a deleted one is marked, without a link; the file opens for the admin only", async ({ page, browser }) => {
      const customer = await customerWithGenerations(browser);
      await logInAsAdmin(page);
      await page.goto(`/admin/credits/${customer.id}`);
      const section = page.getByRole("region", { name: /Showing all 2 generations/ });
      await expect(section).toBeVisible();
      const rows = page.getByTestId("admin-generation-row");
      await expect(rows).toHaveCount(2);
      const kept = rows.filter({ hasText: "a lighthouse at dusk" });
      await expect(kept).toContainText("Image");
      await expect(kept).toContainText("Done");
      await expect(kept).toContainText("5 credits");
      const gone = rows.filter({ hasText: "a fox in the snow" });
      await expect(gone).toContainText(/Deleted by the user \d{4}-\d{2}-\d{2}/);
      await expect(gone.getByRole("link")).toHaveCount(0);

      // The thumbnail loaded (the file route serves the admin) and the link opens the file.
      const thumbnail = kept.locator("img");
      await expect(thumbnail).toBeVisible();
      expect(await thumbnail.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
      const [popup] = await Promise.all([page.waitForEvent("popup"), kept.getByRole("link", { name: /View/ }).click()]);
      await popup.waitForLoadState();
      expect(popup.url()).toContain(`/generations/${customer.kept}/file`);
      await popup.close();
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(page.viewportSize()!.width);
      await expectNoA11yViolations(page);

      // Another customer's browser gets 404 for the same file.
      const other = await browser.newContext();
      const otherPage = await other.newPage();
      await signUp(otherPage, uniqueEmail("nosy"));
      expect((await otherPage.request.get(`/generations/${customer.kept}/file`)).status()).toBe(404);
      await other.close();
    });
  });
}

async function expectNoA11yViolationsWhereScriptsRun(page: Page, javaScriptEnabled: boolean) {
  // axe runs inside the page: only where JavaScript runs (the same markup is checked with it).
  if (javaScriptEnabled) await expectNoA11yViolations(page);
}

/**
 * For every column of a table: the header's computed text-align, and the alignment of the cell
 * and of every block inside it (a block line inherits alignment and shows it), must be the same.
 * "start"/"end" are "left"/"right" here (the pages are left-to-right).
 */
async function misalignedColumns(table: Locator): Promise<string[]> {
  return table.evaluate((el) => {
    const norm = (v: string) => (v === "start" || v === "-webkit-left" ? "left" : v === "end" || v === "-webkit-right" ? "right" : v);
    const headers = [...el.querySelectorAll("thead th")].map((th) => ({ name: (th.textContent ?? "").trim(), align: norm(getComputedStyle(th).textAlign) }));
    const problems: string[] = [];
    for (const row of el.querySelectorAll("tbody tr")) {
      const cells = [...row.children] as HTMLElement[];
      if (cells.length !== headers.length) continue; // an "empty" row spanning every column
      cells.forEach((cell, i) => {
        const blocks = [cell, ...cell.querySelectorAll<HTMLElement>("*")].filter((node) => {
          const display = getComputedStyle(node).display;
          return node === cell || ((display === "block" || display === "flex" || display === "list-item" || display === "grid") && (node.textContent ?? "").trim() !== "");
        });
        for (const node of blocks) {
          const align = norm(getComputedStyle(node).textAlign);
          if (align !== headers[i].align) problems.push(`${headers[i].name}: header ${headers[i].align}, value ${align} (“${(node.textContent ?? "").trim().slice(0, 30)}”)`);
        }
      });
    }
    return [...new Set(problems)];
  });
}

/** The numeric columns: right-aligned, with tabular figures in header and values. */
async function numericColumnsProblems(table: Locator, numeric: string[]): Promise<string[]> {
  return table.evaluate((el, names) => {
    const headers = [...el.querySelectorAll("thead th")].map((th) => (th.textContent ?? "").replace(/[▲▼↕]|, sort (ascending|descending)/g, "").trim());
    const problems: string[] = [];
    for (const name of names) {
      const i = headers.indexOf(name);
      if (i < 0) {
        problems.push(`no column ${name} (${headers.join(", ")})`);
        continue;
      }
      const th = el.querySelectorAll("thead th")[i] as HTMLElement;
      if (!["right", "end"].includes(getComputedStyle(th).textAlign)) problems.push(`${name}: header not right-aligned`);
      for (const row of el.querySelectorAll("tbody tr")) {
        const cell = row.children[i] as HTMLElement | undefined;
        if (!cell || row.children.length !== headers.length) continue;
        if (!["right", "end"].includes(getComputedStyle(cell).textAlign)) problems.push(`${name}: value not right-aligned`);
        if (!getComputedStyle(cell).fontVariantNumeric.includes("tabular-nums")) problems.push(`${name}: value without tabular-nums`);
      }
    }
    return [...new Set(problems)];
  }, numeric);
}

test.describe("every admin table lines its values up with its headers (desktop)", () => {
  test.use({ viewport: { width: 1400, height: 900 } });

  test("user list, user page (ledger, generations), overview, audit, codes, mail and the user's billing history", async ({ page, browser }) => {
    const customer = await customerWithGenerations(browser);
    const tag = Date.now().toString(36).toUpperCase();
    withAppDb((db) => {
      const adminId = (db.sqlite.prepare("select id from users where role = 'admin' limit 1").get() as { id: number } | undefined)?.id ?? customer.id;
      db.sqlite
        .prepare("insert into redeem_codes (code, credits, max_redemptions, created_by) values (?, 1200, 3, ?)")
        .run(`ALIGN-${tag}`, adminId);
      const failed = enqueueMailOnSqlite(db, `bounce-${tag}@e2e.test`, "verify_email", renderMail({ subject: `Failed ${tag}`, paragraphs: ["Hello."] }));
      db.sqlite.prepare("update mail_queue set status = 'failed', attempts = 8, last_error = '451: try later' where id = ?").run(failed);
      const delayed = enqueueMailOnSqlite(db, `slow-${tag}@e2e.test`, "verify_email", renderMail({ subject: `Delayed ${tag}`, paragraphs: ["Hello."] }));
      db.sqlite.prepare("update mail_queue set attempts = 2, last_error = '421: busy', next_attempt_at = ? where id = ?").run(Date.now() + 3_600_000, delayed);
    });
    await logInAsAdmin(page);
    // A manual change with a reason, so the ledger's "By / reason" column has its two lines.
    await page.goto(`/admin/credits/${customer.id}`);
    await adjustForm(page).getByLabel("Amount (credits)").fill("40");
    await adjustForm(page).getByLabel(/^Reason/).fill("Alignment check");
    await adjustForm(page).getByRole("button", { name: "Apply change" }).click();
    await expect(page.getByTestId("admin-user-balance")).toHaveText("40 credits");

    const tables: Array<[path: string, testId: string, numeric: string[]]> = [
      [`/admin/credits?q=${encodeURIComponent(customer.email.slice(0, customer.email.indexOf("@")))}`, "admin-users", ["Balance", "On hold", "Purchased"]],
      [`/admin/credits/${customer.id}`, "admin-ledger", ["Amount", "Balance after"]],
      [`/admin/credits/${customer.id}`, "admin-generations", ["Cost"]],
      ["/admin/credits/overview", "overview-days", ["Sold", "Spent", "Given", "Taken back", "Adjusted", "Revenue"]],
      ["/admin/credits/audit", "audit-log", []],
      ["/admin/credits/codes", "redeem-codes", ["Credits", "Used / max"]],
      ["/admin/mail", "mail-failed", ["#", "Attempts"]],
      ["/admin/mail", "mail-delayed", ["#", "Attempts"]],
    ];
    for (const [path, testId, numeric] of tables) {
      await page.goto(path);
      const table = page.getByTestId(testId);
      await expect(table.locator("tbody tr").first(), `${testId} has rows`).toBeVisible();
      expect(await table.locator("tbody tr").evaluateAll((rows) => rows.some((r) => r.children.length > 1)), `${testId} has a data row`).toBe(true);
      expect(await misalignedColumns(table), `${testId} on ${path}`).toEqual([]);
      expect(await numericColumnsProblems(table, numeric), `${testId} on ${path}`).toEqual([]);
    }
    // Each admin page checked above passes the strict axe check too.
    for (const path of [`/admin/credits/${customer.id}`, "/admin/credits", "/admin/credits/overview", "/admin/credits/audit", "/admin/credits/codes", "/admin/mail"]) {
      await page.goto(path);
      await expectNoA11yViolations(page);
    }

    // The customer's own billing history uses the same table.
    await page.context().clearCookies();
    await logIn(page, customer.email, customer.password);
    await page.goto("/settings/billing");
    const history = page.getByTestId("history");
    await expect(history.getByTestId("history-row").first()).toBeVisible();
    expect(await misalignedColumns(history)).toEqual([]);
    expect(await numericColumnsProblems(history, ["Amount", "Balance after"])).toEqual([]);
  });
});
