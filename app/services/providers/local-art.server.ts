import { createHash } from "node:crypto";
import * as gifenc from "gifenc";
import { encodeRgbPng } from "./png.server";

// Procedural pictures for the local provider: a prompt becomes a 64-bit seed, the seed becomes a
// scene (a looping three-colour gradient and a handful of discs, rings and bars), and the scene is
// drawn either as a PNG at full size or as a small looping GIF. Same prompt, same pixels.

// gifenc is CommonJS marked `__esModule`. Node's ESM loader exposes module.exports only as
// `default` (no named exports detected); CJS interop (tsx, bundlers) exposes the names directly.
const GIFEncoder: typeof gifenc.GIFEncoder =
  typeof gifenc.GIFEncoder === "function"
    ? gifenc.GIFEncoder
    : (gifenc.default as { GIFEncoder: typeof gifenc.GIFEncoder }).GIFEncoder;

type Rgb = [number, number, number];

type Shape = {
  kind: "disc" | "ring" | "bar";
  cx: number; // centre, 0..1 of width
  cy: number; // centre, 0..1 of height
  r: number; // radius (or half-length for bars), 0..1 of the shorter side
  thickness: number; // ring width / bar half-height, 0..1 of the shorter side
  colour: Rgb;
  alpha: number;
  orbit: { ax: number; ay: number; phase: number; turns: number }; // GIF motion, loops seamlessly
};

type Scene = { stops: [Rgb, Rgb, Rgb]; angle: number; shapes: Shape[] };

/** 16 hex characters derived from the prompt (trimmed, whitespace collapsed). */
export function seedFromPrompt(prompt: string): string {
  const normalised = prompt.trim().replace(/\s+/g, " ");
  return createHash("sha256").update(normalised, "utf8").digest("hex").slice(0, 16);
}

/** sfc32, seeded from the 64-bit hex seed: small, fast, good enough for pictures. */
function createRandom(seed: string): () => number {
  let a = parseInt(seed.slice(0, 8), 16) >>> 0;
  let b = parseInt(seed.slice(8, 16), 16) >>> 0;
  let c = (a ^ 0x9e3779b9) >>> 0;
  let d = (b ^ 0x85ebca6b) >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // warm up: nearby seeds diverge
  return next;
}

function hslToRgb(h: number, s: number, l: number): Rgb {
  const hue = ((h % 1) + 1) % 1;
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const channel = (t: number) => {
    const x = ((t % 1) + 1) % 1;
    if (x < 1 / 6) return p + (q - p) * 6 * x;
    if (x < 1 / 2) return q;
    if (x < 2 / 3) return p + (q - p) * (2 / 3 - x) * 6;
    return p;
  };
  return [channel(hue + 1 / 3), channel(hue), channel(hue - 1 / 3)].map((v) => Math.round(v * 255)) as Rgb;
}

function createScene(seed: string): Scene {
  const random = createRandom(seed);
  const baseHue = random();
  const spread = 0.08 + random() * 0.35; // analogous to near-complementary
  const stops: [Rgb, Rgb, Rgb] = [
    hslToRgb(baseHue, 0.55 + random() * 0.35, 0.18 + random() * 0.2),
    hslToRgb(baseHue + spread, 0.6 + random() * 0.35, 0.42 + random() * 0.2),
    hslToRgb(baseHue - spread, 0.5 + random() * 0.4, 0.62 + random() * 0.2),
  ];
  const shapes: Shape[] = [];
  const count = 4 + Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    const roll = random();
    shapes.push({
      kind: roll < 0.5 ? "disc" : roll < 0.8 ? "ring" : "bar",
      cx: 0.1 + random() * 0.8,
      cy: 0.1 + random() * 0.8,
      r: 0.05 + random() * 0.22,
      thickness: 0.012 + random() * 0.04,
      colour: hslToRgb(baseHue + 0.5 + (random() - 0.5) * 0.5, 0.5 + random() * 0.5, 0.45 + random() * 0.35),
      alpha: 0.45 + random() * 0.5,
      orbit: {
        ax: 0.03 + random() * 0.12,
        ay: 0.03 + random() * 0.12,
        phase: random() * Math.PI * 2,
        turns: random() < 0.5 ? 1 : -1,
      },
    });
  }
  return { stops, angle: random() * Math.PI * 2, shapes };
}

/** Position 0..1 along the gradient; `dx`/`dy` are the per-pixel steps. */
function gradientAxis(width: number, height: number, angle: number) {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const extent = Math.abs(cos) + Math.abs(sin);
  const dx = cos / extent / width;
  const dy = sin / extent / height;
  const origin = 0.5 - (dx * (width - 1) + dy * (height - 1)) / 2;
  return { origin, dx, dy };
}

function mix(a: number, b: number, t: number) {
  return a + (b - a) * t;
}

/** A full-size picture for `prompt`, as PNG bytes. */
export function renderImage(prompt: string, width: number, height: number): Buffer {
  const scene = createScene(seedFromPrompt(prompt));
  const rgb = new Uint8Array(width * height * 3);
  const [s0, s1, s2] = scene.stops;

  // Background: gradient s0 -> s1 -> s2 with a soft vignette.
  const { origin, dx, dy } = gradientAxis(width, height, scene.angle);
  for (let y = 0; y < height; y++) {
    const vy = (y / height - 0.5) * 2;
    let t = origin + dy * y;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, t += dx, o += 3) {
      const vx = (x / width - 0.5) * 2;
      const shade = 1 - 0.22 * (vx * vx + vy * vy);
      const u = t < 0 ? 0 : t > 1 ? 1 : t;
      if (u < 0.5) {
        const k = u * 2;
        rgb[o] = mix(s0[0], s1[0], k) * shade;
        rgb[o + 1] = mix(s0[1], s1[1], k) * shade;
        rgb[o + 2] = mix(s0[2], s1[2], k) * shade;
      } else {
        const k = (u - 0.5) * 2;
        rgb[o] = mix(s1[0], s2[0], k) * shade;
        rgb[o + 1] = mix(s1[1], s2[1], k) * shade;
        rgb[o + 2] = mix(s1[2], s2[2], k) * shade;
      }
    }
  }

  // Shapes, alpha-blended with a one-pixel soft edge.
  const unit = Math.min(width, height);
  for (const shape of scene.shapes) {
    const cx = shape.cx * width;
    const cy = shape.cy * height;
    const r = shape.r * unit;
    const half = (shape.thickness * unit) / 2;
    const reach = shape.kind === "bar" ? r : r + half + 1;
    const reachY = shape.kind === "bar" ? half * 2 : reach;
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(width - 1, Math.ceil(cx + reach));
    const y0 = Math.max(0, Math.floor(cy - reachY));
    const y1 = Math.min(height - 1, Math.ceil(cy + reachY));
    const [cr, cg, cb] = shape.colour;
    for (let y = y0; y <= y1; y++) {
      const ddy = y + 0.5 - cy;
      let o = (y * width + x0) * 3;
      for (let x = x0; x <= x1; x++, o += 3) {
        const ddx = x + 0.5 - cx;
        let cover: number;
        if (shape.kind === "disc") cover = r - Math.sqrt(ddx * ddx + ddy * ddy) + 0.5;
        else if (shape.kind === "ring") cover = half - Math.abs(Math.sqrt(ddx * ddx + ddy * ddy) - r) + 0.5;
        else cover = Math.min(r - Math.abs(ddx), half * 2 - Math.abs(ddy)) + 0.5;
        if (cover <= 0) continue;
        const a = (cover >= 1 ? 1 : cover) * shape.alpha;
        rgb[o] = mix(rgb[o], cr, a);
        rgb[o + 1] = mix(rgb[o + 1], cg, a);
        rgb[o + 2] = mix(rgb[o + 2], cb, a);
      }
    }
  }

  return encodeRgbPng(width, height, rgb);
}

// Palette entries 0..63 hold the looping gradient, 64.. one per shape. Coarse bands keep the LZW
// runs long: a 40-frame 480x270 preview stays well under a megabyte.
const GRADIENT_COLOURS = 64;
const MIN_FRAMES = 16;
const MAX_FRAMES = 40;

/**
 * A looping animated GIF for `seed` (see seedFromPrompt): the gradient flows once round per loop
 * and every shape travels one orbit, so the last frame leads back into the first.
 */
export function renderAnimation(seed: string, width: number, height: number, durationSeconds: number): Buffer {
  const scene = createScene(seed);
  const [s0, s1, s2] = scene.stops;

  const palette: Rgb[] = [];
  for (let i = 0; i < GRADIENT_COLOURS; i++) {
    const u = (i / GRADIENT_COLOURS) * 3; // s0 -> s1 -> s2 -> s0
    const [a, b] = u < 1 ? [s0, s1] : u < 2 ? [s1, s2] : [s2, s0];
    const k = u % 1;
    palette.push([Math.round(mix(a[0], b[0], k)), Math.round(mix(a[1], b[1], k)), Math.round(mix(a[2], b[2], k))]);
  }
  scene.shapes.forEach((shape) => palette.push(shape.colour));
  while (palette.length < 256) palette.push([0, 0, 0]);

  const frameCount = Math.min(MAX_FRAMES, Math.max(MIN_FRAMES, Math.round(durationSeconds * 8)));
  const delay = Math.round((durationSeconds * 1000) / frameCount);
  const { origin, dx, dy } = gradientAxis(width, height, scene.angle);
  const unit = Math.min(width, height);
  const gif = GIFEncoder();
  const index = new Uint8Array(width * height);

  for (let f = 0; f < frameCount; f++) {
    const phase = f / frameCount;
    for (let y = 0; y < height; y++) {
      let t = origin + dy * y + phase;
      let o = y * width;
      for (let x = 0; x < width; x++, t += dx, o++) {
        const u = t - Math.floor(t);
        index[o] = Math.floor(u * GRADIENT_COLOURS) % GRADIENT_COLOURS;
      }
    }
    scene.shapes.forEach((shape, i) => {
      const angle = shape.orbit.phase + shape.orbit.turns * phase * Math.PI * 2;
      const cx = (shape.cx + shape.orbit.ax * Math.cos(angle)) * width;
      const cy = (shape.cy + shape.orbit.ay * Math.sin(angle)) * height;
      const r = shape.r * unit;
      const half = Math.max(1, (shape.thickness * unit) / 2);
      const reach = shape.kind === "bar" ? r : r + half;
      const reachY = shape.kind === "bar" ? half * 2 : reach;
      const inner = Math.max(0, r - half) ** 2;
      const outer = (r + half) ** 2;
      const colour = GRADIENT_COLOURS + i;
      for (let y = Math.max(0, Math.floor(cy - reachY)); y <= Math.min(height - 1, Math.ceil(cy + reachY)); y++) {
        const ddy = y + 0.5 - cy;
        for (let x = Math.max(0, Math.floor(cx - reach)); x <= Math.min(width - 1, Math.ceil(cx + reach)); x++) {
          const ddx = x + 0.5 - cx;
          const d2 = ddx * ddx + ddy * ddy;
          const inside =
            shape.kind === "disc"
              ? d2 <= r * r
              : shape.kind === "ring"
                ? d2 >= inner && d2 <= outer
                : Math.abs(ddx) <= r && Math.abs(ddy) <= half * 2;
          if (inside) index[y * width + x] = colour;
        }
      }
    });
    // Only the first frame carries the palette: it becomes the global colour table for all frames.
    gif.writeFrame(index, width, height, f === 0 ? { palette, delay, repeat: 0 } : { delay });
  }
  gif.finish();
  return Buffer.from(gif.bytes());
}
