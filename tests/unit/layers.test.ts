import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

// The layers of docs/design.md, checked on the source: who may import whom, and no cycles.
//   routes → http → services → utils, db        components → utils (types only from services)
// The Stripe emulator (stripe-emulator/) is reached only through app/services/stripe.server.ts;
// test support (tests/) never from app/.

const ROOT = path.resolve(import.meta.dirname, "../..");
const EXTENSIONS = [".ts", ".tsx", ".js", "/index.ts", "/index.server.ts"];

type Import = { from: string; to: string; typeOnly: boolean };

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(rel);
    return /\.(ts|tsx)$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [rel] : [];
  });
}

function resolve(from: string, spec: string): string | null {
  let base: string;
  if (spec.startsWith("~/")) base = path.posix.join("app", spec.slice(2));
  else if (spec.startsWith("#db/")) base = path.posix.join("db", spec.slice(4));
  else if (spec.startsWith(".")) base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  else return null; // a package
  if (fs.existsSync(path.join(ROOT, base)) && fs.statSync(path.join(ROOT, base)).isFile()) return base;
  for (const ext of EXTENSIONS) if (fs.existsSync(path.join(ROOT, base + ext))) return base + ext;
  return base;
}

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const found: Import[] = [];
  const pattern = /^\s*(import|export)\s+(type\s+)?([^"';]*?\s+from\s+)?["']([^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) {
    const to = resolve(file, m[4]);
    if (to) found.push({ from: file, to, typeOnly: Boolean(m[2]) });
  }
  return found;
}

const files = sourceFiles("app");
const imports = files.flatMap(importsOf);
const layer = (file: string) => file.split("/")[1];

function violations(rule: (i: Import) => string | null): string[] {
  return imports.map(rule).filter((v): v is string => v !== null);
}

describe("layers", () => {
  it("reads the imports (the checks below have something to check)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(imports.some((i) => i.from.startsWith("app/routes/") && i.to.startsWith("app/services/"))).toBe(true);
  });

  it("utils import nothing from services, http, routes or components", () => {
    expect(violations((i) => (layer(i.from) === "utils" && ["services", "http", "routes", "components"].includes(layer(i.to)) ? `${i.from} → ${i.to}` : null))).toEqual([]);
  });

  it("services never import routes, http or components", () => {
    expect(violations((i) => (layer(i.from) === "services" && ["http", "routes", "components"].includes(layer(i.to)) ? `${i.from} → ${i.to}` : null))).toEqual([]);
  });

  it("http helpers never import routes", () => {
    expect(violations((i) => (layer(i.from) === "http" && layer(i.to) === "routes" ? `${i.from} → ${i.to}` : null))).toEqual([]);
  });

  it("components take only types from server modules", () => {
    expect(violations((i) => (layer(i.from) === "components" && /\.server(\.tsx?)?$/.test(i.to) && !i.typeOnly ? `${i.from} → ${i.to}` : null))).toEqual([]);
  });

  it("app/ reaches the emulator only through stripe.server.ts, and never test support", () => {
    expect(
      violations((i) => {
        if (i.to.startsWith("tests/")) return `${i.from} → ${i.to}`;
        if (i.to.startsWith("stripe-emulator/") && i.from !== "app/services/stripe.server.ts") return `${i.from} → ${i.to}`;
        return null;
      }),
    ).toEqual([]);
  });

  it("has no import cycles among app modules (type-only imports aside)", () => {
    const graph = new Map<string, string[]>();
    for (const i of imports) if (!i.typeOnly && i.to.startsWith("app/")) graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (node: string) => {
      state.set(node, "open");
      stack.push(node);
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(node, "done");
    };
    for (const node of graph.keys()) if (!state.has(node)) visit(node);
    expect(cycles).toEqual([]);
  });
});
