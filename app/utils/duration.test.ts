import { describe, expect, it } from "vitest";
import { describeDuration, expiryAfter, MAX_DURATION_MS, parseDuration } from "./duration";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["12h", 43_200_000],
    ["30d", 2_592_000_000],
    [" 30D ", 2_592_000_000],
    ["3650d", MAX_DURATION_MS],
    ["0", null],
    ["never", null],
    ["NEVER", null],
  ])("reads %j as %j ms", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each([
    "", "30", "d", "30 d", "-30d", "+30d", "0d", "030d", "1.5d", "1e3s", "30w", "30dd", "30d;", "0x10s",
    "Infinity", "NaN", "3651d", "99999999s", "1d2h", "nevermore", "null", "30d\n1s",
  ])("refuses %j", (text) => {
    const parsed = parseDuration(text);
    expect(parsed.ok).toBe(false);
  });

  it.each([undefined, null, 30, 30_000, {}, [], true])("refuses a non-string %j", (value) => {
    expect(parseDuration(value).ok).toBe(false);
  });

  it("adds a duration to a time, or none", () => {
    expect(expiryAfter(1_000, 500)).toBe(1_500);
    expect(expiryAfter(1_000, null)).toBeNull();
  });
});

describe("describeDuration", () => {
  it.each([
    [30 * 86_400_000, "30 days"],
    [86_400_000, "1 day"],
    [36 * 3_600_000, "36 hours"],
    [43_200_000, "12 hours"],
    [90_000, "90 seconds"],
    [60_000, "1 minute"],
    [1_500, "1,500 milliseconds"],
    [MAX_DURATION_MS, "3,650 days"],
  ])("says %j ms as %j", (ms, text) => {
    expect(describeDuration(ms)).toBe(text);
  });

  it("says exactly what parseDuration read, in its largest whole unit", () => {
    const letter = { day: "d", hour: "h", minute: "m", second: "s" } as Record<string, string>;
    for (const [text, said] of [["90s", "90s"], ["15m", "15m"], ["25h", "25h"], ["1441m", "1441m"], ["120m", "2h"], ["48h", "2d"]]) {
      const parsed = parseDuration(text);
      if (!parsed.ok || parsed.ms === null) throw new Error(`${text} should parse`);
      const [n, word] = describeDuration(parsed.ms).split(" ");
      expect(`${n!.replace(/,/g, "")}${letter[word!.replace(/s$/, "")]}`).toBe(said);
    }
  });
});
