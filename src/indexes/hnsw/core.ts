// The HNSW algorithm of Malkov & Yashunin for one thread: greedy descent through the upper levels,
// beam search (ef) on a level with an epoch-tagged visited set, the neighbour-selection heuristic,
// and insertion with bidirectional links pruned by the heuristic. Several HnswCore instances (one
// per worker thread) can insert into the same shared Graph: list reads and writes then take the
// slot's lock (`concurrent`), as hnswlib does.
import { ENTRY, MAX_LEVEL, type Graph } from './graph.js';
import { SlotHeap } from './heap.js';
import { DOT, type Space } from './space.js';

/** Decides whether a slot may appear in results (tombstones, filters); null admits all. */
export type SlotFilter = ((slot: number) => boolean) | null;

/** Filters that only refuse tombstones (graph.deleted): the WebAssembly search applies those itself. */
const tombstoneFilters = new WeakSet<object>();

/** The filter admitting every slot not marked deleted in `deleted`. */
export function tombstoneFilter(deleted: Uint8Array): (slot: number) => boolean {
  const f = (slot: number) => deleted[slot] === 0;
  tombstoneFilters.add(f);
  return f;
}

export class HnswCore {
  graph: Graph;
  readonly space: Space;
  /** Take per-slot locks (several threads insert into the graph at once). */
  concurrent: boolean;
  private visited: Uint32Array;
  private epoch = 0;
  /** Candidates to expand (min-heap by key). */
  readonly candidates = new SlotHeap(256);
  /** Best results so far (max-heap: keys negated). */
  readonly results = new SlotHeap(256);
  private nb: Int32Array;
  private nbKeys: Float64Array;
  private sel: Int32Array;
  private selKeys: Float64Array;
  private tmpKeys: Float64Array;
  /** Sorted candidates extracted from `results` (ascending key). */
  sortedSlots = new Int32Array(256);
  sortedKeys = new Float64Array(256);

  constructor(graph: Graph, space: Space, concurrent: boolean) {
    this.graph = graph;
    this.space = space;
    this.concurrent = concurrent;
    this.visited = new Uint32Array(graph.capacity);
    const big = graph.m0 + 2;
    this.nb = new Int32Array(big);
    this.nbKeys = new Float64Array(big);
    this.sel = new Int32Array(big);
    this.selKeys = new Float64Array(big);
    this.tmpKeys = new Float64Array(big);
  }

  /** Points at a (grown) graph; call after Graph.grow on the main thread. */
  setGraph(graph: Graph): void {
    this.graph = graph;
    if (this.visited.length < graph.capacity) { this.visited = new Uint32Array(graph.capacity); this.epoch = 0; }
  }

  private nextEpoch(): number {
    if (++this.epoch === 0xffffffff) { this.visited.fill(0); this.epoch = 1; }
    return this.epoch;
  }

  /** Copies the neighbours of `slot` at `level` into `out`; returns the count. */
  readList(slot: number, level: number, out: Int32Array): number {
    const g = this.graph, arr = g.listArray(level), at = g.listAt(slot, level);
    if (this.concurrent) g.lock(slot);
    const n = arr[at];
    for (let i = 0; i < n; i++) out[i] = arr[at + 1 + i];
    if (this.concurrent) g.unlock(slot);
    return n;
  }

  private writeList(slot: number, level: number, src: Int32Array, n: number): void {
    const g = this.graph, arr = g.listArray(level), at = g.listAt(slot, level);
    arr[at] = n;
    for (let i = 0; i < n; i++) arr[at + 1 + i] = src[i];
  }

  /** Key of the current query to one slot. */
  keyTo(slot: number): number {
    this.nb[0] = slot;
    this.space.keys(this.nb, 1, this.nbKeys);
    return this.nbKeys[0];
  }

  /** Greedy descent from (ep, epKey) through levels from..to+1 (ef = 1); returns the slot reached, key in `lastKey`. */
  lastKey = 0;
  greedy(ep: number, epKey: number, from: number, to: number): number {
    let cur = ep, curKey = epKey;
    for (let level = from; level > to; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const n = this.readList(cur, level, this.nb);
        if (n === 0) break;
        this.space.keys(this.nb, n, this.nbKeys);
        for (let i = 0; i < n; i++) {
          if (this.nbKeys[i] < curKey) { curKey = this.nbKeys[i]; cur = this.nb[i]; changed = true; }
        }
      }
    }
    this.lastKey = curKey;
    return cur;
  }

  /**
   * Beam search on one level from (ep, epKey) keeping the `ef` best admitted slots in `results`
   * (a max-heap over negated keys). Slots refused by `allow` are traversed but not returned.
   */
  searchLayer(ep: number, epKey: number, ef: number, level: number, allow: SlotFilter): void {
    const epoch = this.nextEpoch();
    const visited = this.visited, cand = this.candidates, res = this.results, space = this.space;
    const nb = this.nb, keys = this.nbKeys;
    cand.clear(); res.clear();
    visited[ep] = epoch;
    cand.push(epKey, ep);
    if (allow === null || allow(ep)) res.push(-epKey, ep);
    const g = this.graph, arr = g.listArray(level), concurrent = this.concurrent;
    while (cand.size > 0) {
      const ck = cand.topKey();
      if (res.size >= ef && ck > -res.topKey()) break;
      const c = cand.pop();
      // Unvisited neighbours of c, read under its lock when other threads may be writing.
      const at = g.listAt(c, level);
      if (concurrent) g.lock(c);
      const n = arr[at];
      let u = 0;
      for (let i = 0; i < n; i++) {
        const s = arr[at + 1 + i];
        if (visited[s] !== epoch) { visited[s] = epoch; nb[u++] = s; }
      }
      if (concurrent) g.unlock(c);
      if (u === 0) continue;
      space.keys(nb, u, keys);
      for (let i = 0; i < u; i++) {
        const key = keys[i];
        if (res.size < ef || key < -res.topKey()) {
          const s = nb[i];
          cand.push(key, s);
          if (allow === null || allow(s)) {
            res.push(-key, s);
            if (res.size > ef) res.pop();
          }
        }
      }
    }
  }

  /** Makes sortedSlots/sortedKeys hold at least n entries. */
  private sortedRoom(n: number): void {
    if (this.sortedSlots.length < n) { this.sortedSlots = new Int32Array(n * 2); this.sortedKeys = new Float64Array(n * 2); }
  }

  /** Drains `results` into sortedSlots/sortedKeys, ascending by key; returns the count. */
  drainSorted(): number {
    const res = this.results, n = res.size;
    this.sortedRoom(n);
    for (let i = n - 1; i >= 0; i--) {
      this.sortedKeys[i] = -res.topKey();
      this.sortedSlots[i] = res.pop();
    }
    return n;
  }

  /**
   * The neighbour-selection heuristic: walking candidates by increasing key, keep one only if it
   * is closer to the base than to every neighbour already kept. Writes up to `max` slots to `out`.
   * Candidates with a key ≤ `dupKey` (copies of the base) are kept `maxDup` at most.
   */
  private selectNeighbours(slots: Int32Array, keys: Float64Array, count: number, max: number, out: Int32Array, dupKey = -Infinity, maxDup = max): number {
    if (count <= max) {
      for (let i = 0; i < count; i++) out[i] = slots[i];
      return count;
    }
    let kept = 0, dups = 0;
    const tmp = this.tmpKeys;
    for (let i = 0; i < count && kept < max; i++) {
      const e = slots[i], ek = keys[i];
      if (ek <= dupKey && dups++ >= maxDup) continue;
      let good = true;
      if (kept > 0) {
        this.space.keysFrom(e, out, kept, tmp);
        for (let j = 0; j < kept; j++) if (tmp[j] < ek) { good = false; break; }
      }
      if (good) out[kept++] = e;
    }
    return kept;
  }

  /** Adds `s` to the list of `n` at `level`, pruning with the heuristic when full. */
  private link(n: number, s: number, level: number): void {
    const g = this.graph, cap = level === 0 ? g.m0 : g.m;
    const arr = g.listArray(level), at = g.listAt(n, level);
    if (this.concurrent) g.lock(n);
    const count = arr[at];
    let dup = false;
    for (let i = 0; i < count; i++) if (arr[at + 1 + i] === s) { dup = true; break; }
    if (!dup) {
      if (count < cap) {
        arr[at + 1 + count] = s;
        arr[at] = count + 1;
      } else {
        // The newcomer wins ties (see sortPairs): otherwise, among equidistant entries, a full list
        // always drops it, and once every list it was offered to is full it has no in-link left.
        const nb = this.nb, keys = this.nbKeys;
        for (let i = 0; i < count; i++) nb[i] = arr[at + 1 + i];
        nb[count] = s;
        this.space.keysFrom(n, nb, count + 1, keys);
        sortPairs(nb, keys, count + 1, s);
        const kept = this.selectNeighbours(nb, keys, count + 1, cap, this.sel);
        this.writeList(n, level, this.sel, kept);
      }
    }
    if (this.concurrent) g.unlock(n);
  }

  /**
   * Inserts stored row `slot` (its level already set in the graph, its lists empty) with beam
   * width `efConstruction`.
   */
  insert(slot: number, efConstruction: number): void {
    const g = this.graph, meta = g.meta, level = g.levels[slot];
    this.space.setQueryToSlot(slot);
    if (this.concurrent) g.lock(-1);
    const ep = meta[ENTRY], maxLevel = meta[MAX_LEVEL];
    if (ep < 0) {
      meta[ENTRY] = slot; meta[MAX_LEVEL] = level;
      if (this.concurrent) g.unlock(-1);
      return;
    }
    const raisesTop = level > maxLevel;
    if (this.concurrent && !raisesTop) g.unlock(-1);

    // Copies of the new vector (a key no larger than its key to itself: distance 0, or cosine 1)
    // fill at most half of its lists — the most recent ones, by the tie rule — and the rest goes to
    // other neighbours: to the rest of the graph the copies are one point, and a list holding only
    // copies links the group to nothing else (at m = 2, an outlying group of copies was cut off).
    // Under dot a vector is not its own nearest, so there is no such notion of a copy.
    const dupKey = this.space.metric === DOT ? -Infinity : this.keyTo(slot);
    let cur = this.greedy(ep, this.keyTo(ep), maxLevel, level);
    let curKey = this.lastKey;
    for (let l = Math.min(level, maxLevel); l >= 0; l--) {
      let n = -1;
      if (l === 0) {
        this.sortedRoom(efConstruction);
        n = this.space.searchLevel0(cur, curKey, efConstruction, false, this.sortedSlots, this.sortedKeys, this.concurrent);
      }
      if (n < 0) {
        this.searchLayer(cur, curKey, efConstruction, l, null);
        n = this.drainSorted();
      }
      orderTies(this.sortedSlots, this.sortedKeys, n);
      // A reused slot may still be reachable through old links: never link a slot to itself.
      const own = this.sortedSlots.subarray(0, n).indexOf(slot);
      if (own >= 0) {
        this.sortedSlots.copyWithin(own, own + 1, n);
        this.sortedKeys.copyWithin(own, own + 1, n);
        n--;
      }
      if (n === 0) continue;
      const selected = this.sel;
      const kept = this.selectNeighbours(this.sortedSlots, this.sortedKeys, n, g.m, selected, dupKey, Math.ceil(g.m / 2));
      const mine = new Int32Array(selected.subarray(0, kept));
      if (this.concurrent) g.lock(slot);
      this.writeList(slot, l, mine, kept);
      if (this.concurrent) g.unlock(slot);
      for (let i = 0; i < kept; i++) this.link(mine[i], slot, l);
      cur = this.sortedSlots[0]; curKey = this.sortedKeys[0];
    }
    if (raisesTop) {
      meta[ENTRY] = slot; meta[MAX_LEVEL] = level;
      if (this.concurrent) g.unlock(-1);
    }
  }

  /**
   * Search from the entry point: greedy descent, then a beam of width `ef` on level 0. Leaves the
   * admitted results in sortedSlots/sortedKeys (ascending); returns their count.
   */
  search(ef: number, allow: SlotFilter): number {
    const g = this.graph, ep = g.meta[ENTRY];
    if (ep < 0) return 0;
    const cur = this.greedy(ep, this.keyTo(ep), g.meta[MAX_LEVEL], 0);
    // Level 0 in WebAssembly when it can (no filter but tombstones; float rows), else here.
    if (allow === null || tombstoneFilters.has(allow)) {
      this.sortedRoom(ef);
      const n = this.space.searchLevel0(cur, this.lastKey, ef, allow !== null, this.sortedSlots, this.sortedKeys);
      if (n >= 0) return n;
    }
    this.searchLayer(cur, this.lastKey, ef, 0, allow);
    return this.drainSorted();
  }

  /**
   * Takes the slots marked in `gone` out of the graph before they are reused (the consolidation
   * of FreshDiskANN): every list that points at one of them is re-selected with the heuristic from
   * its other entries plus the gone slots' own neighbours, so paths through them are kept, and no
   * list is left pointing at a slot that will hold an unrelated vector. Then their lists are
   * emptied. One pass over the lists of the first `size` slots.
   */
  unlink(gone: Uint8Array, size: number): void {
    const g = this.graph, visited = this.visited, levels = g.levels;
    this.space.refresh();
    let top = -1;
    for (let v = 0; v < size; v++) if (levels[v] > top) top = levels[v];
    const pool = new Int32Array(g.m0 * (g.m0 + 1) + 1), keys = new Float64Array(pool.length);
    const out = new Int32Array(g.m0 + 1);
    for (let level = 0; level <= top; level++) {
      const arr = g.listArray(level), cap = level === 0 ? g.m0 : g.m;
      for (let v = 0; v < size; v++) {
        if (gone[v] || levels[v] < level) continue;
        const at = g.listAt(v, level), n = arr[at];
        let hit = false;
        for (let i = 0; i < n; i++) if (gone[arr[at + 1 + i]]) { hit = true; break; }
        if (!hit) continue;
        const epoch = this.nextEpoch();
        visited[v] = epoch;
        let count = 0;
        for (let i = 0; i < n; i++) {
          const s = arr[at + 1 + i];
          if (!gone[s] && visited[s] !== epoch) { visited[s] = epoch; pool[count++] = s; }
        }
        for (let i = 0; i < n; i++) {
          const s = arr[at + 1 + i];
          if (!gone[s] || levels[s] < level) continue;
          const sat = g.listAt(s, level), sn = arr[sat];
          for (let j = 0; j < sn; j++) {
            const t = arr[sat + 1 + j];
            if (!gone[t] && visited[t] !== epoch && levels[t] >= level) { visited[t] = epoch; pool[count++] = t; }
          }
        }
        // Keys from v, through the thread's scratch in chunks of at most m0 slots.
        for (let off = 0; off < count; off += g.m0) {
          const part = pool.subarray(off, Math.min(off + g.m0, count));
          this.space.keysFrom(v, part, part.length, this.tmpKeys);
          keys.set(this.tmpKeys.subarray(0, part.length), off);
        }
        sortPairs(pool, keys, count);
        const kept = this.selectNeighbours(pool, keys, count, cap, out);
        this.writeList(v, level, out, kept);
      }
    }
    for (let s = 0; s < size; s++) {
      if (!gone[s]) continue;
      for (let level = 0; level <= levels[s]; level++) g.listArray(level)[g.listAt(s, level)] = 0;
    }
  }
}

// Ties between equal keys are broken the same way in every neighbour selection: the newcomer being
// linked first, then the larger slot (the later appended) — hnswlib's (distance, id) order, where
// the newest id wins. This is what keeps duplicates of one vector reachable: a newcomer picks the
// most recent copies, and each copy's list then only ever receives the next m copies (m + m = m0,
// so level-0 lists of copies never overflow), a chain through all of them. With ties in arbitrary
// order every newcomer picked the same few copies, whose full lists then evicted the newest: 100
// copies of one vector gave 33 hits at m = 16.

/** Whether (ka, a) sorts before (kb, b): smaller key, then `first`, then the larger slot. */
function before(ka: number, a: number, kb: number, b: number, first: number): boolean {
  return ka < kb || (ka === kb && a !== b && (a === first || (b !== first && a > b)));
}

/**
 * Sorts parallel arrays by key ascending, ties as above (`first`: the slot that wins ties, −1 for
 * none). Insertion sort for short lists, as they usually are.
 */
export function sortPairs(slots: Int32Array, keys: Float64Array, n: number, first = -1): void {
  if (n > 48) {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (before(keys[a], slots[a], keys[b], slots[b], first) ? -1 : before(keys[b], slots[b], keys[a], slots[a], first) ? 1 : 0));
    const s = slots.slice(0, n), k = keys.slice(0, n);
    for (let i = 0; i < n; i++) { slots[i] = s[order[i]]; keys[i] = k[order[i]]; }
    return;
  }
  for (let i = 1; i < n; i++) {
    const k = keys[i], s = slots[i];
    let j = i - 1;
    while (j >= 0 && before(k, s, keys[j], slots[j], first)) { keys[j + 1] = keys[j]; slots[j + 1] = slots[j]; j--; }
    keys[j + 1] = k; slots[j + 1] = s;
  }
}

/** Orders the runs of equal keys in key-sorted arrays by the tie rule (they are rare: O(n) scan). */
function orderTies(slots: Int32Array, keys: Float64Array, n: number): void {
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && keys[j] === keys[i]) j++;
    if (j - i > 1) sortPairs(slots.subarray(i, j), keys.subarray(i, j), j - i);
    i = j;
  }
}
