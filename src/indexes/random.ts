// mulberry32: the small seeded PRNG behind level draws, sampling and k-means++ (deterministic for a
// seed, and its whole state is one u32 that index files save).

/** A PRNG in [0, 1) whose `state()` restarts it exactly via `prng(state())`. */
export function prng(seed: number): { (): number; state: () => number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.assign(next, { state: () => a });
}
