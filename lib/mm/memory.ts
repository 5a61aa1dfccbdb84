/**
 * Physical memory: page frames as struct-of-arrays typed arrays, the kernel's `struct page`
 * fields one array each, plus pageblock migratetypes and zones.
 *
 * Follows include/linux/mm_types.h (`struct page` / `struct folio`), include/linux/page-flags.h
 * (the PG_* bit names and PG_readahead = PG_reclaim) and include/linux/mmzone.h (pageblocks,
 * zones, migratetypes), Linux v6.12.
 *
 * A frame's identity (its pfn, the index into these arrays) is separate from its use: every
 * allocation bumps `generation[pfn]`, so a holder that remembers `(pfn, generation)` can tell
 * that the frame it points at was freed and reused (ABA). `next`/`prev` are the frame's one
 * `list_head`: `page->buddy_list` while the frame is free, `folio->lru` while it is on an LRU
 * list, exactly the union the kernel uses.
 *
 * Left out: struct page fields no claim reads (memcg_data, _last_cpupid, …), sections and
 * sparsemem, NUMA nodes (one node), highmem.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";

/**
 * Page flag bit numbers, named as in include/linux/page-flags.h `enum pageflags` (v6.12).
 * `readahead` is the same bit as `reclaim` (PG_readahead = PG_reclaim), as in the kernel.
 * `buddy` and `isolated` model page types / states kept elsewhere by the kernel
 * (PageBuddy is a page type in `page->page_type`; isolation is PG_lru cleared plus a reference).
 *
 * @example
 * ```ts
 * import { PG } from "@mmsim/mmsim";
 * if (PG.readahead !== PG.reclaim) throw new Error("PG_readahead must alias PG_reclaim");
 * ```
 */
export const PG = {
  locked: 0,
  writeback: 1,
  referenced: 2,
  uptodate: 3,
  dirty: 4,
  lru: 5,
  head: 6,
  waiters: 7,
  active: 8,
  workingset: 9,
  owner_priv_1: 10,
  owner_2: 11,
  arch_1: 12,
  reserved: 13,
  private: 14,
  private_2: 15,
  reclaim: 16,
  /** Alias of `reclaim`: include/linux/page-flags.h `PG_readahead = PG_reclaim`. */
  readahead: 16,
  swapbacked: 17,
  unevictable: 18,
  mlocked: 19,
  /** Model: PageBuddy page type (frame is the head of a free buddy block). */
  buddy: 24,
  /** Model: frame belongs to device memory (ZONE_DEVICE). */
  device: 25,
} as const;

/**
 * A page flag name, e.g. `"locked"`, `"writeback"`, `"private_2"`.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, Mm, type PageFlag, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * mm.mem.setFlag(f, PG.reclaim);
 * const set = (Object.keys(PG) as PageFlag[]).filter((name) => mm.mem.testFlag(f, PG[name]));
 * // One bit, two names: PG_readahead = PG_reclaim.
 * if (set.join() !== "reclaim,readahead") throw new Error(set.join());
 * ```
 */
export type PageFlag = keyof typeof PG;

/**
 * Migratetypes of pageblocks, as in include/linux/mmzone.h `enum migratetype` (v6.12).
 *
 * @example
 * ```ts
 * import { MIGRATE } from "@mmsim/mmsim";
 * if (MIGRATE.MOVABLE !== 1) throw new Error("kernel order changed");
 * ```
 */
export const MIGRATE = {
  UNMOVABLE: 0,
  MOVABLE: 1,
  RECLAIMABLE: 2,
  HIGHATOMIC: 3,
  CMA: 4,
  ISOLATE: 5,
} as const;

/**
 * A migratetype name.
 *
 * @example
 * ```ts
 * import { MIGRATE, type MigrateType, PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 1024 });
 * const name = (mt: number) => (Object.keys(MIGRATE) as MigrateType[]).find((k) => MIGRATE[k] === mt);
 * // Memory starts in MOVABLE pageblocks (as at boot).
 * if (name(mem.pageblockMigratetype[0]!) !== "MOVABLE") throw new Error(name(mem.pageblockMigratetype[0]!));
 * ```
 */
export type MigrateType = keyof typeof MIGRATE;

/**
 * Number of migratetypes the free lists are split by (MIGRATE_TYPES).
 *
 * @example
 * ```ts
 * import { MIGRATE, MIGRATE_TYPES, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 1024 }));
 * // The free lists are split by order × migratetype; MIGRATE_ISOLATE is the last type.
 * if (zone.nrFreeType.length !== (zone.maxOrder + 1) * MIGRATE_TYPES) throw new Error("free_area[order].free_list[mt]");
 * if (MIGRATE.ISOLATE !== MIGRATE_TYPES - 1) throw new Error("enum migratetype");
 * ```
 */
export const MIGRATE_TYPES = 6;

/**
 * Configuration of physical memory (parsed: defaults filled in).
 *
 * @example
 * ```ts
 * import { PhysMemConfig } from "@mmsim/mmsim";
 * const cfg = PhysMemConfig.parse({ nrFrames: 1024 });
 * if (cfg.pageSizeBytes !== 4096) throw new Error("default base page is 4 KiB");
 * ```
 */
export interface PhysMemConfig {
  /** Number of base-page frames (default 262,144 = 1 GiB of 4 KiB pages). */
  nrFrames: number;
  /** Base page size: 4 KiB (x86-64, arm64 4K), 16 KiB or 64 KiB (arm64 granules). */
  pageSizeBytes: 4096 | 16384 | 65536;
  /**
   * Highest buddy order (MAX_PAGE_ORDER; MAX_ORDER-1 before v6.8). Defaults per base page:
   * 10 for 4 KiB; arm64 uses 11 for 16 KiB and 13 for 64 KiB (ARCH_FORCE_MAX_ORDER).
   */
  maxOrder?: number;
  /** pageblock_order: defaults to the PMD order (9 for 4 KiB, 11 for 16 KiB, 13 for 64 KiB). */
  pageblockOrder?: number;
}

/**
 * Input of {@link PhysMemConfig}: every field optional.
 *
 * @example 64 KiB pages: the PMD order and pageblock order are 13 (512 MiB)
 * ```ts
 * import { PhysMem, type PhysMemConfigInput } from "@mmsim/mmsim";
 * const input: PhysMemConfigInput = { nrFrames: 16384, pageSizeBytes: 65536 }; // 1 GiB
 * const mem = new PhysMem(input);
 * if (mem.pageblockOrder !== 13 || mem.maxOrder !== 13) throw new Error(`${mem.pageblockOrder}`);
 * if (mem.nrPageblocks !== 2) throw new Error("two 512 MiB pageblocks");
 * ```
 */
export type PhysMemConfigInput = Partial<PhysMemConfig>;

const physMemSchema = z.object({
  nrFrames: z.number().int().positive().max(2 ** 26).default(262_144),
  pageSizeBytes: z.union([z.literal(4096), z.literal(16384), z.literal(65536)]).default(4096),
  maxOrder: z.number().int().min(0).max(20).optional(),
  pageblockOrder: z.number().int().min(0).max(20).optional(),
});
const _physMemTypes: Same<z.output<typeof physMemSchema>, PhysMemConfig> = true;
void _physMemTypes;

/** The {@link PhysMemConfig} schema. */
export const PhysMemConfig: ConfigSchema<PhysMemConfig, PhysMemConfigInput> = defineConfig(
  "PhysMemConfig",
  physMemSchema,
);

/**
 * PMD order for a base page size: log2(entries per page-table page), i.e. 9 for 4 KiB pages
 * (2 MiB), 11 for 16 KiB (32 MiB), 13 for 64 KiB (512 MiB).
 *
 * @example
 * ```ts
 * import { pmdOrder } from "@mmsim/mmsim";
 * if (pmdOrder(65536) !== 13) throw new Error("64 KiB pages give 512 MiB PMDs");
 * ```
 */
export function pmdOrder(pageSizeBytes: number): number {
  // A page-table page holds pageSize / 8 entries.
  return Math.log2(pageSizeBytes / 8);
}

/**
 * Value of `mapping[pfn]` for a frame with no mapping.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapRemoveFolio, folioAlloc, Mm, NO_MAPPING } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (mm.mem.mapping[f] !== NO_MAPPING || mm.mappings[NO_MAPPING] !== undefined) throw new Error("no mapping");
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "f" }), f, 0);
 * filemapRemoveFolio(mm, f); // truncation clears folio->mapping
 * if (mm.mem.mapping[f] !== NO_MAPPING) throw new Error("cleared");
 * ```
 */
export const NO_MAPPING: number = 0;
/**
 * Value of `next`/`prev`/`head` meaning "none".
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, Mm, NIL } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * // An order-0 folio has no head pointer and is on no list while allocated and off the LRU.
 * if (mm.mem.head[f] !== NIL || mm.mem.next[f] !== NIL) throw new Error("NIL links");
 * if (folioAlloc(mm, 7) !== NIL) throw new Error("no order-7 block in 64 frames: NIL");
 * ```
 */
export const NIL: number = -1;

/**
 * Page frames as struct-of-arrays. Each array is indexed by pfn. Folio-wide fields live on the
 * head frame; `head[pfn]` is the head pfn of a tail frame (compound_head) or NIL for a head or
 * order-0 frame.
 *
 * Bytes per frame: flags 4, refcount 4, mapcount 4, order 1, mapping 4, index 4, private 4,
 * generation 4, head 4, next 4, prev 4, data 4 = 45, plus 1 byte per pageblock.
 *
 * @example
 * ```ts
 * import { PhysMem, PG } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 16 });
 * mem.setFlag(3, PG.dirty);
 * if (!mem.testFlag(3, PG.dirty)) throw new Error("flag not set");
 * ```
 */
export class PhysMem {
  /** The parsed configuration. */
  readonly config: Required<PhysMemConfig>;
  /** Number of frames. */
  readonly nrFrames: number;
  /** Base page size in bytes. */
  readonly pageSizeBytes: number;
  /** Highest buddy order (MAX_PAGE_ORDER). */
  readonly maxOrder: number;
  /** pageblock_order. */
  readonly pageblockOrder: number;
  /** Number of pageblocks. */
  readonly nrPageblocks: number;
  /** PG_* bits (`PG`), on the head frame for folio-wide flags. */
  readonly flags: Uint32Array;
  /** page->_refcount (folio refcount on the head). */
  readonly refcount: Int32Array;
  /** Number of page-table mappings (folio mapcount on the head; kernel biases by -1, we do not). */
  readonly mapcount: Int32Array;
  /** Order of the folio (allocated) or buddy block (free) headed at this frame. */
  readonly order: Uint8Array;
  /** Id of the address_space this folio belongs to; NO_MAPPING for none. */
  readonly mapping: Uint32Array;
  /** Page index in the mapping (folio->index). */
  readonly index: Uint32Array;
  /** Handle of the folio's private payload in a side table (folio->private); 0 = none. */
  readonly private: Uint32Array;
  /** Use generation: incremented each time the frame is allocated. */
  readonly generation: Uint32Array;
  /** Head pfn of a tail frame, NIL for heads and order-0 frames. */
  readonly head: Int32Array;
  /** list_head next (buddy free list or LRU list), NIL if not on a list. */
  readonly next: Int32Array;
  /** list_head prev, NIL if not on a list. */
  readonly prev: Int32Array;
  /**
   * Model: a tag naming the contents of the frame (which version of which data it holds), so
   * stale reads, lost updates and copies into the wrong frame are checkable. 0 = zeroes.
   */
  readonly data: Uint32Array;
  /** Migratetype of each pageblock (`MIGRATE`). */
  readonly pageblockMigratetype: Uint8Array;

  /** Allocate the arrays for `config.nrFrames` frames. */
  constructor(config: PhysMemConfigInput = {}) {
    const c = PhysMemConfig.parse(config);
    const pmd = pmdOrder(c.pageSizeBytes);
    const maxOrder = c.maxOrder ?? (c.pageSizeBytes === 4096 ? 10 : pmd);
    const pageblockOrder = c.pageblockOrder ?? Math.min(pmd, maxOrder);
    this.config = { ...c, maxOrder, pageblockOrder };
    this.nrFrames = c.nrFrames;
    this.pageSizeBytes = c.pageSizeBytes;
    this.maxOrder = maxOrder;
    this.pageblockOrder = pageblockOrder;
    const n = c.nrFrames;
    this.flags = new Uint32Array(n);
    this.refcount = new Int32Array(n);
    this.mapcount = new Int32Array(n);
    this.order = new Uint8Array(n);
    this.mapping = new Uint32Array(n);
    this.index = new Uint32Array(n);
    this.private = new Uint32Array(n);
    this.generation = new Uint32Array(n);
    this.head = new Int32Array(n).fill(NIL);
    this.next = new Int32Array(n).fill(NIL);
    this.prev = new Int32Array(n).fill(NIL);
    this.data = new Uint32Array(n);
    this.nrPageblocks = Math.ceil(n / (1 << pageblockOrder));
    this.pageblockMigratetype = new Uint8Array(this.nrPageblocks).fill(MIGRATE.MOVABLE);
  }

  /** Test PG bit `bit` of frame `pfn` (test_bit). */
  testFlag(pfn: number, bit: number): boolean {
    return ((this.flags[pfn]! >>> bit) & 1) === 1;
  }

  /** Set PG bit `bit` of frame `pfn` (set_bit). */
  setFlag(pfn: number, bit: number): void {
    this.flags[pfn]! |= 1 << bit;
  }

  /** Clear PG bit `bit` of frame `pfn` (clear_bit). */
  clearFlag(pfn: number, bit: number): void {
    this.flags[pfn]! &= ~(1 << bit);
  }

  /** test_and_set_bit: set the bit and return its old value. */
  testAndSetFlag(pfn: number, bit: number): boolean {
    const old = this.testFlag(pfn, bit);
    this.flags[pfn]! |= 1 << bit;
    return old;
  }

  /** test_and_clear_bit: clear the bit and return its old value. */
  testAndClearFlag(pfn: number, bit: number): boolean {
    const old = this.testFlag(pfn, bit);
    this.flags[pfn]! &= ~(1 << bit);
    return old;
  }

  /** compound_head(): the head pfn of the folio containing `pfn`. */
  compoundHead(pfn: number): number {
    const h = this.head[pfn]!;
    return h === NIL ? pfn : h;
  }

  /** Pageblock number of `pfn` (pfn >> pageblock_order). */
  pageblockOf(pfn: number): number {
    return pfn >>> this.pageblockOrder;
  }

  /** Bytes of typed-array state per frame, counting pageblock state amortised. */
  bytesPerFrame(): number {
    const perFrame = this.flags.BYTES_PER_ELEMENT + this.refcount.BYTES_PER_ELEMENT +
      this.mapcount.BYTES_PER_ELEMENT + this.order.BYTES_PER_ELEMENT +
      this.mapping.BYTES_PER_ELEMENT + this.index.BYTES_PER_ELEMENT +
      this.private.BYTES_PER_ELEMENT + this.generation.BYTES_PER_ELEMENT +
      this.head.BYTES_PER_ELEMENT + this.next.BYTES_PER_ELEMENT + this.prev.BYTES_PER_ELEMENT +
      this.data.BYTES_PER_ELEMENT;
    return perFrame + this.nrPageblocks / this.nrFrames;
  }
}
