import fs from "node:fs";
import { removeJobFiles, removeTempFiles, resolveResultPath, statResultFile, writeResultFile } from "./folder-files.server";
import type { ResultStore } from "./result-store.server";

/** Results in DATA_DIR/generations (folder-files.server.ts holds the write-fsync-rename rules). */
export function folderResultStore(dataDir: string): ResultStore {
  return {
    kind: "folder",
    write: (userId, jobId, file) => writeResultFile(dataDir, userId, jobId, file),
    async stat(key) {
      const stored = await statResultFile(dataDir, key);
      return stored ? { size: stored.size } : null;
    },
    async read(key, range) {
      return fs.createReadStream(resolveResultPath(dataDir, key), range ? { start: range.start, end: range.end } : {});
    },
    async removeJob(userId, jobId) {
      return removeJobFiles(dataDir, userId, jobId);
    },
    removeLeftovers: () => removeTempFiles(dataDir),
  };
}
