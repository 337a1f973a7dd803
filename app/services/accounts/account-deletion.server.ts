/**
 * Deleting an account: the person goes, the accounting record stays.
 *
 * The users row is kept (ledger rows, disputes and the audit log point at it with FK RESTRICT) but
 * emptied: a placeholder address (so the real one is free for a new sign-up), a hash no password
 * matches, `deleted_at` set. Holds are voided through the ledger and unfinished generations
 * failed, so no credits stay pending; sessions and mail tokens are deleted; prompts are blanked
 * and the generated files removed from disk. The stripe customer id is KEPT: refunds and disputes
 * of past payments may still arrive for it, and the webhook must find whose ledger they touch.
 * Decision: docs/decisions/019-password-reset-and-account-deletion.md.
 */
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import type { AuthRateLimiter, Refusal } from "../auth-rate-limit.server";
import type { ResultStore } from "../results/result-store.server";
import { failGeneration } from "../generation-job-writes.server";
import { logger } from "../logger.server";
import { enqueueMail } from "../mail/mail-queue.server";
import { forgetAutoRechargeOf } from "../money/auto-recharge-settings.server";
import { voidHold } from "../money/ledger.server";
import { revokeUserSessions } from "../session.server";
import { findUserById } from "../users.server";
import { accountDeletedMail } from "./account-mail.server";
import { checkCurrentPassword, type WrongPassword } from "./account-settings.server";

/** Lower-case (users_email_lower) and unique per account; `.invalid` can never receive mail. */
export function deletedEmailFor(userId: number): string {
  return `deleted-${userId}@deleted.invalid`;
}

// Not a scrypt hash, so verifyPassword refuses it whatever is typed.
const UNUSABLE_HASH = "!deleted";
const VOID_REASON = "account deleted";

/**
 * Everything inside one write body (every statement through `tx`, on either engine); returns the
 * ids of the generations whose files to remove.
 */
export function eraseAccount(db: PortableDb, userId: number, now = Date.now()): Promise<{ generationIds: string[] } | null> {
  return db.sql.write(async (tx) => {
    const user = await findUserById(tx, userId);
    if (!user || user.deletedAt !== null) return null;
    // Queued before the address is gone, in the same transaction: no mail for a rollback.
    await enqueueMail(tx, user.email, "account_deleted", accountDeletedMail(), now);
    const unfinished = await tx.all<{ id: string }>("SELECT id FROM generations WHERE user_id = ? AND status IN ('queued', 'running')", [userId]);
    for (const job of unfinished) await failGeneration(tx, job.id, "The account was deleted.", VOID_REASON, now);
    // Holds without a job (none are made today, but the ledger allows them) are voided too.
    const pending = await tx.all<{ id: number }>("SELECT id FROM transactions WHERE user_id = ? AND status = 'pending'", [userId]);
    for (const hold of pending) await voidHold(tx, hold.id, VOID_REASON, now);
    const generationIds = (await tx.all<{ id: string }>("SELECT id FROM generations WHERE user_id = ?", [userId])).map((g) => g.id);
    await tx.run("UPDATE generations SET prompt = '', result_path = NULL, updated_at = ? WHERE user_id = ?", [now, userId]);
    await tx.run("UPDATE users SET email = ?, password_hash = ?, email_verified_at = NULL, deleted_at = ?, updated_at = ? WHERE id = ?", [
      deletedEmailFor(userId),
      UNUSABLE_HASH,
      now,
      now,
      userId,
    ]);
    await tx.run("DELETE FROM email_tokens WHERE user_id = ?", [userId]);
    await forgetAutoRechargeOf(tx, userId, now);
    await revokeUserSessions(tx, userId);
    return { generationIds };
  });
}

export type DeleteResult = { ok: true } | Refusal | WrongPassword | { ok: false; reason: "already_deleted" };

/** The account page's "Delete account": the password first (log-in limits), then the erasure. */
export async function deleteAccount(
  { db, limiter, results }: { db: PortableDb; limiter: AuthRateLimiter; results: ResultStore },
  input: { ip: string; user: User; password: string },
  now = Date.now(),
): Promise<DeleteResult> {
  const checked = await checkCurrentPassword(limiter, input);
  if (!checked.ok) return checked;
  const erased = await eraseAccount(db, input.user.id, now);
  if (!erased) return { ok: false, reason: "already_deleted" };
  // After the commit: a file removed for a rolled-back deletion could not be brought back.
  let removed = 0;
  for (const id of erased.generationIds) {
    try {
      removed += await results.removeJob(input.user.id, id);
    } catch (error) {
      // The account is erased either way; a file left behind is named in the log for the operator.
      logger.warn({ err: error, userId: input.user.id, generationId: id }, "could not remove a deleted account's file");
    }
  }
  logger.info({ userId: input.user.id, filesRemoved: removed }, "account deleted");
  return { ok: true };
}
