// Registers every piece of in-process background work with the runtime. Imported once by the
// server entry; each service owns its own start/stop.
import { checkBalanceAlert } from "./alerts/balance-alerts.server";
import { onSpend } from "./spend-listeners.server";
import { backupDirFor, startBackupSchedule } from "./backup.server";
import { startExpiryWarnings } from "./expiry-warnings.server";
import { getGenerationService, startGenerationBackground } from "./generation.server";
import { startHoldSweeper } from "./money/hold-sweeper.server";
import { logger } from "./logger.server";
import { startMailSender } from "./mail/mail-sender.server";
import { createMailTransport, redactSmtpSecret } from "./mail/mail-transport.server";
import { deleteExpiredSessions } from "./session.server";
import { registerBackgroundStarter } from "./runtime.server";
import { getStripeContext, startStripe, stopStripe } from "./stripe.server";
import { rechargeAfterSpend, startRechargeReconciler } from "./money/auto-recharge.server";

registerBackgroundStarter("session-cleanup", async ({ db }) => {
  await deleteExpiredSessions(db);
  const timer = setInterval(() => {
    deleteExpiredSessions(db).catch((err: unknown) => logger.warn({ err }, "expired sessions were not deleted; the next run tries again"));
  }, 60 * 60 * 1000);
  timer.unref();
  return { name: "session-cleanup", stop: () => clearInterval(timer) };
});

// Stripe first among the money paths: the emulator (test mode) must be up before the first
// checkout, and it is stopped last so in-flight webhook deliveries can finish.
registerBackgroundStarter("stripe", async ({ config }) => {
  await startStripe(config);
  return { name: "stripe", stop: () => stopStripe() };
});

// Generation: fails or resumes the jobs a previous process left unfinished, then runs the video
// worker. Stopped before the database closes, letting in-flight provider calls end.
registerBackgroundStarter("generation", (rt) => startGenerationBackground(rt));

// Jobs whose hold already ended (a sweep outside this process, a failure that met a locked
// database) are failed; a posted hold with an unfinished job is logged loudly.
registerBackgroundStarter("generation-reconciler", (rt) =>
  getGenerationService(rt).startReconciler(rt.config.GENERATION_RECONCILE_INTERVAL_SECONDS * 1000),
);

// Holds nobody posted or voided (a crash, a lost job) are given back after their timeout. Runs
// once at start-up (after generation has settled what it can), then every interval. The money
// wing knows nothing of jobs: the generation service's hook fails the job of each voided hold in
// the same transaction as the void.
registerBackgroundStarter("hold-sweeper", (rt) => {
  const { db, config } = rt;
  const generation = getGenerationService(rt);
  const sweeper = startHoldSweeper(db, {
    intervalMs: config.HOLD_SWEEP_INTERVAL_SECONDS * 1000,
    log: logger,
    onVoided: (hold, tx) => generation.onHoldVoided(hold, tx),
  });
  return { name: "hold-sweeper", stop: () => sweeper.stop() };
});

// Mail: delivers what the flows queued (mail_queue), with retries and backoff. Stopped after the
// HTTP server closed and before the database does, letting a send in progress finish.
registerBackgroundStarter("mail-sender", ({ db, config }) => {
  const transport = createMailTransport(config.mail, { timeoutMs: config.MAIL_SEND_TIMEOUT });
  const smtpUrl = config.mail.transport === "smtp" ? config.mail.smtpUrl : undefined;
  if (config.mail.transport === "outbox") logger.info({ dir: config.mail.dir }, "mail goes to the local outbox, not SMTP (see /dev/outbox)");
  const sender = startMailSender(db, {
    transport,
    retrySchedule: config.MAIL_RETRY_SCHEDULE,
    intervalMs: config.MAIL_SEND_INTERVAL,
    sendTimeoutMs: config.MAIL_SEND_TIMEOUT,
    log: logger,
    redact: (text) => redactSmtpSecret(text, smtpUrl),
  });
  return { name: "mail-sender", stop: () => sender.stop() };
});

// Credit expiry warnings (decision 025): queued with the mail, so registered after the sender and
// stopped before it. Off with EXPIRY_WARNING_MIN_CREDITS=0.
registerBackgroundStarter("expiry-warnings", ({ db, config }) => {
  const warnings = config.EXPIRY_WARNING_MIN_CREDITS > 0
    ? startExpiryWarnings(db, {
        appUrl: config.appUrl,
        minCredits: config.EXPIRY_WARNING_MIN_CREDITS,
        beforeMs: config.EXPIRY_WARNING_BEFORE,
        intervalMs: config.EXPIRY_WARNING_INTERVAL,
        log: logger,
      })
    : null;
  return { name: "expiry-warnings", stop: () => warnings?.stop() };
});

// Balance alerts (decision 028): checked after every new hold, off the request's path.
registerBackgroundStarter("balance-alerts", ({ config }) => {
  const off = onSpend((db, userId) => checkBalanceAlert(db, userId, { appUrl: config.appUrl }));
  return { name: "balance-alerts", stop: off };
});

// Auto-recharge (decision 027): every new hold may cross a user's threshold (checked off the
// request's path); the job re-sends attempts claimed but never answered (a crash between the
// claim and Stripe; the same Idempotency-Key, so the same PaymentIntent) and settles sent ones
// whose webhook never came. Runs once at start-up, then every interval.
registerBackgroundStarter("auto-recharge", ({ db, config }) => {
  const deps = { db, stripe: getStripeContext().stripe, config, log: logger };
  const off = onSpend((_db, userId) => rechargeAfterSpend(deps, userId));
  const job = startRechargeReconciler(deps, {
    intervalMs: config.AUTO_RECHARGE_RECONCILE_INTERVAL,
    claimedAfterMs: 10_000,
    sentAfterMs: 10 * 60_000,
  });
  return { name: "auto-recharge", stop: () => (off(), job.stop()) };
});

// Daily online backup (BACKUP_SCHEDULE, off by default). Registered last so it stops first: a
// backup in progress finishes before the database is checkpointed and closed.
registerBackgroundStarter("backup-schedule", ({ db, config }) =>
  startBackupSchedule(db, { schedule: config.BACKUP_SCHEDULE, retention: config.BACKUP_RETENTION, dir: backupDirFor(config) }),
);

