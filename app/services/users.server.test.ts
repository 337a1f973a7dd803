import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb } from "../../tests/support/db";
import { createUser, EmailTakenError, findUserByEmail, syncAdminRoles } from "./users.server";

let db: ReturnType<typeof createTestDb>;
beforeEach(() => {
  db = createTestDb();
});
afterEach(() => db.remove());

function verify(email: string, at: number | null = Date.now()) {
  db.sqlite.prepare("update users set email_verified_at = ? where email = ?").run(at, email);
}

describe("accounts and roles", () => {
  it("creates a lower-cased, unverified account with no bonus yet (it comes with verification)", async () => {
    const user = await createUser(db, { email: " New@Example.COM ", passwordHash: "h" });
    expect(user).toMatchObject({ email: "new@example.com", credits: 0, role: "user", emailVerifiedAt: null });
    expect(db.sqlite.prepare("select count(*) n from transactions").get()).toEqual({ n: 0 });
  });

  it("refuses a duplicate email whatever its case, and runs nothing of the second sign-up", async () => {
    let calls = 0;
    await createUser(db, { email: "dup@example.com", passwordHash: "h" }, () => void calls++);
    await expect(createUser(db, { email: "DUP@example.com", passwordHash: "h2" }, () => void calls++)).rejects.toThrow(EmailTakenError);
    expect(calls).toBe(1);
    expect(db.sqlite.prepare("select count(*) n from users").get()).toEqual({ n: 1 });
  });

  it("rolls the account back when the work of its transaction fails (no account without its mail)", async () => {
    await expect(createUser(db, { email: "x@example.com", passwordHash: "h" }, () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(await findUserByEmail(db, "x@example.com")).toBeUndefined();
  });

  it("never makes an ADMIN_EMAILS address an admin at sign-up", async () => {
    const user = await createUser(db, { email: "Boss@example.com", passwordHash: "h" });
    expect(user.role).toBe("user");
    expect(await syncAdminRoles(db, new Set(["boss@example.com"]))).toEqual({ promoted: 0, demoted: 0 });
    expect((await findUserByEmail(db, "boss@example.com"))?.role).toBe("user");
  });

  it("syncs roles at start: promotes listed VERIFIED accounts only, demotes unlisted, unverified and deleted ones", async () => {
    for (const e of ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]) await createUser(db, { email: e, passwordHash: "h" });
    verify("a@example.com");
    verify("b@example.com");
    db.sqlite.prepare("update users set role = 'admin' where email in ('a@example.com', 'c@example.com', 'd@example.com')").run();
    verify("d@example.com");
    db.sqlite.prepare("update users set deleted_at = 1 where email = 'd@example.com'").run();
    // a: verified, unlisted → demoted; b: verified, listed → promoted; c: listed admin but unverified → demoted; d: deleted → demoted.
    expect(await syncAdminRoles(db, new Set(["b@example.com", "c@example.com", "d@example.com"]))).toEqual({ promoted: 1, demoted: 3 });
    expect(await Promise.all(["a", "b", "c", "d"].map(async (x) => (await findUserByEmail(db, `${x}@example.com`))?.role))).toEqual(["user", "admin", "user", "user"]);
    expect(await syncAdminRoles(db, new Set())).toEqual({ promoted: 0, demoted: 1 });
  });
});
