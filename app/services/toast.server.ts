import crypto from "node:crypto";
import { redirect } from "@remix-run/node";
import { commitSession, getSession } from "./auth.server";
import { getRuntime } from "./runtime.server";
import type { Toast } from "./session.server";

export type { Toast };

/** Redirects (303) and shows a one-time message on the next page. */
export async function redirectWithToast(request: Request, to: string, toast: Toast, init: ResponseInit = {}) {
  const session = await getSession(request);
  session.flash("toast", toast);
  const headers = new Headers(init.headers);
  headers.append("Set-Cookie", await commitSession(session));
  return redirect(to, { status: 303, ...init, headers });
}

/**
 * The same, in a new anonymous session: for answers after the request's own session row was
 * deleted (account deleted, every session signed out), where a flash on the old id would be lost.
 */
export async function redirectWithToastInNewSession(to: string, toast: Toast) {
  const { sessionStorage } = getRuntime();
  const session = await sessionStorage.getSession();
  session.flash("toast", toast);
  return redirect(to, { status: 303, headers: { "Set-Cookie": await sessionStorage.commitSession(session) } });
}

/**
 * Reads and consumes the pending toast: the flash is removed from the session store here, so the
 * response that renders it is the only one that has it. The headers must go on that response.
 * `id` tells two toasts apart, so a new message is shown even if the last one was dismissed.
 */
export async function getToast(request: Request): Promise<{ toast: (Toast & { id: string }) | null; headers: Headers | null }> {
  const session = await getSession(request);
  const toast = session.get("toast") ?? null;
  if (!toast) return { toast: null, headers: null };
  return { toast: { ...toast, id: crypto.randomUUID() }, headers: new Headers({ "Set-Cookie": await commitSession(session) }) };
}
