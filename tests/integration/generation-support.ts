import path from "node:path";
import { expect } from "vitest";
import { withServerSql } from "../support/server-sql";
import { closeDatabase, openDatabase } from "../../db/client.server";
import { HttpClient, type RunningServer } from "../support/server";

// Helpers shared by the generation integration tests (tests/integration/generation-*.test.ts).

export type JobJson = {
  id: string;
  kind: "image" | "video";
  status: "queued" | "running" | "succeeded" | "failed";
  progress: number;
  cost: number;
  hold: "pending" | "posted" | "voided";
  error: string | null;
  resultUrl: string | null;
  mimeType: string | null;
  statusUrl: string;
};

let counter = 0;
export function uniqueEmail(tag: string) {
  return `${tag}-${process.pid}-${++counter}@gen.test`;
}

export async function signedIn(baseUrl: string, tag = "gen"): Promise<HttpClient> {
  const client = new HttpClient(baseUrl);
  await client.signup(uniqueEmail(tag));
  return client;
}

export function postJson(client: HttpClient, pathname: string, body: unknown): Promise<Response> {
  return client.request(pathname, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function balanceOf(client: HttpClient): Promise<{ balance: number; onHold: number; userId: number }> {
  const res = await client.get("/api/credits");
  expect(res.status).toBe(200);
  return (await res.json()) as { balance: number; onHold: number; userId: number };
}

export async function getJob(client: HttpClient, id: string): Promise<JobJson> {
  const res = await client.get(`/api/generations/${id}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { job: JobJson }).job;
}

/** Polls the status route until the job matches, or fails after timeoutMs. */
export async function waitForJob(client: HttpClient, id: string, until: (job: JobJson) => boolean, timeoutMs = 15_000): Promise<JobJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(client, id);
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} never reached the expected state; last: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const finished = (job: JobJson) => job.status === "succeeded" || job.status === "failed";

/** Reads the app's database (read-only, alongside the running server or after it died). */
export function readDb<T>(dataDir: string, read: (db: ReturnType<typeof openDatabase>) => T): T {
  const db = openDatabase(path.join(dataDir, "app.sqlite"), { readonly: true });
  try {
    return read(db);
  } finally {
    closeDatabase(db);
  }
}

/**
 * The money invariants, on the file: every balance equals the sum of its counting ledger rows;
 * posted usage equals the cost of succeeded jobs; a pending hold exists exactly for each
 * unfinished job; a failed job's hold is voided.
 */
export function expectLedgerConsistent(dataDir: string) {
  readDb(dataDir, ({ sqlite }) => {
    const mismatched = sqlite
      .prepare(
        `select u.id, u.credits, coalesce((select sum(amount) from transactions t where t.user_id = u.id and t.status in ('pending','posted')), 0) as total
         from users u where u.credits != total`,
      )
      .all();
    expect(mismatched).toEqual([]);
    const jobsVsHolds = sqlite
      .prepare(
        `select g.id, g.status, t.status as hold from generations g join transactions t on t.id = g.hold_id
         where not ((g.status = 'succeeded' and t.status = 'posted') or (g.status = 'failed' and t.status = 'voided')
                 or (g.status in ('queued','running') and t.status = 'pending'))`,
      )
      .all();
    expect(jobsVsHolds).toEqual([]);
    const orphanHolds = sqlite
      .prepare(`select t.id from transactions t where t.type = 'usage' and not exists (select 1 from generations g where g.hold_id = t.id)`)
      .all();
    expect(orphanHolds).toEqual([]);
  });
}

/**
 * expectLedgerConsistent's checks through the executor, on whichever engine the server runs
 * (TEST_DATABASE=postgres): portable SQL, so the same invariants are asked of both.
 */
export async function expectServerLedgerConsistent(server: Pick<RunningServer, "dataDir" | "databaseUrl">): Promise<void> {
  await withServerSql(server, async (sql) => {
    const mismatched = await sql.all(
      `select u.id, u.credits, coalesce((select sum(amount) from transactions t where t.user_id = u.id and t.status in ('pending','posted')), 0) as total
       from users u where u.credits <> coalesce((select sum(amount) from transactions t where t.user_id = u.id and t.status in ('pending','posted')), 0)`,
    );
    expect(mismatched).toEqual([]);
    const jobsVsHolds = await sql.all(
      `select g.id, g.status, t.status as hold from generations g join transactions t on t.id = g.hold_id
       where not ((g.status = 'succeeded' and t.status = 'posted') or (g.status = 'failed' and t.status = 'voided')
               or (g.status in ('queued','running') and t.status = 'pending'))`,
    );
    expect(jobsVsHolds).toEqual([]);
    const orphanHolds = await sql.all(`select t.id from transactions t where t.type = 'usage' and not exists (select 1 from generations g where g.hold_id = t.id)`);
    expect(orphanHolds).toEqual([]);
  });
}
