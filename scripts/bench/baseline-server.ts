// The HTTP baseline: a bare node:http server doing what POST /api/generate-image must do at the
// least — verify the signed session cookie, look the session up in SQLite, place a hold and post
// it (the same statements as the ledger, each in BEGIN IMMEDIATE) — on the same database file with
// the same pragmas. No framework, no validation library, no job row, no file.
import crypto from "node:crypto";
import http from "node:http";
import { openDatabase } from "../../db/client.server";
import { ledgerKeys } from "../../app/services/money/ledger-keys.server";

const [, , dbPath, portArg, secret] = process.argv;
if (!dbPath || !portArg || !secret) throw new Error("usage: baseline-server.ts <db> <port> <session secret>");
const db = openDatabase(dbPath).sqlite;

const sessionById = db.prepare<[string], { data: string; expires_at: number }>("SELECT data, expires_at FROM sessions WHERE id = ?");
const debit = db.prepare<[number, number, number, number], { credits: number }>(
  "UPDATE users SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ? RETURNING credits",
);
const insert = db.prepare(
  `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after, expires_at, created_at)
   VALUES (?, ?, 'usage', 'pending', ?, 'Image generation', ?, ?, ?) RETURNING id`,
);
const post = db.prepare("UPDATE transactions SET status = 'posted', settled_at = ? WHERE id = ? AND status = 'pending' RETURNING id");
const hold = db.transaction((userId: number, cost: number, key: string, now: number) => {
  const row = debit.get(cost, now, userId, cost);
  if (!row) return null;
  return (insert.get(userId, -cost, key, row.credits, now + 900_000, now) as { id: number }).id;
});
const postTx = db.transaction((id: number, now: number) => post.get(now, id));

// Remix's signed cookie: encodeURIComponent(base64(JSON) + "." + base64(HMAC-SHA256) without "=").
function sessionIdFrom(cookieHeader: string | undefined): string | null {
  const raw = cookieHeader?.split(/;\s*/).find((c) => c.startsWith("__session="))?.slice("__session=".length);
  if (!raw) return null;
  const value = decodeURIComponent(raw);
  const dot = value.lastIndexOf(".");
  const payload = value.slice(0, dot);
  const expected = crypto.createHmac("sha256", secret!).update(payload).digest("base64").replace(/=+$/, "");
  const given = value.slice(dot + 1);
  if (expected.length !== given.length || !crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(given))) return null;
  return JSON.parse(decodeURIComponent(escape(Buffer.from(payload, "base64").toString("latin1"))));
}

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      };
      const sid = sessionIdFrom(req.headers.cookie);
      const session = sid ? sessionById.get(sid) : undefined;
      if (!session || session.expires_at <= Date.now()) return send(401, { error: "unauthorized" });
      const userId = (JSON.parse(session.data) as { userId: number }).userId;
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { prompt?: unknown };
      if (typeof body.prompt !== "string" || !body.prompt) return send(422, { error: "invalid_request" });
      const id = crypto.randomUUID();
      const holdId = hold.immediate(userId, 5, ledgerKeys.generation(id), Date.now());
      if (holdId === null) return send(402, { error: "insufficient_credits" });
      postTx.immediate(holdId, Date.now());
      send(201, { job: { id, status: "succeeded", cost: 5 } });
    });
  })
  .listen(Number(portArg), "127.0.0.1", () => console.log("ready"));
