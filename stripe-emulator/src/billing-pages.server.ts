import type Stripe from "stripe";
import type { EmulatedAccount } from "./account.server";
import { StripeApiError } from "./errors.server";
import { parseStripeForm } from "./form-encoding.server";
import { formatAmount } from "./money.server";
import { escapeHtml, layout } from "./page-layout.server";
import type { PortalAction } from "./portal-sessions.server";
import { htmlResult, redirectResult, type HttpResult } from "./responses.server";

/**
 * Billing's pages (plain HTML forms, no JavaScript):
 *   /portal/:id                          the Customer Portal of one portal session (public: the
 *                                        unguessable session id is the only key; it shows and
 *                                        changes that session's customer's subscriptions only)
 *   /__emulator/pages/subscriptions[/:id] a test clock for people (loopback only, like the driver):
 *                                        move a subscription to its next period, paid or failed
 */

const NOTICES: Record<string, string> = {
  switch_plan: "Your plan has been changed. The new price applies from your next renewal.",
  cancel: "Your plan will be canceled at the end of the current period.",
  renew: "Your plan will no longer be canceled; it renews as usual.",
  advance: "The subscription moved to its next period.",
  advance_failed: "The subscription moved to its next period; its renewal payment failed.",
};

export function createBillingPages(deps: { account: EmulatedAccount }) {
  const { account } = deps;

  function portalPage(sessionId: string, query: string): HttpResult {
    const view = account.portalView(sessionId);
    if (!view) return message(404, "Portal session not found", "This customer portal link is not valid.");
    const notice = NOTICES[new URLSearchParams(query).get("done") ?? ""];
    const sections = view.subscriptions.map((subscription) => renderSubscription(subscription, view.plans, account)).join("\n");
    const back = view.session.return_url
      ? `<p><a href="${escapeHtml(view.session.return_url)}">Return to the shop</a></p>`
      : "";
    return htmlResult(
      200,
      layout(
        "Manage your subscription",
        `<h1>Manage your subscription</h1>
${notice ? `<p class="notice" role="status">${escapeHtml(notice)}</p>` : ""}
${view.customer.email ? `<p>Signed in as ${escapeHtml(view.customer.email)}</p>` : ""}
${sections || "<p>You have no active subscriptions.</p>"}
${back}`,
      ),
    );
  }

  function portalActionPage(sessionId: string, body: string): HttpResult {
    const form = readForm(body);
    const action = form.action;
    let request: PortalAction | null = null;
    if (action === "switch_plan" && form.subscription && form.price) {
      request = { action, subscription: form.subscription, price: form.price };
    } else if ((action === "cancel" || action === "renew") && form.subscription) {
      request = { action, subscription: form.subscription };
    }
    if (!request) return message(400, "Unknown action", "Go back and choose one of the buttons.");
    try {
      account.portalAction(sessionId, request);
    } catch (error) {
      if (error instanceof StripeApiError) return message(error.status, "That change was not made", error.message);
      throw error;
    }
    return redirectResult(`/portal/${encodeURIComponent(sessionId)}?done=${request.action}`);
  }

  function subscriptionsPage(): HttpResult {
    const rows = account
      .listSubscriptions({ status: "all" })
      .reverse()
      .map(
        (subscription) =>
          `<li><a href="/__emulator/pages/subscriptions/${escapeHtml(subscription.id)}">${escapeHtml(subscription.id)}</a> (${escapeHtml(subscription.status)})</li>`,
      )
      .join("\n");
    return htmlResult(200, layout("Subscriptions", `<h1>Subscriptions</h1>${rows ? `<ul>${rows}</ul>` : "<p>No subscriptions yet.</p>"}`));
  }

  function subscriptionPage(id: string, query: string): HttpResult {
    const subscription = account.findObject(id);
    if (!subscription || subscription.object !== "subscription") {
      return message(404, "Subscription not found", "There is no subscription with this id.");
    }
    const notice = NOTICES[new URLSearchParams(query).get("done") ?? ""];
    const item = subscription.items.data[0];
    const latest = typeof subscription.latest_invoice === "string" ? account.findObject(subscription.latest_invoice) : undefined;
    const invoice = latest?.object === "invoice" ? latest : undefined;
    const live = subscription.status !== "canceled";
    return htmlResult(
      200,
      layout(
        "Subscription test clock",
        `<h1>Subscription test clock</h1>
${notice ? `<p class="notice" role="status">${escapeHtml(notice)}</p>` : ""}
<table>
  <tbody>
    <tr><th scope="row">Subscription</th><td><code>${escapeHtml(subscription.id)}</code></td></tr>
    <tr><th scope="row">Status</th><td>${escapeHtml(subscription.status)}${subscription.cancel_at_period_end ? " (cancels at period end)" : ""}</td></tr>
    <tr><th scope="row">Plan</th><td>${escapeHtml(planLabel(item.price, account))}</td></tr>
    <tr><th scope="row">Current period</th><td>${day(item.current_period_start)} to ${day(item.current_period_end)}</td></tr>
    <tr><th scope="row">Latest invoice</th><td>${invoice ? `<code>${escapeHtml(invoice.id)}</code> (${escapeHtml(invoice.status ?? "")}, ${escapeHtml(invoice.billing_reason ?? "")})` : "none"}</td></tr>
  </tbody>
</table>
${
  live
    ? `<form method="post">
  <div class="actions">
    <button type="submit" name="action" value="advance" class="primary">Advance to next period</button>
    <button type="submit" name="action" value="advance_failed">Advance to next period, renewal payment fails</button>
  </div>
</form>`
    : "<p>This subscription has ended.</p>"
}
<p><a href="/__emulator/pages/subscriptions">All subscriptions</a></p>`,
      ),
    );
  }

  function subscriptionAction(id: string, body: string): HttpResult {
    const { action } = readForm(body);
    if (action !== "advance" && action !== "advance_failed") {
      return message(400, "Unknown action", "Go back and choose one of the buttons.");
    }
    try {
      account.advanceSubscription(id, action === "advance" ? "paid" : "payment_failed");
    } catch (error) {
      if (error instanceof StripeApiError) return message(error.status, "The subscription did not move", error.message);
      throw error;
    }
    return redirectResult(`/__emulator/pages/subscriptions/${encodeURIComponent(id)}?done=${action}`);
  }

  return { portalPage, portalActionPage, subscriptionsPage, subscriptionPage, subscriptionAction };
}

function renderSubscription(subscription: Stripe.Subscription, plans: Stripe.Price[], account: EmulatedAccount): string {
  const item = subscription.items.data[0];
  const current = item.price;
  const titleId = `title-${subscription.id}`;
  const state = subscription.cancel_at_period_end
    ? `<p>Your plan will be canceled on ${day(item.current_period_end)}.</p>`
    : `<p>Renews on ${day(item.current_period_end)}.</p>`;
  const pastDue = subscription.status === "past_due" ? `<p class="warning">The last renewal payment failed; the payment is past due.</p>` : "";
  const choices = plans
    .filter(
      (price) =>
        price.currency === current.currency &&
        price.recurring?.interval === current.recurring?.interval &&
        price.recurring?.interval_count === current.recurring?.interval_count,
    )
    .map((price) => {
      const inputId = `plan-${subscription.id}-${price.id}`;
      return `<div class="choice"><input type="radio" id="${escapeHtml(inputId)}" name="price" value="${escapeHtml(price.id)}"${price.id === current.id ? " checked" : ""}>
<label for="${escapeHtml(inputId)}">${escapeHtml(planLabel(price, account))}${price.id === current.id ? " (current plan)" : ""}</label></div>`;
    })
    .join("\n");
  const hidden = `<input type="hidden" name="subscription" value="${escapeHtml(subscription.id)}">`;
  const cancelForm = subscription.cancel_at_period_end
    ? `<form method="post">${hidden}<button type="submit" name="action" value="renew">Don't cancel my plan</button></form>`
    : `<form method="post">${hidden}<button type="submit" name="action" value="cancel" class="secondary">Cancel plan at the end of the period</button></form>`;
  return `<section aria-labelledby="${escapeHtml(titleId)}">
<h2 id="${escapeHtml(titleId)}">Current plan: ${escapeHtml(planLabel(current, account))}</h2>
${state}
${pastDue}
<form method="post">
  ${hidden}
  <fieldset>
    <legend>Change plan</legend>
${choices}
  </fieldset>
  <div class="actions"><button type="submit" name="action" value="switch_plan" class="primary">Switch plan</button></div>
</form>
<div class="actions">${cancelForm}</div>
</section>`;
}

function planLabel(price: Stripe.Price, account: EmulatedAccount): string {
  const product = typeof price.product === "string" ? account.findObject(price.product) : undefined;
  const name = product?.object === "product" ? product.name : price.id;
  const recurring = price.recurring;
  const every = !recurring ? "" : recurring.interval_count > 1 ? ` every ${recurring.interval_count} ${recurring.interval}s` : ` / ${recurring.interval}`;
  return `${name} — ${formatAmount(price.unit_amount ?? 0, price.currency)}${every}`;
}

function day(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function readForm(body: string): Record<string, string | undefined> {
  try {
    const parsed = parseStripeForm(body);
    return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, typeof value === "string" ? value : undefined]));
  } catch (error) {
    if (error instanceof StripeApiError) return {};
    throw error;
  }
}

function message(status: number, title: string, text: string): HttpResult {
  return htmlResult(status, layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`));
}
