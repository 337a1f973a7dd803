import { describe, expect, test } from "vitest";
import { StripeApiError } from "../src/errors.server";
import { paramName, parseStripeForm } from "../src/form-encoding.server";

describe("parseStripeForm", () => {
  test("decodes the bracket notation the stripe SDK writes", () => {
    const body =
      "mode=payment&line_items[0][price]=price_x&line_items[0][quantity]=1&line_items[1][price]=price_y&line_items[1][quantity]=3" +
      "&metadata[userId]=7&expand[0]=line_items&expand[1]=payment_intent";
    expect(parseStripeForm(body)).toEqual({
      mode: "payment",
      line_items: [
        { price: "price_x", quantity: "1" },
        { price: "price_y", quantity: "3" },
      ],
      metadata: { userId: "7" },
      expand: ["line_items", "payment_intent"],
    });
  });

  test("decodes percent-encoded brackets and values, and keeps array order by index", () => {
    const body = "success_url=https%3A%2F%2Fa.example%2Fok%3Fid%3D%7BCHECKOUT_SESSION_ID%7D&items%5B1%5D=b&items%5B0%5D=a&name=a+b";
    expect(parseStripeForm(body)).toEqual({
      success_url: "https://a.example/ok?id={CHECKOUT_SESSION_ID}",
      items: ["a", "b"],
      name: "a b",
    });
  });

  test("accepts curl-style pushes (expand[]=a&expand[]=b)", () => {
    expect(parseStripeForm("expand[]=a&expand[]=b.c")).toEqual({ expand: ["a", "b.c"] });
  });

  test("refuses a parameter that is both a value and an object", () => {
    expect(() => parseStripeForm("metadata=x&metadata[a]=b")).toThrow(StripeApiError);
    expect(() => parseStripeForm("metadata[a]=b&metadata=x")).toThrow(StripeApiError);
  });

  test("names nested parameters the way Stripe's errors do", () => {
    expect(paramName(["line_items", 0, "price"])).toBe("line_items[0][price]");
    expect(paramName(["customer"])).toBe("customer");
  });
});
