/**
 * The buddy allocator of one zone: free lists per order × migratetype as intrusive lists over
 * the frames' `next`/`prev` (page->buddy_list), merging on free, splitting on allocation,
 * migratetype fallback with pageblock claiming, CMA pageblocks, watermarks.
 *
 * Follows mm/page_alloc.c of Linux v6.12, i.e. after Johannes Weiner's "freelist migratetype
 * hygiene" series (v6.10): every free block sits on the free list of its pageblock's
 * migratetype, a fallback either claims the whole pageblock or takes one block off the foreign
 * list without moving anything, and orders above pageblock_order are freed pageblock by
 * pageblock (`split_large_buddy`). Functions: `__free_one_page`, `buddy_merge_likely`,
 * `split_large_buddy`, `__rmqueue_smallest`, `expand`, `__rmqueue`, `__rmqueue_cma_fallback`,
 * `__rmqueue_fallback`, `find_suitable_fallback`, `can_steal_fallback`,
 * `steal_suitable_fallback`, `prep_move_freepages_block`, `__move_freepages_block`,
 * `move_freepages_block`, `move_freepages_block_isolate`, `find_large_buddy`,
 * `change_pageblock_range`, `__isolate_free_page`, `__putback_isolated_page`,
 * `free_pages_prepare` / `page_bad_reason`, `prep_new_page` / `prep_compound_page`,
 * `split_page`, `__zone_watermark_ok`, `calculate_min_free_kbytes`, `__setup_per_zone_wmarks`.
 * Source read: torvalds/linux mm/page_alloc.c at commit dac22531 (a v6.2-era tree) together
 * with the v6.10 hygiene patches (e.g. "mm: page_alloc: fix freelist movement during block
 * conversion", Mar 2024) that give the v6.12 shape.
 *
 * The allocator is the rmqueue level of `__alloc_pages`: no per-cpu page lists, no watermark
 * check on allocation, no reclaim or compaction (the engine-driven slow path is built on top;
 * `zoneWatermarkOk` is here for it). Free-page counters (NR_FREE_PAGES, NR_FREE_CMA_PAGES) are
 * kept as the sum of the free lists, which is what the kernel's `account_freepages` maintains.
 *
 * Left out: per-cpu lists (pcp), MIGRATE_HIGHATOMIC reserves (`reserve_highatomic_pageblock`;
 * the type exists and is treated as unmergeable and never stolen), watermark boosting,
 * ALLOC_NOFRAGMENT (needs a lower zone), `page_group_by_mobility_disabled`, page shuffling,
 * free page reporting, guard pages, compaction capture, KASAN/init_on_free, memory holes.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { MIGRATE, MIGRATE_TYPES, NIL, PG, type PhysMem } from "./memory.ts";

/**
 * MIGRATE_PCPTYPES: the migratetypes an allocation can ask for and fall back between.
 *
 * @example
 * ```ts
 * import { MIGRATE, MIGRATE_PCPTYPES, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 1024 }));
 * // Requests are UNMOVABLE, MOVABLE or RECLAIMABLE; CMA and ISOLATE are never asked for.
 * if (zone.allocPages(0, MIGRATE_PCPTYPES - 1) < 0) throw new Error("RECLAIMABLE is a request type");
 * let threw = false;
 * try {
 *   zone.allocPages(0, MIGRATE.CMA);
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("a MIGRATE_CMA request is a model bug");
 * ```
 */
export const MIGRATE_PCPTYPES = 3;

/**
 * The fallback table of mm/page_alloc.c (`fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]`,
 * v6.12), flattened: the fallbacks of migratetype `mt` are `FALLBACKS[2 * mt]`, then
 * `FALLBACKS[2 * mt + 1]`.
 *
 * @example
 * ```ts
 * import { FALLBACKS, MIGRATE } from "@mmsim/mmsim";
 * // An UNMOVABLE request tries RECLAIMABLE first, then MOVABLE.
 * if (FALLBACKS[2 * MIGRATE.UNMOVABLE] !== MIGRATE.RECLAIMABLE) throw new Error("table");
 * ```
 */
export const FALLBACKS: readonly number[] = Object.freeze([
  MIGRATE.RECLAIMABLE, // [MIGRATE_UNMOVABLE]
  MIGRATE.MOVABLE,
  MIGRATE.RECLAIMABLE, // [MIGRATE_MOVABLE]
  MIGRATE.UNMOVABLE,
  MIGRATE.UNMOVABLE, // [MIGRATE_RECLAIMABLE]
  MIGRATE.MOVABLE,
]);

/**
 * `alloc_flags` bits used here, named as in mm/internal.h (v6.12). `ALLOC_CMA` lets an
 * allocation (or a watermark check) count and use MIGRATE_CMA free pages.
 *
 * @example
 * ```ts
 * import { ALLOC } from "@mmsim/mmsim";
 * const flags: number = ALLOC.CMA;
 * if ((flags & (flags - 1)) !== 0) throw new Error("flag must be one bit");
 * ```
 */
export const ALLOC = { CMA: 0x80 } as const;

/**
 * `migratetype_is_mergeable()` (include/linux/mmzone.h): only blocks of the three pcp types
 * may merge with a buddy of another migratetype at or above pageblock_order.
 *
 * @example
 * ```ts
 * import { migratetypeIsMergeable, MIGRATE } from "@mmsim/mmsim";
 * if (migratetypeIsMergeable(MIGRATE.CMA)) throw new Error("CMA never merges with others");
 * ```
 */
export function migratetypeIsMergeable(mt: number): boolean {
  return mt < MIGRATE_PCPTYPES;
}

/**
 * `can_steal_fallback()` (mm/page_alloc.c, v6.12): may a fallback of a block of `order` claim
 * the whole pageblock for `startMt`? Yes for blocks of at least pageblock_order / 2 pages'
 * order, and always for UNMOVABLE and RECLAIMABLE requests (their pollution of a movable block
 * is worse than a movable request's).
 *
 * @example
 * ```ts
 * import { canStealFallback, MIGRATE } from "@mmsim/mmsim";
 * if (canStealFallback(0, MIGRATE.MOVABLE, 9)) throw new Error("small movable: steal one block");
 * if (!canStealFallback(0, MIGRATE.UNMOVABLE, 9)) throw new Error("unmovable: claim the block");
 * if (!canStealFallback(4, MIGRATE.MOVABLE, 9)) throw new Error("order >= 9/2: claim");
 * ```
 */
export function canStealFallback(order: number, startMt: number, pageblockOrder: number): boolean {
  // Leaving this order check is intended (kernel comment): whole pageblocks are always claimed.
  if (order >= pageblockOrder) return true;
  return order >= (pageblockOrder >> 1) || startMt === MIGRATE.RECLAIMABLE ||
    startMt === MIGRATE.UNMOVABLE;
}

/**
 * Is the frame one the kernel would assume movable when counting a pageblock
 * (`prep_move_freepages_block`, `has_unmovable_pages`): `PageLRU(page) || __PageMovable(page)`,
 * both read on the folio head.
 *
 * Divergence: there is no `__PageMovable` (non-LRU movable pages such as zsmalloc) in the
 * model; an in-use folio with a mapping (page cache or anonymous) counts as movable even while
 * it is off the LRU (isolated). The folio layer may refine this.
 *
 * @example
 * ```ts
 * import { PhysMem, PG, pageMovable } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 16 });
 * mem.refcount[3] = 1;
 * if (pageMovable(mem, 3)) throw new Error("anonymous kernel page is unmovable");
 * mem.setFlag(3, PG.lru);
 * if (!pageMovable(mem, 3)) throw new Error("LRU page is movable");
 * ```
 */
export function pageMovable(mem: PhysMem, pfn: number): boolean {
  const h = mem.head[pfn]!;
  const head = h === NIL ? pfn : h;
  return (mem.flags[head]! & LRU) !== 0 || mem.mapping[head] !== 0;
}

const BUDDY = 1 << PG.buddy;
const HEAD = 1 << PG.head;
const LRU = 1 << PG.lru;
/** PAGE_FLAGS_CHECK_AT_FREE (include/linux/page-flags.h, v6.12), in model bits. */
const CHECK_AT_FREE = (1 << PG.lru) | (1 << PG.locked) | (1 << PG.private) |
  (1 << PG.private_2) | (1 << PG.writeback) | (1 << PG.reserved) | (1 << PG.active) |
  (1 << PG.unevictable) | (1 << PG.mlocked);
/** Names of the PG bits for error messages. */
const PG_NAMES: string[] = [];
for (const [name, bit] of Object.entries(PG)) PG_NAMES[bit] ??= `PG_${name}`;

/**
 * Configuration of a zone. Watermark defaults follow `calculate_min_free_kbytes()` and
 * `__setup_per_zone_wmarks()` for a machine whose only memory is this zone.
 *
 * @example
 * ```ts
 * import { ZoneConfig } from "@mmsim/mmsim";
 * const c = ZoneConfig.parse({});
 * if (c.watermarkScaleFactor !== 10) throw new Error("kernel default");
 * ```
 */
export interface ZoneConfig {
  /** Zone name as in /proc/zoneinfo (default "Normal"). */
  name: string;
  /** First pfn of the zone (zone_start_pfn), default 0. */
  startPfn: number;
  /** End pfn, exclusive (zone_end_pfn); defaults to the end of the PhysMem. */
  endPfn?: number;
  /** ZONE_MOVABLE (kernelcore= / movablecore=): has_unmovable_pages trusts every page. */
  movable: boolean;
  /** vm.min_free_kbytes; default int_sqrt(lowmem_kbytes * 16) clamped to [128, 262144]. */
  minFreeKbytes?: number;
  /** vm.watermark_scale_factor (in 1/10000 of the zone), kernel default 10. */
  watermarkScaleFactor: number;
  /** Pageblock-aligned pfn ranges [start, end) reserved for CMA (cma= / reserved-memory). */
  cma: { startPfn: number; endPfn: number }[];
  /** Hand every frame to the buddy allocator at creation (memblock_free_all), default true. */
  populate: boolean;
}

/**
 * Input of {@link ZoneConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, type ZoneConfigInput } from "@mmsim/mmsim";
 * const input: ZoneConfigInput = { minFreeKbytes: 1024, cma: [{ startPfn: 512, endPfn: 1024 }] };
 * const zone = new Zone(new PhysMem({ nrFrames: 1024, pageblockOrder: 9 }), input);
 * // vm.min_free_kbytes = 1024 → 256 pages of 4 KiB; half the zone is CMA.
 * if (zone.wmarkMin !== 256 || zone.nrFreeCmaPages !== 512) throw new Error(`${zone.wmarkMin} ${zone.nrFreeCmaPages}`);
 * ```
 */
export type ZoneConfigInput = Partial<ZoneConfig>;

const zoneSchema = z.object({
  name: z.string().default("Normal"),
  startPfn: z.number().int().min(0).default(0),
  endPfn: z.number().int().positive().optional(),
  movable: z.boolean().default(false),
  minFreeKbytes: z.number().int().min(0).optional(),
  watermarkScaleFactor: z.number().int().min(1).max(3000).default(10),
  cma: z.array(z.object({ startPfn: z.number().int().min(0), endPfn: z.number().int() }))
    .default([]),
  populate: z.boolean().default(true),
});
const _zoneTypes: Same<z.output<typeof zoneSchema>, ZoneConfig> = true;
void _zoneTypes;

/** The {@link ZoneConfig} schema. */
export const ZoneConfig: ConfigSchema<ZoneConfig, ZoneConfigInput> = defineConfig(
  "ZoneConfig",
  zoneSchema,
);

/**
 * One zone's buddy allocator over the frames `[startPfn, endPfn)` of a `PhysMem`.
 *
 * Free lists are intrusive doubly linked lists through `mem.next`/`mem.prev`, with a head and
 * tail pfn per (order, migratetype) in `freeHead`/`freeTail`; `nrFree[order]` is
 * `free_area[order].nr_free`. A free block's head frame has PG.buddy set and `order[pfn]` =
 * its order; its other frames are all-zero. Allocation returns the head pfn with refcount 1.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * const pfn = zone.allocPages(3, MIGRATE.MOVABLE, true); // an order-3 folio
 * if (pfn < 0 || mem.refcount[pfn] !== 1) throw new Error("allocation");
 * mem.refcount[pfn] = 0; // folio_put dropped the last reference
 * zone.freePages(pfn, 3);
 * if (zone.nrFree[10] !== 2) throw new Error("merged back into two order-10 blocks");
 * ```
 */
export class Zone {
  /** The frames. */
  readonly mem: PhysMem;
  /** Parsed configuration. */
  readonly config: ZoneConfig;
  /** Zone name. */
  readonly name: string;
  /** First pfn (zone_start_pfn). */
  readonly startPfn: number;
  /** End pfn, exclusive. */
  readonly endPfn: number;
  /** Spanned = managed pages (no holes in the model). */
  readonly managedPages: number;
  /** MAX_PAGE_ORDER. */
  readonly maxOrder: number;
  /** pageblock_order. */
  readonly pageblockOrder: number;
  /** ZONE_MOVABLE. */
  readonly movable: boolean;
  /** First free pfn per (order * MIGRATE_TYPES + migratetype), NIL if empty. */
  readonly freeHead: Int32Array;
  /** Last free pfn per (order * MIGRATE_TYPES + migratetype), NIL if empty. */
  readonly freeTail: Int32Array;
  /** Number of free blocks per (order * MIGRATE_TYPES + migratetype). */
  readonly nrFreeType: Int32Array;
  /** free_area[order].nr_free: free blocks of each order, all migratetypes. */
  readonly nrFree: Int32Array;
  /** NR_FREE_PAGES: free pages not in MIGRATE_ISOLATE pageblocks. */
  nrFreePages = 0;
  /** NR_FREE_CMA_PAGES. */
  nrFreeCmaPages = 0;
  /** zone->nr_isolate_pageblock. */
  nrIsolatePageblock = 0;
  /** _watermark[WMARK_MIN] in pages. */
  wmarkMin = 0;
  /** _watermark[WMARK_LOW] in pages. */
  wmarkLow = 0;
  /** _watermark[WMARK_HIGH] in pages. */
  wmarkHigh = 0;
  /** Out-parameter of the internal find_suitable_fallback (kernel `bool *can_steal`). */
  private canSteal = false;

  /** Create the zone and, unless `populate: false`, free all its frames into it. */
  constructor(mem: PhysMem, config: ZoneConfigInput = {}) {
    const c = ZoneConfig.parse(config);
    const end = c.endPfn ?? mem.nrFrames;
    if (end > mem.nrFrames || c.startPfn >= end) {
      throw new Error(
        `Cannot create zone ${c.name}: range [${c.startPfn}, ${end}) is not inside ` +
          `[0, ${mem.nrFrames})`,
      );
    }
    this.mem = mem;
    this.config = c;
    this.name = c.name;
    this.startPfn = c.startPfn;
    this.endPfn = end;
    this.managedPages = end - c.startPfn;
    this.maxOrder = mem.maxOrder;
    this.pageblockOrder = mem.pageblockOrder;
    this.movable = c.movable;
    const slots = (this.maxOrder + 1) * MIGRATE_TYPES;
    this.freeHead = new Int32Array(slots).fill(NIL);
    this.freeTail = new Int32Array(slots).fill(NIL);
    this.nrFreeType = new Int32Array(slots);
    this.nrFree = new Int32Array(this.maxOrder + 1);
    this.setupWatermarks(c.minFreeKbytes, c.watermarkScaleFactor);
    const pbMask = (1 << this.pageblockOrder) - 1;
    for (const r of c.cma) {
      if ((r.startPfn & pbMask) !== 0 || (r.endPfn & pbMask) !== 0 || r.startPfn >= r.endPfn) {
        throw new Error(
          `Cannot reserve CMA range [${r.startPfn}, ${r.endPfn}): must be non-empty and ` +
            `pageblock aligned (${1 << this.pageblockOrder} pages)`,
        );
      }
      if (r.startPfn < this.startPfn || r.endPfn > this.endPfn) {
        throw new Error(
          `Cannot reserve CMA range [${r.startPfn}, ${r.endPfn}): outside zone ${this.name}`,
        );
      }
      // init_cma_reserved_pageblock(): set_pageblock_migratetype(MIGRATE_CMA) before freeing.
      for (let pfn = r.startPfn; pfn < r.endPfn; pfn += 1 << this.pageblockOrder) {
        mem.pageblockMigratetype[pfn >>> this.pageblockOrder] = MIGRATE.CMA;
      }
    }
    if (c.populate) this.freeAllFrames();
  }

  // ---------------------------------------------------------------- free lists

  /** `__add_to_free_list()` + `set_buddy_order()`: head or tail of the (order, mt) list. */
  addToFreeList(pfn: number, order: number, mt: number, tail: boolean): void {
    const mem = this.mem;
    const slot = order * MIGRATE_TYPES + mt;
    const next = mem.next, prev = mem.prev;
    if (tail) {
      const t = this.freeTail[slot]!;
      prev[pfn] = t;
      next[pfn] = NIL;
      if (t === NIL) this.freeHead[slot] = pfn;
      else next[t] = pfn;
      this.freeTail[slot] = pfn;
    } else {
      const h = this.freeHead[slot]!;
      next[pfn] = h;
      prev[pfn] = NIL;
      if (h === NIL) this.freeTail[slot] = pfn;
      else prev[h] = pfn;
      this.freeHead[slot] = pfn;
    }
    mem.flags[pfn]! |= BUDDY;
    mem.order[pfn] = order;
    this.nrFreeType[slot]!++;
    this.nrFree[order]!++;
    // account_freepages(): isolated pages are not free for anyone.
    if (mt !== MIGRATE.ISOLATE) {
      this.nrFreePages += 1 << order;
      if (mt === MIGRATE.CMA) this.nrFreeCmaPages += 1 << order;
    }
  }

  /** `del_page_from_free_list()`: unlink, clear PageBuddy and the buddy order. */
  delFromFreeList(pfn: number, order: number, mt: number): void {
    const mem = this.mem;
    const slot = order * MIGRATE_TYPES + mt;
    const next = mem.next, prev = mem.prev;
    const n = next[pfn]!, p = prev[pfn]!;
    if (p === NIL) this.freeHead[slot] = n;
    else next[p] = n;
    if (n === NIL) this.freeTail[slot] = p;
    else prev[n] = p;
    next[pfn] = NIL;
    prev[pfn] = NIL;
    mem.flags[pfn]! &= ~BUDDY;
    mem.order[pfn] = 0; // set_page_private(page, 0)
    this.nrFreeType[slot]!--;
    this.nrFree[order]!--;
    if (mt !== MIGRATE.ISOLATE) {
      this.nrFreePages -= 1 << order;
      if (mt === MIGRATE.CMA) this.nrFreeCmaPages -= 1 << order;
    }
  }

  /** `move_to_free_list()`: to the tail of the new type's list. */
  moveToFreeList(pfn: number, order: number, oldMt: number, newMt: number): void {
    this.delFromFreeList(pfn, order, oldMt);
    this.addToFreeList(pfn, order, newMt, true);
  }

  /** `get_page_from_free_area()`: first block on the (order, mt) list, or NIL. */
  freeAreaHead(order: number, mt: number): number {
    return this.freeHead[order * MIGRATE_TYPES + mt]!;
  }

  /** Number of free blocks of `order` on the `mt` list (pagetypeinfo cell). */
  nrFreeOf(order: number, mt: number): number {
    return this.nrFreeType[order * MIGRATE_TYPES + mt]!;
  }

  /** Migratetype of the pageblock containing `pfn` (get_pfnblock_migratetype). */
  getPageblockMigratetype(pfn: number): number {
    return this.mem.pageblockMigratetype[pfn >>> this.pageblockOrder]!;
  }

  /** `set_pageblock_migratetype()`: set the migratetype of the pageblock containing `pfn`. */
  setPageblockMigratetype(pfn: number, mt: number): void {
    this.mem.pageblockMigratetype[pfn >>> this.pageblockOrder] = mt;
  }

  /** `change_pageblock_range()`: set every pageblock of a block of `order` at `pfn`. */
  changePageblockRange(pfn: number, order: number, mt: number): void {
    const pb = this.pageblockOrder;
    const n = order > pb ? 1 << (order - pb) : 1;
    const first = pfn >>> pb;
    for (let i = 0; i < n; i++) this.mem.pageblockMigratetype[first + i] = mt;
  }

  // ---------------------------------------------------------------- freeing

  /**
   * `__free_one_page()`: merge the block with free buddies (pfn ^ (1 << order)) as far as they
   * go, then put it on the free list of `mt`. At and above pageblock_order a buddy of another
   * migratetype merges only if both types are mergeable; it then takes this block's type.
   * The merged block goes to the list tail if `toTail` or if `buddy_merge_likely()`.
   */
  freeOnePage(pfn: number, order: number, mt: number, toTail: boolean): void {
    const mem = this.mem;
    const flags = mem.flags, ord = mem.order;
    const start = this.startPfn, end = this.endPfn;
    const maxOrder = this.maxOrder, pb = this.pageblockOrder;
    let buddyPfn = 0;
    while (order < maxOrder) {
      buddyPfn = pfn ^ (1 << order);
      // find_buddy_page_pfn() / page_is_buddy(): free, same order, same zone.
      if (buddyPfn < start || buddyPfn >= end) break;
      if ((flags[buddyPfn]! & BUDDY) === 0 || ord[buddyPfn] !== order) break;
      let buddyMt = mt;
      if (order >= pb) {
        buddyMt = mem.pageblockMigratetype[buddyPfn >>> pb]!;
        if (
          mt !== buddyMt && (!migratetypeIsMergeable(mt) || !migratetypeIsMergeable(buddyMt))
        ) break;
      }
      this.delFromFreeList(buddyPfn, order, buddyMt);
      // Match buddy type so that a later expand() puts the sub-blocks on the right lists.
      // Divergence: the kernel sets only the buddy's first pageblock; that is the whole buddy
      // in every kernel configuration (MAX_PAGE_ORDER <= pageblock_order + 1), and we set all.
      if (buddyMt !== mt) this.changePageblockRange(buddyPfn, order, mt);
      pfn = buddyPfn & pfn;
      order++;
    }
    const tail = toTail || this.buddyMergeLikely(pfn, buddyPfn, order);
    this.addToFreeList(pfn, order, mt, tail);
  }

  /**
   * `buddy_merge_likely()`: is the buddy of the next-higher block free, so that this block
   * will likely merge soon (then it goes to the list tail to give it time)?
   */
  private buddyMergeLikely(pfn: number, buddyPfn: number, order: number): boolean {
    if (order >= this.maxOrder - 1) return false;
    const higher = buddyPfn & pfn;
    const hb = higher ^ (1 << (order + 1));
    if (hb < this.startPfn || hb >= this.endPfn) return false;
    return (this.mem.flags[hb]! & BUDDY) !== 0 && this.mem.order[hb] === order + 1;
  }

  /**
   * `split_large_buddy()` (with `free_one_page`): free a block that is off the lists, one
   * pageblock at a time above pageblock_order, each part with its own pageblock's migratetype.
   */
  splitLargeBuddy(pfn: number, order: number, toTail = false): void {
    const end = pfn + (1 << order);
    if (order > this.pageblockOrder) order = this.pageblockOrder;
    const pbmt = this.mem.pageblockMigratetype, pb = this.pageblockOrder;
    while (pfn !== end) {
      this.freeOnePage(pfn, order, pbmt[pfn >>> pb]!, toTail);
      pfn += 1 << order;
    }
  }

  /**
   * Free an allocated block of `2^order` frames whose refcount has dropped to 0
   * (`__free_pages_ok` / `free_unref_page`). Runs the `free_pages_prepare()` checks and throws
   * on a bad page (the kernel reports `bad_page()` and leaks it): refcount, mapcount, mapping
   * and PAGE_FLAGS_CHECK_AT_FREE (locked, writeback, lru, private, …) must be clear on every
   * frame, tails of a folio must point at its head. Then clears all flags, and merges.
   *
   * @example
   * ```ts
   * import { PhysMem, Zone, MIGRATE, PG } from "@mmsim/mmsim";
   * const mem = new PhysMem({ nrFrames: 1024 });
   * const zone = new Zone(mem);
   * const pfn = zone.allocPages(0, MIGRATE.MOVABLE);
   * mem.refcount[pfn] = 0;
   * mem.setFlag(pfn, PG.writeback);
   * let msg = "";
   * try { zone.freePages(pfn, 0); } catch (e) { msg = (e as Error).message; }
   * if (!msg.includes("PG_writeback")) throw new Error(msg);
   * ```
   */
  freePages(pfn: number, order: number): void {
    const mem = this.mem;
    const n = 1 << order;
    if (
      !(order >= 0 && order <= this.maxOrder) || (pfn & (n - 1)) !== 0 || pfn < this.startPfn ||
      pfn + n > this.endPfn
    ) {
      throw new Error(
        `Cannot free frame ${pfn} at order ${order}: the block must be aligned to ${n} pages ` +
          `and lie in zone ${this.name} [${this.startPfn}, ${this.endPfn})`,
      );
    }
    const flags = mem.flags, refcount = mem.refcount, mapcount = mem.mapcount;
    const mapping = mem.mapping, head = mem.head;
    const compound = (flags[pfn]! & HEAD) !== 0;
    // Fast check over all frames; details only when something is wrong.
    let bad = refcount[pfn]! | mapcount[pfn]! | mapping[pfn]! |
      (flags[pfn]! & (CHECK_AT_FREE | BUDDY)) | (head[pfn]! ^ NIL);
    if (compound && mem.order[pfn] !== order) bad = 1;
    const tailHead = compound ? pfn : NIL;
    for (let i = pfn + 1; i < pfn + n; i++) {
      bad |= refcount[i]! | mapcount[i]! | mapping[i]! | (flags[i]! & (CHECK_AT_FREE | BUDDY)) |
        (head[i]! ^ tailHead);
    }
    if (bad !== 0) this.throwBadFree(pfn, order, compound);
    // free_pages_prepare(): page->flags &= ~PAGE_FLAGS_CHECK_AT_PREP (all flags) on every
    // page; tails stop pointing at the head. `private` is reset by post_alloc_hook().
    const ord = mem.order;
    if (compound) {
      for (let i = pfn + 1; i < pfn + n; i++) {
        flags[i] = 0;
        head[i] = NIL;
        ord[i] = 0;
      }
    } else {
      for (let i = pfn + 1; i < pfn + n; i++) {
        flags[i] = 0;
        ord[i] = 0;
      }
    }
    flags[pfn] = 0;
    ord[pfn] = 0;
    if (order > this.pageblockOrder) this.splitLargeBuddy(pfn, order);
    else this.freeOnePage(pfn, order, this.getPageblockMigratetype(pfn), false);
  }

  /** Build the `bad_page()` message for `freePages`. */
  private throwBadFree(pfn: number, order: number, compound: boolean): never {
    const mem = this.mem;
    const at = (p: number) => p === pfn ? `frame ${p}` : `frame ${p} (page ${p - pfn} of ${pfn})`;
    if (compound && mem.order[pfn] !== order) {
      throw new Error(
        `Cannot free frame ${pfn} at order ${order}: it heads a folio of order ` +
          `${mem.order[pfn]} (free_pages_prepare: order mismatch)`,
      );
    }
    for (let p = pfn; p < pfn + (1 << order); p++) {
      const f = mem.flags[p]!;
      if (f & BUDDY) {
        throw new Error(
          `Cannot free ${at(p)}: it is already free (PageBuddy, order ${mem.order[p]})`,
        );
      }
      if (mem.refcount[p] !== 0) {
        throw new Error(
          `Cannot free ${at(p)}: refcount is ${mem.refcount[p]}, expected 0 ` +
            `(free_page_is_bad: nonzero _refcount)`,
        );
      }
      if (mem.mapcount[p] !== 0) {
        throw new Error(
          `Cannot free ${at(p)}: mapcount is ${mem.mapcount[p]}, expected 0 ` +
            `(free_page_is_bad: nonzero mapcount)`,
        );
      }
      if (mem.mapping[p] !== 0) {
        throw new Error(
          `Cannot free ${at(p)}: mapping is ${mem.mapping[p]}, expected 0 ` +
            `(free_page_is_bad: non-NULL mapping)`,
        );
      }
      const badFlags = f & CHECK_AT_FREE;
      if (badFlags) {
        const names = [];
        for (let b = 0; b < 32; b++) if (badFlags & (1 << b)) names.push(PG_NAMES[b]);
        throw new Error(
          `Cannot free ${at(p)}: flag ${names.join(", ")} set ` +
            `(free_page_is_bad: PAGE_FLAGS_CHECK_AT_FREE flag(s) set)`,
        );
      }
      const expected = compound && p !== pfn ? pfn : NIL;
      if (mem.head[p] !== expected) {
        throw new Error(
          `Cannot free ${at(p)}: compound_head is ${mem.head[p]}, expected ${expected} ` +
            `(free_tail_page_prepare)`,
        );
      }
    }
    throw new Error(`Cannot free frame ${pfn} at order ${order}: bad page state`);
  }

  /** memblock_free_all() → __free_pages_core(): free the zone in maximal aligned blocks. */
  private freeAllFrames(): void {
    let pfn = this.startPfn;
    while (pfn < this.endPfn) {
      let order = this.maxOrder;
      while (order > 0 && ((pfn & ((1 << order) - 1)) !== 0 || pfn + (1 << order) > this.endPfn)) {
        order--;
      }
      // FPI_TO_TAIL: fresh memory goes to the tail of the lists.
      if (order > this.pageblockOrder) this.splitLargeBuddy(pfn, order, true);
      else this.freeOnePage(pfn, order, this.getPageblockMigratetype(pfn), true);
      pfn += 1 << order;
    }
  }

  // ---------------------------------------------------------------- allocation

  /**
   * Allocate `2^order` contiguous frames of `migratetype` (UNMOVABLE, MOVABLE or RECLAIMABLE):
   * `__rmqueue()` then `prep_new_page()`. Returns the head pfn, or -1 (NIL) when no free block
   * can serve the request. No watermark check, reclaim or compaction happens here.
   *
   * On success: refcount 1 on the head, `generation` bumped on every frame (a new use),
   * `order[head] = order`; with `compound` (`__GFP_COMP`, a folio) PG_head is set and the tails
   * point at the head (`prep_compound_page`).
   * Divergence: `order[head]` is also set for a non-compound block (the kernel keeps no order).
   *
   * @example
   * ```ts
   * import { PhysMem, Zone, MIGRATE } from "@mmsim/mmsim";
   * const mem = new PhysMem({ nrFrames: 1024 });
   * const zone = new Zone(mem);
   * const pfn = zone.allocPages(2, MIGRATE.MOVABLE, true);
   * if (mem.head[pfn + 3] !== pfn) throw new Error("tail points at head");
   * if (zone.allocPages(11, MIGRATE.MOVABLE) !== -1) throw new Error("order above MAX_PAGE_ORDER");
   * ```
   */
  allocPages(order: number, migratetype: number, compound = false): number {
    if (order > this.maxOrder) return NIL; // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER)
    if (!(migratetype >= 0 && migratetype < MIGRATE_PCPTYPES)) {
      throw new Error(
        `Cannot allocate with migratetype ${migratetype}: a request is UNMOVABLE (0), ` +
          `MOVABLE (1) or RECLAIMABLE (2)`,
      );
    }
    const allocFlags = migratetype === MIGRATE.MOVABLE ? ALLOC.CMA : 0;
    const pfn = this.rmqueue(order, migratetype, allocFlags);
    if (pfn !== NIL) this.prepNewPage(pfn, order, compound);
    return pfn;
  }

  /**
   * `prep_new_page()`: turn a block taken off the free lists into an allocated page (refcount
   * 1, new generation on every frame), and with `compound` into a folio (`prep_compound_page`).
   * Compaction calls this on the free pages it isolated.
   */
  prepNewPage(pfn: number, order: number, compound: boolean): void {
    const mem = this.mem;
    const n = 1 << order;
    const gen = mem.generation;
    for (let i = pfn; i < pfn + n; i++) gen[i] = (gen[i]! + 1) >>> 0;
    mem.refcount[pfn] = 1;
    mem.order[pfn] = order;
    mem.private[pfn] = 0; // post_alloc_hook(): set_page_private(page, 0)
    if (compound && order > 0) {
      mem.flags[pfn]! |= HEAD;
      const head = mem.head;
      for (let i = pfn + 1; i < pfn + n; i++) head[i] = pfn;
    }
  }

  /**
   * `split_page()`: make a non-compound allocated block of `order` into `2^order` order-0 pages,
   * each with refcount 1.
   */
  splitPage(pfn: number, order: number): void {
    const mem = this.mem;
    if ((mem.flags[pfn]! & HEAD) !== 0) {
      throw new Error(`Cannot split_page frame ${pfn}: it heads a compound folio`);
    }
    for (let i = pfn; i < pfn + (1 << order); i++) {
      mem.refcount[i] = 1;
      mem.order[i] = 0;
    }
  }

  /**
   * `__rmqueue()`: take a free block of `order` for `migratetype` off the lists. With
   * `ALLOC.CMA` (set for MOVABLE requests), CMA is tried first when more than half of the free
   * pages are CMA, and otherwise before the fallback types.
   */
  rmqueue(order: number, migratetype: number, allocFlags: number): number {
    let pfn = NIL;
    if ((allocFlags & ALLOC.CMA) !== 0 && this.nrFreeCmaPages > (this.nrFreePages >>> 1)) {
      pfn = this.rmqueueSmallest(order, MIGRATE.CMA);
      if (pfn !== NIL) return pfn;
    }
    pfn = this.rmqueueSmallest(order, migratetype);
    if (pfn === NIL) {
      if ((allocFlags & ALLOC.CMA) !== 0) pfn = this.rmqueueSmallest(order, MIGRATE.CMA);
      if (pfn === NIL) pfn = this.rmqueueFallback(order, migratetype);
    }
    return pfn;
  }

  /**
   * `__rmqueue_smallest()`: the smallest free block of at least `order` on the `mt` lists,
   * split down with `expand()`; NIL if none.
   */
  rmqueueSmallest(order: number, mt: number): number {
    const head = this.freeHead;
    for (let o = order; o <= this.maxOrder; o++) {
      const pfn = head[o * MIGRATE_TYPES + mt]!;
      if (pfn === NIL) continue;
      this.delFromFreeList(pfn, o, mt);
      this.expand(pfn, order, o, mt);
      return pfn;
    }
    return NIL;
  }

  /** `__rmqueue_cma_fallback()`. */
  rmqueueCmaFallback(order: number): number {
    return this.rmqueueSmallest(order, MIGRATE.CMA);
  }

  /**
   * `expand()`: a block of order `high` at `pfn` was taken for a request of order `low`; put
   * the upper halves back on the `mt` lists (orders high-1 … low).
   */
  expand(pfn: number, low: number, high: number, mt: number): void {
    while (high > low) {
      high--;
      this.addToFreeList(pfn + (1 << high), high, mt, false);
    }
  }

  /**
   * `__rmqueue_fallback()`: no block of the requested type. Find the largest free block on a
   * fallback list (it roughly approximates the pageblock with most free pages) and try to claim
   * its pageblock; a MOVABLE request that may not claim instead takes the smallest fallback
   * block. Returns the allocated head pfn or NIL.
   */
  rmqueueFallback(order: number, startMt: number): number {
    let co = this.maxOrder;
    let fmt = -1;
    let found = false;
    for (; co >= order; co--) {
      fmt = this.findFallback(co, startMt, false);
      if (fmt === -1) continue;
      // Cannot claim the pageblock and the request is movable: split the smallest block
      // instead; it will not cause permanent fragmentation.
      if (!this.canSteal && startMt === MIGRATE.MOVABLE && co > order) {
        for (co = order; co <= this.maxOrder; co++) {
          fmt = this.findFallback(co, startMt, false);
          if (fmt !== -1) break;
        }
      }
      found = true;
      break;
    }
    if (!found) return NIL;
    const pfn = this.freeHead[co * MIGRATE_TYPES + fmt]!;
    return this.stealSuitableFallback(pfn, co, order, startMt, this.canSteal);
  }

  /** Internal `find_suitable_fallback()`; leaves `can_steal` in `this.canSteal`. */
  private findFallback(order: number, mt: number, onlyStealable: boolean): number {
    if (this.nrFree[order] === 0) return -1;
    this.canSteal = false;
    for (let i = 0; i < MIGRATE_PCPTYPES - 1; i++) {
      const fmt = FALLBACKS[2 * mt + i]!;
      if (this.freeHead[order * MIGRATE_TYPES + fmt] === NIL) continue;
      if (canStealFallback(order, mt, this.pageblockOrder)) this.canSteal = true;
      if (!onlyStealable) return fmt;
      if (this.canSteal) return fmt;
    }
    return -1;
  }

  /**
   * `find_suitable_fallback()`: the first fallback type of `mt` with a free block of `order`,
   * and whether a fallback at that order may claim the pageblock; `migratetype` is -1 if none.
   * Compaction's `__compact_finished` asks this with `onlyStealable`.
   *
   * @example
   * ```ts
   * import { PhysMem, Zone, MIGRATE } from "@mmsim/mmsim";
   * const zone = new Zone(new PhysMem({ nrFrames: 1024 }));
   * const r = zone.findSuitableFallback(10, MIGRATE.UNMOVABLE, false);
   * if (r.migratetype !== MIGRATE.MOVABLE || !r.canSteal) throw new Error("steal movable");
   * ```
   */
  findSuitableFallback(
    order: number,
    migratetype: number,
    onlyStealable: boolean,
  ): { migratetype: number; canSteal: boolean } {
    const fmt = this.findFallback(order, migratetype, onlyStealable);
    return { migratetype: fmt, canSteal: fmt === -1 ? false : this.canSteal };
  }

  /**
   * `steal_suitable_fallback()` (v6.12): the free block at `pfn` of order `currentOrder` sits in
   * a pageblock of another type. A block of at least pageblock_order is claimed outright. Else,
   * if claiming is allowed and at least half the pageblock is free or "alike" (movable pages for
   * a movable request; for an unmovable/reclaimable request into a movable block, the pages that
   * are neither free nor movable), move the block's free pages to `startType` and claim it;
   * otherwise take just this block, splitting its rest back onto the block's own type.
   */
  private stealSuitableFallback(
    pfn: number,
    currentOrder: number,
    order: number,
    startType: number,
    wholeBlock: boolean,
  ): number {
    const mem = this.mem;
    const pb = this.pageblockOrder;
    const blockType = mem.pageblockMigratetype[pfn >>> pb]!;
    if (blockType !== MIGRATE.HIGHATOMIC) {
      if (currentOrder >= pb) {
        this.delFromFreeList(pfn, currentOrder, blockType);
        this.changePageblockRange(pfn, currentOrder, startType);
        this.expand(pfn, order, currentOrder, startType);
        return pfn;
      }
      // Divergence: boost_watermark() / ZONE_BOOSTED_WATERMARK are not modelled.
      if (wholeBlock) {
        const startPfn = (pfn >>> pb) << pb;
        const endPfn = startPfn + (1 << pb);
        // prep_move_freepages_block(): fails on zone boundaries.
        if (startPfn >= this.startPfn && endPfn <= this.endPfn) {
          let freePages = 0, movablePages = 0;
          const flags = mem.flags, ord = mem.order;
          for (let p = startPfn; p < endPfn;) {
            if ((flags[p]! & BUDDY) !== 0) {
              const nr = 1 << ord[p]!;
              freePages += nr;
              p += nr;
              continue;
            }
            // We assume that pages that could be isolated for migration are movable.
            if (pageMovable(mem, p)) movablePages++;
            p++;
          }
          let alikePages = 0;
          if (startType === MIGRATE.MOVABLE) alikePages = movablePages;
          else if (blockType === MIGRATE.MOVABLE) {
            // UNMOVABLE/RECLAIMABLE into a movable block: all non-movable pages are alike.
            alikePages = (1 << pb) - (freePages + movablePages);
          }
          if (freePages + alikePages >= (1 << (pb - 1))) {
            this.moveFreepagesRange(startPfn, blockType, startType);
            mem.pageblockMigratetype[startPfn >>> pb] = startType;
            return this.rmqueueSmallest(order, startType);
          }
        }
      }
    }
    // single_page: page_del_and_expand() on the block's own type.
    this.delFromFreeList(pfn, currentOrder, blockType);
    this.expand(pfn, order, currentOrder, blockType);
    return pfn;
  }

  // ---------------------------------------------------------------- pageblocks

  /** `__move_freepages_block()` body: move every free block in one pageblock to `newMt`. */
  private moveFreepagesRange(startPfn: number, oldMt: number, newMt: number): number {
    const mem = this.mem;
    const end = startPfn + (1 << this.pageblockOrder);
    let moved = 0;
    for (let pfn = startPfn; pfn < end;) {
      if ((mem.flags[pfn]! & BUDDY) === 0) {
        pfn++;
        continue;
      }
      const order = mem.order[pfn]!;
      this.moveToFreeList(pfn, order, oldMt, newMt);
      pfn += 1 << order;
      moved += 1 << order;
    }
    return moved;
  }

  /**
   * `move_freepages_block()`: move the free blocks of the pageblock containing `pfn` from the
   * `oldMt` lists to the `newMt` lists and set the pageblock's type. Returns the number of pages
   * moved, or -1 if the pageblock is not entirely inside the zone. The caller guarantees that
   * no free block larger than a pageblock covers it (use `moveFreepagesBlockIsolate` otherwise).
   */
  moveFreepagesBlock(pfn: number, oldMt: number, newMt: number): number {
    const pb = this.pageblockOrder;
    const startPfn = (pfn >>> pb) << pb;
    if (startPfn < this.startPfn || startPfn + (1 << pb) > this.endPfn) return -1;
    const moved = this.moveFreepagesRange(startPfn, oldMt, newMt);
    this.setPageblockMigratetype(startPfn, newMt);
    return moved;
  }

  /**
   * `find_large_buddy()`: the head of a free block that starts at or before `startPfn` and
   * covers it, or `startPfn` if none.
   */
  findLargeBuddy(startPfn: number): number {
    const mem = this.mem;
    let order = 0;
    let pfn = startPfn;
    while ((mem.flags[pfn]! & BUDDY) === 0) {
      if (++order > this.maxOrder) return startPfn;
      pfn &= ~0 << order;
      if (pfn < this.startPfn) return startPfn;
    }
    if (pfn + (1 << mem.order[pfn]!) > startPfn) return pfn;
    return startPfn;
  }

  /**
   * `move_freepages_block_isolate()` (v6.12): set the pageblock containing `pfn` to `mt`
   * (MIGRATE_ISOLATE or back), moving its free pages; a free block larger than a pageblock that
   * covers it is taken off and refreed pageblock by pageblock (`split_large_buddy`). Returns
   * false if the pageblock is not entirely inside the zone.
   */
  moveFreepagesBlockIsolate(pfn: number, mt: number): boolean {
    const mem = this.mem;
    const pb = this.pageblockOrder;
    const startPfn = (pfn >>> pb) << pb;
    if (startPfn < this.startPfn || startPfn + (1 << pb) > this.endPfn) return false;
    if (pb !== this.maxOrder) {
      // We're a tail block in a larger buddy.
      const b = this.findLargeBuddy(startPfn);
      if (b !== startPfn) {
        const order = mem.order[b]!;
        this.delFromFreeList(b, order, this.getPageblockMigratetype(b));
        this.setPageblockMigratetype(startPfn, mt);
        this.splitLargeBuddy(b, order);
        return true;
      }
      // We're the starting block of a larger buddy.
      if ((mem.flags[startPfn]! & BUDDY) !== 0 && mem.order[startPfn]! > pb) {
        const order = mem.order[startPfn]!;
        this.delFromFreeList(startPfn, order, this.getPageblockMigratetype(startPfn));
        this.setPageblockMigratetype(startPfn, mt);
        this.splitLargeBuddy(startPfn, order);
        return true;
      }
    }
    this.moveFreepagesRange(startPfn, this.getPageblockMigratetype(startPfn), mt);
    this.setPageblockMigratetype(startPfn, mt);
    return true;
  }

  // ---------------------------------------------------------------- isolation for compaction

  /**
   * `__isolate_free_page()`: take the free block at `pfn` of `order` off the lists for
   * compaction's free scanner or page isolation. Outside MIGRATE_ISOLATE pageblocks it obeys
   * the min watermark as if allocating (returns 0 if that fails). Isolating at least half a
   * pageblock turns its (mergeable) pageblocks MOVABLE. Returns the number of pages taken.
   * The block is left off the lists with PG.buddy clear, refcount 0 and `order[pfn]` = order
   * (compaction keeps the order in page->private).
   *
   * @example
   * ```ts
   * import { PhysMem, Zone } from "@mmsim/mmsim";
   * const mem = new PhysMem({ nrFrames: 2048 });
   * const zone = new Zone(mem, { minFreeKbytes: 0 });
   * if (zone.isolateFreePage(1024, 10) !== 1024) throw new Error("isolate");
   * zone.putbackIsolatedPage(1024, 10);
   * if (zone.nrFree[10] !== 2) throw new Error("back and merged");
   * ```
   */
  isolateFreePage(pfn: number, order: number): number {
    const mem = this.mem;
    if ((mem.flags[pfn]! & BUDDY) === 0 || mem.order[pfn] !== order) {
      throw new Error(
        `Cannot isolate free page ${pfn} of order ${order}: it is not a free block of that ` +
          `order (PageBuddy ${(mem.flags[pfn]! & BUDDY) !== 0}, order ${mem.order[pfn]})`,
      );
    }
    const mt = this.getPageblockMigratetype(pfn);
    if (mt !== MIGRATE.ISOLATE) {
      // Obey watermarks as if the page was being allocated.
      const watermark = this.wmarkMin + (1 << order);
      if (!this.zoneWatermarkOk(0, watermark, ALLOC.CMA)) return 0;
    }
    this.delFromFreeList(pfn, order, mt);
    mem.order[pfn] = order;
    // Set the pageblock if the isolated page is at least half of a pageblock.
    const pb = this.pageblockOrder;
    if (order >= pb - 1) {
      const end = pfn + (1 << order) - 1;
      for (let p = pfn; p < end; p += 1 << pb) {
        const bmt = this.getPageblockMigratetype(p);
        // Only change normal pageblocks (i.e., they can merge with others).
        if (migratetypeIsMergeable(bmt)) this.moveFreepagesBlock(p, bmt, MIGRATE.MOVABLE);
      }
    }
    return 1 << order;
  }

  /**
   * `__putback_isolated_page()`: return a block taken by `isolateFreePage` (untouched) to the
   * free lists of `mt` (default: its pageblock's type), merging as on free.
   */
  putbackIsolatedPage(pfn: number, order: number, mt = this.getPageblockMigratetype(pfn)): void {
    this.mem.order[pfn] = 0;
    this.freeOnePage(pfn, order, mt, false);
  }

  // ---------------------------------------------------------------- watermarks

  /**
   * `__zone_watermark_ok()`: after taking `2^order` pages, would more than `mark` pages stay
   * free (CMA pages count only with `ALLOC.CMA`), and is there a free block of at least `order`
   * on a usable list?
   *
   * @example
   * ```ts
   * import { PhysMem, Zone, ALLOC } from "@mmsim/mmsim";
   * const zone = new Zone(new PhysMem({ nrFrames: 4096 }));
   * if (!zone.zoneWatermarkOk(9, zone.wmarkLow, ALLOC.CMA)) throw new Error("empty zone is fine");
   * ```
   */
  zoneWatermarkOk(order: number, mark: number, allocFlags: number): boolean {
    // __zone_watermark_unusable_free()
    let freePages = this.nrFreePages - ((1 << order) - 1);
    if ((allocFlags & ALLOC.CMA) === 0) freePages -= this.nrFreeCmaPages;
    if (freePages <= mark) return false;
    if (order === 0) return true;
    for (let o = order; o <= this.maxOrder; o++) {
      if (this.nrFree[o] === 0) continue;
      for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++) {
        if (this.freeHead[o * MIGRATE_TYPES + mt] !== NIL) return true;
      }
      if (
        (allocFlags & ALLOC.CMA) !== 0 && this.freeHead[o * MIGRATE_TYPES + MIGRATE.CMA] !== NIL
      ) {
        return true;
      }
    }
    return false;
  }

  /** `calculate_min_free_kbytes()` + `__setup_per_zone_wmarks()` for this zone alone. */
  private setupWatermarks(minFreeKbytes: number | undefined, scaleFactor: number): void {
    const kbPerPage = this.mem.pageSizeBytes >>> 10;
    const lowmemKbytes = this.managedPages * kbPerPage;
    const minKb = minFreeKbytes ??
      Math.min(262144, Math.max(128, Math.floor(Math.sqrt(lowmemKbytes * 16))));
    // pages_min = min_free_kbytes >> (PAGE_SHIFT - 10); this zone holds all lowmem.
    const pagesMin = Math.floor(minKb / kbPerPage);
    if (this.movable) {
      this.wmarkMin = Math.min(128, Math.max(32, Math.floor(this.managedPages / 1024)));
    } else this.wmarkMin = pagesMin;
    const tmp = Math.max(
      pagesMin >>> 2,
      Math.floor(this.managedPages * scaleFactor / 10000),
    );
    this.wmarkLow = this.wmarkMin + tmp;
    this.wmarkHigh = this.wmarkLow + tmp;
  }
}
