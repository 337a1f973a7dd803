/**
 * mulberry32: a small, fast, seedable generator. Tests, workers and the bench seeder (which runs in
 * the container too, hence here and not in tests/) draw their "random" workloads from it, so the
 * same seed replays the same run (Math.random cannot).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
