import Database from "better-sqlite3";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// A page that fails on the server (500) in production: the layout and plain words, and nothing of
// the error itself (message, stack, SQL) in the HTML. The failure is real: a table the page reads
// is taken away under the running server.

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

describe("the 500 page in production", () => {
  it("keeps the nav, speaks to a person and shows no error text", async () => {
    const client = new HttpClient(server.url);
    await client.signup("broken@example.com");
    expect((await client.get("/generate")).status).toBe(200);

    const db = new Database(path.join(server.dataDir, "app.sqlite"));
    db.exec("ALTER TABLE generations RENAME TO generations_gone");
    try {
      const res = await client.get("/generate");
      expect(res.status).toBe(500);
      const html = await res.text();
      expect(html).toContain('aria-label="Main"');
      expect(html).toContain("Something went wrong on our side");
      expect(html).toContain('href="/"');
      // Anywhere in the HTML, hydration data included: nothing of the error itself.
      for (const leak of [/no such table/i, /generations_gone|FROM generations/i, /SqliteError/, /\bat \S+ \(/, /\.js:\d+:\d+/]) {
        expect(html, String(leak)).not.toMatch(leak);
      }
      // On the page itself not even Remix's placeholder ("Unexpected Server Error" stays in the
      // hydration data, which is Remix's own sanitised stand-in for the message).
      const visible = html.replace(/<script[\s\S]*?<\/script>/g, "");
      expect(visible).not.toMatch(/Unexpected Server Error|Error:/);
    } finally {
      db.exec("ALTER TABLE generations_gone RENAME TO generations");
      db.close();
    }
  });
});
