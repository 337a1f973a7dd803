/**
 * Address verification: the link of the verification mail, its confirm button, resending it.
 *
 * Confirming is one SQLite transaction: the token is spent, the address marked verified, the
 * sign-up bonus granted (keyed on the account: an account that already has it, e.g. from before
 * verification existed, gets a replay, never a second bonus) and ADMIN_EMAILS applied. So either
 * all of it happens once or none of it does, however many times the button is pressed.
 */
import { eq } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { auditLog, users, type User } from "#db/schema";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { expiryAfter } from "~/utils/duration";
import type { Config } from "../env.server";
import { grant } from "../money/ledger.server";
import { ledgerKeys } from "../money/ledger-keys.server";
import { findUserById, isAdminEligible } from "../users.server";
import { consumeToken, inspectToken, peekToken, type TokenRefusalReason } from "./email-tokens.server";
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
export function checkVerificationLink(db: AppDb, raw: unknown, now = Date.now()): LinkState {
  const peek = peekToken(db, "verify_email", raw, now);
  const row = peek.ok ? peek.token : inspectToken(db, "verify_email", raw);
  const user = row ? findUserById(db, row.userId) : undefined;
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
  db: AppDb,
  config: Pick<Config, "adminEmails" | "SIGNUP_BONUS_CREDITS" | "SIGNUP_BONUS_EXPIRES_AFTER">,
  user: User,
  now: number,
  tx: SqlRunner,
): Promise<{ bonusGranted: number; admin: boolean }> {
  const verifiedAt = user.emailVerifiedAt ?? now;
  const admin = isAdminEligible({ ...user, emailVerifiedAt: verifiedAt }, config.adminEmails);
  db.orm
    .update(users)
    .set({ emailVerifiedAt: verifiedAt, role: admin ? "admin" : user.role, updatedAt: now })
    .where(eq(users.id, user.id))
    .run();
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

export async function confirmEmail(db: AppDb, config: Config, raw: unknown, now = Date.now()): Promise<ConfirmResult> {
  const outcome = await db.sql.write(async (tx): Promise<ConfirmResult | null> => {
    const used = consumeToken(db, "verify_email", raw, now);
    if (!used.ok) return null;
    const user = findUserById(db, used.token.userId);
    if (!usableAccount(user, used.token.email)) return { ok: false, reason: "invalid", alreadyVerified: false, canResend: false };
    const { bonusGranted, admin } = await markAddressVerified(db, config, user, now, tx);
    return { ok: true, userId: user.id, bonusGranted, admin };
  });
  // A refused token: say why, from a fresh read (the page offers a new link where that helps).
  return outcome ?? (checkVerificationLink(db, raw, now) as Extract<ConfirmResult, { ok: false }>);
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

function queueFor(db: AppDb, config: Config, userId: number, now: number): ResendResult {
  return db.sqlite
    .transaction((): ResendResult => {
      const user = findUserById(db, userId);
      if (!user || user.deletedAt !== null) return { ok: false, reason: "not_found", message: "This account no longer exists." };
      if (user.emailVerifiedAt !== null) return { ok: false, reason: "already_verified", message: "Your address is already confirmed." };
      queueVerificationMail(db, config, user, now);
      return { ok: true, email: user.email };
    })
    .immediate();
}

type ResendDeps = { db: AppDb; config: Config; limiter: ResendLimiter };

/** The banner's "resend" button: limited per account and per IP, the point taken before queuing. */
export async function resendVerification({ db, config, limiter }: ResendDeps, input: { userId: number; ip: string }): Promise<ResendResult> {
  const verdict = await limiter.check(input.userId, input.ip);
  if (!verdict.ok) return tooMany(verdict.retryAfterSeconds);
  return queueFor(db, config, input.userId, Date.now());
}

/** "Send a new link" on the page of an expired or replaced link: for the account the link belonged to. */
export async function resendVerificationForLink(deps: ResendDeps, input: { token: unknown; ip: string }): Promise<ResendResult> {
  const row = inspectToken(deps.db, "verify_email", input.token);
  const user = row ? findUserById(deps.db, row.userId) : undefined;
  if (!row || !usableAccount(user, row.email)) return { ok: false, reason: "not_found", message: "This link is not valid." };
  return resendVerification(deps, { userId: user.id, ip: input.ip });
}

/** An admin sends the verification mail again; audited in the same transaction. */
export function adminResendVerification(db: AppDb, config: Config, input: { adminId: number; userId: number }): ResendResult {
  const now = Date.now();
  return db.sqlite
    .transaction((): ResendResult => {
      const result = queueFor(db, config, input.userId, now);
      if (result.ok) {
        db.orm
          .insert(auditLog)
          .values({ actorId: input.adminId, action: AUDIT_ACTIONS.resendVerification, targetUserId: input.userId, details: JSON.stringify({ email: result.email }), createdAt: now })
          .run();
      }
      return result;
    })
    .immediate();
}
