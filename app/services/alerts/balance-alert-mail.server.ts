/**
 * The words of the low-balance mail, queued by balance-alerts.server.ts in the transaction that
 * marks the alert fired.
 */
import { appLink, renderMail, type RenderedMail } from "../mail/mail-layout.server";

const credits = (n: number) => `${n.toLocaleString("en-US")} credit${n === 1 ? "" : "s"}`;

export function balanceLowMail(appUrl: string, balance: number, thresholdCredits: number): RenderedMail {
  return renderMail({
    subject: `Your balance is below ${credits(thresholdCredits)}`,
    paragraphs: [
      `Your Credits Studio balance is ${credits(balance)}, below the alert you set at ${credits(thresholdCredits)}.`,
      `To keep generating, buy a credit pack or choose a plan: ${appLink(appUrl, "/pricing")}`,
    ],
    action: { label: "Buy credits", url: appLink(appUrl, "/settings/billing") },
    footer: "We send this once each time your balance falls below your alert. Change or turn off the alert on the billing page.",
  });
}
