import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { resultPathFor } from "./folder-files.server";
import type { ResultStore } from "./result-store.server";

export type S3StoreConfig = {
  bucket: string;
  /** Unset: AWS itself. Set for R2, Tigris, MinIO, …: https://<account>.r2.cloudflarestorage.com */
  endpoint: string | null;
  region: string;
  forcePathStyle: boolean;
  /** Prepended to every key ("" or "something/"), so one bucket can hold several apps. */
  prefix: string;
  /** Unset: the SDK's own chain (AWS_* variables, instance roles). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
};

const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;

type Sdk = typeof import("@aws-sdk/client-s3");
let sdk: Promise<Sdk> | undefined;
// Loaded on first use, not at start-up: the SDK costs ~140 ms and ~20 MB to load, which an
// installation that keeps its files in DATA_DIR should not pay.
const loadSdk = () => (sdk ??= import("@aws-sdk/client-s3"));

function notFound(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const name = (error as { name?: unknown } | null)?.name;
  return status === 404 || name === "NoSuchKey" || name === "NotFound";
}

/** Results as objects in an S3-compatible bucket, under the same keys as the folder store. */
export function s3ResultStore(config: S3StoreConfig): ResultStore {
  const clientConfig = {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // Checksums only where S3 requires them: several S3-compatible stores refuse the SDK's newer
    // default (streamed CRC32 trailers), and TLS plus Content-MD5-free PUTs of a buffer are enough.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
  } as const;
  let ready: Promise<{ s3: Sdk; client: S3Client }> | undefined;
  const connect = (): Promise<{ s3: Sdk; client: S3Client }> =>
    (ready ??= loadSdk().then((s3) => ({ s3, client: new s3.S3Client(clientConfig) })));
  const Bucket = config.bucket;
  const keyOf = (key: string) => `${config.prefix}${key}`;

  return {
    kind: "s3",
    async write(userId, jobId, file) {
      const key = resultPathFor(userId, jobId, file.extension);
      // A PUT is visible only once the whole object is stored, and S3 answers 200 only after it is
      // durable: the same guarantee as the folder's fsync-then-rename.
      const { s3, client } = await connect();
      await client.send(new s3.PutObjectCommand({ Bucket, Key: keyOf(key), Body: file.data, ContentType: file.mimeType, ContentLength: file.data.length }));
      return key;
    },
    async stat(key) {
      try {
        const { s3, client } = await connect();
        const head = await client.send(new s3.HeadObjectCommand({ Bucket, Key: keyOf(key) }));
        return { size: head.ContentLength ?? 0 };
      } catch (error) {
        if (notFound(error)) return null;
        throw error;
      }
    },
    async read(key, range) {
      const { s3, client } = await connect();
      const got = await client.send(
        new s3.GetObjectCommand({ Bucket, Key: keyOf(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      if (!(got.Body instanceof Readable)) throw new Error(`S3 answered ${key} without a readable body`);
      return got.Body;
    },
    async removeJob(userId, jobId) {
      if (!Number.isSafeInteger(userId) || userId <= 0 || !SAFE_ID.test(jobId)) return 0;
      // The extension is not known here (an unfinished job has none yet): every object of the job.
      const { s3, client } = await connect();
      const listed = await client.send(new s3.ListObjectsV2Command({ Bucket, Prefix: keyOf(`generations/${userId}/${jobId}.`) }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!).filter(Boolean);
      if (!keys.length) return 0;
      // One DELETE per object (a job has one or two): DeleteObjects needs a body checksum that some
      // S3-compatible stores compute differently.
      for (const Key of keys) await client.send(new s3.DeleteObjectCommand({ Bucket, Key }));
      return keys.length;
    },
    // Nothing half-written can exist: an interrupted PUT stores nothing.
    removeLeftovers: () => 0,
  };
}
