import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { mailsTo } from "../support/mailbox";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// The resend limits (per account and per IP, the point taken before queuing) and ADMIN_EMAILS at
// start-up, against the built server.

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});
const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });

describe("resending the verification mail", () => {
  it("many parallel resends from one account queue at most its allowance; the rest get 429 with a clear message", async () => {
    const server = await startServer({ AUTH_RATE_LIMIT_DISABLED: "0", TRUST_PROXY: "loopback" });
    servers.push(server);
    const email = "resend-account@example.com";
    const client = new HttpClient(server.url);
    await client.post("/signup", { email, password: "password123" }, from("198.51.100.1"));
    await client.login(email);
    const answers = await Promise.all(
      Array.from({ length: 25 }, (_, i) => client.request("/verify-email/resend", { method: "POST", form: { redirectTo: "/generate" }, ...from(`198.51.100.${10 + i}`) })),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 303)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(22);
    const refused = answers.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.text()).toContain("Too many confirmation e-mails were sent.");
    // The sign-up's mail plus the three accepted resends, never more.
    expect(mailsTo(server.dataDir, email, "verify_email")).toHaveLength(4);

    // "Send me a new link" on an expired link page counts against the same allowance.
    const db = new Database(path.join(server.dataDir, "app.sqlite"));
    db.prepare("update email_tokens set expires_at = 1").run();
    db.close();
    const token = new URL(mailsTo(server.dataDir, email, "verify_email").at(-1)!.links[0]!).searchParams.get("token")!;
    const viaLink = await new HttpClient(server.url).post("/verify-email", { token, intent: "resend" }, from("198.51.100.99"));
    expect(viaLink.status).toBe(429);
    expect(mailsTo(server.dataDir, email, "verify_email")).toHaveLength(4);
  });

  it("many accounts behind one IP are bounded by the per-IP allowance", async () => {
    const server = await startServer({ AUTH_RATE_LIMIT_DISABLED: "0", TRUST_PROXY: "loopback" });
    servers.push(server);
    const clients = await Promise.all(
      Array.from({ length: 9 }, async (_, i) => {
        const c = new HttpClient(server.url);
        const email = `ip-${i}@example.com`;
        await c.post("/signup", { email, password: "password123" }, from(`203.0.113.${i + 1}`));
        await c.request("/login", { method: "POST", form: { email, password: "password123" }, ...from(`203.0.113.${i + 1}`) });
        return { c, email };
      }),
    );
    const answers = await Promise.all(
      clients.flatMap(({ c }) => Array.from({ length: 3 }, () => c.request("/verify-email/resend", { method: "POST", form: {}, ...from("192.0.2.50") }))),
    );
    const accepted = answers.filter((r) => r.status === 303).length;
    expect(accepted).toBe(20);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(27 - 20);
    const queued = clients.reduce((sum, { email }) => sum + mailsTo(server.dataDir, email, "verify_email").length, 0);
    expect(queued).toBe(9 + 20);
  });
});

describe("ADMIN_EMAILS at start-up", () => {
  it("keeps a verified listed account admin across a restart and demotes an unverified one that was made admin", async () => {
    const env = { ADMIN_EMAILS: "boss@example.com,early@example.com" };
    const first = await startServer(env);
    const boss = new HttpClient(first.url);
    await boss.signup("boss@example.com");
    await new HttpClient(first.url).signupUnverified("early@example.com");
    await first.stop();
    // The old bug's leftover: an unverified listed account that is already admin.
    const db = new Database(path.join(first.dataDir, "app.sqlite"));
    db.prepare("update users set role = 'admin' where email = 'early@example.com'").run();
    db.close();

    const second = await startServer(env, { dataDir: first.dataDir });
    servers.push(second);
    const check = new Database(path.join(first.dataDir, "app.sqlite"));
    const roles = check.prepare("select email, role from users order by email").all();
    check.close();
    expect(roles).toEqual([
      { email: "boss@example.com", role: "admin" },
      { email: "early@example.com", role: "user" },
    ]);
    const early = new HttpClient(second.url);
    await early.login("early@example.com");
    expect((await early.get("/admin/credits")).status).toBe(403);
  });
});
