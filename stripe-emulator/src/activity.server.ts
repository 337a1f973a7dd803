/**
 * Counts background work that is running or scheduled (webhook deliveries, retries, delayed
 * payments) so that tests can wait until the emulator is quiet.
 */
export type ActivityTracker = ReturnType<typeof createActivityTracker>;

export function createActivityTracker() {
  let active = 0;
  let waiters: Array<() => void> = [];

  return {
    /** Marks one piece of work as started; call the returned function (once) when it is over. */
    begin(): () => void {
      active += 1;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        active -= 1;
        if (active === 0) {
          const ready = waiters;
          waiters = [];
          for (const resolve of ready) resolve();
        }
      };
    },

    whenIdle(): Promise<void> {
      if (active === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;

/**
 * Timers that count as activity and can all be cancelled at once. Scheduling the same key again
 * replaces the earlier timer. A run that throws is reported to `onError`, never swallowed.
 */
export function createScheduler(activity: ActivityTracker, onError: (key: string, error: unknown) => void) {
  const timers = new Map<string, { timer: NodeJS.Timeout; end: () => void }>();
  let closed = false;

  function cancel(key: string): void {
    const entry = timers.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    timers.delete(key);
    entry.end();
  }

  function schedule(key: string, delayMs: number, run: () => Promise<void> | void): void {
    if (closed) return;
    cancel(key);
    const end = activity.begin();
    const timer = setTimeout(
      () => {
        timers.delete(key);
        // The run counts as activity until it settles; the timer's own `end` comes after.
        const endRun = activity.begin();
        end();
        Promise.resolve()
          .then(run)
          .catch((error: unknown) => onError(key, error))
          .finally(endRun);
      },
      Math.max(0, Math.min(delayMs, 2 ** 31 - 1)),
    );
    timers.set(key, { timer, end });
  }

  function cancelAll(): void {
    closed = true;
    for (const key of [...timers.keys()]) cancel(key);
  }

  return { schedule, cancel, cancelAll };
}
