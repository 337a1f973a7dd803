import { describe, expect, it } from "vitest";
import { ImageApiSchema, PROMPT_MAX_LENGTH, VideoApiSchema } from "./generation-schemas";

const messages = (result: { success: boolean; error?: { issues: Array<{ message: string }> } }) =>
  result.success ? [] : result.error!.issues.map((i) => i.message);

describe("generation input", () => {
  it("a prompt is required, must be text, not blank and at most the limit", () => {
    expect(messages(ImageApiSchema.safeParse({}))).toEqual(["A prompt is required"]);
    expect(messages(ImageApiSchema.safeParse({ prompt: 42 }))).toEqual(["The prompt must be text"]);
    expect(messages(ImageApiSchema.safeParse({ prompt: "   " }))).toEqual(["The prompt must not be empty"]);
    expect(messages(ImageApiSchema.safeParse({ prompt: "x".repeat(PROMPT_MAX_LENGTH + 1) }))).toEqual([
      `The prompt must be at most ${PROMPT_MAX_LENGTH} characters`,
    ]);
    expect(ImageApiSchema.parse({ prompt: ` ${"x".repeat(PROMPT_MAX_LENGTH)} ` }).prompt).toHaveLength(PROMPT_MAX_LENGTH);
  });

  it("options have defaults and a closed set of values; unknown fields are refused", () => {
    expect(ImageApiSchema.parse({ prompt: "p" })).toEqual({ prompt: "p", size: "1024x1024" });
    expect(VideoApiSchema.parse({ prompt: "p" })).toEqual({ prompt: "p", resolution: "720p", durationSeconds: 4 });
    expect(messages(ImageApiSchema.safeParse({ prompt: "p", size: "9x9" }))[0]).toMatch(/^Choose a size/);
    expect(messages(VideoApiSchema.safeParse({ prompt: "p", resolution: "4k" }))[0]).toMatch(/^Choose a resolution: 720p or 1080p/);
    expect(messages(ImageApiSchema.safeParse({ prompt: "p", resolution: "720p" }))[0]).toMatch(/Unrecognized key/);
  });

  it("a duration is a whole number of seconds from 1 to 20, as a number or a form string", () => {
    expect(VideoApiSchema.parse({ prompt: "p", durationSeconds: "8" }).durationSeconds).toBe(8);
    expect(VideoApiSchema.parse({ prompt: "p", durationSeconds: 20 }).durationSeconds).toBe(20);
    for (const bad of [0, 21, 2.5, "abc", "", true, -1]) {
      expect(messages(VideoApiSchema.safeParse({ prompt: "p", durationSeconds: bad })), String(bad)).toEqual([
        "The duration must be a whole number of seconds from 1 to 20",
      ]);
    }
  });
});
