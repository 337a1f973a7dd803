import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./server";

// Just enough of a Dockerfile parser for the tests that check the Dockerfile against package.json
// and run its CMD / HEALTHCHECK outside Docker: instructions (comments dropped, `\` continuations
// joined), stages, ENV values and commands in exec (JSON) or shell form.

export type Instruction = { keyword: string; args: string; line: number };
export type Stage = { name: string | null; from: string; instructions: Instruction[] };

export function readDockerfile(file = path.join(ROOT, "Dockerfile")): Stage[] {
  return parseDockerfile(fs.readFileSync(file, "utf8"));
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = "";
  let startLine = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (!pending && (/^\s*#/.test(line) || !line.trim())) return;
    if (pending && /^\s*#/.test(line)) return; // comments inside a continued instruction
    if (!pending) startLine = i + 1;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, " ");
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (m) instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: startLine });
  });
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stages.push({ name: m[2] ?? null, from: m[1]!, instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return stages;
}

/** A command as argv: exec form (JSON array) as is; shell form as `sh -c <text>`. */
export function commandOf(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith("[")) return JSON.parse(trimmed) as string[];
  return ["sh", "-c", trimmed];
}

/** HEALTHCHECK [--options] CMD <command> → the command. */
export function healthcheckCommand(args: string): string[] {
  const m = /^(?:--\S+\s+)*CMD\s+([\s\S]+)$/i.exec(args.trim());
  if (!m) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  return commandOf(m[1]!);
}

/** ENV values of a stage, inherited through `FROM <earlier stage>`. */
export function stageEnv(stages: Stage[], stage: Stage): Record<string, string> {
  const parent = stages.find((s) => s.name && s.name === stage.from);
  const env: Record<string, string> = parent ? stageEnv(stages, parent) : {};
  for (const ins of stage.instructions.filter((i) => i.keyword === "ENV")) {
    for (const m of ins.args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env[m[1]!] = m[3] ?? m[2]!;
  }
  return env;
}

export function find(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

// ---- fly.toml: the subset Fly's config uses (tables, arrays of tables, strings, numbers, booleans).

export type TomlTable = { [key: string]: TomlValue };
export type TomlValue = string | number | boolean | TomlTable | TomlTable[] | Array<string | number | boolean>;

export function parseToml(text: string): TomlTable {
  const root: TomlTable = {};
  let current = root;
  const tableAt = (keys: string[], array: boolean): TomlTable => {
    let node: TomlTable = root;
    keys.forEach((key, i) => {
      const last = i === keys.length - 1;
      if (last && array) {
        const list = (node[key] ??= []) as TomlTable[];
        const table: TomlTable = {};
        list.push(table);
        node = table;
        return;
      }
      const existing = node[key];
      if (Array.isArray(existing)) node = existing[existing.length - 1] as TomlTable;
      else node = (node[key] ??= {}) as TomlTable;
    });
    return node;
  };
  for (const raw of text.split("\n")) {
    const line = stripComment(raw).trim();
    if (!line) continue;
    let m = /^\[\[\s*([\w.-]+)\s*\]\]$/.exec(line);
    if (m) {
      current = tableAt(m[1]!.split("."), true);
      continue;
    }
    m = /^\[\s*([\w.-]+)\s*\]$/.exec(line);
    if (m) {
      current = tableAt(m[1]!.split("."), false);
      continue;
    }
    m = /^([\w-]+)\s*=\s*(.+)$/.exec(line);
    if (!m) throw new Error(`fly.toml: cannot read line: ${raw}`);
    current[m[1]!] = tomlValue(m[2]!.trim());
  }
  return root;
}

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== "\\") inString = !inString;
    if (line[i] === "#" && !inString) return line.slice(0, i);
  }
  return line;
}

function tomlValue(v: string): TomlValue {
  if (v.startsWith('"')) return JSON.parse(v) as string;
  if (v === "true" || v === "false") return v === "true";
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v.startsWith("[")) return JSON.parse(v) as Array<string | number | boolean>;
  throw new Error(`fly.toml: unsupported value ${v}`);
}
