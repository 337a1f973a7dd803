import { balanceAlertApiAction, balanceAlertApiLoader } from "~/http/balance-alert.server";

// GET /api/balance-alert → {thresholdCredits, state, balance, below};
// PUT {"thresholdCredits": 1..1000000 | null} → the same, 422 for a bad value. Decision 028.

export const loader = balanceAlertApiLoader;
export const action = balanceAlertApiAction;
