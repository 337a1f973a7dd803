// The history CSV, the /metrics gauges and the readiness probe's statement on SQLite and on a real
// PostgreSQL (decision 036). The same writes on both engines give the same CSV (ids aside): every
// payment's amount and currency read from its meta in JS (no json_extract), refunds summed, key
// names and hostile descriptions escaped, the same bytes whatever the batch size.
// (history-csv.server.test.ts holds the CSV to the history pages, cell for cell, on SQLite.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsv, readTextStream } from "../../tests/support/csv";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../tests/support/engines";
import { streamHistoryCsv } from "./history-csv.server";
import { collectDatabaseGauges } from "./metrics-snapshot.server";
import { clawback, grant, hold, postHold, voidHold } from "./money/ledger.server";

afterAll(async () => {
  await closeEngines();
});

const T = Date.UTC(2026, 11, 1, 12);
const DAY = 86_400_000;
const HOSTILE = ['say "hi", ok', "two\nlines", "crlf\r\ninside", "=cmd|' /C calc'!A0", "+SUM(1)", "@import", "\tleading tab", "Äpfel 🍎 日本語", '"', ",", "'quoted'", "back\\slash"];

function csvOf(db: EngineDb, userId: number, batchRows?: number): ReturnType<typeof readTextStream> {
  return readTextStream(streamHistoryCsv(db, userId, batchRows));
}

const withoutIds = (text: string) => parseCsv(text).map((r) => r.slice(1));
const csvByEngine = new Map<string, string[][]>();

describe.each(ENGINES)("history CSV and metrics on $name", (engine) => {
  let db: EngineDb;
  let userId: number;
  let rows = 0;
  beforeAll(async () => {
    db = await engine.open();
    userId = await insertUserOn(db, "csv@example.com");
    const sql = db.sql;
    const at = (n: number) => T + n * 1000;
    let n = 0;
    const step = () => at(++n);
    await grant(sql, { userId, amount: 10, type: "bonus", key: "csv:signup", description: "Sign-up bonus", expiresAt: T + 30 * DAY, now: step() });
    const paid = async (i: number, amount: number, meta: Record<string, unknown>) =>
      await grant(sql, { userId, amount, type: "purchase", key: `csv:buy:${i}`, description: `Bought ${amount} credits`, stripePaymentId: `pi_csv_${i}`, meta, now: step() });
    await paid(1, 500, { amountTotal: 500, currency: "usd" });
    await paid(2, 2000, { amountTotal: 1800, currency: "eur" });
    await paid(3, 500, { amountTotal: 500, currency: "=cmd" });
    await paid(4, 500, {});
    await clawback(sql, { userId, amount: 100, key: "csv:refund:1", description: "Partial refund", stripePaymentId: "pi_csv_1", now: step() });
    await clawback(sql, { userId, amount: 2000, key: "csv:refund:2", description: "Payment refunded", stripePaymentId: "pi_csv_2", now: step() });
    await grant(sql, { userId, amount: 40, type: "topup", key: "csv:topup", description: "Auto-recharge", stripePaymentId: "pi_csv_topup", meta: { amountTotal: 400, currency: "usd" }, now: step() });
    await grant(sql, { userId, amount: 1, type: "bonus", key: "csv:meta", description: "bonus with a price-like meta", meta: { amountTotal: 999, currency: "usd" }, now: step() });
    for (const [i, description] of HOSTILE.entries()) {
      const h = await hold(sql, { userId, cost: 1, key: `csv:hostile:${i}`, description, ttlSeconds: 3600, now: step() });
      if (!h.ok) throw new Error("refused");
      await postHold(sql, h.transaction.id, step());
    }
    const key = await sql.write((tx) =>
      tx.get<{ id: number }>("INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?, ?, 'ck_test', 'hash-csv') RETURNING id", [userId, 'nightly, "thumbs"\n=2+2']),
    );
    const viaKey = await hold(sql, { userId, cost: 2, key: "csv:key", description: "Image", ttlSeconds: 600, apiKey: { id: key!.id, monthlyLimit: null }, now: step() });
    if (!viaKey.ok) throw new Error("refused");
    const failed = await hold(sql, { userId, cost: 50, key: "csv:failed", description: "Video", ttlSeconds: 600, now: step() });
    if (!failed.ok) throw new Error("refused");
    await voidHold(sql, failed.transaction.id, "provider_failed", step());
    rows = (await sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE user_id = ?", [userId]))!.n;
  }, 60_000);

  it("writes every row newest first with its payment, refund and key cells", async () => {
    const { text } = await csvOf(db, userId);
    const records = parseCsv(text);
    expect(records[0]).toEqual(["id", "date_utc", "type", "status", "description", "amount", "balance_after", "expires_at", "amount_paid", "currency", "stripe_payment_id"]);
    expect(records).toHaveLength(rows + 1);
    const ids = records.slice(1).map((r) => Number(r[0]));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const byDescription = (d: string) => records.filter((r) => r[4] === d);
    expect(byDescription("Bought 500 credits").map((r) => r.slice(2, 11))).toEqual([
      ["purchase", "posted", "Bought 500 credits", "500", expect.any(String), "", "", "", "pi_csv_4"],
      ["purchase", "posted", "Bought 500 credits", "500", expect.any(String), "", "5.00", "'=CMD", "pi_csv_3"],
      ["purchase", "partly_refunded", "Bought 500 credits", "500", expect.any(String), "", "5.00", "USD", "pi_csv_1"],
    ]);
    expect(byDescription("Bought 2000 credits")[0]!.slice(2, 4)).toEqual(["purchase", "refunded"]);
    expect(byDescription("Bought 2000 credits")[0]!.slice(8, 10)).toEqual(["18.00", "EUR"]);
    expect(byDescription("Auto-recharge")[0]!.slice(8, 10)).toEqual(["4.00", "USD"]);
    // Only a payment's meta is read: a bonus with a price-like meta shows no amount paid.
    expect(byDescription("bonus with a price-like meta")[0]!.slice(8, 10)).toEqual(["", ""]);
    expect(byDescription("Sign-up bonus")[0]![7]).toBe(new Date(T + 30 * DAY).toISOString());
    expect(byDescription('Image (via key nightly, "thumbs"\n=2+2)')[0]!.slice(2, 4)).toEqual(["usage", "pending"]);
    expect(byDescription("Video")[0]!.slice(2, 4)).toEqual(["usage", "refunded"]);
    for (const d of HOSTILE) {
      const cell = /^[=+\-@\t\r]/.test(d) ? `'${d}` : d;
      expect(byDescription(cell), JSON.stringify(d)).toHaveLength(1);
      expect(byDescription(cell)[0]!.slice(2, 4)).toEqual(["usage", "posted"]);
    }
    csvByEngine.set(engine.name, withoutIds(text));
  });

  it("writes the same bytes whatever the batch size, one chunk per batch", async () => {
    const whole = await csvOf(db, userId);
    for (const batch of [1, 2, 7, rows - 1, rows, rows + 1]) {
      const { text, chunks } = await csvOf(db, userId, batch);
      expect(text, `batch ${batch}`).toBe(whole.text);
      expect(chunks, `batch ${batch}`).toBe(Math.floor(rows / batch) + (rows % batch === 0 ? 0 : 1));
    }
  });

  it("answers the header alone for a user with no rows, and nobody else's rows", async () => {
    const empty = await insertUserOn(db, "empty@example.com");
    expect((await csvOf(db, empty)).text).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id\r\n");
    expect((await csvOf(db, 987_654)).text.split("\r\n")).toHaveLength(2);
  });

  it("reads the gauges: users, balances, ledger rows by type and status, events, jobs, the database's size", async () => {
    const gauges = await collectDatabaseGauges(db);
    const value = (name: string, labels?: Record<string, string>) =>
      gauges.find((g) => g.name === name && (!labels || Object.entries(labels).every(([k, v]) => g.labels?.[k] === v)))?.value;
    expect(value("users")).toBe((await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM users"))!.n);
    expect(value("ledger_balance_credits")).toBe((await db.sql.get<{ n: number }>("SELECT coalesce(sum(credits), 0) AS n FROM users"))!.n);
    expect(value("ledger_rows", { type: "usage", status: "posted" })).toBe(HOSTILE.length);
    expect(value("ledger_amount_credits", { type: "usage", status: "posted" })).toBe(-HOSTILE.length);
    expect(value("ledger_rows", { type: "purchase", status: "posted" })).toBe(4);
    expect(value("stripe_events_recorded")).toBe(0);
    expect(value("stripe_events_unprocessed")).toBe(0);
    const size = engine.name === "SQLite" ? value("sqlite_database_bytes") : value("postgres_database_bytes");
    expect(size).toBeGreaterThan(4096);
    for (const g of gauges) expect(typeof g.value, g.name).toBe("number");
  });

  it("answers the readiness probe's statement", async () => {
    expect(await db.sql.get("SELECT 1 AS ok")).toEqual({ ok: 1 });
  });
});

describe("history CSV across engines", () => {
  it("is the same on SQLite and PostgreSQL for the same writes (ids aside)", () => {
    expect(csvByEngine.size).toBe(2);
    expect(csvByEngine.get("PostgreSQL")).toEqual(csvByEngine.get("SQLite"));
  });
});
