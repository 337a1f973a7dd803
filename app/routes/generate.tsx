import { randomBytes } from "node:crypto";
import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useActionData, useLoaderData, useRevalidator } from "@remix-run/react";
import { useEffect, useRef, useState } from "react";
import { CurrentJob, DeleteConfirm, GenerationGallery, ReadyNotices, RunningJobs } from "~/components/generation-gallery";
import { ImageForm, VideoForm } from "~/components/generation-forms";
import { requireUser } from "~/services/auth.server";
import { readBalance } from "~/services/money/ledger.server";
import { getGenerationService, type StartResult } from "~/services/generation.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import type { GenerationView } from "~/services/generation-view.server";
import { DeleteFormSchema, GENERATION_ID_PATTERN, ImageFormSchema, PrefillSchema, VideoFormSchema } from "~/utils/generation-schemas";

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
/** At most this many jobs are followed through `?watch=` (the page's own refresh URL). */
const MAX_WATCH = 10;

const validId = (v: string | null): v is string => v !== null && GENERATION_ID_PATTERN.test(v);

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const url = new URL(request.url);
  const service = getGenerationService();
  const jobParam = url.searchParams.get("job");
  const current = jobParam && GENERATION_ID_PATTERN.test(jobParam) ? ((await service.getJob(user.id, jobParam)) ?? null) : null;
  const before = url.searchParams.get("before");
  const gallery = await service.listJobs(user.id, { limit: GALLERY_PAGE, before: before && GENERATION_ID_PATTERN.test(before) ? before : null });
  const running = await service.listUnfinished(user.id);
  // `watch`: jobs this page saw running. Those that have finished since are announced ("Video
  // ready"); the no-JS refresh keeps the list in its URL, so it works without JavaScript too.
  const watched = [...new Set((url.searchParams.get("watch") ?? "").split(",").filter(validId))].slice(0, MAX_WATCH);
  const ready = (await Promise.all(watched.map((id) => service.getJob(user.id, id))))
    .filter((job): job is GenerationView => job !== undefined && (job.status === "succeeded" || job.status === "failed"));
  const active = running.length > 0 || (current !== null && (current.status === "queued" || current.status === "running"));
  const refreshUrl = refreshTarget(current?.id ?? null, [...new Set([...watched, ...running.map((j) => j.id)])].slice(0, MAX_WATCH));
  const deleteParam = url.searchParams.get("delete");
  const confirmDelete = validId(deleteParam) ? ((await service.getJob(user.id, deleteParam)) ?? null) : null;
  const prefill = PrefillSchema.safeParse({ prompt: url.searchParams.get("prompt") ?? "", kind: url.searchParams.get("kind") ?? "image" });
  return json(
    {
      balance: await readBalance(getRuntime().db, user.id),
      running,
      ready,
      refreshUrl,
      confirmDelete: confirmDelete && (confirmDelete.status === "succeeded" || confirmDelete.status === "failed") ? confirmDelete : null,
      prefill: prefill.success ? prefill.data : null,
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

function refreshTarget(jobId: string | null, watch: string[]): string {
  const params = new URLSearchParams();
  if (jobId) params.set("job", jobId);
  if (watch.length) params.set("watch", watch.join(","));
  const query = params.toString();
  return query ? `/generate?${query}` : "/generate";
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
  if (formData.get("intent") === "delete") return deleteAction(request, user.id, formData);
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
  const watch = job.status === "queued" || job.status === "running" ? `&watch=${job.id}` : "";
  return redirectWithToast(request, `/generate?job=${job.id}${watch}#current-job`, toast);
}

/** Delete: only the owner's finished job. Anyone else's id answers 404, as if it did not exist. */
async function deleteAction(request: Request, userId: number, formData: FormData) {
  const parsed = DeleteFormSchema.safeParse(Object.fromEntries(formData));
  const result = parsed.success ? await getGenerationService().deleteJob(userId, parsed.data.id) : ({ ok: false, reason: "not_found" } as const);
  if (!result.ok) {
    const message = result.reason === "unfinished" ? "A job still running cannot be deleted; wait until it ends." : "No such generation.";
    return json({ intent: "delete" as const, message }, { status: result.reason === "unfinished" ? 409 : 404 });
  }
  return redirectWithToast(request, "/generate#gallery-title", {
    kind: "success",
    title: "Deleted",
    description: "The file is removed; what it cost stays in your credit history.",
  });
}

type StatusJson = { job: GenerationView };

/**
 * With JavaScript: follows each unfinished job through its status route (/api/generations/:id),
 * showing its progress as it comes; when one ends, the page data is read again (balance, gallery)
 * and the job is announced. Without JavaScript a meta refresh does the same.
 */
function useFollowJobs(jobs: GenerationView[]) {
  const revalidator = useRevalidator();
  const [live, setLive] = useState<Record<string, GenerationView>>({});
  const [ended, setEnded] = useState<GenerationView[]>([]);
  const ids = jobs.map((j) => j.id).join(",");
  const revalidate = useRef(revalidator.revalidate);
  revalidate.current = revalidator.revalidate;
  useEffect(() => {
    if (!ids) return;
    let stopped = false;
    const timer = setInterval(async () => {
      for (const id of ids.split(",")) {
        try {
          const res = await fetch(`/api/generations/${id}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
          if (!res.ok || stopped) continue;
          const { job } = (await res.json()) as StatusJson;
          setLive((prev) => ({ ...prev, [id]: job }));
          if (job.status === "succeeded" || job.status === "failed") {
            setEnded((prev) => (prev.some((j) => j.id === id) ? prev : [...prev, job]));
            revalidate.current();
          }
        } catch {
          // A dropped poll is retried at the next tick.
        }
      }
    }, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [ids]);
  return { live, ended };
}

export default function Generate() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const { live, ended } = useFollowJobs(data.running);
  const previewNote = data.localPreview
    ? "The built-in generator makes a small animated preview (GIF), not a full-resolution video."
    : null;
  const fresh = (job: GenerationView) => live[job.id] ?? job;
  const current = data.current ? fresh(data.current) : null;
  const running = data.running.map(fresh).filter((job) => job.status === "queued" || job.status === "running");
  const ready = [...data.ready, ...ended.filter((e) => !data.ready.some((r) => r.id === e.id))];
  const formResult = (intent: "image" | "video") =>
    actionData && actionData.intent === intent && "result" in actionData ? actionData.result : undefined;
  return (
    <div className="space-y-6">
      {data.active ? (
        <noscript>
          <meta httpEquiv="refresh" content={`${NO_JS_REFRESH_SECONDS};url=${data.refreshUrl}`} />
        </noscript>
      ) : null}
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h1 className="text-2xl font-bold">Generate</h1>
        <p className="flex flex-wrap gap-x-4 text-sm">
          {/* On a phone the gallery is below both forms: one tap away. */}
          <a href="#gallery-title" className="text-indigo-700 underline" data-testid="jump-to-gallery">
            Your generations
          </a>
          <Link to="/settings/billing" className="text-indigo-700 underline">
            Buy credits
          </Link>
        </p>
      </div>

      <ReadyNotices jobs={ready} />
      {actionData?.intent === "delete" && "message" in actionData ? (
        <p role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300">
          {actionData.message}
        </p>
      ) : null}
      {data.confirmDelete ? <DeleteConfirm job={data.confirmDelete} /> : null}

      {/* Keyed by the prefill: "Use this prompt" on a mounted page must start the form afresh
          (a form reads its default values once). */}
      <div className="grid gap-6 md:grid-cols-2" key={data.prefill ? `${data.prefill.kind}:${data.prefill.prompt}` : "blank"}>
        <ImageForm
          lastResult={formResult("image")}
          cost={data.costs.image}
          balance={data.balance.balance}
          requestKey={data.requestKey}
          prompt={data.prefill?.kind === "image" ? data.prefill.prompt : undefined}
        />
        <VideoForm
          lastResult={formResult("video")}
          prices={data.videoPrices}
          balance={data.balance.balance}
          previewNote={previewNote}
          requestKey={data.requestKey}
          prompt={data.prefill?.kind === "video" ? data.prefill.prompt : undefined}
        />
      </div>

      <RunningJobs jobs={running.filter((job) => job.id !== current?.id)} />
      {current ? <CurrentJob job={current} /> : null}
      {data.active ? (
        <p className="text-sm text-slate-700">
          {data.balance.onHold > 0 ? `${data.balance.onHold} credits are on hold for jobs in progress. ` : ""}
          This page updates by itself.{" "}
          <Link to={data.refreshUrl} className="text-indigo-700 underline" reloadDocument>
            Refresh
          </Link>
        </p>
      ) : null}

      <section className="space-y-3" aria-labelledby="gallery-title">
        <h2 id="gallery-title" className="scroll-mt-4 text-lg font-semibold">
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
