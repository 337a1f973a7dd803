import { Link } from "@remix-run/react";
import type { GenerationView } from "~/services/generation-view.server";

// A job as its owner sees it: the result (picture, animated preview or video), its status with
// progress, and what it did to the balance — in the ledger's words (on hold, charged, nothing).

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

export function JobStatus({ job }: { job: GenerationView }) {
  const unfinished = job.status === "queued" || job.status === "running";
  return (
    <div className="space-y-1">
      <p className="flex flex-wrap items-center gap-2 text-sm">
        <span className={`rounded-full px-2 py-0.5 font-semibold ${STATUS_STYLE[job.status]}`} data-testid="job-status">
          {STATUS_LABEL[job.status]}
        </span>
        <span className="text-slate-700" data-testid="job-credits">
          {creditLine(job)}
        </span>
      </p>
      {unfinished ? (
        <div className="flex items-center gap-2 text-sm text-slate-700">
          <progress className="h-2 w-40" max={100} value={job.progress} aria-label={`Progress of ${job.kind}`}>
            {job.progress}%
          </progress>
          <span>{job.progress}%</span>
        </div>
      ) : null}
      {job.status === "failed" && job.error ? (
        <p className="text-sm text-red-800" data-testid="job-error">
          {job.error}
        </p>
      ) : null}
    </div>
  );
}

export function JobResult({ job, large = false }: { job: GenerationView; large?: boolean }) {
  const box = large ? "max-h-[28rem] w-full object-contain" : "aspect-square w-full object-cover";
  if (!job.resultUrl) {
    return (
      <div className={`${large ? "h-48" : "aspect-square"} flex w-full items-center justify-center rounded-md bg-slate-100 text-sm text-slate-600`}>
        {job.status === "failed" ? "No result" : job.status === "queued" ? "Waiting to start…" : "Working…"}
      </div>
    );
  }
  if (job.mimeType?.startsWith("video/")) {
    return <video src={job.resultUrl} className={`${box} rounded-md bg-black`} controls loop muted playsInline preload="metadata" />;
  }
  return <img src={job.resultUrl} alt={job.prompt} className={`${box} rounded-md bg-slate-100`} loading={large ? "eager" : "lazy"} />;
}

export function CurrentJob({ job }: { job: GenerationView }) {
  return (
    <section className="card space-y-3" aria-labelledby="current-job-title" data-testid="current-job" data-status={job.status}>
      <h2 id="current-job-title" className="text-lg font-semibold">
        Your {job.kind}
      </h2>
      <p className="text-sm text-slate-700">
        {describeOptions(job)} — “{job.prompt}”
      </p>
      <JobStatus job={job} />
      <JobResult job={job} large />
      {job.resultUrl ? (
        <p className="text-sm">
          <a className="text-indigo-700 underline" href={job.resultUrl} target="_blank" rel="noreferrer">
            Open the file
          </a>
          {job.mimeType === "image/gif" && job.kind === "video" ? (
            <span className="text-slate-600"> (an animated preview from the built-in generator)</span>
          ) : null}
        </p>
      ) : null}
    </section>
  );
}

export function GenerationGallery({ jobs }: { jobs: GenerationView[] }) {
  if (jobs.length === 0) {
    return <p className="text-sm text-slate-700">Nothing yet: your images and videos will appear here.</p>;
  }
  return (
    <ul className="grid grid-cols-2 gap-4 sm:grid-cols-3 lg:grid-cols-4" aria-label="Your generations">
      {jobs.map((job) => (
        <li key={job.id} className="card space-y-2 p-3 sm:p-3" data-testid="gallery-item" data-status={job.status} data-kind={job.kind}>
          <Link to={`/generate?job=${job.id}`} className="block" aria-label={`${describeOptions(job)}: ${job.prompt}`}>
            <JobResult job={job} />
          </Link>
          <p className="line-clamp-2 text-sm text-slate-900" title={job.prompt}>
            {job.prompt}
          </p>
          <p className="text-xs text-slate-600">
            {describeOptions(job)} · <time dateTime={job.createdAt}>{job.createdAt.slice(0, 16).replace("T", " ")} UTC</time>
          </p>
          <JobStatus job={job} />
        </li>
      ))}
    </ul>
  );
}
