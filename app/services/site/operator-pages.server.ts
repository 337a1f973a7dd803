import type { Config } from "../env.server";

/** The pages whose words the operator sets (TERMS_TEXT, PRIVACY_TEXT, SUPPORT_TEXT, SUPPORT_EMAIL). */
export type OperatorPage = "terms" | "privacy" | "support";

const TITLES: Record<OperatorPage, string> = { terms: "Terms of service", privacy: "Privacy", support: "Support" };

// Said plainly rather than inventing legal text the operator never agreed to.
const DEFAULTS: Record<OperatorPage, string> = {
  terms: "The operator of this site has not published its terms of service yet. Until it does, ask support before you buy.",
  privacy:
    "We keep your e-mail address, a hash of your password, your credit history and what you generate, to run your account. " +
    "Payments are handled by Stripe; we never see your card number. The operator has not published a fuller policy yet.",
  support: "Questions about your account, a payment or a generation? Write to us and we will answer.",
};

/** Paragraphs split on blank lines: the env text is plain, never HTML, so React escapes it. */
function paragraphsOf(text: string): string[] {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean);
}

export function operatorPage(config: Pick<Config, "TERMS_TEXT" | "PRIVACY_TEXT" | "SUPPORT_TEXT" | "SUPPORT_EMAIL">, page: OperatorPage) {
  const text = { terms: config.TERMS_TEXT, privacy: config.PRIVACY_TEXT, support: config.SUPPORT_TEXT }[page];
  return {
    title: TITLES[page],
    paragraphs: paragraphsOf(text || DEFAULTS[page]),
    supportEmail: config.SUPPORT_EMAIL ?? null,
  };
}
