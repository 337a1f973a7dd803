import { redeemApiAction } from "~/http/redeem.server";
import { methodNotAllowed } from "~/http/api-errors.server";

// POST /api/redeem {"code": "ABCD-EFGH-JKMN"} — redeems a code for the caller (a session or an
// API key): 200 {code, credits, expiresAt, balance, transactionId}, or a JSON refusal. Decision 024.

export const action = redeemApiAction;
export const loader = () => methodNotAllowed("POST");
