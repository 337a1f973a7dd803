/**
 * Address verification: the link of the verification mail, its confirm button, resending it.
 *
 * Confirming is one transaction: the token is spent, the address marked verified, the
 * sign-up bonus granted (keyed on the account: an account that already has it, e.g. from before
 * verification existed, gets a replay, never a second bonus) and ADMIN_EMAILS applied. So either
 * all of it happens once or none of it does, however many times the button is pressed.
 */
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { User } from "#db/schema";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { expiryAfter } from "~/utils/duration";
import type { Config } from "../env.server";
import { grant } from "../money/ledger.server";
import { ledgerKeys } from "../money/ledger-keys.server";
import { findUserById, isAdminEligible } from "../users.server";
import { classifyToken, consumeToken, inspectToken } from "./email-tokens.server";
import type { TokenRefusalReason } from "./email-tokens.server";
import { queueVerificationMail } from "./verification-mail.server";
import type { ResendLimiter } from "./verification-limits.server";

export type LinkState =
  | { ok: true }
  | { ok: false; reason: TokenRefusalReason; alreadyVerified: boolean; canResend: boolean };

function usableAccount(user: User | undefined, email: string): user is User {
  // A link stops working when its account is deleted or its address changed since it was sent.
  return user !== undefined && user.deletedAt === null && user.email === email;
}

/** What the link's page shows: the confirm button, or why not (and whether a new link can be sent). */
export async function checkVerificationLink(db: PortableDb, raw: unknown, now = Date.now()): Promise<LinkState> {
  const row = await inspectToken(db, "verify_email", raw);
  const peek = classifyToken(row, now);
  const user = row ? await findUserById(db, row.userId) : undefined;
  if (!row || !usableAccount(user, row.email)) return { ok: false, reason: "invalid", alreadyVerified: false, canResend: false };
  if (peek.ok) return user.emailVerifiedAt === null ? { ok: true } : { ok: false, reason: "used", alreadyVerified: true, canResend: false };
  const verified = user.emailVerifiedAt !== null;
  return { ok: false, reason: peek.reason, alreadyVerified: verified, canResend: !verified };
}

/**
 * What follows from an address being proven the owner's, wherever that happens (the sign-up link,
 * or confirming a changed address): verified, the admin role if ADMIN_EMAILS lists it, and the
 * sign-up bonus once per account (a replay of its key if it was granted before). Call it inside the
 * write body that consumed the proof (`tx`), with the user as it is now (its current address).
 */
export async function markAddressVerified(
  tx: SqlRunner,
  config: Pick<Config, "adminEmails" | "SIGNUP_BONUS_CREDITS" | "SIGNUP_BONUS_EXPIRES_AFTER">,
  user: User,
  now: number,
): Promise<{ bonusGranted: number; admin: boolean }> {
  const verifiedAt = user.emailVerifiedAt ?? now;
  const admin = isAdminEligible({ ...user, emailVerifiedAt: verifiedAt }, config.adminEmails);
  await tx.run("UPDATE users SET email_verified_at = ?, role = ?, updated_at = ? WHERE id = ?", [verifiedAt, admin ? "admin" : user.role, now, user.id]);
  if (config.SIGNUP_BONUS_CREDITS <= 0) return { bonusGranted: 0, admin };
  const written = await grant(tx, {
    now,
    // The bonus is spendable for SIGNUP_BONUS_EXPIRES_AFTER from the moment it arrives.
    expiresAt: expiryAfter(now, config.SIGNUP_BONUS_EXPIRES_AFTER),
    userId: user.id,
    amount: config.SIGNUP_BONUS_CREDITS,
    type: "bonus",
    key: ledgerKeys.signupBonus(user.id),
    description: "Sign-up bonus",
  });
  return { bonusGranted: written.replayed ? 0 : written.transaction.amount, admin };
}

export type ConfirmResult =
  | { ok: true; userId: number; bonusGranted: number; admin: boolean }
  | { ok: false; reason: TokenRefusalReason; alreadyVerified: boolean; canResend: boolean };

export async function confirmEmail(
  db: PortableDb,
  config: Pick<Config, "adminEmails" | "SIGNUP_BONUS_CREDITS" | "SIGNUP_BONUS_EXPIRES_AFTER">,
  raw: unknown,
  now = Date.now(),
): Promise<ConfirmResult> {
  const outcome = await db.sql.write(async (tx): Promise<ConfirmResult | null> => {
    const used = await consumeToken(tx, "verify_email", raw, now);
    if (!used.ok) return null;
    const user = await findUserById(tx, used.token.userId);
    if (!usableAccount(user, used.token.email)) return { ok: false, reason: "invalid", alreadyVerified: false, canResend: false };
    const { bonusGranted, admin } = await markAddressVerified(tx, config, user, now);
    return { ok: true, userId: user.id, bonusGranted, admin };
  });
  // A refused token: say why, from a fresh read (the page offers a new link where that helps).
  return outcome ?? ((await checkVerificationLink(db, raw, now)) as Extract<ConfirmResult, { ok: false }>);
}

export type ResendResult =
  | { ok: true; email: string }
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number; message: string }
  | { ok: false; reason: "already_verified" | "not_found"; message: string };

function tooMany(retryAfterSeconds: number): ResendResult {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  return {
    ok: false,
    reason: "rate_limited",
    retryAfterSeconds,
    message: `Too many confirmation e-mails were sent. Try again in ${minutes <= 1 ? "a minute" : `${minutes} minutes`}.`,
  };
}

/** Inside the caller's body `tx`. */
async function queueIn(tx: SqlRunner, config: Config, userId: number, now: number): Promise<ResendResult> {
  const user = await findUserById(tx, userId);
  if (!user || user.deletedAt !== null) return { ok: false, reason: "not_found", message: "This account no longer exists." };
  if (user.emailVerifiedAt !== null) return { ok: false, reason: "already_verified", message: "Your address is already confirmed." };
  await queueVerificationMail(tx, config, user, now);
  return { ok: true, email: user.email };
}

type ResendDeps = { db: PortableDb; config: Config; limiter: ResendLimiter };

/** The banner's "resend" button: limited per account and per IP, the point taken before queuing. */
export async function resendVerification({ db, config, limiter }: ResendDeps, input: { userId: number; ip: string }): Promise<ResendResult> {
  const verdict = await limiter.check(input.userId, input.ip);
  if (!verdict.ok) return tooMany(verdict.retryAfterSeconds);
  const now = Date.now();
  return db.sql.write((tx) => queueIn(tx, config, input.userId, now));
}

/** "Send a new link" on the page of an expired or replaced link: for the account the link belonged to. */
export async function resendVerificationForLink(deps: ResendDeps, input: { token: unknown; ip: string }): Promise<ResendResult> {
  const row = await inspectToken(deps.db, "verify_email", input.token);
  const user = row ? await findUserById(deps.db, row.userId) : undefined;
  if (!row || !usableAccount(user, row.email)) return { ok: false, reason: "not_found", message: "This link is not valid." };
  return resendVerification(deps, { userId: user.id, ip: input.ip });
}

/** An admin sends the verification mail again; audited in the same transaction. */
export async function adminResendVerification(db: PortableDb, config: Config, input: { adminId: number; userId: number }): Promise<ResendResult> {
  const now = Date.now();
  return db.sql.write(async (tx) => {
    const result = await queueIn(tx, config, input.userId, now);
    if (result.ok) {
      await tx.run("INSERT INTO audit_log (actor_id, action, target_user_id, details, created_at) VALUES (?, ?, ?, ?, ?)", [
        input.adminId,
        AUDIT_ACTIONS.resendVerification,
        input.userId,
        JSON.stringify({ email: result.email }),
        now,
      ]);
    }
    return result;
  });
}
