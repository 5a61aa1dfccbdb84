/**
 * Fragmentation: a seeded generator that fills a zone and frees part of it to a target level of
 * external fragmentation, and the kernel's fragmentation metrics.
 *
 * Metrics follow mm/vmstat.c of Linux v6.12: `/proc/buddyinfo` (`frag_show_print`),
 * `/proc/pagetypeinfo` (`pagetypeinfo_showfree_print`, `pagetypeinfo_showblockcount_print`),
 * `fill_contig_page_info`, `unusable_free_index` (debugfs `extfrag/unusable_index`) and
 * `__fragmentation_index` (`extfrag/extfrag_index`, used by compaction against
 * vm.extfrag_threshold). The share of free memory in blocks below order k — the x axis of the
 * thread-004 plots — is exactly the unusable free space index without the rounding to 1/1000.
 *
 * The generator has no kernel counterpart. It allocates folios (compound, so every frame leads to
 * its head) with a chosen mix of orders and migratetypes until the zone is `fillUtilisation`
 * full, then frees in two phases until `utilisation` is left in use: first every allocation in
 * randomly chosen aligned order-k regions until the free memory in blocks of order ≥ k reaches
 * (1 − fragmentation) of the free target, then random single allocations of order < k that do
 * not empty their region (so they cannot form an order-k block) until the free target is met.
 * MOVABLE allocations get `mapping = FRAGMENT_MAPPING` so they count as movable (in-use user
 * memory); UNMOVABLE and RECLAIMABLE ones keep mapping 0 (kernel allocations). Only the
 * generator's own folios are freed, so it can run on a zone that already holds other memory.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import { MIGRATE, MIGRATE_TYPES, NIL, PG, type PhysMem } from "./memory.ts";
import { pageMovable, type Zone } from "./buddy.ts";

const BUDDY = 1 << PG.buddy;

/**
 * `mapping` value the generator puts on its MOVABLE folios: a stand-in for anonymous memory
 * until the folio layer provides anon folios. Clear it before freeing such a folio.
 *
 * @example
 * ```ts
 * import { FRAGMENT_MAPPING } from "@mmsim/mmsim";
 * import { PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 16 });
 * mem.mapping[0] = FRAGMENT_MAPPING;
 * if (mem.mapping[0] === 0) throw new Error("must be a non-zero mapping id");
 * ```
 */
export const FRAGMENT_MAPPING = 0xffff_ffff;

/**
 * A random source with `int(n)`: uniform integer in [0, n) (the engine's `Rng`).
 *
 * @example A hand-made source drives the generator deterministically
 * ```ts
 * import { buddyinfo, fragmentZone, type IntRng, PhysMem, Zone } from "@mmsim/mmsim";
 * const lcg = (seed: number): IntRng => {
 *   let s = seed >>> 0;
 *   return { int: (n) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return Math.floor((s / 2 ** 32) * n); } };
 * };
 * const run = () => {
 *   const zone = new Zone(new PhysMem({ nrFrames: 4096 }));
 *   fragmentZone(zone, lcg(42), { order: 4 });
 *   return buddyinfo(zone).join();
 * };
 * if (run() !== run()) throw new Error("same source, same fragmentation");
 * ```
 */
export interface IntRng {
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/**
 * Any of the random sources the generator accepts: `{ int(n) }` (lib/sim/rng.ts `Rng`),
 * `{ nextU32() }` or `{ next() }` returning uniform uint32, or a function returning a float in
 * [0, 1). uint32 and float sources are scaled (bias below 2^-32 · n).
 *
 * @example
 * ```ts
 * import { type RngLike, toIntRng } from "@mmsim/mmsim";
 * const sources: RngLike[] = [
 *   () => 0.999, // a float in [0, 1)
 *   { nextU32: () => 0xffff_ffff }, // uniform uint32
 *   { next: () => 0 }, // uniform uint32 through next()
 *   { int: (n) => n - 1 }, // already an integer source
 * ];
 * const draws = sources.map((s) => toIntRng(s)(10));
 * if (draws.join() !== "9,9,0,9") throw new Error(`${draws}`);
 * ```
 */
export type RngLike = IntRng | { nextU32(): number } | { next(): number } | (() => number);

/**
 * Turn any `RngLike` into a function returning a uniform integer in [0, n).
 *
 * @example
 * ```ts
 * import { Rng, toIntRng } from "@mmsim/mmsim";
 * const int = toIntRng(new Rng(7));
 * const v = int(10);
 * if (!(v >= 0 && v < 10)) throw new Error("range");
 * ```
 */
export function toIntRng(rng: RngLike): (n: number) => number {
  if (typeof rng === "function") return (n) => Math.floor(rng() * n);
  if ("int" in rng) return (n) => rng.int(n);
  if ("nextU32" in rng) return (n) => Math.floor((rng.nextU32() >>> 0) * n / 4294967296);
  return (n) => Math.floor((rng.next() >>> 0) * n / 4294967296);
}

/**
 * Options of `fragmentZone`; every field is optional and defaults as documented.
 *
 * @example
 * ```ts
 * import { type FragmentConfig, fragmentZone, freeShareBelowOrder, PhysMem, Rng, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 8192 }));
 * // Half the zone in use; 90 % of the free memory in blocks smaller than order 4 (64 KiB).
 * const config: FragmentConfig = { utilisation: 0.5, fragmentation: 0.9, order: 4 };
 * const r = fragmentZone(zone, new Rng(3), config);
 * if (Math.abs(freeShareBelowOrder(zone, 4) - 0.9) > 0.05 || Math.abs(r.usedPages / 8192 - 0.5) > 0.05) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export interface FragmentConfig {
  /** Share of the zone's pages in use when done (default 0.5). */
  utilisation?: number;
  /** Share of the zone's pages allocated before freeing starts (default 1). */
  fillUtilisation?: number;
  /** Order k of the fragmentation level (default pageblock_order). */
  order?: number;
  /** Target share of free memory in blocks below order k (default 0.9). */
  fragmentation?: number;
  /** Relative weight of each allocation order, index = order (default [0.7, 0.1, 0.1, 0.1]). */
  orderWeights?: number[];
  /** Relative weight of each requested migratetype (default 0.15 / 0.8 / 0.05). */
  migratetypeWeights?: { unmovable?: number; movable?: number; reclaimable?: number };
}

/** zod schema of `FragmentConfig` (model parameters; no sysctl involved). */
const FragmentConfigSchema = z.object({
  utilisation: z.number().min(0).max(1).default(0.5),
  fillUtilisation: z.number().min(0).max(1).default(1),
  order: z.number().int().min(1).optional(),
  fragmentation: z.number().min(0).max(1).default(0.9),
  orderWeights: z.array(z.number().min(0)).min(1).default([0.7, 0.1, 0.1, 0.1]),
  migratetypeWeights: z.object({
    unmovable: z.number().min(0).default(0.15),
    movable: z.number().min(0).default(0.8),
    reclaimable: z.number().min(0).default(0.05),
  }).default({ unmovable: 0.15, movable: 0.8, reclaimable: 0.05 }),
});

/**
 * What `fragmentZone` did and reached.
 *
 * @example
 * ```ts
 * import { type FragmentReport, fragmentZone, freeShareBelowOrder, PhysMem, Rng, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 8192 }));
 * const r: FragmentReport = fragmentZone(zone, new Rng(1), { fragmentation: 0.75, order: 4 });
 * if (r.order !== 4 || r.target !== 0.75 || r.achieved !== freeShareBelowOrder(zone, 4)) throw new Error("report");
 * if (r.usedPages + r.freePages !== 8192 || r.freePages !== zone.nrFreePages) throw new Error("every frame used or free");
 * if (r.freedRegions + r.freedScattered > r.allocated) throw new Error("frees only its own folios");
 * ```
 */
export interface FragmentReport {
  /** Folios allocated in the fill phase. */
  allocated: number;
  /** Allocation attempts that failed (then retried at order 0 or ended the fill). */
  failed: number;
  /** Folios freed by the region phase and by the scattered phase. */
  freedRegions: number;
  /** Folios freed one by one. */
  freedScattered: number;
  /** Pages in use at the end. */
  usedPages: number;
  /** Free pages at the end (all free lists). */
  freePages: number;
  /** Order k of the fragmentation level. */
  order: number;
  /** The target share of free memory below order k. */
  target: number;
  /** The share reached (`freeShareBelowOrder(zone, k)`). */
  achieved: number;
}

/**
 * Fill `zone` and free part of it to a target fragmentation (see the module doc). Deterministic
 * for a given rng state. Returns what it did; `achieved` may miss `target` by up to one order-k
 * region's share, or more when the fill left large free blocks or the free target cannot be met
 * without emptying regions.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, Rng, fragmentZone, checkBuddy } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 1 << 16 }));
 * const r = fragmentZone(zone, new Rng(1), { utilisation: 0.5, fragmentation: 0.75 });
 * if (Math.abs(r.achieved - 0.75) > 0.02) throw new Error(`reached ${r.achieved}`);
 * if (checkBuddy(zone).length !== 0) throw new Error("consistent");
 * ```
 */
export function fragmentZone(
  zone: Zone,
  rng: RngLike,
  config: FragmentConfig = {},
): FragmentReport {
  const c = FragmentConfigSchema.parse(config);
  const int = toIntRng(rng);
  const mem = zone.mem;
  const k = Math.min(c.order ?? zone.pageblockOrder, zone.maxOrder);
  const managed = zone.managedPages;
  const regionBase = zone.startPfn >>> k;
  const nRegions = ((zone.endPfn - 1) >>> k) - regionBase + 1;
  const used = new Int32Array(nRegions);
  // Heads of the generator's own folios (one bit per frame): only these are ever freed.
  const mine = new Uint8Array(((zone.endPfn - zone.startPfn) >>> 3) + 1);
  const isMine = (h: number) => (mine[(h - zone.startPfn) >>> 3]! & (1 << (h & 7))) !== 0;
  const setMine = (h: number, on: boolean) => {
    const i = (h - zone.startPfn) >>> 3;
    mine[i] = on ? mine[i]! | (1 << (h & 7)) : mine[i]! & ~(1 << (h & 7));
  };
  const addUsed = (pfn: number, order: number, sign: number) => {
    if (order <= k) used[(pfn >>> k) - regionBase]! += sign << order;
    else {for (let i = 0; i < 1 << (order - k); i++) {
        used[(pfn >>> k) - regionBase + i]! += sign << k;
      }}
  };

  // Weighted choices.
  const ow = c.orderWeights.slice(0, zone.maxOrder + 1);
  const owTotal = ow.reduce((a, b) => a + b, 0);
  const mw = [
    c.migratetypeWeights.unmovable,
    c.migratetypeWeights.movable,
    c.migratetypeWeights.reclaimable,
  ];
  const mwTotal = mw[0]! + mw[1]! + mw[2]!;
  if (!(owTotal > 0) || !(mwTotal > 0)) {
    throw new Error("Cannot fragment: orderWeights and migratetypeWeights need a positive sum");
  }
  const pick = (w: number[], total: number): number => {
    let x = int(1 << 30) / (1 << 30) * total;
    for (let i = 0; i < w.length; i++) {
      x -= w[i]!;
      if (x < 0) return i;
    }
    return w.length - 1;
  };

  // Fill phase.
  const fillTarget = Math.floor(c.fillUtilisation * managed);
  let usedPages = 0;
  let allocated = 0, failed = 0;
  while (usedPages < fillTarget) {
    let order = pick(ow, owTotal);
    while (order > 0 && usedPages + (1 << order) > fillTarget) order--;
    const mt = pick(mw, mwTotal);
    let pfn = zone.allocPages(order, mt, true);
    if (pfn === NIL && order > 0) {
      failed++;
      order = 0;
      pfn = zone.allocPages(0, mt, true);
    }
    if (pfn === NIL) {
      failed++;
      break;
    }
    if (mt === MIGRATE.MOVABLE) mem.mapping[pfn] = FRAGMENT_MAPPING;
    addUsed(pfn, order, 1);
    setMine(pfn, true);
    usedPages += 1 << order;
    allocated++;
  }

  const freeOne = (h: number) => {
    setMine(h, false);
    const order = mem.order[h]!;
    mem.mapping[h] = 0;
    mem.refcount[h] = 0;
    zone.freePages(h, order);
    addUsed(h, order, -1);
    usedPages -= 1 << order;
  };
  const freeTarget = managed - Math.round(c.utilisation * managed);
  const largeTarget = Math.round((1 - c.fragmentation) * freeTarget);
  const largeFree = () => {
    let s = 0;
    for (let o = k; o <= zone.maxOrder; o++) s += zone.nrFree[o]! << o;
    return s;
  };

  // Region phase: empty random aligned order-k regions.
  let freedRegions = 0;
  const perm = new Int32Array(nRegions);
  for (let i = 0; i < nRegions; i++) perm[i] = i;
  for (let i = nRegions - 1; i > 0; i--) {
    const j = int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  for (
    let i = 0;
    i < nRegions && largeFree() < largeTarget && managed - usedPages < freeTarget;
    i++
  ) {
    const r = perm[i]!;
    if (used[r] === 0) continue;
    const lo = Math.max((r + regionBase) << k, zone.startPfn);
    const hi = Math.min(((r + regionBase) + 1) << k, zone.endPfn);
    for (let p = lo; p < hi;) {
      if ((mem.flags[p]! & BUDDY) !== 0) {
        p += 1 << mem.order[p]!;
        continue;
      }
      const hd = mem.head[p]!;
      const h = hd === NIL ? p : hd;
      if (mem.refcount[h]! > 0 && isMine(h)) {
        const order = mem.order[h]!;
        freeOne(h);
        freedRegions++;
        p = h + (1 << order);
      } else p++;
    }
  }

  // Scattered phase: free single small folios without emptying their region.
  let freedScattered = 0;
  const span = zone.endPfn - zone.startPfn;
  for (let attempts = 4 * managed; managed - usedPages < freeTarget && attempts > 0; attempts--) {
    const p = zone.startPfn + int(span);
    const hd = mem.head[p]!;
    const h = hd === NIL ? p : hd;
    if (mem.refcount[h]! <= 0 || (mem.flags[h]! & BUDDY) !== 0) continue;
    if (!isMine(h)) continue;
    const order = mem.order[h]!;
    if (order >= k || used[(h >>> k) - regionBase]! <= 1 << order) continue;
    freeOne(h);
    freedScattered++;
  }

  const info = contigPageInfo(zone, k);
  return {
    allocated,
    failed,
    freedRegions,
    freedScattered,
    usedPages,
    freePages: info.freePages,
    order: k,
    target: c.fragmentation,
    achieved: freeShareBelowOrder(zone, k),
  };
}

// -------------------------------------------------------------------- metrics

/**
 * `/proc/buddyinfo` for the zone: the number of free blocks of each order (`nr_free`, all
 * migratetypes including isolated ones).
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, buddyinfo } from "@mmsim/mmsim";
 * const info = buddyinfo(new Zone(new PhysMem({ nrFrames: 4096 })));
 * if (info.length !== 11 || info[10] !== 4) throw new Error("four order-10 blocks");
 * ```
 */
export function buddyinfo(zone: Zone): number[] {
  return Array.from(zone.nrFree);
}

/**
 * `/proc/pagetypeinfo` for one zone.
 *
 * @example
 * ```ts
 * import { MIGRATE, type PageTypeInfo, pagetypeinfo, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * // Falls back to MOVABLE and claims the whole order-10 block it splits: two pageblocks.
 * zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const t: PageTypeInfo = pagetypeinfo(zone);
 * if (t.pageblocks[MIGRATE.UNMOVABLE] !== 2 || t.pageblocks[MIGRATE.MOVABLE] !== 2) throw new Error(`${t.pageblocks}`);
 * const freeUnmovable = t.freeBlocks[MIGRATE.UNMOVABLE]!.reduce((a, n, o) => a + n * 2 ** o, 0);
 * if (freeUnmovable !== 1023) throw new Error("the rest of the claimed block is on the UNMOVABLE lists");
 * ```
 */
export interface PageTypeInfo {
  /** Free blocks per migratetype (index `MIGRATE.*`) and order. */
  freeBlocks: number[][];
  /** Number of pageblocks of each migratetype ("Number of blocks type"). */
  pageblocks: number[];
}

/**
 * `/proc/pagetypeinfo` for the zone: free blocks by migratetype and order, and pageblocks by
 * migratetype.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, pagetypeinfo } from "@mmsim/mmsim";
 * const t = pagetypeinfo(new Zone(new PhysMem({ nrFrames: 4096 })));
 * if (t.pageblocks[MIGRATE.MOVABLE] !== 8) throw new Error("all movable at boot");
 * ```
 */
export function pagetypeinfo(zone: Zone): PageTypeInfo {
  const freeBlocks: number[][] = [];
  for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
    const row: number[] = [];
    for (let o = 0; o <= zone.maxOrder; o++) row.push(zone.nrFreeOf(o, mt));
    freeBlocks.push(row);
  }
  const pageblocks = new Array<number>(MIGRATE_TYPES).fill(0);
  const pb = zone.pageblockOrder;
  for (let b = zone.startPfn >>> pb; b <= (zone.endPfn - 1) >>> pb; b++) {
    const mt = zone.mem.pageblockMigratetype[b]!;
    pageblocks[mt] = pageblocks[mt]! + 1;
  }
  return { freeBlocks, pageblocks };
}

/**
 * `struct contig_page_info` (mm/vmstat.c).
 *
 * @example
 * ```ts
 * import { contigPageInfo, type ContigPageInfo, MIGRATE, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 })); // two order-10 blocks
 * zone.allocPages(0, MIGRATE.MOVABLE); // splits one: orders 9, 8, …, 0 free once each
 * const i: ContigPageInfo = contigPageInfo(zone, 9);
 * // Order-9 suitable blocks: the order-9 one, and two in the remaining order-10 block.
 * if (i.freePages !== 2047 || i.freeBlocksTotal !== 11 || i.freeBlocksSuitable !== 3) throw new Error(JSON.stringify(i));
 * ```
 */
export interface ContigPageInfo {
  /** Free base pages. */
  freePages: number;
  /** Free blocks of any order. */
  freeBlocksTotal: number;
  /** Free blocks of the suitable order, counting a larger block as several. */
  freeBlocksSuitable: number;
}

/**
 * `fill_contig_page_info()`: free pages, free blocks, and blocks able to serve an allocation of
 * `suitableOrder`.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, contigPageInfo } from "@mmsim/mmsim";
 * const i = contigPageInfo(new Zone(new PhysMem({ nrFrames: 2048 })), 9);
 * if (i.freeBlocksSuitable !== 4 || i.freeBlocksTotal !== 2) throw new Error("2 × order 10");
 * ```
 */
export function contigPageInfo(zone: Zone, suitableOrder: number): ContigPageInfo {
  let freePages = 0, freeBlocksTotal = 0, freeBlocksSuitable = 0;
  for (let o = 0; o <= zone.maxOrder; o++) {
    const blocks = zone.nrFree[o]!;
    freeBlocksTotal += blocks;
    freePages += blocks * 2 ** o;
    if (o >= suitableOrder) freeBlocksSuitable += blocks * 2 ** (o - suitableOrder);
  }
  return { freePages, freeBlocksTotal, freeBlocksSuitable };
}

/**
 * `unusable_free_index()`: how much of the free memory is unusable for an allocation of `order`,
 * in thousandths (0 = none, 1000 = all; 1000 when nothing is free), truncated like the kernel.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, unusableFreeIndex } from "@mmsim/mmsim";
 * if (unusableFreeIndex(new Zone(new PhysMem({ nrFrames: 2048 })), 9) !== 0) throw new Error("");
 * ```
 */
export function unusableFreeIndex(zone: Zone, order: number): number {
  const i = contigPageInfo(zone, order);
  if (i.freePages === 0) return 1000;
  return Math.floor((i.freePages - i.freeBlocksSuitable * 2 ** order) * 1000 / i.freePages);
}

/**
 * The share of free memory in blocks below `order`, in [0, 1]: `unusableFreeIndex / 1000`
 * without truncation (1 when nothing is free). The fragmentation axis of the thread-004 plots.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, freeShareBelowOrder } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 1024 }));
 * zone.allocPages(0, MIGRATE.MOVABLE); // splits the one order-10 block
 * if (freeShareBelowOrder(zone, 10) !== 1) throw new Error("no order-10 block left");
 * ```
 */
export function freeShareBelowOrder(zone: Zone, order: number): number {
  const i = contigPageInfo(zone, order);
  if (i.freePages === 0) return 1;
  return (i.freePages - i.freeBlocksSuitable * 2 ** order) / i.freePages;
}

/**
 * `__fragmentation_index()`: for an allocation of `order` that would fail, whether the failure
 * is due to lack of memory (towards 0) or to external fragmentation (towards 1000); -1000 when
 * the allocation would succeed, 0 when nothing is free. Compaction runs only above
 * vm.extfrag_threshold (default 500).
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, fragmentationIndex } from "@mmsim/mmsim";
 * if (fragmentationIndex(new Zone(new PhysMem({ nrFrames: 2048 })), 9) !== -1000) {
 *   throw new Error("an order-9 allocation would succeed");
 * }
 * ```
 */
export function fragmentationIndex(zone: Zone, order: number): number {
  if (order > zone.maxOrder) return 0;
  const i = contigPageInfo(zone, order);
  if (i.freeBlocksTotal === 0) return 0;
  if (i.freeBlocksSuitable !== 0) return -1000;
  const requested = 2 ** order;
  return 1000 - Math.floor((1000 + Math.floor(i.freePages * 1000 / requested)) / i.freeBlocksTotal);
}

/**
 * Per-pageblock occupancy of a zone, struct-of-arrays, for memory-map figures.
 *
 * @example
 * ```ts
 * import { FRAGMENT_MAPPING, MIGRATE, type PageblockStats, pageblockStats, PhysMem, Zone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 1024 });
 * const zone = new Zone(mem);
 * const user = zone.allocPages(0, MIGRATE.MOVABLE);
 * mem.mapping[user] = FRAGMENT_MAPPING; // in-use user memory: movable
 * const pinned = zone.allocPages(0, MIGRATE.MOVABLE);
 * mem.mapping[pinned] = FRAGMENT_MAPPING;
 * const s: PageblockStats = pageblockStats(zone, (_mem, head) => head === pinned); // e.g. a FOLL_LONGTERM pin
 * const b = (user >> 9) - s.firstPageblock;
 * if (s.movable[b] !== 1 || s.pinned[b] !== 1 || s.free[b]! + 2 !== 512) throw new Error(JSON.stringify(s));
 * ```
 */
export interface PageblockStats {
  /** Pageblock number of index 0 (zone start >> pageblock_order). */
  firstPageblock: number;
  /** Migratetype of each pageblock. */
  migratetype: Uint8Array;
  /** Frames in free buddy blocks. */
  free: Uint32Array;
  /** In-use frames of movable folios (`pageMovable`) that are not pinned. */
  movable: Uint32Array;
  /** In-use frames of unmovable allocations (refcount > 0, not movable) that are not pinned. */
  unmovable: Uint32Array;
  /** In-use frames the `isPinned` hook reports pinned. */
  pinned: Uint32Array;
  /** Frames neither free nor in use: tails of non-compound blocks, isolated free pages. */
  other: Uint32Array;
}

/**
 * Per-pageblock map data: migratetype and how many frames are free, movable, unmovable, pinned.
 * "Pinned" is the folio layer's to define (e.g. GUP FOLL_LONGTERM pins); until then `isPinned`
 * defaults to none, and in-use frames without LRU flag or mapping (kernel allocations) count as
 * unmovable. A frame of a folio is classified by its head.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, pageblockStats } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const pfn = zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const s = pageblockStats(zone);
 * const b = (pfn >> 9) - s.firstPageblock;
 * if (s.unmovable[b] !== 1 || s.free[b] !== 511) throw new Error("one kernel page");
 * if (s.migratetype[b] !== MIGRATE.UNMOVABLE) throw new Error("claimed by the fallback");
 * ```
 */
export function pageblockStats(
  zone: Zone,
  isPinned: (mem: PhysMem, headPfn: number) => boolean = () => false,
): PageblockStats {
  const mem = zone.mem;
  const pb = zone.pageblockOrder;
  const first = zone.startPfn >>> pb;
  const n = ((zone.endPfn - 1) >>> pb) - first + 1;
  const s: PageblockStats = {
    firstPageblock: first,
    migratetype: mem.pageblockMigratetype.slice(first, first + n),
    free: new Uint32Array(n),
    movable: new Uint32Array(n),
    unmovable: new Uint32Array(n),
    pinned: new Uint32Array(n),
    other: new Uint32Array(n),
  };
  for (let p = zone.startPfn; p < zone.endPfn;) {
    const b = (p >>> pb) - first;
    if ((mem.flags[p]! & BUDDY) !== 0) {
      const order = mem.order[p]!;
      if (order <= pb) s.free[b]! += 1 << order;
      else for (let i = 0; i < 1 << (order - pb); i++) s.free[b + i]! += 1 << pb;
      p += 1 << order;
      continue;
    }
    const hd = mem.head[p]!;
    const h = hd === NIL ? p : hd;
    if (mem.refcount[h]! > 0) {
      if (isPinned(mem, h)) s.pinned[b]!++;
      else if (pageMovable(mem, p)) s.movable[b]!++;
      else s.unmovable[b]!++;
    } else s.other[b]!++;
    p++;
  }
  return s;
}
