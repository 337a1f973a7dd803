import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv, readTextStream } from "../../tests/support/csv";
import { createTestDb, insertUser } from "../../tests/support/db";
import { spendNow } from "../../tests/support/ledger";
import { listHistoryPage, type HistoryRow } from "./billing-dashboard.server";
import { streamHistoryCsv } from "./history-csv.server";
import { clawback, grant, hold, voidHold } from "./money/ledger.server";

// The CSV reads the history in one statement of its own (for speed: decision 038); the history
// pages read it through toHistoryRows. These tests hold the two to the same answers, row by row,
// and check the CSV's escaping by parsing it back with a strict RFC 4180 reader.

let db: ReturnType<typeof createTestDb>;
let userId: number;
const DAY = 86_400_000;

const HOSTILE = [
  'say "hi", ok',
  "two\nlines",
  "carriage\rreturn",
  "crlf\r\ninside",
  "=cmd|' /C calc'!A0",
  "+SUM(1)",
  "-2+3",
  "@import",
  "\tleading tab",
  "\rleading CR",
  '=HYPERLINK("http://evil","click")',
  " spaces around ",
  "trailing\t",
  "Äpfel, Birnen 🍎 日本語 \u00e9",
  "\u00a0non-breaking",
  "'already an apostrophe",
  '"',
  ",",
  "a,b,c\r\nd,e,f",
];

function csvOf(id: number, batchRows?: number): ReturnType<typeof readTextStream> {
  return readTextStream(streamHistoryCsv(db, id, batchRows));
}

/** A text cell as the CSV means a spreadsheet to read it: formulas defused by an apostrophe. */
const defused = (s: string) => (/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
const money = (minor: number) => `${minor < 0 ? "-" : ""}${Math.floor(Math.abs(minor) / 100)}.${String(Math.abs(minor) % 100).padStart(2, "0")}`;

/** What the history page knows about a row, written as the CSV's eleven cells. */
function cellsOf(row: HistoryRow): string[] {
  return [
    String(row.id),
    new Date(row.createdAt).toISOString(),
    row.type,
    row.displayStatus,
    defused(row.apiKeyName === null ? row.description : `${row.description} (via key ${row.apiKeyName})`),
    String(row.amount),
    String(row.balanceAfter),
    row.expiresAt === null ? "" : new Date(row.expiresAt).toISOString(),
    row.amountPaid === null ? "" : money(row.amountPaid),
    row.currency === null ? "" : defused(row.currency.toUpperCase()),
    row.stripePaymentId === null ? "" : defused(row.stripePaymentId),
  ];
}

async function allPageRows(id: number): Promise<HistoryRow[]> {
  const rows: HistoryRow[] = [];
  let page = await listHistoryPage(db, { userId: id, limit: 100 });
  rows.push(...page.rows);
  while (page.older !== null) {
    page = await listHistoryPage(db, { userId: id, older: page.older, limit: 100 });
    rows.push(...page.rows);
  }
  return rows;
}

beforeAll(async () => {
  db = createTestDb();
  userId = insertUser(db, "csv@example.com");
  const now = Date.now();
  await grant(db, { userId, amount: 10, type: "bonus", key: "csv:signup", description: "Sign-up bonus", expiresAt: now + 30 * DAY });
  await grant(db, { userId, amount: 3, type: "bonus", key: "csv:expired", description: "Old promo", expiresAt: now - 1000, now: now - 2000 });
  const paid = async (n: number, amount: number, meta: Record<string, unknown>) =>
    await grant(db, { userId, amount, type: "purchase", key: `csv:buy:${n}`, description: `Bought ${amount} credits`, stripePaymentId: `pi_csv_${n}`, meta });
  await paid(1, 500, { amountTotal: 500, currency: "usd" });
  await paid(2, 2000, { amountTotal: 1800, currency: "eur" });
  await paid(3, 500, { amountTotal: 500, currency: "=cmd" });
  await paid(4, 500, {});
  await clawback(db, { userId, amount: 100, key: "csv:refund:1", description: "Partial refund", stripePaymentId: "pi_csv_1" });
  await clawback(db, { userId, amount: 2000, key: "csv:refund:2", description: "Payment refunded: credits taken back", stripePaymentId: "pi_csv_2" });
  await grant(db, { userId, amount: 40, type: "topup", key: "csv:topup", description: "Auto-recharge", stripePaymentId: "pi_csv_topup", meta: { amountTotal: 400, currency: "usd" } });
  await grant(db, {
    userId, amount: 300, type: "plan", key: "csv:plan", description: "Pro plan: 300 credits for the period",
    stripePaymentId: "pi_csv_plan", expiresAt: now + DAY, meta: { amountTotal: 1900, currency: "eur" },
  });
  await grant(db, { userId, amount: 5, type: "plan", key: "csv:rollover", description: "rolled over", expiresAt: now + DAY });
  await grant(db, { userId, amount: 1, type: "bonus", key: "csv:meta", description: "bonus with a price-like meta", meta: { amountTotal: 999, currency: "usd" } });
  HOSTILE.forEach(async (description, i) => await spendNow(db, userId, 1, description, `csv:hostile:${i}`));
  const keyId = Number(
    db.sqlite
      .prepare("insert into api_keys (user_id, name, prefix, key_hash) values (?, ?, 'ck_test', 'hash-csv')")
      .run(userId, 'nightly, "thumbs"\n=2+2').lastInsertRowid,
  );
  const viaKey = await hold(db, { userId, cost: 2, key: "csv:key", description: "Image", ttlSeconds: 600, apiKey: { id: keyId, monthlyLimit: null } });
  if (!viaKey.ok) throw new Error("hold through the key refused");
  const failed = await hold(db, { userId, cost: 50, key: "csv:failed", description: "Video", ttlSeconds: 600 });
  if (!failed.ok) throw new Error("hold refused");
  await voidHold(db, failed.transaction.id, "provider_failed");
  const running = await hold(db, { userId, cost: 50, key: "csv:running", description: "Video, still running", ttlSeconds: 600 });
  if (!running.ok) throw new Error("hold refused");
});
afterAll(() => db.remove());

describe("history CSV", () => {
  it("says of every row what the history page says, cell for cell", async () => {
    const records = parseCsv((await csvOf(userId)).text);
    expect(records[0]).toEqual(["id", "date_utc", "type", "status", "description", "amount", "balance_after", "expires_at", "amount_paid", "currency", "stripe_payment_id"]);
    const rows = await allPageRows(userId);
    expect(records.slice(1)).toEqual(rows.map(cellsOf));
    // The cases the table above must have covered, so the comparison means something.
    const statuses = new Set(rows.map((r) => `${r.type}:${r.displayStatus}`));
    for (const s of ["purchase:partly_refunded", "purchase:refunded", "purchase:posted", "usage:pending", "usage:refunded", "topup:posted", "plan:posted"]) {
      expect(statuses, s).toContain(s);
    }
    expect(rows.some((r) => r.expiresAt !== null && r.expired)).toBe(true);
    expect(rows.some((r) => r.apiKeyName !== null)).toBe(true);
  });

  it.each(HOSTILE)("gives the description %j back unchanged once parsed (formulas defused)", async (description) => {
    const records = parseCsv((await csvOf(userId)).text);
    const found = records.filter((r) => r[4] === defused(description));
    expect(found).toHaveLength(1);
    expect(found[0]).toHaveLength(11);
    expect(found[0].slice(2, 4)).toEqual(["usage", "posted"]);
    expect(found[0][5]).toBe("-1");
  });

  it("names the key a row was spent through, its name escaped too", async () => {
    const records = parseCsv((await csvOf(userId)).text);
    expect(records.filter((r) => r[4] === 'Image (via key nightly, "thumbs"\n=2+2)')).toHaveLength(1);
  });

  it("writes the same bytes whatever the batch size, one chunk per batch", async () => {
    const whole = await csvOf(userId);
    const count = (await allPageRows(userId)).length;
    for (const batch of [1, 2, 7, count - 1, count, count + 1]) {
      const { text, chunks } = await csvOf(userId, batch);
      expect(text, `batch ${batch}`).toBe(whole.text);
      expect(chunks, `batch ${batch}`).toBe(Math.floor(count / batch) + (count % batch === 0 ? 0 : 1));
    }
  });

  it("answers the header alone for a user with no rows, and nobody else's rows", async () => {
    const empty = insertUser(db, "empty@example.com");
    expect((await csvOf(empty)).text).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id\r\n");
    expect((await csvOf(999_999)).text.split("\r\n")).toHaveLength(2);
  });
});
