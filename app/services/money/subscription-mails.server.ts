/**
 * The words of the subscription mails. Queued by plan-invoices.server.ts inside the transaction
 * that records what they announce (mail-queue.server.ts).
 */
import { appLink, renderMail, type RenderedMail } from "../mail/mail-layout.server";

export function paymentFailedMail(appUrl: string, planName: string): RenderedMail {
  return renderMail({
    subject: `Your ${planName} plan payment failed`,
    paragraphs: [
      `We could not take the payment for your ${planName} plan, so this period's credits have not been added.`,
      "Update your card from your billing page: the credits arrive as soon as the payment goes through.",
    ],
    action: { label: "Open billing", url: appLink(appUrl, "/settings/billing") },
    footer: "If you meant to stop your plan, you can cancel it from the same page.",
  });
}
