/**
 * The words of the auto-recharge mails. Queued by auto-recharge.server.ts inside the transaction
 * that records the failed attempt (mail-queue.server.ts), so one failure is one mail.
 */
import { formatMoney } from "~/utils/format";
import { appLink, renderMail, type RenderedMail } from "../mail/mail-layout.server";

const REASONS: Record<string, string> = {
  authentication_required: "your bank wants you to confirm this payment yourself (3-D Secure)",
  card_declined: "your card was declined",
};

export function rechargeFailedMail(appUrl: string, args: { packName: string; failureCode: string | null; switchedOff: boolean }): RenderedMail {
  const why = REASONS[args.failureCode ?? ""] ?? "the payment did not go through";
  return renderMail({
    subject: args.switchedOff ? "Auto-recharge failed and is now off" : "Auto-recharge could not buy your credits",
    paragraphs: [
      `We tried to buy ${args.packName} because your balance fell below your auto-recharge threshold, but ${why}. Nothing was charged and no credits were added.`,
      "You can buy the pack yourself now: the link opens your billing page, where Buy starts a normal checkout.",
      ...(args.switchedOff
        ? ["This was the third failure in a row, so auto-recharge is now switched off. Switch it on again on your billing page once your card works."]
        : []),
    ],
    action: { label: "Pay on your billing page", url: appLink(appUrl, "/settings/billing?recharge=failed#packs-heading") },
    footer: "You receive this because auto-recharge is set up on your account.",
  });
}

export function rechargeSucceededMail(appUrl: string, args: { packName: string; credits: number; amount: number; currency: string }): RenderedMail {
  return renderMail({
    subject: `Auto-recharge: ${args.credits.toLocaleString("en-US")} credits added`,
    paragraphs: [
      `Your balance fell below your auto-recharge threshold, so we bought ${args.packName} with your saved card: ${formatMoney(args.amount, args.currency)} charged, ${args.credits.toLocaleString("en-US")} credits added.`,
      "Your billing page shows the top-up and its receipt, and is where you change or switch off auto-recharge.",
    ],
    action: { label: "Open your billing page", url: appLink(appUrl, "/settings/billing") },
    footer: "You receive this because auto-recharge is set up on your account.",
  });
}
