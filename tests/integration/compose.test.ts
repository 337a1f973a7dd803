import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { commandOf, find, readDockerfile, stageEnv } from "../support/dockerfile";
import { startPostgres, type PgServer } from "../support/postgres";
import { ROOT } from "../support/server";

// docker-compose.yml, the scaled shape (decision 040), checked the way the Dockerfile is (decision
// 010): no Docker engine runs here, so every command the compose file runs in the app's image is
// an npm script that a test runs, and the migration step is run here with the compose file's own
// command and environment against a real PostgreSQL.

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
type Service = {
  build?: string | { context: string };
  image?: string;
  command?: string[] | string;
  entrypoint?: unknown;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  stop_grace_period?: string;
};
const compose = YAML.parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
const stages = readDockerfile();
const runtime = stages[stages.length - 1]!;
const builtFromDockerfile = Object.entries(services).filter(([, s]) => s.build !== undefined);
const appServices = builtFromDockerfile.filter(([name]) => name !== "migrate");

/** `${NAME:?message}` → a test value; `${NAME:-default}` → the default; so the environment is what compose would give. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) => {
    if (given[name] !== undefined) return given[name]!;
    if (kind === "?") throw new Error(`${name} is required by docker-compose.yml: ${rest}`);
    return kind === "-" ? rest! : "";
  });
}

describe("docker-compose.yml: the scaled shape", () => {
  it("has two app containers, a one-shot migration, PostgreSQL, Redis and a load balancer", () => {
    expect(Object.keys(services).sort()).toEqual(["app1", "app2", "migrate", "postgres", "proxy", "redis"]);
    expect(builtFromDockerfile.map(([n]) => n).sort()).toEqual(["app1", "app2", "migrate"]);
    for (const [name, s] of builtFromDockerfile) {
      expect(s.build, name).toBe(".");
      expect(s.image, name).toBe("credits-studio");
    }
    expect(services.postgres!.image).toMatch(/^postgres:1[56]$/);
    expect(services.redis!.image).toBe("redis:7");
    expect(services.proxy!.image).toBe("caddy:2");
  });

  it("runs nothing in the app's image but npm scripts a test runs: the image's CMD and HEALTHCHECK, and db:migrate", () => {
    for (const [name, s] of builtFromDockerfile) {
      expect(s.entrypoint, name).toBeUndefined();
      // No health check of its own: the image's (npm run container:healthcheck), or none for the one-shot.
      expect(s.healthcheck === undefined || s.healthcheck.disable === true, name).toBe(true);
    }
    for (const [name, s] of appServices) expect(s.command, `${name} runs the image's CMD`).toBeUndefined();
    expect(commandOf(find(runtime, "CMD")[0]!.args)).toEqual(["npm", "run", "-s", "container:start"]); // tests/integration/container.test.ts runs it

    const migrate = services.migrate!.command as string[];
    expect(migrate).toEqual(["npm", "run", "-s", "db:migrate"]);
    expect(scripts["db:migrate"]).toBe("tsx scripts/db-migrate.ts");
    expect(read("tests/integration/db-migrate-postgres.test.ts")).toContain('["scripts/db-migrate.ts"]');
    expect(services.migrate!.healthcheck).toEqual({ disable: true });
    expect((services.migrate as { restart?: string }).restart).toBe("no");
  });

  it("other images run only their own tools", () => {
    expect(services.postgres!.command).toBeUndefined();
    expect(services.proxy!.command).toBeUndefined();
    expect(services.redis!.command).toEqual(["redis-server", "--appendonly", "yes"]);
    expect(services.postgres!.healthcheck!.test).toEqual(["CMD", "pg_isready", "-U", "credits", "-d", "credits"]);
    expect(services.redis!.healthcheck!.test).toEqual(["CMD", "redis-cli", "ping"]);
  });

  it("starts in order: PostgreSQL healthy → migrations done → the apps; Redis healthy before the apps", () => {
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    for (const [name, s] of appServices) {
      expect(s.depends_on, name).toEqual({ migrate: { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } });
    }
    expect(services.proxy!.depends_on).toEqual(appServices.map(([n]) => n));
  });

  it("gives every app the same configuration: PostgreSQL, Redis, the shared results volume, secrets from the environment", () => {
    const pgEnv = services.postgres!.environment!;
    const names = new Set(Object.keys(services));
    const [first, ...rest] = appServices.map(([, s]) => s);
    for (const other of rest) {
      expect(other.environment).toEqual(first!.environment);
      expect(other.volumes).toEqual(first!.volumes);
    }
    expect(services.migrate!.environment).toEqual(first!.environment);
    const env = first!.environment!;
    const given = { POSTGRES_PASSWORD: "pw0123456789", SESSION_SECRET: "s".repeat(40), APP_URL: "https://credits.example.com" };
    const database = new URL(interpolate(env.DATABASE_URL!, given));
    expect(database.protocol).toBe("postgres:");
    expect(names.has(database.hostname)).toBe(true);
    expect(database.hostname).toBe("postgres");
    expect(database.username).toBe(pgEnv.POSTGRES_USER);
    expect(database.pathname).toBe(`/${pgEnv.POSTGRES_DB}`);
    expect(database.password).toBe(given.POSTGRES_PASSWORD);
    expect(pgEnv.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(new URL(env.REDIS_URL!).hostname).toBe("redis");
    expect(env).toMatchObject({ NODE_ENV: "production", DATA_DIR: "/data", TRUST_PROXY: "1", BACKUP_SCHEDULE: "off" });
    expect(env.SESSION_SECRET).toMatch(/^\$\{SESSION_SECRET:\?/);
    expect(env.APP_URL).toMatch(/^\$\{APP_URL:\?/);
    // No secret is written into the file: each comes from the environment (or .env).
    for (const [name, value] of Object.entries(env)) {
      if (/SECRET|PASSWORD|_KEY\b|KEY_ID|TOKEN|SMTP_URL|DATABASE_URL/.test(name)) expect(value, name).toMatch(/\$\{/);
    }
    // Every variable is one the app reads (a typo would be silently ignored).
    const schema = read("app/services/env.server.ts");
    for (const name of Object.keys(env)) expect(schema, name).toMatch(new RegExp(`\\b${name}: `));
    // The image's PORT and the shared volume at DATA_DIR: results written by one app are served by the other.
    expect(env.PORT).toBe(stageEnv(stages, runtime).PORT);
    expect(first!.volumes).toEqual(["app-data:/data"]);
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(["app-data", "postgres-data", "redis-data"]));
    expect(services.postgres!.volumes).toEqual(["postgres-data:/var/lib/postgresql/data"]);
    const grace = Number(/^(\d+)s$/.exec(first!.stop_grace_period!)![1]);
    const shutdownDefault = Number(/SHUTDOWN_TIMEOUT_SECONDS: int\([^)]*\)\.default\("(\d+)"\)/.exec(schema)![1]);
    expect(grace).toBeGreaterThan(shutdownDefault);
  });

  it("names in .env.example every variable only the compose file reads", () => {
    const text = read("docker-compose.yml");
    const example = read(".env.example");
    const vars = new Set([...text.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
    for (const name of vars) expect(example, name).toMatch(new RegExp(`^#?\\s*${name}=`, "m"));
  });
});

describe("deploy/compose/Caddyfile: round robin over the app containers", () => {
  const mount = services.proxy!.volumes!.find((v) => v.endsWith(":/etc/caddy/Caddyfile:ro"))!;
  const file = mount.split(":")[0]!.replace(/^\.\//, "");
  const text = read(file);
  const code = text
    .split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, "").trimEnd())
    .filter((l) => l.trim());

  it("is the file the proxy mounts, with balanced blocks", () => {
    expect(file).toBe("deploy/compose/Caddyfile");
    let depth = 0;
    for (const line of code) {
      depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
      expect(depth, line).toBeGreaterThanOrEqual(0);
    }
    expect(depth).toBe(0);
  });

  it("sends requests to exactly the app services on their port, round robin, checked on /healthz", () => {
    const port = stageEnv(stages, runtime).PORT;
    const proxyLine = code.find((l) => l.trim().startsWith("reverse_proxy "))!;
    const upstreams = proxyLine.trim().replace(/\s*\{$/, "").split(/\s+/).slice(1);
    expect(upstreams).toEqual(appServices.map(([n]) => `${n}:${port}`));
    const settings = Object.fromEntries(code.map((l) => l.trim().split(/\s+/)).filter((w) => w.length === 2).map(([k, v]) => [k, v]));
    expect(settings.lb_policy).toBe("round_robin");
    expect(settings.health_uri).toBe("/healthz");
    expect(read("scripts/container-healthcheck.mjs")).toContain("/healthz");
    // The site address is the port compose publishes.
    const site = code.find((l) => /^\S.*\{$/.test(l) && !l.startsWith("{"))!;
    const published = services.proxy!.ports![0]!;
    expect(site).toBe(`:${published.split(":").at(-1)} {`);
  });
});

describe("the compose file's migration step, run as compose runs it", { timeout: 120_000 }, () => {
  let server: PgServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    if (server) await server.stop();
  });

  it("migrates an empty PostgreSQL database with the migrate service's command and environment, and exits 0", async () => {
    const url = await server.createDatabase();
    const s = services.migrate!;
    const given = { POSTGRES_PASSWORD: "pw0123456789", SESSION_SECRET: "s".repeat(40), APP_URL: "https://credits.example.com" };
    const env: Record<string, string> = Object.fromEntries(Object.entries(s.environment!).map(([k, v]) => [k, interpolate(String(v), given)]));
    // What differs outside Docker: the database's address, and a data folder that is not /data.
    const childEnv: Record<string, string> = { ...env, DATABASE_URL: url, DATA_DIR: "/nonexistent/compose-test", PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp" };
    const argv = s.command as string[];
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: ROOT,
        env: childEnv as NodeJS.ProcessEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d));
      child.stderr.on("data", (d: Buffer) => (out += d));
      child.on("close", (code: number | null) => resolve({ code, out }));
    });
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/applied 0000_init/);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM drizzle.__drizzle_migrations");
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });
});
