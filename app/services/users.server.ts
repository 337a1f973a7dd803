import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { User } from "#db/schema";
import { inWrite, readerOf, type SqlTarget } from "./sql-target.server";

export class EmailTakenError extends Error {
  constructor() {
    super("An account with this email already exists.");
    this.name = "EmailTakenError";
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The users columns in the shape of drizzle's `User` (quoted aliases: PostgreSQL folds case).
 * `table`: the alias of users in a join. */
export function userColumns(table = ""): string {
  const t = table ? `${table}.` : "";
  return `${t}id AS "id", ${t}email AS "email", ${t}password_hash AS "passwordHash", ${t}role AS "role", ${t}credits AS "credits",
    ${t}stripe_customer_id AS "stripeCustomerId", ${t}flagged_at AS "flaggedAt", ${t}flagged_reason AS "flaggedReason",
    ${t}email_verified_at AS "emailVerifiedAt", ${t}deleted_at AS "deletedAt", ${t}created_at AS "createdAt", ${t}updated_at AS "updatedAt"`;
}

const USER_BY_EMAIL = `SELECT ${userColumns()} FROM users WHERE email = ?`;
const USER_BY_ID = `SELECT ${userColumns()} FROM users WHERE id = ?`;

/** `db` may be a write body's `tx`: then the read sees what the body wrote. */
export async function findUserByEmail(db: SqlTarget, email: string): Promise<User | undefined> {
  return readerOf(db).get<User>(USER_BY_EMAIL, [normalizeEmail(email)]);
}

export async function findUserById(db: SqlTarget, id: number): Promise<User | undefined> {
  return readerOf(db).get<User>(USER_BY_ID, [id]);
}

// ON CONFLICT DO NOTHING: a taken address inserts nothing (no row back) instead of failing the
// statement, which on PostgreSQL would abort the whole transaction; the UNIQUE index still decides
// two sign-ups racing for one address (the second waits for the first, then inserts nothing).
const INSERT_USER = `INSERT INTO users (email, password_hash, role) VALUES (?, ?, 'user') ON CONFLICT DO NOTHING RETURNING ${userColumns()}`;

/**
 * Creates an ordinary, unverified account: no bonus and no admin role yet, both wait for the
 * address to be verified (accounts/verification.server.ts). `inTransaction` runs in the same
 * transaction as the insert (it queues the verification mail), so there is never an account
 * without its mail, nor a mail for an account that rolled back. It may await only `tx` statements.
 */
export async function createUser(
  db: PortableDb,
  input: { email: string; passwordHash: string },
  inTransaction?: (tx: SqlRunner, user: User) => Promise<void> | void,
): Promise<User> {
  const email = normalizeEmail(input.email);
  return db.sql.write(async (tx) => {
    const user = await tx.get<User>(INSERT_USER, [email, input.passwordHash]);
    if (!user) throw new EmailTakenError();
    await inTransaction?.(tx, user);
    return user;
  });
}

/**
 * ADMIN_EMAILS is the source of truth for admins, applied at every start and at verification. It
 * promotes an address only once its owner proved it is theirs (verified) and the account is not
 * deleted: otherwise whoever signed up first with a listed address would become admin. Every
 * other admin is demoted.
 */
export async function syncAdminRoles(db: SqlTarget, adminEmails: ReadonlySet<string>, now = Date.now()): Promise<{ promoted: number; demoted: number }> {
  const list = [...adminEmails];
  const eligible = `email IN (${list.map(() => "?").join(", ")}) AND email_verified_at IS NOT NULL AND deleted_at IS NULL`;
  return inWrite(db, async (tx) => {
    const promoted = list.length
      ? (await tx.run(`UPDATE users SET role = 'admin', updated_at = ? WHERE ${eligible} AND role <> 'admin'`, [now, ...list])).changes
      : 0;
    const demoted = list.length
      ? (await tx.run(`UPDATE users SET role = 'user', updated_at = ? WHERE role = 'admin' AND NOT (${eligible})`, [now, ...list])).changes
      : (await tx.run("UPDATE users SET role = 'user', updated_at = ? WHERE role = 'admin'", [now])).changes;
    return { promoted, demoted };
  });
}

/** Whether ADMIN_EMAILS makes this account an admin (verified, not deleted, listed). */
export function isAdminEligible(user: Pick<User, "email" | "emailVerifiedAt" | "deletedAt">, adminEmails: ReadonlySet<string>): boolean {
  return user.emailVerifiedAt !== null && user.deletedAt === null && adminEmails.has(user.email);
}
