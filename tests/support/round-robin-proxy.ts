import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small load balancer for the scale-out tests (issue 18): requests go to the backends in turn,
 * as a round-robin balancer in front of several instances sends them. Like one, it sets
 * X-Forwarded-For (the app trusts one proxy hop: TRUST_PROXY=1) and passes over a backend that
 * refuses the connection (an instance killed with -9) to the next. Bodies are buffered so a request
 * can be passed over whole; they are small here.
 */
export type RoundRobinProxy = {
  url: string;
  /** Which backend (index) answered each request, in order: "METHOD /path" → backend. */
  log: Array<{ request: string; backend: number }>;
  /** Sends the next requests to this backend only (null: round robin again). */
  pin(backend: number | null): void;
  /** Sends requests whose path starts with `prefix` to this backend (null: undo). */
  pinPath(prefix: string, backend: number | null): void;
  /** The instances behind it (the proxy starts first: their APP_URL is its URL). */
  setBackends(urls: readonly string[]): void;
  close(): Promise<void>;
};

export async function startRoundRobinProxy(initial: readonly string[] = []): Promise<RoundRobinProxy> {
  let backends = [...initial];
  let next = 0;
  let pinned: number | null = null;
  const pinnedPaths = new Map<string, number>();
  const log: RoundRobinProxy["log"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (!backends.length) {
        res.writeHead(503).end("proxy: no backends yet");
        return;
      }
      const byPath = [...pinnedPaths].find(([prefix]) => (req.url ?? "/").startsWith(prefix))?.[1];
      const fixed = byPath ?? pinned;
      const first = fixed ?? next++ % backends.length;
      const attempt = (tried: number) => {
        const backend = (first + tried) % backends.length;
        const target = new URL(backends[backend]!);
        const forwarded = req.socket.remoteAddress ?? "127.0.0.1";
        const upstream = http.request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, "x-forwarded-for": forwarded, "x-forwarded-proto": "http", "content-length": String(body.length) },
          },
          (answer) => {
            log.push({ request: `${req.method} ${(req.url ?? "/").split("?")[0]}`, backend });
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on("error", (error: NodeJS.ErrnoException) => {
          // Refused: the instance is gone; a balancer's health check would have taken it out.
          if (error.code === "ECONNREFUSED" && tried + 1 < backends.length && fixed === null) return attempt(tried + 1);
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
          res.end(`proxy: ${error.message}`);
        });
        upstream.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    pin: (backend) => void (pinned = backend),
    pinPath: (prefix, backend) => void (backend === null ? pinnedPaths.delete(prefix) : pinnedPaths.set(prefix, backend)),
    setBackends: (urls) => void (backends = [...urls]),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
