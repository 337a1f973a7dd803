import { parseWithZod } from "@conform-to/zod";
import { describe, expect, it } from "vitest";
import { AdjustCreditsSchema, LARGE_CHANGE_MESSAGE, majorToMinor, refundPurchaseSchema, typedAmountIsLarge } from "./admin-schemas";

// The refund form's amount, parsed the way the route parses a POST (Conform's coercion of form
// strings included): a person's "2.50" becomes 250 cents, anything else is refused with a message.

const TOKEN = "tok-aaaaaaaaaaaaaaaa";

const amountError = (s: ReturnType<typeof submit>) => (s.status === "error" ? s.error?.amount?.join(" ") : undefined);

function submit(fields: Record<string, string>, left: Record<number, number | null> = { 7: 500 }) {
  const form = new FormData();
  for (const [k, v] of Object.entries({ intent: "refund", token: TOKEN, transactionId: "7", reason: "Customer asked", ...fields })) {
    form.append(k, v);
  }
  return parseWithZod(form, { schema: refundPurchaseSchema(left) });
}

describe("refund amount", () => {
  it("empty means a full refund", () => {
    const s = submit({ amount: "" });
    expect(s.status).toBe("success");
    expect(s.status === "success" && s.value.amount).toBeUndefined();
    expect(submit({}).status).toBe("success");
  });

  it.each([
    ["2.50", 250],
    ["2.5", 250],
    ["3", 300],
    [" 0.29 ", 29],
    ["0.01", 1],
    ["5.00", 500],
  ])("%j is %i cents", (amount, cents) => {
    const s = submit({ amount });
    expect(s.status, amount).toBe("success");
    expect(s.status === "success" && s.value.amount).toBe(cents);
  });

  it.each([
    ["0", /more than zero/],
    ["0.00", /more than zero/],
    ["-1", /like 2\.50/],
    ["+1", /like 2\.50/],
    ["1.234", /at most 2 decimals/],
    ["1,50", /like 2\.50/],
    ["$2", /like 2\.50/],
    ["2 USD", /like 2\.50/],
    ["1e2", /like 2\.50/],
    ["0x10", /like 2\.50/],
    ["Infinity", /like 2\.50/],
    ["NaN", /like 2\.50/],
    [".5", /like 2\.50/],
    ["5.", /like 2\.50/],
    ["１", /like 2\.50/], // full-width digit
    ["9".repeat(10), /like 2\.50/],
    ["2.50; DROP TABLE users", /like 2\.50/],
    ["5.01", /At most 5\.00 is left/],
    ["600", /At most 5\.00 is left/],
  ])("%j is refused", (amount, message) => {
    const s = submit({ amount });
    expect(s.status, amount).toBe("error");
    expect(amountError(s), amount).toMatch(message);
  });

  it("the ceiling is what is left of that purchase, not of another one", () => {
    expect(amountError(submit({ amount: "2.51" }, { 7: 250 }))).toMatch(/At most 2\.50 is left/);
    expect(submit({ amount: "2.50" }, { 7: 250 }).status).toBe("success");
    expect(submit({ amount: "400" }, { 8: 100 }).status).toBe("success"); // unknown here: the service decides
    expect(submit({ amount: "400" }, { 7: null }).status).toBe("success"); // the purchase did not record its price
  });

  it("converts from the digits, never through a float", () => {
    for (let cents = 0; cents < 1000; cents++) {
      expect(majorToMinor(`${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`)).toBe(cents);
    }
  });
});

describe("adjust form: expires after", () => {
  const adjustForm = (fields: Record<string, string>) => {
    const form = new FormData();
    for (const [k, v] of Object.entries({ intent: "adjust", token: TOKEN, amount: "50", type: "bonus", reason: "Goodwill", ...fields })) form.append(k, v);
    return parseWithZod(form, { schema: AdjustCreditsSchema });
  };

  it("reads a duration for a bonus; empty means never", () => {
    const s = adjustForm({ expiresAfter: "30d" });
    expect(s.status === "success" && s.value.expiresAfter).toBe(30 * 86_400_000);
    const none = adjustForm({});
    expect(none.status === "success" && none.value.expiresAfter).toBeNull();
  });

  it.each(["30", "soon", "-5d", "1.5h"])("refuses %j", (expiresAfter) => {
    const s = adjustForm({ expiresAfter });
    expect(s.status).toBe("error");
    expect(s.status === "error" && s.error?.expiresAfter?.join(" ")).toMatch(/duration like 30d/);
  });

  it("refuses an expiry on an adjustment", () => {
    const s = adjustForm({ type: "adjustment", expiresAfter: "30d" });
    expect(s.status === "error" && s.error?.expiresAfter?.join(" ")).toMatch(/Only a bonus/);
  });
});

describe("the large-change box mirrors the schema's rule (decision 032)", () => {
  function adjust(amount: string, confirmLarge?: "on") {
    const form = new FormData();
    const fields = { intent: "adjust", token: TOKEN, amount, type: "adjustment", reason: "A reason", ...(confirmLarge ? { confirmLarge } : {}) };
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    return parseWithZod(form, { schema: AdjustCreditsSchema });
  }
  const confirmError = (s: ReturnType<typeof adjust>) => (s.status === "error" ? s.error?.confirmLarge : undefined);

  const table: Array<[typed: string, large: boolean]> = [
    ["999", false],
    ["1000", false],
    ["1001", true],
    ["+1001", true],
    ["-1000", false],
    ["-1001", true],
    ["1000000", true],
    [" 1001", true],
    ["\t1001\t", true],
    ["0", false],
    ["", false],
    ["1e3", false],
    ["1001.5", false],
    ["abc", false],
    ["10 01", false],
  ];
  for (const [typed, large] of table) {
    it(`${JSON.stringify(typed)}: the box ${large ? "shows" : "stays away"}, and the server asks for it exactly then`, () => {
      expect(typedAmountIsLarge(typed)).toBe(large);
      expect(confirmError(adjust(typed))).toEqual(large ? [LARGE_CHANGE_MESSAGE] : undefined);
      expect(confirmError(adjust(typed, "on"))).toBeUndefined();
    });
  }
});
