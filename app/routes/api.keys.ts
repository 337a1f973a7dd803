import { createKeyAction, listKeysLoader } from "~/http/api-keys-api.server";

// GET /api/keys — the signed-in user's keys | POST /api/keys {"name","monthlyCreditLimit"?} — 201
// with the key, shown once. Browser session only: a request made with a key gets 403.

export const loader = listKeysLoader;
export const action = createKeyAction;
