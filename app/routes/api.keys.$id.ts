import { methodNotAllowed } from "~/http/api-errors.server";
import { revokeKeyAction } from "~/http/api-keys-api.server";

// DELETE /api/keys/:id — revokes one of the signed-in user's keys: 204 | 404 (not theirs).

export async function loader() {
  return methodNotAllowed("DELETE");
}

export const action = revokeKeyAction;
