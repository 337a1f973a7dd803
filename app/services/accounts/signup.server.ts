/**
 * Sign-up. The answer never tells whether an address is registered: a new address and a taken
 * one both end in "check your inbox", nobody is logged in, and both branches do the same costly
 * work (the password hash) before answering. The difference goes by mail, to the address itself:
 * a verification link for a new account, a "someone tried to sign up with your address" note for
 * an existing one. See docs/decisions/018-verification-and-admin-bootstrap.md.
 */
import type { PortableDb } from "#db/client.server";
import type { AuthRateLimiter, Refusal } from "../auth-rate-limit.server";
import type { Config } from "../env.server";
import { hashPassword } from "../password.server";
import { createUser, EmailTakenError, findUserByEmail, normalizeEmail } from "../users.server";
import { queueSignupAttemptMail, queueVerificationMail } from "./verification-mail.server";

export type SignupResult = { ok: true } | Refusal | { ok: false; reason: "honeypot"; message: string };

type SignupDeps = { db: PortableDb; config: Config; limiter: AuthRateLimiter };

/** Every well-formed attempt counts against the limits, bots' included. */
export async function signUp(
  { db, limiter, config }: SignupDeps,
  input: { ip: string; email: string; password: string; honeypotFilled: boolean },
): Promise<SignupResult> {
  const refused = await limiter.consumeSignup(input.ip, input.email);
  if (refused) return refused;
  if (input.honeypotFilled) return { ok: false, reason: "honeypot", message: "The form was not submitted properly. Please try again." };
  const email = normalizeEmail(input.email);
  // Hashed in both branches: a taken address must not answer faster than a new one.
  const passwordHash = await hashPassword(input.password);
  if (await findUserByEmail(db, email)) {
    await queueSignupAttemptMail(db, config, email);
    return { ok: true };
  }
  try {
    await createUser(db, { email, passwordHash }, (tx, user) => queueVerificationMail(tx, config, user));
  } catch (error) {
    if (!(error instanceof EmailTakenError)) throw error;
    // Lost a race with another sign-up for the same address: it is taken now, same answer.
    await queueSignupAttemptMail(db, config, email);
  }
  return { ok: true };
}
