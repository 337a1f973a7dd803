/**
 * The messages of sign-up and verification. Each is queued (mail-queue.server.ts) inside the
 * transaction of what it announces; links are absolute under APP_URL and open a page with a
 * button, so a mail scanner that follows them changes nothing.
 */
import type { SqlRunner } from "#db/sql.server";
import type { Config } from "../env.server";
import { appLink, renderMail } from "../mail/mail-layout.server";
import { enqueueMail } from "../mail/mail-queue.server";
import type { SqlTarget } from "../sql-target.server";
import { issueToken } from "./email-tokens.server";

export const VERIFY_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Issues a fresh verification link (older ones stop working) and queues the mail, inside the
 * caller's write body `tx`.
 */
export async function queueVerificationMail(tx: SqlRunner, config: Config, user: { id: number; email: string }, now = Date.now()): Promise<void> {
  const raw = await issueToken(tx, { userId: user.id, purpose: "verify_email", email: user.email, ttlMs: VERIFY_TOKEN_TTL_MS, now });
  const bonus = config.SIGNUP_BONUS_CREDITS;
  const mail = renderMail({
    subject: "Confirm your e-mail address",
    paragraphs: [
      "Thanks for signing up to Credits Studio. Open the link below and press the button to confirm that this address is yours.",
      ...(bonus > 0 ? [`Your ${bonus} free credits are added as soon as the address is confirmed.`] : []),
      "The link works once and expires in 24 hours.",
    ],
    action: { label: "Confirm my address", url: appLink(config.appUrl, `/verify-email?token=${raw}`) },
    footer: "If you did not sign up, ignore this message: nothing happens unless the button is pressed.",
  });
  await enqueueMail(tx, user.email, "verify_email", mail, now);
}

/**
 * To the owner of an address someone tried to sign up with again: the sign-up form answers the
 * same as for a new address (it never says which addresses are registered), so the owner learns
 * it here, with the ways back into the account.
 */
export async function queueSignupAttemptMail(target: SqlTarget, config: Config, email: string, now = Date.now()): Promise<void> {
  const mail = renderMail({
    subject: "Someone tried to sign up with your address",
    paragraphs: [
      "Someone (perhaps you) tried to create a Credits Studio account with this e-mail address. You already have an account, so no new one was made and nothing was changed.",
      `To use your account, log in: ${appLink(config.appUrl, "/login")}`,
      "Forgot your password? Choose a new one with the link below.",
    ],
    action: { label: "Reset my password", url: appLink(config.appUrl, "/forgot-password") },
    footer: "If it was not you, you can ignore this message: your account and password are unchanged.",
  });
  await enqueueMail(target, email, "signup_attempt", mail, now);
}
