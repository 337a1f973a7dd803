import { describe, expect, it } from "vitest";
import { operatorPage } from "./operator-pages.server";

describe("operatorPage", () => {
  it("shows the operator's text, one paragraph per blank-line-separated block, and the support address", () => {
    const page = operatorPage({ TERMS_TEXT: "First.\n\nSecond\nline two.\n  \n\nThird.", SUPPORT_EMAIL: "help@example.com" }, "terms");
    expect(page).toEqual({ title: "Terms of service", paragraphs: ["First.", "Second\nline two.", "Third."], supportEmail: "help@example.com" });
  });

  it("falls back to a default that says nothing was published, per page", () => {
    expect(operatorPage({}, "terms").paragraphs.join(" ")).toContain("has not published its terms");
    expect(operatorPage({ TERMS_TEXT: "Ours." }, "privacy").paragraphs.join(" ")).toContain("Stripe");
    expect(operatorPage({}, "support").supportEmail).toBeNull();
  });

  it("keeps HTML as text (React escapes it; nothing is rendered as markup)", () => {
    expect(operatorPage({ SUPPORT_TEXT: "<b>hi</b>" }, "support").paragraphs).toEqual(["<b>hi</b>"]);
  });
});
