import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpClient } from "../support/server";
import { startServer, type RunningServer } from "../support/server";
import { balanceOf, expectLedgerConsistent, readDb, signedIn, type JobJson } from "./generation-support";

// The gallery's actions over HTTP against the BUILT app (decision 030): Download, Delete (owner
// only; the file leaves the disk, the ledger rows stay), "Use this prompt" (server-side prefill),
// and the 402 a forced video post still gets when the balance is too low. The local provider; its
// videos take a minute here, so a running job stays running for the whole file.

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ SIGNUP_BONUS_CREDITS: "23", IMAGE_COST: "5", VIDEO_COST: "10", LOCAL_VIDEO_DURATION_MS: "60000" });
});

afterAll(async () => {
  await server?.stop();
});

async function makeImage(client: HttpClient, prompt = "a lighthouse"): Promise<JobJson> {
  const res = await client.post("/api/generate-image", { prompt, size: "256x256" });
  expect(res.status).toBe(201);
  const { job } = (await res.json()) as { job: JobJson };
  expect(job.status).toBe("succeeded");
  return job;
}

function fileOnDisk(id: string): string {
  const rel = readDb(server.dataDir, ({ sqlite }) => (sqlite.prepare("select result_path as p from generations where id = ?").get(id) as { p: string }).p);
  return path.join(server.dataDir, rel);
}

function ledgerRowsOf(userId: number) {
  return readDb(server.dataDir, ({ sqlite }) => sqlite.prepare("select * from transactions where user_id = ? order by id").all(userId));
}

const deleteForm = (id: string) => ({ intent: "delete", id });

describe("delete", () => {
  it("the owner's delete removes the file and hides the result; the ledger rows stay as they were", async () => {
    const owner = await signedIn(server.url, "del-own");
    const job = await makeImage(owner);
    const file = fileOnDisk(job.id);
    expect(fs.existsSync(file)).toBe(true);
    const { userId, balance } = await balanceOf(owner);
    const before = ledgerRowsOf(userId);
    expect(before.length).toBeGreaterThan(1);

    const confirm = await owner.get(`/generate?delete=${job.id}`);
    expect(await confirm.text()).toContain("Delete for good");

    const res = await owner.post("/generate", deleteForm(job.id));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/generate/);

    expect(fs.existsSync(file)).toBe(false);
    expect((await owner.get(job.resultUrl!)).status).toBe(404);
    expect((await owner.get(`${job.resultUrl!}?download=1`)).status).toBe(404);
    expect((await owner.get(`/api/generations/${job.id}`)).status).toBe(404);
    expect(await (await owner.get("/generate")).text()).not.toContain(job.id);
    expect(ledgerRowsOf(userId)).toEqual(before);
    expect((await balanceOf(owner)).balance).toBe(balance);
    expectLedgerConsistent(server.dataDir);

    // A second delete of the same id: gone is gone.
    expect((await owner.post("/generate", deleteForm(job.id))).status).toBe(404);
  });

  it("answers 404 to anyone else and for every malformed or unknown id, and changes nothing", async () => {
    const owner = await signedIn(server.url, "del-victim");
    const job = await makeImage(owner, "mine only");
    const file = fileOnDisk(job.id);
    const intruder = await signedIn(server.url, "del-intruder");
    const { userId: ownerId } = await balanceOf(owner);
    const before = ledgerRowsOf(ownerId);

    const hostile: Array<[string, Record<string, string>]> = [
      ["another user's id", deleteForm(job.id)],
      ["an unknown well-formed id", deleteForm("gen_000000000000000000000000")],
      ["empty", deleteForm("")],
      ["prefix only", deleteForm("gen_")],
      ["upper case", deleteForm(job.id.toUpperCase().replace("GEN_", "gen_"))],
      ["too long", deleteForm(`${job.id}0`)],
      ["path traversal", deleteForm(`../../${job.id}`)],
      ["SQL", deleteForm(`${job.id}' OR '1'='1`)],
      ["a list", { intent: "delete", id: `${job.id},${job.id}` }],
      ["no id", { intent: "delete" }],
    ];
    for (const [name, form] of hostile) {
      const res = await intruder.post("/generate", form);
      expect(res.status, name).toBe(404);
    }
    // Not even the owner can delete through a malformed id.
    expect((await owner.post("/generate", deleteForm(` ${job.id}`))).status).toBe(404);

    expect(fs.existsSync(file)).toBe(true);
    expect((await owner.get(job.resultUrl!)).status).toBe(200);
    expect((await intruder.get(job.resultUrl!)).status).toBe(404);
    expect((await intruder.get(`/generate?delete=${job.id}`)).status).toBe(200);
    expect(await (await intruder.get(`/generate?delete=${job.id}`)).text()).not.toContain("Delete for good");
    expect(ledgerRowsOf(ownerId)).toEqual(before);
  });

  it("refuses (409) to delete a video still running: its hold is still pending", async () => {
    const client = await signedIn(server.url, "del-running");
    const res = await client.post("/api/generate-video", { prompt: "slow waves", durationSeconds: "1" });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: JobJson };
    expect((await client.post("/generate", deleteForm(job.id))).status).toBe(409);
    const page = await (await client.get("/generate")).text();
    // The running job is rendered from the server: a refresh still shows it, with its bar.
    expect(page).toContain('data-testid="running-job"');
    expect(page).toContain('role="progressbar"');
    expect((await balanceOf(client)).onHold).toBe(job.cost);
    expectLedgerConsistent(server.dataDir);
  });
});

describe("download", () => {
  it("?download=1 answers attachment; the plain file route stays inline; others get 404", async () => {
    const owner = await signedIn(server.url, "dl");
    const job = await makeImage(owner);
    const inline = await owner.get(job.resultUrl!);
    expect(inline.headers.get("content-disposition")).toBe(`inline; filename="${job.id}.png"`);
    const attachment = await owner.get(`${job.resultUrl!}?download=1`);
    expect(attachment.status).toBe(200);
    expect(attachment.headers.get("content-disposition")).toBe(`attachment; filename="${job.id}.png"`);
    expect(Buffer.from(await attachment.arrayBuffer()).subarray(1, 4).toString("latin1")).toBe("PNG");
    const other = await signedIn(server.url, "dl-other");
    expect((await other.get(`${job.resultUrl!}?download=1`)).status).toBe(404);
  });
});

describe("use this prompt", () => {
  it("prefills the chosen form on the server, escaped; a malformed prompt prefills nothing", async () => {
    const client = await signedIn(server.url, "reuse");
    const hostilePrompt = `waves </textarea><script>alert(1)</script> & "quotes"`;
    const page = await (await client.get(`/generate?${new URLSearchParams({ prompt: hostilePrompt, kind: "video" })}`)).text();
    expect(page).not.toContain("<script>alert(1)</script>");
    const videoForm = page.slice(page.indexOf('id="video-form"'));
    expect(videoForm).toContain("waves &lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; ");
    const imageForm = page.slice(page.indexOf('id="image-form"'), page.indexOf('id="video-form"'));
    expect(imageForm).not.toContain("waves &lt;");

    const textareas = (html: string) => [...html.matchAll(/<textarea[^>]*>([^<]*)<\/textarea>/g)].map((m) => m[1]);
    expect(textareas(page)).toEqual(["", expect.stringContaining("waves &lt;/textarea&gt;")]);
    const tooLong = await (await client.get(`/generate?prompt=${"x".repeat(2001)}`)).text();
    expect(textareas(tooLong)).toEqual(["", ""]);
    const unknownKind = await (await client.get(`/generate?prompt=hello-there&kind=audio`)).text();
    expect(textareas(unknownKind)).toEqual(["hello-there", ""]);
  });
});

describe("too little credit", () => {
  it("a forced video post over the balance is refused with 402 and links to buy credits", async () => {
    const client = await signedIn(server.url, "poor");
    const res = await client.post("/generate", { intent: "video", prompt: "an epic", resolution: "1080p", durationSeconds: "12" });
    expect(res.status).toBe(402);
    const html = await res.text();
    // The links inside the refusal itself (the header has its own billing link).
    const start = html.indexOf('data-testid="form-error"');
    expect(start).toBeGreaterThan(0);
    const refusal = html.slice(start, html.indexOf("</div>", start));
    expect(refusal).toContain("Not enough credits: this costs 30 and your balance is 23.");
    expect(refusal).toMatch(/href="\/pricing"/);
    expect(refusal).toMatch(/href="\/settings\/billing"/);
    expect(await balanceOf(client)).toMatchObject({ balance: 23, onHold: 0 });
  });
});
