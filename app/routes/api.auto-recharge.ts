import { autoRechargeApiAction, autoRechargeLoader } from "~/http/auto-recharge.server";

// GET /api/auto-recharge: the caller's settings; PUT {"enabled", "thresholdCredits", "pack",
// "maxRechargesPerMonth", "maxAmountPerMonth"?}: saves them (422 for what is not valid). Decision 027.

export const loader = autoRechargeLoader;
export const action = autoRechargeApiAction;
