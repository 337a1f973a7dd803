// Registers every piece of in-process background work with the runtime. Imported once by the
// server entry; each service owns its own start/stop.
import { deleteExpiredSessions } from "./session.server";
import { registerBackgroundStarter } from "./runtime.server";

registerBackgroundStarter("session-cleanup", ({ db }) => {
  deleteExpiredSessions(db);
  const timer = setInterval(() => deleteExpiredSessions(db), 60 * 60 * 1000);
  timer.unref();
  return { name: "session-cleanup", stop: () => clearInterval(timer) };
});
