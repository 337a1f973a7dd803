import { randomBytes } from "node:crypto";
import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useActionData, useLoaderData, useRevalidator } from "@remix-run/react";
import { useEffect } from "react";
import { CurrentJob, GenerationGallery } from "~/components/generation-gallery";
import { ImageForm, VideoForm } from "~/components/generation-forms";
import { requireUser } from "~/services/auth.server";
import { getBalance } from "~/services/money/ledger.server";
import { getGenerationService, type StartResult } from "~/services/generation.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { GENERATION_ID_PATTERN, ImageFormSchema, VideoFormSchema } from "~/utils/generation-schemas";

export const meta: MetaFunction = () => [{ title: "Generate · Credits Studio" }];

/** The document keeps the loader's no-store and, after a rate-limited post, the action's Retry-After. */
export const headers: HeadersFunction = ({ loaderHeaders, actionHeaders }) => {
  const out = new Headers();
  const cacheControl = loaderHeaders.get("Cache-Control");
  if (cacheControl) out.set("Cache-Control", cacheControl);
  const retryAfter = actionHeaders.get("Retry-After");
  if (retryAfter) out.set("Retry-After", retryAfter);
  return out;
};

const GALLERY_PAGE = 24;
/** How often the page reloads its data while a job runs: with JS (revalidation) and without (meta refresh). */
const POLL_MS = 1000;
const NO_JS_REFRESH_SECONDS = 2;

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const url = new URL(request.url);
  const service = getGenerationService();
  const jobParam = url.searchParams.get("job");
  const current = jobParam && GENERATION_ID_PATTERN.test(jobParam) ? (service.getJob(user.id, jobParam) ?? null) : null;
  const before = url.searchParams.get("before");
  const gallery = service.listJobs(user.id, { limit: GALLERY_PAGE, before: before && GENERATION_ID_PATTERN.test(before) ? before : null });
  const active = [current, ...gallery.items].some((job) => job && (job.status === "queued" || job.status === "running"));
  return json(
    {
      balance: getBalance(getRuntime().db, user.id),
      costs: service.costs,
      videoPrices: service.videoPrices,
      localPreview: service.provider.name === "local",
      current,
      gallery: gallery.items,
      nextBefore: gallery.nextBefore,
      olderPage: Boolean(before),
      active,
      // One key per page view, in both forms: a double-submitted form starts one job.
      requestKey: randomBytes(16).toString("base64url"),
    },
    { headers: { "Cache-Control": "no-store" } },
  );
}

const REFUSAL_STATUS: Record<Exclude<StartResult, { ok: true }>["reason"], number> = {
  insufficient_credits: 402,
  // Only requests made with an API key have a key limit; the page never sends one.
  key_limit_reached: 402,
  account_flagged: 403,
  idempotency_key_reused: 422,
  rate_limited: 429,
};

export async function action({ request }: ActionFunctionArgs) {
  const user = await requireUser(request);
  const formData = await request.formData();
  const intent = formData.get("intent") === "video" ? "video" : "image";
  const submission =
    intent === "video" ? parseWithZod(formData, { schema: VideoFormSchema }) : parseWithZod(formData, { schema: ImageFormSchema });
  if (submission.status !== "success") return json({ intent, result: submission.reply() }, { status: 400 });

  const service = getGenerationService();
  const value = submission.value;
  const opts = { requestKey: value.requestKey };
  const result =
    value.intent === "video" ? await service.startVideo(user.id, value, opts) : await service.generateImage(user.id, value, opts);
  if (!result.ok) {
    const headers: HeadersInit = result.reason === "rate_limited" ? { "Retry-After": String(result.retryAfterSeconds) } : {};
    return json({ intent, result: submission.reply({ formErrors: [result.message] }) }, { status: REFUSAL_STATUS[result.reason], headers });
  }

  const { job } = result;
  const toast =
    job.status === "failed"
      ? { kind: "error" as const, title: `The ${job.kind} failed`, description: `${job.error ?? ""} No credits were charged.`.trim() }
      : job.status === "succeeded"
        ? { kind: "success" as const, title: `Your ${job.kind} is ready`, description: `${job.cost} credits spent.` }
        : { kind: "info" as const, title: "Video started", description: `${job.cost} credits are on hold until it finishes; a failed video costs nothing.` };
  return redirectWithToast(request, `/generate?job=${job.id}`, toast);
}

/** With JavaScript: re-reads the page data while a job runs (balance, progress, results). */
function usePollWhile(active: boolean) {
  const revalidator = useRevalidator();
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      if (revalidator.state === "idle") revalidator.revalidate();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [active, revalidator]);
}

export default function Generate() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  usePollWhile(data.active);
  const previewNote = data.localPreview
    ? "The built-in generator makes a small animated preview (GIF), not a full-resolution video."
    : null;
  return (
    <div className="space-y-6">
      {data.active ? (
        <noscript>
          <meta httpEquiv="refresh" content={String(NO_JS_REFRESH_SECONDS)} />
        </noscript>
      ) : null}
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h1 className="text-2xl font-bold">Generate</h1>
        <p className="text-sm text-slate-700" data-testid="generate-balance">
          Balance: <strong>{data.balance.balance} credits</strong>
          {data.balance.onHold > 0 ? ` (${data.balance.onHold} more on hold for jobs in progress)` : ""} ·{" "}
          <Link to="/settings/billing" className="text-indigo-700 underline">
            Buy credits
          </Link>
        </p>
      </div>

      {data.current ? <CurrentJob job={data.current} /> : null}
      {data.active ? (
        <p className="text-sm text-slate-700">
          Jobs are running; this page updates by itself.{" "}
          <Link to={data.current ? `/generate?job=${data.current.id}` : "/generate"} className="text-indigo-700 underline" reloadDocument>
            Refresh
          </Link>
        </p>
      ) : null}

      <div className="grid gap-6 md:grid-cols-2">
        <ImageForm
          lastResult={actionData?.intent === "image" ? actionData.result : undefined}
          cost={data.costs.image}
          balance={data.balance.balance}
          requestKey={data.requestKey}
        />
        <VideoForm
          lastResult={actionData?.intent === "video" ? actionData.result : undefined}
          prices={data.videoPrices}
          balance={data.balance.balance}
          previewNote={previewNote}
          requestKey={data.requestKey}
        />
      </div>

      <section className="space-y-3" aria-labelledby="gallery-title">
        <h2 id="gallery-title" className="text-lg font-semibold">
          Your generations
        </h2>
        <GenerationGallery jobs={data.gallery} />
        <p className="flex gap-4 text-sm">
          {data.olderPage ? (
            <Link to="/generate" className="text-indigo-700 underline">
              Newest
            </Link>
          ) : null}
          {data.nextBefore ? (
            <Link to={`/generate?before=${data.nextBefore}`} className="text-indigo-700 underline">
              Older generations
            </Link>
          ) : null}
        </p>
      </section>
    </div>
  );
}
