import type { LoaderFunctionArgs } from "@remix-run/node";
import { createReadableStreamFromReadable } from "@remix-run/node";
import { requireApiCaller } from "~/services/auth.server";
import { getGenerationService } from "~/services/generation.server";
import { GENERATION_ID_PATTERN } from "~/utils/generation-schemas";

// GET /generations/:id/file — a finished result, for its owner and for an admin signed in with a
// browser session (the admin's view of a user's generations, decision 032; an admin's API key
// reads only its own files). 401 signed out; 404 for anyone else, unfinished, deleted jobs and
// missing files. `?download=1` asks the browser to save it
// (Content-Disposition: attachment) instead of showing it. Private caching: the file of a job never changes.
// Supports a single `Range: bytes=a-b` so <video> can seek.

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user, apiKey } = await requireApiCaller(request);
  const id = params.id ?? "";
  const viewer = { userId: user.id, admin: user.role === "admin" && apiKey === null };
  const file = GENERATION_ID_PATTERN.test(id) ? await getGenerationService().resultFile(viewer, id) : null;
  if (!file) return new Response("Not found", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });

  const download = new URL(request.url).searchParams.get("download") === "1";
  const headers = new Headers({
    "Content-Type": file.mimeType,
    "Cache-Control": "private, max-age=31536000, immutable",
    // The file name is ours (<job id>.<ext>, see results/folder-files.server.ts): nothing to escape.
    "Content-Disposition": `${download ? "attachment" : "inline"}; filename="${file.fileName}"`,
    "X-Content-Type-Options": "nosniff",
    "Accept-Ranges": "bytes",
  });
  const range = parseRange(request.headers.get("Range"), file.size);
  if (range === "invalid") {
    headers.set("Content-Range", `bytes */${file.size}`);
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: file.size - 1 };
  headers.set("Content-Length", String(file.size === 0 ? 0 : end - start + 1));
  if (range) headers.set("Content-Range", `bytes ${start}-${end}/${file.size}`);
  if (request.method === "HEAD" || file.size === 0) return new Response(null, { status: range ? 206 : 200, headers });
  const stream = createReadableStreamFromReadable(await file.read({ start, end }));
  return new Response(stream, { status: range ? 206 : 200, headers });
}

function parseRange(header: string | null, size: number): { start: number; end: number } | "invalid" | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return "invalid";
  let start: number;
  let end: number;
  if (match[1] === "") {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size) return "invalid";
  return { start, end };
}
