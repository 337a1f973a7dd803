import Database from "better-sqlite3";
import type Stripe from "stripe";

/**
 * The emulator's own SQLite file (never the app's): Stripe objects as JSON keyed by id, stored
 * idempotent responses, emitted events with their delivery state, delivery attempts, a little
 * emulator-only state, and jobs that must survive a restart (delayed payments that settle later).
 */

/** Every kind of object the emulator stores, by Stripe's `object` name. */
export type StoredObjects = {
  customer: Stripe.Customer;
  price: Stripe.Price;
  product: Stripe.Product;
  "checkout.session": Stripe.Checkout.Session;
  item: Stripe.LineItem;
  payment_intent: Stripe.PaymentIntent;
  payment_method: Stripe.PaymentMethod;
  setup_intent: Stripe.SetupIntent;
  charge: Stripe.Charge;
  refund: Stripe.Refund;
  dispute: Stripe.Dispute;
  subscription: Stripe.Subscription;
  invoice: Stripe.Invoice;
  invoice_payment: Stripe.InvoicePayment;
  "billing_portal.session": Stripe.BillingPortal.Session;
};
export type StoredObjectType = keyof StoredObjects;
export type StoredObject = StoredObjects[StoredObjectType];

export type DeliveryStatus = "pending" | "delivered" | "failed" | "not_sent";

export type EventRecord = {
  event: Stripe.Event;
  deliveryStatus: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
};

export type DeliveryAttempt = {
  eventId: string;
  eventType: string;
  attempt: number;
  url: string;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
};

export type StoredResponse = {
  method: string;
  path: string;
  paramsHash: string;
  status: number;
  body: string;
};

export type ScheduledJob = { id: string; kind: string; dueAt: number; data: unknown };

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  parent_id TEXT,
  created INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_parent ON objects (parent_id, type, created);
CREATE TABLE IF NOT EXISTS idempotent_responses (
  account TEXT NOT NULL,
  key TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  params_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, key)
);
CREATE INDEX IF NOT EXISTS idempotent_responses_by_age ON idempotent_responses (created_at);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  created INTEGER NOT NULL,
  data TEXT NOT NULL,
  delivery_status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER
);
CREATE INDEX IF NOT EXISTS events_by_delivery ON events (delivery_status, next_attempt_at);
CREATE TABLE IF NOT EXISTS delivery_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL REFERENCES events (id),
  attempt INTEGER NOT NULL,
  url TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_by_event ON delivery_attempts (event_id, attempt);
CREATE TABLE IF NOT EXISTS emulator_state (
  key TEXT PRIMARY KEY,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scheduled_jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  data TEXT NOT NULL
);
`;

type EventRow = {
  data: string;
  delivery_status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
};

type AttemptRow = {
  event_id: string;
  type: string;
  attempt: number;
  url: string;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
};

export type EmulatorStore = ReturnType<typeof openEmulatorStore>;

export function openEmulatorStore(dbPath: string) {
  const db = new Database(dbPath);
  if (dbPath !== ":memory:") db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `Stripe emulator database ${dbPath} has schema version ${version}; this emulator knows ${SCHEMA_VERSION}.`,
    );
  }
  db.exec(SCHEMA);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);

  const statements = {
    getObject: db.prepare<[string, string], { data: string }>(
      "SELECT data FROM objects WHERE id = ? AND type = ?",
    ),
    findObject: db.prepare<[string], { type: string; data: string }>(
      "SELECT type, data FROM objects WHERE id = ?",
    ),
    putObject: db.prepare<[string, string, string | null, number, string]>(
      `INSERT INTO objects (id, type, parent_id, created, data) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET data = excluded.data, parent_id = excluded.parent_id`,
    ),
    listChildren: db.prepare<[string, string], { data: string }>(
      "SELECT data FROM objects WHERE parent_id = ? AND type = ? ORDER BY created, rowid",
    ),
    listByType: db.prepare<[string], { data: string }>(
      "SELECT data FROM objects WHERE type = ? ORDER BY created, rowid",
    ),
    getResponse: db.prepare<[string, string], StoredResponseRow>(
      "SELECT method, path, params_hash, status, body FROM idempotent_responses WHERE account = ? AND key = ?",
    ),
    putResponse: db.prepare<[string, string, string, string, string, number, string, number]>(
      `INSERT OR IGNORE INTO idempotent_responses
       (account, key, method, path, params_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    pruneResponses: db.prepare<[number]>("DELETE FROM idempotent_responses WHERE created_at < ?"),
    insertEvent: db.prepare<[string, string, number, string, DeliveryStatus]>(
      "INSERT INTO events (id, type, created, data, delivery_status) VALUES (?, ?, ?, ?, ?)",
    ),
    getEvent: db.prepare<[string], EventRow>(
      "SELECT data, delivery_status, attempts, next_attempt_at FROM events WHERE id = ?",
    ),
    listEvents: db.prepare<[{ type: string | null; after: string | null; limit: number }], EventRow>(
      `SELECT data, delivery_status, attempts, next_attempt_at FROM events
       WHERE (@type IS NULL OR type = @type)
         AND (@after IS NULL OR rowid < (SELECT rowid FROM events WHERE id = @after))
       ORDER BY rowid DESC LIMIT @limit`,
    ),
    pendingEvents: db.prepare<[], { id: string; next_attempt_at: number | null }>(
      "SELECT id, next_attempt_at FROM events WHERE delivery_status = 'pending' ORDER BY rowid",
    ),
    updateDelivery: db.prepare<[DeliveryStatus, number, number | null, string]>(
      "UPDATE events SET delivery_status = ?, attempts = ?, next_attempt_at = ? WHERE id = ?",
    ),
    insertAttempt: db.prepare<[string, number, string, number, number, number | null, string | null]>(
      `INSERT INTO delivery_attempts (event_id, attempt, url, started_at, duration_ms, status_code, error)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    countAttempts: db.prepare<[string], { n: number }>(
      "SELECT COUNT(*) AS n FROM delivery_attempts WHERE event_id = ?",
    ),
    listAttempts: db.prepare<[{ eventId: string | null }], AttemptRow>(
      `SELECT a.event_id, e.type, a.attempt, a.url, a.started_at, a.duration_ms, a.status_code, a.error
       FROM delivery_attempts a JOIN events e ON e.id = a.event_id
       WHERE (@eventId IS NULL OR a.event_id = @eventId) ORDER BY a.id`,
    ),
    putState: db.prepare<[string, string]>("INSERT OR REPLACE INTO emulator_state (key, data) VALUES (?, ?)"),
    getState: db.prepare<[string], { data: string }>("SELECT data FROM emulator_state WHERE key = ?"),
    putJob: db.prepare<[string, string, number, string]>(
      "INSERT OR REPLACE INTO scheduled_jobs (id, kind, due_at, data) VALUES (?, ?, ?, ?)",
    ),
    getJob: db.prepare<[string], { id: string; kind: string; due_at: number; data: string }>(
      "SELECT id, kind, due_at, data FROM scheduled_jobs WHERE id = ?",
    ),
    deleteJob: db.prepare<[string]>("DELETE FROM scheduled_jobs WHERE id = ?"),
    listJobs: db.prepare<[], { id: string; kind: string; due_at: number; data: string }>(
      "SELECT id, kind, due_at, data FROM scheduled_jobs ORDER BY due_at",
    ),
  };

  const toEventRecord = (row: EventRow): EventRecord => ({
    event: JSON.parse(row.data) as Stripe.Event,
    deliveryStatus: row.delivery_status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
  });

  return {
    /** Runs `fn` in one SQLite transaction (BEGIN IMMEDIATE); a throw rolls everything back. */
    transaction<T>(fn: () => T): T {
      return db.transaction(fn).immediate();
    },

    getObject<K extends StoredObjectType>(type: K, id: string): StoredObjects[K] | undefined {
      const row = statements.getObject.get(id, type);
      return row ? (JSON.parse(row.data) as StoredObjects[K]) : undefined;
    },

    /** Any stored object by id, whatever its type (for `expand`). */
    findObject(id: string): StoredObject | undefined {
      const row = statements.findObject.get(id);
      return row ? (JSON.parse(row.data) as StoredObject) : undefined;
    },

    putObject(object: StoredObject, parentId: string | null = null): void {
      const created = "created" in object ? object.created : Math.floor(Date.now() / 1000);
      statements.putObject.run(object.id, object.object, parentId, created, JSON.stringify(object));
    },

    listChildren<K extends StoredObjectType>(type: K, parentId: string): StoredObjects[K][] {
      return statements.listChildren.all(parentId, type).map((row) => JSON.parse(row.data) as StoredObjects[K]);
    },

    listObjects<K extends StoredObjectType>(type: K): StoredObjects[K][] {
      return statements.listByType.all(type).map((row) => JSON.parse(row.data) as StoredObjects[K]);
    },

    getStoredResponse(account: string, key: string): StoredResponse | undefined {
      const row = statements.getResponse.get(account, key);
      return row
        ? { method: row.method, path: row.path, paramsHash: row.params_hash, status: row.status, body: row.body }
        : undefined;
    },

    putStoredResponse(account: string, key: string, response: StoredResponse, now: number): void {
      statements.putResponse.run(
        account,
        key,
        response.method,
        response.path,
        response.paramsHash,
        response.status,
        response.body,
        now,
      );
    },

    /** Stripe keeps idempotency keys for 24 hours; so does the emulator. */
    pruneStoredResponses(olderThan: number): void {
      statements.pruneResponses.run(olderThan);
    },

    insertEvent(event: Stripe.Event, deliveryStatus: DeliveryStatus): void {
      statements.insertEvent.run(event.id, event.type, event.created, JSON.stringify(event), deliveryStatus);
    },

    getEvent(id: string): EventRecord | undefined {
      const row = statements.getEvent.get(id);
      return row ? toEventRecord(row) : undefined;
    },

    /** Newest first. */
    listEvents(options: { type?: string; startingAfter?: string; limit: number }): EventRecord[] {
      return statements.listEvents
        .all({ type: options.type ?? null, after: options.startingAfter ?? null, limit: options.limit })
        .map(toEventRecord);
    },

    pendingEvents(): Array<{ id: string; nextAttemptAt: number | null }> {
      return statements.pendingEvents.all().map((row) => ({ id: row.id, nextAttemptAt: row.next_attempt_at }));
    },

    updateDelivery(id: string, status: DeliveryStatus, attempts: number, nextAttemptAt: number | null): void {
      statements.updateDelivery.run(status, attempts, nextAttemptAt, id);
    },

    insertAttempt(attempt: Omit<DeliveryAttempt, "eventType">): void {
      statements.insertAttempt.run(
        attempt.eventId,
        attempt.attempt,
        attempt.url,
        attempt.startedAt,
        attempt.durationMs,
        attempt.statusCode,
        attempt.error,
      );
    },

    countAttempts(eventId: string): number {
      return statements.countAttempts.get(eventId)?.n ?? 0;
    },

    listAttempts(eventId?: string): DeliveryAttempt[] {
      return statements.listAttempts.all({ eventId: eventId ?? null }).map((row) => ({
        eventId: row.event_id,
        eventType: row.type,
        attempt: row.attempt,
        url: row.url,
        startedAt: row.started_at,
        durationMs: row.duration_ms,
        statusCode: row.status_code,
        error: row.error,
      }));
    },

    /** Emulator-only facts that are not part of any Stripe object (e.g. a session's payment_intent_data). */
    putState(key: string, data: unknown): void {
      statements.putState.run(key, JSON.stringify(data));
    },

    getState(key: string): unknown {
      const row = statements.getState.get(key);
      return row ? (JSON.parse(row.data) as unknown) : undefined;
    },

    putJob(job: ScheduledJob): void {
      statements.putJob.run(job.id, job.kind, job.dueAt, JSON.stringify(job.data));
    },

    getJob(id: string): ScheduledJob | undefined {
      const row = statements.getJob.get(id);
      return row ? { id: row.id, kind: row.kind, dueAt: row.due_at, data: JSON.parse(row.data) as unknown } : undefined;
    },

    deleteJob(id: string): void {
      statements.deleteJob.run(id);
    },

    listJobs(): ScheduledJob[] {
      return statements.listJobs
        .all()
        .map((row) => ({ id: row.id, kind: row.kind, dueAt: row.due_at, data: JSON.parse(row.data) as unknown }));
    },

    close(): void {
      if (db.open) db.close();
    },
  };
}

type StoredResponseRow = {
  method: string;
  path: string;
  params_hash: string;
  status: number;
  body: string;
};
