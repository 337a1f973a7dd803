import { and, eq, inArray, isNotNull, isNull, ne, not, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { prepared } from "#db/prepared.server";
import { users, type User } from "#db/schema";

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
 * Creates an ordinary, unverified account: no bonus and no admin role yet, both wait for the
 * address to be verified (accounts/verification.server.ts). `inTransaction` runs in the same
 * SQLite transaction as the insert (it queues the verification mail), so there is never an
 * account without its mail, nor a mail for an account that rolled back.
 */
export function createUser(db: AppDb, input: { email: string; passwordHash: string }, inTransaction?: (user: User) => void): User {
  const email = normalizeEmail(input.email);
  const create = db.sqlite.transaction(() => {
    const existing = findUserByEmail(db, email);
    if (existing) throw new EmailTakenError();
    const user = db.orm.insert(users).values({ email, passwordHash: input.passwordHash, role: "user" }).returning().get();
    inTransaction?.(user);
    return findUserById(db, user.id)!;
  });
  try {
    return create.immediate();
  } catch (error) {
    // Two sign-ups racing for one email: the UNIQUE index decides, the loser is told it is taken.
    if (error instanceof Error && /UNIQUE constraint failed: users\.email/.test(error.message)) {
      throw new EmailTakenError();
    }
    throw error;
  }
}

/**
 * ADMIN_EMAILS is the source of truth for admins, applied at every start and at verification. It
 * promotes an address only once its owner proved it is theirs (verified) and the account is not
 * deleted: otherwise whoever signed up first with a listed address would become admin. Every
 * other admin is demoted.
 */
export function syncAdminRoles(db: AppDb, adminEmails: ReadonlySet<string>): { promoted: number; demoted: number } {
  const list = [...adminEmails];
  const eligible = and(inArray(users.email, list), isNotNull(users.emailVerifiedAt), isNull(users.deletedAt));
  return db.sqlite
    .transaction(() => {
      const promoted = list.length
        ? db.orm
            .update(users)
            .set({ role: "admin", updatedAt: Date.now() })
            .where(and(eligible, ne(users.role, "admin")))
            .run().changes
        : 0;
      const demotedQuery = db.orm.update(users).set({ role: "user", updatedAt: Date.now() });
      const demoted = (
        list.length ? demotedQuery.where(and(eq(users.role, "admin"), not(eligible!))) : demotedQuery.where(eq(users.role, "admin"))
      ).run().changes;
      return { promoted, demoted };
    })
    .immediate();
}

/** Whether ADMIN_EMAILS makes this account an admin (verified, not deleted, listed). */
export function isAdminEligible(user: Pick<User, "email" | "emailVerifiedAt" | "deletedAt">, adminEmails: ReadonlySet<string>): boolean {
  return user.emailVerifiedAt !== null && user.deletedAt === null && adminEmails.has(user.email);
}
