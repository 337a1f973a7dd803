import { describe, expect, it } from "vitest";
import { pricePerCreditText } from "./pricing";

describe("pricePerCreditText", () => {
  it("says a credit's price with the decimals that show a bulk discount", () => {
    expect(pricePerCreditText({ unitAmount: 500, currency: "usd", credits: 500 })).toBe("$0.01 per credit");
    expect(pricePerCreditText({ unitAmount: 1000, currency: "usd", credits: 1200 })).toBe("$0.0083 per credit");
    expect(pricePerCreditText({ unitAmount: 1900, currency: "eur", credits: 100 })).toBe("€0.19 per credit");
  });

  it("says nothing rather than something wrong when the price is unknown or the pack empty", () => {
    expect(pricePerCreditText({ unitAmount: null, currency: "usd", credits: 500 })).toBeNull();
    expect(pricePerCreditText({ unitAmount: 500, currency: null, credits: 500 })).toBeNull();
    expect(pricePerCreditText({ unitAmount: 500, currency: "usd", credits: 0 })).toBeNull();
    expect(pricePerCreditText({ unitAmount: 500, currency: "not a currency", credits: 5 })).toBeNull();
  });
});
