import { describe, expect, it } from "vitest";
import { csvMoney, csvText, isoUtc } from "./csv-cells";
import { seededRandom } from "../../scripts/seeded-random";

// The hand-written cells must answer exactly what the one-liners they replaced answered: the CSV
// of a history stays byte for byte what it was (decision 038). The references are those lines.
const referenceText = (value: string) => {
  const defused = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) || defused !== defused.trim() ? `"${defused.replace(/"/g, '""')}"` : defused;
};

describe("csvText", () => {
  it.each([
    ["plain", "plain"],
    ["", ""],
    ['say "hi", ok', '"say ""hi"", ok"'],
    ["a,b", '"a,b"'],
    ["line\nbreak", '"line\nbreak"'],
    ["cr\rinside", '"cr\rinside"'],
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", "\"'\rx\""],
    ["=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"],
    ['=HYPERLINK("http://evil")', `"'=HYPERLINK(""http://evil"")"`],
    [" padded ", '" padded "'],
    ["trailing\t", '"trailing\t"'],
    ["\u00a0nbsp", '"\u00a0nbsp"'],
    ["ideographic\u3000", '"ideographic\u3000"'],
    ["bom\ufeff", '"bom\ufeff"'],
    ["zero\u200bwidth", "zero\u200bwidth"],
    ["Bildgenerierung: Äpfel 🍎 日本語", "Bildgenerierung: Äpfel 🍎 日本語"],
    ["'already quoted'", "'already quoted'"],
    ['"', '""""'],
  ])("%j → %j", (input, expected) => {
    expect(csvText(input)).toBe(expected);
    expect(referenceText(input)).toBe(expected);
  });

  it("agrees with the regexes on every UTF-16 code unit at the start, inside and at the end", () => {
    const differ: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      for (const s of [ch, `${ch}x`, `x${ch}`, `x${ch}x`]) if (csvText(s) !== referenceText(s)) differ.push(`U+${c.toString(16)} in ${JSON.stringify(s)}`);
    }
    expect(differ).toEqual([]);
  });

  it("agrees with the regexes on 20,000 random strings of awkward characters", () => {
    const random = seededRandom(38);
    const alphabet = ['"', ",", "\n", "\r", "\t", " ", "=", "+", "-", "@", "'", "a", "Z", "\u00a0", "\u2028", "\ufeff", "é", "🍎", "\u0000", "\u000b"];
    for (let i = 0; i < 20_000; i++) {
      let s = "";
      for (let n = Math.floor(random() * 8); n > 0; n--) s += alphabet[Math.floor(random() * alphabet.length)];
      expect(csvText(s), JSON.stringify(s)).toBe(referenceText(s));
    }
  });
});

describe("isoUtc", () => {
  const DAY = 86_400_000;
  it.each([
    0, 1, 999, 1000, DAY - 1, DAY, DAY + 1, 951_782_400_000 /* 2000-02-29 */, 1_764_782_119_497, Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(10000, 0, 1) + 1, -1, -DAY - 1, Date.UTC(-1, 0, 1), 8.64e15, -8.64e15, 1.5, 1_764_782_119_497.9,
  ])("%d as toISOString writes it", (ms) => {
    expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
  });

  it("refuses what toISOString refuses", async () => {
    for (const bad of [Number.NaN, Infinity, 8.64e15 + 1]) expect(() => isoUtc(bad)).toThrow(RangeError);
  });

  it("agrees with toISOString on 100,000 instants, in order and shuffled (its day cache)", () => {
    const random = seededRandom(2026);
    let ms = Date.UTC(2020, 0, 1);
    for (let i = 0; i < 50_000; i++) {
      ms += Math.floor(random() * 3 * 3_600_000);
      expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
      const any = Math.floor(random() * Date.UTC(9999, 11, 31));
      expect(isoUtc(any)).toBe(new Date(any).toISOString());
    }
  });
});

describe("csvMoney", () => {
  it.each([
    [0, "0.00"],
    [5, "0.05"],
    [500, "5.00"],
    [1999, "19.99"],
    [-250, "-2.50"],
    [123_456_789, "1234567.89"],
    [12.9, "0.12"],
  ])("%d minor units → %s", (minor, expected) => {
    expect(csvMoney(minor)).toBe(expected);
  });
});
