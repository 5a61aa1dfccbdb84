/**
 * A page-cache index: page index (uint32) → pfn (int32), the lookups, stores and erases the
 * page cache needs from the kernel's xarray.
 *
 * Models the *semantics* the page cache relies on from lib/xarray.c and include/linux/xarray.h
 * (`xa_load`, `xa_store`, `xa_erase`, iteration in a deterministic order), Linux v6.12, not its
 * structure: this is an open-addressing hash table in typed arrays (linear probing, Fibonacci
 * hashing, backward-shift deletion so there are no tombstones, doubling at half load), not a
 * radix tree of 64-slot nodes.
 *
 * Left out: multi-index entries (a large folio spanning indices `[index, index + nr)` is stored
 * by the caller at each of its indices, as `xas_store` over a multi-order range would make every
 * index load the folio), value entries (shadow entries for workingset refault detection), marks
 * (XA_MARK_0..2 = PAGECACHE_TAG_DIRTY/WRITEBACK/TOWRITE), ordered range iteration
 * (`xa_for_each_range` visits indices in ascending order; `forEach` here visits in slot order),
 * RCU and the xa_lock.
 *
 * Private to lib/mm: mod.ts does not export it.
 *
 * @module
 */

/** Value in `vals` marking an empty slot. */
const EMPTY = -1;
/** Fibonacci hashing multiplier: 2^32 / golden ratio. */
const GOLDEN = 0x9e3779b1;
/** Smallest table: 16 slots. */
const MIN_LOG2 = 4;

/**
 * Map from page index (uint32) to pfn (int32 ≥ 0). `load` returns -1 for an absent index.
 * Iteration order is a function of the sequence of operations only (no randomised hashing).
 *
 * @example
 * ```ts
 * const xa = new XArray();
 * xa.store(7, 100);
 * xa.store(2 ** 32 - 1, 5);
 * if (xa.load(7) !== 100 || xa.load(8) !== -1) throw new Error("load");
 * if (xa.erase(7) !== 100 || xa.size !== 1) throw new Error("erase");
 * ```
 */
export class XArray {
  private keys: Uint32Array;
  private vals: Int32Array;
  private mask: number;
  private shift: number;
  private count = 0;

  /** Create an empty map sized for about `expectedEntries` entries without growing. */
  constructor(expectedEntries = 0) {
    let log2 = MIN_LOG2;
    while ((1 << log2) < expectedEntries * 2 && log2 < 30) log2++;
    this.keys = new Uint32Array(1 << log2);
    this.vals = new Int32Array(1 << log2).fill(EMPTY);
    this.mask = (1 << log2) - 1;
    this.shift = 32 - log2;
  }

  /** Number of indices present. */
  get size(): number {
    return this.count;
  }

  /** Number of slots in the table (for memory accounting). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** xa_load(): the pfn stored at `index`, or -1. */
  load(index: number): number {
    const keys = this.keys, vals = this.vals, mask = this.mask;
    const key = index >>> 0;
    let i = Math.imul(key, GOLDEN) >>> this.shift;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return -1;
      if (keys[i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  /**
   * xa_store(): store `pfn` (an integer in [0, 2^31)) at `index`, replacing any entry there.
   * Returns the old pfn, or -1.
   */
  store(index: number, pfn: number): number {
    if (!(pfn >= 0 && pfn <= 0x7fffffff) || pfn !== (pfn | 0)) {
      throw new RangeError(`XArray.store: pfn must be an int32 >= 0, got ${pfn}`);
    }
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const keys = this.keys, vals = this.vals, mask = this.mask;
    const key = index >>> 0;
    let i = Math.imul(key, GOLDEN) >>> this.shift;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) {
        keys[i] = key;
        vals[i] = pfn;
        this.count++;
        return -1;
      }
      if (keys[i] === key) {
        vals[i] = pfn;
        return v;
      }
      i = (i + 1) & mask;
    }
  }

  /** xa_erase(): remove the entry at `index` and return its pfn, or -1 if there was none. */
  erase(index: number): number {
    const keys = this.keys, vals = this.vals, mask = this.mask, shift = this.shift;
    const key = index >>> 0;
    let i = Math.imul(key, GOLDEN) >>> shift;
    let old: number;
    for (;;) {
      old = vals[i]!;
      if (old === EMPTY) return -1;
      if (keys[i] === key) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later members of the probe run into the hole when their
    // home slot does not lie cyclically in (hole, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = vals[j]!;
      if (v === EMPTY) break;
      const k = keys[j]!;
      const home = Math.imul(k, GOLDEN) >>> shift;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        keys[i] = k;
        vals[i] = v;
        i = j;
      }
    }
    vals[i] = EMPTY;
    this.count--;
    return old;
  }

  /** Call `cb(index, pfn)` for every entry, in slot order (deterministic, not ascending). */
  forEach(cb: (index: number, pfn: number) => void): void {
    const keys = this.keys, vals = this.vals;
    for (let i = 0; i <= this.mask; i++) {
      const v = vals[i]!;
      if (v !== EMPTY) cb(keys[i]!, v);
    }
  }

  /** Remove every entry (keeps the table size). */
  clear(): void {
    this.vals.fill(EMPTY);
    this.count = 0;
  }

  private grow(): void {
    const oldKeys = this.keys, oldVals = this.vals;
    const log2 = 32 - this.shift + 1;
    if (log2 > 30) throw new RangeError("XArray.grow: more than 2^29 entries");
    this.keys = new Uint32Array(1 << log2);
    this.vals = new Int32Array(1 << log2).fill(EMPTY);
    this.mask = (1 << log2) - 1;
    this.shift = 32 - log2;
    const keys = this.keys, vals = this.vals, mask = this.mask, shift = this.shift;
    for (let s = 0; s < oldVals.length; s++) {
      const v = oldVals[s]!;
      if (v === EMPTY) continue;
      const k = oldKeys[s]!;
      let i = Math.imul(k, GOLDEN) >>> shift;
      while (vals[i] !== EMPTY) i = (i + 1) & mask;
      keys[i] = k;
      vals[i] = v;
    }
  }
}
