import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "../mocks/openai-server";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { withServerSql } from "../support/server-sql";
import { balanceOf, expectServerLedgerConsistent, finished, postJson, signedIn, waitForJob, type JobJson } from "./generation-support";

// A video job survives `kill -9` of the app: the restarted process polls the provider again and
// charges exactly once; a job killed while the provider was being asked gives its credits back.

let fake: FakeOpenAI;
let server: RunningServer | undefined;

const env = () => ({
  GENERATION_PROVIDER: "openai",
  OPENAI_BASE_URL: fake.url,
  OPENAI_API_KEY: fake.apiKey,
  SIGNUP_BONUS_CREDITS: "100",
  VIDEO_COST: "30",
  // On PostgreSQL a restarted instance cannot tell a dead instance's lease from a live one's: it
  // takes the job over once the lease runs out (on SQLite, at start: one process owns the file).
  VIDEO_LEASE_SECONDS: "3",
});
// Every clip here is 4 s (the default length): 30 credits per 8 s makes it 15.
const CLIP = 15;

beforeAll(async () => {
  fake = await startFakeOpenAI({ videoDurationMs: 2500 });
  server = await startServer(env());
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

async function restart(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<RunningServer> {
  const { dataDir } = server!;
  // SIGKILL: killed, no clean shutdown (exit code null); SIGTERM: the worker stops, exit 0.
  expect(await server!.stop(signal)).toBe(signal === "SIGKILL" ? null : 0);
  server = await startServer(env(), { dataDir });
  return server;
}

/** The same session cookie works against the restarted server (sessions live in the database). */
function follow(client: HttpClient, to: RunningServer): HttpClient {
  const moved = new HttpClient(to.url);
  moved.cookies = client.cookies;
  return moved;
}

async function jobRow(on: RunningServer, id: string) {
  const row = await withServerSql(on, (sql) =>
    sql.get<{ status: string; providerJobId: string | null; hold: string }>(
      `select g.status, g.provider_job_id as "providerJobId", t.status as hold
       from generations g join transactions t on t.id = g.hold_id where g.id = ?`,
      [id],
    ),
  );
  return row!;
}

describe("kill -9 during a video job", () => {
  it("the restarted app resumes polling, downloads once and charges exactly once", async () => {
    let client = await signedIn(server!.url, "restart");
    const res = await postJson(client, "/api/generate-video", { prompt: "a train at night", durationSeconds: 4 });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: JobJson };
    await waitForJob(client, job.id, (j) => j.status === "running" && j.progress > 0);
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - CLIP, onHold: CLIP });

    const before = await restart();
    const row = await jobRow(before, job.id);
    expect(row).toMatchObject({ status: "running", hold: "pending" });
    expect(row.providerJobId).toMatch(/^video_/);

    client = follow(client, before);
    const done = await waitForJob(client, job.id, finished);
    expect(done).toMatchObject({ status: "succeeded", hold: "posted", mimeType: "video/mp4" });
    expect((await client.get(done.resultUrl!)).status).toBe(200);
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - CLIP, onHold: 0 });

    // One remote job, one ledger row, posted.
    expect(fake.requests.filter((r) => r.method === "POST" && r.path === "/videos" && (r.body as { prompt?: string })?.prompt === "a train at night")).toHaveLength(1);
    const usage = await withServerSql(before, (sql) => sql.all("select amount, status from transactions where idempotency_key = ?", [`generation:${job.id}`]));
    expect(usage).toEqual([{ amount: -CLIP, status: "posted" }]);
    await expectServerLedgerConsistent(before);
  });

  it("a job killed while the provider was being asked (no provider id yet) fails and costs nothing", async () => {
    let client = await signedIn(server!.url, "restart-early");
    fake.setBehaviour({ delayMs: 10_000 }); // the create call hangs
    const res = await postJson(client, "/api/generate-video", { prompt: "a ship in fog" });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: JobJson };
    const deadline = Date.now() + 5000;
    while (!fake.requests.some((r) => r.method === "POST" && r.path === "/videos" && (r.body as { prompt?: string })?.prompt === "a ship in fog")) {
      if (Date.now() > deadline) throw new Error("the worker never called the provider");
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await jobRow(server!, job.id)).toMatchObject({ status: "running", providerJobId: null, hold: "pending" });
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - CLIP, onHold: CLIP });

    fake.setBehaviour({});
    const after = await restart();
    client = follow(client, after);
    const failed = await waitForJob(client, job.id, finished);
    expect(failed).toMatchObject({ status: "failed", hold: "voided" });
    // "…by a restart…" (SQLite, at start) or "…interrupted before the generator accepted it" (a takeover).
    expect(failed.error).toMatch(/interrupted/);
    expect(await balanceOf(client)).toMatchObject({ balance: 100, onHold: 0 });
    await expectServerLedgerConsistent(after);
  });

  it("a clean stop (SIGTERM) mid-video leaves the job to the next start, which finishes it", async () => {
    let client = await signedIn(server!.url, "restart-term");
    const res = await postJson(client, "/api/generate-video", { prompt: "a quiet harbour" });
    const { job } = (await res.json()) as { job: JobJson };
    await waitForJob(client, job.id, (j) => j.status === "running" && j.progress > 0);
    const before = server!;
    const after = await restart("SIGTERM");
    expect(before.output()).not.toMatch(/failed to stop cleanly/);
    client = follow(client, after);
    expect(await waitForJob(client, job.id, finished)).toMatchObject({ status: "succeeded", hold: "posted" });
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - CLIP, onHold: 0 });
    await expectServerLedgerConsistent(after);
  });
});
