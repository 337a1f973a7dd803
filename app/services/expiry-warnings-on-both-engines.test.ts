// The expiry warning job on SQLite and on a real PostgreSQL (decision 036): one mail per owner
// summarising the grants due, each grant claimed once however many runs race, the claim rolled
// back with a mail that could not be queued, unreachable accounts left alone, the background
// pass under exclusive(). The mail goes through the body's tx (enqueueMail).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../tests/support/engines";
import { enqueueMail, type QueueMailIn } from "./mail/mail-queue.server";
import { grant } from "./money/ledger.server";
import { startExpiryWarnings, warnOfExpiringCredits, type ExpiryWarningOptions } from "./expiry-warnings.server";

afterAll(async () => {
  await closeEngines();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 1, 9, 0);

const queueMail: QueueMailIn = enqueueMail;
const options: ExpiryWarningOptions = { appUrl: "https://credits.example", minCredits: 50, beforeMs: 7 * DAY, queueMail };

describe.each(ENGINES)("expiry warnings on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  // Each test its own stretch of time, so one test's grants are outside another's window.
  let base = T0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  const user = async (opts: { verified?: boolean; deleted?: boolean } = {}) => {
    const id = await insertUserOn(db, `warn-${++n}-${engine.name.toLowerCase()}@example.com`);
    await db.sql.run("UPDATE users SET email_verified_at = ?, deleted_at = ? WHERE id = ?", [opts.verified === false ? null : base - DAY, opts.deleted ? base - HOUR : null, id]);
    return id;
  };
  const give = async (userId: number, amount: number, expiresAt: number | null) => {
    const written = await grant(db.sql, { userId, amount, type: "bonus", key: `warn-g${++n}`, description: "test credits", expiresAt, now: base - DAY });
    return (await db.sql.get<{ id: number }>("SELECT id FROM credit_grants WHERE source_tx_id = ?", [written.transaction.id]))!.id;
  };
  const mailsTo = async (userId: number) =>
    db.sql.all<{ kind: string; subject: string; text: string }>(
      `SELECT m.kind, m.subject, m.text_body AS text FROM mail_queue m JOIN users u ON u.email = m.to_address WHERE u.id = ? ORDER BY m.id`,
      [userId],
    );
  const warnedAt = async (grantId: number) => (await db.sql.get<{ w: number | null }>("SELECT expiry_warned_at AS w FROM credit_grants WHERE id = ?", [grantId]))!.w;
  const nextStretch = () => (base += 60 * DAY);

  it("one mail per owner summarising every sizeable grant in the window; each grant once, across runs", async () => {
    nextStretch();
    const a = await user();
    const soon = await give(a, 60, base + 2 * DAY);
    const later = await give(a, 80, base + 6 * DAY + 5 * HOUR);
    const outside = await give(a, 500, base + 8 * DAY);
    const forever = await give(a, 1000, null);
    const small = await give(a, 30, base + DAY); // below EXPIRY_WARNING_MIN_CREDITS: not worth a mail
    expect(await warnOfExpiringCredits(db, options, base)).toEqual({ mailed: 1, grants: 2 });
    const [first] = await mailsTo(a);
    expect(first).toMatchObject({ kind: "credits_expiring", subject: "140 credits of yours expire soon" });
    expect(first!.text).toContain("60 credits expire on");
    expect(first!.text).toContain("80 credits expire on");
    expect(first!.text).not.toContain("500");
    expect([await warnedAt(soon), await warnedAt(later), await warnedAt(outside), await warnedAt(forever), await warnedAt(small)]).toEqual([base, base, null, null, null]);
    expect(await warnOfExpiringCredits(db, options, base + HOUR)).toEqual({ mailed: 0, grants: 0 });
    expect(await warnOfExpiringCredits(db, options, base + DAY)).toEqual({ mailed: 1, grants: 1 });
    const mails = await mailsTo(a);
    expect(mails.at(-1)).toMatchObject({ kind: "credits_expiring", subject: "500 credits of yours expire soon" });
    expect(mails).toHaveLength(2);
    expect(mails[1]!.text).not.toContain("60 credits");
  });

  it("20 runs racing over 12 owners: every owner mailed once, every grant claimed once", async () => {
    nextStretch();
    const owners = await Promise.all(Array.from({ length: 12 }, () => user()));
    for (const o of owners) {
      await give(o, 60, base + DAY);
      await give(o, 70, base + 3 * DAY);
    }
    const runs = await Promise.all(Array.from({ length: 20 }, () => warnOfExpiringCredits(db, options, base)));
    expect(runs.reduce((s, r) => s + r.mailed, 0)).toBe(12);
    expect(runs.reduce((s, r) => s + r.grants, 0)).toBe(24);
    for (const o of owners) {
      const mails = await mailsTo(o);
      expect(mails).toHaveLength(1);
      expect(mails[0]!.subject).toBe("130 credits of yours expire soon");
    }
    const unclaimed = await db.sql.get<{ n: number }>(
      `SELECT count(*) AS n FROM credit_grants WHERE user_id IN (${owners.map(() => "?").join(", ")}) AND expiry_warned_at IS NULL`,
      owners,
    );
    expect(unclaimed!.n).toBe(0);
  });

  it("a mail that cannot be queued rolls the claim back: the grant is warned about on the next run", async () => {
    nextStretch();
    const a = await user();
    const g = await give(a, 60, base + DAY);
    const failing: QueueMailIn = async (tx, ...rest) => {
      await queueMail(tx, ...rest);
      throw new Error("mail refused");
    };
    await expect(warnOfExpiringCredits(db, { ...options, queueMail: failing }, base)).rejects.toThrow(/mail refused/);
    expect(await warnedAt(g)).toBeNull();
    expect(await mailsTo(a)).toEqual([]);
    // The next run, through the app's own queue (no queueMail given) on this engine.
    expect(await warnOfExpiringCredits(db, { ...options, queueMail: undefined }, base + HOUR)).toEqual({ mailed: 1, grants: 1 });
    expect(await mailsTo(a)).toHaveLength(1);
    expect(await warnedAt(g)).toBe(base + HOUR);
  });

  it("unverified and deleted accounts get no mail; an account verified later is warned then", async () => {
    nextStretch();
    const unverified = await user({ verified: false });
    const deleted = await user({ deleted: true });
    const g = await give(unverified, 60, base + DAY);
    await give(deleted, 60, base + DAY);
    expect(await warnOfExpiringCredits(db, options, base)).toEqual({ mailed: 0, grants: 0 });
    await db.sql.run("UPDATE users SET email_verified_at = ? WHERE id = ?", [base, unverified]);
    expect(await warnOfExpiringCredits(db, options, base + HOUR)).toEqual({ mailed: 1, grants: 1 });
    expect(await warnedAt(g)).toBe(base + HOUR);
    expect(await mailsTo(deleted)).toEqual([]);
  });

  it.each([[0], [-1], [Number.NaN], [1.5]])("usersPerRun %s still warns one owner at a time; minCredits 0 turns the job off", async (usersPerRun) => {
    nextStretch();
    const a = await user();
    await give(a, 60, base + DAY);
    expect(await warnOfExpiringCredits(db, { ...options, minCredits: 0 }, base)).toEqual({ mailed: 0, grants: 0 });
    expect(await warnOfExpiringCredits(db, { ...options, usersPerRun }, base)).toEqual({ mailed: 1, grants: 1 });
  });

  it("the background job: a pass at start under exclusive(), stop() waits for it, a failed pass is logged", async () => {
    nextStretch();
    const a = await user();
    await give(a, 60, base + DAY);
    const infos: unknown[] = [];
    const errors: unknown[] = [];
    const log = { info: (o: unknown) => void infos.push(o), error: (o: unknown) => void errors.push(o) };
    const job = startExpiryWarnings(db, { ...options, intervalMs: 3_600_000, log, now: () => base });
    await job.stop();
    expect(infos).toEqual([{ mailed: 1, grants: 1 }]);
    expect(errors).toEqual([]);
    expect(await mailsTo(a)).toHaveLength(1);
    // While another pass holds the name, a tick skips (here: the same process holds it).
    const b = await user();
    await give(b, 60, base + DAY);
    let second: { stop(): Promise<void> } | undefined;
    await db.sql.exclusive("expiry-warnings", async () => {
      second = startExpiryWarnings(db, { ...options, intervalMs: 3_600_000, log, now: () => base });
      await second.stop();
    });
    expect(await mailsTo(b)).toEqual([]);
    const failing = startExpiryWarnings(db, { ...options, intervalMs: 3_600_000, log, now: () => base, queueMail: async () => Promise.reject(new Error("smtp down")) });
    await failing.stop();
    expect(errors).toHaveLength(1);
    expect(await mailsTo(b)).toEqual([]);
  });
});
