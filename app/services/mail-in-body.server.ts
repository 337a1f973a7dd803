/**
 * Queuing a mail inside a ported service's write body (balance alerts, expiry warnings).
 *
 * SEAM (decision 036), until the mail queue's port (branch port-admin-mail) is merged: the queue's
 * enqueueMail is still synchronous on the SQLite connection (it takes the AppDb). The app's
 * executor runs its write bodies on that same connection, so the row it writes is inside the
 * body's transaction, as the body's own statements are. After the merge this becomes
 * `(tx, …) => enqueueMail(tx, …)` (the message through the body's tx, on either engine) and the
 * AppDb requirement goes. Tests on both engines pass a queue of their own (`queueMail` options).
 */
import type { AppDb, PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import type { RenderedMail } from "./mail/mail-layout.server";
import { enqueueMail, type MailKind } from "./mail/mail-queue.server";

/** Queues one message in the transaction of `tx`; answers its id. */
export type QueueMailIn = (tx: SqlRunner, to: string, kind: MailKind, mail: RenderedMail, now: number) => Promise<number>;

/** The app's mail queue for bodies run on `db` (for now: the SQLite app database only). */
export function mailQueueOf(db: PortableDb): QueueMailIn {
  return async (_tx, to, kind, mail, now) => {
    if (!("sqlite" in db)) throw new Error("the mail queue is not on the executor yet (decision 036): only the SQLite app database can queue mail in a body");
    return enqueueMail(db as AppDb, to, kind, mail, now);
  };
}
