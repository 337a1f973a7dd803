import { DatabaseOpenError, openServerDatabase, type ServerDb } from "#db/server-db.server";
import { ConfigError, initConfig, type Config } from "./env.server";
import { closeLimiterStore, openLimiterStore } from "./limiter-store.server";
import { logger } from "./logger.server";
import { createAppSessionStorage, resolveSessionSecret, type AppSessionStorage } from "./session.server";
import { syncAdminRoles } from "./users.server";

/** A piece of in-process background work (sweeper, video worker, emulator...). */
export type BackgroundTask = { name: string; stop(): void | Promise<void> };

export type Runtime = {
  config: Config;
  /** SQLite by default, PostgreSQL with DATABASE_URL: services use its portable executor. */
  db: ServerDb;
  sessionStorage: AppSessionStorage;
  startedAt: number;
  tasks: BackgroundTask[];
};

let runtime: Runtime | undefined;
type Starter = (rt: Runtime) => Promise<BackgroundTask | void> | BackgroundTask | void;
const starters: Array<{ name: string; start: Starter }> = [];

/** Services register their background work here; it starts with the runtime and stops with it. */
export function registerBackgroundStarter(name: string, start: Starter): void {
  starters.push({ name, start });
}

/**
 * Boots the process: config (fails loudly), database (migrated), admin roles, background work.
 * Called once by the server entry before it listens.
 */
export async function startRuntime(env: Record<string, string | undefined> = process.env): Promise<Runtime> {
  if (runtime) return runtime;
  const config = initConfig(env);
  const { db, applied } = await openDatabaseOf(config);
  if (applied.length) logger.info({ applied, database: db.shown }, "database migrated");
  const roles = await syncAdminRoles(db, config.adminEmails);
  if (roles.promoted || roles.demoted) logger.info(roles, "admin roles synced from ADMIN_EMAILS");
  const sessionStorage = createAppSessionStorage(db, config, resolveSessionSecret(config));
  // Rate limits in Redis when REDIS_URL is set: waits briefly so the first requests are counted
  // with the other instances; unreachable, the app starts anyway, limited per instance (033).
  const limits = await openLimiterStore(config);
  if (limits === "redis-unreachable") logger.warn("REDIS_URL is set but Redis does not answer yet: rate limits are per instance until it does");
  const rt: Runtime = { config, db, sessionStorage, startedAt: Date.now(), tasks: [] };
  runtime = rt;
  for (const starter of starters) {
    const task = await starter.start(rt);
    if (task) rt.tasks.push(task);
  }
  return rt;
}

/** The database the configuration names. An unreachable PostgreSQL is a configuration error
 * (exit 78, one line, the password masked): the operator's URL or network is wrong. */
async function openDatabaseOf(config: Config): Promise<{ db: ServerDb; applied: string[] }> {
  try {
    return await openServerDatabase(
      config.DATABASE_URL
        ? { dialect: "postgres", url: config.DATABASE_URL }
        : { dialect: "sqlite", path: config.databasePath, busyTimeoutMs: config.DATABASE_BUSY_TIMEOUT_MS },
    );
  } catch (error) {
    if (error instanceof DatabaseOpenError) throw new ConfigError([error.message]);
    throw error;
  }
}

export function getRuntime(): Runtime {
  if (!runtime) throw new Error("The runtime has not been started (startRuntime is called by the server entry).");
  return runtime;
}

export function isRuntimeReady(): boolean {
  return runtime !== undefined && runtime.db.isOpen();
}

/** Stops background work in reverse order, closes the Redis connection, then checkpoints and closes the database. */
export async function stopRuntime(): Promise<void> {
  const rt = runtime;
  if (!rt) return;
  for (const task of [...rt.tasks].reverse()) {
    try {
      await task.stop();
    } catch (error) {
      logger.error({ err: error, task: task.name }, "background task failed to stop cleanly");
    }
  }
  await closeLimiterStore();
  // Writes already queued are committed (and answered) before the connection closes.
  await rt.db.close();
  runtime = undefined;
}
