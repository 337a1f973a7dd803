import { describe, expect, it } from "vitest";
import { libpqConnection, PgBackupError } from "../../db/pg-backup.server";

// What pg_dump / pg_restore are given for a DATABASE_URL: the password only in their environment
// (never on the command line a process listing shows), and TLS held to what the app holds it to.

describe("libpqConnection", () => {
  it("moves the password out of the URL into PGPASSWORD, decoded", () => {
    const c = libpqConnection("postgres://app:p%40ss%2Fw0rd@db.example.com:5432/credits", { libpqMajor: 15 });
    expect(c.dbname).toBe("postgres://app@db.example.com:5432/credits");
    expect(c.env).toEqual({ PGPASSWORD: "p@ss/w0rd" });
    expect(c.shown).toBe("postgres://app:***@db.example.com:5432/credits");
    expect(c.dbname).not.toContain("p%40ss");
  });

  it.each([
    ["sslmode=require", 16, "sslmode=verify-full&sslrootcert=system"],
    ["sslmode=require&channel_binding=require", 16, "sslmode=verify-full&channel_binding=require&sslrootcert=system"],
    ["sslmode=prefer", 15, "sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fcerts%2Fca-certificates.crt"],
    ["sslmode=verify-ca&sslrootcert=%2Fca.pem", 15, "sslmode=verify-full&sslrootcert=%2Fca.pem"],
    ["sslmode=require&uselibpqcompat=true", 15, "sslmode=require"],
    ["sslmode=disable", 15, "sslmode=disable"],
    ["", 15, ""],
  ])("?%s with client tools %i → ?%s", (query, major, expected) => {
    const c = libpqConnection(`postgresql://app:secret@ep-x.neon.tech/credits${query ? `?${query}` : ""}`, { libpqMajor: major, caBundleExists: true });
    expect(new URL(c.dbname).search.replace(/^\?/, "")).toBe(expected);
    expect(c.dbname).not.toContain("secret");
  });

  it("refuses verify-full when nothing can check the certificate", () => {
    expect(() => libpqConnection("postgres://a:b@h/db?sslmode=require", { libpqMajor: 15, caBundleExists: false })).toThrow(/add sslrootcert=/);
  });

  it.each([
    ["mysql://root:secret@h/db", /must be a postgres:\/\/ URL, got mysql:\/\/root:\*\*\*@h\/db/],
    ["postgres://a:secret@h:5432/", /names no database/],
    ["postgres://a:secret@h:5432", /names no database/],
    ["postgres://a:secret@h/db/extra", /names no database/],
    ["postgres:///db", /names no host/],
    ["nonsense secret", /is not a URL/],
  ])("refuses %s as a configuration error, without the password", (url, message) => {
    let error: unknown;
    try {
      libpqConnection(url, { libpqMajor: 15 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PgBackupError);
    expect((error as PgBackupError).configuration).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain("secret");
  });

  it("accepts a socket folder as ?host= (libpq's way to name a local server)", () => {
    expect(libpqConnection("postgres:///credits?host=%2Fvar%2Frun%2Fpostgresql", { libpqMajor: 15 }).dbname).toBe("postgres:///credits?host=%2Fvar%2Frun%2Fpostgresql");
  });
});
