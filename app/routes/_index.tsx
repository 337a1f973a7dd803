import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { getOptionalUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await getOptionalUser(request);
  const { config } = getRuntime();
  return json({
    signedIn: Boolean(user),
    bonus: config.SIGNUP_BONUS_CREDITS,
    imageCost: config.IMAGE_COST,
    videoCost: config.VIDEO_COST,
    videoSeconds: config.VIDEO_COST_SECONDS,
  });
}

export default function Index() {
  const { signedIn, bonus, imageCost, videoCost, videoSeconds } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-6">
      <h1 className="text-3xl font-bold">Generate images and videos with credits</h1>
      <p className="max-w-prose text-slate-700">
        Subscribe to a plan or buy a credit pack, then spend credits on generations: an image costs {imageCost} credits, a 720p
        video {videoCost} per {videoSeconds} seconds (shorter clips cost less). A generation that fails costs nothing. New accounts
        start with {bonus} free credits.
      </p>
      <p>
        <Link to="/pricing" className="text-indigo-700 underline">
          See plans, packs and what a credit buys
        </Link>
      </p>
      <p className="flex gap-3">
        {signedIn ? (
          <Link to="/generate" className="btn-primary">
            Start generating
          </Link>
        ) : (
          <>
            <Link to="/signup" className="btn-primary">
              Create an account
            </Link>
            <Link to="/login" className="btn-secondary">
              Log in
            </Link>
          </>
        )}
      </p>
    </div>
  );
}
