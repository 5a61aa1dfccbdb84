/**
 * The page allocator above the buddy lists: watermark checks, and the slow path with kswapd
 * wake-ups, direct reclaim, direct compaction and bounded retries. The GFP flags and the
 * task's allocation scope (`current_gfp_context`, `memalloc_nofs_save` …) are in gfp.ts and
 * re-exported here.
 *
 * Follows mm/page_alloc.c (`__alloc_pages`,
 * `get_page_from_freelist`, `gfp_to_alloc_flags`, `__gfp_pfmemalloc_flags`,
 * `__alloc_pages_slowpath`, `__perform_reclaim`, `__alloc_pages_direct_reclaim`,
 * `__alloc_pages_direct_compact`, `should_reclaim_retry`, `should_compact_retry`), read at
 * commit dac22531 (v6.2). Reserve dipping uses the v6.3+ names (ALLOC_MIN_RESERVE for
 * __GFP_HIGH, ALLOC_NON_BLOCK for callers that cannot reclaim; "mm/page_alloc: explicitly
 * define what alloc flags deplete min reserves", Mel Gorman, 2023); v6.2 had ALLOC_HIGH and
 * ALLOC_HARDER with the same arithmetic.
 *
 * Reclaim, kswapd and compaction live in other files (vmscan.ts, compaction.ts); this file calls
 * them through {@link PageAllocHooks} so that a scenario or a unit test can plug in its own
 * (the defaults are wired by those modules when they are loaded, see {@link setPageAllocHooks}).
 *
 * A direct reclaimer runs with PF_MEMALLOC (`memalloc_noreclaim_save`, as `__perform_reclaim`
 * does) and with the model flag {@link TaskFlag}.DIRECT_RECLAIM, so an allocation made from
 * inside reclaim dips into the reserves and never recurses into reclaim. Any task can enter
 * direct reclaim — a FUSE server thread allocating with GFP_KERNEL included (thread 001 C1.3).
 *
 * Left out: the OOM killer (`__alloc_pages_may_oom`: when reclaim and compaction give up the
 * allocation fails and is counted as `alloc_failure`, a model-only counter), per-cpu lists and
 * `drain_all_pages`, cpusets and mempolicies, highatomic reserves, watermark boosting,
 * ALLOC_NOFRAGMENT, memcg charging, more than one zone (`wake_all_kswapds` wakes the one
 * node's kswapd), `__GFP_THISNODE`, NUMA.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { type Engine, type Process, TaskFlag } from "../sim/engine.ts";
import {
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_HIGH,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_NOFAIL,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_RETRY_MAYFAIL,
  __GFP_ZERO,
  currentGfpContext,
  gfpMigratetype,
  gfpToString,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  PF_MEMALLOC,
} from "./gfp.ts";
import { ALLOC } from "./buddy.ts";
import { LRU_ACTIVE_FILE, LRU_INACTIVE_FILE } from "./lru.ts";
import { MIGRATE, NIL } from "./memory.ts";
import type { Mm } from "./mm.ts";

export * from "./gfp.ts";

// ------------------------------------------------------------------------------ alloc flags

/**
 * `alloc_flags` bits (mm/internal.h, v6.3+ names). ALLOC_WMARK_* select the watermark in the
 * low bits; ALLOC_CMA is the buddy allocator's {@link ALLOC}.CMA.
 *
 * @example
 * ```ts
 * import { ALLOC_FLAGS, __GFP_HIGH, __GFP_KSWAPD_RECLAIM } from "@mmsim/mmsim";
 * // gfp_to_alloc_flags() relies on these aliases (BUILD_BUG_ON).
 * if (ALLOC_FLAGS.MIN_RESERVE !== __GFP_HIGH || ALLOC_FLAGS.KSWAPD !== __GFP_KSWAPD_RECLAIM) throw new Error();
 * ```
 */
export const ALLOC_FLAGS = {
  WMARK_MIN: 0x00,
  WMARK_LOW: 0x01,
  WMARK_HIGH: 0x02,
  WMARK_MASK: 0x03,
  /** Ignore the watermarks (PF_MEMALLOC, __GFP_MEMALLOC). */
  NO_WATERMARKS: 0x04,
  /** An OOM victim: half of the reserve below min. */
  OOM: 0x08,
  /** The caller cannot reclaim (atomic): a further quarter of the reserve. */
  NON_BLOCK: 0x10,
  /** __GFP_HIGH: half of the min reserve. */
  MIN_RESERVE: 0x20,
  /** Check the cpuset (unused in the model). */
  CPUSET: 0x40,
  /** May use MIGRATE_CMA pageblocks (movable requests). */
  CMA: ALLOC.CMA,
  /** Wake kswapd (aliases __GFP_KSWAPD_RECLAIM). */
  KSWAPD: 0x800,
} as const;

/** ALLOC_RESERVES: the flags that may dip below the min watermark. */
const ALLOC_RESERVES = ALLOC_FLAGS.NON_BLOCK | ALLOC_FLAGS.MIN_RESERVE | ALLOC_FLAGS.OOM;

/**
 * gfp_to_alloc_flags() (v6.3+ shape): min watermark, __GFP_HIGH → ALLOC_MIN_RESERVE,
 * __GFP_KSWAPD_RECLAIM → ALLOC_KSWAPD, a caller that cannot reclaim gets ALLOC_NON_BLOCK
 * (unless __GFP_NOMEMALLOC), movable requests get ALLOC_CMA (gfp_to_alloc_flags_cma).
 *
 * @example
 * ```ts
 * import { gfpToAllocFlags, GFP_ATOMIC, ALLOC_FLAGS } from "@mmsim/mmsim";
 * const f = gfpToAllocFlags(GFP_ATOMIC);
 * if (!(f & ALLOC_FLAGS.MIN_RESERVE) || !(f & ALLOC_FLAGS.NON_BLOCK)) throw new Error();
 * ```
 */
export function gfpToAllocFlags(gfp: number): number {
  let f = ALLOC_FLAGS.WMARK_MIN | ALLOC_FLAGS.CPUSET;
  f |= gfp & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM);
  if (!(gfp & __GFP_DIRECT_RECLAIM)) {
    if (!(gfp & __GFP_NOMEMALLOC)) f |= ALLOC_FLAGS.NON_BLOCK;
    f &= ~ALLOC_FLAGS.CPUSET;
  }
  // Divergence: no rt_task() boost (no scheduling classes in the engine).
  return gfpToAllocFlagsCma(gfp, f);
}

/** gfp_to_alloc_flags_cma(): movable requests may use CMA pageblocks. */
function gfpToAllocFlagsCma(gfp: number, allocFlags: number): number {
  return allocFlagsCma(gfpMigratetype(gfp), allocFlags);
}

/** gfp_to_alloc_flags_cma() on an already known migratetype. */
function allocFlagsCma(migratetype: number, allocFlags: number): number {
  if (migratetype === MIGRATE.MOVABLE) allocFlags |= ALLOC_FLAGS.CMA;
  return allocFlags;
}

/**
 * __gfp_pfmemalloc_flags(): ALLOC_NO_WATERMARKS for __GFP_MEMALLOC or a PF_MEMALLOC task
 * (reclaimers), 0 with __GFP_NOMEMALLOC. Interrupt context is not modelled (an ATOMIC task is
 * treated as in_interrupt() false: Divergence, no softirq distinction).
 */
function gfpPfmemallocFlags(env: Engine, gfp: number): number {
  if (gfp & __GFP_NOMEMALLOC) return 0;
  if (gfp & __GFP_MEMALLOC) return ALLOC_FLAGS.NO_WATERMARKS;
  if (env.current && (env.current.flags & PF_MEMALLOC)) return ALLOC_FLAGS.NO_WATERMARKS;
  return 0;
}

// ------------------------------------------------------------------------- config and hooks

/**
 * Configuration of the allocator's slow path.
 *
 * @example
 * ```ts
 * import { PageAllocConfig } from "@mmsim/mmsim";
 * const c = PageAllocConfig.parse({});
 * if (c.maxReclaimRetries !== 16) throw new Error("MAX_RECLAIM_RETRIES");
 * ```
 */
export interface PageAllocConfig {
  /** MAX_RECLAIM_RETRIES (mm/internal.h): no-progress reclaim rounds before giving up (16). */
  maxReclaimRetries: number;
  /** MAX_COMPACT_RETRIES (mm/page_alloc.c, 16). */
  maxCompactRetries: number;
  /** PAGE_ALLOC_COSTLY_ORDER (include/linux/mmzone.h, 3). */
  costlyOrder: number;
  /**
   * Pause before a __GFP_NOFAIL allocation retries after everything failed (the kernel only
   * cond_resched()s; the model sleeps so virtual time moves). Default one jiffy at HZ=250.
   */
  nofailRetryDelayNs: number;
}

/**
 * Input of {@link PageAllocConfig}: every field optional.
 *
 * @example MAX_RECLAIM_RETRIES bounds the rounds of reclaim without progress
 * ```ts
 * import { AddressSpace, allocPagesGfp, Engine, filemapAddFolio, folioAlloc, GFP_KERNEL, MIGRATE, Mm, type PageAllocConfigInput, setPageAllocConfig, setPageAllocHooks } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * const file = AddressSpace.create(mm, { name: "file" });
 * for (let i = 0; i < 200; i++) filemapAddFolio(mm, file, folioAlloc(mm, 0), i); // reclaimable
 * while (mm.zone.allocPages(0, MIGRATE.UNMOVABLE) >= 0);
 * let reclaims = 0;
 * setPageAllocHooks(mm, { *tryToFreePages() { reclaims++; return 0; } }); // reclaim never progresses
 * const config: PageAllocConfigInput = { maxReclaimRetries: 2 };
 * setPageAllocConfig(mm, config);
 * let pfn = 0;
 * env.spawn("t", function* () { pfn = yield* allocPagesGfp(mm, 0, GFP_KERNEL); });
 * env.run();
 * if (pfn !== -1 || reclaims !== 3) throw new Error(`${reclaims} reclaim rounds`);
 * ```
 */
export type PageAllocConfigInput = Partial<PageAllocConfig>;

const pageAllocSchema = z.object({
  maxReclaimRetries: z.number().int().min(0).default(16),
  maxCompactRetries: z.number().int().min(0).default(16),
  costlyOrder: z.number().int().min(0).default(3),
  nofailRetryDelayNs: z.number().int().positive().default(4_000_000),
});
const _pageAllocTypes: Same<z.output<typeof pageAllocSchema>, PageAllocConfig> = true;
void _pageAllocTypes;

/** The {@link PageAllocConfig} schema. */
export const PageAllocConfig: ConfigSchema<PageAllocConfig, PageAllocConfigInput> = defineConfig(
  "PageAllocConfig",
  pageAllocSchema,
);

/**
 * Compaction outcome names (`enum compact_result`, include/linux/compaction.h).
 *
 * @example
 * ```ts
 * import { allocPagesGfp, type CompactResultName, Engine, GFP_KERNEL, MIGRATE, Mm, setPageAllocHooks } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.allocPages(0, MIGRATE.UNMOVABLE) >= 0);
 * const result: CompactResultName = "COMPACT_COMPLETE"; // scanned everything, found nothing
 * setPageAllocHooks(mm, {
 *   *tryToFreePages() { return 0; },
 *   *tryToCompactPages() { return result; },
 * });
 * env.spawn("t", function* () { yield* allocPagesGfp(mm, 4, GFP_KERNEL); });
 * env.run();
 * // Every compaction that was not skipped is a COMPACTSTALL, here each one a COMPACTFAIL.
 * const stall = mm.vmstat.get("compact_stall");
 * if (stall < 1 || mm.vmstat.get("compact_fail") !== stall || mm.vmstat.get("alloc_failure") !== 1) {
 *   throw new Error(JSON.stringify(mm.vmstat.snapshot()));
 * }
 * ```
 */
export type CompactResultName =
  | "COMPACT_NOT_SUITABLE_ZONE"
  | "COMPACT_SKIPPED"
  | "COMPACT_DEFERRED"
  | "COMPACT_NO_SUITABLE_PAGE"
  | "COMPACT_CONTINUE"
  | "COMPACT_COMPLETE"
  | "COMPACT_PARTIAL_SKIPPED"
  | "COMPACT_CONTENDED"
  | "COMPACT_SUCCESS";

/**
 * `enum compact_priority`: COMPACT_PRIO_SYNC_FULL (0, = MIN_COMPACT_PRIORITY),
 * COMPACT_PRIO_SYNC_LIGHT (1, = MIN_COMPACT_COSTLY_PRIORITY = DEF_COMPACT_PRIORITY),
 * COMPACT_PRIO_ASYNC (2, = INIT_COMPACT_PRIORITY). Lower is more thorough.
 *
 * @example A costly allocation compacts asynchronously first, then at the default priority
 * ```ts
 * import { allocPagesGfp, COMPACT_PRIO, Engine, GFP_KERNEL, MIGRATE, Mm, setPageAllocHooks } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.allocPages(0, MIGRATE.UNMOVABLE) >= 0); // nothing free
 * const prios: number[] = [];
 * setPageAllocHooks(mm, {
 *   *tryToFreePages() { return 0; },
 *   *tryToCompactPages(_mm, _order, _gfp, _flags, prio) { prios.push(prio); return "COMPACT_SKIPPED"; },
 * });
 * env.spawn("t", function* () { yield* allocPagesGfp(mm, 4, GFP_KERNEL); }); // order 4 > PAGE_ALLOC_COSTLY_ORDER
 * env.run();
 * if (prios.join() !== `${COMPACT_PRIO.ASYNC},${COMPACT_PRIO.SYNC_LIGHT}`) throw new Error(`${prios}`);
 * if (!(COMPACT_PRIO.SYNC_FULL < COMPACT_PRIO.SYNC_LIGHT && COMPACT_PRIO.SYNC_LIGHT < COMPACT_PRIO.ASYNC)) {
 *   throw new Error("lower is more thorough");
 * }
 * ```
 */
export const COMPACT_PRIO = { SYNC_FULL: 0, SYNC_LIGHT: 1, ASYNC: 2 } as const;

/**
 * The reclaim, kswapd and compaction entry points the slow path calls. vmscan.ts and
 * compaction.ts register theirs; tests and scenarios may override any of them.
 *
 * @example Below the low watermark an allocation wakes kswapd and is still served above min
 * ```ts
 * import { allocPagesGfp, Engine, GFP_KERNEL, MIGRATE, Mm, type PageAllocHooks, setPageAllocHooks } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.nrFreePages > (mm.zone.wmarkMin + mm.zone.wmarkLow) / 2) mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
 * const woken: number[] = [];
 * const hooks: PageAllocHooks = { wakeupKswapd: (_mm, order) => void woken.push(order) };
 * setPageAllocHooks(mm, hooks);
 * let pfn = -1;
 * env.spawn("t", function* () { pfn = yield* allocPagesGfp(mm, 0, GFP_KERNEL); });
 * env.run();
 * if (woken.join() !== "0" || pfn < 0 || env.nowNs !== 0) throw new Error(`${woken} ${pfn}`);
 * ```
 */
export interface PageAllocHooks {
  /**
   * try_to_free_pages(): direct reclaim of at least SWAP_CLUSTER_MAX pages for an allocation
   * of `order` with `gfp` (already filtered by current_gfp_context). Returns pages reclaimed.
   * Called with PF_MEMALLOC and TaskFlag.DIRECT_RECLAIM set on the current task.
   */
  tryToFreePages?: (mm: Mm, order: number, gfp: number) => Process<number>;
  /**
   * try_to_compact_pages(): direct compaction for an allocation of `order`; `prio` is a
   * {@link COMPACT_PRIO} value. Called with PF_MEMALLOC set. Only for order > 0.
   */
  tryToCompactPages?: (
    mm: Mm,
    order: number,
    gfp: number,
    allocFlags: number,
    prio: number,
  ) => Process<CompactResultName>;
  /** wakeup_kswapd(): wake the node's kswapd for `order` (non-sleeping). */
  wakeupKswapd?: (mm: Mm, order: number, gfp: number) => void;
}

interface PageAllocState {
  config: PageAllocConfig;
  hooks: PageAllocHooks;
}

const states = new WeakMap<Mm, PageAllocState>();
const defaultHooks: PageAllocHooks = {};

function state(mm: Mm): PageAllocState {
  let s = states.get(mm);
  if (!s) {
    s = { config: PageAllocConfig.parse({}), hooks: {} };
    states.set(mm, s);
  }
  return s;
}

/**
 * Plug reclaim, compaction and kswapd into the slow path of one Mm (merged over earlier
 * calls; `undefined` members keep what was there). With no hook for an entry point the
 * module-wide default registered by vmscan.ts / compaction.ts is used; with neither, that
 * step is skipped (no reclaim = no progress).
 *
 * @example
 * ```ts
 * import { Engine, Mm, setPageAllocHooks } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * let calls = 0;
 * setPageAllocHooks(mm, { wakeupKswapd: () => { calls++; } });
 * ```
 */
export function setPageAllocHooks(mm: Mm, hooks: PageAllocHooks): void {
  const s = state(mm);
  for (const [k, v] of Object.entries(hooks)) {
    if (v !== undefined) (s.hooks as Record<string, unknown>)[k] = v;
  }
}

/**
 * Register module-wide default hooks (vmscan.ts and compaction.ts call this when loaded, so a
 * scenario that imports them gets real reclaim without wiring anything).
 *
 * @example
 * ```ts
 * import { registerDefaultPageAllocHooks } from "@mmsim/mmsim";
 * registerDefaultPageAllocHooks({}); // nothing to add
 * ```
 */
export function registerDefaultPageAllocHooks(hooks: PageAllocHooks): void {
  for (const [k, v] of Object.entries(hooks)) {
    if (v !== undefined) (defaultHooks as Record<string, unknown>)[k] = v;
  }
}

/**
 * Set the slow-path configuration of one Mm.
 *
 * @example
 * ```ts
 * import { Engine, Mm, setPageAllocConfig } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * setPageAllocConfig(mm, { maxReclaimRetries: 2 });
 * ```
 */
export function setPageAllocConfig(mm: Mm, config: PageAllocConfigInput): void {
  state(mm).config = PageAllocConfig.parse(config);
}

function hook<K extends keyof PageAllocHooks>(mm: Mm, k: K): PageAllocHooks[K] {
  return state(mm).hooks[k] ?? defaultHooks[k];
}

// ------------------------------------------------------------------------------ fast path

/** The watermark ALLOC_WMARK_* selects. */
function wmarkPages(mm: Mm, allocFlags: number): number {
  const z = mm.zone;
  switch (allocFlags & ALLOC_FLAGS.WMARK_MASK) {
    case ALLOC_FLAGS.WMARK_MIN:
      return z.wmarkMin;
    case ALLOC_FLAGS.WMARK_LOW:
      return z.wmarkLow;
    default:
      return z.wmarkHigh;
  }
}

/**
 * __zone_watermark_ok() with the reserve rules (v6.3+): ALLOC_MIN_RESERVE takes half of the
 * mark away, ALLOC_NON_BLOCK a further quarter, ALLOC_OOM half; the buddy allocator's
 * `zoneWatermarkOk` does the free-page and free-list checks.
 *
 * @example
 * ```ts
 * import { Engine, Mm, zoneWatermarkOk, ALLOC_FLAGS } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 1024 } });
 * if (!zoneWatermarkOk(mm, 0, mm.zone.wmarkHigh, ALLOC_FLAGS.WMARK_HIGH)) throw new Error("empty zone");
 * ```
 */
export function zoneWatermarkOk(mm: Mm, order: number, mark: number, allocFlags: number): boolean {
  let min = mark;
  if (allocFlags & ALLOC_RESERVES) {
    if (allocFlags & ALLOC_FLAGS.MIN_RESERVE) {
      min -= Math.floor(min / 2);
      if (allocFlags & ALLOC_FLAGS.NON_BLOCK) min -= Math.floor(min / 4);
    }
    if (allocFlags & ALLOC_FLAGS.OOM) min -= Math.floor(min / 2);
  }
  return mm.zone.zoneWatermarkOk(order, min, allocFlags & ALLOC_FLAGS.CMA);
}

/**
 * The parts of `struct alloc_context` the model uses, plus the request itself.
 *
 * @example
 * ```ts
 * import { __GFP_COMP, ALLOC_FLAGS, type AllocContext, Engine, getPageFromFreelist, GFP_HIGHUSER_MOVABLE, gfpMigratetype, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 1024 } });
 * const gfp = GFP_HIGHUSER_MOVABLE | __GFP_COMP;
 * const ac: AllocContext = { gfp, order: 3, migratetype: gfpMigratetype(gfp) };
 * const f = getPageFromFreelist(mm, ac, ALLOC_FLAGS.WMARK_LOW);
 * if (mm.mem.order[f] !== 3 || !mm.mem.testFlag(f, PG.head)) throw new Error("an order-3 folio");
 * ```
 */
export interface AllocContext {
  /** GFP flags after current_gfp_context(). */
  gfp: number;
  /** Order of the request. */
  order: number;
  /** ac->migratetype (gfp_migratetype() unless the caller overrides it). */
  migratetype: number;
}

/**
 * get_page_from_freelist() for the one zone: check the watermark selected by `allocFlags`
 * (skipped with ALLOC_NO_WATERMARKS), then take a block off the free lists (`rmqueue`) and
 * prepare it (`prep_new_page`; a compound folio with __GFP_COMP). Returns the pfn or -1.
 *
 * @example
 * ```ts
 * import { Engine, Mm, getPageFromFreelist, ALLOC_FLAGS, GFP_KERNEL, MIGRATE } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 1024 } });
 * const ac = { gfp: GFP_KERNEL, order: 0, migratetype: MIGRATE.UNMOVABLE };
 * const pfn = getPageFromFreelist(mm, ac, ALLOC_FLAGS.WMARK_LOW);
 * if (pfn < 0 || mm.mem.refcount[pfn] !== 1) throw new Error("allocated");
 * ```
 */
export function getPageFromFreelist(mm: Mm, ac: AllocContext, allocFlags: number): number {
  const { gfp, order } = ac;
  if (!(allocFlags & ALLOC_FLAGS.NO_WATERMARKS)) {
    const mark = wmarkPages(mm, allocFlags);
    if (!zoneWatermarkOk(mm, order, mark, allocFlags)) return NIL;
  }
  const pfn = mm.zone.allocPages(order, ac.migratetype, (gfp & __GFP_COMP) !== 0);
  if (pfn === NIL) return NIL;
  if (gfp & __GFP_ZERO) {
    for (let i = pfn; i < pfn + (1 << order); i++) mm.mem.data[i] = 0;
  }
  mm.vmstat.inc("pgalloc", 1 << order);
  return pfn;
}

// ------------------------------------------------------------------------------ slow path

/**
 * __alloc_pages(): apply the task's scope (current_gfp_context), try the fast path at the low
 * watermark, then the slow path. Returns the pfn of a block of `2^order` pages with refcount
 * 1, or -1 when the allocation fails (no OOM killer in the model: the failure is counted in
 * `alloc_failure`). With __GFP_COMP the block is a folio. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, allocPagesGfp, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * let pfn = -1;
 * env.spawn("alloc", function* () { pfn = yield* allocPagesGfp(mm, 0, GFP_KERNEL); });
 * env.run();
 * if (pfn < 0) throw new Error("an empty zone serves the fast path");
 * ```
 */
export function* allocPagesGfp(
  mm: Mm,
  order: number,
  gfp: number,
  migratetype?: number,
): Process<number> {
  if (order > mm.zone.maxOrder) return NIL; // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER)
  gfp = currentGfpContext(mm.env, gfp);
  const mt = migratetype ?? gfpMigratetype(gfp);
  const ac: AllocContext = { gfp, order, migratetype: mt };
  let pfn = getPageFromFreelist(mm, ac, ALLOC_FLAGS.WMARK_LOW | allocFlagsCma(mt, 0));
  if (pfn === NIL) pfn = yield* allocPagesSlowpath(mm, ac);
  mm.env.emit("mm_page_alloc", pfn, null, {
    order,
    gfp: gfpToString(gfp),
    migratetype: mt,
    gen: pfn >= 0 ? mm.mem.generation[pfn] : null,
  });
  return pfn;
}

/**
 * folio_alloc() / filemap_alloc_folio(): {@link allocPagesGfp} with __GFP_COMP. Returns the
 * head pfn or -1. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAllocGfp, GFP_HIGHUSER_MOVABLE } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * let f = -1;
 * env.spawn("alloc", function* () { f = yield* folioAllocGfp(mm, 2, GFP_HIGHUSER_MOVABLE); });
 * env.run();
 * if (mm.mem.head[f + 3] !== f) throw new Error("compound folio");
 * ```
 */
export function* folioAllocGfp(
  mm: Mm,
  order: number,
  gfp: number,
  migratetype?: number,
): Process<number> {
  return yield* allocPagesGfp(mm, order, gfp | __GFP_COMP, migratetype);
}

/**
 * __alloc_pages_slowpath() (v6.2 shape): wake kswapd, retry at the min watermark, for costly
 * or unmovable high-order requests try async compaction first, then loop: (reserves for
 * PF_MEMALLOC / __GFP_MEMALLOC), fast attempt, give up if the caller cannot reclaim or is
 * itself a reclaimer (PF_MEMALLOC), direct reclaim, direct compaction, __GFP_NORETRY / costly
 * bail-outs, should_reclaim_retry (at most MAX_RECLAIM_RETRIES rounds without progress),
 * should_compact_retry. Divergence: where the kernel would call the OOM killer the model
 * fails (returns -1, counts `alloc_failure`); __GFP_NOFAIL sleeps and retries.
 */
function* allocPagesSlowpath(mm: Mm, ac: AllocContext): Process<number> {
  const env = mm.env;
  const cfg = state(mm).config;
  const { gfp, order } = ac;
  const canDirectReclaim = (gfp & __GFP_DIRECT_RECLAIM) !== 0;
  const costlyOrder = order > cfg.costlyOrder;
  const mt = ac.migratetype;
  let compactResult: CompactResultName = "COMPACT_SKIPPED";

  for (;;) { // restart: (cpuset/zonelist races are not modelled; entered once)
    let compactionRetries = 0;
    const noProgress = { loops: 0 };
    let compactPriority: number = COMPACT_PRIO.SYNC_LIGHT; // DEF_COMPACT_PRIORITY
    let allocFlags = allocFlagsCma(mt, gfpToAllocFlags(gfp) & ~ALLOC_FLAGS.CMA);

    if (allocFlags & ALLOC_FLAGS.KSWAPD) wakeAllKswapds(mm, order, gfp);
    let pfn = getPageFromFreelist(mm, ac, allocFlags);
    if (pfn !== NIL) return pfn;

    if (
      canDirectReclaim && (costlyOrder || (order > 0 && mt !== MIGRATE.MOVABLE)) &&
      !gfpPfmemallocFlags(env, gfp)
    ) {
      const r = yield* allocPagesDirectCompact(mm, ac, allocFlags, COMPACT_PRIO.ASYNC);
      compactResult = r.result;
      if (r.pfn !== NIL) return r.pfn;
      if (costlyOrder && (gfp & __GFP_NORETRY)) {
        if (compactResult === "COMPACT_SKIPPED" || compactResult === "COMPACT_DEFERRED") {
          return nopage(mm, gfp, order, "costly __GFP_NORETRY, compaction skipped");
        }
        compactPriority = COMPACT_PRIO.ASYNC; // INIT_COMPACT_PRIORITY
      }
    }

    for (;;) { // retry:
      if (allocFlags & ALLOC_FLAGS.KSWAPD) wakeAllKswapds(mm, order, gfp);
      const reserveFlags = gfpPfmemallocFlags(env, gfp);
      if (reserveFlags) allocFlags = allocFlagsCma(mt, reserveFlags);

      pfn = getPageFromFreelist(mm, ac, allocFlags);
      if (pfn !== NIL) return pfn;

      // Caller is not willing to reclaim, we can't balance anything.
      if (!canDirectReclaim) return nopage(mm, gfp, order, "cannot reclaim");
      // Avoid recursion of direct reclaim.
      if (env.current && (env.current.flags & PF_MEMALLOC)) {
        return nopage(mm, gfp, order, "PF_MEMALLOC: no reclaim recursion");
      }

      const rec = yield* allocPagesDirectReclaim(mm, ac, allocFlags);
      if (rec.pfn !== NIL) return rec.pfn;

      const comp = yield* allocPagesDirectCompact(mm, ac, allocFlags, compactPriority);
      compactResult = comp.result;
      if (comp.pfn !== NIL) return comp.pfn;

      if (gfp & __GFP_NORETRY) return nopage(mm, gfp, order, "__GFP_NORETRY");
      if (costlyOrder && !(gfp & __GFP_RETRY_MAYFAIL)) {
        return nopage(mm, gfp, order, "costly order without __GFP_RETRY_MAYFAIL");
      }

      if (yield* shouldReclaimRetry(mm, order, allocFlags, rec.progress > 0, noProgress)) {
        continue;
      }
      if (rec.progress > 0) {
        const cr = shouldCompactRetry(mm, order, compactResult, compactPriority, compactionRetries);
        compactPriority = cr.priority;
        compactionRetries = cr.retries;
        if (cr.retry) continue;
      }
      // Divergence: __alloc_pages_may_oom() is not modelled (no OOM killer).
      if (gfp & __GFP_NOFAIL) {
        yield env.sleep(cfg.nofailRetryDelayNs);
        noProgress.loops = 0;
        continue;
      }
      return nopage(mm, gfp, order, "reclaim and compaction gave up (no OOM killer)");
    }
  }
}

/** nopage: the allocation fails (warn_alloc). */
function nopage(mm: Mm, gfp: number, order: number, why: string): number {
  mm.vmstat.inc("alloc_failure");
  mm.env.emit("mm_page_alloc_fail", order, gfpToString(gfp), why);
  return NIL;
}

/** wake_all_kswapds(): one node, one kswapd. */
function wakeAllKswapds(mm: Mm, order: number, gfp: number): void {
  const wake = hook(mm, "wakeupKswapd");
  if (wake) wake(mm, order, gfp);
}

/**
 * __perform_reclaim(): run try_to_free_pages() with PF_MEMALLOC (memalloc_noreclaim_save) and
 * TaskFlag.DIRECT_RECLAIM set on the current task. Returns the progress (pages reclaimed).
 *
 * @example
 * ```ts
 * import { Engine, Mm, performReclaim, setPageAllocHooks, TaskFlag, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * let flagsInside = 0;
 * setPageAllocHooks(mm, { tryToFreePages: function* () { flagsInside = env.current!.flags; return 3; } });
 * let progress = 0;
 * env.spawn("t", function* () { progress = yield* performReclaim(mm, GFP_KERNEL, 0); });
 * env.run();
 * if (progress !== 3 || !(flagsInside & TaskFlag.DIRECT_RECLAIM) || !(flagsInside & TaskFlag.MEMALLOC)) throw new Error();
 * ```
 */
export function* performReclaim(mm: Mm, gfp: number, order: number): Process<number> {
  const env = mm.env;
  const reclaim = hook(mm, "tryToFreePages");
  yield env.point(); // cond_resched()
  const task = env.current!;
  const noreclaim = memallocNoreclaimSave(env);
  const hadDirect = task.flags & TaskFlag.DIRECT_RECLAIM;
  task.flags |= TaskFlag.DIRECT_RECLAIM;
  // The mm_vmscan_direct_reclaim_begin/end tracepoints are try_to_free_pages()'s (vmscan.ts).
  let progress = 0;
  try {
    if (reclaim) progress = yield* reclaim(mm, order, gfp);
  } finally {
    if (!hadDirect) task.flags &= ~TaskFlag.DIRECT_RECLAIM;
    memallocNoreclaimRestore(env, noreclaim);
  }
  yield env.point(); // cond_resched()
  return progress;
}

/**
 * __alloc_pages_direct_reclaim(): reclaim, then one attempt at the freelists if it made
 * progress. Divergence: no per-cpu lists, so no drain_all_pages() retry.
 */
function* allocPagesDirectReclaim(
  mm: Mm,
  ac: AllocContext,
  allocFlags: number,
): Process<{ pfn: number; progress: number }> {
  const progress = yield* performReclaim(mm, ac.gfp, ac.order);
  if (!progress) return { pfn: NIL, progress };
  return { pfn: getPageFromFreelist(mm, ac, allocFlags), progress };
}

/**
 * __alloc_pages_direct_compact(): for order > 0 only, run try_to_compact_pages() with
 * PF_MEMALLOC, count COMPACTSTALL unless skipped, then try the freelists; COMPACTSUCCESS or
 * COMPACTFAIL. With no compaction hook the result is COMPACT_SKIPPED (as !CONFIG_COMPACTION).
 */
function* allocPagesDirectCompact(
  mm: Mm,
  ac: AllocContext,
  allocFlags: number,
  prio: number,
): Process<{ pfn: number; result: CompactResultName }> {
  const { gfp, order } = ac;
  if (!order) return { pfn: NIL, result: "COMPACT_SKIPPED" };
  const compact = hook(mm, "tryToCompactPages");
  if (!compact) return { pfn: NIL, result: "COMPACT_SKIPPED" };
  const env = mm.env;
  const noreclaim = memallocNoreclaimSave(env);
  let result: CompactResultName;
  try {
    result = yield* compact(mm, order, gfp, allocFlags, prio);
  } finally {
    memallocNoreclaimRestore(env, noreclaim);
  }
  if (result === "COMPACT_SKIPPED") return { pfn: NIL, result };
  mm.vmstat.inc("compact_stall");
  const pfn = getPageFromFreelist(mm, ac, allocFlags);
  mm.vmstat.inc(pfn !== NIL ? "compact_success" : "compact_fail");
  yield env.point(); // cond_resched()
  return { pfn, result };
}

/**
 * zone_reclaimable_pages(): file LRU pages (anonymous pages count only with swap, which the
 * model does not have).
 */
function zoneReclaimablePages(mm: Mm): number {
  const n = mm.lruvec.nrPages;
  return n[LRU_INACTIVE_FILE]! + n[LRU_ACTIVE_FILE]!;
}

/**
 * should_reclaim_retry(): reset the no-progress counter on progress (not for costly orders),
 * give up after MAX_RECLAIM_RETRIES rounds without progress, otherwise retry while the min
 * watermark would be met if every reclaimable page were freed.
 */
function* shouldReclaimRetry(
  mm: Mm,
  order: number,
  allocFlags: number,
  didSomeProgress: boolean,
  noProgress: { loops: number },
): Process<boolean> {
  const cfg = state(mm).config;
  if (didSomeProgress && order <= cfg.costlyOrder) noProgress.loops = 0;
  else noProgress.loops++;
  if (noProgress.loops > cfg.maxReclaimRetries) return false;
  const zone = mm.zone;
  const reclaimable = zoneReclaimablePages(mm);
  const available = reclaimable + zone.nrFreePages;
  // __zone_watermark_ok(zone, order, min_wmark, ..., available): the order check needs a free
  // block of the order, which reclaim may create; approximate with the free-page arithmetic.
  const free = available - ((1 << order) - 1) -
    ((allocFlags & ALLOC_FLAGS.CMA) ? 0 : zone.nrFreeCmaPages);
  const ret = free > zone.wmarkMin;
  mm.env.emit(
    "reclaim_retry_zone",
    order,
    { reclaimable, available, loops: noProgress.loops },
    ret,
  );
  yield mm.env.point(); // cond_resched()
  return ret;
}

/** should_compact_retry() (CONFIG_COMPACTION). */
function shouldCompactRetry(
  mm: Mm,
  order: number,
  result: CompactResultName,
  priority: number,
  retries: number,
): { retry: boolean; priority: number; retries: number } {
  const cfg = state(mm).config;
  if (!order) return { retry: false, priority, retries };
  if (result === "COMPACT_SUCCESS") retries++; // compaction_made_progress()
  let checkPriority = false;
  if (result === "COMPACT_COMPLETE") checkPriority = true; // compaction_failed()
  else if (result === "COMPACT_SKIPPED") {
    // compaction_needs_reclaim(): retry if reclaim could make enough order-0 pages.
    const suitable = zoneReclaimablePages(mm) + mm.zone.nrFreePages >
      mm.zone.wmarkMin + (2 << order);
    return { retry: suitable, priority, retries };
  } else if (
    result === "COMPACT_DEFERRED" || result === "COMPACT_CONTENDED" ||
    result === "COMPACT_PARTIAL_SKIPPED"
  ) checkPriority = true; // compaction_withdrawn()
  if (!checkPriority) {
    const max = order > cfg.costlyOrder ? cfg.maxCompactRetries / 4 : cfg.maxCompactRetries;
    if (retries <= max) return { retry: true, priority, retries };
  }
  const minPriority = order > cfg.costlyOrder ? COMPACT_PRIO.SYNC_LIGHT : COMPACT_PRIO.SYNC_FULL;
  if (priority > minPriority) return { retry: true, priority: priority - 1, retries: 0 };
  return { retry: false, priority, retries };
}
