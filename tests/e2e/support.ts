import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";
import type { AppDb } from "../../db/client.server";
import { withServerDb } from "../support/accounts";
import { linkPathFrom } from "../support/mailbox";

export function uniqueEmail(tag: string) {
  return `${tag}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.test`;
}

/** Fills in and sends the sign-up form; lands on the neutral "check your inbox" page. */
export async function submitSignup(page: Page, email: string, password = "correct-horse-1") {
  await page.goto("/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/signup\/check-inbox$/);
}

/** The path of the newest verification link mailed to `email` (read where the app queued it). */
export function verificationLinkOf(email: string): string {
  return linkPathFrom(process.env.E2E_DATA_DIR!, email.toLowerCase(), "verify_email");
}

/** Opens the newest verification link and presses its button, signed in: lands on /generate. */
export async function confirmEmail(page: Page, email: string) {
  await page.goto(verificationLinkOf(email));
  await page.getByRole("button", { name: "Confirm my address" }).click();
  await expect(page).toHaveURL(/\/generate$/);
}

/**
 * Signs up as a person does: the form, "check your inbox", log in, then the link of the
 * verification mail and its button. Lands on /generate, verified, with the sign-up bonus.
 */
export async function signUp(page: Page, email = uniqueEmail("user"), password = "correct-horse-1") {
  await submitSignup(page, email, password);
  await page.getByRole("main").getByRole("link", { name: "Log in" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/generate$/);
  await confirmEmail(page, email);
  return { email, password };
}

// ---------------------------------------------------------------------------------------------
// Billing dashboard and admin console helpers.

/** The account ADMIN_EMAILS makes an admin in playwright.config.ts (kept in step with it). */
export const E2E_ADMIN_EMAIL = "admin@e2e.test";
export const E2E_ADMIN_PASSWORD = "correct-horse-1";

/** Test set-up on the server's own database file (WAL: safe while the server runs). */
export function withAppDb<T>(fn: (db: AppDb) => T): T {
  return withServerDb(process.env.E2E_DATA_DIR!, fn);
}

export function userIdOf(email: string): number {
  return withAppDb((db) => (db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number }).id);
}

export async function logIn(page: Page, email: string, password = "correct-horse-1") {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/generate$/);
}

/** Signs in as the e2e admin, signing the account up through the real form the first time. */
export async function logInAsAdmin(page: Page) {
  const exists = withAppDb((db) => db.sqlite.prepare("select 1 from users where email = ?").get(E2E_ADMIN_EMAIL) !== undefined);
  if (exists) await logIn(page, E2E_ADMIN_EMAIL, E2E_ADMIN_PASSWORD);
  else await signUp(page, E2E_ADMIN_EMAIL, E2E_ADMIN_PASSWORD);
}

/**
 * axe-core on the page as rendered: no violation at all, whatever its impact (WCAG 2.0/2.1 A and
 * AA, and best practice). Issue #17 sets the bar at none, in the light and the dark scheme alike.
 */
export async function expectNoA11yViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, " ")}]` : ""}`).join(" | ")}`,
  );
  expect(found, `axe on ${page.url()}`).toEqual([]);
}

/** @deprecated The same strict check under its old name, so specs written before it still compile. */
export const expectNoSeriousA11yViolations = expectNoA11yViolations;
