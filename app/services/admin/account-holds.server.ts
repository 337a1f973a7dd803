/**
 * An admin puts an account on hold (no checkout, no generation) or lifts a hold, with a reason.
 * The change and its audit row are one write body; a change that changes nothing (placing a hold
 * on an account already on hold, lifting one that is not) is refused and audits nothing.
 */
import type { PortableDb } from "#db/client.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { liftAccountHold, placeAccountHold } from "../money/account-holds.server";

export type AccountHoldResult =
  | { ok: true; action: "place" | "lift" }
  | { ok: false; reason: "user_not_found" | "already_on_hold" | "not_on_hold"; message: string };

export function changeAccountHold(
  db: PortableDb,
  input: { adminId: number; userId: number; action: "place" | "lift"; reason: string },
  now = Date.now(),
): Promise<AccountHoldResult> {
  return db.sql.write(async (tx): Promise<AccountHoldResult> => {
    const user = await tx.get<{ flaggedAt: number | null }>(`SELECT flagged_at AS "flaggedAt" FROM users WHERE id = ?`, [input.userId]);
    if (!user) return { ok: false, reason: "user_not_found", message: `No user with id ${input.userId}: nothing was changed.` };
    const reason = input.reason.trim();
    // The guarded UPDATE decides, not the read: two admins racing, one changes and audits.
    const changed =
      input.action === "place" ? await placeAccountHold(tx, input.userId, `Held by an admin: ${reason}`, now) : await liftAccountHold(tx, input.userId, now);
    if (!changed) {
      return input.action === "place"
        ? { ok: false, reason: "already_on_hold", message: "This account is already on hold: nothing was changed." }
        : { ok: false, reason: "not_on_hold", message: "This account is not on hold: nothing was changed." };
    }
    await tx.run("INSERT INTO audit_log (actor_id, action, target_user_id, reason, details, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
      input.adminId,
      input.action === "place" ? AUDIT_ACTIONS.placeHold : AUDIT_ACTIONS.liftHold,
      input.userId,
      reason,
      JSON.stringify({ previouslyOnHold: user.flaggedAt !== null }),
      now,
    ]);
    return { ok: true, action: input.action };
  });
}
