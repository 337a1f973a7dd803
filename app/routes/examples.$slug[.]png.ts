import type { LoaderFunctionArgs } from "@remix-run/node";
import { z } from "zod";
import { landingExamplePng } from "~/services/site/landing-examples.server";

const Params = z.object({ slug: z.string().regex(/^[a-z0-9-]{1,64}$/) });

export async function loader({ params }: LoaderFunctionArgs) {
  const parsed = Params.safeParse(params);
  const png = parsed.success ? landingExamplePng(parsed.data.slug) : null;
  if (!png) throw new Response("Not found", { status: 404 });
  // The same prompt always draws the same picture: a day of caching is safe.
  return new Response(new Uint8Array(png), { headers: { "Content-Type": "image/png", "Cache-Control": "public, max-age=86400" } });
}
