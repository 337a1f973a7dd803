import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { startThrowawayCluster, type PgServer } from "../support/postgres";

// TLS on a real server (decision 034): the URL's sslmode is honoured, and "require", as Neon's
// URLs say it, verifies the certificate (node-postgres 8's meaning, pinned by pgPoolConfig), so a
// server whose certificate nobody vouches for is refused rather than trusted.

let server: PgServer;
let caFile: string;
const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-tls-"));

beforeAll(async () => {
  // A self-signed certificate for localhost: trusted only by whoever is given it as sslrootcert.
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost", "-keyout", path.join(certDir, "server.key"), "-out", path.join(certDir, "server.crt"),
  ], { stdio: "ignore" });
  caFile = path.join(certDir, "server.crt");
  server = await startThrowawayCluster({
    files: { "server.crt": fs.readFileSync(caFile, "utf8"), "server.key": fs.readFileSync(path.join(certDir, "server.key"), "utf8") },
    settings: { ssl: "on", ssl_cert_file: "{dir}/server.crt", ssl_key_file: "{dir}/server.key" },
  });
}, 60_000);

afterAll(async () => {
  if (server) await server.stop();
  fs.rmSync(certDir, { recursive: true, force: true });
});

/** Whether this connection is encrypted, as the server sees it. */
async function encrypted(url: string): Promise<boolean> {
  const db = openPgDatabase(url, { max: 1 });
  try {
    const { rows } = await db.pool.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    return rows[0].ssl;
  } finally {
    await closePgDatabase(db);
  }
}

const at = (query: string) => `postgres://postgres@localhost:${server.port}/credits_test${query}`;

describe("DATABASE_URL with TLS", () => {
  it("sslmode=require refuses a certificate nobody vouches for", async () => {
    await expect(encrypted(at("?sslmode=require"))).rejects.toThrow(/self[- ]signed certificate/);
  });

  it("connects encrypted when the certificate is trusted (sslrootcert), with require and verify-full alike", async () => {
    expect(await encrypted(at(`?sslmode=require&sslrootcert=${encodeURIComponent(caFile)}`))).toBe(true);
    expect(await encrypted(at(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}&channel_binding=require`))).toBe(true);
  });

  it("verifies the host name too: the trusted certificate of another name is refused", async () => {
    const byAddress = `postgres://postgres@127.0.0.1:${server.port}/credits_test?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`;
    await expect(encrypted(byAddress)).rejects.toThrow(/Hostname\/IP does not match|altnames/);
  });

  it("keeps libpq's weaker meaning only when asked (uselibpqcompat=true), and plain text without sslmode", async () => {
    expect(await encrypted(at("?sslmode=require&uselibpqcompat=true"))).toBe(true);
    expect(await encrypted(at(""))).toBe(false);
  });
});
