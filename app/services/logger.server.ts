import pino from "pino";

// One logger for the process. Secrets never reach it: anything that looks like one is redacted.
// An API key is also scrubbed from the finished line wherever it appears (an error message, a
// value nobody expected to carry one), since a key in a log is as good as the key itself.

const API_KEY_IN_TEXT = /csk_[A-Za-z0-9_-]{20,}/g;

/** A log line with every API key-like string replaced by its first characters. */
export function scrubApiKeys(line: string): string {
  return line.replace(API_KEY_IN_TEXT, (key) => `${key.slice(0, 12)}…[redacted]`);
}

export const logger = pino(
  {
    level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info"),
    redact: {
      paths: [
        "password",
        "*.password",
        "passwordHash",
        "*.passwordHash",
        "headers.cookie",
        "headers.authorization",
        "*.headers.cookie",
        "*.headers.authorization",
        "authorization",
        "*.authorization",
        "*.secret",
      ],
      censor: "[redacted]",
    },
    base: undefined,
  },
  { write: (line: string) => process.stdout.write(line.includes("csk_") ? scrubApiKeys(line) : line) },
);

export type Logger = typeof logger;
