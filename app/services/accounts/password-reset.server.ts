/**
 * "Forgot your password?": a single-use link by mail, then a new password.
 *
 * The request answers the same whether or not the address has an account (the route shows one
 * neutral sentence); only the mail queue knows. Setting the new password uses the token, changes
 * the hash, ends EVERY session of the account (the person resetting then logs in with the new
 * password) and tells the owner, all in one transaction.
 */
import type { AppDb } from "#db/client.server";
import type { User } from "#db/schema";
import type { Refusal } from "../auth-rate-limit.server";
import type { Config } from "../env.server";
import { enqueueMail } from "../mail/mail-queue.server";
import { hashPassword } from "../password.server";
import { revokeUserSessions } from "../session.server";
import { findUserByEmail, findUserById } from "../users.server";
import type { AccountMailLimiter } from "./account-limits.server";
import { passwordChangedMail, resetPasswordMail } from "./account-mail.server";
import { consumeToken, issueToken, peekToken, revokeUnusedTokens, type TokenRefusal } from "./email-tokens.server";

export const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;

type Deps = { db: AppDb; config: Pick<Config, "appUrl"> };

/**
 * Queues a reset link if the address belongs to a live account. The rate-limit point is taken
 * first, for every address alike. `{ ok: true }` says nothing about whether a mail was queued.
 */
export async function requestPasswordReset(
  { db, config, limiter }: Deps & { limiter: AccountMailLimiter },
  input: { ip: string; email: string },
  now = Date.now(),
): Promise<{ ok: true } | Refusal> {
  const refused = await limiter.consumeReset(input.ip, input.email);
  if (refused) return refused;
  db.sqlite
    .transaction(() => {
      const user = findUserByEmail(db, input.email);
      if (!user || user.deletedAt !== null) return;
      const raw = issueToken(db, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS , now });
      enqueueMail(db, user.email, "reset_password", resetPasswordMail(config.appUrl, raw), now);
    })
    .immediate();
  return { ok: true };
}

/** For the GET page: whether the link still works (it is not used by looking). */
export function checkResetLink(db: AppDb, rawToken: unknown, now = Date.now()): { ok: true } | TokenRefusal {
  const verdict = peekToken(db, "reset_password", rawToken, now);
  return verdict.ok ? { ok: true } : verdict;
}

export type ResetResult = { ok: true; user: User } | TokenRefusal;

export async function resetPassword({ db, config }: Deps, input: { token: unknown; password: string }, now = Date.now()): Promise<ResetResult> {
  // Hashed before the transaction (scrypt is slow and async); a refused token just wastes it.
  const passwordHash = await hashPassword(input.password);
  return db.sqlite
    .transaction((): ResetResult => {
      const used = consumeToken(db, "reset_password", input.token, now);
      if (!used.ok) return used;
      const user = findUserById(db, used.token.userId);
      // A link sent to an address the account no longer has (changed, or deleted) opens nothing.
      if (!user || user.deletedAt !== null || user.email !== used.token.email) return { ok: false, reason: "invalid" };
      db.sqlite.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?").run(passwordHash, now, user.id);
      revokeUnusedTokens(db, user.id, "reset_password", now);
      revokeUserSessions(db, user.id);
      enqueueMail(db, user.email, "password_changed", passwordChangedMail(config.appUrl), now);
      return { ok: true, user: findUserById(db, user.id)! };
    })
    .immediate();
}
