/**
 * The hot JSON routes without Remix's request pipeline (issue 19): POST /api/generate-image,
 * POST /api/generate-video and POST /api/stripe/webhook call their route module's own `action`
 * straight from Express. Everything in front of Remix still runs first (server.js: the request
 * log, the security headers, the body limit, the Origin check), the request is the same Web
 * Request Remix would build (toRemixRequest: the checked body, the client address, the abort on
 * close), and the response is written the same way; what is skipped is Remix's per-request work
 * for a resource route (matching every route, the data-request checks, its response wrapping).
 * A route's answer is its own: a thrown Response is sent as Remix sends it, anything else is
 * logged by the app's handleError and answered 500 "Unexpected Server Error", as Remix answers.
 * Only exact paths with no parameters; everything else goes on to Remix.
 * Why: docs/decisions/041-lean-json-path.md.
 */
import type { ActionFunctionArgs, AppLoadContext, ServerBuild } from "@remix-run/node";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import { sendRemixResponse, toRemixRequest } from "./remix-handler.server";

/** Method and path → the route module whose action answers it. */
export const LEAN_ROUTES: Readonly<Record<string, string>> = {
  "POST /api/generate-image": "routes/api.generate-image",
  "POST /api/generate-video": "routes/api.generate-video",
  "POST /api/stripe/webhook": "routes/api.stripe.webhook",
};

type Action = (args: ActionFunctionArgs) => Promise<Response> | Response;
type HandleError = (error: unknown, args: ActionFunctionArgs) => void;

type Options = {
  build: ServerBuild;
  getLoadContext: (req: ExpressRequest, res: ExpressResponse) => AppLoadContext | Promise<AppLoadContext>;
};

export function createLeanApiHandler({ build, getLoadContext }: Options) {
  const actions = new Map<string, Action>();
  for (const [route, id] of Object.entries(LEAN_ROUTES)) {
    const action = build.routes[id]?.module.action as Action | undefined;
    // A renamed route would silently fall back to Remix; refuse to start instead.
    if (!action) throw new Error(`lean API route ${route}: the build has no action for ${id}`);
    actions.set(route, action);
  }
  const handleError = build.entry.module.handleError as HandleError | undefined;
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    const action = actions.get(`${req.method} ${req.path}`);
    if (!action) return next();
    try {
      const request = toRemixRequest(req, res);
      const args: ActionFunctionArgs = { request, params: {}, context: await getLoadContext(req, res) };
      let response: Response;
      try {
        response = await action(args);
        if (!(response instanceof Response)) throw new Error(`${req.method} ${req.path}: the action answered no Response`);
      } catch (thrown) {
        if (thrown instanceof Response) response = thrown;
        else {
          handleError?.(thrown, args);
          response = new Response("Unexpected Server Error", { status: 500, headers: { "Content-Type": "text/plain; charset=utf-8" } });
        }
      }
      await sendRemixResponse(res, response);
    } catch (error) {
      next(error);
    }
  };
}
