import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { GeneratedFile } from "../providers/types";

// Where finished generations live: DATA_DIR/generations/<userId>/<jobId>.<ext>. The database keeps
// the path relative to DATA_DIR, so moving the data folder (a restored backup) keeps every link.
//
// A file appears under its final name only when it is complete: it is written to a temporary name
// in the same folder, fsynced, then renamed (atomic on one file system). A crash mid-write leaves a
// `.tmp` file that is never served and is removed at the next start.

const ROOT = "generations";
const SAFE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SAFE_EXTENSION = /^[a-z0-9]{1,5}$/;

export function generationsRoot(dataDir: string): string {
  return path.resolve(dataDir, ROOT);
}

/** The path, relative to DATA_DIR, where a job's result is stored. */
export function resultPathFor(userId: number, jobId: string, extension: string): string {
  if (!Number.isSafeInteger(userId) || userId <= 0) throw new Error(`invalid user id ${userId}`);
  if (!SAFE_ID.test(jobId)) throw new Error(`invalid job id ${JSON.stringify(jobId)}`);
  if (!SAFE_EXTENSION.test(extension)) throw new Error(`invalid file extension ${JSON.stringify(extension)}`);
  return path.posix.join(ROOT, String(userId), `${jobId}.${extension}`);
}

/** Resolves a stored relative path, refusing anything that would leave DATA_DIR/generations. */
export function resolveResultPath(dataDir: string, relativePath: string): string {
  const root = generationsRoot(dataDir);
  const full = path.resolve(dataDir, relativePath);
  if (!full.startsWith(root + path.sep)) throw new Error(`result path escapes the generations folder: ${relativePath}`);
  return full;
}

/** Writes the file under a temporary name, fsyncs, renames. Returns the path relative to DATA_DIR. */
export async function writeResultFile(dataDir: string, userId: number, jobId: string, file: GeneratedFile): Promise<string> {
  const relative = resultPathFor(userId, jobId, file.extension);
  const final = resolveResultPath(dataDir, relative);
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
  const temp = `${final}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await fs.promises.open(temp, "wx", 0o640);
    try {
      await handle.writeFile(file.data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, final);
    await syncDirectory(path.dirname(final));
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  return relative;
}

/** The rename itself must survive a power cut before the database says "succeeded". */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a result (a job that was stored but could not be charged). Missing files are fine. */
export async function removeResultFile(dataDir: string, relativePath: string): Promise<void> {
  await fs.promises.rm(resolveResultPath(dataDir, relativePath), { force: true });
}

/** Removes every file of a job (final or temporary), whatever its extension. */
export function removeJobFiles(dataDir: string, userId: number, jobId: string): number {
  if (!SAFE_ID.test(jobId)) return 0;
  const dir = path.join(generationsRoot(dataDir), String(userId));
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (name.startsWith(`${jobId}.`)) {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

/** Deletes `.tmp` leftovers of writes a crash interrupted. Call before any job runs. */
export function removeTempFiles(dataDir: string): number {
  const root = generationsRoot(dataDir);
  if (!fs.existsSync(root)) return 0;
  let removed = 0;
  for (const entry of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".tmp")) {
      fs.rmSync(path.join(entry.parentPath, entry.name), { force: true });
      removed++;
    }
  }
  return removed;
}

export type StoredFile = { fullPath: string; size: number };

/** Stat of a stored result, or null when it is missing. */
export async function statResultFile(dataDir: string, relativePath: string): Promise<StoredFile | null> {
  const fullPath = resolveResultPath(dataDir, relativePath);
  try {
    const stat = await fs.promises.stat(fullPath);
    return stat.isFile() ? { fullPath, size: stat.size } : null;
  } catch {
    return null;
  }
}
