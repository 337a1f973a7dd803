import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";

// A local S3-compatible server (s3rver: the S3 REST API over a folder) for the object-storage
// tests, on a free port with one bucket. It checks that the access key exists ("S3RVER") but does
// not verify SigV4 signatures: the signing is the AWS SDK's, tested by AWS.

export const S3_TEST_ACCESS_KEY = "S3RVER";
export const S3_TEST_SECRET = "S3RVER";

export type RunningS3 = { endpoint: string; bucket: string; directory: string; env: Record<string, string>; stop: () => Promise<void> };

export async function startS3(bucket = "credits-results"): Promise<RunningS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "credits-s3-"));
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    directory,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: S3_TEST_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: S3_TEST_SECRET,
    },
    async stop() {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
