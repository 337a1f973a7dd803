/**
 * "A user's balance just went down because of a spend": the generation service announces it once
 * per new hold, and whoever cares (balance alerts; auto-recharge may listen too) registers here at
 * start-up. Listeners run on the next turn of the event loop, never inside the request's own work,
 * so they cannot slow or fail a generation; a listener that throws (or whose promise rejects) is
 * logged and forgotten.
 */
import type { PortableDb } from "#db/client.server";

export type SpendListener = (db: PortableDb, userId: number) => void | Promise<unknown>;
type ListenerLog = { error: (obj: Record<string, unknown>, msg?: string) => void };

const listeners = new Set<SpendListener>();

/** Registers a listener; returns the function that removes it. */
export function onSpend(listener: SpendListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Called after a hold was placed (not for a replayed request, which held nothing). */
export function announceSpend(db: PortableDb, userId: number, log?: ListenerLog): void {
  if (listeners.size === 0) return;
  setImmediate(() => {
    // The listeners registered now: one removed since (a stopping server) is not called.
    for (const listener of listeners) {
      const failed = (error: unknown) => log?.error({ err: error, userId }, "a spend listener failed");
      try {
        const pending = listener(db, userId);
        if (pending) pending.then(undefined, failed);
      } catch (error) {
        failed(error);
      }
    }
  });
}
