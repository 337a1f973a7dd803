import type { Generation, GenerationKind, GenerationStatus } from "#db/schema";

// What the owner sees of a job (the JSON API and the /generate page).

export type GenerationOptions = { size?: string; resolution?: string; durationSeconds?: number };

export type GenerationView = {
  id: string;
  kind: GenerationKind;
  status: GenerationStatus;
  /** 0-100; 100 once succeeded. */
  progress: number;
  /** Credits this job costs when it succeeds. */
  cost: number;
  /** The job's credit hold: pending while it runs, posted (charged) on success, voided (given back) on failure. */
  hold: "pending" | "posted" | "voided";
  prompt: string;
  options: GenerationOptions;
  provider: string;
  error: string | null;
  /** Where the finished file is served (signed-in owner only); null until succeeded. */
  resultUrl: string | null;
  mimeType: string | null;
  statusUrl: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
};

function parseOptions(text: string): GenerationOptions {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as GenerationOptions) : {};
  } catch {
    return {};
  }
}

export function toGenerationView(job: Generation): GenerationView {
  const done = job.status === "succeeded" && job.resultPath !== null;
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    progress: job.status === "succeeded" ? 100 : job.progress,
    cost: job.cost,
    hold: job.status === "succeeded" ? "posted" : job.status === "failed" ? "voided" : "pending",
    prompt: job.prompt,
    options: parseOptions(job.options),
    provider: job.provider,
    error: job.error,
    resultUrl: done ? `/generations/${job.id}/file` : null,
    mimeType: done ? job.resultMimeType : null,
    statusUrl: `/api/generations/${job.id}`,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
  };
}
