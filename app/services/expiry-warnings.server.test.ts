import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../tests/support/db";
import { expireDueGrants, grant, hold, voidHold } from "./money/ledger.server";
import { claimExpiryWarnings } from "./money/grant-warnings.server";
import { verifyLedger } from "./money/ledger-verify.server";
import { expiryLines } from "./expiry-warning-mail.server";
import { warnOfExpiringCredits, type ExpiryWarningOptions } from "./expiry-warnings.server";

// The expiry warning job with a clock: every run is given its `now`.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 1, 9, 0); // Tuesday 1 December 2026, 09:00 UTC
const options: ExpiryWarningOptions = { appUrl: "https://credits.example", minCredits: 50, beforeMs: 7 * DAY };

let db: ReturnType<typeof createTestDb>;
let n = 0;
beforeEach(async () => {
  db = createTestDb();
});
afterEach(() => db.remove());

function user(opts: { verified?: boolean; deleted?: boolean } = {}): number {
  const id = insertUser(db, `warn${++n}@example.com`);
  db.sqlite.prepare("update users set email_verified_at = ?, deleted_at = ? where id = ?").run(opts.verified === false ? null : T0 - DAY, opts.deleted ? T0 - HOUR : null, id);
  return id;
}

async function give(userId: number, amount: number, expiresAt: number | null, key = `g${++n}`): Promise<number> {
  const written = await grant(db, { userId, amount, type: "bonus", key, description: "test credits", expiresAt, now: T0 - DAY });
  return (db.sqlite.prepare("select id from credit_grants where source_tx_id = ?").get(written.transaction.id) as { id: number }).id;
}

type MailRow = { to_address: string; kind: string; subject: string; text_body: string; html_body: string };
const mails = () => db.sqlite.prepare("select to_address, kind, subject, text_body, html_body from mail_queue order by id").all() as MailRow[];
const warnedAt = (grantId: number) => (db.sqlite.prepare("select expiry_warned_at as w from credit_grants where id = ?").get(grantId) as { w: number | null }).w;
const emailOf = (userId: number) => (db.sqlite.prepare("select email from users where id = ?").get(userId) as { email: string }).email;

describe("warnOfExpiringCredits", () => {
  it("one mail per user summarising every sizeable grant expiring within the window; each grant once, across runs", async () => {
    const a = user();
    const soon = await give(a, 60, T0 + 2 * DAY); // Thursday 3 December, 09:00
    const later = await give(a, 80, T0 + 6 * DAY + 5 * HOUR); // Monday 7 December, 14:00
    const outside = await give(a, 500, T0 + 8 * DAY); // beyond the 7 days: not yet
    const forever = await give(a, 1000, null);

    expect(await warnOfExpiringCredits(db, options, T0)).toEqual({ mailed: 1, grants: 2 });
    const [mail, ...more] = mails();
    expect(more).toEqual([]);
    expect(mail).toMatchObject({ to_address: emailOf(a), kind: "credits_expiring", subject: "140 credits of yours expire soon" });
    expect(mail.text_body).toContain("60 credits expire on Thursday 3 December 2026 at 09:00 UTC.");
    expect(mail.text_body).toContain("80 credits expire on Monday 7 December 2026 at 14:00 UTC.");
    expect(mail.text_body).toContain("https://credits.example/pricing");
    expect(mail.text_body).toContain("See your credits: https://credits.example/settings/billing");
    expect(mail.html_body).toContain('href="https://credits.example/settings/billing"');
    expect(mail.text_body).not.toContain("500");
    expect([warnedAt(soon), warnedAt(later), warnedAt(outside), warnedAt(forever)]).toEqual([T0, T0, null, null]);

    // The next run, and one a day later: nothing new, until the 500 enter the window.
    expect(await warnOfExpiringCredits(db, options, T0 + HOUR)).toEqual({ mailed: 0, grants: 0 });
    expect(await warnOfExpiringCredits(db, options, T0 + DAY - 1)).toEqual({ mailed: 0, grants: 0 });
    expect(await warnOfExpiringCredits(db, options, T0 + DAY)).toEqual({ mailed: 1, grants: 1 });
    expect(mails()).toHaveLength(2);
    expect(mails()[1].subject).toBe("500 credits of yours expire soon");
    expect(mails()[1].text_body).not.toContain("60 credits");
    expect(warnedAt(outside)).toBe(T0 + DAY);
    expect(verifyLedger(db, { now: T0 + DAY, sweepGraceMs: 60_000 }).violations).toEqual([]);
  });

  it("a grant its owner already spent below the threshold is not worth a mail; given back above it, it is", async () => {
    const a = user();
    const g = await give(a, 100, T0 + 3 * DAY);
    const spent = await hold(db, { userId: a, cost: 60, key: "spend-1", description: "a video", ttlSeconds: 3600, now: T0 - HOUR });
    expect(spent.ok).toBe(true);
    expect(await warnOfExpiringCredits(db, options, T0)).toEqual({ mailed: 0, grants: 0 });
    if (spent.ok) await voidHold(db, spent.transaction.id, "provider_failed", T0 + HOUR);
    expect(await warnOfExpiringCredits(db, options, T0 + 2 * HOUR)).toEqual({ mailed: 1, grants: 1 });
    expect(mails()[0].subject).toBe("100 credits of yours expire soon");
    expect(warnedAt(g)).toBe(T0 + 2 * HOUR);
  });

  it("unverified and deleted accounts get no mail; an account verified later is warned then", async () => {
    const unverified = user({ verified: false });
    const deleted = user({ deleted: true });
    const g = await give(unverified, 100, T0 + 3 * DAY);
    const d = await give(deleted, 100, T0 + 3 * DAY);
    expect(await warnOfExpiringCredits(db, options, T0)).toEqual({ mailed: 0, grants: 0 });
    expect([warnedAt(g), warnedAt(d)]).toEqual([null, null]);
    db.sqlite.prepare("update users set email_verified_at = ? where id = ?").run(T0, unverified);
    expect(await warnOfExpiringCredits(db, options, T0 + HOUR)).toEqual({ mailed: 1, grants: 1 });
    expect(mails().map((m) => m.to_address)).toEqual([emailOf(unverified)]);
  });

  it("the window's edges: at the threshold, exactly EXPIRY_WARNING_BEFORE ahead; not below, not past, not closed", async () => {
    const a = user();
    const atEdge = await give(a, 50, T0 + 7 * DAY); // 50 credits, exactly 7 days ahead: warned
    const below = await give(a, 49, T0 + DAY);
    const justOutside = await give(a, 200, T0 + 7 * DAY + 1);
    // Expired already (not yet swept): too late for a warning, the expire row is the news.
    const past = await give(a, 300, T0 - DAY + 1000);
    expect(await warnOfExpiringCredits(db, options, T0)).toEqual({ mailed: 1, grants: 1 });
    expect([warnedAt(atEdge), warnedAt(below), warnedAt(justOutside), warnedAt(past)]).toEqual([T0, null, null, null]);
    expect(mails()[0].text_body).toContain("50 credits expire on Tuesday 8 December 2026 at 09:00 UTC.");
    // Once swept (closed), the expired one is never warned about; the next hour's run takes only
    // the grant that has entered the window meanwhile.
    await expireDueGrants(db, T0);
    expect(await warnOfExpiringCredits(db, options, T0 + HOUR)).toEqual({ mailed: 1, grants: 1 });
    expect([warnedAt(justOutside), warnedAt(past)]).toEqual([T0 + HOUR, null]);
  });

  it("separate users get separate mails; EXPIRY_WARNING_MIN_CREDITS=0 turns the job off", async () => {
    const a = user();
    const b = user();
    await give(a, 60, T0 + DAY);
    await give(b, 70, T0 + 2 * DAY);
    expect(await warnOfExpiringCredits(db, { ...options, minCredits: 0 }, T0)).toEqual({ mailed: 0, grants: 0 });
    expect(mails()).toEqual([]);
    expect(await warnOfExpiringCredits(db, { ...options, usersPerRun: 1 }, T0)).toEqual({ mailed: 1, grants: 1 });
    expect(await warnOfExpiringCredits(db, { ...options, usersPerRun: 1 }, T0)).toEqual({ mailed: 1, grants: 1 });
    expect(mails().map((m) => [m.to_address, m.subject])).toEqual([
      [emailOf(a), "60 credits of yours expire soon"],
      [emailOf(b), "70 credits of yours expire soon"],
    ]);
  });

  it("a mail that cannot be queued rolls the claim back: the grant is warned about on the next run", async () => {
    const a = user();
    const g = await give(a, 60, T0 + DAY);
    db.sqlite.exec("CREATE TEMP TRIGGER refuse_mail BEFORE INSERT ON mail_queue BEGIN SELECT RAISE(ABORT, 'mail refused'); END");
    await expect(warnOfExpiringCredits(db, options, T0)).rejects.toThrow(/mail refused/);
    expect(warnedAt(g)).toBeNull();
    db.sqlite.exec("DROP TRIGGER refuse_mail");
    expect(await warnOfExpiringCredits(db, options, T0 + HOUR)).toEqual({ mailed: 1, grants: 1 });
  });

  it("the claim refuses to run outside the mail's transaction, and refuses a threshold of 0", async () => {
    const a = user();
    await expect(claimExpiryWarnings(db as never, a, { now: T0, until: T0 + DAY, minCredits: 50 })).rejects.toThrow(/inside the transaction/);
    await expect(claimExpiryWarnings(db.sql as never, a, { now: T0, until: T0 + DAY, minCredits: 50 })).rejects.toThrow(/inside the transaction/);
    await expect(db.sql.write((tx) => claimExpiryWarnings(tx, a, { now: T0, until: T0 + DAY, minCredits: 0 }))).rejects.toThrow(/minCredits/);
  });
});

describe("expiryLines", () => {
  it("one line per UTC day, soonest first; several times in a day name the first", () => {
    const day = Date.UTC(2026, 11, 9, 0, 30);
    expect(
      expiryLines([
        { id: 3, remaining: 1, expiresAt: day + DAY },
        { id: 1, remaining: 60, expiresAt: day + 14 * HOUR },
        { id: 2, remaining: 40, expiresAt: day },
      ]),
    ).toEqual(["100 credits expire on Wednesday 9 December 2026 (the first at 00:30 UTC).", "1 credit expires on Thursday 10 December 2026 at 00:30 UTC."]);
  });
});
