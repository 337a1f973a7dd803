// The container's health check: Dockerfile HEALTHCHECK -> `npm run container:healthcheck` -> this.
// GET /healthz on the local port; exit 0 on a 200 within 4 s, 1 otherwise (no curl in a slim image).
const port = process.env.PORT || "3000";
const bind = process.env.HOST || "0.0.0.0";
const host = bind === "0.0.0.0" || bind === "::" ? "127.0.0.1" : bind.includes(":") ? `[${bind}]` : bind;
const url = `http://${host}:${port}/healthz`;

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (res.status === 200) process.exit(0);
  console.error(`container-healthcheck: ${url} answered ${res.status}`);
} catch (error) {
  console.error(`container-healthcheck: ${url} unreachable: ${error instanceof Error ? error.message : String(error)}`);
}
process.exit(1);
