/**
 * An admin puts an account on hold (no checkout, no generation) or lifts a hold, with a reason.
 * The change and its audit row are one transaction; a change that changes nothing (placing a hold
 * on an account already on hold, lifting one that is not) is refused and audits nothing.
 */
import type { AppDb } from "#db/client.server";
import { auditLog } from "#db/schema";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { liftAccountHold, placeAccountHold } from "../money/account-holds.server";

export type AccountHoldResult =
  | { ok: true; action: "place" | "lift" }
  | { ok: false; reason: "user_not_found" | "already_on_hold" | "not_on_hold"; message: string };

export function changeAccountHold(
  db: AppDb,
  input: { adminId: number; userId: number; action: "place" | "lift"; reason: string },
  now = Date.now(),
): AccountHoldResult {
  return db.sqlite
    .transaction((): AccountHoldResult => {
      const user = db.sqlite.prepare<[number], { flaggedAt: number | null }>("SELECT flagged_at AS flaggedAt FROM users WHERE id = ?").get(input.userId);
      if (!user) return { ok: false, reason: "user_not_found", message: `No user with id ${input.userId}: nothing was changed.` };
      const reason = input.reason.trim();
      const changed =
        input.action === "place" ? placeAccountHold(db, input.userId, `Held by an admin: ${reason}`, now) : liftAccountHold(db, input.userId, now);
      if (!changed) {
        return input.action === "place"
          ? { ok: false, reason: "already_on_hold", message: "This account is already on hold: nothing was changed." }
          : { ok: false, reason: "not_on_hold", message: "This account is not on hold: nothing was changed." };
      }
      db.orm
        .insert(auditLog)
        .values({
          actorId: input.adminId,
          action: input.action === "place" ? AUDIT_ACTIONS.placeHold : AUDIT_ACTIONS.liftHold,
          targetUserId: input.userId,
          reason,
          details: JSON.stringify({ previouslyOnHold: user.flaggedAt !== null }),
          createdAt: now,
        })
        .run();
      return { ok: true, action: input.action };
    })
    .immediate();
}
