import { ConfigError, parseDatabaseTarget, type DatabaseTarget } from "../app/services/env.server";

/**
 * The database a script works on, as the app reads it (DATABASE_URL, else DATABASE_PATH /
 * DATA_DIR), or null after printing each problem prefixed with the command (the caller exits 2).
 */
export function databaseTargetFor(command: string, env: Record<string, string | undefined> = process.env): DatabaseTarget | null {
  try {
    return parseDatabaseTarget(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`${command}: ${problem}`);
    return null;
  }
}
