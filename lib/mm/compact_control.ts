/**
 * `struct compact_control` and the compaction state of a zone: the parameters of one
 * compaction run, its scanner positions, isolated lists and counters; the zone's cached scanner
 * positions, pageblock skip hints (PB_migrate_skip) and deferral counters.
 *
 * Follows mm/internal.h (`struct compact_control`), include/linux/mmzone.h (the compaction
 * fields of `struct zone`) and mm/compaction.c (`isolation_suitable`, `test_and_set_skip`,
 * `update_cached_migrate`, `update_pageblock_skip`, `reset_cached_positions`,
 * `__reset_isolation_suitable`, `defer_compaction`, `compaction_deferred`,
 * `compaction_defer_reset`, `compaction_restarting`), read at torvalds/linux 0003e2a4 (a v6.7
 * tree) with the v6.10 per-order free lists (`cc->freepages[order]`).
 *
 * Left out: `fast_start_pfn` / `search_order` / `fast_search_fail` (the free-list shortcut
 * searches are not modelled), `contended` (no lock contention), capture control, proactive
 * compaction fields.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { MigrateMode } from "./address_space.ts";
import { ALLOC, type Zone } from "./buddy.ts";
import type { Mm } from "./mm.ts";
import { type CompactResultName, GFP_KERNEL, gfpMigratetype } from "./page_alloc.ts";
import { MIGRATE } from "./memory.ts";

/**
 * COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX: pages isolated per migration batch.
 *
 * @example
 * ```ts
 * import { COMPACT_CLUSTER_MAX, SWAP_CLUSTER_MAX } from "@mmsim/mmsim";
 * if (COMPACT_CLUSTER_MAX !== SWAP_CLUSTER_MAX) throw new Error();
 * ```
 */
export const COMPACT_CLUSTER_MAX = 32;
/** PAGE_ALLOC_COSTLY_ORDER (include/linux/mmzone.h). */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
const COMPACT_MAX_DEFER_SHIFT = 6;

/**
 * Compaction tunables: sysctls with their kernel defaults, and model costs.
 *
 * @example
 * ```ts
 * import { CompactionConfig } from "@mmsim/mmsim";
 * const c = CompactionConfig.parse({});
 * if (c.extfragThreshold !== 500) throw new Error("vm.extfrag_threshold");
 * ```
 */
export interface CompactionConfig {
  /** vm.extfrag_threshold: costly orders compact only above this fragmentation index (500). */
  extfragThreshold: number;
  /** vm.compact_unevictable_allowed (CONFIG_COMPACT_UNEVICTABLE_DEFAULT = 1). */
  compactUnevictableAllowed: boolean;
  /** Model: CPU time per pfn visited by either scanner (2 ns). */
  scanNsPerPage: number;
  /**
   * Model, not upstream: skip file folios whose refcount exceeds the expected one at isolation
   * (the 2023 `page_has_extra_refs()` proposal). The kernel isolates them and migration fails.
   */
  skipExtraRefs: boolean;
}

/**
 * Input of {@link CompactionConfig}: every field optional.
 *
 * @example vm.extfrag_threshold decides whether a costly order is worth compacting
 * ```ts
 * import { type CompactionConfigInput, compactionSuitable, fragmentationIndex, fragmentZone, PhysMem, Rng, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 8192 }), { minFreeKbytes: 0 });
 * fragmentZone(zone, new Rng(1), { utilisation: 0.5, fragmentation: 1 }); // no free order-9 block
 * const index = fragmentationIndex(zone, 9); // towards 1000: failure due to fragmentation
 * const strict: CompactionConfigInput = { extfragThreshold: 1000 };
 * const eager: CompactionConfigInput = { extfragThreshold: 0 };
 * if (!(index > 0) || compactionSuitable(zone, 9, strict) || !compactionSuitable(zone, 9, eager)) {
 *   throw new Error(`fragmentation index ${index}`);
 * }
 * ```
 */
export type CompactionConfigInput = Partial<CompactionConfig>;

const compactionSchema = z.object({
  extfragThreshold: z.number().int().min(0).max(1000).default(500),
  compactUnevictableAllowed: z.boolean().default(true),
  scanNsPerPage: z.number().min(0).default(2),
  skipExtraRefs: z.boolean().default(false),
});
const _compactionTypes: Same<z.output<typeof compactionSchema>, CompactionConfig> = true;
void _compactionTypes;

/** The {@link CompactionConfig} schema. */
export const CompactionConfig: ConfigSchema<CompactionConfig, CompactionConfigInput> = defineConfig(
  "CompactionConfig",
  compactionSchema,
);

/**
 * `enum compact_result` (include/linux/compaction.h, v6.12), in the kernel's order (results
 * are compared with max()).
 *
 * @example
 * ```ts
 * if (COMPACT_RESULTS.indexOf("COMPACT_SUCCESS") !== COMPACT_RESULTS.length - 1) throw new Error();
 * ```
 */
export const COMPACT_RESULTS: readonly CompactResultName[] = [
  "COMPACT_NOT_SUITABLE_ZONE",
  "COMPACT_SKIPPED",
  "COMPACT_DEFERRED",
  "COMPACT_NO_SUITABLE_PAGE",
  "COMPACT_CONTINUE",
  "COMPACT_COMPLETE",
  "COMPACT_PARTIAL_SKIPPED",
  "COMPACT_CONTENDED",
  "COMPACT_SUCCESS",
];

/**
 * A `compact_result` (page_alloc.ts spells the type `CompactResultName`).
 *
 * @example Too little free memory to compact: COMPACT_SKIPPED
 * ```ts
 * import { COMPACT_PRIO, type CompactResult, Engine, GFP_KERNEL, MIGRATE, Mm, tryToCompactPages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * // Every page in use, then every other one freed: 1000 free pages, none of them mergeable —
 * // too few to compact for order 9 (low watermark + compact_gap(9) = 2 << 9 pages).
 * const pages: number[] = [];
 * for (let p = mm.zone.allocPages(0, MIGRATE.UNMOVABLE); p >= 0; p = mm.zone.allocPages(0, MIGRATE.UNMOVABLE)) pages.push(p);
 * for (const p of pages.filter((p) => p % 2 === 0).slice(0, 1000)) {
 *   mm.mem.refcount[p] = 0;
 *   mm.zone.freePages(p, 0);
 * }
 * const results: CompactResult[] = [];
 * env.spawn("alloc", function* () { results.push(yield* tryToCompactPages(mm, 9, GFP_KERNEL, 0, COMPACT_PRIO.ASYNC)); });
 * env.run();
 * if (results[0] !== "COMPACT_SKIPPED") throw new Error(results[0]);
 * ```
 */
export type CompactResult = CompactResultName;

/** max() of two results in `enum compact_result` order (internal to the compaction files). */
export function maxResult(a: CompactResult, b: CompactResult): CompactResult {
  return COMPACT_RESULTS.indexOf(a) >= COMPACT_RESULTS.indexOf(b) ? a : b;
}

// ------------------------------------------------------------------ per-zone state

/**
 * The compaction fields of `struct zone`: cached scanner positions, the pageblock skip bits
 * (PB_migrate_skip) and deferral state. Get a zone's with {@link zoneCompactState}.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const s = new ZoneCompactState(new Zone(new PhysMem({ nrFrames: 2048 })));
 * if (s.cachedFreePfn !== 1536) throw new Error("the last pageblock");
 * ```
 */
export class ZoneCompactState {
  /** PB_migrate_skip per pageblock, indexed from the zone's first pageblock. */
  readonly skip: Uint8Array;
  /** First pageblock number of the zone. */
  readonly firstPageblock: number;
  /** compact_cached_migrate_pfn[ASYNC, SYNC]. */
  readonly cachedMigratePfn: [number, number];
  /** compact_cached_free_pfn. */
  cachedFreePfn: number;
  /** compact_init_migrate_pfn. */
  initMigratePfn: number;
  /** compact_init_free_pfn. */
  initFreePfn: number;
  /** compact_blockskip_flush. */
  blockskipFlush = false;
  /** compact_considered. */
  considered = 0;
  /** compact_defer_shift. */
  deferShift = 0;
  /** compact_order_failed. */
  orderFailed = 0;

  /** Fresh state for `zone`. */
  constructor(zone: Zone) {
    const pb = zone.pageblockOrder;
    this.firstPageblock = zone.startPfn >>> pb;
    this.skip = new Uint8Array(((zone.endPfn - 1) >>> pb) - this.firstPageblock + 1);
    this.cachedMigratePfn = [zone.startPfn, zone.startPfn];
    this.cachedFreePfn = pageblockStart(zone.endPfn - 1, pb);
    this.initMigratePfn = zone.startPfn;
    this.initFreePfn = this.cachedFreePfn;
  }
}

const zoneStates = new WeakMap<Zone, ZoneCompactState>();

/**
 * The compaction state of a zone (created on first use).
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * if (zoneCompactState(zone).skip.length !== 4) throw new Error("one bit per pageblock");
 * ```
 */
export function zoneCompactState(zone: Zone): ZoneCompactState {
  let s = zoneStates.get(zone);
  if (!s) zoneStates.set(zone, s = new ZoneCompactState(zone));
  return s;
}

/** `pageblock_start_pfn()` for pageblock order `pb` (internal to the compaction files). */
export function pageblockStart(pfn: number, pb: number): number {
  return pfn - (pfn & ((1 << pb) - 1));
}

/** `pageblock_end_pfn()` for pageblock order `pb` (internal to the compaction files). */
export function pageblockEnd(pfn: number, pb: number): number {
  return pageblockStart(pfn, pb) + (1 << pb);
}

/**
 * `__reset_isolation_suitable()` via `reset_isolation_suitable()` (kswapd going to sleep, or a
 * compaction restarting after deferral): clear the skip hints if a full compaction asked for
 * it (`compact_blockskip_flush`). Divergence: every skip bit is cleared and the scanners
 * restart at the zone edges; the kernel clears only pageblocks it samples to hold an LRU or a
 * free page and restarts at the outermost such blocks.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const s = zoneCompactState(zone);
 * s.skip[1] = 1;
 * s.blockskipFlush = true;
 * resetIsolationSuitable(zone);
 * if (s.skip[1] !== 0) throw new Error("cleared");
 * ```
 */
export function resetIsolationSuitable(zone: Zone): void {
  const s = zoneCompactState(zone);
  if (!s.blockskipFlush) return;
  s.blockskipFlush = false;
  s.skip.fill(0);
  resetCachedPositions(zone, s);
  s.initMigratePfn = zone.startPfn;
  s.initFreePfn = s.cachedFreePfn;
}

/** `reset_cached_positions()` (internal to the compaction files). */
export function resetCachedPositions(zone: Zone, s: ZoneCompactState): void {
  s.cachedMigratePfn[0] = zone.startPfn;
  s.cachedMigratePfn[1] = zone.startPfn;
  s.cachedFreePfn = pageblockStart(zone.endPfn - 1, zone.pageblockOrder);
}

/**
 * `defer_compaction()`: compaction of `order` failed; skip the next 1 << shift attempts.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * deferCompaction(zone, 9);
 * if (!compactionDeferred(zone, 9)) throw new Error("deferred once");
 * ```
 */
export function deferCompaction(zone: Zone, order: number): void {
  const s = zoneCompactState(zone);
  s.considered = 0;
  s.deferShift++;
  if (order < s.orderFailed) s.orderFailed = order;
  if (s.deferShift > COMPACT_MAX_DEFER_SHIFT) s.deferShift = COMPACT_MAX_DEFER_SHIFT;
}

/**
 * `compaction_deferred()`: should compaction of `order` be skipped this time? After
 * `deferCompaction`, the next 1 << compact_defer_shift attempts are.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * if (compactionDeferred(zone, 9)) throw new Error("never failed: not deferred");
 * ```
 */
export function compactionDeferred(zone: Zone, order: number): boolean {
  const s = zoneCompactState(zone);
  const limit = 1 << s.deferShift;
  if (order < s.orderFailed) return false;
  if (++s.considered >= limit) {
    s.considered = limit;
    return false;
  }
  return true;
}

/**
 * `compaction_defer_reset()`: compaction of `order` succeeded (`allocSuccess`: the allocation
 * did too).
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * deferCompaction(zone, 9);
 * compactionDeferReset(zone, 9, true);
 * if (compactionDeferred(zone, 9)) throw new Error("reset");
 * ```
 */
export function compactionDeferReset(zone: Zone, order: number, allocSuccess: boolean): void {
  const s = zoneCompactState(zone);
  if (allocSuccess) {
    s.considered = 0;
    s.deferShift = 0;
  }
  if (order >= s.orderFailed) s.orderFailed = order + 1;
}

/** `compaction_restarting()` (internal to the compaction files). */
export function compactionRestarting(zone: Zone, order: number): boolean {
  const s = zoneCompactState(zone);
  if (order < s.orderFailed) return false;
  return s.deferShift === COMPACT_MAX_DEFER_SHIFT && s.considered >= 1 << s.deferShift;
}

// ------------------------------------------------------------------ compact_control

/**
 * Options of a {@link CompactControl} (the fields of `struct compact_control` set by callers).
 *
 * @example
 * ```ts
 * import { ALLOC, CompactControl, type CompactControlOptions, Engine, GFP_HIGHUSER_MOVABLE, MIGRATE, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
 * // Direct compaction for a THP fault: order 9, async, movable.
 * const opts: CompactControlOptions = { order: 9, mode: "MIGRATE_ASYNC", gfpMask: GFP_HIGHUSER_MOVABLE, directCompaction: true };
 * const cc = new CompactControl(mm, opts);
 * if (cc.migratetype !== MIGRATE.MOVABLE || !(cc.allocFlags & ALLOC.CMA) || !cc.directCompaction) throw new Error("movable request");
 * if (cc.wholeZone || cc.ignoreSkipHint) throw new Error("defaults: cached positions and skip hints");
 * ```
 */
export interface CompactControlOptions {
  /** Requested order; -1 compacts the whole zone (compact_memory). */
  order: number;
  /** Migration mode. */
  mode: MigrateMode;
  /** gfp_mask of the allocation (default GFP_KERNEL). */
  gfpMask?: number;
  /** alloc_flags (watermark index in the low bits, ALLOC_CMA); default WMARK_MIN | ALLOC_CMA. */
  allocFlags?: number;
  /** Direct compaction (an allocating task) rather than kcompactd / sysctl. */
  directCompaction?: boolean;
  /** Scan the whole zone from its edges, not from the cached positions. */
  wholeZone?: boolean;
  /** Ignore PB_migrate_skip. */
  ignoreSkipHint?: boolean;
  /** Do not set PB_migrate_skip (isolation for alloc_contig_range). */
  noSetSkipHint?: boolean;
  /** Take free pages from any pageblock type. */
  ignoreBlockSuitable?: boolean;
  /** alloc_contig_range: isolate large folios of any order. */
  allocContig?: boolean;
  /** Tunables. */
  config?: CompactionConfigInput;
}

/**
 * `struct compact_control`: one compaction run's parameters, scanner positions, isolated lists
 * and counters.
 *
 * @example
 * ```ts
 * import { Engine, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
 * const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_ASYNC" });
 * if (cc.migratetype !== 0) throw new Error("GFP_KERNEL is UNMOVABLE");
 * ```
 */
export class CompactControl {
  /** The Mm. */
  readonly mm: Mm;
  /** The zone compacted. */
  readonly zone: Zone;
  /** The zone's compaction state. */
  readonly state: ZoneCompactState;
  /** Tunables. */
  readonly config: CompactionConfig;
  /** Requested order (-1: whole zone). */
  readonly order: number;
  /** Migration mode. */
  readonly mode: MigrateMode;
  /** gfp_mask. */
  readonly gfpMask: number;
  /** alloc_flags. */
  readonly allocFlags: number;
  /** gfp_migratetype(gfp_mask). */
  readonly migratetype: number;
  /** direct_compaction. */
  readonly directCompaction: boolean;
  /** whole_zone. */
  wholeZone: boolean;
  /** ignore_skip_hint. */
  readonly ignoreSkipHint: boolean;
  /** no_set_skip_hint. */
  readonly noSetSkipHint: boolean;
  /** ignore_block_suitable. */
  readonly ignoreBlockSuitable: boolean;
  /** alloc_contig. */
  readonly allocContig: boolean;
  /** finish_pageblock: scan the rest of the pageblock even after enough isolations. */
  finishPageblock = false;
  /** contended (never set: no lock contention in the model). */
  contended = false;
  /** migrate_pfn: where the migration scanner is. */
  migratePfn = 0;
  /** free_pfn: where the free scanner is. */
  freePfn = 0;
  /** nr_migratepages (pages isolated and not yet given a destination). */
  nrMigratepages = 0;
  /** nr_freepages (pages on the free lists). */
  nrFreepages = 0;
  /** total_migrate_scanned. */
  totalMigrateScanned = 0;
  /** total_free_scanned. */
  totalFreeScanned = 0;
  /** Folios migrated and failed, over the run (model counters). */
  nrMigrated = 0;
  /** Folios whose migration failed, over the run (model counter). */
  nrMigrateFailed = 0;
  /** migratepages: isolated folios. */
  migratepages: number[] = [];
  /** freepages[order]: isolated free blocks, kept whole. */
  readonly freepages: number[][];
  /** Out-parameter of isolateFreepagesBlock (the kernel's `*start_pfn`). */
  blockPfn = 0;

  /** A compact_control for `mm.zone`. */
  constructor(mm: Mm, o: CompactControlOptions) {
    this.mm = mm;
    this.zone = mm.zone;
    this.state = zoneCompactState(mm.zone);
    this.config = CompactionConfig.parse(o.config ?? {});
    this.order = o.order;
    this.mode = o.mode;
    this.gfpMask = o.gfpMask ?? GFP_KERNEL;
    this.migratetype = gfpMigratetype(this.gfpMask);
    this.allocFlags = o.allocFlags ??
      (this.migratetype === MIGRATE.MOVABLE ? ALLOC.CMA : 0);
    this.directCompaction = o.directCompaction ?? false;
    this.wholeZone = o.wholeZone ?? false;
    this.ignoreSkipHint = o.ignoreSkipHint ?? false;
    this.noSetSkipHint = o.noSetSkipHint ?? false;
    this.ignoreBlockSuitable = o.ignoreBlockSuitable ?? false;
    this.allocContig = o.allocContig ?? false;
    this.freepages = Array.from({ length: this.zone.maxOrder + 1 }, () => []);
  }
}

// ------------------------------------------------------------------ skip hints

/**
 * Pageblock skip hints (internal to the compaction files): `isolation_suitable`,
 * `set_pageblock_skip`, `test_and_set_skip`, `update_cached_migrate`, `update_pageblock_skip`.
 */

export function isolationSuitable(cc: CompactControl, pfn: number): boolean {
  if (cc.ignoreSkipHint) return true;
  return cc.state.skip[(pfn >>> cc.zone.pageblockOrder) - cc.state.firstPageblock] === 0;
}

/** `set_pageblock_skip()`. */
export function setPageblockSkip(cc: CompactControl, pfn: number): void {
  cc.state.skip[(pfn >>> cc.zone.pageblockOrder) - cc.state.firstPageblock] = 1;
}

/** `test_and_set_skip()`: set the skip hint unless ignored; was it set already? */
export function testAndSetSkip(cc: CompactControl, pfn: number): boolean {
  if (cc.ignoreSkipHint) return false;
  const i = (pfn >>> cc.zone.pageblockOrder) - cc.state.firstPageblock;
  const skip = cc.state.skip[i] !== 0;
  if (!skip && !cc.noSetSkipHint) cc.state.skip[i] = 1;
  return skip;
}

/** `update_cached_migrate()`: where async and sync compaction restart. */
export function updateCachedMigrate(cc: CompactControl, pfn: number): void {
  if (cc.noSetSkipHint) return;
  pfn = pageblockEnd(pfn, cc.zone.pageblockOrder);
  const c = cc.state.cachedMigratePfn;
  if (pfn > c[0]) c[0] = pfn;
  if (cc.mode !== "MIGRATE_ASYNC" && pfn > c[1]) c[1] = pfn;
}

/** `update_pageblock_skip()`: mark the block skipped and pull the cached free pfn down. */
export function updatePageblockSkip(cc: CompactControl, blockPfn: number, pfn: number): void {
  if (cc.noSetSkipHint) return;
  setPageblockSkip(cc, blockPfn);
  if (pfn < cc.state.cachedFreePfn) cc.state.cachedFreePfn = pfn;
}
