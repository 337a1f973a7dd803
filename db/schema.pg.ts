// GENERATED from db/schema.ts by scripts/gen-pg-schema.ts: do not edit. Change db/schema.ts, then
// run `npm run db:generate` (both dialects' schema and migrations). tests/unit/pg-schema.test.ts
// fails when this file is stale. Why: docs/decisions/034-postgresql-schema-and-migrations.md.
import { sql } from "drizzle-orm";
import { bigint, check, index, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { intBoolean, nowMs } from "./pg-types";

export const apiKeys = pgTable(
  "api_keys",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull().unique(),
    monthlyCreditLimit: bigint("monthly_credit_limit", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    lastUsedAt: bigint("last_used_at", { mode: "number" }),
    revokedAt: bigint("revoked_at", { mode: "number" }),
  },
  (t) => [
    index("api_keys_user_idx").on(t.userId, t.createdAt),
  ],
);

export const auditLog = pgTable(
  "audit_log",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    actorId: bigint("actor_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    action: text("action").notNull(),
    targetUserId: bigint("target_user_id", { mode: "number" }).references(() => users.id, { onDelete: "restrict" }),
    reason: text("reason"),
    details: text("details"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("audit_log_created_idx").on(t.createdAt),
    index("audit_log_target_idx").on(t.targetUserId),
  ],
);

export const autoRechargeAttempts = pgTable(
  "auto_recharge_attempts",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    packId: text("pack_id").notNull(),
    credits: bigint("credits", { mode: "number" }).notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    currency: text("currency").notNull(),
    paymentMethodId: text("payment_method_id").notNull(),
    status: text("status", { enum: ["claimed", "sent", "succeeded", "failed"] }).notNull().default("claimed"),
    paymentIntentId: text("payment_intent_id").unique(),
    txId: bigint("tx_id", { mode: "number" }).references(() => transactions.id, { onDelete: "restrict" }),
    failureCode: text("failure_code"),
    balanceAtClaim: bigint("balance_at_claim", { mode: "number" }).notNull(),
    thresholdCredits: bigint("threshold_credits", { mode: "number" }).notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    uniqueIndex("auto_recharge_in_flight_idx").on(t.userId).where(sql`status in ('claimed', 'sent')`),
    index("auto_recharge_attempts_user_idx").on(t.userId, t.createdAt),
    index("auto_recharge_attempts_status_idx").on(t.status, t.updatedAt),
  ],
);

export const autoRechargeSettings = pgTable(
  "auto_recharge_settings",
  {
    userId: bigint("user_id", { mode: "number" }).primaryKey().references(() => users.id, { onDelete: "restrict" }),
    enabled: intBoolean("enabled").notNull().default(sql`0`),
    thresholdCredits: bigint("threshold_credits", { mode: "number" }).notNull(),
    packId: text("pack_id").notNull(),
    maxRechargesPerMonth: bigint("max_recharges_per_month", { mode: "number" }),
    maxAmountPerMonth: bigint("max_amount_per_month", { mode: "number" }),
    consecutiveFailures: bigint("consecutive_failures", { mode: "number" }).notNull().default(0),
    disabledReason: text("disabled_reason"),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    check("auto_recharge_threshold_positive", sql`${t.thresholdCredits} > 0`),
  ],
);

export const balanceAlerts = pgTable(
  "balance_alerts",
  {
    userId: bigint("user_id", { mode: "number" }).primaryKey().references(() => users.id, { onDelete: "cascade" }),
    thresholdCredits: bigint("threshold_credits", { mode: "number" }).notNull(),
    firedAt: bigint("fired_at", { mode: "number" }),
    firedTxId: bigint("fired_tx_id", { mode: "number" }),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    check("balance_alerts_threshold_positive", sql`${t.thresholdCredits} > 0`),
  ],
);

export const checkoutAttempts = pgTable(
  "checkout_attempts",
  {
    sessionId: text("session_id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    pack: text("pack").notNull(),
    credits: bigint("credits", { mode: "number" }).notNull(),
    status: text("status", { enum: ["open", "processing", "paid", "failed", "expired"] }).notNull().default("open"),
    amountTotal: bigint("amount_total", { mode: "number" }),
    currency: text("currency"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("checkout_attempts_user_idx").on(t.userId, t.createdAt),
  ],
);

export const creditGrants = pgTable(
  "credit_grants",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    sourceTxId: bigint("source_tx_id", { mode: "number" }).unique().references(() => transactions.id, { onDelete: "restrict" }),
    kind: text("kind", { enum: ["purchase", "topup", "bonus", "admin", "reversal", "opening", "debt", "plan", "redeem"] }).notNull(),
    amount: bigint("amount", { mode: "number" }).notNull(),
    remaining: bigint("remaining", { mode: "number" }).notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    closedAt: bigint("closed_at", { mode: "number" }),
    expiryWarnedAt: bigint("expiry_warned_at", { mode: "number" }),
  },
  (t) => [
    index("credit_grants_live_idx").on(t.userId, t.closedAt, t.expiresAt, t.id).where(sql`${t.closedAt} is null and ${t.remaining} <> 0`),
    index("credit_grants_due_idx").on(t.expiresAt).where(sql`${t.closedAt} is null and ${t.expiresAt} is not null`),
    index("credit_grants_user_idx").on(t.userId, t.id),
    uniqueIndex("credit_grants_one_debt_idx").on(t.userId).where(sql`${t.kind} = 'debt'`),
    check("credit_grants_remaining", sql`${t.remaining} >= 0 or ${t.kind} = 'debt'`),
  ],
);

export const dailyTotals = pgTable(
  "daily_totals",
  {
    day: bigint("day", { mode: "number" }).notNull(),
    type: text("type", { enum: ["purchase", "topup", "usage", "bonus", "refund", "adjustment", "expire", "plan", "redeem"] }).notNull(),
    status: text("status", { enum: ["pending", "posted", "voided"] }).notNull(),
    currency: text("currency").notNull(),
    shard: bigint("shard", { mode: "number" }).notNull(),
    credits: bigint("credits", { mode: "number" }).notNull(),
    revenueMinor: bigint("revenue_minor", { mode: "number" }).notNull(),
    rowCount: bigint("row_count", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.day, t.type, t.status, t.currency, t.shard] }),
  ],
);

export const disputes = pgTable(
  "disputes",
  {
    id: text("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    paymentIntentId: text("payment_intent_id").notNull(),
    status: text("status").notNull(),
    fundsWithdrawn: intBoolean("funds_withdrawn").notNull().default(sql`0`),
    creditsTaken: bigint("credits_taken", { mode: "number" }).notNull().default(0),
    creditsReturned: bigint("credits_returned", { mode: "number" }).notNull().default(0),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("disputes_user_idx").on(t.userId),
  ],
);

export const emailTokens = pgTable(
  "email_tokens",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "cascade" }),
    purpose: text("purpose", { enum: ["verify_email", "reset_password", "change_email"] }).notNull(),
    tokenHash: text("token_hash").notNull().unique(),
    email: text("email").notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
    usedAt: bigint("used_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("email_tokens_user_idx").on(t.userId, t.purpose),
  ],
);

export const generations = pgTable(
  "generations",
  {
    id: text("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    kind: text("kind", { enum: ["image", "video"] }).notNull(),
    prompt: text("prompt").notNull(),
    options: text("options").notNull().default("{}"),
    cost: bigint("cost", { mode: "number" }).notNull(),
    status: text("status", { enum: ["queued", "running", "succeeded", "failed"] }).notNull().default("queued"),
    progress: bigint("progress", { mode: "number" }).notNull().default(0),
    holdId: bigint("hold_id", { mode: "number" }).references(() => transactions.id, { onDelete: "restrict" }),
    provider: text("provider").notNull(),
    providerJobId: text("provider_job_id"),
    resultPath: text("result_path"),
    resultMimeType: text("result_mime_type"),
    error: text("error"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
    finishedAt: bigint("finished_at", { mode: "number" }),
    deletedAt: bigint("deleted_at", { mode: "number" }),
    leaseOwner: text("lease_owner"),
    leaseUntil: bigint("lease_until", { mode: "number" }),
  },
  (t) => [
    index("generations_user_idx").on(t.userId, t.createdAt),
    index("generations_status_idx").on(t.status),
  ],
);

export const grantDraws = pgTable(
  "grant_draws",
  {
    txId: bigint("tx_id", { mode: "number" }).notNull().references(() => transactions.id, { onDelete: "restrict" }),
    grantId: bigint("grant_id", { mode: "number" }).notNull().references(() => creditGrants.id, { onDelete: "restrict" }),
    amount: bigint("amount", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.txId, t.grantId] }),
    index("grant_draws_grant_idx").on(t.grantId),
    check("grant_draws_positive", sql`${t.amount} > 0`),
  ],
);

export const mailQueue = pgTable(
  "mail_queue",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    toAddress: text("to_address").notNull(),
    subject: text("subject").notNull(),
    textBody: text("text_body").notNull(),
    htmlBody: text("html_body").notNull(),
    kind: text("kind").notNull(),
    status: text("status", { enum: ["pending", "sent", "failed"] }).notNull().default("pending"),
    attempts: bigint("attempts", { mode: "number" }).notNull().default(0),
    nextAttemptAt: bigint("next_attempt_at", { mode: "number" }).notNull().default(nowMs),
    lastError: text("last_error"),
    messageId: text("message_id"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    sentAt: bigint("sent_at", { mode: "number" }),
  },
  (t) => [
    index("mail_queue_due_idx").on(t.status, t.nextAttemptAt),
  ],
);

export const redeemCodes = pgTable(
  "redeem_codes",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    code: text("code").notNull().unique(),
    credits: bigint("credits", { mode: "number" }).notNull(),
    creditsExpireAfterMs: bigint("credits_expire_after_ms", { mode: "number" }),
    maxRedemptions: bigint("max_redemptions", { mode: "number" }).notNull(),
    redemptionCount: bigint("redemption_count", { mode: "number" }).notNull().default(0),
    redeemableUntil: bigint("redeemable_until", { mode: "number" }),
    createdBy: bigint("created_by", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    disabledAt: bigint("disabled_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    check("redeem_codes_count", sql`${t.redemptionCount} >= 0 and ${t.redemptionCount} <= ${t.maxRedemptions}`),
  ],
);

export const redemptions = pgTable(
  "redemptions",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    codeId: bigint("code_id", { mode: "number" }).notNull().references(() => redeemCodes.id, { onDelete: "restrict" }),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    txId: bigint("tx_id", { mode: "number" }).notNull().references(() => transactions.id, { onDelete: "restrict" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    uniqueIndex("redemptions_once_idx").on(t.codeId, t.userId),
    index("redemptions_user_idx").on(t.userId),
  ],
);

export const savedCards = pgTable(
  "saved_cards",
  {
    userId: bigint("user_id", { mode: "number" }).primaryKey().references(() => users.id, { onDelete: "restrict" }),
    paymentMethodId: text("payment_method_id").notNull(),
    brand: text("brand").notNull(),
    last4: text("last4").notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
);

export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).references(() => users.id, { onDelete: "cascade" }),
    data: text("data").notNull().default("{}"),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
    userAgent: text("user_agent"),
    ip: text("ip"),
    lastSeenAt: bigint("last_seen_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("sessions_user_idx").on(t.userId),
    index("sessions_expires_idx").on(t.expiresAt),
  ],
);

export const stripeEvents = pgTable(
  "stripe_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    stripeCreated: bigint("stripe_created", { mode: "number" }).notNull(),
    receivedAt: bigint("received_at", { mode: "number" }).notNull().default(nowMs),
    processedAt: bigint("processed_at", { mode: "number" }),
    attempts: bigint("attempts", { mode: "number" }).notNull().default(0),
    error: text("error"),
    outcome: text("outcome", { enum: ["processed", "ignored"] }),
  },
  (t) => [
    index("stripe_events_received_idx").on(t.receivedAt),
  ],
);

export const subscriptionPeriods = pgTable(
  "subscription_periods",
  {
    invoiceId: text("invoice_id").primaryKey(),
    subscriptionId: text("subscription_id").notNull(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    planId: text("plan_id"),
    status: text("status", { enum: ["paid", "failed"] }).notNull(),
    periodStart: bigint("period_start", { mode: "number" }).notNull(),
    periodEnd: bigint("period_end", { mode: "number" }).notNull(),
    txId: bigint("tx_id", { mode: "number" }).references(() => transactions.id, { onDelete: "restrict" }),
    paymentIntentId: text("payment_intent_id"),
    amountPaid: bigint("amount_paid", { mode: "number" }),
    currency: text("currency"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("subscription_periods_sub_idx").on(t.subscriptionId, t.periodStart),
    index("subscription_periods_user_idx").on(t.userId, t.createdAt),
    index("subscription_periods_payment_idx").on(t.paymentIntentId),
  ],
);

export const subscriptions = pgTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    stripeCustomerId: text("stripe_customer_id").notNull(),
    planId: text("plan_id"),
    priceId: text("price_id").notNull(),
    status: text("status").notNull(),
    currentPeriodStart: bigint("current_period_start", { mode: "number" }),
    currentPeriodEnd: bigint("current_period_end", { mode: "number" }),
    cancelAtPeriodEnd: intBoolean("cancel_at_period_end").notNull().default(sql`0`),
    canceledAt: bigint("canceled_at", { mode: "number" }),
    endedAt: bigint("ended_at", { mode: "number" }),
    stripeEventCreated: bigint("stripe_event_created", { mode: "number" }).notNull().default(0),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("subscriptions_user_idx").on(t.userId, t.createdAt),
  ],
);

export const transactions = pgTable(
  "transactions",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: bigint("user_id", { mode: "number" }).notNull().references(() => users.id, { onDelete: "restrict" }),
    amount: bigint("amount", { mode: "number" }).notNull(),
    type: text("type", { enum: ["purchase", "topup", "usage", "bonus", "refund", "adjustment", "expire", "plan", "redeem"] }).notNull(),
    status: text("status", { enum: ["pending", "posted", "voided"] }).notNull().default("posted"),
    idempotencyKey: text("idempotency_key").notNull().unique(),
    description: text("description").notNull(),
    stripePaymentId: text("stripe_payment_id"),
    balanceAfter: bigint("balance_after", { mode: "number" }).notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }),
    adminId: bigint("admin_id", { mode: "number" }).references(() => users.id, { onDelete: "restrict" }),
    reason: text("reason"),
    meta: text("meta"),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    settledAt: bigint("settled_at", { mode: "number" }),
    apiKeyId: bigint("api_key_id", { mode: "number" }).references(() => apiKeys.id, { onDelete: "restrict" }),
  },
  (t) => [
    index("transactions_user_history_idx").on(t.userId, t.id),
    index("transactions_user_type_idx").on(t.userId, t.type, t.id),
    index("transactions_pending_expiry_idx").on(t.expiresAt).where(sql`${t.status} = 'pending'`),
    index("transactions_payment_idx").on(t.stripePaymentId),
    index("transactions_created_idx").on(t.createdAt),
    index("transactions_admin_idx").on(t.adminId).where(sql`${t.adminId} is not null`),
    index("transactions_user_type_time_idx").on(t.userId, t.type, t.createdAt, t.status, t.amount),
    index("transactions_pending_user_idx").on(t.userId, t.type, t.amount).where(sql`${t.status} = 'pending'`),
    index("transactions_api_key_idx").on(t.apiKeyId, t.createdAt, t.status, t.amount).where(sql`${t.apiKeyId} is not null`),
    check("transactions_hold_shape", sql`${t.status} = 'posted' or (${t.type} = 'usage' and ${t.amount} < 0)`),
  ],
);

export const userDailyTotals = pgTable(
  "user_daily_totals",
  {
    userId: bigint("user_id", { mode: "number" }).notNull(),
    day: bigint("day", { mode: "number" }).notNull(),
    type: text("type", { enum: ["purchase", "topup", "usage", "bonus", "refund", "adjustment", "expire", "plan", "redeem"] }).notNull(),
    status: text("status", { enum: ["pending", "posted", "voided"] }).notNull(),
    credits: bigint("credits", { mode: "number" }).notNull(),
    rowCount: bigint("row_count", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.day, t.type, t.status] }),
  ],
);

export const users = pgTable(
  "users",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    email: text("email").notNull().unique(),
    passwordHash: text("password_hash").notNull(),
    role: text("role", { enum: ["user", "admin"] }).notNull().default("user"),
    credits: bigint("credits", { mode: "number" }).notNull().default(0),
    stripeCustomerId: text("stripe_customer_id").unique(),
    flaggedAt: bigint("flagged_at", { mode: "number" }),
    flaggedReason: text("flagged_reason"),
    emailVerifiedAt: bigint("email_verified_at", { mode: "number" }),
    deletedAt: bigint("deleted_at", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull().default(nowMs),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull().default(nowMs),
  },
  (t) => [
    index("users_created_at_idx").on(t.createdAt),
    index("users_credits_idx").on(t.credits),
    check("users_email_lower", sql`${t.email} = lower(${t.email})`),
  ],
);

export const userTotals = pgTable(
  "user_totals",
  {
    shard: bigint("shard", { mode: "number" }).primaryKey(),
    users: bigint("users", { mode: "number" }).notNull(),
    credits: bigint("credits", { mode: "number" }).notNull(),
  },
);
