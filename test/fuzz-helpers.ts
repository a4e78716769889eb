// Helpers of the wire-API fuzzes: a seeded perturbation of valid JSON bodies.

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** What a perturbation draws from: odd values, a deep-nesting maker, and member names to add. */
export interface Perturbation {
  odd: readonly Json[];
  deep: (levels: number) => Json;
  extraKeys: readonly string[];
}

/**
 * Walks `v` and, at each member with probability p, replaces it with an odd value (one time in
 * ten a 5-, 40- or 200/300-level nesting), drops it, or adds an extra member.
 */
export function perturb(v: Json, r: () => number, p: number, how: Perturbation, depths: readonly number[] = [5, 40, 200]): Json {
  const odd = () => how.odd[Math.floor(r() * how.odd.length)]!;
  if (Array.isArray(v)) {
    const out = v.map((x) => (r() < p ? odd() : perturb(x, r, p, how, depths)));
    if (r() < p) out.push(odd());
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) {
      const roll = r();
      if (roll < p / 3) continue; // dropped
      out[k] = roll < p ? (r() < 0.1 ? how.deep(depths[Math.floor(r() * depths.length)]!) : odd()) : perturb(x, r, p, how, depths);
    }
    if (r() < p / 2) out[how.extraKeys[Math.floor(r() * how.extraKeys.length)]!] = odd();
    return out;
  }
  return v;
}
