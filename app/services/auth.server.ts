import { json, redirect } from "@remix-run/node";
import type { AppDb } from "#db/client.server";
import type { User } from "#db/schema";
import { safeRedirect, safeRedirectTarget } from "~/utils/safe-redirect";
import type { AuthRateLimiter, Refusal } from "./auth-rate-limit.server";
import type { Config } from "./env.server";
import { getDummyHash, hashPassword, verifyPassword } from "./password.server";
import { getRuntime } from "./runtime.server";
import type { AppSession, Toast } from "./session.server";
import { createUser, EmailTakenError, findUserByEmail, findUserById } from "./users.server";

type AuthDeps = { db: AppDb; limiter: AuthRateLimiter };

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
  const user = findUserByEmail(db, input.email);
  // Same work whether or not the account exists, so timing does not reveal registered emails.
  const ok = await verifyPassword(input.password, user?.passwordHash ?? (await getDummyHash()));
  if (!user || !ok) return { ok: false, reason: "invalid_credentials", message: "Email or password is incorrect." };
  await attempt.succeeded();
  return { ok: true, user };
}

export type SignupResult =
  | { ok: true; user: User }
  | Refusal
  | { ok: false; reason: "honeypot"; message: string }
  | { ok: false; reason: "email_taken"; message: string };

/** Creates an account. Every well-formed attempt counts against the limits, bots' included. */
export async function signUp(
  { db, limiter, config }: AuthDeps & { config: Config },
  input: { ip: string; email: string; password: string; honeypotFilled: boolean },
): Promise<SignupResult> {
  const refused = await limiter.consumeSignup(input.ip, input.email);
  if (refused) return refused;
  if (input.honeypotFilled) return { ok: false, reason: "honeypot", message: "The form was not submitted properly. Please try again." };
  try {
    const user = createUser(db, {
      email: input.email,
      passwordHash: await hashPassword(input.password),
      signupBonus: config.SIGNUP_BONUS_CREDITS,
      signupBonusExpiresAfterMs: config.SIGNUP_BONUS_EXPIRES_AFTER,
      adminEmails: config.adminEmails,
    });
    return { ok: true, user };
  } catch (error) {
    if (error instanceof EmailTakenError) return { ok: false, reason: "email_taken", message: error.message };
    throw error;
  }
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

export async function getOptionalUser(request: Request): Promise<User | null> {
  const userId = await getUserId(request);
  if (userId === null) return null;
  return findUserById(getRuntime().db, userId) ?? null;
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

/** JSON API: 401 JSON instead of a redirect. */
export async function requireApiUser(request: Request): Promise<User> {
  const user = await getOptionalUser(request);
  if (!user) throw json({ error: "unauthorized", message: "Sign in first." }, { status: 401 });
  return user;
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
  return redirect(safeRedirect(redirectTo, config.appUrl), {
    status: 303,
    headers: { "Set-Cookie": await sessionStorage.commitSession(session) },
  });
}

/** Ends the session server-side (the row is deleted), so a copied cookie is worthless afterwards. */
export async function logout(request: Request) {
  const { sessionStorage } = getRuntime();
  const session = await getSession(request);
  return redirect("/", {
    status: 303,
    headers: { "Set-Cookie": await sessionStorage.destroySession(session) },
  });
}
