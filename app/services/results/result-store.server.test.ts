import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buffer } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3, type RunningS3 } from "../../../tests/support/s3";
import { folderResultStore } from "./folder-store.server";
import type { ResultStore } from "./result-store.server";
import { s3ResultStore } from "./s3-store.server";

// The same contract for both stores: what the generation service, the file route and account
// deletion rely on, whichever store an operator configures.

let s3: RunningS3;
let dataDir: string;
beforeAll(async () => {
  s3 = await startS3();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-results-"));
});
afterAll(async () => {
  await s3?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const png = (n: number) => ({ data: Buffer.from(Array.from({ length: n }, (_, i) => i % 251)), mimeType: "image/png", extension: "png" });

const stores: Array<[string, () => ResultStore]> = [
  ["folder", () => folderResultStore(dataDir)],
  [
    "s3",
    () =>
      s3ResultStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        prefix: "app-one/",
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      }),
  ],
];

describe.each(stores)("the %s result store", (kind, make) => {
  it("stores a result under the shared key, reads it whole and by range, and says its size", async () => {
    const store = make();
    const key = await store.write(7, `job_${kind}_a`, png(1000));
    expect(key).toBe(`generations/7/job_${kind}_a.png`);
    expect(await store.stat(key)).toEqual({ size: 1000 });
    expect((await buffer(await store.read(key))).equals(png(1000).data)).toBe(true);
    expect((await buffer(await store.read(key, { start: 10, end: 19 }))).equals(png(1000).data.subarray(10, 20))).toBe(true);
    expect((await buffer(await store.read(key, { start: 999, end: 999 }))).length).toBe(1);
  });

  it("a key nothing was stored under has no size", async () => {
    expect(await make().stat("generations/7/never.png")).toBeNull();
  });

  it("removes every file of one job and nothing of another", async () => {
    const store = make();
    const a = await store.write(8, `job_${kind}_rm`, png(10));
    const other = await store.write(8, `job_${kind}_rmx`, png(10));
    const otherUser = await store.write(9, `job_${kind}_rm`, png(10));
    expect(await store.removeJob(8, `job_${kind}_rm`)).toBe(1);
    expect(await store.stat(a)).toBeNull();
    expect(await store.stat(other)).toEqual({ size: 10 });
    expect(await store.stat(otherUser)).toEqual({ size: 10 });
    expect(await store.removeJob(8, `job_${kind}_rm`)).toBe(0);
  });

  it.each([
    ["a path in the job id", 1, "../../etc/passwd"],
    ["a slash", 1, "a/b"],
    ["an empty id", 1, ""],
    ["a zero user", 0, "job_ok"],
    ["a negative user", -3, "job_ok"],
  ])("refuses to write %s", async (_name, userId, jobId) => {
    await expect(make().write(userId, jobId, png(1))).rejects.toThrow();
  });

  it.each([
    ["a path in the job id", 1, "../x"],
    ["a wildcard-looking id", 1, "*"],
    ["a zero user", 0, "job_ok"],
  ])("removes nothing for %s", async (_name, userId, jobId) => {
    expect(await make().removeJob(userId, jobId)).toBe(0);
  });
});

describe("the s3 result store", () => {
  it("keeps each app under its prefix in a shared bucket", async () => {
    const one = stores[1]![1]();
    const two = s3ResultStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, prefix: "app-two/", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    const key = await one.write(5, "job_prefixed", png(3));
    expect(await one.stat(key)).toEqual({ size: 3 });
    expect(await two.stat(key)).toBeNull();
  });

  it("an unknown access key is refused: the write throws, so the job fails instead of pointing at nothing", async () => {
    const refused = s3ResultStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, prefix: "", credentials: { accessKeyId: "NOBODY", secretAccessKey: "x" } });
    await expect(refused.write(5, "job_refused", png(3))).rejects.toThrow(/Access Key/i);
  });

  it("a bucket that does not exist is an error, not a silent loss", async () => {
    const missing = s3ResultStore({ bucket: "no-such-bucket", endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, prefix: "", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await expect(missing.write(5, "job_nobucket", png(3))).rejects.toThrow();
  });
});
