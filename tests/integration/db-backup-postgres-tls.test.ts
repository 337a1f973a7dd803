import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePgDatabase, migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { startThrowawayCluster, type PgServer } from "../support/postgres";
import { ROOT } from "../support/server";

// db:backup / db:restore hold TLS to what the app holds it to (decisions 034, 040): pg_dump and
// pg_restore, given `sslmode=require` as Neon's URLs say it, verify the server's certificate, so
// a certificate nobody vouches for is refused rather than trusted; libpq's weaker meaning only on
// request (uselibpqcompat=true).

let server: PgServer;
let caFile: string;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-backup-tls-"));

beforeAll(async () => {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost", "-keyout", path.join(dir, "server.key"), "-out", path.join(dir, "server.crt"),
  ], { stdio: "ignore" });
  caFile = path.join(dir, "server.crt");
  server = await startThrowawayCluster({
    files: { "server.crt": fs.readFileSync(caFile, "utf8"), "server.key": fs.readFileSync(path.join(dir, "server.key"), "utf8") },
    settings: { ssl: "on", ssl_cert_file: "{dir}/server.crt", ssl_key_file: "{dir}/server.key" },
  });
  const db = openPgDatabase(at(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`), { max: 1 });
  try {
    await migratePgDatabase(db);
  } finally {
    await closePgDatabase(db);
  }
}, 90_000);

afterAll(async () => {
  if (server) await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function at(query: string): string {
  return `postgres://postgres:hunter2@localhost:${server.port}/credits_test${query}`;
}

const run = (script: "db-backup" | "db-restore", args: string[], env: Record<string, string>) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    execFile(`${ROOT}/node_modules/.bin/tsx`, [`scripts/${script}.ts`, ...args], { cwd: ROOT, encoding: "utf8", env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: dir, ...env } }, (error, out, err) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, out, err }),
    );
  });

describe("db:backup / db:restore over TLS", { timeout: 120_000 }, () => {
  it("sslmode=require refuses a certificate nobody vouches for, and writes nothing", async () => {
    const backups = path.join(dir, "refused");
    const r = await run("db-backup", [], { DATABASE_URL: at("?sslmode=require"), BACKUP_DIR: backups });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/certificate verify failed/);
    expect(r.err).not.toContain("hunter2");
    expect(fs.existsSync(backups) ? fs.readdirSync(backups) : []).toEqual([]);
  });

  it("backs up and restores when the certificate is trusted (sslrootcert), and with libpq's meaning when asked", async () => {
    const backups = path.join(dir, "trusted");
    const trusted = at(`?sslmode=require&sslrootcert=${encodeURIComponent(caFile)}`);
    const backup = await run("db-backup", [], { DATABASE_URL: trusted, BACKUP_DIR: backups });
    expect(backup.err).toBe("");
    expect(backup.code).toBe(0);
    const [file] = fs.readdirSync(backups);
    expect(file).toMatch(/^app-.*\.dump$/);
    const restore = await run("db-restore", ["--", path.join(backups, file!)], { DATABASE_URL: trusted, BACKUP_DIR: backups });
    expect(restore.err).toBe("");
    expect(restore.code).toBe(0);
    const compat = await run("db-backup", ["--", path.join(backups, "compat.dump")], { DATABASE_URL: at("?sslmode=require&uselibpqcompat=true") });
    expect(compat.err).toBe("");
    expect(compat.code).toBe(0);
  });
});
