import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { commandOf, find, healthcheckCommand, parseToml, readDockerfile, stageEnv, type TomlTable } from "../support/dockerfile";
import { ROOT } from "../support/server";

// No Docker engine runs where we build, so the Dockerfile is checked against what CI does run:
// every step it runs is `npm ci` or an npm script from package.json that CI runs too.
const stages = readDockerfile();
const runtime = stages[stages.length - 1]!;
const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");

/** The npm script a command runs, "ci" for `npm ci`, or null when it is not an npm command. */
function npmStep(argv: string[]): string | null {
  const words = argv[0] === "sh" && argv[1] === "-c" ? argv[2]!.trim().split(/\s+/) : argv;
  if (words[0] !== "npm") return null;
  if (words[1] === "ci") return "ci";
  if (words[1] === "run" || words[1] === "run-script") return words.slice(2).find((w) => !w.startsWith("-")) ?? null;
  return null;
}

const steps = stages.flatMap((stage) =>
  stage.instructions
    .filter((i) => ["RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"].includes(i.keyword))
    .map((i) => ({ stage: stage.name, keyword: i.keyword, line: i.line, argv: i.keyword === "HEALTHCHECK" ? healthcheckCommand(i.args) : commandOf(i.args) })),
);

describe("Dockerfile ↔ npm scripts ↔ CI", () => {
  it("every RUN, CMD and HEALTHCHECK runs `npm ci` or an npm script that exists", () => {
    expect(steps.length).toBeGreaterThanOrEqual(5);
    for (const step of steps) {
      const script = npmStep(step.argv);
      expect(script, `line ${step.line}: ${step.argv.join(" ")}`).not.toBeNull();
      if (script !== "ci") expect(Object.keys(scripts), `line ${step.line}`).toContain(script);
    }
    expect(steps.some((s) => s.keyword === "ENTRYPOINT")).toBe(false);
  });

  it("CI runs those same steps: npm ci in .ci/run, the build in scripts/test-all.sh, start and health check in the container test", () => {
    const used = new Set(steps.map((s) => npmStep(s.argv)));
    expect([...used].sort()).toEqual(["build", "ci", "container:healthcheck", "container:start"]);
    expect(read(".ci/run")).toMatch(/^npm ci\b/m);
    expect(read("scripts/test-all.sh")).toMatch(/npm run -s build\b/);
    // The container test takes CMD and HEALTHCHECK from this very file and runs them.
    const containerTest = read("tests/integration/container.test.ts");
    expect(containerTest).toContain('find(runtime, "CMD")');
    expect(containerTest).toContain('find(runtime, "HEALTHCHECK")');
    expect(scripts.build).toBe("remix build");
    expect(scripts["container:start"]).toMatch(/^exec sh scripts\/container-start\.sh$/);
    // exec, so signals reach Node; its flags (if any) are npm start's (tests/unit/start-flags.test.ts).
    expect(read("scripts/container-start.sh")).toMatch(/^exec node (--[\w-]+(=\S+)? )*server\.js$/m);
    expect(read("scripts/container-healthcheck.mjs")).toContain("/healthz");
  });

  it("is multi-stage on Node 22: dependencies, build, production dependencies, slim runtime", () => {
    expect(stages.map((s) => s.name)).toEqual(["base", "deps", "build", "prod-deps", "runtime"]);
    const arg = /ARG NODE_IMAGE=(\S+)/.exec(read("Dockerfile"))![1]!;
    expect(arg).toMatch(/^node:22-[\w-]*slim$/);
    expect(stages[0]!.from).toBe("${NODE_IMAGE}");
    expect(runtime.from).toBe("base"); // not the build stage: no compilers, caches or sources of the build
    expect(find(stages.find((s) => s.name === "prod-deps")!, "RUN").map((r) => r.args)).toEqual(["npm ci --omit=dev"]);
    const copiedFrom = find(runtime, "COPY").map((c) => /--from=(\S+)/.exec(c.args)?.[1]).filter(Boolean);
    expect(new Set(copiedFrom)).toEqual(new Set(["prod-deps", "build"]));
    expect(find(runtime, "COPY").find((c) => c.args.includes("node_modules"))!.args).toContain("--from=prod-deps");
  });

  it("runs as a non-root user with its data on a volume at /data, production settings and a health check", () => {
    const user = find(runtime, "USER").at(-1)!.args;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(find(runtime, "VOLUME").map((v) => v.args)).toEqual(['["/data"]']);
    const env = stageEnv(stages, runtime);
    expect(env).toMatchObject({ NODE_ENV: "production", DATA_DIR: "/data", HOST: "0.0.0.0", PORT: "3000" });
    expect(find(runtime, "EXPOSE").map((e) => e.args)).toEqual([env.PORT]);
    // The mount point belongs to that user, so a new Docker volume does too.
    expect(find(runtime, "COPY").some((c) => c.args.includes(`--chown=${user}:${user}`) && /\s\/data\//.test(c.args))).toBe(true);
    const hc = find(runtime, "HEALTHCHECK")[0]!.args;
    expect(hc).toMatch(/--interval=\d+s/);
    expect(hc).toMatch(/--timeout=\d+s/);
    expect(hc).toMatch(/--start-period=\d+s/);
  });

  it("puts no secret in the image", () => {
    for (const stage of stages) {
      for (const ins of [...find(stage, "ENV"), ...find(stage, "ARG")]) {
        expect(ins.args, `line ${ins.line}`).not.toMatch(/SECRET|PASSWORD|TOKEN|_KEY\b|API_KEY/i);
      }
      for (const copy of find(stage, "COPY")) expect(copy.args, `line ${copy.line}`).not.toMatch(/\.env\b(?!\.example)|\.sqlite\b/);
    }
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim());
    for (const entry of [".env", ".env.*", "node_modules", "build", "public/build", "data", "*.sqlite", "*.sqlite-*", ".git", "tests"]) {
      expect(ignored, entry).toContain(entry);
    }
  });
});

describe("fly.toml", () => {
  const fly = parseToml(read("fly.toml"));
  const http = fly.http_service as TomlTable;

  it("runs one machine with one volume at /data (SQLite: never scale out)", () => {
    const mounts = fly.mounts as TomlTable[];
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ destination: "/data" });
    expect(http.min_machines_running).toBe(1);
    expect(read("fly.toml")).toMatch(/never scale out/i);
    expect((fly.env as TomlTable).DATA_DIR).toBe("/data");
  });

  it("checks /healthz over HTTP on the port the image listens on", () => {
    const env = stageEnv(stages, runtime);
    expect(http.internal_port).toBe(Number(env.PORT));
    const checks = http.checks as TomlTable[];
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ method: "GET", path: "/healthz" });
    expect(http.force_https).toBe(true);
  });

  it("chooses auto_stop deliberately and says why, and gives the graceful stop enough time", () => {
    expect(http.auto_stop_machines).toBe("off");
    // The reason sits right above the setting.
    const text = read("fly.toml");
    const why = text.slice(text.indexOf("[http_service]"), text.indexOf("auto_stop_machines"));
    expect(why).toContain("Deliberately off");
    expect(why).toMatch(/background work/);
    expect(read("fly.toml")).toContain("docs/decisions/010-fly-single-machine.md");
    expect(fly.kill_signal).toBe("SIGTERM");
    const killSeconds = Number(/^(\d+)s$/.exec(String(fly.kill_timeout))![1]);
    const shutdownDefault = Number(/SHUTDOWN_TIMEOUT_SECONDS: int\([^)]*\)\.default\("(\d+)"\)/.exec(read("app/services/env.server.ts"))![1]);
    expect(killSeconds).toBeGreaterThan(shutdownDefault);
    expect((fly.env as TomlTable).TRUST_PROXY).toBe("1");
  });
});
