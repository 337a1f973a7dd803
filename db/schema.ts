import { sql } from "drizzle-orm";
import {
  check,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

// Timestamps are integer milliseconds since the epoch: sortable, cheap to compare in the sweeper,
// and unambiguous across time zones.
const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

export const USER_ROLES = ["user", "admin"] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    email: text("email").notNull().unique(),
    passwordHash: text("password_hash").notNull(),
    role: text("role", { enum: USER_ROLES }).notNull().default("user"),
    // Spendable balance. Written only by app/services/money/ledger.server.ts, always together with a
    // ledger row; the sign-up bonus is such a row, so the column itself starts at zero.
    credits: integer("credits").notNull().default(0),
    stripeCustomerId: text("stripe_customer_id").unique(),
    // Set when a payment is disputed: the account may not buy or spend until an admin clears it.
    flaggedAt: integer("flagged_at"),
    flaggedReason: text("flagged_reason"),
    // When the owner proved the address is theirs (the link in the verification mail). Until then
    // no sign-up bonus and no admin role (ADMIN_EMAILS promotes verified addresses only).
    emailVerifiedAt: integer("email_verified_at"),
    // A deleted account keeps its row for the ledger (its rows are the accounting record), with
    // the address and password removed so the address is free for a new sign-up.
    deletedAt: integer("deleted_at"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    check("users_email_lower", sql`${t.email} = lower(${t.email})`),
    index("users_created_at_idx").on(t.createdAt),
    // Admin console: the user list sorted by balance (keyset on credits, id; SQLite appends the rowid).
    index("users_credits_idx").on(t.credits),
  ],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    // Remix session data (flash messages and the like), JSON.
    data: text("data").notNull().default("{}"),
    expiresAt: integer("expires_at").notNull(),
    // What the account page shows of each session ("sign out everywhere else").
    userAgent: text("user_agent"),
    ip: text("ip"),
    lastSeenAt: integer("last_seen_at"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("sessions_user_idx").on(t.userId), index("sessions_expires_idx").on(t.expiresAt)],
);

// A key per integration for the JSON API (docs/decisions/021-api-keys.md). Only the SHA-256 of
// the key is stored; `prefix` is its first characters, so its owner can tell keys apart. A revoked
// key keeps its row: the ledger rows it spent still name it.
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull().unique(),
    // Credits the key may spend per UTC calendar month (null: no limit but the balance).
    monthlyCreditLimit: integer("monthly_credit_limit"),
    createdAt: integer("created_at").notNull().default(now),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("api_keys_user_idx").on(t.userId, t.createdAt)],
);

// expire: the unspent rest of a grant that reached its expiry (negative, meta.grantId names it).
// plan: a subscription period's credits (one per paid invoice) or the rest rolled over into the
// next period; redeem: the credits of a redeem code.
export const TRANSACTION_TYPES = ["purchase", "topup", "usage", "bonus", "refund", "adjustment", "expire", "plan", "redeem"] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];
// pending: a hold, already taken from the spendable balance; posted: final; voided: a hold given
// back (the row stays for the history but no longer counts).
export const TRANSACTION_STATUSES = ["pending", "posted", "voided"] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

export const transactions = sqliteTable(
  "transactions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    amount: integer("amount").notNull(),
    type: text("type", { enum: TRANSACTION_TYPES }).notNull(),
    status: text("status", { enum: TRANSACTION_STATUSES }).notNull().default("posted"),
    // The caller's id for this write (checkout session id, refund id, form token, job id...).
    idempotencyKey: text("idempotency_key").notNull().unique(),
    description: text("description").notNull(),
    // The Stripe PaymentIntent of a purchase, so refunds and disputes can find it.
    stripePaymentId: text("stripe_payment_id"),
    // The spendable balance right after this row was written.
    balanceAfter: integer("balance_after").notNull(),
    // Holds only: when the sweeper voids it if nobody posted or voided it.
    expiresAt: integer("expires_at"),
    // Manual changes: who and why.
    adminId: integer("admin_id").references(() => users.id, { onDelete: "restrict" }),
    reason: text("reason"),
    // Free-form JSON for the record (pack, amounts in cents, void reason...).
    meta: text("meta"),
    createdAt: integer("created_at").notNull().default(now),
    // When a pending row was posted or voided.
    settledAt: integer("settled_at"),
    // Usage spent through an API key: which one (null for the forms and every other type).
    apiKeyId: integer("api_key_id").references(() => apiKeys.id, { onDelete: "restrict" }),
  },
  (t) => [
    index("transactions_user_history_idx").on(t.userId, t.id),
    index("transactions_user_type_idx").on(t.userId, t.type, t.id),
    index("transactions_pending_expiry_idx")
      .on(t.expiresAt)
      .where(sql`${t.status} = 'pending'`),
    index("transactions_payment_idx").on(t.stripePaymentId),
    index("transactions_created_idx").on(t.createdAt),
    index("transactions_admin_idx").on(t.adminId).where(sql`${t.adminId} is not null`),
    // Per-user figures that must not grow with a long history (billing chart of the last 30 days,
    // total purchased in the admin console): covering, so one range of the index answers them.
    index("transactions_user_type_time_idx").on(t.userId, t.type, t.createdAt, t.status, t.amount),
    // Credits on hold per user (getBalance, admin list): only pending rows, so tiny and covering.
    index("transactions_pending_user_idx")
      .on(t.userId, t.type, t.amount)
      .where(sql`${t.status} = 'pending'`),
    // A key's spend this month (the monthly limit, checked inside the hold): one range, covering.
    index("transactions_api_key_idx")
      .on(t.apiKeyId, t.createdAt, t.status, t.amount)
      .where(sql`${t.apiKeyId} is not null`),
    check(
      "transactions_hold_shape",
      sql`${t.status} = 'posted' or (${t.type} = 'usage' and ${t.amount} < 0)`,
    ),
  ],
);

// Derived figures that must not grow with the history (the admin overview, decision 037). Written
// by database triggers on transactions and users (SQLite: migration 0011; PostgreSQL: its
// migrations-pg twin), never by the app, so every writer — the ledger, scripts, a restore, the copy
// to PostgreSQL — keeps them true. A row per UTC day x type x status x purchase currency x shard:
// the sum of amount, the money taken (purchases' meta.amountTotal, minor units) and the row count.
// `shard` spreads concurrent writers over several rows on PostgreSQL (a hold must not wait for
// another user's); SQLite has one writer and always writes shard 0. Readers sum over shards.
export const dailyTotals = sqliteTable(
  "daily_totals",
  {
    // created_at / 86,400,000: the UTC day number.
    day: integer("day").notNull(),
    type: text("type", { enum: TRANSACTION_TYPES }).notNull(),
    status: text("status", { enum: TRANSACTION_STATUSES }).notNull(),
    // A purchase's currency (lower case) as its meta recorded it; '' for every other row.
    currency: text("currency").notNull(),
    shard: integer("shard").notNull(),
    credits: integer("credits").notNull(),
    revenueMinor: integer("revenue_minor").notNull(),
    rowCount: integer("row_count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.type, t.status, t.currency, t.shard] })],
);

// The same figures per user and day (no currency, no shard: one user's writes are serialised on
// their users row already), for the customer's 30-day chart: ~90 rows whatever the history.
export const userDailyTotals = sqliteTable(
  "user_daily_totals",
  {
    userId: integer("user_id").notNull(),
    day: integer("day").notNull(),
    type: text("type", { enum: TRANSACTION_TYPES }).notNull(),
    status: text("status", { enum: TRANSACTION_STATUSES }).notNull(),
    credits: integer("credits").notNull(),
    rowCount: integer("row_count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.day, t.type, t.status] })],
);

// The figures of now that every user row makes up (accounts, outstanding balances), kept by
// triggers on users like daily_totals: the overview reads a few rows, not 100,000.
export const userTotals = sqliteTable("user_totals", {
  shard: integer("shard").primaryKey(),
  users: integer("users").notNull(),
  credits: integer("credits").notNull(),
});

// Every credit that arrives is a grant: what it gave, what is left, and until when it may be spent.
// Written only by the ledger (ledger-grants.server.ts), in the same transaction as its row.
// users.credits == SUM(remaining) of the user's unclosed grants; the spendable balance counts only
// the live ones (unclosed and not past expires_at). See docs/decisions/022-grants-and-expiry.md.
export const GRANT_KINDS = ["purchase", "topup", "bonus", "admin", "reversal", "opening", "debt", "plan", "redeem"] as const;
export type GrantKind = (typeof GRANT_KINDS)[number];

export const creditGrants = sqliteTable(
  "credit_grants",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    // The ledger row that created it (null: the opening balance of the migration, a debt grant,
    // or credits a pre-grant hold gave back).
    sourceTxId: integer("source_tx_id")
      .unique()
      .references(() => transactions.id, { onDelete: "restrict" }),
    kind: text("kind", { enum: GRANT_KINDS }).notNull(),
    amount: integer("amount").notNull(),
    // Below zero only for the user's one debt grant (a clawback that found too little).
    remaining: integer("remaining").notNull(),
    expiresAt: integer("expires_at"),
    createdAt: integer("created_at").notNull().default(now),
    // Set when its expiry row is written: a closed grant is never spent from again.
    closedAt: integer("closed_at"),
    // When the owner was mailed that this grant expires soon (once per grant).
    expiryWarnedAt: integer("expiry_warned_at"),
  },
  (t) => [
    // Live grants of a user in spending order. Partial: a spent grant (remaining 0, no expiry)
    // stays unclosed for ever (a void may give back to it), and must not slow every hold.
    index("credit_grants_live_idx")
      .on(t.userId, t.closedAt, t.expiresAt, t.id)
      .where(sql`${t.closedAt} is null and ${t.remaining} <> 0`),
    // The expiry sweep: unclosed grants by expiry.
    index("credit_grants_due_idx")
      .on(t.expiresAt)
      .where(sql`${t.closedAt} is null and ${t.expiresAt} is not null`),
    index("credit_grants_user_idx").on(t.userId, t.id),
    // One debt grant per user: every clawback that finds too little adds to the same one.
    uniqueIndex("credit_grants_one_debt_idx").on(t.userId).where(sql`${t.kind} = 'debt'`),
    check("credit_grants_remaining", sql`${t.remaining} >= 0 or ${t.kind} = 'debt'`),
  ],
);

// Which grants a spending row (a hold, a negative adjustment, a clawback) took its credits from.
// A void gives each draw back to its grant and deletes it.
export const grantDraws = sqliteTable(
  "grant_draws",
  {
    txId: integer("tx_id")
      .notNull()
      .references(() => transactions.id, { onDelete: "restrict" }),
    grantId: integer("grant_id")
      .notNull()
      .references(() => creditGrants.id, { onDelete: "restrict" }),
    amount: integer("amount").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.txId, t.grantId] }),
    index("grant_draws_grant_idx").on(t.grantId),
    check("grant_draws_positive", sql`${t.amount} > 0`),
  ],
);

export const stripeEvents = sqliteTable(
  "stripe_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    // Stripe's own `created` (seconds), for reading reordered deliveries.
    stripeCreated: integer("stripe_created").notNull(),
    receivedAt: integer("received_at").notNull().default(now),
    processedAt: integer("processed_at"),
    attempts: integer("attempts").notNull().default(0),
    error: text("error"),
    // processed: its effect (if any) is applied, in the same transaction as processed_at;
    // ignored: acknowledged without effect (a type we do not handle, or an object not this app's).
    outcome: text("outcome", { enum: ["processed", "ignored"] }),
  },
  (t) => [index("stripe_events_received_idx").on(t.receivedAt)],
);

// Every Checkout Session the app started, and what became of it, so a payment that is still
// processing, failed or expired is visible to its buyer (a paid one is also a ledger row).
export const CHECKOUT_STATUSES = ["open", "processing", "paid", "failed", "expired"] as const;
export type CheckoutStatus = (typeof CHECKOUT_STATUSES)[number];

export const checkoutAttempts = sqliteTable(
  "checkout_attempts",
  {
    sessionId: text("session_id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    pack: text("pack").notNull(),
    credits: integer("credits").notNull(),
    status: text("status", { enum: CHECKOUT_STATUSES }).notNull().default("open"),
    amountTotal: integer("amount_total"),
    currency: text("currency"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [index("checkout_attempts_user_idx").on(t.userId, t.createdAt)],
);

// A dispute about one of the app's payments: whether its funds are withdrawn, what the ledger
// took back for it, and how it ended. The account hold follows the open disputes.
export const disputes = sqliteTable(
  "disputes",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    paymentIntentId: text("payment_intent_id").notNull(),
    // Stripe's status: warning_needs_response (an inquiry), needs_response, under_review, won, lost...
    status: text("status").notNull(),
    fundsWithdrawn: integer("funds_withdrawn", { mode: "boolean" }).notNull().default(false),
    creditsTaken: integer("credits_taken").notNull().default(0),
    creditsReturned: integer("credits_returned").notNull().default(0),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [index("disputes_user_idx").on(t.userId)],
);

export const GENERATION_KINDS = ["image", "video"] as const;
export type GenerationKind = (typeof GENERATION_KINDS)[number];
export const GENERATION_STATUSES = ["queued", "running", "succeeded", "failed"] as const;
export type GenerationStatus = (typeof GENERATION_STATUSES)[number];

export const generations = sqliteTable(
  "generations",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    kind: text("kind", { enum: GENERATION_KINDS }).notNull(),
    prompt: text("prompt").notNull(),
    // JSON: size for images; resolution and duration for videos.
    options: text("options").notNull().default("{}"),
    cost: integer("cost").notNull(),
    status: text("status", { enum: GENERATION_STATUSES }).notNull().default("queued"),
    progress: integer("progress").notNull().default(0),
    holdId: integer("hold_id").references(() => transactions.id, { onDelete: "restrict" }),
    provider: text("provider").notNull(),
    providerJobId: text("provider_job_id"),
    resultPath: text("result_path"),
    resultMimeType: text("result_mime_type"),
    error: text("error"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
    finishedAt: integer("finished_at"),
    // Set when the owner deletes the result (decision 030): the row stays so the job's hold and its
    // ledger rows keep their story and a replayed request key cannot charge twice; the file is removed.
    deletedAt: integer("deleted_at"),
    // The video worker's claim (decision 036): the worker (instance) running the job, and until when
    // (epoch ms; renewed while it runs). A job with no owner or an expired lease may be claimed by
    // any worker, with one guarded UPDATE, so a job of a killed instance is taken over exactly once.
    // An image's lease is its request's: it keeps another instance's start-up from failing it.
    leaseOwner: text("lease_owner"),
    leaseUntil: integer("lease_until"),
  },
  (t) => [
    index("generations_user_idx").on(t.userId, t.createdAt),
    index("generations_status_idx").on(t.status),
  ],
);

// Single-use links sent by mail. Only the SHA-256 of the token is stored, so a copy of the
// database cannot be used to verify an address or reset a password.
export const EMAIL_TOKEN_PURPOSES = ["verify_email", "reset_password", "change_email"] as const;
export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number];

export const emailTokens = sqliteTable(
  "email_tokens",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: EMAIL_TOKEN_PURPOSES }).notNull(),
    tokenHash: text("token_hash").notNull().unique(),
    // The address the link was sent to (for change_email: the new address).
    email: text("email").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("email_tokens_user_idx").on(t.userId, t.purpose)],
);

// Mail waiting to be sent, sent, or given up on. A message is queued in the same transaction as
// what it announces (a token, a payment); a background sender delivers it with retries.
export const MAIL_STATUSES = ["pending", "sent", "failed"] as const;
export type MailStatus = (typeof MAIL_STATUSES)[number];

export const mailQueue = sqliteTable(
  "mail_queue",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    toAddress: text("to_address").notNull(),
    subject: text("subject").notNull(),
    textBody: text("text_body").notNull(),
    htmlBody: text("html_body").notNull(),
    // What kind of message (verify_email, reset_password, ...): for the admin view and the logs.
    kind: text("kind").notNull(),
    status: text("status", { enum: MAIL_STATUSES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull().default(now),
    lastError: text("last_error"),
    messageId: text("message_id"),
    createdAt: integer("created_at").notNull().default(now),
    sentAt: integer("sent_at"),
  },
  (t) => [index("mail_queue_due_idx").on(t.status, t.nextAttemptAt)],
);

// Every admin action (balance changes, refunds, clearing a flag): who, what, when, why.
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actorId: integer("actor_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    action: text("action").notNull(),
    targetUserId: integer("target_user_id").references(() => users.id, { onDelete: "restrict" }),
    reason: text("reason"),
    details: text("details"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("audit_log_created_idx").on(t.createdAt), index("audit_log_target_idx").on(t.targetUserId)],
);

// A user's Stripe subscription as the customer.subscription.* events describe it (the billing page
// shows it). Credits come only from paid invoices (subscription_periods), never from this row.
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: text("id").primaryKey(), // Stripe's sub_…
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    stripeCustomerId: text("stripe_customer_id").notNull(),
    // The configured plan of its price (null: a price no longer in CREDIT_PLANS).
    planId: text("plan_id"),
    priceId: text("price_id").notNull(),
    // Stripe's status: active, past_due, canceled, incomplete, unpaid, trialing...
    status: text("status").notNull(),
    currentPeriodStart: integer("current_period_start"),
    currentPeriodEnd: integer("current_period_end"),
    cancelAtPeriodEnd: integer("cancel_at_period_end", { mode: "boolean" }).notNull().default(false),
    canceledAt: integer("canceled_at"),
    endedAt: integer("ended_at"),
    // Stripe's `created` (seconds) of the event this row was last written from: an older event
    // delivered late never overwrites a newer state.
    stripeEventCreated: integer("stripe_event_created").notNull().default(0),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [index("subscriptions_user_idx").on(t.userId, t.createdAt)],
);

// One row per invoice of a subscription the app has seen paid or failed: the period it pays for
// and the plan grant it made (once per invoice).
export const subscriptionPeriods = sqliteTable(
  "subscription_periods",
  {
    invoiceId: text("invoice_id").primaryKey(), // Stripe's in_…
    subscriptionId: text("subscription_id").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    planId: text("plan_id"),
    // paid: its credits were granted (txId); failed: invoice.payment_failed, nothing granted yet.
    status: text("status", { enum: ["paid", "failed"] }).notNull(),
    periodStart: integer("period_start").notNull(),
    periodEnd: integer("period_end").notNull(),
    txId: integer("tx_id").references(() => transactions.id, { onDelete: "restrict" }),
    paymentIntentId: text("payment_intent_id"),
    amountPaid: integer("amount_paid"),
    currency: text("currency"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    index("subscription_periods_sub_idx").on(t.subscriptionId, t.periodStart),
    index("subscription_periods_user_idx").on(t.userId, t.createdAt),
    index("subscription_periods_payment_idx").on(t.paymentIntentId),
  ],
);

// Promotional codes an admin creates; a user redeems one once for credits (a `redeem` grant).
export const redeemCodes = sqliteTable(
  "redeem_codes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // Stored upper-case; redemption compares case-insensitively.
    code: text("code").notNull().unique(),
    credits: integer("credits").notNull(),
    // How long the redeemed credits stay spendable (null: never).
    creditsExpireAfterMs: integer("credits_expire_after_ms"),
    maxRedemptions: integer("max_redemptions").notNull(),
    // Counted inside the redemption's own transaction, never past max_redemptions.
    redemptionCount: integer("redemption_count").notNull().default(0),
    // The code can be redeemed until then (null: no end).
    redeemableUntil: integer("redeemable_until"),
    createdBy: integer("created_by")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    disabledAt: integer("disabled_at"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [check("redeem_codes_count", sql`${t.redemptionCount} >= 0 and ${t.redemptionCount} <= ${t.maxRedemptions}`)],
);

export const redemptions = sqliteTable(
  "redemptions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    codeId: integer("code_id")
      .notNull()
      .references(() => redeemCodes.id, { onDelete: "restrict" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    txId: integer("tx_id")
      .notNull()
      .references(() => transactions.id, { onDelete: "restrict" }),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("redemptions_once_idx").on(t.codeId, t.userId), index("redemptions_user_idx").on(t.userId)],
);

// Balance alerts (docs/decisions/028-balance-alerts.md): one row per user who set a threshold; no
// row means off. `fired_at` null means armed; set, it is the time the mail was queued (or the
// threshold was set while already below it), and `fired_tx_id` the user's last ledger row then:
// a later row showing the balance at or above the threshold is what re-arms it.
export const balanceAlerts = sqliteTable(
  "balance_alerts",
  {
    userId: integer("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    thresholdCredits: integer("threshold_credits").notNull(),
    firedAt: integer("fired_at"),
    firedTxId: integer("fired_tx_id"),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [check("balance_alerts_threshold_positive", sql`${t.thresholdCredits} > 0`)],
);

// Auto-recharge (decision 027). The card a user saved for off-session payments: one per user, as
// Stripe reported it (payment_method.attached, a setup-mode Checkout); removing it detaches it.
export const savedCards = sqliteTable("saved_cards", {
  userId: integer("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "restrict" }),
  paymentMethodId: text("payment_method_id").notNull(), // Stripe's pm_…
  brand: text("brand").notNull(),
  last4: text("last4").notNull(),
  createdAt: integer("created_at").notNull().default(now),
});

// "When my balance falls below threshold, buy pack", with a monthly cap (count and/or cents).
export const autoRechargeSettings = sqliteTable(
  "auto_recharge_settings",
  {
    userId: integer("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "restrict" }),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(false),
    thresholdCredits: integer("threshold_credits").notNull(),
    packId: text("pack_id").notNull(),
    maxRechargesPerMonth: integer("max_recharges_per_month"),
    maxAmountPerMonth: integer("max_amount_per_month"), // minor units of the pack's currency
    // Failed attempts since the last success: at 3 the app switches auto-recharge off.
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    // Why the app (not the user) switched it off; cleared when the user switches it on again.
    disabledReason: text("disabled_reason"),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [check("auto_recharge_threshold_positive", sql`${t.thresholdCredits} > 0`)],
);

export const RECHARGE_STATUSES = ["claimed", "sent", "succeeded", "failed"] as const;
export type RechargeStatus = (typeof RECHARGE_STATUSES)[number];

// One row per crossing: claimed (in the database, Stripe not called yet), sent (a PaymentIntent
// exists), then succeeded (its topup granted, txId) or failed. At most one claimed/sent per user.
export const autoRechargeAttempts = sqliteTable(
  "auto_recharge_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    packId: text("pack_id").notNull(),
    credits: integer("credits").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    paymentMethodId: text("payment_method_id").notNull(),
    status: text("status", { enum: RECHARGE_STATUSES }).notNull().default("claimed"),
    paymentIntentId: text("payment_intent_id").unique(),
    txId: integer("tx_id").references(() => transactions.id, { onDelete: "restrict" }),
    failureCode: text("failure_code"),
    balanceAtClaim: integer("balance_at_claim").notNull(),
    thresholdCredits: integer("threshold_credits").notNull(),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("auto_recharge_in_flight_idx").on(t.userId).where(sql`status in ('claimed', 'sent')`),
    index("auto_recharge_attempts_user_idx").on(t.userId, t.createdAt),
    index("auto_recharge_attempts_status_idx").on(t.status, t.updatedAt),
  ],
);

export type User = typeof users.$inferSelect;
export type Transaction = typeof transactions.$inferSelect;
export type Generation = typeof generations.$inferSelect;
export type StripeEventRow = typeof stripeEvents.$inferSelect;
export type CheckoutAttempt = typeof checkoutAttempts.$inferSelect;
export type DisputeRow = typeof disputes.$inferSelect;
export type EmailToken = typeof emailTokens.$inferSelect;
export type QueuedMail = typeof mailQueue.$inferSelect;
export type AuditEntry = typeof auditLog.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type CreditGrant = typeof creditGrants.$inferSelect;
export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type SubscriptionPeriod = typeof subscriptionPeriods.$inferSelect;
export type RedeemCode = typeof redeemCodes.$inferSelect;
export type Redemption = typeof redemptions.$inferSelect;
export type BalanceAlertRow = typeof balanceAlerts.$inferSelect;
export type SavedCard = typeof savedCards.$inferSelect;
export type AutoRechargeSettingsRow = typeof autoRechargeSettings.$inferSelect;
export type AutoRechargeAttempt = typeof autoRechargeAttempts.$inferSelect;
export type DailyTotal = typeof dailyTotals.$inferSelect;
export type UserDailyTotal = typeof userDailyTotals.$inferSelect;
