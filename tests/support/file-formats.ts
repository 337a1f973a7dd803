import { inflateSync } from "node:zlib";
import { crc32 } from "../../app/services/providers/png.server";

// Test-only readers that check generated files the hard way: every PNG chunk CRC, the inflated
// image data against the header's size, every GIF block up to the trailer.

export type PngInfo = { width: number; height: number; colourType: number; bitDepth: number; pixels: Buffer };

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Parses and fully decodes an 8-bit, non-interlaced PNG; throws on anything malformed. */
export function inspectPng(data: Buffer): PngInfo {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!data.subarray(0, 8).equals(signature)) throw new Error("bad PNG signature");
  let offset = 8;
  let header: { width: number; height: number; bitDepth: number; colourType: number; interlace: number } | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (offset < data.length) {
    const length = data.readUInt32BE(offset);
    const type = data.toString("latin1", offset + 4, offset + 8);
    const body = data.subarray(offset + 8, offset + 8 + length);
    const crc = data.readUInt32BE(offset + 8 + length);
    const expected = (crc32(data.subarray(offset + 4, offset + 8 + length)) ^ 0xffffffff) >>> 0;
    if (crc !== expected) throw new Error(`bad CRC in ${type}`);
    if (offset === 8 && type !== "IHDR") throw new Error("first chunk is not IHDR");
    if (type === "IHDR") {
      header = {
        width: body.readUInt32BE(0),
        height: body.readUInt32BE(4),
        bitDepth: body[8],
        colourType: body[9],
        interlace: body[12],
      };
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") {
      ended = true;
      offset += 12 + length;
      break;
    }
    offset += 12 + length;
  }
  if (!header || !ended || offset !== data.length) throw new Error("missing IHDR/IEND or trailing bytes");
  if (header.bitDepth !== 8 || header.interlace !== 0) throw new Error("only 8-bit non-interlaced PNGs are read here");
  const bpp = CHANNELS[header.colourType];
  if (!bpp) throw new Error(`unknown colour type ${header.colourType}`);

  const raw = inflateSync(Buffer.concat(idat));
  const stride = header.width * bpp;
  if (raw.length !== (stride + 1) * header.height) {
    throw new Error(`IDAT inflates to ${raw.length} bytes, expected ${(stride + 1) * header.height}`);
  }
  const pixels = Buffer.alloc(stride * header.height);
  for (let y = 0; y < header.height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x];
      const a = x >= bpp ? pixels[y * stride + x - bpp] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? pixels[(y - 1) * stride + x - bpp] : 0;
      let predicted: number;
      if (filter === 0) predicted = 0;
      else if (filter === 1) predicted = a;
      else if (filter === 2) predicted = b;
      else if (filter === 3) predicted = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`bad filter type ${filter} on row ${y}`);
      pixels[y * stride + x] = (value + predicted) & 0xff;
    }
  }
  return { width: header.width, height: header.height, colourType: header.colourType, bitDepth: header.bitDepth, pixels };
}

export type GifInfo = { version: string; width: number; height: number; frames: number; delaysMs: number[]; loops: boolean };

/** Walks a GIF block by block to the trailer; throws on anything malformed. */
export function inspectGif(data: Buffer): GifInfo {
  const version = data.toString("latin1", 0, 6);
  if (version !== "GIF89a" && version !== "GIF87a") throw new Error("bad GIF signature");
  const width = data.readUInt16LE(6);
  const height = data.readUInt16LE(8);
  const packed = data[10];
  let offset = 13;
  if (packed & 0x80) offset += 3 * 2 ** ((packed & 0x07) + 1);
  const skipSubBlocks = () => {
    for (;;) {
      const size = data[offset++];
      if (size === undefined) throw new Error("truncated GIF");
      if (size === 0) return;
      offset += size;
    }
  };
  let frames = 0;
  let loops = false;
  const delaysMs: number[] = [];
  for (;;) {
    const block = data[offset++];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      const label = data[offset++];
      if (label === 0xf9) delaysMs.push(data.readUInt16LE(offset + 2) * 10);
      if (label === 0xff && data.toString("latin1", offset + 1, offset + 12) === "NETSCAPE2.0") loops = true;
      skipSubBlocks();
    } else if (block === 0x2c) {
      const frameWidth = data.readUInt16LE(offset + 4);
      const frameHeight = data.readUInt16LE(offset + 6);
      if (frameWidth > width || frameHeight > height) throw new Error("frame larger than the screen");
      const local = data[offset + 8];
      offset += 9;
      if (local & 0x80) offset += 3 * 2 ** ((local & 0x07) + 1);
      offset++; // LZW minimum code size
      skipSubBlocks();
      frames++;
    } else {
      throw new Error(`unexpected GIF block 0x${block?.toString(16)} at ${offset - 1}`);
    }
  }
  if (offset !== data.length) throw new Error("bytes after the GIF trailer");
  return { version, width, height, frames, delaysMs, loops };
}
