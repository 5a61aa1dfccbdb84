/**
 * The two scanners of compaction and the allocator they feed: the migration scanner isolates
 * movable folios going up from the zone start, the free scanner isolates free blocks going down
 * from the zone end, and `compaction_alloc` hands those blocks out as migration targets.
 *
 * Follows mm/compaction.c `isolate_migratepages`, `isolate_migratepages_block`,
 * `isolate_migratepages_range`, `suitable_migration_source`, `skip_isolation_on_order`,
 * `isolate_freepages`, `isolate_freepages_block`, `suitable_migration_target`,
 * `compaction_alloc`, `compaction_free`, `release_free_list`, read at torvalds/linux 0003e2a4 (a
 * v6.7 tree) with Zi Yan's v6.10 "enable compacting >0 order folios" (large folios below the
 * target order are isolated; free blocks are kept whole per order and split by
 * `compaction_alloc` to the source's order).
 *
 * Both scanners are plain loops over the typed arrays — no object per pfn — and yield only as
 * `cond_resched()` every COMPACT_CLUSTER_MAX pageblocks.
 *
 * With ISOLATE_ASYNC_MIGRATE (`cc.mode !== MIGRATE_SYNC`: async and sync-light compaction) the
 * migration scanner skips folios under writeback, and dirty folios whose mapping has no
 * `->migrate_folio`; it skips anonymous folios with more references than mappings (pinned).
 * File folios with extra references are isolated and fail migration with -EAGAIN, as in the
 * kernel (`CompactionConfig.skipExtraRefs` models the unmerged 2023 `page_has_extra_refs()`
 * proposal instead).
 *
 * Left out: `fast_isolate_freepages`, `fast_find_migrateblock` and `fast_isolate_around` (the
 * free-list shortcuts), `too_many_isolated`, fatal signals, lock contention, non-LRU movable
 * pages (`isolate_movable_page`), hugetlb (`isolate_or_dissolve_huge_page`).
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { __GFP_FS } from "./page_alloc.ts";
import { folioExpectedRefCount, folioPut, folioTrylock, folioUnlock } from "./folio.ts";
import { lruvecDelFolio } from "./lru.ts";
import { MIGRATE, NIL, PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioMapping, folioTestAnon } from "./migrate_folio.ts";
import { putbackMovablePages } from "./migrate.ts";
import {
  COMPACT_CLUSTER_MAX,
  type CompactControl,
  isolationSuitable,
  pageblockEnd,
  pageblockStart,
  setPageblockSkip,
  testAndSetSkip,
  updateCachedMigrate,
  updatePageblockSkip,
} from "./compact_control.ts";

// ------------------------------------------------------------------ migration scanner

/**
 * `isolate_mode_t` bits (include/linux/mmzone.h): ISOLATE_ASYNC_MIGRATE (isolate only what can
 * migrate without blocking) and ISOLATE_UNEVICTABLE.
 *
 * @example
 * ```ts
 * if (ISOLATE_MODE.ASYNC_MIGRATE !== 0x4) throw new Error("kernel value");
 * ```
 */
export const ISOLATE_MODE = { ASYNC_MIGRATE: 0x4, UNEVICTABLE: 0x8 } as const;
const ISOLATE_UNEVICTABLE = ISOLATE_MODE.UNEVICTABLE;
const ISOLATE_ASYNC_MIGRATE = ISOLATE_MODE.ASYNC_MIGRATE;
const BUDDY = 1 << PG.buddy;
const HEAD = 1 << PG.head;
const LRU = 1 << PG.lru;
const UNEVICTABLE = 1 << PG.unevictable;
const WRITEBACK = 1 << PG.writeback;
const DIRTY = 1 << PG.dirty;
const SWAPBACKED = 1 << PG.swapbacked;

/** `skip_isolation_on_order()` (v6.10). */
function skipIsolationOnOrder(order: number, targetOrder: number, pb: number): boolean {
  if (targetOrder !== -1 && order >= targetOrder) return true;
  return order >= pb;
}

/**
 * `isolate_migratepages_block()`: isolate the migratable folios of `[lowPfn, endPfn)` (within
 * one pageblock) onto `cc.migratepages`, stopping after COMPACT_CLUSTER_MAX pages unless
 * `cc.finishPageblock`. Sets `cc.migratePfn` to where it stopped. A plain loop: no yields.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, CompactControl, folioAlloc, filemapAddFolio, PG, putbackMovablePages } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
 * const mapping = AddressSpace.create(mm, { name: "f" });
 * const clean = folioAlloc(mm, 0), wb = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, clean, 0);
 * filemapAddFolio(mm, mapping, wb, 1);
 * mm.mem.setFlag(wb, PG.writeback);
 * const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_ASYNC" });
 * isolateMigratepagesBlock(cc, 0, 512, ISOLATE_MODE.ASYNC_MIGRATE);
 * if (cc.migratepages.join() !== String(clean)) throw new Error("writeback folio skipped");
 * putbackMovablePages(mm, cc.migratepages);
 * ```
 */
export function isolateMigratepagesBlock(
  cc: CompactControl,
  lowPfn: number,
  endPfn: number,
  isolateMode: number,
): number {
  const mm = cc.mm, mem = mm.mem, zone = cc.zone;
  const flags = mem.flags, refc = mem.refcount, ord = mem.order, heads = mem.head;
  const mapc = mem.mapcount;
  const pb = zone.pageblockOrder, maxOrder = zone.maxOrder;
  const startPfn = lowPfn;
  let nrScanned = 0, nrIsolated = 0;
  let skipOnFailure = false, nextSkipPfn = 0;
  let validPage = -1, skipUpdated = false;
  let aborted = false;
  const blockEnd = (pfn: number) => pfn - (pfn & ((1 << cc.order) - 1)) + (1 << cc.order);
  cc.migratePfn = lowPfn;
  if (cc.directCompaction && cc.mode === "MIGRATE_ASYNC") {
    skipOnFailure = true;
    nextSkipPfn = blockEnd(lowPfn);
  }
  for (; lowPfn < endPfn; lowPfn++) {
    if (skipOnFailure && lowPfn >= nextSkipPfn) {
      // All candidates of the previous order-aligned block were isolated: migrate them now.
      if (nrIsolated) break;
      nextSkipPfn = blockEnd(lowPfn);
    }
    nrScanned++;
    // Check if the pageblock has already been marked skipped (first pfn only).
    if (validPage < 0 && ((lowPfn & ((1 << pb) - 1)) === 0 || lowPfn === zone.startPfn)) {
      if (!isolationSuitable(cc, lowPfn)) {
        lowPfn = endPfn;
        aborted = true;
        break;
      }
      validPage = lowPfn;
    }
    const f = flags[lowPfn]!;
    // Skip if free; the order read without the zone lock is only trusted in range.
    if ((f & BUDDY) !== 0) {
      const o = ord[lowPfn]!;
      if (o > 0 && o <= maxOrder) {
        lowPfn += (1 << o) - 1;
        nrScanned += (1 << o) - 1;
      }
      continue;
    }
    let folio = -1;
    isolate: {
      const h = heads[lowPfn]!;
      if ((h !== NIL || (f & HEAD) !== 0) && !cc.allocContig) {
        const o = h === NIL ? ord[lowPfn]! : 0; // compound_order() of a tail page is 0
        if (skipIsolationOnOrder(o, cc.order, pb)) {
          if (o <= maxOrder) {
            lowPfn += (1 << o) - 1;
            nrScanned += (1 << o) - 1;
          }
          break isolate;
        }
      }
      // Only LRU folios (no non-LRU movable pages in the model). PageLRU reads the head.
      if ((flags[h === NIL ? lowPfn : h]! & LRU) === 0) break isolate;
      // folio_get_nontail_page()
      if (h !== NIL || refc[lowPfn]! <= 0) break isolate;
      folio = lowPfn;
      refc[folio]!++;
      const anon = folioTestAnon(mm, folio);
      const mapping = anon ? null : folioMapping(mm, folio);
      // Migration will fail if an anonymous folio is pinned: an admittedly racy check.
      if (!mapping && refc[folio]! - 1 > mapc[folio]!) break isolate;
      if (
        cc.config.skipExtraRefs && mapping &&
        refc[folio]! - 1 > folioExpectedRefCount(mm, folio)
      ) break isolate;
      // Only allow to migrate anonymous folios in GFP_NOFS context.
      if ((cc.gfpMask & __GFP_FS) === 0 && mapping) break isolate;
      const ff = flags[folio]!;
      if ((ff & LRU) === 0) break isolate;
      const isUnevictable = (ff & UNEVICTABLE) !== 0;
      if ((isolateMode & ISOLATE_UNEVICTABLE) === 0 && isUnevictable) break isolate;
      // ISOLATE_ASYNC_MIGRATE wants folios it can migrate without blocking.
      if ((isolateMode & ISOLATE_ASYNC_MIGRATE) !== 0 && (ff & WRITEBACK) !== 0) break isolate;
      const isDirty = (ff & DIRTY) !== 0;
      if (((isolateMode & ISOLATE_ASYNC_MIGRATE) !== 0 && isDirty) || (mapping && isUnevictable)) {
        // Only folios without a mapping or with ->migrate_folio migrate without blocking.
        if (!folioTrylock(mm, folio)) break isolate;
        const m = folioMapping(mm, folio);
        let migrateDirty = true;
        if ((isolateMode & ISOLATE_ASYNC_MIGRATE) !== 0 && isDirty) {
          migrateDirty = !m || m.aops.migrateFolio !== undefined;
        }
        folioUnlock(mm, folio);
        if (!migrateDirty) break isolate;
      }
      // Skip hint: try to get exclusive access to the pageblock.
      if (!skipUpdated && validPage >= 0) {
        skipUpdated = true;
        if (testAndSetSkip(cc, validPage) && !cc.finishPageblock) {
          refc[folio]!--;
          folio = -1;
          lowPfn = endPfn;
          aborted = true;
          break;
        }
      }
      // Try isolate the folio: folio_test_clear_lru + lruvec_del_folio.
      const nr = 1 << ord[folio]!;
      flags[folio] = ff & ~LRU;
      lruvecDelFolio(mm.lruvec, folio);
      mm.vmstat.inc((ff & SWAPBACKED) !== 0 ? "nr_isolated_anon" : "nr_isolated_file", nr);
      if (nr > 1) lowPfn += nr - 1;
      cc.migratepages.push(folio);
      cc.nrMigratepages += nr;
      nrIsolated += nr;
      nrScanned += nr - 1;
      // Avoid isolating too much unless this block is being fully scanned.
      if (cc.nrMigratepages >= COMPACT_CLUSTER_MAX && !cc.finishPageblock && !cc.contended) {
        ++lowPfn;
        break;
      }
      continue;
    }
    // isolate_fail_put / isolate_fail
    if (folio >= 0) folioPut(mm, folio);
    if (!skipOnFailure) continue;
    // Isolated some folios, then failed: they cannot form the cc.order block; release them.
    if (nrIsolated) {
      putbackMovablePages(mm, cc.migratepages);
      cc.migratepages = [];
      cc.nrMigratepages = 0;
      nrIsolated = 0;
    }
    if (lowPfn < nextSkipPfn) {
      lowPfn = nextSkipPfn - 1;
      nextSkipPfn += 1 << cc.order;
    }
  }
  if (lowPfn > endPfn) lowPfn = endPfn;
  // Update the cached scanner pfn once the pageblock has been scanned.
  if (!aborted && lowPfn === endPfn && (!nrIsolated || cc.finishPageblock)) {
    if (!cc.noSetSkipHint && validPage >= 0 && !skipUpdated) setPageblockSkip(cc, validPage);
    updateCachedMigrate(cc, lowPfn);
  }
  mm.env.emit("mm_compaction_isolate_migratepages", startPfn, lowPfn, {
    nrScanned,
    nrIsolated,
  });
  cc.totalMigrateScanned += nrScanned;
  if (nrIsolated) mm.vmstat.inc("compact_isolated", nrIsolated);
  cc.migratePfn = lowPfn;
  return 0;
}

/**
 * `isolate_migratepages_range()` (CONFIG_CMA): isolate from `[startPfn, endPfn)` pageblock by
 * pageblock (ISOLATE_UNEVICTABLE) until COMPACT_CLUSTER_MAX pages are isolated.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, CompactControl, folioAlloc, filemapAddFolio, putbackMovablePages } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "f" }), f, 0);
 * const cc = new CompactControl(mm, { order: -1, mode: "MIGRATE_SYNC", allocContig: true, ignoreSkipHint: true });
 * isolateMigratepagesRange(cc, 0, 1024);
 * if (cc.migratepages.join() !== String(f)) throw new Error("isolated");
 * putbackMovablePages(mm, cc.migratepages);
 * ```
 */
export function isolateMigratepagesRange(
  cc: CompactControl,
  startPfn: number,
  endPfn: number,
): number {
  const zone = cc.zone, pb = zone.pageblockOrder;
  let pfn = startPfn;
  let blockEndPfn = pageblockEnd(pfn, pb);
  let ret = 0;
  cc.migratePfn = startPfn;
  for (; pfn < endPfn; pfn = blockEndPfn, blockEndPfn += 1 << pb) {
    const end = Math.min(blockEndPfn, endPfn);
    if (pfn < zone.startPfn || end > zone.endPfn) {
      cc.migratePfn = end;
      continue;
    }
    ret = isolateMigratepagesBlock(cc, pfn, end, ISOLATE_UNEVICTABLE);
    if (ret) break;
    if (cc.nrMigratepages >= COMPACT_CLUSTER_MAX) break;
  }
  return ret;
}

function suitableMigrationSource(cc: CompactControl, pfn: number): boolean {
  const mem = cc.mm.mem;
  // pageblock_skip_persistent(): a compound page of at least pageblock order.
  const h = mem.head[pfn]!;
  const head = h === NIL ? pfn : h;
  if ((mem.flags[head]! & HEAD) !== 0 && mem.order[head]! >= cc.zone.pageblockOrder) return false;
  if (cc.mode !== "MIGRATE_ASYNC" || !cc.directCompaction) return true;
  const blockMt = cc.zone.getPageblockMigratetype(pfn);
  if (cc.migratetype === MIGRATE.MOVABLE) {
    return blockMt === MIGRATE.MOVABLE || blockMt === MIGRATE.CMA;
  }
  return blockMt === cc.migratetype;
}

/**
 * `isolate_migratepages()` (internal to the compaction files): from `cc.migratePfn`, find the first suitable pageblock below the
 * free scanner and isolate from it. `cond_resched()` every COMPACT_CLUSTER_MAX pageblocks.
 */
export function* isolateMigratepages(
  cc: CompactControl,
): Process<"ISOLATE_NONE" | "ISOLATE_SUCCESS"> {
  const zone = cc.zone, pb = zone.pageblockOrder;
  const isolateMode = (cc.config.compactUnevictableAllowed ? ISOLATE_UNEVICTABLE : 0) |
    (cc.mode !== "MIGRATE_SYNC" ? ISOLATE_ASYNC_MIGRATE : 0);
  let lowPfn = cc.migratePfn;
  let blockStartPfn = Math.max(pageblockStart(lowPfn, pb), zone.startPfn);
  let blockEndPfn = pageblockEnd(lowPfn, pb);
  for (
    ;
    blockEndPfn <= cc.freePfn;
    cc.migratePfn = lowPfn = blockEndPfn, blockStartPfn = blockEndPfn, blockEndPfn += 1 << pb
  ) {
    if (lowPfn % (COMPACT_CLUSTER_MAX << pb) === 0) yield cc.mm.env.point();
    if (blockEndPfn > zone.endPfn) continue;
    if (
      ((lowPfn & ((1 << pb) - 1)) === 0 || lowPfn === zone.startPfn) &&
      !isolationSuitable(cc, lowPfn)
    ) continue;
    if (!suitableMigrationSource(cc, blockStartPfn)) {
      updateCachedMigrate(cc, blockEndPfn);
      continue;
    }
    isolateMigratepagesBlock(cc, lowPfn, blockEndPfn, isolateMode);
    break;
  }
  return cc.nrMigratepages ? "ISOLATE_SUCCESS" : "ISOLATE_NONE";
}

// ------------------------------------------------------------------ free scanner

/**
 * `isolate_freepages_block()` (v6.10+): isolate free blocks of `[startPfn, endPfn)` whole onto
 * `cc.freepages[order]`, every `stride` pfns; stop once there are enough for the isolated
 * folios (not `strict`). Returns pages isolated; `cc.blockPfn` is where it stopped.
 *
 * @example
 * ```ts
 * import { Engine, Mm, CompactControl } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 }, zone: { minFreeKbytes: 0 } });
 * const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_SYNC" });
 * cc.nrMigratepages = 1 << 20; // want many
 * // Pfn 0 heads a free order-10 block: it is isolated whole.
 * if (isolateFreepagesBlock(cc, 0, 512, 1, true) !== 1024) throw new Error("one order-10 block");
 * if (cc.freepages[10]!.join() !== "0") throw new Error("kept whole");
 * ```
 */
export function isolateFreepagesBlock(
  cc: CompactControl,
  startPfn: number,
  endPfn: number,
  stride: number,
  strict: boolean,
): number {
  const mm = cc.mm, mem = mm.mem, zone = cc.zone;
  const flags = mem.flags, ord = mem.order, heads = mem.head;
  const maxOrder = zone.maxOrder;
  let nrScanned = 0, totalIsolated = 0;
  let blockpfn = startPfn;
  if (strict) stride = 1;
  for (; blockpfn < endPfn; blockpfn += stride) {
    nrScanned++;
    const f = flags[blockpfn]!;
    const h = heads[blockpfn]!;
    if (h !== NIL || (f & HEAD) !== 0) {
      // Compound pages: skip them at once (compound_order() of a tail is 0).
      const o = h === NIL ? ord[blockpfn]! : 0;
      if (o <= maxOrder) {
        blockpfn += (1 << o) - 1;
        nrScanned += (1 << o) - 1;
      }
      if (strict) break;
      continue;
    }
    if ((f & BUDDY) === 0) {
      if (strict) break;
      continue;
    }
    const order = ord[blockpfn]!;
    const isolated = zone.isolateFreePage(blockpfn, order);
    if (!isolated) break;
    nrScanned += isolated - 1;
    totalIsolated += isolated;
    cc.nrFreepages += isolated;
    cc.freepages[order]!.push(blockpfn);
    if (!strict && cc.nrMigratepages <= cc.nrFreepages) {
      blockpfn += isolated;
      break;
    }
    blockpfn += isolated - 1;
  }
  if (blockpfn > endPfn) blockpfn = endPfn;
  mm.env.emit("mm_compaction_isolate_freepages", startPfn, blockpfn, {
    nrScanned,
    totalIsolated,
  });
  cc.blockPfn = blockpfn;
  if (strict && blockpfn < endPfn) totalIsolated = 0;
  cc.totalFreeScanned += nrScanned;
  if (totalIsolated) mm.vmstat.inc("compact_isolated", totalIsolated);
  return totalIsolated;
}

function suitableMigrationTarget(cc: CompactControl, pfn: number): boolean {
  const mem = cc.mm.mem;
  // If the page is a large free page, then disallow migration.
  if ((mem.flags[pfn]! & BUDDY) !== 0) {
    const order = cc.order > 0 ? cc.order : cc.zone.pageblockOrder;
    if (mem.order[pfn]! >= order) return false;
  }
  if (cc.ignoreBlockSuitable) return true;
  const mt = cc.zone.getPageblockMigratetype(pfn);
  return mt === MIGRATE.MOVABLE || mt === MIGRATE.CMA;
}

/**
 * `isolate_freepages()`: walk down from `cc.freePfn` to the migration scanner's pageblock and
 * isolate free blocks from suitable pageblocks until there are enough. `cond_resched()` every
 * COMPACT_CLUSTER_MAX pageblocks.
 */
function* isolateFreepages(cc: CompactControl): Process<void> {
  const zone = cc.zone, pb = zone.pageblockOrder, nrPb = 1 << pb;
  let isolateStartPfn = cc.freePfn;
  let blockStartPfn = pageblockStart(isolateStartPfn, pb);
  let blockEndPfn = Math.min(blockStartPfn + nrPb, zone.endPfn);
  const lowPfn = pageblockEnd(cc.migratePfn, pb);
  let stride = cc.mode === "MIGRATE_ASYNC" ? COMPACT_CLUSTER_MAX : 1;
  for (
    ;
    blockStartPfn >= lowPfn;
    blockEndPfn = blockStartPfn, blockStartPfn -= nrPb, isolateStartPfn = blockStartPfn
  ) {
    if (blockStartPfn % (COMPACT_CLUSTER_MAX * nrPb) === 0) yield cc.mm.env.point();
    if (blockStartPfn < zone.startPfn) continue;
    if (!suitableMigrationTarget(cc, blockStartPfn)) continue;
    if (!isolationSuitable(cc, blockStartPfn)) continue;
    const nrIsolated = isolateFreepagesBlock(cc, isolateStartPfn, blockEndPfn, stride, false);
    isolateStartPfn = cc.blockPfn;
    // Update the skip hint if the full pageblock was scanned.
    if (isolateStartPfn === blockEndPfn) {
      updatePageblockSkip(cc, blockStartPfn, blockStartPfn - nrPb);
    }
    if (cc.nrFreepages >= cc.nrMigratepages) {
      // Restart at the previous pageblock if more free pages can be isolated next time.
      if (isolateStartPfn >= blockEndPfn) isolateStartPfn = blockStartPfn - nrPb;
      break;
    } else if (isolateStartPfn < blockEndPfn) {
      break; // isolation failed early
    }
    if (nrIsolated) {
      stride = 1;
      continue;
    }
    stride = Math.min(COMPACT_CLUSTER_MAX, stride << 1);
  }
  cc.freePfn = isolateStartPfn;
}

/**
 * `compaction_alloc()` (v6.10+): the migration target for `src` from the isolated free
 * blocks — the smallest block of at least its order, split down, the rest kept — isolating
 * more once if there is none. -1 (NULL) if none can be found.
 */
export function compactionAlloc(cc: CompactControl): (mm: Mm, src: number) => Process<number> {
  return function* (mm: Mm, src: number): Process<number> {
    const mem = mm.mem;
    const order = mem.order[src]!;
    const maxOrder = cc.zone.maxOrder;
    let hasIsolatedPages = false;
    for (;;) {
      let start = order;
      while (start <= maxOrder && cc.freepages[start]!.length === 0) start++;
      if (start > maxOrder) {
        if (hasIsolatedPages) return NIL;
        yield* isolateFreepages(cc);
        hasIsolatedPages = true;
        continue;
      }
      const page = cc.freepages[start]!.shift()!;
      let size = 1 << start;
      while (start > order) {
        start--;
        size >>= 1;
        mem.order[page + size] = start;
        cc.freepages[start]!.unshift(page + size);
      }
      // post_alloc_hook() + set_page_refcounted() + prep_compound_page().
      cc.zone.prepNewPage(page, order, order > 0);
      cc.nrFreepages -= 1 << order;
      cc.nrMigratepages -= 1 << order;
      return page;
    }
  };
}

/** `compaction_free()`: an unused target goes back onto the free lists of the run. */
export function compactionFree(cc: CompactControl): (mm: Mm, dst: number) => void {
  return (mm: Mm, dst: number) => {
    const mem = mm.mem;
    const order = mem.order[dst]!;
    if (--mem.refcount[dst]! === 0) {
      // free_pages_prepare()
      for (let p = dst; p < dst + (1 << order); p++) {
        mem.flags[p] = 0;
        mem.head[p] = NIL;
        mem.private[p] = 0;
      }
      mem.order[dst] = order;
      cc.freepages[order]!.unshift(dst);
      cc.nrFreepages += 1 << order;
    }
    cc.nrMigratepages += 1 << order;
  };
}

/** `release_free_list()`: give the remaining isolated free blocks back; highest pfn or 0. */
export function releaseFreepages(cc: CompactControl): number {
  let highPfn = 0;
  for (let order = 0; order < cc.freepages.length; order++) {
    for (const pfn of cc.freepages[order]!) {
      cc.zone.putbackIsolatedPage(pfn, order);
      if (pfn > highPfn) highPfn = pfn;
    }
    cc.freepages[order] = [];
  }
  cc.nrFreepages = 0;
  return highPfn;
}
