import type Stripe from "stripe";
import type { EmulatedAccount } from "./account.server";
import { StripeApiError } from "./errors.server";
import { parseStripeForm } from "./form-encoding.server";
import { formatAmount } from "./money.server";
import type { PaymentOutcome } from "./params.server";
import { escapeHtml, layout } from "./page-layout.server";
import { DEFAULT_TEST_CARD, TEST_CARDS, findTestCard, type TestCard } from "./test-cards.server";
import { htmlResult, redirectResult, type HttpResult } from "./responses.server";

/**
 * The pages a browser sees: the hosted checkout page (plain HTML forms, no JavaScript), the
 * page for a session that is no longer open, and a charge's receipt. Every page says plainly that
 * this is test mode.
 */

/** The value of each payment button (`name="action"`) and what it does. */
const BUTTON_OUTCOMES: Record<string, PaymentOutcome> = {
  pay: "paid",
  // Setup mode's one button: a card is saved, nothing is paid.
  save: "paid",
  delayed_success: "delayed_success",
  delayed_failure: "delayed_failure",
  free_with_discount: "no_payment_required",
};

/** Stripe's page offers a promotion code field only when the session allows promotion codes. */
function offersDiscount(session: Stripe.Checkout.Session): boolean {
  // The emulator's 100% discount is for one-time payments only.
  return session.allow_promotion_codes === true && session.mode !== "subscription";
}

export function createHostedPages(deps: { account: EmulatedAccount; asyncPaymentDelayMs: number }) {
  const { account, asyncPaymentDelayMs } = deps;

  function checkoutPage(sessionId: string): HttpResult {
    const session = account.findCheckoutSession(sessionId);
    if (!session) return notFound("Checkout session not found", "This checkout link is not valid.");
    if (session.status !== "open") return closedSessionPage(session, 200);
    return openSessionPage(session, 200);
  }

  /** The page of an open session, again with the bank's refusal when a card was declined. */
  function openSessionPage(session: Stripe.Checkout.Session, status: number, error?: { message: string; card: TestCard }): HttpResult {
    const customer = typeof session.customer === "string" ? account.findObject(session.customer) : undefined;
    const email = session.customer_email ?? (customer?.object === "customer" ? customer.email : null);
    const items = account.listLineItems(session.id);
    return htmlResult(status, renderCheckout(session, items, email, asyncPaymentDelayMs, account.setupFutureUsageOf(session.id), error));
  }

  /** The form's buttons: pay now, pay with a delayed method that succeeds or fails, or cancel. */
  function checkoutAction(sessionId: string, body: string): HttpResult {
    const session = account.findCheckoutSession(sessionId);
    if (!session) return notFound("Checkout session not found", "This checkout link is not valid.");
    let action: string | undefined;
    let cardField: string | undefined;
    try {
      const form = parseStripeForm(body);
      action = typeof form.action === "string" ? form.action : undefined;
      cardField = typeof form.card === "string" ? form.card : undefined;
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
    }
    if (session.status !== "open") return closedSessionPage(session, 409);

    if (action === "cancel") {
      return session.cancel_url ? redirectResult(session.cancel_url) : closedSessionPage(session, 200, "cancelled");
    }
    const outcome = action ? BUTTON_OUTCOMES[action] : undefined;
    const offered =
      session.mode === "setup"
        ? action === "save"
        : action === "pay" || (session.mode === "payment" && action !== "save" && (outcome !== "no_payment_required" || offersDiscount(session)));
    // The card field is the page's own select: a value it never offered is a bad request, not a default.
    const card = cardField === undefined ? DEFAULT_TEST_CARD : findTestCard(cardField);
    if (!outcome || !offered || !card) {
      return htmlResult(
        400,
        layout("Unknown action", `<h1>Unknown action</h1><p>Go back and choose one of the buttons.</p>`),
      );
    }
    // Subscriptions and bank debits take no card from the select.
    const paysByCard = outcome === "paid" && session.mode !== "subscription";
    const result = account.completeCheckoutSession(session.id, outcome, paysByCard ? card : undefined);
    if (result.decline) return openSessionPage(result.session, 402, { message: result.decline.message, card });
    if (!result.completed) return closedSessionPage(result.session, 409);
    return result.session.success_url
      ? redirectResult(successUrlFor(result.session))
      : closedSessionPage(result.session, 200);
  }

  function receiptPage(chargeId: string): HttpResult {
    const charge = account.findObject(chargeId);
    if (!charge || charge.object !== "charge") return notFound("Receipt not found", "There is no payment with this id.");
    return htmlResult(200, renderReceipt(charge));
  }

  function indexPage(): HttpResult {
    return htmlResult(
      200,
      layout(
        "Stripe emulator",
        `<h1>Stripe emulator</h1>
<p>A local stand-in for Stripe's API, hosted checkout page and webhooks. Nothing here moves real money.</p>
<p>Point the stripe SDK at this server's <code>/v1</code> API with any <code>sk_test_...</code> key.</p>`,
      ),
    );
  }

  return { checkoutPage, checkoutAction, receiptPage, indexPage };
}

/** Stripe replaces the literal `{CHECKOUT_SESSION_ID}` in `success_url` with the session id. */
export function successUrlFor(session: Stripe.Checkout.Session): string {
  return (session.success_url ?? "").split("{CHECKOUT_SESSION_ID}").join(session.id);
}

function closedSessionPage(
  session: Stripe.Checkout.Session,
  status: number,
  reason: "closed" | "cancelled" = "closed",
): HttpResult {
  if (reason === "cancelled") {
    return htmlResult(status, layout("Checkout cancelled", `<h1>Checkout cancelled</h1><p>No payment was taken.</p>`));
  }
  if (session.status === "expired") {
    const back = session.cancel_url
      ? `<p><a href="${escapeHtml(session.cancel_url)}">Return to the shop</a></p>`
      : "";
    return htmlResult(
      status,
      layout(
        "Checkout expired",
        `<h1>This checkout session has expired</h1>
<p>No payment was taken. Start a new checkout to buy.</p>${back}`,
      ),
    );
  }
  const paymentState =
    session.mode === "setup"
      ? "The card has been saved."
      : session.payment_status === "paid"
      ? "The payment has been received."
      : session.payment_status === "no_payment_required"
        ? "A discount covered the whole amount; no payment was needed."
        : "The payment was made with a delayed method and is processing (or has failed); the shop will be told the outcome.";
  const back = session.success_url
    ? `<p><a href="${escapeHtml(successUrlFor(session))}">Return to the shop</a></p>`
    : "";
  return htmlResult(
    status,
    layout(
      "Checkout already complete",
      `<h1>This checkout is already complete</h1>
<p>${escapeHtml(paymentState)} Nothing more will be charged.</p>${back}`,
    ),
  );
}

function notFound(title: string, message: string): HttpResult {
  return htmlResult(404, layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`));
}

/** The test card select: Stripe's page takes a card number; the emulator offers its test cards. */
function cardChoice(selected: TestCard): string {
  const options = TEST_CARDS.map(
    (card) =>
      `<option value="${card.number}"${card === selected ? " selected" : ""}>${escapeHtml(card.label)}</option>`,
  ).join("\n      ");
  return `<p><label for="card">Test card</label><br>
    <select id="card" name="card">
      ${options}
    </select></p>`;
}

function renderSetup(session: Stripe.Checkout.Session, email: string | null, error: { message: string; card: TestCard } | undefined): string {
  const cancel = session.cancel_url
    ? `<button type="submit" name="action" value="cancel" class="secondary">Cancel</button>`
    : "";
  return layout(
    "Save a card",
    `<h1>Save a card for later</h1>
<p>Nothing is charged now. The card is saved so that future payments can be taken without you.</p>
${email ? `<p>Account: ${escapeHtml(email)}</p>` : ""}
${error ? `<p class="warning" role="alert">${escapeHtml(error.message)}</p>` : ""}
<form method="post">
  ${cardChoice(error?.card ?? DEFAULT_TEST_CARD)}
  <div class="actions">
    <button type="submit" name="action" value="save" class="primary">Save card</button>
    ${cancel}
  </div>
</form>`,
  );
}

function renderCheckout(
  session: Stripe.Checkout.Session,
  items: Stripe.LineItem[],
  email: string | null,
  delayMs: number,
  futureUsage: "off_session" | "on_session" | null,
  error?: { message: string; card: TestCard },
): string {
  if (session.mode === "setup") return renderSetup(session, email, error);
  const currency = session.currency ?? "usd";
  const rows = items
    .map(
      (item) => `<tr>
  <td>${escapeHtml(item.description ?? "Item")}</td>
  <td class="num">${item.quantity ?? 1}</td>
  <td class="num">${escapeHtml(formatAmount(item.amount_total, item.currency))}</td>
</tr>`,
    )
    .join("\n");
  const total = formatAmount(session.amount_total ?? 0, currency);
  const delaySeconds = Math.max(1, Math.round(delayMs / 1000));
  const subscription = session.mode === "subscription";
  const savesCard = session.mode === "payment" ? futureUsage : null;
  const recurring = items[0]?.price?.recurring;
  const renews = subscription && recurring
    ? `<p>Then ${escapeHtml(total)} every ${recurring.interval_count > 1 ? `${recurring.interval_count} ${recurring.interval}s` : recurring.interval} until you cancel.</p>`
    : "";
  const cancel = session.cancel_url
    ? `<button type="submit" name="action" value="cancel" class="secondary">Cancel</button>`
    : "";
  return layout(
    `Pay ${total}`,
    `<h1>Checkout</h1>
<p class="total">Total due: <strong>${escapeHtml(total)}</strong> <span class="currency">${escapeHtml(currency.toUpperCase())}</span></p>
<table>
  <caption>Order summary</caption>
  <thead><tr><th scope="col">Product</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Amount</th></tr></thead>
  <tbody>
${rows}
  </tbody>
  <tfoot><tr><th scope="row" colspan="2">Total</th><td class="num">${escapeHtml(total)}</td></tr></tfoot>
</table>
${renews}
${email ? `<p>Receipt to: ${escapeHtml(email)}</p>` : ""}
${error ? `<p class="warning" role="alert">${escapeHtml(error.message)}</p>` : ""}
<form method="post">
  ${subscription ? "" : cardChoice(error?.card ?? DEFAULT_TEST_CARD)}
  ${savesCard ? `<p class="help">Your card will be saved for future payments${savesCard === "off_session" ? ", including ones taken while you are away" : ""}.</p>` : ""}
  <div class="actions">
    <button type="submit" name="action" value="pay" class="primary">Pay</button>
    ${subscription ? "" : `<button type="submit" name="action" value="delayed_success" aria-describedby="delayed-help">Pay with a delayed method (succeeds)</button>
    <button type="submit" name="action" value="delayed_failure" aria-describedby="delayed-help">Pay with a delayed method (fails)</button>`}
    ${offersDiscount(session) ? `<button type="submit" name="action" value="free_with_discount" aria-describedby="discount-help">Apply a 100% discount code and complete</button>` : ""}
    ${cancel}
  </div>
  ${offersDiscount(session) ? `<p id="discount-help" class="help">As a promotion code that takes 100% off: the checkout completes with nothing to pay and no payment is made.</p>` : ""}
  ${subscription ? "" : `<p id="delayed-help" class="help">A delayed method works like a bank debit: the checkout completes now, unpaid, and the payment succeeds or fails about ${delaySeconds} second${delaySeconds === 1 ? "" : "s"} later.</p>`}
</form>`,
  );
}

function renderReceipt(charge: Stripe.Charge): string {
  const date = new Date(charge.created * 1000).toISOString().slice(0, 10);
  const refunded =
    charge.amount_refunded > 0
      ? `<tr><th scope="row">Refunded</th><td>${escapeHtml(formatAmount(charge.amount_refunded, charge.currency))}</td></tr>`
      : "";
  return layout(
    "Receipt",
    `<h1>Receipt</h1>
<table>
  <tbody>
    <tr><th scope="row">Amount paid</th><td>${escapeHtml(formatAmount(charge.amount, charge.currency))}</td></tr>
    ${refunded}
    <tr><th scope="row">Status</th><td>${escapeHtml(charge.refunded ? "refunded" : charge.status)}</td></tr>
    <tr><th scope="row">Date</th><td>${escapeHtml(date)}</td></tr>
    <tr><th scope="row">Payment id</th><td><code>${escapeHtml(charge.id)}</code></td></tr>
  </tbody>
</table>`,
  );
}
