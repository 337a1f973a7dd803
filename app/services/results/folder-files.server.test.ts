import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  removeJobFiles,
  removeTempFiles,
  resolveResultPath,
  resultPathFor,
  statResultFile,
  writeResultFile,
} from "./folder-files.server";

let dataDir: string;
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-files-"));
});
afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const png = { data: Buffer.from("\x89PNG fake"), mimeType: "image/png", extension: "png" };

describe("result files", () => {
  it("are written under DATA_DIR/generations/<user>/<job>.<ext>, with no temporary file left", async () => {
    const relative = await writeResultFile(dataDir, 7, "gen_abc", png);
    expect(relative).toBe("generations/7/gen_abc.png");
    expect(fs.readFileSync(path.join(dataDir, relative))).toEqual(png.data);
    expect(fs.readdirSync(path.join(dataDir, "generations/7"))).toEqual(["gen_abc.png"]);
    expect(await statResultFile(dataDir, relative)).toMatchObject({ size: png.data.length });
    expect(await statResultFile(dataDir, "generations/7/missing.png")).toBeNull();
  });

  it("refuse ids, extensions and stored paths that could leave the generations folder", async () => {
    expect(() => resultPathFor(1, "../../etc/passwd", "png")).toThrow(/invalid job id/);
    expect(() => resultPathFor(1, "gen_ok", "p/ng")).toThrow(/invalid file extension/);
    expect(() => resultPathFor(0, "gen_ok", "png")).toThrow(/invalid user id/);
    expect(() => resolveResultPath(dataDir, "generations/../app.sqlite")).toThrow(/escapes/);
    expect(() => resolveResultPath(dataDir, "/etc/passwd")).toThrow(/escapes/);
    await expect(writeResultFile(dataDir, 1, "gen_x", { ...png, extension: "../sh" })).rejects.toThrow();
  });

  it("a crash leftover (.tmp) is removed at start; a job's files can be removed whatever their extension", async () => {
    await writeResultFile(dataDir, 3, "gen_keep", png);
    await writeResultFile(dataDir, 3, "gen_drop", { ...png, extension: "gif" });
    const tmp = path.join(dataDir, "generations/3/gen_half.png.1234.tmp");
    fs.writeFileSync(tmp, "half");
    expect(removeTempFiles(dataDir)).toBe(1);
    expect(fs.existsSync(tmp)).toBe(false);
    expect(removeJobFiles(dataDir, 3, "gen_drop")).toBe(1);
    expect(fs.readdirSync(path.join(dataDir, "generations/3"))).toEqual(["gen_keep.png"]);
    expect(removeJobFiles(dataDir, 99, "gen_none")).toBe(0);
    expect(removeTempFiles(path.join(dataDir, "nowhere"))).toBe(0);
  });
});
