import { describe, expect, it } from "vitest";
import { axisTicks } from "./credits-chart";

describe("axisTicks", () => {
  it("steps in whole credits of 1, 2 or 5 × 10^k, and reaches the largest value", () => {
    for (const max of [1, 2, 3, 5, 7, 10, 13, 25, 50, 99, 250, 1001, 123_456]) {
      const ticks = axisTicks(max);
      expect(ticks[0]).toBe(0);
      expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(max);
      expect(ticks.every(Number.isInteger), `${max}: ${ticks}`).toBe(true);
      const step = ticks[1] - ticks[0];
      expect(String(step)).toMatch(/^[125]0*$/);
      expect(ticks.length).toBeLessThanOrEqual(6);
    }
    expect(axisTicks(5)).toEqual([0, 2, 4, 6]);
    expect(axisTicks(3)).toEqual([0, 1, 2, 3]);
    expect(axisTicks(10)).toEqual([0, 5, 10]);
    expect(axisTicks(0)).toEqual([0, 1]);
  });
});
