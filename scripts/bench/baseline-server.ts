// The HTTP baseline (issue 19): a bare node:http server doing the SAME durable work as
// POST /api/generate-image with the instant provider, and nothing else — verify the signed session
// cookie and look the session up; in one BEGIN IMMEDIATE transaction the guarded debit, the hold
// row, its grant draws and the job row; write the result file (temporary name, fsync, rename,
// fsync the folder, as app/services/results/folder-files.server.ts does); in a second transaction
// post the hold and mark the job succeeded with its file. Same database file, same pragmas
// (synchronous=FULL). No framework, no validation library, no logging, no group commit: one
// transaction per step, as a hand-written server would.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { openDatabase } from "../../db/client.server";
import { ledgerKeys } from "../../app/services/money/ledger-keys.server";
import { encodeRgbPng } from "../../app/services/providers/png.server";

const [, , dbPath, portArg, secret] = process.argv;
if (!dbPath || !portArg || !secret) throw new Error("usage: baseline-server.ts <db> <port> <session secret>");
const db = openDatabase(dbPath).sqlite;
const dataDir = path.dirname(dbPath);
const PIXEL = encodeRgbPng(1, 1, new Uint8Array([99, 102, 241]));
const COST = 5;

const sessionById = db.prepare<[string], { data: string; expires_at: number }>("SELECT data, expires_at FROM sessions WHERE id = ?");
const debit = db.prepare<[number, number, number, number], { credits: number }>(
  "UPDATE users SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ? RETURNING credits",
);
const insertHold = db.prepare(
  `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after, expires_at, created_at)
   VALUES (?, ?, 'usage', 'pending', ?, 'Image generation', ?, ?, ?) RETURNING id`,
);
const liveGrants = db.prepare<[number, number], { id: number; remaining: number }>(
  `SELECT id, remaining FROM credit_grants
   WHERE user_id = ? AND closed_at IS NULL AND remaining <> 0 AND (expires_at IS NULL OR expires_at > ?)
   ORDER BY expires_at IS NULL, expires_at, id`,
);
const take = db.prepare("UPDATE credit_grants SET remaining = remaining - ? WHERE id = ?");
const draw = db.prepare("INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES (?, ?, ?)");
const insertJob = db.prepare(
  `INSERT INTO generations (id, user_id, kind, prompt, options, cost, status, hold_id, provider, created_at, updated_at)
   VALUES (?, ?, 'image', ?, ?, ?, 'running', ?, 'instant', ?, ?)`,
);
const post = db.prepare("UPDATE transactions SET status = 'posted', settled_at = ? WHERE id = ? AND status = 'pending' RETURNING id");
const finishJob = db.prepare(
  "UPDATE generations SET status = 'succeeded', progress = 100, result_path = ?, result_mime_type = 'image/png', updated_at = ?, finished_at = ? WHERE id = ?",
);

const open = db.transaction((userId: number, jobId: string, prompt: string, options: string, now: number) => {
  const row = debit.get(COST, now, userId, COST);
  if (!row) return null;
  const holdId = (insertHold.get(userId, -COST, ledgerKeys.generation(jobId), row.credits, now + 900_000, now) as { id: number }).id;
  let left = COST;
  for (const g of liveGrants.all(userId, now)) {
    if (left === 0) break;
    const n = Math.min(left, g.remaining);
    if (n <= 0) continue;
    take.run(n, g.id);
    draw.run(holdId, g.id, n);
    left -= n;
  }
  insertJob.run(jobId, userId, prompt, options, COST, holdId, now, now);
  return holdId;
});
const finish = db.transaction((holdId: number, jobId: string, resultPath: string, now: number) => {
  post.get(now, holdId);
  finishJob.run(resultPath, now, now, jobId);
});

async function writeResult(userId: number, jobId: string): Promise<string> {
  const relative = `generations/${userId}/${jobId}.png`;
  const final = path.join(dataDir, relative);
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
  const temp = `${final}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  const handle = await fs.promises.open(temp, "wx", 0o640);
  try {
    await handle.writeFile(PIXEL);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temp, final);
  const dir = await fs.promises.open(path.dirname(final), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return relative;
}

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
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { prompt?: unknown; size?: unknown };
      if (typeof body.prompt !== "string" || !body.prompt) return send(422, { error: "invalid_request" });
      const jobId = crypto.randomUUID();
      const holdId = open.immediate(userId, jobId, body.prompt, JSON.stringify({ size: body.size ?? "1024x1024" }), Date.now());
      if (holdId === null) return send(402, { error: "insufficient_credits" });
      writeResult(userId, jobId).then(
        (resultPath) => {
          finish.immediate(holdId, jobId, resultPath, Date.now());
          send(201, { job: { id: jobId, status: "succeeded", cost: COST } });
        },
        (error: Error) => send(500, { error: error.message }),
      );
    });
  })
  .listen(Number(portArg), "127.0.0.1", () => console.log("ready"));
