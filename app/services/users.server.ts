import { and, eq, inArray, ne, notInArray, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { prepared } from "#db/prepared.server";
import { users, type User, type UserRole } from "#db/schema";
import { expiryAfter } from "~/utils/duration";
import { grant } from "./money/ledger.server";
import { ledgerKeys } from "./money/ledger-keys.server";

export class EmailTakenError extends Error {
  constructor() {
    super("An account with this email already exists.");
    this.name = "EmailTakenError";
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function findUserByEmail(db: AppDb, email: string): User | undefined {
  return prepared(db, "userByEmail", (d) =>
    d.orm.select().from(users).where(eq(users.email, sql.placeholder("email"))).prepare(),
  ).get({ email: normalizeEmail(email) });
}

export function findUserById(db: AppDb, id: number): User | undefined {
  return prepared(db, "userById", (d) => d.orm.select().from(users).where(eq(users.id, sql.placeholder("id"))).prepare()).get({ id });
}

/**
 * Creates the account and its sign-up bonus in one SQLite transaction: the bonus is a ledger row
 * keyed on the user id, so the balance is explained by the ledger from the first moment.
 */
export function createUser(
  db: AppDb,
  input: {
    email: string; passwordHash: string; signupBonus: number; adminEmails: ReadonlySet<string>;
    /** How long the bonus stays spendable (SIGNUP_BONUS_EXPIRES_AFTER; null: never). */
    signupBonusExpiresAfterMs?: number | null;
  },
): User {
  const email = normalizeEmail(input.email);
  const role: UserRole = input.adminEmails.has(email) ? "admin" : "user";
  const create = db.sqlite.transaction(() => {
    const existing = findUserByEmail(db, email);
    if (existing) throw new EmailTakenError();
    const user = db.orm.insert(users).values({ email, passwordHash: input.passwordHash, role }).returning().get();
    if (input.signupBonus > 0) {
      const now = Date.now();
      grant(db, {
        now,
        expiresAt: expiryAfter(now, input.signupBonusExpiresAfterMs ?? null),
        userId: user.id,
        amount: input.signupBonus,
        type: "bonus",
        key: ledgerKeys.signupBonus(user.id),
        description: "Sign-up bonus",
      });
    }
    return findUserById(db, user.id)!;
  });
  try {
    return create.immediate();
  } catch (error) {
    // Two sign-ups racing for one email: the UNIQUE index decides, the loser gets the same message.
    if (error instanceof Error && /UNIQUE constraint failed: users\.email/.test(error.message)) {
      throw new EmailTakenError();
    }
    throw error;
  }
}

/** ADMIN_EMAILS is the source of truth for admins: applied at every start (and at sign-up). */
export function syncAdminRoles(db: AppDb, adminEmails: ReadonlySet<string>): { promoted: number; demoted: number } {
  const list = [...adminEmails];
  return db.sqlite
    .transaction(() => {
      const promoted = list.length
        ? db.orm
            .update(users)
            .set({ role: "admin", updatedAt: Date.now() })
            .where(and(inArray(users.email, list), ne(users.role, "admin")))
            .run().changes
        : 0;
      const demotedQuery = db.orm.update(users).set({ role: "user", updatedAt: Date.now() });
      const demoted = (
        list.length
          ? demotedQuery.where(and(eq(users.role, "admin"), notInArray(users.email, list)))
          : demotedQuery.where(eq(users.role, "admin"))
      ).run().changes;
      return { promoted, demoted };
    })
    .immediate();
}
