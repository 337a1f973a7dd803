import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, ROOT, startServer, type RunningServer } from "../support/server";

// Decision 039: the server starts without loading what its first requests do not need
// (nodemailer, mailparser, ioredis, node-postgres), and bundles the ESM packages whose many files made the
// loader slow (stripe, drizzle-orm, zod). Each of them must still work the first time a freshly
// booted server needs it: the first mail sent, the first outbox message read, the first checkout.

/** The packages the built server imports statically, i.e. loads before it can listen. */
function staticImportsOfBuild(): Set<string> {
  const source = fs.readFileSync(path.join(ROOT, "build/index.js"), "utf8");
  return new Set([...source.matchAll(/^import\s[^;]*?from\s*"([^"]+)"/gm)].map((m) => m[1]!.split("/")[0]!));
}

describe("the server build", () => {
  it("loads the mail stack, the Redis client and node-postgres on demand, and carries stripe, drizzle-orm and zod inside", () => {
    const imports = staticImportsOfBuild();
    expect(imports.has("better-sqlite3")).toBe(true); // the parse found the imports at all
    for (const lazy of ["nodemailer", "mailparser", "ioredis", "@aws-sdk", "pg"]) expect(imports.has(lazy), lazy).toBe(false);
    for (const bundled of ["stripe", "drizzle-orm", "zod"]) expect(imports.has(bundled), bundled).toBe(false);
  });
});

describe("a freshly booted server, on first use", () => {
  const ADMIN = "first-use-admin@example.com";
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ ADMIN_EMAILS: ADMIN, MAIL_OUTBOX: "on", MAIL_SEND_INTERVAL: "100ms" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("sends its first mail, shows it in the outbox and opens its first checkout at the emulator", async () => {
    const admin = new HttpClient(server.url);
    await admin.signup(ADMIN); // queues the verification mail; the sender's first send loads nodemailer

    const outbox = path.join(server.dataDir, "outbox");
    const deadline = Date.now() + 15_000;
    let file: string | undefined;
    while (!(file = fs.existsSync(outbox) ? fs.readdirSync(outbox).find((f) => f.endsWith(".eml")) : undefined)) {
      if (Date.now() > deadline) throw new Error(`no .eml written to ${outbox}:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(fs.readFileSync(path.join(outbox, file), "utf8")).toMatch(/^Subject: /m);

    // The first outbox page parses the message (mailparser's first use).
    const shown = await admin.get(`/dev/outbox/${file}`);
    expect(shown.status).toBe(200);
    expect(await shown.text()).toContain(`${server.url}/verify-email?token=`);

    // The first checkout after boot goes through the SDK to the in-process emulator and back.
    const checkout = await admin.post("/api/stripe/checkout", { pack: "default", token: "first-use" });
    expect(checkout.status).toBe(303);
    const location = checkout.headers.get("location")!;
    expect(location).toMatch(/\/checkout\/cs_/);
    const hosted = await fetch(location);
    expect(hosted.status).toBe(200);
    expect(await hosted.text()).toContain("$5.00"); // the default pack (500 credits) at the emulator's cent per credit
  });
});
