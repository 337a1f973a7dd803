import { createHmac } from "node:crypto";
import type Stripe from "stripe";
import type { ActivityTracker, Scheduler } from "./activity.server";
import type { EmulatorStore } from "./store.server";

/**
 * Webhook delivery, the way Stripe does it: every event is recorded first (in the same SQLite
 * transaction as the change that caused it), then POSTed to the endpoint with a `Stripe-Signature`
 * header, asynchronously. A non-2xx answer, a redirect, a timeout or a network error is retried
 * after the next delay of the retry schedule; when the schedule is used up the event is marked
 * failed. Every attempt is recorded. Order between events is not guaranteed.
 */

/** 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 12 h (about 2.7 days in all). */
export const DEFAULT_RETRY_SCHEDULE_MS = [
  1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
  43_200_000, 43_200_000, 43_200_000, 43_200_000,
];

const ATTEMPT_TIMEOUT_MS = 10_000;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the whole secret>`. */
export function signWebhookPayload(payload: string, secret: string, timestampSeconds: number): string {
  const signature = createHmac("sha256", secret).update(`${timestampSeconds}.${payload}`, "utf8").digest("hex");
  return `t=${timestampSeconds},v1=${signature}`;
}

/** Stripe sends events pretty-printed with two spaces; the signature covers these exact bytes. */
export function serializeEvent(event: Stripe.Event): string {
  return JSON.stringify(event, null, 2);
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

export function createWebhookDispatcher(deps: {
  store: EmulatorStore;
  webhookUrl: string | null;
  webhookSecret: string;
  retryScheduleMs: number[];
  activity: ActivityTracker;
  scheduler: Scheduler;
  now: () => number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}) {
  const { store, webhookUrl, webhookSecret, retryScheduleMs, activity, scheduler, now, log } = deps;
  const inFlight = new Set<AbortController>();
  let closed = false;

  function scheduleAttempt(eventId: string, delayMs: number): void {
    scheduler.schedule(`webhook:${eventId}`, delayMs, () => attemptDelivery(eventId));
  }

  async function attemptDelivery(eventId: string): Promise<void> {
    const record = store.getEvent(eventId);
    if (closed || !webhookUrl || !record || record.deliveryStatus !== "pending") return;
    const attempt = record.attempts + 1;
    const payload = serializeEvent({ ...record.event, pending_webhooks: 1 });
    const startedAt = now();
    const controller = new AbortController();
    inFlight.add(controller);
    const end = activity.begin();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(webhookUrl, {
        method: "POST",
        headers: {
          "Content-Type": "application/json; charset=utf-8",
          "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
          "Stripe-Signature": signWebhookPayload(payload, webhookSecret, Math.floor(startedAt / 1000)),
        },
        body: payload,
        redirect: "manual",
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
      });
      statusCode = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      error = describeFetchError(cause);
    } finally {
      inFlight.delete(controller);
    }
    try {
      if (closed) return; // stopped mid-flight: the event stays pending and resumes on restart
      const finishedAt = now();
      const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
      store.transaction(() => {
        store.insertAttempt({
          eventId,
          attempt: store.countAttempts(eventId) + 1,
          url: webhookUrl,
          startedAt,
          durationMs: finishedAt - startedAt,
          statusCode,
          error,
        });
        if (delivered) {
          store.updateDelivery(eventId, "delivered", attempt, null);
        } else if (attempt <= retryScheduleMs.length) {
          store.updateDelivery(eventId, "pending", attempt, finishedAt + retryScheduleMs[attempt - 1]);
        } else {
          store.updateDelivery(eventId, "failed", attempt, null);
        }
      });
      const fields = { eventId, type: record.event.type, attempt, statusCode, error };
      if (delivered) {
        log("stripe-emulator: webhook delivered", fields);
      } else if (attempt <= retryScheduleMs.length) {
        log("stripe-emulator: webhook delivery failed, will retry", {
          ...fields,
          retryInMs: retryScheduleMs[attempt - 1],
        });
        scheduleAttempt(eventId, retryScheduleMs[attempt - 1]);
      } else {
        log("stripe-emulator: webhook delivery failed, giving up", fields);
      }
    } finally {
      end();
    }
  }

  return {
    /**
     * Records an event (call inside the transaction that caused it) and schedules its delivery
     * for after the transaction: if the transaction rolls back, the delivery finds no event.
     */
    record(event: Stripe.Event): void {
      store.insertEvent(event, webhookUrl ? "pending" : "not_sent");
      if (webhookUrl) scheduleAttempt(event.id, 0);
    },

    pendingWebhooks(): number {
      return webhookUrl ? 1 : 0;
    },

    /** Sends an event again, whatever happened to it before (like `stripe events resend`). */
    resend(eventId: string): boolean {
      const record = store.getEvent(eventId);
      if (!record || !webhookUrl) return false;
      store.updateDelivery(eventId, "pending", 0, now());
      scheduleAttempt(eventId, 0);
      return true;
    },

    /** After a restart: picks up deliveries that were pending when the emulator stopped. */
    resumePending(): void {
      if (!webhookUrl) return;
      for (const { id, nextAttemptAt } of store.pendingEvents()) {
        scheduleAttempt(id, nextAttemptAt === null ? 0 : nextAttemptAt - now());
      }
    },

    close(): void {
      closed = true;
      for (const controller of inFlight) controller.abort();
    },
  };
}

/** `fetch failed` says little; its cause says ECONNREFUSED, ENOTFOUND, a timeout... */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`;
}
