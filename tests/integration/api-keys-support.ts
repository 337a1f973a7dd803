import { expect } from "vitest";
import type { HttpClient, RunningServer } from "../support/server";
import { verifyServerLedger } from "../support/server-ledger";
import { expectServerLedgerConsistent } from "./generation-support";

// Helpers for the API key tests: create a key with a session, call the API with a key.

export type CreatedKey = { id: number; key: string; name: string; prefix: string; monthlyCreditLimit: number | null; createdAt: string };
export type KeyView = { id: number; name: string; prefix: string; monthlyCreditLimit: number | null; spentThisMonth: number; createdAt: string; lastUsedAt: string | null };

/** Every key a test created, so the log check can look for each one. */
export const issuedKeys: string[] = [];

export function createKeyRequest(client: HttpClient, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return client.request("/api/keys", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function createKey(client: HttpClient, name: string, monthlyCreditLimit?: number): Promise<CreatedKey> {
  const res = await createKeyRequest(client, monthlyCreditLimit === undefined ? { name } : { name, monthlyCreditLimit });
  expect(res.status).toBe(201);
  const created = (await res.json()) as CreatedKey;
  issuedKeys.push(created.key);
  return created;
}

export async function listKeys(client: HttpClient): Promise<KeyView[]> {
  const res = await client.get("/api/keys");
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: KeyView[] }).keys;
}

/** A request as a script makes it: the key, no cookie, no Origin. */
export function withKey(baseUrl: string, key: string, pathname: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${key}`);
  return fetch(baseUrl + pathname, { ...init, headers, redirect: "manual" });
}

export function imageWithKey(baseUrl: string, key: string, prompt = "a red fox", headers: Record<string, string> = {}): Promise<Response> {
  return withKey(baseUrl, key, "/api/generate-image", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ prompt, size: "256x256" }),
  });
}

/**
 * The invariants on the server's database (either engine): the generation ones and the ledger
 * verifier (key limits included).
 */
export async function expectLedgerClean(server: Pick<RunningServer, "dataDir" | "databaseUrl">) {
  await expectServerLedgerConsistent(server);
  const report = await verifyServerLedger(server, { sweepGraceMs: 60_000 });
  expect(report.violations).toEqual([]);
}
