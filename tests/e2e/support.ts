import { expect, type Page } from "@playwright/test";

export function uniqueEmail(tag: string) {
  return `${tag}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.test`;
}

/** Signs up through the real form and lands on /generate with the sign-up bonus. */
export async function signUp(page: Page, email = uniqueEmail("user"), password = "correct-horse-1") {
  await page.goto("/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/generate$/);
  return { email, password };
}
