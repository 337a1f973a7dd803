import type { SubmissionResult } from "@conform-to/react";
import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";
import { ValidatedForm } from "~/components/account-forms";
import { Field } from "~/components/forms";
import { SessionList } from "~/components/session-list";
import { deleteAccount } from "~/services/accounts/account-deletion.server";
import { getAccountMailLimiter } from "~/services/accounts/account-limits.server";
import { changePassword, requestEmailChange } from "~/services/accounts/account-settings.server";
import { getSession, requireUser } from "~/services/auth.server";
import { getAuthRateLimiter, retryAfterHeaders, type Refusal } from "~/services/auth-rate-limit.server";
import { resultStoreFor } from "~/services/results/result-store.server";
import { getRuntime } from "~/services/runtime.server";
import { listUserSessions, revokeOtherSessions } from "~/services/session.server";
import { redirectWithToast, redirectWithToastInNewSession } from "~/services/toast.server";
import { ChangeEmailSchema, ChangePasswordSchema, DELETE_CONFIRMATION, DeleteAccountSchema } from "~/utils/account-schemas";

export const meta: MetaFunction = () => [{ title: "Account · Credits Studio" }];

export const headers: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("Retry-After");
  return retryAfter ? { "Retry-After": retryAfter, "Cache-Control": "no-store" } : new Headers();
};

const HERE = "/settings/account";
const PASSWORDS = ["currentPassword", "newPassword", "password"];

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const current = (await getSession(request)).id;
  const sessions = (await listUserSessions(getRuntime().db, user.id)).map((s) => ({ ...s, current: s.id === current }));
  return json({ email: user.email, verified: user.emailVerifiedAt !== null, sessions });
}

type Reply = SubmissionResult<string[]>;
const refused = (intent: string, result: Reply, status: number, init?: ResponseInit) => json({ intent, result }, { status, ...init });
const limited = (intent: string, reply: Reply, r: Refusal) => refused(intent, reply, 429, { headers: retryAfterHeaders(r) });

export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireUser(request);
  const formData = await request.formData();
  const intent = formData.get("intent");
  const { db, config } = getRuntime();
  const ip = context.clientIp ?? "unknown";
  const limiter = getAuthRateLimiter(config);
  const sessionId = (await getSession(request)).id || null;

  if (intent === "sign-out-others") {
    const ended = await revokeOtherSessions(db, user.id, sessionId);
    return redirectWithToast(request, HERE, { kind: "success", title: ended === 1 ? "1 other session was signed out." : `${ended} other sessions were signed out.` });
  }
  if (intent === "change-password") {
    const submission = parseWithZod(formData, { schema: ChangePasswordSchema });
    if (submission.status !== "success") return refused(intent, submission.reply({ hideFields: PASSWORDS }), 400);
    const result = await changePassword({ db, config, limiter }, { ip, user, sessionId, ...submission.value });
    if (result.ok) return redirectWithToast(request, HERE, { kind: "success", title: "Your password was changed.", description: "Every other session was signed out." });
    if (result.reason === "rate_limited") return limited(intent, submission.reply({ formErrors: [result.message], hideFields: PASSWORDS }), result);
    return refused(intent, submission.reply({ fieldErrors: { currentPassword: [result.message] }, hideFields: PASSWORDS }), 400);
  }
  if (intent === "change-email") {
    const submission = parseWithZod(formData, { schema: ChangeEmailSchema });
    if (submission.status !== "success") return refused(intent, submission.reply({ hideFields: PASSWORDS }), 400);
    const { newEmail, password } = submission.value;
    const result = await requestEmailChange({ db, config, limiter, mailLimiter: getAccountMailLimiter(config) }, { ip, user, password, newEmail });
    if (result.ok) {
      return redirectWithToast(request, HERE, {
        kind: "success",
        title: "We sent a link to the new address.",
        description: "Your address changes once you open it and confirm. Until then, nothing changes.",
      });
    }
    if (result.reason === "rate_limited") return limited(intent, submission.reply({ formErrors: [result.message], hideFields: PASSWORDS }), result);
    const field = result.reason === "wrong_password" ? "password" : "newEmail";
    return refused(intent, submission.reply({ fieldErrors: { [field]: [result.message] }, hideFields: PASSWORDS }), 400);
  }
  if (intent === "delete-account") {
    const submission = parseWithZod(formData, { schema: DeleteAccountSchema });
    if (submission.status !== "success") return refused(intent, submission.reply({ hideFields: PASSWORDS }), 400);
    const result = await deleteAccount({ db, limiter, results: resultStoreFor(config.results) }, { ip, user, password: submission.value.password });
    if (result.ok) return redirectWithToastInNewSession("/", { kind: "success", title: "Your account was deleted.", description: "We sent a last message to its address." });
    if (result.reason === "rate_limited") return limited(intent, submission.reply({ formErrors: [result.message], hideFields: PASSWORDS }), result);
    if (result.reason === "already_deleted") return redirectWithToast(request, "/", { kind: "info", title: "This account was already deleted." });
    return refused(intent, submission.reply({ fieldErrors: { password: [result.message] }, hideFields: PASSWORDS }), 400);
  }
  return json({ intent: null, result: undefined }, { status: 400 });
}

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return (
    <section aria-labelledby={id} className="card space-y-4">
      <h2 id={id} className="text-lg font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

export default function AccountSettings() {
  const { email, verified, sessions } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const resultFor = (intent: string) => (data?.intent === intent ? data.result : undefined);
  return (
    <div className="max-w-2xl space-y-6">
      <h1 className="text-2xl font-bold">Account</h1>
      <p data-testid="account-email">
        Signed in as <strong>{email}</strong> {verified ? "(verified)" : "(not verified yet)"}
      </p>
      <Section title="Change password">
        <ValidatedForm id="change-password" action={HERE} intent="change-password" schema={ChangePasswordSchema} lastResult={resultFor("change-password")} submitLabel="Change password">
          {(f) => (
            <>
              <Field meta={f.currentPassword} label="Current password" type="password" autoComplete="current-password" />
              <Field meta={f.newPassword} label="New password" type="password" autoComplete="new-password" hint="At least 8 characters. Every other session is signed out." />
            </>
          )}
        </ValidatedForm>
      </Section>
      <Section title="Change e-mail">
        <ValidatedForm id="change-email" action={HERE} intent="change-email" schema={ChangeEmailSchema} lastResult={resultFor("change-email")} submitLabel="Send a link to the new address">
          {(f) => (
            <>
              <Field meta={f.newEmail} label="New e-mail address" type="email" autoComplete="email" hint="The change happens once the new address confirms it." />
              <Field meta={f.password} label="Password" type="password" autoComplete="current-password" />
            </>
          )}
        </ValidatedForm>
      </Section>
      <Section title="Active sessions">
        <SessionList sessions={sessions} />
      </Section>
      <Section title="Delete account">
        <p className="text-sm text-slate-700">
          Your address, password, sessions and generated files are removed, and credits on hold are released. The record of payments and credit movements is kept, as accounting requires.
        </p>
        <ValidatedForm id="delete-account" action={HERE} intent="delete-account" schema={DeleteAccountSchema} lastResult={resultFor("delete-account")} submitLabel="Delete my account" danger>
          {(f) => (
            <>
              <Field meta={f.password} label="Password" type="password" autoComplete="current-password" />
              <Field meta={f.confirm} label={`Type ${DELETE_CONFIRMATION} to confirm`} autoComplete="off" />
            </>
          )}
        </ValidatedForm>
      </Section>
    </div>
  );
}
