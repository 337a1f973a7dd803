import { deflateSync } from "node:zlib";

// A minimal PNG writer: 8-bit truecolour (RGB), no interlace, one IDAT. Enough for the local
// provider's pictures and the fake OpenAI server's answers; no decoder lives here (tests inflate).

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array, start = 0xffffffff): number {
  let c = start;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  out.set(data, 8);
  // The CRC covers the type and the data, not the length.
  out.writeUInt32BE((crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0, 8 + data.length);
  return out;
}

/**
 * Encodes `rgb` (width * height * 3 bytes, row-major, top row first) as a PNG.
 * Each row uses the Sub filter, which makes smooth gradients compress far better (and faster)
 * than no filter at all.
 */
export function encodeRgbPng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  const stride = width * 3;
  if (rgb.length !== stride * height) {
    throw new RangeError(`expected ${stride * height} bytes of RGB for ${width}x${height}, got ${rgb.length}`);
  }

  const raw = Buffer.allocUnsafe((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const src = y * stride;
    const dst = y * (stride + 1);
    raw[dst] = 1; // filter type: Sub
    raw[dst + 1] = rgb[src];
    raw[dst + 2] = rgb[src + 1];
    raw[dst + 3] = rgb[src + 2];
    for (let x = 3; x < stride; x++) raw[dst + 1 + x] = (rgb[src + x] - rgb[src + x - 3]) & 0xff;
  }

  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method: adaptive
  ihdr[12] = 0; // interlace: none

  return Buffer.concat([
    PNG_SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 6 })),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** Width and height from a PNG's IHDR, or null when `data` is not a PNG. */
export function readPngSize(data: Uint8Array): { width: number; height: number } | null {
  if (data.length < 24 || !PNG_SIGNATURE.equals(Buffer.from(data.subarray(0, 8)))) return null;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (view.toString("latin1", 12, 16) !== "IHDR") return null;
  return { width: view.readUInt32BE(16), height: view.readUInt32BE(20) };
}
