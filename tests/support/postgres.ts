import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "./ports";

/**
 * A throwaway PostgreSQL cluster for one test file: initdb into a fresh temp folder, one server on
 * a free loopback port (and a socket inside the folder, never /var/run), trust auth, deleted by
 * stop(). Durability is left as production has it (fsync and synchronous_commit on): the tests
 * are about the money path, and a setting the real server never runs with would prove nothing.
 * PostgreSQL refuses to run as root, so under root (CI) it runs as the `postgres` system user
 * that Debian's package creates; otherwise as the current user.
 */
export type PgServer = {
  /** postgres://… of the database made for this test file. */
  url: string;
  port: number;
  /** A new, empty database on this server (cheap isolation per test); answers its URL. */
  createDatabase(name?: string): Promise<string>;
  /** What the server wrote to stdout/stderr, for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
};

const INSTALL_HINT = "apt-get install postgresql (or set PG_BIN to the folder holding initdb and postgres)";

/** The folder holding initdb and postgres: PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string {
  const candidates = process.env.PG_BIN
    ? [process.env.PG_BIN]
    : (fs.existsSync("/usr/lib/postgresql") ? fs.readdirSync("/usr/lib/postgresql") : [])
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`);
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "postgres")));
  if (!found) throw new Error(`PostgreSQL server binaries (initdb, postgres) not found in ${candidates.join(", ") || "/usr/lib/postgresql/*/bin"}: ${INSTALL_HINT}`);
  return found;
}

type RunAs = { prefix: string[]; uid: number; gid: number } | null;

/** Root cannot run postgres: drop to the `postgres` user with setpriv (execs, so the pid stays ours). */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root, PostgreSQL needs a non-root user and there is no "postgres" user: ${INSTALL_HINT} creates it`);
  }
  return {
    prefix: ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"],
    uid: Number(uid.stdout.trim()),
    gid: Number(gid.stdout.trim()),
  };
}

function command(user: RunAs, bin: string, args: string[]): [string, string[]] {
  return user ? [user.prefix[0], [...user.prefix.slice(1), bin, ...args]] : [bin, args];
}

/**
 * The PostgreSQL server for one test file. With TEST_POSTGRES_URL (.ci/run starts one server for
 * the whole run), a fresh database on it, dropped by stop(); otherwise a throwaway cluster.
 */
export async function startPostgres(): Promise<PgServer> {
  return process.env.TEST_POSTGRES_URL ? useSharedServer(process.env.TEST_POSTGRES_URL) : startThrowawayCluster();
}

let databases = 0;
const uniqueName = () => `t${process.pid}_${Date.now().toString(36)}_${++databases}`;

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function checkedName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  return name;
}

async function useSharedServer(adminUrl: string): Promise<PgServer> {
  const created: string[] = [];
  const urlOf = (db: string) => {
    const u = new URL(adminUrl);
    u.pathname = `/${db}`;
    return u.toString();
  };
  const createDatabase = async (name = uniqueName()) => {
    await adminQuery(adminUrl, `CREATE DATABASE ${checkedName(name)}`);
    created.push(name);
    return urlOf(name);
  };
  const url = await createDatabase();
  return {
    url,
    port: Number(new URL(adminUrl).port || 5432),
    createDatabase,
    log: () => `(the shared server of TEST_POSTGRES_URL: its log is not kept here)`,
    async stop() {
      for (const name of created.splice(0)) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A throwaway cluster of this test file's own, always (not the run's shared server), with
 * `settings` added to the server's command line (`-c name=value`): for a test of server settings
 * such as TLS. `files` are written into the cluster's folder first, readable by the server only. */
export async function startThrowawayCluster(options: { settings?: Record<string, string>; files?: Record<string, string> } = {}): Promise<PgServer> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-"));
  const dataDir = path.join(dir, "data");
  const socketDir = path.join(dir, "socket");
  fs.mkdirSync(socketDir);
  if (user) for (const d of [dir, socketDir]) fs.chownSync(d, user.uid, user.gid);
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  for (const [name, content] of Object.entries(options.files ?? {})) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 }); // PostgreSQL refuses a key others can read
    if (user) fs.chownSync(file, user.uid, user.gid);
  }
  const settings = Object.entries(options.settings ?? {}).flatMap(([k, v]) => ["-c", `${k}=${v.replace("{dir}", dir)}`]);

  // --no-sync only skips syncing initdb's own files of a cluster deleted after the run; the
  // server below runs with fsync on.
  const [initCmd, initArgs] = command(user, path.join(bin, "initdb"), [
    "-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: "utf8", cwd: dir });
  if (init.status !== 0) {
    remove();
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout || init.error?.message}`);
  }

  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const started = await startServer(user, bin, dataDir, socketDir, port, settings);
    if ("child" in started) return handle(started.child, started.log, port, remove);
    lastError = started.error; // most likely the port was taken between freePort and bind: retry
  }
  remove();
  throw new Error(`PostgreSQL did not start: ${lastError}`);
}

type Started = { child: ChildProcess; log: () => string } | { error: string };

async function startServer(user: RunAs, bin: string, dataDir: string, socketDir: string, port: number, settings: string[]): Promise<Started> {
  const [cmd, args] = command(user, path.join(bin, "postgres"), [
    "-D", dataDir, "-p", String(port), "-k", socketDir,
    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on",
    "-c", "max_connections=60", "-c", "shared_buffers=32MB", ...settings,
  ]);
  let out = "";
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return { error: out.trim() || `exited with ${child.exitCode}` };
    const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
    try {
      await client.connect();
      await client.query("CREATE DATABASE credits_test");
      await client.end();
      return { child, log: () => out };
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill("SIGKILL");
  return { error: `not accepting connections after 30 s:\n${out}` };
}

function handle(child: ChildProcess, log: () => string, port: number, remove: () => void): PgServer {
  const urlOf = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  // A test run that dies must not leave a server behind holding the folder.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  return {
    url: urlOf("credits_test"),
    port,
    log,
    async createDatabase(name = uniqueName()) {
      await adminQuery(urlOf("postgres"), `CREATE DATABASE ${checkedName(name)}`);
      return urlOf(name);
    },
    async stop() {
      process.removeListener("exit", killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        // Immediate shutdown: no checkpoint, since the folder is deleted next; open sessions just end.
        child.kill("SIGQUIT");
        await exited;
      }
      remove();
    },
  };
}
