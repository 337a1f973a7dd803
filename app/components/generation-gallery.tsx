import { Form, Link } from "@remix-run/react";
import type { GenerationView } from "~/services/generation-view.server";

// A job as its owner sees it: the result (picture, animated preview or video), its status with
// progress, and what it did to the balance — in the ledger's words (on hold, charged, nothing).
// Results are thumbnails in the gallery; one result at a time is shown enlarged (?job=…).

const STATUS_LABEL: Record<GenerationView["status"], string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
};

const STATUS_STYLE: Record<GenerationView["status"], string> = {
  queued: "bg-slate-100 text-slate-800",
  running: "bg-sky-100 text-sky-900",
  succeeded: "bg-emerald-100 text-emerald-900",
  failed: "bg-red-100 text-red-900",
};

function describeOptions(job: GenerationView): string {
  if (job.kind === "image") return `Image · ${job.options.size ?? ""}`;
  return `Video · ${job.options.resolution ?? ""} · ${job.options.durationSeconds ?? "?"} s`;
}

function creditLine(job: GenerationView): string {
  if (job.hold === "posted") return `${job.cost} credits charged`;
  if (job.hold === "voided") return "No credits charged";
  return `${job.cost} credits on hold`;
}

/** The links of the gallery's actions: plain URLs, so every action works without JavaScript. */
export const galleryLinks = {
  view: (job: GenerationView) => `/generate?job=${job.id}#current-job`,
  download: (job: GenerationView) => (job.resultUrl ? `${job.resultUrl}?download=1` : null),
  reuse: (job: GenerationView) => `/generate?${new URLSearchParams({ prompt: job.prompt, kind: job.kind })}#${job.kind}-form`,
  confirmDelete: (job: GenerationView) => `/generate?delete=${job.id}#delete-confirm`,
};

/** A styled bar instead of the browser's <progress>: the same semantics through ARIA. */
export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div className="flex items-center gap-2 text-sm text-slate-700">
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        className="h-2 w-40 max-w-full overflow-hidden rounded-full bg-slate-200"
        data-testid="job-progress"
      >
        <div className="h-full rounded-full bg-indigo-600 transition-[width] duration-500" style={{ width: `${pct}%` }} />
      </div>
      <span aria-hidden="true">{pct}%</span>
    </div>
  );
}

export function JobStatus({ job, compact = false }: { job: GenerationView; compact?: boolean }) {
  const unfinished = job.status === "queued" || job.status === "running";
  return (
    <div className="space-y-1">
      <p className={`flex flex-wrap items-center gap-2 ${compact ? "text-xs" : "text-sm"}`}>
        <span className={`rounded-full px-2 py-0.5 font-semibold ${STATUS_STYLE[job.status]}`} data-testid="job-status">
          {STATUS_LABEL[job.status]}
        </span>
        <span className="text-slate-700" data-testid="job-credits">
          {creditLine(job)}
        </span>
      </p>
      {unfinished ? <ProgressBar value={job.progress} label={`Progress of ${job.kind} “${job.prompt.slice(0, 60)}”`} /> : null}
      {job.status === "failed" && job.error ? (
        <p className="text-sm text-red-800" data-testid="job-error">
          {job.error}
        </p>
      ) : null}
    </div>
  );
}

export function JobResult({ job, large = false }: { job: GenerationView; large?: boolean }) {
  // Enlarged, but never taller than about half a phone screen: the forms stay within reach.
  const box = large ? "max-h-80 w-full object-contain" : "aspect-square w-full object-cover";
  if (!job.resultUrl) {
    return (
      <div
        className={`${large ? "h-32" : "aspect-square"} flex w-full items-center justify-center rounded-md bg-slate-100 p-1 text-center text-xs text-slate-700`}
      >
        {job.status === "failed" ? "No result" : job.status === "queued" ? "Waiting to start…" : "Working…"}
      </div>
    );
  }
  if (job.mimeType?.startsWith("video/")) {
    return <video src={job.resultUrl} className={`${box} rounded-md bg-black`} controls={large} loop muted playsInline preload="metadata" />;
  }
  return <img src={job.resultUrl} alt={large ? job.prompt : ""} className={`${box} rounded-md bg-slate-100`} loading={large ? "eager" : "lazy"} />;
}

function Actions({ job, small = false }: { job: GenerationView; small?: boolean }) {
  const download = galleryLinks.download(job);
  const finished = job.status === "succeeded" || job.status === "failed";
  const cls = "text-indigo-700 underline underline-offset-2 hover:text-indigo-900";
  // The visible words are short (the thumbnails are small); screen readers hear which result.
  const which = <span className="sr-only"> “{job.prompt.slice(0, 60)}”</span>;
  return (
    <p className={`flex flex-wrap gap-x-3 gap-y-1 ${small ? "text-xs" : "text-sm"}`}>
      {download ? (
        <a className={cls} href={download} download data-testid="action-download">
          Download{which}
        </a>
      ) : null}
      <Link className={cls} to={galleryLinks.reuse(job)} data-testid="action-reuse">
        Use this prompt{which}
      </Link>
      {finished ? (
        <Link className={`${cls} text-red-800 hover:text-red-900`} to={galleryLinks.confirmDelete(job)} data-testid="action-delete">
          Delete{which}
        </Link>
      ) : null}
    </p>
  );
}

export function CurrentJob({ job }: { job: GenerationView }) {
  const ready = job.status === "succeeded";
  return (
    <section className="card space-y-3" id="current-job" aria-labelledby="current-job-title" data-testid="current-job" data-status={job.status}>
      <h2 id="current-job-title" className="text-lg font-semibold">
        {ready ? `${job.kind === "video" ? "Video" : "Image"} ready` : `Your ${job.kind}`}
      </h2>
      <p className="text-sm text-slate-700">
        {describeOptions(job)} — “{job.prompt}”
      </p>
      <JobStatus job={job} />
      <JobResult job={job} large />
      {job.mimeType === "image/gif" && job.kind === "video" ? (
        <p className="text-sm text-slate-600">An animated preview from the built-in generator.</p>
      ) : null}
      <Actions job={job} />
    </section>
  );
}

/** Queued and running jobs, from the server: a refresh (or coming back later) still shows them. */
export function RunningJobs({ jobs }: { jobs: GenerationView[] }) {
  if (jobs.length === 0) return null;
  return (
    <section className="card space-y-3" aria-labelledby="running-title" data-testid="running-jobs">
      <h2 id="running-title" className="text-lg font-semibold">
        In progress
      </h2>
      <ul className="space-y-3">
        {jobs.map((job) => (
          <li key={job.id} className="space-y-1" data-testid="running-job" data-status={job.status}>
            <p className="text-sm text-slate-900">
              <Link to={galleryLinks.view(job)} className="underline underline-offset-2">
                {describeOptions(job)}
              </Link>{" "}
              — “<span className="break-words">{job.prompt.slice(0, 120)}</span>”
            </p>
            <JobStatus job={job} />
          </li>
        ))}
      </ul>
      <p className="text-sm text-slate-600">A failed job costs nothing: its hold is given back.</p>
    </section>
  );
}

/** "Video ready": jobs this page was following that have finished since. */
export function ReadyNotices({ jobs }: { jobs: GenerationView[] }) {
  return (
    <div role="status" className="space-y-2" data-testid="ready-notices">
      {jobs.map((job) => (
        <p
          key={job.id}
          className={`rounded-md p-3 text-sm ring-1 ${job.status === "succeeded" ? "bg-emerald-50 text-emerald-950 ring-emerald-300" : "bg-red-50 text-red-900 ring-red-300"}`}
          data-testid="ready-notice"
        >
          <strong>{job.status === "succeeded" ? `${job.kind === "video" ? "Video" : "Image"} ready` : `The ${job.kind} failed; no credits were charged`}</strong>
          : “{job.prompt.slice(0, 80)}” ·{" "}
          <Link to={galleryLinks.view(job)} className="underline underline-offset-2">
            View
          </Link>
        </p>
      ))}
    </div>
  );
}

export function DeleteConfirm({ job }: { job: GenerationView }) {
  return (
    <section id="delete-confirm" className="card space-y-3 ring-red-300" aria-labelledby="delete-confirm-title" data-testid="delete-confirm">
      <h2 id="delete-confirm-title" className="text-lg font-semibold">
        Delete this {job.kind}?
      </h2>
      <p className="text-sm text-slate-700">
        “{job.prompt.slice(0, 200)}” — the file is removed for good. What it cost stays in your credit history.
      </p>
      <div className="flex flex-wrap gap-3">
        <Form method="post" action="/generate">
          <input type="hidden" name="intent" value="delete" />
          <input type="hidden" name="id" value={job.id} />
          <button type="submit" className="btn-danger">
            Delete for good
          </button>
        </Form>
        <Link to="/generate#gallery-title" className="btn-secondary">
          Keep it
        </Link>
      </div>
    </section>
  );
}

export function GenerationGallery({ jobs }: { jobs: GenerationView[] }) {
  if (jobs.length === 0) {
    return <p className="text-sm text-slate-700">Nothing yet: your images and videos will appear here.</p>;
  }
  return (
    <ul className="grid grid-cols-2 gap-3 sm:grid-cols-3 md:grid-cols-4 lg:grid-cols-6" aria-label="Your generations">
      {jobs.map((job) => (
        <li
          key={job.id}
          className="space-y-1.5 rounded-lg bg-white p-2 shadow-sm ring-1 ring-slate-200"
          data-testid="gallery-item"
          data-status={job.status}
          data-kind={job.kind}
          data-id={job.id}
        >
          <Link to={galleryLinks.view(job)} className="block" aria-label={`Open ${describeOptions(job)}: ${job.prompt.slice(0, 100)}`}>
            <JobResult job={job} />
          </Link>
          <p className="line-clamp-1 text-xs text-slate-900" title={job.prompt}>
            {job.prompt}
          </p>
          <p className="text-xs text-slate-600">
            {describeOptions(job)} · <time dateTime={job.createdAt}>{job.createdAt.slice(0, 16).replace("T", " ")}</time>
          </p>
          {job.status === "succeeded" ? null : <JobStatus job={job} compact />}
          <Actions job={job} small />
        </li>
      ))}
    </ul>
  );
}
