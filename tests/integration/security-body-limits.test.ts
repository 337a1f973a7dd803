import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// Request bodies are capped before Remix sees them (1 MB for the Stripe webhook, 64 KB elsewhere):
// an oversized upload, declared or chunked, gets 413 at once and the rest is never read, so it
// cannot grow the server's memory. Memory is the server process's own peak (VmHWM in /proc).
const KB = 1024;
const MB = 1024 * KB;
const WEBHOOK_SECRET = "whsec_body_limit_test_0123456789abcdef";

let server: RunningServer;
let pid: number;
let member: HttpClient;

beforeAll(async () => {
  server = await startServer({ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET });
  pid = server.process.pid!;
  member = new HttpClient(server.url);
  await member.signup("body-limits@example.com");
  // First requests load route modules and warm the JIT; that growth is not what is measured.
  for (const route of ROUTES) await upload(route.path, { total: 8 * KB, headers: route.headers });
});
afterAll(async () => {
  await server?.stop();
});

function status(): string {
  return fs.readFileSync(`/proc/${pid}/status`, "utf8");
}
const kB = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)![1]) * KB;

/**
 * How far above its resident size at the start the server's memory peaked while `work` ran.
 * The kernel's peak (VmHWM) is reset first ("5" > clear_refs), so an earlier peak (start-up, a
 * previous test) cannot hide this one; where that is not allowed, the peak since start is used.
 */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Older kernels or a locked-down /proc: the comparison below is then against the old peak.
  }
  const before = status();
  const result = await work();
  return { result, growth: kB(status(), "VmHWM") - Math.max(kB(before, "VmRSS"), kB(before, "VmHWM")) };
}

type Answer = {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** From the request's start to the response's headers. */
  ms: number;
  /** Body bytes the client managed to hand to its socket before the answer came. */
  sent: number;
  sawContinue: boolean;
  /** The server ended the connection (FIN or reset) within 2 s of answering. */
  closedByServer: boolean;
};

type UploadOptions = { total: number; headers?: Record<string, string>; contentLength?: number; sendBody?: boolean };

/**
 * One request on its own connection. Without `contentLength` the body is chunked (no
 * Content-Length), written as fast as the socket takes it until the server answers; the answer
 * is read while the upload is still going, as browsers and curl do.
 */
function upload(path: string, { total, headers = {}, contentLength, sendBody = true }: UploadOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunk = Buffer.alloc(64 * KB, "a");
    const framing: Record<string, string> = contentLength === undefined ? { "Transfer-Encoding": "chunked" } : { "Content-Length": String(contentLength) };
    const req = http.request(`${server.url}${path}`, { method: "POST", agent: false, headers: { ...headers, ...framing } });
    let sent = 0;
    let answered = false;
    let sawContinue = false;
    const pump = () => {
      while (!answered && sent < total) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    req.on("continue", () => {
      sawContinue = true;
      if (sendBody) pump();
    });
    req.on("response", (res) => {
      answered = true;
      const ms = performance.now() - started;
      const socket = req.socket!;
      let closedByServer = false;
      socket.once("close", () => (closedByServer = true));
      socket.once("end", () => (closedByServer = true));
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", async () => {
        for (let waited = 0; !closedByServer && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
        req.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, body, ms, sent, sawContinue, closedByServer });
      });
    });
    req.on("error", (error) => {
      if (!answered) reject(new Error(`${path}: no answer (${sent} bytes sent): ${error.message}`));
    });
    if (headers.Expect === "100-continue") req.flushHeaders();
    else if (sendBody) pump();
    else req.flushHeaders();
  });
}

const form = { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html" };
const json = { "Content-Type": "application/json", Accept: "application/json" };
const ROUTES = [
  { name: "the Stripe webhook", path: "/api/stripe/webhook", headers: json, format: "json" },
  { name: "a JSON API route", path: "/api/generate-image", headers: json, format: "json" },
  { name: "a form route", path: "/login", headers: form, format: "html" },
  { name: "a page route", path: "/settings/billing", headers: form, format: "html" },
] as const;

function expectRefusal(answer: Answer, format: "json" | "html") {
  expect(answer.status).toBe(413);
  expect(answer.headers.connection).toBe("close");
  expect(answer.closedByServer).toBe(true);
  if (format === "json") {
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    const parsed = JSON.parse(answer.body);
    expect(parsed.error).toBe("payload_too_large");
    expect(parsed.message).toMatch(/at most \d+ (KB|MB)/);
  } else {
    expect(answer.headers["content-type"]).toMatch(/^text\/html/);
    expect(answer.body).toContain("<title>");
    expect(answer.body).toMatch(/too large/i);
  }
}

function signed(payload: string): string {
  const t = Math.floor(Date.now() / 1000);
  const v1 = crypto.createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${payload}`).digest("hex");
  return `t=${t},v1=${v1}`;
}

function bigEvent(bytes: number): string {
  const event = { id: `evt_big_${crypto.randomUUID()}`, object: "event", type: "customer.updated", created: Math.floor(Date.now() / 1000), data: { object: { id: "cus_big", object: "customer", description: "" } } };
  const bare = JSON.stringify(event).length;
  event.data.object.description = "x".repeat(bytes - bare);
  return JSON.stringify(event);
}

describe("an oversized chunked body (50 MB, no Content-Length)", () => {
  for (const route of ROUTES) {
    it(`to ${route.name} (${route.path}) is refused with 413 at once, without growing memory`, async () => {
      const { result: answer, growth } = await peakGrowth(() => upload(route.path, { total: 50 * MB, headers: route.headers }));
      expect(growth).toBeLessThan(20 * MB);
      expect(answer.ms).toBeLessThan(1000);
      expectRefusal(answer, route.format);
      // The server stopped reading near the limit; what else the client wrote sat in kernel buffers.
      expect(answer.sent).toBeLessThan(25 * MB);
    });
  }

  it("20 at once, to every kind of route, are all refused and memory stays bounded", async () => {
    const started = performance.now();
    const batch = Array.from({ length: 20 }, (_, i) => ROUTES[i % ROUTES.length]!);
    const { result: answers, growth } = await peakGrowth(() => Promise.all(batch.map((r) => upload(r.path, { total: 50 * MB, headers: r.headers }))));
    const elapsed = performance.now() - started;
    // Unbounded, this is 20 × 50 MB; bounded, each connection holds at most its limit.
    expect(growth).toBeLessThan(64 * MB);
    expect(elapsed).toBeLessThan(5000);
    answers.forEach((answer, i) => expectRefusal(answer, batch[i]!.format));
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe("a too-large Content-Length", () => {
  it("is refused before the client sends any of the body", async () => {
    for (const route of ROUTES) {
      const answer = await upload(route.path, { total: 0, contentLength: 100 * MB, headers: route.headers, sendBody: false });
      expectRefusal(answer, route.format);
      expect(answer.sent).toBe(0);
    }
  });

  it("with Expect: 100-continue gets 413 instead of 100 Continue", async () => {
    const answer = await upload("/api/stripe/webhook", { total: 2 * MB, contentLength: 2 * MB, headers: { ...json, Expect: "100-continue" } });
    expectRefusal(answer, "json");
    expect(answer.sawContinue).toBe(false);
    expect(answer.sent).toBe(0);
  });

  it("just over the webhook's 1 MB is refused; the webhook's limit does not apply elsewhere", async () => {
    expectRefusal(await upload("/api/stripe/webhook", { total: MB + 1, headers: json }), "json");
    expectRefusal(await upload("/api/credits", { total: 100 * KB, headers: json }), "json");
  });
});

describe("bodies under the limits", () => {
  it("a signed ~900 KB webhook event is processed", async () => {
    const payload = bigEvent(900 * KB);
    const res = await fetch(`${server.url}/api/stripe/webhook`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": signed(payload) }, body: payload });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: "ignored" });
  });

  it("an unsigned ~900 KB chunked webhook body is rejected for its signature, not its size", async () => {
    const answer = await upload("/api/stripe/webhook", { total: 900 * KB, headers: json });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error).toBe("invalid_signature");
  });

  it("a normal log-in works, and so does one just under 64 KB", async () => {
    const res = await new HttpClient(server.url).post("/login", { email: "body-limits@example.com", password: "password123" });
    expect(res.status).toBe(303);
    const padded = await new HttpClient(server.url).post("/login", { email: "body-limits@example.com", password: "password123", note: "n".repeat(60 * KB) });
    expect(padded.status).toBe(303);
  });

  it("a chunked JSON body just under 64 KB reaches the generation API's validation", async () => {
    const body = JSON.stringify({ prompt: "p".repeat(60 * KB) });
    const res = await member.request("/api/generate-image", { method: "POST", headers: { "Content-Type": "application/json" }, body: stream(body) as unknown as BodyInit, duplex: "half" } as RequestInit);
    expect(res.status).toBe(422);
    expect((await res.json()).error).toBe("invalid_request");
  });
});

describe("the refusal's format", () => {
  it("is JSON for a form post that accepts JSON, and an HTML page for a person", async () => {
    const asJson = await upload("/login", { total: 200 * KB, headers: { ...form, Accept: "application/json" } });
    expectRefusal(asJson, "json");
    const asPage = await upload("/signup", { total: 200 * KB, headers: form });
    expectRefusal(asPage, "html");
    expect(asPage.body).toMatch(/64 KB/);
    expect(asPage.body).not.toContain("<script");
  });
});

/** A body fetch sends chunked: a stream has no length to declare. */
function stream(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 16 * KB) controller.enqueue(bytes.subarray(i, i + 16 * KB));
      controller.close();
    },
  });
}
