/**
 * The admin audit log: who changed what, when and why, newest first, as lines a person can read.
 * Rows are written by the actions themselves (adjustments.server.ts, refunds.server.ts), each in
 * the same transaction as its change.
 */
import type { PortableDb } from "#db/client.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { formatMoney } from "~/utils/format";
import { formatCode, formatLifetime } from "~/utils/redeem-code-schemas";
import { parseJsonObject } from "~/utils/json";

export const AUDIT_PAGE_SIZE = 50;

type AuditRaw = {
  id: number;
  createdAt: number;
  action: string;
  reason: string | null;
  details: string | null;
  actorId: number;
  actorEmail: string;
  targetUserId: number | null;
  targetEmail: string | null;
};

const AUDIT_SELECT = `SELECT a.id AS id, a.created_at AS "createdAt", a.action AS action, a.reason AS reason, a.details AS details,
     a.actor_id AS "actorId", actor.email AS "actorEmail", a.target_user_id AS "targetUserId", target.email AS "targetEmail"
   FROM audit_log a
   JOIN users actor ON actor.id = a.actor_id
   LEFT JOIN users target ON target.id = a.target_user_id`;

const AUDIT_SQL = {
  page: `${AUDIT_SELECT} WHERE a.id < @older ORDER BY a.id DESC LIMIT @limit`,
  pageOfUser: `${AUDIT_SELECT} WHERE a.target_user_id = @user AND a.id < @older ORDER BY a.id DESC LIMIT @limit`,
};

export type AuditEntryView = {
  id: number;
  createdAt: number;
  action: string;
  reason: string | null;
  summary: string;
  actorId: number;
  actorEmail: string;
  targetUserId: number | null;
  targetEmail: string | null;
};
function signed(n: number): string {
  return n > 0 ? `+${n.toLocaleString("en-US")}` : `−${Math.abs(n).toLocaleString("en-US")}`;
}

/** One line a person can read, from the row's details. */
export function summarizeAudit(action: string, detailsText: string | null): string {
  const d = parseJsonObject(detailsText);
  if (action === AUDIT_ACTIONS.adjust && typeof d.amount === "number") {
    return `${signed(d.amount)} credits (${String(d.type ?? "adjustment")}), balance after ${String(d.balanceAfter ?? "?")}, transaction #${String(d.transactionId ?? "?")}`;
  }
  if (action === AUDIT_ACTIONS.refund && typeof d.amount === "number" && typeof d.currency === "string") {
    return `Refund ${String(d.refundId)} of ${formatMoney(d.amount, d.currency)} requested for purchase #${String(d.transactionId ?? "?")}`;
  }
  if (action === AUDIT_ACTIONS.placeHold) return "Account put on hold: no checkout, no generation";
  if (action === AUDIT_ACTIONS.liftHold) return "Account hold lifted";
  if (action === AUDIT_ACTIONS.mailRetry && typeof d.mailId === "number") {
    return `Message #${d.mailId} (${String(d.kind ?? "mail")}) to ${String(d.to ?? "?")} queued again after ${String(d.failedAttempts ?? "?")} failed attempts`;
  }
  if (action === AUDIT_ACTIONS.codeCreate && typeof d.code === "string") {
    const lifetime = typeof d.creditsExpireAfterMs === "number" ? `expire after ${formatLifetime(d.creditsExpireAfterMs)}` : "never expire";
    const until = typeof d.redeemableUntil === "number" ? `, redeemable until ${new Date(d.redeemableUntil).toISOString().slice(0, 16).replace("T", " ")} UTC` : "";
    return `Code ${formatCode(d.code)} (#${String(d.codeId)}): ${String(d.credits)} credits that ${lifetime}, up to ${String(d.maxRedemptions)} times${until}`;
  }
  if (action === AUDIT_ACTIONS.codeDisable && typeof d.code === "string") {
    return `Code ${formatCode(d.code)} (#${String(d.codeId)}) disabled after ${String(d.redemptionCount)} of ${String(d.maxRedemptions)} redemptions`;
  }
  if (action === AUDIT_ACTIONS.codeRedeem && typeof d.code === "string") {
    const expiry = typeof d.expiresAt === "number" ? `expire ${new Date(d.expiresAt).toISOString().slice(0, 10)}` : "never expire";
    const via = typeof d.apiKeyId === "number" ? ` through API key #${d.apiKeyId}` : "";
    return `Code ${formatCode(d.code)} redeemed${via}: +${String(d.credits)} credits (${expiry}), transaction #${String(d.transactionId)}, use ${String(d.redemptionCount)} of ${String(d.maxRedemptions)}`;
  }
  if (action === AUDIT_ACTIONS.resendVerification && typeof d.email === "string") {
    return `Verification e-mail sent again to ${d.email}`;
  }
  return detailsText ?? "";
}

export async function listAudit(
  db: PortableDb,
  opts: { targetUserId?: number; older?: number; limit?: number } = {},
): Promise<{ entries: AuditEntryView[]; older: number | null }> {
  const limit = Math.max(1, Math.min(200, opts.limit ?? AUDIT_PAGE_SIZE));
  const params = { older: opts.older ?? Number.MAX_SAFE_INTEGER, limit: limit + 1 };
  const raw =
    opts.targetUserId !== undefined
      ? await db.sql.all<AuditRaw>(AUDIT_SQL.pageOfUser, { ...params, user: opts.targetUserId })
      : await db.sql.all<AuditRaw>(AUDIT_SQL.page, params);
  const more = raw.length > limit;
  const entries = raw.slice(0, limit).map((r) => ({
    id: r.id,
    createdAt: r.createdAt,
    action: r.action,
    reason: r.reason,
    summary: summarizeAudit(r.action, r.details),
    actorId: r.actorId,
    actorEmail: r.actorEmail,
    targetUserId: r.targetUserId,
    targetEmail: r.targetEmail,
  }));
  return { entries, older: more ? entries[entries.length - 1].id : null };
}
