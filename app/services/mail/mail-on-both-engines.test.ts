// The mail queue, its sender and the admin's view on SQLite and on a real PostgreSQL (decision
// 036): a message queued in a write body commits or rolls back with it; a claim is a lease one
// sender holds; racing senders (and racing claims) deliver each message once; a late outcome never
// overwrites a newer attempt; a failed message is queued again once, with its audit row.
// (mail-sender.server.test.ts covers SMTP itself, on SQLite.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PortableDb } from "#db/client.server";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { listMailProblems, MAIL_DELAYED_AFTER_MS, retryFailedMail } from "./mail-admin.server";
import { renderMail } from "./mail-layout.server";
import { enqueueMail } from "./mail-queue.server";
import { claimNextMail, hasDueMail, recordFailure, recordSent, startMailSender, type MailSender } from "./mail-sender.server";
import type { MailTransport, OutgoingMail } from "./mail-transport.server";

afterAll(async () => {
  await closeEngines();
});

const mail = (subject: string) => renderMail({ subject, paragraphs: ["Hello."] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A transport that takes a few milliseconds per message and remembers what it was given. */
function fakeTransport(sent: OutgoingMail[], fail?: (m: OutgoingMail) => boolean): MailTransport {
  return {
    kind: "outbox",
    async send(m) {
      await sleep(2);
      if (fail?.(m)) throw Object.assign(new Error("try later"), { responseCode: 451 });
      sent.push(m);
      return { messageId: `<m-${m.id}@test>` };
    },
    close() {},
  };
}

type MailRow = { status: string; attempts: number; lastError: string | null; messageId: string | null; nextAttemptAt: number };

describe.each(ENGINES)("mail on $name", (engine) => {
  let db: EngineDb;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);
  const rowOf = async (id: number) =>
    (await db.sql.get<MailRow>(
      `SELECT status, attempts, last_error AS "lastError", message_id AS "messageId", next_attempt_at AS "nextAttemptAt" FROM mail_queue WHERE id = ?`,
      [id],
    ))!;
  // Every test leaves nothing due behind, so the next one's claims see only its own rows.
  const clearQueue = () => db.sql.run("UPDATE mail_queue SET status = 'sent' WHERE status = 'pending'");

  it("queues inside the caller's body: committed with it, gone when it rolls back", async () => {
    const kept = await db.sql.write((tx) => enqueueMail(tx, "kept@example.com", "verify_email", mail("Kept"), 1_000));
    await expect(
      db.sql.write(async (tx) => {
        await enqueueMail(tx, "lost@example.com", "verify_email", mail("Lost"), 1_000);
        throw new Error("the change it announced failed");
      }),
    ).rejects.toThrow(/failed/);
    const rows = await db.sql.all<{ to: string; subject: string; status: string; attempts: number; nextAttemptAt: number }>(
      `SELECT to_address AS "to", subject, status, attempts, next_attempt_at AS "nextAttemptAt" FROM mail_queue WHERE to_address IN ('kept@example.com', 'lost@example.com')`,
    );
    expect(rows).toEqual([{ to: "kept@example.com", subject: "Kept", status: "pending", attempts: 0, nextAttemptAt: 1_000 }]);
    // Given the database, a write of its own.
    const own = await enqueueMail(db, "own@example.com", "verify_email", mail("Own"), 1_000);
    expect(own).toBeGreaterThan(kept);
    await clearQueue();
  });

  it("hands a row to one claimer at a time, again after the lease, and ignores the dead claimer's late answer", async () => {
    const now = 5_000_000;
    const id = await enqueueMail(db, "claim@example.com", "verify_email", mail("Claim"), now);
    expect(await hasDueMail(db, now)).toBe(true);
    const first = await claimNextMail(db, now, 1000);
    expect(first).toMatchObject({ id, attempts: 1, toAddress: "claim@example.com", subject: "Claim", kind: "verify_email", createdAt: now });
    expect(await claimNextMail(db, now, 1000)).toBeNull();
    expect(await claimNextMail(db, now + 999, 1000)).toBeNull();
    const second = await claimNextMail(db, now + 1000, 1000);
    expect(second).toMatchObject({ id, attempts: 2 });
    expect(await recordFailure(db, first!, "late", now + 1001, [40])).toBe("superseded");
    expect(await recordSent(db, first!, "<late@test>", now + 1001)).toBe(false);
    expect(await rowOf(id)).toMatchObject({ status: "pending", attempts: 2, lastError: null });
    expect(await recordFailure(db, second!, "451 later", now + 1001, [40, 40])).toBe("retrying");
    expect(await rowOf(id)).toMatchObject({ status: "pending", attempts: 2, lastError: "451 later", nextAttemptAt: now + 1041 });
    const third = (await claimNextMail(db, now + 1041, 1000))!;
    expect(await recordFailure(db, third, "550 no", now + 1042, [40, 40])).toBe("failed");
    expect(await rowOf(id)).toMatchObject({ status: "failed", attempts: 3, lastError: "550 no" });
    expect(await hasDueMail(db, now + 10_000_000)).toBe(false);
  });

  it("40 racing claims over 20 due messages: each message claimed exactly once, 20 claimers find nothing", async () => {
    const now = 7_000_000;
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => enqueueMail(db, `claim-race-${i}@example.com`, "verify_email", mail(`Race ${i}`), now)));
    const claims = await Promise.all(Array.from({ length: 40 }, () => claimNextMail(db, now, 60_000)));
    const claimed = claims.filter((c) => c !== null).map((c) => c.id);
    expect(claimed.sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(claims.filter((c) => c === null)).toHaveLength(20);
    for (const id of ids) expect(await rowOf(id)).toMatchObject({ attempts: 1, nextAttemptAt: now + 60_000 });
    await clearQueue();
  });

  it("two senders racing over 20 messages (the lock bypassed for one: the lease alone decides) send each once", async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => enqueueMail(db, `send-race-${i}@example.com`, "verify_email", mail(`Send ${i}`))));
    const sent: OutgoingMail[] = [];
    // The second sender does not share the first's exclusive lock: as if the lock were lost, or
    // two instances each believed they held it. The claim must keep them apart on its own.
    const unlocked: PortableDb = { sql: { ...db.sql, exclusive: async (_name, pass) => (await pass(), true) } };
    const options = { transport: fakeTransport(sent), retrySchedule: [40], intervalMs: 3_600_000, sendTimeoutMs: 5_000 };
    const senders: MailSender[] = [startMailSender(db, options), startMailSender(unlocked, { ...options, transport: fakeTransport(sent) })];
    const reports = await Promise.all([senders[0]!.sendNow(), senders[1]!.sendNow(), senders[0]!.sendNow(), senders[1]!.sendNow()]);
    await Promise.all(senders.map((s) => s.stop()));
    expect(reports.every((r) => r.retrying === 0 && r.failed === 0)).toBe(true);
    expect(sent.map((m) => m.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    for (const id of ids) expect(await rowOf(id)).toMatchObject({ status: "sent", attempts: 1, messageId: `<m-${id}@test>` });
  });

  it("one sender's pass at a time under the exclusive lock: a second sender on the same lock sends nothing meanwhile", async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => enqueueMail(db, `lock-${i}@example.com`, "verify_email", mail(`Lock ${i}`))));
    const sent: OutgoingMail[] = [];
    const options = { transport: fakeTransport(sent), retrySchedule: [40], intervalMs: 3_600_000, sendTimeoutMs: 5_000 };
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // Another pass holds "mail-sender" (this process, or on PostgreSQL any instance on the database).
    const holder = db.sql.exclusive("mail-sender", () => held);
    await sleep(20);
    const s = startMailSender(db, options);
    expect(await s.sendNow()).toEqual({ sent: 0, retrying: 0, failed: 0 });
    release();
    expect(await holder).toBe(true);
    expect(await s.sendNow()).toEqual({ sent: 5, retrying: 0, failed: 0 });
    await s.stop();
    expect(sent.map((m) => m.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
  });

  it("lists failed and delayed mail with counts, and queues a failed message again once, audited", async () => {
    const now = Date.now();
    const adminId = await insertUserOn(db, `mail-admin-${engine.name.toLowerCase()}@example.com`, "admin");
    const ownerId = await insertUserOn(db, `owner-${engine.name.toLowerCase()}@example.com`);
    const failed = await enqueueMail(db, `owner-${engine.name.toLowerCase()}@example.com`, "verify_email", mail("Failed"), now);
    await db.sql.run("UPDATE mail_queue SET status = 'failed', attempts = 4, last_error = '550 gone' WHERE id = ?", [failed]);
    const slow = await enqueueMail(db, "slow@example.com", "verify_email", mail("Slow"), now - MAIL_DELAYED_AFTER_MS - 1);
    const fresh = await enqueueMail(db, "fresh@example.com", "verify_email", mail("Fresh"), now);
    const problems = await listMailProblems(db, now);
    expect(problems.failed.find((m) => m.id === failed)).toEqual({
      id: failed,
      to: `owner-${engine.name.toLowerCase()}@example.com`,
      kind: "verify_email",
      subject: "Failed",
      status: "failed",
      attempts: 4,
      lastError: "550 gone",
      createdAt: now,
      nextAttemptAt: now,
    });
    expect(problems.delayed.map((m) => m.id)).toContain(slow);
    expect(problems.delayed.map((m) => m.id)).not.toContain(fresh);
    const counts = await db.sql.all<{ status: string; n: number }>("SELECT status, count(*) AS n FROM mail_queue GROUP BY status ORDER BY status");
    expect(problems.counts).toEqual({
      pending: counts.find((c) => c.status === "pending")?.n ?? 0,
      sent: counts.find((c) => c.status === "sent")?.n ?? 0,
      failed: counts.find((c) => c.status === "failed")?.n ?? 0,
    });
    expect(typeof problems.counts.pending).toBe("number");

    // 20 admins press "retry" at once: one requeues it, the others are told it is not failed.
    const results = await Promise.all(Array.from({ length: 20 }, () => retryFailedMail(db, { adminId, mailId: failed }, now + 1)));
    expect(results.filter((r) => r.ok)).toEqual([{ ok: true, id: failed, to: `owner-${engine.name.toLowerCase()}@example.com` }]);
    expect(results.filter((r) => !r.ok && r.reason === "not_failed")).toHaveLength(19);
    expect(await rowOf(failed)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: now + 1 });
    const audit = await db.sql.all<{ actorId: number; targetUserId: number | null; details: string }>(
      `SELECT actor_id AS "actorId", target_user_id AS "targetUserId", details FROM audit_log WHERE action = 'mail.retry'`,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actorId).toBe(adminId);
    expect(audit[0]!.targetUserId).toBe(ownerId);
    expect(JSON.parse(audit[0]!.details)).toEqual({ mailId: failed, kind: "verify_email", to: `owner-${engine.name.toLowerCase()}@example.com`, failedAttempts: 4 });
    expect(await retryFailedMail(db, { adminId, mailId: 987_654 })).toMatchObject({ ok: false, reason: "not_found" });
    await clearQueue();
  });
});
