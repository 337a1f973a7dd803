import pino from "pino";

// One logger for the process. Secrets never reach it: anything that looks like one is redacted.
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info"),
  redact: {
    paths: ["password", "*.password", "passwordHash", "*.passwordHash", "headers.cookie", "headers.authorization", "*.secret"],
    censor: "[redacted]",
  },
  base: undefined,
});

export type Logger = typeof logger;
