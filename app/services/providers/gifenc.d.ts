// gifenc ships no types; only what local-art.server.ts uses is declared here.
declare module "gifenc" {
  export type Palette = number[][];
  export type FrameOptions = {
    palette?: Palette;
    delay?: number; // milliseconds (stored as centiseconds)
    repeat?: number; // -1 once, 0 forever, n times
    transparent?: boolean;
    transparentIndex?: number;
    dispose?: number;
  };
  export type Encoder = {
    writeFrame(index: Uint8Array, width: number, height: number, options?: FrameOptions): void;
    finish(): void;
    bytes(): Uint8Array;
    bytesView(): Uint8Array;
  };
  export function GIFEncoder(options?: { auto?: boolean; initialCapacity?: number }): Encoder;
  // What `default` is depends on the loader (see local-art.server.ts), so it is left open.
  const defaultExport: unknown;
  export default defaultExport;
}
