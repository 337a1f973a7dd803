import { describe, expect, it } from "vitest";
import { DEFAULT_AFTER_LOGIN, safeRedirect, safeRedirectTarget } from "./safe-redirect";

const APP = "https://credits.example.com";

// Each row is a value an attacker can put in ?redirectTo= or the hidden field. All must fall back.
const hostile: Array<[string, unknown]> = [
  ["absolute http URL", "http://evil.example/"],
  ["absolute https URL", "https://evil.example/login"],
  ["protocol-relative", "//evil.example"],
  ["protocol-relative with path", "//evil.example/generate"],
  ["slash backslash", "/\\evil.example"],
  ["backslash backslash", "\\\\evil.example"],
  ["backslash later in the path", "/generate\\..\\\\evil.example"],
  ["TAB between the slashes", "/\t/evil.example"],
  ["CR between the slashes", "/\r/evil.example"],
  ["LF between the slashes", "/\n/evil.example"],
  ["CRLF header injection", "/generate\r\nSet-Cookie: x=1"],
  ["NUL byte", "/generate\u0000"],
  ["leading space", " /generate"],
  ["leading space then //", " //evil.example"],
  ["space inside", "/gen erate"],
  ["non-breaking space", "/\u00a0/evil.example"],
  ["encoded slashes", "/%2F%2Fevil.example"],
  ["encoded slashes, lower case", "/%2f%2fevil.example"],
  ["encoded backslash", "/%5Cevil.example"],
  ["double-encoded slashes", "/%252F%252Fevil.example"],
  ["encoded TAB", "/%09/evil.example"],
  ["dot segment collapsing to //", "/.//evil.example"],
  ["dot-dot segment collapsing to //", "/x/..//evil.example"],
  ["userinfo trick", "https://credits.example.com@evil.example/"],
  ["userinfo after //", "//credits.example.com@evil.example"],
  ["scheme without slashes", "https:evil.example"],
  ["scheme without slashes, path", "http:/evil.example"],
  ["javascript: URL", "javascript:alert(document.cookie)"],
  ["javascript: upper case", "JaVaScRiPt:alert(1)"],
  ["data: URL", "data:text/html,<script>alert(1)</script>"],
  ["vbscript: URL", "vbscript:msgbox(1)"],
  ["relative without a slash", "evil.example"],
  ["fraction slash look-alike", "/\u2044/evil.example"],
  ["division slash look-alike", "/\u2215evil.example"],
  ["fullwidth solidus look-alike", "/\uff0f/evil.example"],
  ["fullwidth reverse solidus", "/\uff3cevil.example"],
  ["encoded unicode look-alike", "/%E2%88%95evil.example"],
  ["over-long value", `/${"a".repeat(3000)}`],
  ["empty string", ""],
  ["just a query", "?x=1"],
  ["just a fragment", "#x"],
  ["a number, not a string", 42],
  ["null", null],
  ["undefined", undefined],
  ["a File-like object", { name: "/generate" }],
  ["query with a raw space the parser rewrites", "/generate?x=a b"],
];

describe("safeRedirect", () => {
  it.each(hostile)("refuses %s", (_label, value) => {
    expect(safeRedirectTarget(value, APP)).toBeNull();
    expect(safeRedirect(value, APP)).toBe(DEFAULT_AFTER_LOGIN);
  });

  it("has a table worth the name", () => {
    expect(hostile.length).toBeGreaterThanOrEqual(30);
  });

  it.each([
    ["/generate"],
    ["/settings/billing"],
    ["/admin/credits/42"],
    ["/admin/credits?q=someone%40example.com&page=2"],
    ["/generate?job=17#result"],
    ["/"],
  ])("keeps the same-origin path %s unchanged", (target) => {
    expect(safeRedirect(target, APP)).toBe(target);
  });

  it("uses the caller's fallback", () => {
    expect(safeRedirect("//evil.example", APP, "/")).toBe("/");
  });

  it("works for an APP_URL with a port or a path", () => {
    expect(safeRedirect("/generate", "http://127.0.0.1:3000")).toBe("/generate");
    expect(safeRedirect("/generate", "https://example.com/app/")).toBe("/generate");
    expect(safeRedirect("//127.0.0.1:3000/generate", "http://127.0.0.1:3000")).toBe(DEFAULT_AFTER_LOGIN);
  });
});
