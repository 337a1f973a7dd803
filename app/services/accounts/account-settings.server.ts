/**
 * The account page's changes: password, address (effective only once the new address confirms),
 * and the password check the other forms share.
 */
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import type { SqlRunner } from "#db/sql.server";
import type { AuthRateLimiter, Refusal } from "../auth-rate-limit.server";
import type { Config } from "../env.server";
import { enqueueMail } from "../mail/mail-queue.server";
import { hashPassword, verifyPassword } from "../password.server";
import { isUniqueViolation } from "../sql-target.server";
import { revokeOtherSessions } from "../session.server";
import { findUserByEmail, findUserById, normalizeEmail } from "../users.server";
import type { AccountMailLimiter } from "./account-limits.server";
import { confirmEmailChangeMail, emailChangedMail, emailChangeRequestedMail, passwordChangedMail } from "./account-mail.server";
import { consumeToken, issueToken, peekToken, revokeUnusedTokens, type TokenRefusal } from "./email-tokens.server";
import { markAddressVerified } from "./verification.server";

export const EMAIL_CHANGE_TTL_MS = 24 * 60 * 60 * 1000;

type Deps = { db: PortableDb; config: Pick<Config, "appUrl" | "adminEmails" | "SIGNUP_BONUS_CREDITS" | "SIGNUP_BONUS_EXPIRES_AFTER">; limiter: AuthRateLimiter };
export type WrongPassword = { ok: false; reason: "wrong_password"; message: string };

/**
 * Checks the signed-in user's password with the log-in limits: the point is taken before the hash
 * is checked and given back only when it was right, so the forms cannot be used to guess it.
 */
export async function checkCurrentPassword(
  limiter: AuthRateLimiter,
  input: { ip: string; user: User; password: string },
): Promise<{ ok: true } | Refusal | WrongPassword> {
  const attempt = await limiter.beginLogin(input.ip, input.user.email);
  if (!attempt.ok) return attempt;
  if (!(await verifyPassword(input.password, input.user.passwordHash))) {
    return { ok: false, reason: "wrong_password", message: "The current password is not right." };
  }
  await attempt.succeeded();
  return { ok: true };
}

/** New password; every other session of the account ends; the owner is told. */
export async function changePassword(
  { db, config, limiter }: Deps,
  input: { ip: string; user: User; sessionId: string | null; currentPassword: string; newPassword: string },
  now = Date.now(),
): Promise<{ ok: true } | Refusal | WrongPassword> {
  const checked = await checkCurrentPassword(limiter, { ip: input.ip, user: input.user, password: input.currentPassword });
  if (!checked.ok) return checked;
  const passwordHash = await hashPassword(input.newPassword);
  await db.sql.write(async (tx) => {
    await tx.run("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", [passwordHash, now, input.user.id]);
    await revokeOtherSessions(tx, input.user.id, input.sessionId);
    await revokeUnusedTokens(tx, input.user.id, "reset_password", now);
    await enqueueMail(tx, input.user.email, "password_changed", passwordChangedMail(config.appUrl), now);
  });
  return { ok: true };
}

export type EmailChangeRequest = { ok: true } | Refusal | WrongPassword | { ok: false; reason: "same_email"; message: string };

/**
 * Asks the NEW address to confirm and tells the old one. If the new address already has an
 * account, nothing is sent to it and no token exists, but the answer is the same: the requester
 * learns no more than the owner of that address would let them.
 */
export async function requestEmailChange(
  { db, config, limiter, mailLimiter }: Deps & { mailLimiter: AccountMailLimiter },
  input: { ip: string; user: User; password: string; newEmail: string },
  now = Date.now(),
): Promise<EmailChangeRequest> {
  const newEmail = normalizeEmail(input.newEmail);
  if (newEmail === input.user.email) return { ok: false, reason: "same_email", message: "That is already your address." };
  const refused = await mailLimiter.consumeEmailChange(input.ip, input.user.id);
  if (refused) return refused;
  const checked = await checkCurrentPassword(limiter, { ip: input.ip, user: input.user, password: input.password });
  if (!checked.ok) return checked;
  await db.sql.write(async (tx) => {
    // Only the latest request counts: an older link to another address stops working.
    await revokeUnusedTokens(tx, input.user.id, "change_email", now);
    if (!(await findUserByEmail(tx, newEmail))) {
      const raw = await issueToken(tx, { userId: input.user.id, purpose: "change_email", email: newEmail, ttlMs: EMAIL_CHANGE_TTL_MS, now });
      await enqueueMail(tx, newEmail, "change_email", confirmEmailChangeMail(config.appUrl, raw), now);
    }
    await enqueueMail(tx, input.user.email, "email_change_requested", emailChangeRequestedMail(config.appUrl, newEmail), now);
  });
  return { ok: true };
}

/** For the GET page: whether the link still works, and the address it would set. */
export async function checkEmailChangeLink(db: PortableDb, rawToken: unknown, now = Date.now()): Promise<{ ok: true; email: string } | TokenRefusal> {
  const verdict = await peekToken(db, "change_email", rawToken, now);
  return verdict.ok ? { ok: true, email: verdict.token.email } : verdict;
}

export type EmailChangeResult = { ok: true; user: User } | TokenRefusal | { ok: false; reason: "unavailable" };

/**
 * The new address confirmed: swap it in, verified, if it is still free (the UNIQUE index decides
 * a race with a sign-up). The token is used either way, and the old address is told.
 */
export function confirmEmailChange({ db, config }: Omit<Deps, "limiter">, rawToken: unknown, now = Date.now()): Promise<EmailChangeResult> {
  return db.sql.write(async (tx): Promise<EmailChangeResult> => {
    const used = await consumeToken(tx, "change_email", rawToken, now);
    if (!used.ok) return used;
    const user = await findUserById(tx, used.token.userId);
    if (!user || user.deletedAt !== null) return { ok: false, reason: "invalid" };
    if (!(await setEmailIfFree(tx, user.id, used.token.email, now))) return { ok: false, reason: "unavailable" };
    // The new address is proven the owner's: verified, with what that brings (role, bonus).
    await markAddressVerified(tx, config, (await findUserById(tx, user.id))!, now);
    // Reset links mailed to the old address must not open the account any more.
    await revokeUnusedTokens(tx, user.id, "reset_password", now);
    await enqueueMail(tx, user.email, "email_changed", emailChangedMail(config.appUrl, used.token.email), now);
    return { ok: true, user: (await findUserById(tx, user.id))! };
  });
}

/**
 * Sets the address if no other account has it: the UNIQUE index decides (a sign-up may take it
 * between any check and this). In a savepoint, because on PostgreSQL a refused statement aborts
 * the whole transaction, and the token must stay used with the refusal (the body commits).
 */
export async function setEmailIfFree(tx: SqlRunner, userId: number, email: string, now: number): Promise<boolean> {
  await tx.run("SAVEPOINT email_swap");
  try {
    await tx.run("UPDATE users SET email = ?, updated_at = ? WHERE id = ?", [email, now, userId]);
  } catch (error) {
    await tx.run("ROLLBACK TO email_swap");
    await tx.run("RELEASE email_swap");
    if (isUniqueViolation(error)) return false;
    throw error;
  }
  await tx.run("RELEASE email_swap");
  return true;
}
