/**
 * The words of every account mail (reset, password changed, address change, deletion). Queued by
 * the services that make the change, inside its transaction (mail-queue.server.ts).
 */
import { appLink, renderMail, type RenderedMail } from "../mail/mail-layout.server";

const NOT_YOU = "If this was not you, reset your password at once and contact support.";

export function resetPasswordMail(appUrl: string, rawToken: string): RenderedMail {
  return renderMail({
    subject: "Reset your password",
    paragraphs: ["Someone (we hope you) asked to reset the password of your Credits Studio account.", "The link works once, for one hour."],
    action: { label: "Choose a new password", url: appLink(appUrl, `/reset-password?token=${encodeURIComponent(rawToken)}`) },
    footer: "If you did not ask for this, ignore this message: your password stays as it is.",
  });
}

export function passwordChangedMail(appUrl: string): RenderedMail {
  return renderMail({
    subject: "Your password was changed",
    paragraphs: ["The password of your Credits Studio account was just changed, and every other session was signed out."],
    action: { label: "Forgot your password?", url: appLink(appUrl, "/forgot-password") },
    footer: NOT_YOU,
  });
}

export function confirmEmailChangeMail(appUrl: string, rawToken: string): RenderedMail {
  return renderMail({
    subject: "Confirm your new address",
    paragraphs: ["Someone asked to use this address for a Credits Studio account.", "The change happens only when you confirm it. The link works once, for 24 hours."],
    action: { label: "Confirm this address", url: appLink(appUrl, `/confirm-email-change?token=${encodeURIComponent(rawToken)}`) },
    footer: "If you did not ask for this, ignore this message: nothing changes.",
  });
}

export function emailChangeRequestedMail(appUrl: string, newEmail: string): RenderedMail {
  return renderMail({
    subject: "A change of your address was requested",
    paragraphs: [
      `Someone signed in to your Credits Studio account asked to change its address to ${newEmail}.`,
      "Nothing changes unless the new address confirms it.",
    ],
    action: { label: "Review your account", url: appLink(appUrl, "/settings/account") },
    footer: NOT_YOU,
  });
}

export function emailChangedMail(appUrl: string, newEmail: string): RenderedMail {
  return renderMail({
    subject: "Your address was changed",
    paragraphs: [`Your Credits Studio account now uses ${newEmail}. Mail about it no longer comes to this address.`],
    action: { label: "Forgot your password?", url: appLink(appUrl, "/forgot-password") },
    footer: NOT_YOU,
  });
}

export function accountDeletedMail(): RenderedMail {
  return renderMail({
    subject: "Your account was deleted",
    paragraphs: [
      "Your Credits Studio account was deleted: its address, password, sessions and generated files are gone.",
      "The record of past payments and credit movements is kept, as accounting requires. You may sign up again with this address at any time.",
    ],
    footer: "If this was not you, contact support.",
  });
}
