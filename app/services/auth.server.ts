import { json, redirect } from "@remix-run/node";
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import { safeRedirect, safeRedirectTarget } from "~/utils/safe-redirect";
import { apiKeyRateLimiterFor, authenticateBearer } from "./api-keys/api-key-auth.server";
import type { ApiKeyRef } from "./api-keys/api-keys.server";
import type { AuthRateLimiter, Refusal } from "./auth-rate-limit.server";
import { getDummyHash, verifyPassword } from "./password.server";
import { getRuntime } from "./runtime.server";
import { clientIpOf } from "./security.server";
import { recordSessionUse, sessionUserOf, type AppSession, type SessionClient, type Toast } from "./session.server";
import { findUserByEmail } from "./users.server";

type AuthDeps = { db: PortableDb; limiter: AuthRateLimiter };

export type LoginResult = { ok: true; user: User } | Refusal | { ok: false; reason: "invalid_credentials"; message: string };

/**
 * Checks a log-in. The attempt takes its rate-limit points first, so past the limit the password
 * is not even looked at; only a right password gives them back.
 */
export async function logIn(
  { db, limiter }: AuthDeps,
  input: { ip: string; email: string; password: string },
): Promise<LoginResult> {
  const attempt = await limiter.beginLogin(input.ip, input.email);
  if (!attempt.ok) return attempt;
  const user = await findUserByEmail(db, input.email);
  // Same work whether or not the account exists, so timing does not reveal registered emails.
  const ok = await verifyPassword(input.password, user?.passwordHash ?? (await getDummyHash()));
  // A deleted account has a placeholder address and an unusable hash; the check is belt and braces.
  if (!user || user.deletedAt !== null || !ok) return { ok: false, reason: "invalid_credentials", message: "Email or password is incorrect." };
  await attempt.succeeded();
  return { ok: true, user };
}

export async function getSession(request: Request): Promise<AppSession> {
  return getRuntime().sessionStorage.getSession(request.headers.get("Cookie"));
}

export async function commitSession(session: AppSession): Promise<string> {
  return getRuntime().sessionStorage.commitSession(session);
}

export async function getUserId(request: Request): Promise<number | null> {
  const session = await getSession(request);
  const userId = session.get("userId");
  return typeof userId === "number" ? userId : null;
}

export function sessionClientOf(request: Request): SessionClient {
  return { userAgent: request.headers.get("User-Agent"), ip: clientIpOf(request) };
}

export async function getOptionalUser(request: Request): Promise<User | null> {
  const session = await getSession(request);
  const userId = session.get("userId");
  if (typeof userId !== "number") return null;
  const { db } = getRuntime();
  // The user and the session's last note in one statement: a page view costs two reads (the
  // session, this) and no write within the minute.
  const found = await sessionUserOf(db, session.id || null, userId);
  if (!found || found.user.deletedAt !== null) return null;
  // The account page lists sessions with where and when they were last used.
  if (found.session) await recordSessionUse(db, session.id, sessionClientOf(request), Date.now(), false, found.session.lastSeenAt);
  return found.user;
}

function loginRedirect(request: Request): Response {
  const url = new URL(request.url);
  const redirectTo = safeRedirectTarget(`${url.pathname}${url.search}`, getRuntime().config.appUrl);
  return redirect(redirectTo ? `/login?${new URLSearchParams({ redirectTo })}` : "/login", { status: 303 });
}

/** Pages: anonymous visitors go to /login?redirectTo=… */
export async function requireUser(request: Request): Promise<User> {
  const user = await getOptionalUser(request);
  if (!user) throw loginRedirect(request);
  return user;
}

/** Pages: anonymous → login, signed-in non-admins → 403. */
export async function requireAdmin(request: Request): Promise<User> {
  const user = await requireUser(request);
  if (user.role !== "admin") throw new Response("Forbidden: administrators only", { status: 403 });
  return user;
}

/** Who calls the JSON API, and through which key (null: a browser session). */
export type ApiCaller = { user: User; apiKey: ApiKeyRef | null };

const apiRefusal = (status: number, error: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  json({ error, message, ...extra }, { status, headers: { "Cache-Control": "no-store", ...headers } });

const invalidKey = () =>
  apiRefusal(401, "invalid_api_key", "The API key is missing, malformed, unknown or revoked. Send Authorization: Bearer csk_….", {}, {
    "WWW-Authenticate": 'Bearer realm="api", error="invalid_token"',
  });

/**
 * JSON API: an `Authorization: Bearer csk_…` key, or else the session cookie; 401 JSON instead of
 * a redirect. A present Authorization header decides alone: a bad key is refused even when a
 * session cookie comes with it.
 */
export async function requireApiCaller(request: Request): Promise<ApiCaller> {
  const header = request.headers.get("Authorization");
  if (header !== null) {
    const { db, config } = getRuntime();
    const auth = await authenticateBearer({ db, limiter: apiKeyRateLimiterFor(config) }, header);
    if (auth.ok) return { user: auth.user, apiKey: auth.apiKey };
    if (auth.reason === "invalid_api_key") throw invalidKey();
    throw apiRefusal(429, "rate_limited", `Too many requests with this API key: at most ${auth.limit} a minute. Try again in ${auth.retryAfterSeconds} s.`, {
      retryAfterSeconds: auth.retryAfterSeconds,
    }, { "Retry-After": String(auth.retryAfterSeconds) });
  }
  const user = await getOptionalUser(request);
  if (!user) throw apiRefusal(401, "unauthorized", "Sign in first, or send an API key (Authorization: Bearer csk_…).");
  return { user, apiKey: null };
}

/** JSON API, when only the caller's account matters. */
export async function requireApiUser(request: Request): Promise<User> {
  return (await requireApiCaller(request)).user;
}

/** Managing keys (/api/keys) needs the browser session: a key cannot mint, list or revoke keys. */
export async function requireSessionApiUser(request: Request): Promise<User> {
  const caller = await requireApiCaller(request);
  if (caller.apiKey) throw apiRefusal(403, "session_required", "API keys are managed with a signed-in browser session, not with an API key.");
  return caller.user;
}

/**
 * Starts a fresh session (a new id: no session fixation) for the user and redirects to
 * `redirectTo` if it is a safe path of APP_URL (it comes from the request), else to /generate.
 */
export async function createUserSession(request: Request, user: User, redirectTo: unknown, toast?: Toast) {
  const { sessionStorage, config } = getRuntime();
  const old = await getSession(request);
  if (old.id) await sessionStorage.destroySession(old);
  const session = await sessionStorage.getSession();
  session.set("userId", user.id);
  if (toast) session.flash("toast", toast);
  const setCookie = await sessionStorage.commitSession(session);
  // commitSession created the row but does not hand back its id: read it from the cookie just made.
  const created = await sessionStorage.getSession(setCookie.split(";")[0]);
  if (created.id) await recordSessionUse(getRuntime().db, created.id, sessionClientOf(request), Date.now(), true);
  return redirect(safeRedirect(redirectTo, config.appUrl), { status: 303, headers: { "Set-Cookie": setCookie } });
}

/** Ends the session server-side (the row is deleted), so a copied cookie is worthless afterwards. */
/**
 * Deletes the session and says so on the home page ("You are logged out"): the message rides in a
 * new anonymous session, since a flash in the deleted one would be lost with it.
 */
export async function logout(request: Request) {
  const { sessionStorage } = getRuntime();
  const session = await getSession(request);
  await sessionStorage.destroySession(session); // deletes the row; its clearing cookie is replaced below
  const fresh = await sessionStorage.getSession();
  fresh.flash("toast", { kind: "info", title: "You are logged out." } satisfies Toast);
  return redirect("/", { status: 303, headers: { "Set-Cookie": await sessionStorage.commitSession(fresh) } });
}
