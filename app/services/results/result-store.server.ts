import type { Readable } from "node:stream";
import type { GeneratedFile } from "../providers/types";
import { folderResultStore } from "./folder-store.server";
import { s3ResultStore, type S3StoreConfig } from "./s3-store.server";

// Where finished generations are kept: a folder (DATA_DIR/generations, the embedded default, or a
// volume every instance mounts) or an S3-compatible bucket (several instances without a shared
// disk; decision 035). Both answer the same key, "generations/<userId>/<jobId>.<ext>", which the
// database keeps in generations.result_path: moving from one to the other moves files, not rows.
//
// A result is visible under its key only once complete (the folder renames a fsynced temporary
// file; an S3 PUT is all-or-nothing), so a crash never serves half a file.

export type ResultRange = { start: number; end: number };

export interface ResultStore {
  readonly kind: "folder" | "s3";
  /** Stores a job's result; answers its key. Throws when it could not be stored durably. */
  write(userId: number, jobId: string, file: GeneratedFile): Promise<string>;
  /** The stored size, or null when nothing is stored under the key. */
  stat(key: string): Promise<{ size: number } | null>;
  /** The bytes (or one inclusive byte range) of a stored result. */
  read(key: string, range?: ResultRange): Promise<Readable>;
  /** Removes every stored file of a job (final or temporary). Missing files are fine. */
  removeJob(userId: number, jobId: string): Promise<number>;
  /** At start-up, before any job runs: removes what a crash left half-written. */
  removeLeftovers(): number;
}

export type ResultStoreConfig = { kind: "folder"; dataDir: string } | ({ kind: "s3" } & S3StoreConfig);

const stores = new Map<string, ResultStore>();

/** One store per configuration (the S3 client keeps its connections), built on first use. */
export function resultStoreFor(config: ResultStoreConfig): ResultStore {
  const id = JSON.stringify(config);
  let store = stores.get(id);
  if (!store) {
    store = config.kind === "s3" ? s3ResultStore(config) : folderResultStore(config.dataDir);
    stores.set(id, store);
  }
  return store;
}

/** Removes a job's files after a failure, without hiding the failure that led here. */
export async function removeJobQuietly(store: ResultStore, userId: number, jobId: string, log?: { warn: (obj: Record<string, unknown>, msg?: string) => void }) {
  try {
    await store.removeJob(userId, jobId);
  } catch (error) {
    log?.warn({ err: error, generationId: jobId }, "could not remove a job's stored files");
  }
}
