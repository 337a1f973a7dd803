import { parse } from "pg-connection-string";
import { describe, expect, it } from "vitest";
import { pgPoolConfig, redactDatabaseUrl } from "./pg-client.server";

// How a DATABASE_URL becomes node-postgres settings (decision 034): a provider's URL works as
// given, TLS is verified whatever sslmode says short of disable, and a password never shows.

const NEON = "postgresql://app:s3cret@ep-cool-name-123.eu-central-1.aws.neon.tech/credits?sslmode=require&channel_binding=require";

describe("pgPoolConfig", () => {
  it("takes Neon's URL as given: TLS with the certificate and host name verified, channel binding on", () => {
    const config = pgPoolConfig(NEON);
    const parsed = parse(config.connectionString!);
    expect(parsed.sslmode).toBe("verify-full");
    expect(parsed.ssl).toEqual({}); // node-postgres' verifying default: rejectUnauthorized stays true
    expect(parsed.host).toBe("ep-cool-name-123.eu-central-1.aws.neon.tech");
    expect(parsed.password).toBe("s3cret");
    expect(config.connectionString).not.toContain("channel_binding");
    expect(config.enableChannelBinding).toBe(true);
  });

  it.each(["prefer", "require", "verify-ca", "verify-full"])("sslmode=%s verifies the server, as node-postgres 8 does today", (mode) => {
    const parsed = parse(pgPoolConfig(`postgres://h/db?sslmode=${mode}`).connectionString!);
    expect(parsed.sslmode).toBe("verify-full");
    expect(parsed.ssl).toEqual({});
  });

  it("leaves disable, no sslmode, and libpq's own meaning (uselibpqcompat=true) as asked", () => {
    expect(parse(pgPoolConfig("postgres://h/db?sslmode=disable").connectionString!).ssl).toBe(false);
    expect(parse(pgPoolConfig("postgres://app@127.0.0.1:5432/db").connectionString!).ssl).toBeUndefined();
    expect(pgPoolConfig("postgres://h/db").enableChannelBinding).toBe(false);
    const libpq = parse(pgPoolConfig("postgres://h/db?sslmode=require&uselibpqcompat=true").connectionString!);
    expect(libpq.sslmode).toBe("require");
    expect(libpq.ssl).toEqual({ rejectUnauthorized: false });
  });

  it("refuses another scheme, without showing the password", () => {
    expect(() => pgPoolConfig("mysql://app:s3cret@h/db")).toThrow("not a postgres:// URL: mysql://app:***@h/db");
    expect(redactDatabaseUrl(NEON)).toBe(NEON.replace("s3cret", "***"));
    expect(redactDatabaseUrl("postgres//app:s3cret@h")).toBe("(not a URL)");
  });
});
