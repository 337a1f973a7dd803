/**
 * Two OS processes run the expiry warning job on the SAME SQLite file at the same moment, over
 * the same grants. Each grant must be claimed once and each owner mailed once: the claim and the
 * mail commit together in one BEGIN IMMEDIATE transaction, so the later process finds nothing
 * left to claim.
 */
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../db/client.server";
import { grant } from "../../app/services/money/ledger.server";
import type { ExpiryWarningOptions } from "../../app/services/expiry-warnings.server";
import type { WarningWorkerConfig, WarningWorkerReport } from "./expiry-warning-worker";

const ROOT = path.resolve(__dirname, "../..");
const WORKER = path.join(__dirname, "expiry-warning-worker.ts");
const USERS = 1500;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1, 9, 0);

let dir: string;
let db: AppDb;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "expiry-mp-"));
  db = openMigratedDatabase(path.join(dir, "app.sqlite"));
});

afterAll(async () => {
  closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

type Message = { ready: true } | { ok: true; report: WarningWorkerReport } | { ok: false; error: string };

function startWorker(config: WarningWorkerConfig) {
  const child = fork(WORKER, [JSON.stringify(config)], { cwd: ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const done = new Promise<WarningWorkerReport>((resolve, reject) => {
    child.on("message", (message: Message) => {
      if ("ready" in message) onReady();
      else if (message.ok) resolve(message.report);
      else reject(new Error(`worker failed:\n${message.error}`));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  });
  return { child, ready, done };
}

it("two processes warning at once: every owner mailed once, every grant claimed once", { timeout: 120_000 }, async () => {
  const insertUser = db.sqlite.prepare("insert into users (email, password_hash, email_verified_at) values (?, 'x', ?)");
  await db.sql.write(async (tx) => {
    for (let i = 0; i < USERS; i++) {
      const userId = Number(insertUser.run(`mp-warn${i}@example.com`, NOW - DAY).lastInsertRowid);
      // Two grants each, both due: one mail must name both.
      await grant(tx, { userId, amount: 60, type: "bonus", key: `seed-a-${userId}`, description: "seed", expiresAt: NOW + DAY, now: NOW - DAY });
      await grant(tx, { userId, amount: 70, type: "purchase", key: `seed-b-${userId}`, description: "seed", expiresAt: NOW + 3 * DAY, now: NOW - DAY });
    }
  });

  const options: ExpiryWarningOptions = { appUrl: "https://credits.example", minCredits: 50, beforeMs: 7 * DAY, usersPerRun: USERS };
  const workers = [0, 1].map(() => startWorker({ dbPath: path.join(dir, "app.sqlite"), now: NOW, options }));
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.child.send("go");
  const [a, b] = await Promise.all(workers.map((w) => w.done));

  // The runs really overlapped in time (each started before the other ended).
  expect(a.startedAt).toBeLessThan(b.endedAt);
  expect(b.startedAt).toBeLessThan(a.endedAt);

  expect(a.mailed + b.mailed).toBe(USERS);
  expect(a.grants + b.grants).toBe(2 * USERS);
  const perUser = db.sqlite.prepare("select to_address as to_, count(*) as n from mail_queue group by to_address having n <> 1").all();
  expect(perUser).toEqual([]);
  expect((db.sqlite.prepare("select count(*) as n from mail_queue where kind = 'credits_expiring'").get() as { n: number }).n).toBe(USERS);
  expect((db.sqlite.prepare("select count(*) as n from credit_grants where expiry_warned_at is null").get() as { n: number }).n).toBe(0);
  const sample = db.sqlite.prepare("select subject, text_body as text from mail_queue order by id limit 1").get() as { subject: string; text: string };
  expect(sample.subject).toBe("130 credits of yours expire soon");
  expect(sample.text).toContain("60 credits expire on Wednesday 2 December 2026 at 09:00 UTC.");
  expect(sample.text).toContain("70 credits expire on Friday 4 December 2026 at 09:00 UTC.");
});
