import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3ResultStore } from "../../app/services/results/s3-store.server";
import { startS3, type RunningS3 } from "../support/s3";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { balanceOf, expectLedgerConsistent, postJson, readDb, signedIn, waitForJob, type JobJson } from "./generation-support";

// Generated files in an S3-compatible bucket (decision 035), against the BUILT app: two instances
// on one database but with separate data folders (no shared disk), behind no proxy — a request
// to either must find a result the other stored, for its owner only.

let s3: RunningS3;
let shared: string;
let a: RunningServer;
let b: RunningServer;
const clients: Record<string, HttpClient> = {};

const ENV = { SIGNUP_BONUS_CREDITS: "100", IMAGE_COST: "5", VIDEO_COST: "10", LOCAL_VIDEO_DURATION_MS: "300" };

beforeAll(async () => {
  s3 = await startS3();
  shared = fs.mkdtempSync(path.join(os.tmpdir(), "credits-s3-db-"));
  const env = { ...ENV, ...s3.env, DATABASE_PATH: path.join(shared, "app.sqlite") };
  // A's data folder holds the database (and its outbox); B has a data folder of its own.
  a = await startServer(env, { dataDir: shared });
  // Every account signs up while only A runs, so each verification mail lands in A's outbox.
  for (const name of ["owner", "other", "video", "leaver"]) clients[name] = await signedIn(a.url, `s3-${name}`);
  b = await startServer(env);
}, 60_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await s3?.stop();
  fs.rmSync(shared, { recursive: true, force: true });
});

/** The same session, talking to instance B. */
function onB(client: HttpClient): HttpClient {
  const other = new HttpClient(b.url);
  other.cookies = new Map(client.cookies);
  return other;
}

const bucket = () =>
  s3ResultStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, prefix: "", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });

function resultKey(id: string): string {
  return readDb(shared, ({ sqlite }) => (sqlite.prepare("select result_path as p from generations where id = ?").get(id) as { p: string }).p);
}

async function makeImage(client: HttpClient): Promise<JobJson> {
  const res = await postJson(client, "/api/generate-image", { prompt: "a lighthouse", size: "256x256" });
  expect(res.status, await res.clone().text()).toBe(201);
  const { job } = (await res.json()) as { job: JobJson };
  expect(job.status).toBe("succeeded");
  return job;
}

describe("results in an S3-compatible bucket, two instances without a shared disk", () => {
  it("an image stored by A is served by B to its owner, whole and by range; the bytes are the bucket's", async () => {
    const owner = clients.owner!;
    const job = await makeImage(owner);
    const key = resultKey(job.id);
    const stored = await buffer(await bucket().read(key));
    expect(stored.subarray(1, 4).toString("latin1")).toBe("PNG");
    // Neither data folder holds it: the bucket is the only copy.
    for (const dir of [a.dataDir, b.dataDir]) expect(fs.existsSync(path.join(dir, key))).toBe(false);

    const whole = await onB(owner).get(job.resultUrl!);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await whole.arrayBuffer()).equals(stored)).toBe(true);

    const part = await onB(owner).get(job.resultUrl!, { headers: { Range: "bytes=0-7" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 0-7/${stored.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(stored.subarray(0, 8))).toBe(true);
    const tail = await onB(owner).get(job.resultUrl!, { headers: { Range: "bytes=-4" } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(stored.subarray(stored.length - 4))).toBe(true);
  });

  it("nobody else gets it from either instance: another user 404, signed out 401", async () => {
    const job = await makeImage(clients.owner!);
    for (const server of [a, b]) {
      const other = new HttpClient(server.url);
      other.cookies = new Map(clients.other!.cookies);
      expect((await other.get(job.resultUrl!)).status).toBe(404);
      expect((await new HttpClient(server.url).get(job.resultUrl!)).status).toBe(401);
    }
  });

  it("a video finished by either instance's worker is served by both", async () => {
    const client = clients.video!;
    const res = await postJson(client, "/api/generate-video", { prompt: "waves", resolution: "720p", durationSeconds: 4 });
    expect(res.status, await res.clone().text()).toBe(202);
    const { job } = (await res.json()) as { job: JobJson };
    const done = await waitForJob(client, job.id, (j) => j.status === "succeeded", 20_000);
    for (const c of [client, onB(client)]) {
      const file = await c.get(done.resultUrl!);
      expect(file.status).toBe(200);
      expect(Buffer.from(await file.arrayBuffer()).subarray(0, 3).toString("latin1")).toBe("GIF");
    }
  });

  it("deleting on B removes the object from the bucket; A answers 404 after", async () => {
    const owner = clients.owner!;
    const job = await makeImage(owner);
    const key = resultKey(job.id);
    expect(await bucket().stat(key)).not.toBeNull();
    const res = await onB(owner).post("/generate", { intent: "delete", id: job.id });
    expect(res.status).toBe(303);
    expect(await bucket().stat(key)).toBeNull();
    expect((await owner.get(job.resultUrl!)).status).toBe(404);
    expect((await owner.get(`/api/generations/${job.id}`)).status).toBe(404);
  });

  it("deleting the account removes its objects", async () => {
    const leaver = clients.leaver!;
    const jobs = [await makeImage(leaver), await makeImage(leaver)];
    const keys = jobs.map((j) => resultKey(j.id));
    const res = await onB(leaver).post("/settings/account", { intent: "delete-account", password: "password123", confirm: "DELETE" });
    expect(res.status).toBe(303);
    for (const key of keys) expect(await bucket().stat(key)).toBeNull();
  });

  it("when the bucket refuses the write, the image fails and costs nothing", async () => {
    // A third instance whose access key the store does not know: every PUT is refused.
    const refused = await startServer({ ...ENV, ...s3.env, S3_ACCESS_KEY_ID: "NOBODY", DATABASE_PATH: path.join(shared, "app.sqlite") });
    try {
      const client = new HttpClient(refused.url);
      client.cookies = new Map(clients.other!.cookies);
      const before = await balanceOf(client);
      const res = await postJson(client, "/api/generate-image", { prompt: "nowhere to go", size: "256x256" });
      const body = (await res.json()) as { job?: JobJson };
      expect(body.job?.status).toBe("failed");
      expect(await balanceOf(client)).toMatchObject({ balance: before.balance, onHold: 0 });
    } finally {
      await refused.stop();
    }
    expectLedgerConsistent(shared);
  });
});
