import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb } from "../../tests/support/db";
import { createUser, EmailTakenError, findUserByEmail, syncAdminRoles } from "./users.server";

let db: ReturnType<typeof createTestDb>;
beforeEach(() => {
  db = createTestDb();
});
afterEach(() => db.remove());

const admins = new Set(["boss@example.com"]);

describe("accounts and roles", () => {
  it("creates a lower-cased account whose bonus is a ledger row", () => {
    const user = createUser(db, { email: " New@Example.COM ", passwordHash: "h", signupBonus: 10, adminEmails: admins });
    expect(user.email).toBe("new@example.com");
    expect(user.credits).toBe(10);
    expect(user.role).toBe("user");
    const rows = db.sqlite.prepare("select amount, type, status from transactions where user_id = ?").all(user.id);
    expect(rows).toEqual([{ amount: 10, type: "bonus", status: "posted" }]);
  });

  it("grants the sign-up bonus with its expiry (SIGNUP_BONUS_EXPIRES_AFTER), or none", () => {
    const before = Date.now();
    const a = createUser(db, { email: "exp@example.com", passwordHash: "h", signupBonus: 10, adminEmails: admins, signupBonusExpiresAfterMs: 86_400_000 });
    const b = createUser(db, { email: "noexp@example.com", passwordHash: "h", signupBonus: 10, adminEmails: admins, signupBonusExpiresAfterMs: null });
    const expiry = (id: number) => (db.sqlite.prepare("select expires_at as e from credit_grants where user_id = ?").get(id) as { e: number | null }).e;
    expect(expiry(a.id)).toBeGreaterThanOrEqual(before + 86_400_000);
    expect(expiry(a.id)).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect(expiry(b.id)).toBeNull();
  });

  it("refuses a duplicate email whatever its case, and changes nothing", () => {
    createUser(db, { email: "dup@example.com", passwordHash: "h", signupBonus: 10, adminEmails: admins });
    expect(() =>
      createUser(db, { email: "DUP@example.com", passwordHash: "h2", signupBonus: 10, adminEmails: admins }),
    ).toThrow(EmailTakenError);
    expect(db.sqlite.prepare("select count(*) n from users").get()).toEqual({ n: 1 });
    expect(db.sqlite.prepare("select count(*) n from transactions").get()).toEqual({ n: 1 });
  });

  it("makes an ADMIN_EMAILS account an admin at sign-up", () => {
    const user = createUser(db, { email: "Boss@example.com", passwordHash: "h", signupBonus: 0, adminEmails: admins });
    expect(user.role).toBe("admin");
    expect(user.credits).toBe(0);
  });

  it("syncs roles from ADMIN_EMAILS at start: promotes listed, demotes unlisted", () => {
    createUser(db, { email: "a@example.com", passwordHash: "h", signupBonus: 0, adminEmails: new Set(["a@example.com"]) });
    createUser(db, { email: "b@example.com", passwordHash: "h", signupBonus: 0, adminEmails: new Set() });
    expect(syncAdminRoles(db, new Set(["b@example.com"]))).toEqual({ promoted: 1, demoted: 1 });
    expect(findUserByEmail(db, "a@example.com")?.role).toBe("user");
    expect(findUserByEmail(db, "b@example.com")?.role).toBe("admin");
    expect(syncAdminRoles(db, new Set())).toEqual({ promoted: 0, demoted: 1 });
  });
});
