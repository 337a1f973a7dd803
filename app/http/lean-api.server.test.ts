import type { AddressInfo } from "node:net";
import type { ServerBuild } from "@remix-run/node";
import express from "express";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createBodyLimitMiddleware } from "./body-limits.server";
import { createLeanApiHandler, LEAN_ROUTES } from "./lean-api.server";

// The lean path in an Express app as server.js mounts it (after the body limit, before a
// catch-all that stands for Remix): which requests it answers, with what, and what it leaves.

type Action = (args: { request: Request; params: Record<string, string>; context: unknown }) => Promise<Response>;

function buildWith(actions: Partial<Record<string, Action>>, handleError = vi.fn()): ServerBuild {
  const routes: Record<string, { module: { action?: Action } }> = {};
  for (const id of Object.values(LEAN_ROUTES)) routes[id] = { module: { action: actions[id] } };
  return { routes, entry: { module: { handleError } } } as unknown as ServerBuild;
}

const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(build: ServerBuild): Promise<string> {
  const app = express();
  app.use(createBodyLimitMiddleware());
  app.use(createLeanApiHandler({ build, getLoadContext: (req) => ({ clientIp: req.ip, requestId: "req-1" }) }));
  app.all("*", (_req, res) => void res.status(299).send("remix"));
  const server = app.listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((r) => server.once("listening", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const ok: Action = async ({ request, context }) =>
  new Response(JSON.stringify({ body: await request.text(), method: request.method, context }), { status: 201, headers: { "Content-Type": "application/json", "X-Route": "own" } });

describe("the lean JSON path", () => {
  it("answers its routes with the route's own action: the checked body, the load context, the action's status and headers", async () => {
    const url = await serve(buildWith({ "routes/api.generate-image": ok, "routes/api.generate-video": ok, "routes/api.stripe.webhook": ok }));
    for (const path of ["/api/generate-image", "/api/generate-video", "/api/stripe/webhook"]) {
      const res = await fetch(`${url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"prompt":"fox"}' });
      expect(res.status, path).toBe(201);
      expect(res.headers.get("x-route")).toBe("own");
      expect(await res.json()).toEqual({ body: '{"prompt":"fox"}', method: "POST", context: { clientIp: "127.0.0.1", requestId: "req-1" } });
    }
  });

  it("leaves every other method, path and look-alike to Remix", async () => {
    const url = await serve(buildWith({ "routes/api.generate-image": ok, "routes/api.generate-video": ok, "routes/api.stripe.webhook": ok }));
    const others: Array<[string, string]> = [
      ["GET", "/api/generate-image"],
      ["PUT", "/api/generate-image"],
      ["POST", "/api/generate-image/extra"],
      ["POST", "/api/generate-images"],
      ["POST", "/x/api/stripe/webhook"],
      ["POST", "/api/credits"],
      ["POST", "/login"],
    ];
    for (const [method, path] of others) {
      const res = await fetch(`${url}${path}`, { method, ...(method === "GET" ? {} : { body: "{}" }) });
      expect(await res.text(), `${method} ${path}`).toBe("remix");
    }
  });

  it("sends a thrown Response as it is; anything else thrown is logged and answered 500 without its message", async () => {
    const handleError = vi.fn();
    const url = await serve(
      buildWith(
        {
          "routes/api.generate-image": async () => {
            throw new Response("no", { status: 418 });
          },
          "routes/api.generate-video": async () => {
            throw new Error("secret detail");
          },
          "routes/api.stripe.webhook": ok,
        },
        handleError,
      ),
    );
    const thrown = await fetch(`${url}/api/generate-image`, { method: "POST", body: "{}" });
    expect([thrown.status, await thrown.text()]).toEqual([418, "no"]);
    const failed = await fetch(`${url}/api/generate-video`, { method: "POST", body: "{}" });
    expect(failed.status).toBe(500);
    const text = await failed.text();
    expect(text).toBe("Unexpected Server Error");
    expect(text).not.toContain("secret");
    expect(handleError).toHaveBeenCalledTimes(1);
    expect((handleError.mock.calls[0]![0] as Error).message).toBe("secret detail");
  });

  it("sends a JSON answer whole with its Content-Length, and streams anything else as it comes", async () => {
    const big = { items: Array.from({ length: 5000 }, (_, i) => ({ i, text: "é ".repeat(10) })) };
    const streamed: Action = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (const part of ["a,", "b,", "c"]) c.enqueue(new TextEncoder().encode(part));
            c.close();
          },
        }),
        { headers: { "Content-Type": "text/csv" } },
      );
    const url = await serve(
      buildWith({
        "routes/api.generate-image": async () => Response.json(big),
        "routes/api.generate-video": async () => new Response('{"type":"about:blank"}', { status: 400, headers: { "Content-Type": "application/problem+json" } }),
        "routes/api.stripe.webhook": streamed,
      }),
    );
    const image = await fetch(`${url}/api/generate-image`, { method: "POST" });
    const text = await image.text();
    expect(image.headers.get("content-length")).toBe(String(Buffer.byteLength(text)));
    expect(image.headers.get("transfer-encoding")).toBeNull();
    expect(JSON.parse(text)).toEqual(big);
    const problem = await fetch(`${url}/api/generate-video`, { method: "POST" });
    expect(problem.status).toBe(400);
    expect(problem.headers.get("content-length")).toBe("22");
    expect(await problem.json()).toEqual({ type: "about:blank" });
    const csv = await fetch(`${url}/api/stripe/webhook`, { method: "POST" });
    expect(csv.headers.get("transfer-encoding")).toBe("chunked");
    expect(csv.headers.get("content-length")).toBeNull();
    expect(await csv.text()).toBe("a,b,c");
  });

  // Only a whole-JSON type is sent whole; a streaming JSON type or a look-alike streams as it comes.
  it.each([
    ["application/json; charset=utf-8", false],
    ["APPLICATION/JSON", false],
    ["application/vnd.api+json", false],
    ["application/json-seq", true],
    ["application/x-ndjson", true],
    ["application/jsonl", true],
    ["text/json-ish", true],
    ["application/json+stream", true],
  ])("Content-Type %j goes out chunked: %s", async (type, chunked) => {
    const parts: Action = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (const part of ['{"a":1}', "\n", '{"b":2}']) c.enqueue(new TextEncoder().encode(part));
            c.close();
          },
        }),
        { headers: { "Content-Type": type } },
      );
    const url = await serve(buildWith({ "routes/api.generate-image": parts, "routes/api.generate-video": parts, "routes/api.stripe.webhook": parts }));
    const res = await fetch(`${url}/api/generate-image`, { method: "POST" });
    const body = await res.text();
    expect(body).toBe('{"a":1}\n{"b":2}');
    expect(res.headers.get("transfer-encoding") === "chunked").toBe(chunked);
    expect(res.headers.get("content-length")).toBe(chunked ? null : String(body.length));
  });

  it("refuses to start when a lean route's module has no action (a renamed route would silently lose its fast path)", () => {
    expect(() => createLeanApiHandler({ build: buildWith({ "routes/api.generate-image": ok, "routes/api.generate-video": ok }), getLoadContext: () => ({}) })).toThrow(
      /routes\/api\.stripe\.webhook/,
    );
  });
});
