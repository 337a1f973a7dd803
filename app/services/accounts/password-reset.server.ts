/**
 * "Forgot your password?": a single-use link by mail, then a new password.
 *
 * The request answers the same whether or not the address has an account (the route shows one
 * neutral sentence); only the mail queue knows. Setting the new password uses the token, changes
 * the hash, ends EVERY session of the account (the person resetting then logs in with the new
 * password) and tells the owner, all in one transaction.
 */
import type { PortableDb } from "#db/client.server";
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

type Deps = { db: PortableDb; config: Pick<Config, "appUrl"> };

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
  await db.sql.write(async (tx) => {
    const user = await findUserByEmail(tx, input.email);
    if (!user || user.deletedAt !== null) return;
    const raw = await issueToken(tx, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS, now });
    await enqueueMail(tx, user.email, "reset_password", resetPasswordMail(config.appUrl, raw), now);
  });
  return { ok: true };
}

/** For the GET page: whether the link still works (it is not used by looking). */
export async function checkResetLink(db: PortableDb, rawToken: unknown, now = Date.now()): Promise<{ ok: true } | TokenRefusal> {
  const verdict = await peekToken(db, "reset_password", rawToken, now);
  return verdict.ok ? { ok: true } : verdict;
}

export type ResetResult = { ok: true; user: User } | TokenRefusal;

export async function resetPassword({ db, config }: Deps, input: { token: unknown; password: string }, now = Date.now()): Promise<ResetResult> {
  // Hashed before the transaction (scrypt is slow and async); a refused token just wastes it.
  const passwordHash = await hashPassword(input.password);
  return db.sql.write(async (tx): Promise<ResetResult> => {
    const used = await consumeToken(tx, "reset_password", input.token, now);
    if (!used.ok) return used;
    const user = await findUserById(tx, used.token.userId);
    // A link sent to an address the account no longer has (changed, or deleted) opens nothing.
    if (!user || user.deletedAt !== null || user.email !== used.token.email) return { ok: false, reason: "invalid" };
    await tx.run("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", [passwordHash, now, user.id]);
    await revokeUnusedTokens(tx, user.id, "reset_password", now);
    await revokeUserSessions(tx, user.id);
    await enqueueMail(tx, user.email, "password_changed", passwordChangedMail(config.appUrl), now);
    return { ok: true, user: (await findUserById(tx, user.id))! };
  });
}
