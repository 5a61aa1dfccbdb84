/**
 * Memory compaction: move movable folios from the bottom of the zone into free blocks at the
 * top until a free block of the requested order exists or the two scanners meet.
 *
 * Follows mm/compaction.c `compact_zone`, `compact_finished` / `__compact_finished`,
 * `compaction_suitable` / `__compaction_suitable`, `compact_zone_order`,
 * `try_to_compact_pages`, `compact_node` (/proc/sys/vm/compact_memory), read at torvalds/linux
 * 0003e2a4 (a v6.7 tree) with the v6.10 changes of the v6.12 shape (large folios below the
 * target order are migrated; free blocks are kept whole). The control structure and the zone's
 * compaction state are in compact_control.ts, the scanners in compaction_scanners.ts; the
 * contiguous-range users of the same machinery (`allocContigRange`, `offlinePages`) in
 * contig_range.ts, re-exported here.
 *
 * `compactZone` sleeps once per iteration for the scanning it did (`scanNsPerPage`), and
 * migration charges its own cost; the scanners yield every COMPACT_CLUSTER_MAX pageblocks. A
 * 16 Mi-frame zone compacts in one process (see bench/compaction_bench.ts).
 *
 * Importing this module registers `tryToCompactPages` as page_alloc.ts's default compaction
 * hook (as page_alloc.ts asks).
 *
 * Left out: capture control (`compaction_capture`), proactive compaction and kcompactd,
 * `lru_add_drain`, more than one zone. Direct compaction in the kernel runs with PF_MEMALLOC
 * set by its caller (`__alloc_pages_direct_compact`, page_alloc.ts).
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { ALLOC, type Zone } from "./buddy.ts";
import { FRAGMENT_MAPPING, fragmentationIndex } from "./fragment.ts";
import { folioAddLru } from "./lru.ts";
import { MIGRATE, NIL, PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { migratePages, putbackMovablePages } from "./migrate.ts";
import {
  __GFP_IO,
  ALLOC_FLAGS,
  COMPACT_PRIO,
  GFP_KERNEL,
  registerDefaultPageAllocHooks,
} from "./page_alloc.ts";
import {
  CompactControl,
  CompactionConfig,
  type CompactionConfigInput,
  compactionDeferred,
  compactionDeferReset,
  compactionRestarting,
  type CompactResult,
  deferCompaction,
  maxResult,
  PAGE_ALLOC_COSTLY_ORDER,
  pageblockStart,
  resetCachedPositions,
  resetIsolationSuitable,
} from "./compact_control.ts";
import {
  compactionAlloc,
  compactionFree,
  isolateMigratepages,
  releaseFreepages,
} from "./compaction_scanners.ts";

export {
  allocContigRange,
  type ContigResult,
  offlinePages,
  type OfflineResult,
} from "./contig_range.ts";

const BUDDY = 1 << PG.buddy;
const LRU = 1 << PG.lru;
const RESERVED = 1 << PG.reserved;
const SWAPBACKED = 1 << PG.swapbacked;

// ------------------------------------------------------------------ compact_zone

function compactScannersMet(cc: CompactControl): boolean {
  const pb = cc.zone.pageblockOrder;
  return (cc.freePfn >>> pb) <= (cc.migratePfn >>> pb);
}

/**
 * `__compact_finished()`: COMPACT_COMPLETE / PARTIAL_SKIPPED when the scanners met,
 * COMPACT_CONTINUE for a whole-zone run or inside a pageblock, COMPACT_SUCCESS once a free block
 * of at least `cc.order` is on the requested migratetype's list (or CMA for movable), or could
 * be stolen from another type; else COMPACT_NO_SUITABLE_PAGE.
 *
 * @example
 * ```ts
 * import { Engine, Mm, CompactControl, GFP_HIGHUSER_MOVABLE } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 4096 } });
 * const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_ASYNC", gfpMask: GFP_HIGHUSER_MOVABLE });
 * cc.migratePfn = 0;
 * cc.freePfn = 3584;
 * if (compactFinished(cc) !== "COMPACT_SUCCESS") throw new Error("free order-9 blocks exist");
 * ```
 */
export function compactFinished(cc: CompactControl): CompactResult {
  const zone = cc.zone;
  if (compactScannersMet(cc)) {
    resetCachedPositions(zone, cc.state);
    if (cc.directCompaction) cc.state.blockskipFlush = true;
    return cc.wholeZone ? "COMPACT_COMPLETE" : "COMPACT_PARTIAL_SKIPPED";
  }
  if (cc.order === -1) return "COMPACT_CONTINUE";
  // Always finish scanning a pageblock to reduce the possibility of fallbacks in the future.
  if ((cc.migratePfn & ((1 << zone.pageblockOrder) - 1)) !== 0) return "COMPACT_CONTINUE";
  for (let order = cc.order; order <= zone.maxOrder; order++) {
    if (zone.freeAreaHead(order, cc.migratetype) !== NIL) return "COMPACT_SUCCESS";
    if (cc.migratetype === MIGRATE.MOVABLE && zone.freeAreaHead(order, MIGRATE.CMA) !== NIL) {
      return "COMPACT_SUCCESS";
    }
    if (zone.findSuitableFallback(order, cc.migratetype, true).migratetype !== -1) {
      return "COMPACT_SUCCESS";
    }
  }
  return cc.contended ? "COMPACT_CONTENDED" : "COMPACT_NO_SUITABLE_PAGE";
}

/**
 * `compaction_suitable()`: is there enough free memory to compact for `order` (the order-0
 * watermark — low for costly orders, min otherwise — plus `compact_gap(order)` = 2 << order),
 * and for costly orders is the failure due to fragmentation (fragmentation index above
 * vm.extfrag_threshold)?
 *
 * @example
 * ```ts
 * import { PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 4096 }));
 * if (!compactionSuitable(zone, 9)) throw new Error("an empty zone has room");
 * ```
 */
export function compactionSuitable(
  zone: Zone,
  order: number,
  config: CompactionConfigInput = {},
): boolean {
  const c = CompactionConfig.parse(config);
  const watermark = (order > PAGE_ALLOC_COSTLY_ORDER ? zone.wmarkLow : zone.wmarkMin) +
    (2 << order);
  let suitable = zone.zoneWatermarkOk(0, watermark, ALLOC.CMA);
  if (suitable && order > PAGE_ALLOC_COSTLY_ORDER) {
    const fragindex = fragmentationIndex(zone, order);
    if (fragindex >= 0 && fragindex <= c.extfragThreshold) suitable = false;
  }
  return suitable;
}

function wmarkPages(zone: Zone, allocFlags: number): number {
  const i = allocFlags & ALLOC_FLAGS.WMARK_MASK;
  return i === 0 ? zone.wmarkMin : i === 1 ? zone.wmarkLow : zone.wmarkHigh;
}

/**
 * `compact_zone()`: compact `cc.zone` until `compactFinished` says so. Each iteration isolates
 * up to COMPACT_CLUSTER_MAX pages with the migration scanner, migrates them into free blocks
 * isolated by the free scanner (`migratePages` with reason MR_COMPACTION), and puts back what
 * failed. Counts compact_migrate_scanned / compact_free_scanned / compact_isolated.
 *
 * @example Compaction frees an order-9 block in a fragmented zone
 * ```ts
 * import { Engine, Mm, Rng, fragmentZone, buddyinfo, CompactControl, GFP_HIGHUSER_MOVABLE } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1 << 14 }, zone: { minFreeKbytes: 0 } });
 * fragmentZone(mm.zone, new Rng(3), {
 *   utilisation: 0.5, fragmentation: 1, migratetypeWeights: { unmovable: 0, movable: 1, reclaimable: 0 },
 * });
 * lruAddFragmentFolios(mm);
 * if (buddyinfo(mm.zone)[9]! + buddyinfo(mm.zone)[10]! !== 0) throw new Error("fragmented");
 * let result = "";
 * env.spawn("kcompactd", function* () {
 *   const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_SYNC_LIGHT", gfpMask: GFP_HIGHUSER_MOVABLE });
 *   result = yield* compactZone(mm, cc);
 * });
 * env.run();
 * if (result !== "COMPACT_SUCCESS") throw new Error(result);
 * ```
 */
export function* compactZone(mm: Mm, cc: CompactControl): Process<CompactResult> {
  const zone = cc.zone, pb = zone.pageblockOrder, state = cc.state;
  const startPfn = zone.startPfn, endPfn = zone.endPfn;
  const sync = cc.mode !== "MIGRATE_ASYNC";
  cc.totalMigrateScanned = 0;
  cc.totalFreeScanned = 0;
  cc.nrMigratepages = 0;
  cc.nrFreepages = 0;
  if (cc.order !== -1) {
    // Allocation can already succeed, nothing to do.
    if (zone.zoneWatermarkOk(cc.order, wmarkPages(zone, cc.allocFlags), cc.allocFlags)) {
      return "COMPACT_SUCCESS";
    }
    // Compaction is likely to fail.
    if (!compactionSuitable(zone, cc.order, cc.config)) return "COMPACT_SKIPPED";
  }
  // Clear pageblock skip if there were failures recently and compaction is about to restart.
  if (compactionRestarting(zone, cc.order)) resetIsolationSuitable(zone);
  if (cc.wholeZone) {
    cc.migratePfn = startPfn;
    cc.freePfn = pageblockStart(endPfn - 1, pb);
  } else {
    cc.migratePfn = state.cachedMigratePfn[sync ? 1 : 0];
    cc.freePfn = state.cachedFreePfn;
    if (cc.freePfn < startPfn || cc.freePfn >= endPfn) {
      cc.freePfn = pageblockStart(endPfn - 1, pb);
      state.cachedFreePfn = cc.freePfn;
    }
    if (cc.migratePfn < startPfn || cc.migratePfn >= endPfn) {
      cc.migratePfn = startPfn;
      state.cachedMigratePfn[0] = cc.migratePfn;
      state.cachedMigratePfn[1] = cc.migratePfn;
    }
    if (cc.migratePfn <= state.initMigratePfn) cc.wholeZone = true;
  }
  let lastMigratedPfn = 0;
  let updateCached = !sync && state.cachedMigratePfn[0] === state.cachedMigratePfn[1];
  mm.env.emit("mm_compaction_begin", null, { startPfn, endPfn, order: cc.order }, cc.mode);
  const getNew = compactionAlloc(cc);
  const putNew = compactionFree(cc);
  let ret: CompactResult;
  let scannedNs = 0;
  out: while ((ret = finished(cc)) === "COMPACT_CONTINUE") {
    const iterationStartPfn = cc.migratePfn;
    // Avoid multiple rescans of the same pageblock.
    cc.finishPageblock = pageblockStart(lastMigratedPfn, pb) ===
      pageblockStart(iterationStartPfn, pb);
    for (;;) { // rescan:
      const scanned = cc.totalMigrateScanned + cc.totalFreeScanned;
      const iso = yield* isolateMigratepages(cc);
      if (iso === "ISOLATE_NONE") {
        if (updateCached) state.cachedMigratePfn[1] = state.cachedMigratePfn[0];
        scannedNs += (cc.totalMigrateScanned + cc.totalFreeScanned - scanned) *
          cc.config.scanNsPerPage;
        break;
      }
      updateCached = false;
      lastMigratedPfn = Math.max(startPfn, pageblockStart(cc.migratePfn - 1, pb));
      const r = yield* migratePages(mm, cc.migratepages, getNew, cc.mode, "MR_COMPACTION", {
        putNewFolio: putNew,
      });
      cc.nrMigrated += r.outcomes.filter((o) => o.rc === "MIGRATEPAGE_SUCCESS").length;
      // All folios were either migrated or will be released.
      cc.migratepages = [];
      cc.nrMigratepages = 0;
      scannedNs += (cc.totalMigrateScanned + cc.totalFreeScanned - scanned) *
        cc.config.scanNsPerPage;
      if (r.failed.length > 0 || r.errno) {
        cc.nrMigrateFailed += r.failed.length;
        putbackMovablePages(mm, r.failed);
        // migrate_pages() may return -ENOMEM when scanners meet.
        if (r.errno === "ENOMEM" && !compactScannersMet(cc)) {
          ret = "COMPACT_CONTENDED";
          break out;
        }
        // A failure inside the pageblock: scan its remainder so that it is marked skip.
        if (
          (cc.migratePfn & ((1 << pb) - 1)) !== 0 && !cc.ignoreSkipHint &&
          !cc.finishPageblock && cc.mode !== "MIGRATE_SYNC"
        ) {
          cc.finishPageblock = true;
          if (cc.order === pb) lastMigratedPfn = 0;
          continue; // goto rescan
        }
      }
      break;
    }
    if (scannedNs >= 1) {
      const ns = Math.round(scannedNs);
      scannedNs = 0;
      yield mm.env.sleep(ns);
    }
  }
  // Release free pages and update where the free scanner should restart.
  if (cc.nrFreepages > 0 || cc.freepages.some((l) => l.length > 0)) {
    const freePfn = pageblockStart(releaseFreepages(cc), pb);
    if (freePfn > state.cachedFreePfn) state.cachedFreePfn = freePfn;
  }
  mm.vmstat.inc("compact_migrate_scanned", cc.totalMigrateScanned);
  mm.vmstat.inc("compact_free_scanned", cc.totalFreeScanned);
  mm.env.emit("mm_compaction_end", null, { order: cc.order }, ret);
  return ret;
}

/** `compact_finished()`: `__compact_finished` with NO_SUITABLE_PAGE meaning CONTINUE. */
function finished(cc: CompactControl): CompactResult {
  const r = compactFinished(cc);
  cc.mm.env.emit("mm_compaction_finished", null, cc.order, r);
  return r === "COMPACT_NO_SUITABLE_PAGE" ? "COMPACT_CONTINUE" : r;
}

/**
 * `try_to_compact_pages()` + `compact_zone_order()`: direct compaction for an allocation of
 * `order`. Skipped without `__GFP_IO`; deferred after recent failures unless at
 * `COMPACT_PRIO.SYNC_FULL`; MIGRATE_ASYNC at `COMPACT_PRIO.ASYNC`, MIGRATE_SYNC_LIGHT otherwise
 * (SYNC_FULL also scans the whole zone ignoring skip hints and pageblock types). The signature
 * is page_alloc.ts's `tryToCompactPages` hook, registered as its default when this module
 * loads; its caller (`__alloc_pages_direct_compact`) sets PF_MEMALLOC and counts
 * compact_stall / compact_fail / compact_success.
 *
 * @example
 * ```ts
 * import { Engine, Mm, GFP_KERNEL, COMPACT_PRIO } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * let r = "";
 * env.spawn("alloc", function* () {
 *   r = yield* tryToCompactPages(mm, 9, GFP_KERNEL, 0, COMPACT_PRIO.ASYNC);
 * });
 * env.run();
 * if (r !== "COMPACT_SUCCESS") throw new Error("an empty zone already has order-9 blocks");
 * ```
 */
export function* tryToCompactPages(
  mm: Mm,
  order: number,
  gfpMask: number,
  allocFlags: number,
  prio: number,
  config: CompactionConfigInput = {},
): Process<CompactResult> {
  // GFP_NOIO is really tricky context because the migration might require IO.
  if ((gfpMask & __GFP_IO) === 0) return "COMPACT_SKIPPED";
  mm.env.emit("mm_compaction_try_to_compact_pages", null, { order, gfpMask }, prio);
  const zone = mm.zone;
  let rc: CompactResult = "COMPACT_SKIPPED";
  if (prio > COMPACT_PRIO.SYNC_FULL && compactionDeferred(zone, order)) {
    return maxResult("COMPACT_DEFERRED", rc);
  }
  const full = prio === COMPACT_PRIO.SYNC_FULL;
  const cc = new CompactControl(mm, {
    order,
    gfpMask,
    mode: prio === COMPACT_PRIO.ASYNC ? "MIGRATE_ASYNC" : "MIGRATE_SYNC_LIGHT",
    allocFlags,
    directCompaction: true,
    wholeZone: full,
    ignoreSkipHint: full,
    ignoreBlockSuitable: full,
    config,
  });
  const status = yield* compactZone(mm, cc);
  rc = maxResult(status, rc);
  if (status === "COMPACT_SUCCESS") compactionDeferReset(zone, order, false);
  else if (
    prio !== COMPACT_PRIO.ASYNC &&
    (status === "COMPACT_COMPLETE" || status === "COMPACT_PARTIAL_SKIPPED")
  ) deferCompaction(zone, order);
  return rc;
}

registerDefaultPageAllocHooks({
  tryToCompactPages: (mm, order, gfp, allocFlags, prio) =>
    tryToCompactPages(mm, order, gfp, allocFlags, prio),
});

/**
 * `compact_node()` for /proc/sys/vm/compact_memory (v6.12): compact the whole zone in
 * MIGRATE_SYNC, ignoring skip hints, until the scanners meet. Returns the control with its
 * counters.
 *
 * @example
 * ```ts
 * import { Engine, Mm, Rng, fragmentZone, unusableFreeIndex } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 8192 }, zone: { minFreeKbytes: 0 } });
 * fragmentZone(mm.zone, new Rng(2), { utilisation: 0.5, fragmentation: 1 });
 * lruAddFragmentFolios(mm);
 * env.spawn("echo 1 > compact_memory", function* () { yield* compactMemory(mm); });
 * env.run();
 * if (unusableFreeIndex(mm.zone, 9) === 1000) throw new Error("compacted");
 * ```
 */
export function* compactMemory(
  mm: Mm,
  config: CompactionConfigInput = {},
): Process<CompactControl> {
  const cc = new CompactControl(mm, {
    order: -1,
    mode: "MIGRATE_SYNC",
    ignoreSkipHint: true,
    wholeZone: true,
    gfpMask: GFP_KERNEL,
    config,
  });
  yield* compactZone(mm, cc);
  return cc;
}

/**
 * Scenario helper (no kernel counterpart): make the MOVABLE folios `fragmentZone` left behind
 * (mapping `FRAGMENT_MAPPING`, refcount 1) into PTE-mapped anonymous folios on the LRU — PG_lru
 * and PG_swapbacked set, every page mapped once (mapcount = pages), each mapping holding a
 * reference (the generator's one reference becomes the first) — so that compaction, migration
 * and split treat them as the kernel treats anonymous user memory. Returns the number of
 * folios.
 *
 * @example
 * ```ts
 * import { Engine, Mm, Rng, fragmentZone } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 4096 } });
 * fragmentZone(mm.zone, new Rng(1), { utilisation: 0.5 });
 * if (lruAddFragmentFolios(mm) === 0) throw new Error("movable folios");
 * ```
 */
export function lruAddFragmentFolios(mm: Mm): number {
  const mem = mm.mem, zone = mm.zone;
  const flags = mem.flags, heads = mem.head, ord = mem.order;
  let n = 0;
  for (let p = zone.startPfn; p < zone.endPfn;) {
    const f = flags[p]!;
    if ((f & BUDDY) !== 0) {
      p += 1 << ord[p]!;
      continue;
    }
    if (
      heads[p] === NIL && mem.refcount[p]! > 0 && mem.mapping[p] === FRAGMENT_MAPPING &&
      (f & (LRU | RESERVED)) === 0
    ) {
      const nr = 1 << ord[p]!;
      flags[p] = f | SWAPBACKED | (1 << PG.uptodate);
      mem.mapcount[p] = nr;
      mem.refcount[p]! += nr - 1;
      folioAddLru(mm.lruvec, p);
      n++;
      p += 1 << ord[p]!;
      continue;
    }
    p++;
  }
  return n;
}
