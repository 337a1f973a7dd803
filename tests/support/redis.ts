import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./server";

// A throwaway redis-server (Debian's) for the tests that need a real one: a free port, its own
// folder, nothing written to disk (--save '' --appendonly no). stop() and start() again on the
// same port stand for an outage; the data is gone after a restart, as with a fresh Redis.


export type TestRedis = {
  /** redis:// (or rediss:// with `tls`) on 127.0.0.1 and this server's port. */
  url: string;
  port: number;
  dir: string;
  /** With `tls`: the certificate the app must trust (NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  output: () => string;
  /** Sends one command (after AUTH when it has a password) and resolves with the raw reply. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
};

const redisServerBin = () => process.env.REDIS_SERVER_BIN ?? "redis-server";

function requireRedisServer(): void {
  const probe = spawnSync(redisServerBin(), ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`redis-server is not installed (${probe.error?.message ?? probe.stderr}). Install it with \`apt-get install redis-server\` (Debian's package), or set REDIS_SERVER_BIN.`);
  }
}

/** A self-signed certificate for 127.0.0.1 (openssl), for a rediss:// server. */
function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const made = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
    { encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr}`);
  return { cert, key };
}

async function answersPing(port: number, tls: boolean): Promise<boolean> {
  if (tls) {
    // A TLS server accepts the TCP connection; the app's own client proves the handshake.
    return new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
  }
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
    socket.once("data", (d) => (socket.destroy(), resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()))));
    socket.once("error", () => resolve(false));
  });
}

export async function startRedis(opts: { tls?: boolean; password?: string } = {}): Promise<TestRedis> {
  requireRedisServer();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-redis-"));
  const tls = opts.tls ? selfSignedCertificate(dir) : undefined;
  const args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no"];
  if (tls) args.push("--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.cert, "--tls-key-file", tls.key, "--tls-auth-clients", "no");
  else args.push("--port", String(port));
  if (opts.password) args.push("--requirepass", opts.password);

  let out = "";
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  async function start(): Promise<void> {
    const proc = spawn(redisServerBin(), args, { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    proc.stdout!.on("data", (d) => (out += d));
    proc.stderr!.on("data", (d) => (out += d));
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port, !!tls))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  await start();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    url: `${tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    caFile: tls?.cert,
    output: () => out,
    command: (...command) => sendCommands(port, [...(opts.password ? [["AUTH", opts.password]] : []), command]),
    start,
    async stop() {
      if (child && child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

const resp = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;

/** Plain-TCP RESP: the commands in one write, resolved with the replies once each has answered. */
function sendCommands(port: number, commands: string[][]): Promise<string> {
  return new Promise((resolve, reject) => {
    let replies = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(commands.map(resp).join("")));
    socket.on("data", (d) => {
      replies += d;
      if ((replies.match(/\r\n/g) ?? []).length < commands.length) return;
      socket.destroy();
      resolve(replies);
    });
    socket.once("error", reject);
  });
}

/** Stops it and removes its folder. */
export async function removeRedis(redis: TestRedis | undefined): Promise<void> {
  if (!redis) return;
  await redis.stop();
  fs.rmSync(redis.dir, { recursive: true, force: true });
}
