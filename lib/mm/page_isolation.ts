/**
 * Pageblock isolation and contiguous range allocation: mark pageblocks MIGRATE_ISOLATE so their
 * free pages cannot be allocated, let migration empty the range, then take it out of the buddy
 * allocator (`alloc_contig_range`, used by CMA, gigantic hugetlb pages and memory offlining).
 *
 * Follows mm/page_isolation.c (`has_unmovable_pages`, `set_migratetype_isolate`,
 * `unset_migratetype_isolate`, `start_isolate_page_range`, `undo_isolate_page_range`,
 * `test_pages_isolated`, `__test_page_isolated_in_pageblock`), mm/page_alloc.c
 * (`alloc_contig_range_noprof`, `__alloc_contig_migrate_range`, `split_free_pages`,
 * `free_contig_range`) and mm/compaction.c (`isolate_freepages_range` in strict mode), Linux
 * v6.12.
 *
 * Migration is a hook: `allocContigRange` calls `hooks.migrateRange(zone, start, end)` where the
 * kernel runs `__alloc_contig_migrate_range` (isolate_migratepages_range + migrate_pages in
 * MIGRATE_SYNC with MR_CONTIG_RANGE). The migration model plugs in there; it must leave every
 * in-use page of the range freed (its data moved to a page allocated outside the isolated
 * pageblocks, which `Zone.allocPages` guarantees) or report why not.
 *
 * Engine-driven callers: the synchronous `allocContigRange` is three phases,
 * `startIsolatePageRange` → migration → `takeIsolatedRange`, and an engine process can run
 * them itself with the migration as a generator that sleeps (MIGRATE_SYNC waits for locks and
 * writeback) in between. While the pageblocks are isolated, frees into them land on the
 * MIGRATE_ISOLATE lists and nothing can allocate them, as in the kernel.
 *
 * Left out: `isolate_single_pageblock`'s migration of in-use compound pages that straddle the
 * first or last pageblock boundary of the range (the hook sees them as in-use pages of the
 * range), MEMORY_OFFLINE / REPORT_FAILURE flags, HWPoison and PageOffline pages, lru_cache
 * draining, `fatal_signal_pending` (EINTR can come only from the hook).
 *
 * @module
 */

import { MIGRATE, NIL, PG } from "./memory.ts";
import type { Zone } from "./buddy.ts";
import { pageMovable } from "./buddy.ts";

const BUDDY = 1 << PG.buddy;
const HEAD = 1 << PG.head;
const RESERVED = 1 << PG.reserved;

/**
 * Outcome of an isolation step: ok, or -EBUSY naming the first pfn that blocked it.
 *
 * @example A kernel page blocks isolation of its pageblock
 * ```ts
 * import { type IsolateResult, MIGRATE, PhysMem, startIsolatePageRange, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const pfn = zone.allocPages(0, MIGRATE.UNMOVABLE); // not on the LRU, not movable
 * const block = pfn - (pfn % 512);
 * const r: IsolateResult = startIsolatePageRange(zone, block, block + 512, MIGRATE.MOVABLE);
 * if (r.ok || r.failedPfn !== pfn || zone.nrIsolatePageblock !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export type IsolateResult = { ok: true } | { ok: false; errno: "EBUSY"; failedPfn: number };

/**
 * What the migration hook of `allocContigRange` reports. `EAGAIN` asks for another pass (the
 * kernel retries a batch up to 5 times, then gives -EBUSY); `EBUSY` means some pages stay in
 * use; `ENOMEM` (no destination page) and `EINTR` end the allocation at once.
 *
 * @example A migration hook that needs a second pass
 * ```ts
 * import { allocContigRange, MIGRATE, type MigrateRangeResult, PG, PhysMem, Zone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * const page = zone.allocPages(0, MIGRATE.MOVABLE);
 * mem.setFlag(page, PG.lru); // an LRU page: movable, so its pageblock can be isolated
 * const block = page - (page % 512);
 * let passes = 0;
 * const migrateRange = (): MigrateRangeResult => {
 *   if (++passes === 1) return { ok: false, errno: "EAGAIN", failedPfn: page }; // locked: try again
 *   mem.clearFlag(page, PG.lru); // "migrated": the old page is freed
 *   mem.refcount[page] = 0;
 *   zone.freePages(page, 0);
 *   return { ok: true };
 * };
 * const r = allocContigRange(zone, block, block + 512, MIGRATE.MOVABLE, { migrateRange });
 * if (!r.ok || passes !== 2 || mem.refcount[page] !== 1) throw new Error(`${passes} passes`);
 * ```
 */
export type MigrateRangeResult =
  | { ok: true }
  | { ok: false; errno: "EBUSY" | "EAGAIN" | "ENOMEM" | "EINTR"; failedPfn: number };

/**
 * Hooks of `allocContigRange`.
 *
 * @example
 * ```ts
 * import { allocContigRange, type AllocContigHooks, MIGRATE, PhysMem, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const free = zone.nrFreePages;
 * // No memory for migration targets: alloc_contig_range() gives up with -ENOMEM at once.
 * const hooks: AllocContigHooks = { migrateRange: (_zone, start) => ({ ok: false, errno: "ENOMEM", failedPfn: start }) };
 * const r = allocContigRange(zone, 0, 512, MIGRATE.MOVABLE, hooks);
 * if (r.ok || r.errno !== "ENOMEM") throw new Error(JSON.stringify(r));
 * if (zone.nrIsolatePageblock !== 0 || zone.nrFreePages !== free) throw new Error("isolation undone");
 * ```
 */
export interface AllocContigHooks {
  /**
   * Empty the in-use pages of `[startPfn, endPfn)` (whose pageblocks are isolated), as
   * `__alloc_contig_migrate_range` does with MIGRATE_SYNC migration.
   */
  migrateRange(zone: Zone, startPfn: number, endPfn: number): MigrateRangeResult;
}

/**
 * Outcome of `allocContigRange`: the errno values `alloc_contig_range` returns (-EBUSY if the
 * range could not be isolated or emptied, -ENOMEM / -EINTR from migration, -EINVAL for a
 * compound request whose range is not one aligned power-of-two block).
 *
 * @example
 * ```ts
 * import { allocContigRange, type AllocContigResult, MIGRATE, migrateRangeNone, PG, PhysMem, Zone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * const hooks = { migrateRange: migrateRangeNone };
 * const odd: AllocContigResult = allocContigRange(zone, 0, 300, MIGRATE.MOVABLE, hooks, true);
 * if (odd.ok || odd.errno !== "EINVAL") throw new Error("a folio needs an aligned power-of-two range");
 * const folio: AllocContigResult = allocContigRange(zone, 512, 1024, MIGRATE.MOVABLE, hooks, true);
 * if (!folio.ok || mem.order[512] !== 9 || !mem.testFlag(512, PG.head) || mem.head[1023] !== 512) throw new Error("one order-9 folio");
 * ```
 */
export type AllocContigResult =
  | { ok: true }
  | { ok: false; errno: "EBUSY" | "ENOMEM" | "EINTR" | "EINVAL"; failedPfn: number };

/**
 * A migration hook that migrates nothing and reports -EBUSY at the first in-use page (a range
 * with pinned or unmigratable pages); a range that is already free succeeds.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, allocContigRange, migrateRangeNone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const r = allocContigRange(zone, 512, 1024, MIGRATE.MOVABLE, { migrateRange: migrateRangeNone });
 * if (!r.ok) throw new Error("a free range needs no migration");
 * ```
 */
export function migrateRangeNone(zone: Zone, startPfn: number, endPfn: number): MigrateRangeResult {
  const mem = zone.mem;
  for (let pfn = startPfn; pfn < endPfn; pfn++) {
    if ((mem.flags[pfn]! & BUDDY) !== 0) {
      pfn += (1 << mem.order[pfn]!) - 1;
      continue;
    }
    const h = mem.head[pfn]!;
    if (mem.refcount[h === NIL ? pfn : h]! > 0) {
      return { ok: false, errno: "EBUSY", failedPfn: pfn };
    }
  }
  return { ok: true };
}

/**
 * `has_unmovable_pages()`: the first page in `[startPfn, endPfn)` (within one pageblock) that
 * cannot be migrated away, or -1. PG_reserved pages are unmovable; in ZONE_MOVABLE everything
 * else is trusted; a CMA pageblock is unmovable unless the request is for CMA; an in-use page is
 * movable if `pageMovable` (PageLRU or __PageMovable). Pages with refcount 0 are skipped.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, hasUnmovablePages } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 1024 });
 * const zone = new Zone(mem);
 * const pfn = zone.allocPages(0, MIGRATE.UNMOVABLE); // a kernel page, no mapping
 * const base = pfn - (pfn % 512);
 * if (hasUnmovablePages(zone, base, base + 512, MIGRATE.MOVABLE) !== pfn) throw new Error("found");
 * ```
 */
export function hasUnmovablePages(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  migratetype: number,
): number {
  const mem = zone.mem;
  if (zone.getPageblockMigratetype(startPfn) === MIGRATE.CMA) {
    // CMA allocations need to isolate CMA pageblocks even when not movable in fact.
    return migratetype === MIGRATE.CMA ? NIL : startPfn;
  }
  for (let pfn = startPfn; pfn < endPfn; pfn++) {
    const f = mem.flags[pfn]!;
    if ((f & RESERVED) !== 0) return pfn;
    if (zone.movable) continue;
    const h = mem.head[pfn]!;
    if (h !== NIL || (f & HEAD) !== 0) {
      // A large folio: movable if on the LRU (or movable); skip its tails.
      const head = h === NIL ? pfn : h;
      if (!pageMovable(mem, head)) return pfn;
      pfn = head + (1 << mem.order[head]!) - 1;
      continue;
    }
    if (mem.refcount[pfn] === 0) {
      if ((f & BUDDY) !== 0) pfn += (1 << mem.order[pfn]!) - 1;
      continue;
    }
    if (pageMovable(mem, pfn)) continue;
    return pfn;
  }
  return NIL;
}

/**
 * `set_migratetype_isolate()`: isolate the pageblock containing `pfn` unless it is already
 * isolated or holds unmovable pages within `[startPfn, endPfn)`; its free pages move to the
 * MIGRATE_ISOLATE lists (no longer counted in NR_FREE_PAGES).
 *
 * @example
 * ```ts
 * import { MIGRATE, PhysMem, setMigratetypeIsolate, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const free = zone.nrFreePages;
 * if (!setMigratetypeIsolate(zone, 700, MIGRATE.MOVABLE, 512, 1024).ok) throw new Error("isolated");
 * // The whole pageblock [512, 1024) is isolated; its free pages no longer count as free.
 * if (zone.getPageblockMigratetype(512) !== MIGRATE.ISOLATE || zone.nrFreePages !== free - 512) throw new Error("MIGRATE_ISOLATE");
 * const again = setMigratetypeIsolate(zone, 600, MIGRATE.MOVABLE, 512, 1024);
 * if (again.ok || again.failedPfn !== 512) throw new Error("already isolated: -EBUSY");
 * ```
 */
export function setMigratetypeIsolate(
  zone: Zone,
  pfn: number,
  migratetype: number,
  startPfn: number,
  endPfn: number,
): IsolateResult {
  const pb = zone.pageblockOrder;
  const blockStart = (pfn >>> pb) << pb;
  if (zone.getPageblockMigratetype(blockStart) === MIGRATE.ISOLATE) {
    return { ok: false, errno: "EBUSY", failedPfn: blockStart };
  }
  const checkStart = Math.max(blockStart, startPfn);
  const checkEnd = Math.min(blockStart + (1 << pb), endPfn);
  const unmovable = hasUnmovablePages(zone, checkStart, checkEnd, migratetype);
  if (unmovable !== NIL) return { ok: false, errno: "EBUSY", failedPfn: unmovable };
  if (!zone.moveFreepagesBlockIsolate(blockStart, MIGRATE.ISOLATE)) {
    return { ok: false, errno: "EBUSY", failedPfn: blockStart };
  }
  zone.nrIsolatePageblock++;
  return { ok: true };
}

/**
 * `unset_migratetype_isolate()`: give the isolated pageblock containing `pfn` back to
 * `migratetype`. A free block of pageblock order whose buddy is not isolated is taken off and
 * freed again so that the two merge.
 *
 * @example
 * ```ts
 * import { MIGRATE, PhysMem, setMigratetypeIsolate, unsetMigratetypeIsolate, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * setMigratetypeIsolate(zone, 0, MIGRATE.MOVABLE, 0, 512);
 * unsetMigratetypeIsolate(zone, 0, MIGRATE.MOVABLE);
 * // Back to MOVABLE, and its free block merged with its buddy again.
 * if (zone.getPageblockMigratetype(0) !== MIGRATE.MOVABLE || zone.nrFreePages !== 2048 || zone.nrFree[10] !== 2) {
 *   throw new Error("un-isolated");
 * }
 * ```
 */
export function unsetMigratetypeIsolate(zone: Zone, pfn: number, migratetype: number): void {
  const mem = zone.mem;
  const pb = zone.pageblockOrder;
  const page = (pfn >>> pb) << pb;
  if (zone.getPageblockMigratetype(page) !== MIGRATE.ISOLATE) return;
  let isolatedPage = false;
  let order = 0;
  if ((mem.flags[page]! & BUDDY) !== 0) {
    order = mem.order[page]!;
    if (order >= pb && order < zone.maxOrder) {
      const buddy = page ^ (1 << order);
      if (
        buddy >= zone.startPfn && buddy < zone.endPfn && (mem.flags[buddy]! & BUDDY) !== 0 &&
        mem.order[buddy] === order && zone.getPageblockMigratetype(buddy) !== MIGRATE.ISOLATE
      ) {
        isolatedPage = zone.isolateFreePage(page, order) !== 0;
      }
    }
  }
  if (!isolatedPage) {
    zone.moveFreepagesBlockIsolate(page, migratetype);
  } else {
    zone.setPageblockMigratetype(page, migratetype);
    zone.putbackIsolatedPage(page, order, migratetype);
  }
  zone.nrIsolatePageblock--;
}

/**
 * `start_isolate_page_range()`: isolate every pageblock touching `[startPfn, endPfn)`. On
 * failure the pageblocks isolated so far are given back and -EBUSY names the blocking pfn.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, startIsolatePageRange, undoIsolatePageRange } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * const before = zone.nrFreePages;
 * if (!startIsolatePageRange(zone, 0, 512, MIGRATE.MOVABLE).ok) throw new Error("isolate");
 * if (zone.nrFreePages !== before - 512) throw new Error("isolated pages are not free");
 * undoIsolatePageRange(zone, 0, 512, MIGRATE.MOVABLE);
 * if (zone.nrFree[10] !== 2) throw new Error("merged again");
 * ```
 */
export function startIsolatePageRange(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  migratetype: number,
): IsolateResult {
  const pb = zone.pageblockOrder;
  const isolateStart = (startPfn >>> pb) << pb;
  const isolateEnd = ((endPfn + (1 << pb) - 1) >>> pb) << pb;
  for (let pfn = isolateStart; pfn < isolateEnd; pfn += 1 << pb) {
    const r = setMigratetypeIsolate(zone, pfn, migratetype, startPfn, endPfn);
    if (!r.ok) {
      undoIsolatePageRange(zone, isolateStart, pfn, migratetype);
      return r;
    }
  }
  return { ok: true };
}

/**
 * `undo_isolate_page_range()`: un-isolate every isolated pageblock touching the range.
 *
 * @example
 * ```ts
 * import { MIGRATE, PhysMem, startIsolatePageRange, undoIsolatePageRange, Zone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * startIsolatePageRange(zone, 0, 1024, MIGRATE.MOVABLE); // two pageblocks
 * const isolated = zone.nrIsolatePageblock;
 * undoIsolatePageRange(zone, 0, 1024, MIGRATE.MOVABLE); // e.g. migration failed
 * if (isolated !== 2 || zone.nrIsolatePageblock !== 0 || zone.nrFreePages !== 2048) throw new Error("given back");
 * ```
 */
export function undoIsolatePageRange(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  migratetype: number,
): void {
  const pb = zone.pageblockOrder;
  const isolateStart = (startPfn >>> pb) << pb;
  const isolateEnd = ((endPfn + (1 << pb) - 1) >>> pb) << pb;
  for (let pfn = isolateStart; pfn < isolateEnd; pfn += 1 << pb) {
    unsetMigratetypeIsolate(zone, pfn, migratetype);
  }
}

/**
 * `test_pages_isolated()`: are all pageblocks of the range isolated and all its pages free
 * buddy pages? -EBUSY names the first page that is not.
 *
 * @example
 * ```ts
 * import { MIGRATE, PG, PhysMem, startIsolatePageRange, testPagesIsolated, undoIsolatePageRange, Zone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * const page = zone.allocPages(0, MIGRATE.MOVABLE);
 * mem.setFlag(page, PG.lru);
 * const block = page - (page % 512);
 * startIsolatePageRange(zone, block, block + 512, MIGRATE.MOVABLE);
 * const busy = testPagesIsolated(zone, block, block + 512);
 * if (busy.ok || busy.failedPfn !== page) throw new Error("the in-use page is not free yet");
 * mem.clearFlag(page, PG.lru);
 * mem.refcount[page] = 0;
 * zone.freePages(page, 0); // migrated away
 * if (!testPagesIsolated(zone, block, block + 512).ok) throw new Error("now all free and isolated");
 * undoIsolatePageRange(zone, block, block + 512, MIGRATE.MOVABLE);
 * ```
 */
export function testPagesIsolated(zone: Zone, startPfn: number, endPfn: number): IsolateResult {
  const mem = zone.mem;
  const pb = zone.pageblockOrder;
  for (let pfn = startPfn; pfn < endPfn; pfn = ((pfn >>> pb) + 1) << pb) {
    if (zone.getPageblockMigratetype(pfn) !== MIGRATE.ISOLATE) {
      return { ok: false, errno: "EBUSY", failedPfn: pfn };
    }
  }
  // __test_page_isolated_in_pageblock()
  let pfn = startPfn;
  while (pfn < endPfn && (mem.flags[pfn]! & BUDDY) !== 0) pfn += 1 << mem.order[pfn]!;
  return pfn < endPfn ? { ok: false, errno: "EBUSY", failedPfn: pfn } : { ok: true };
}

/**
 * The second half of `alloc_contig_range()` (no kernel name of its own): with the pageblocks
 * isolated and migration done, check that `[startPfn, endPfn)` is free, take its free blocks off
 * the lists (`isolate_freepages_range`), hand out the range as order-0 pages with refcount 1
 * (`split_free_pages`) or, with `compound`, as one folio, free the overhang of the first and
 * last blocks, and undo the isolation (also on failure).
 *
 * @example alloc_contig_range in three phases, as an engine process would run it
 * ```ts
 * import { MIGRATE, PhysMem, startIsolatePageRange, takeIsolatedRange, Zone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * if (!startIsolatePageRange(zone, 1024, 1536, MIGRATE.MOVABLE).ok) throw new Error("isolate");
 * // … migration would run here, sleeping for locks and writeback …
 * const r = takeIsolatedRange(zone, 1024, 1536, MIGRATE.MOVABLE);
 * if (!r.ok || mem.refcount[1024] !== 1 || mem.refcount[1535] !== 1) throw new Error("order-0 pages, refcount 1");
 * if (zone.getPageblockMigratetype(1024) !== MIGRATE.MOVABLE || zone.nrFreePages !== 1536) throw new Error("isolation undone");
 * ```
 */
export function takeIsolatedRange(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  migratetype: number,
  compound = false,
): AllocContigResult {
  const mem = zone.mem;
  const result = takeRange(zone, startPfn, endPfn, compound, mem);
  undoIsolatePageRange(zone, startPfn, endPfn, migratetype);
  return result;
}

function takeRange(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  compound: boolean,
  mem: Zone["mem"],
): AllocContigResult {
  const outerStart = zone.findLargeBuddy(startPfn);
  const t = testPagesIsolated(zone, outerStart, endPfn);
  if (!t.ok) return t;
  // isolate_freepages_range() in strict mode: take every free block covering the range.
  let pfn = outerStart;
  while (pfn < endPfn) {
    const order = mem.order[pfn]!;
    if ((mem.flags[pfn]! & BUDDY) === 0 || zone.isolateFreePage(pfn, order) === 0) {
      // Release what was taken (cannot happen after test_pages_isolated under the zone lock).
      for (let p = outerStart; p < pfn;) {
        const o = mem.order[p]!;
        zone.putbackIsolatedPage(p, o);
        p += 1 << o;
      }
      return { ok: false, errno: "EBUSY", failedPfn: pfn };
    }
    pfn += 1 << order;
  }
  const outerEnd = pfn;
  const n = endPfn - startPfn;
  if (compound) {
    if (startPfn !== outerStart || endPfn !== outerEnd || (n & (n - 1)) !== 0) {
      for (let p = outerStart; p < outerEnd;) {
        const o = mem.order[p]!;
        zone.putbackIsolatedPage(p, o);
        p += 1 << o;
      }
      return { ok: false, errno: "EINVAL", failedPfn: startPfn };
    }
    // The range becomes one folio: prep_new_page(head, ilog2(end - start), __GFP_COMP).
    for (let p = outerStart; p < outerEnd;) {
      const o = mem.order[p]!;
      mem.order[p] = 0;
      p += 1 << o;
    }
    zone.prepNewPage(startPfn, 31 - Math.clz32(n), true);
    return { ok: true };
  }
  // split_free_pages(): post_alloc_hook + split_page for every block.
  for (let p = outerStart; p < outerEnd;) {
    const o = mem.order[p]!;
    zone.prepNewPage(p, o, false);
    zone.splitPage(p, o);
    p += 1 << o;
  }
  if (startPfn !== outerStart) freeContigRange(zone, outerStart, startPfn - outerStart);
  if (endPfn !== outerEnd) freeContigRange(zone, endPfn, outerEnd - endPfn);
  return { ok: true };
}

/**
 * `alloc_contig_range()` (MIGRATE_SYNC, no __GFP_COMP unless `compound`): allocate exactly the
 * frames `[startPfn, endPfn)`. `migratetype` is the type the pageblocks return to (MOVABLE, or
 * CMA for `cma_alloc`). Returns ok with every frame allocated (order-0 pages with refcount 1, or
 * one folio), or the errno the kernel would return with the pfn that caused it.
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, allocContigRange, migrateRangeNone } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 2048 });
 * const zone = new Zone(mem);
 * const r = allocContigRange(zone, 100, 300, MIGRATE.MOVABLE, { migrateRange: migrateRangeNone });
 * if (!r.ok || mem.refcount[100] !== 1 || mem.refcount[299] !== 1) throw new Error("range");
 * if (zone.nrFreePages !== 2048 - 200) throw new Error("the rest is free again");
 * ```
 */
export function allocContigRange(
  zone: Zone,
  startPfn: number,
  endPfn: number,
  migratetype: number,
  hooks: AllocContigHooks,
  compound = false,
): AllocContigResult {
  if (!(startPfn >= zone.startPfn && endPfn <= zone.endPfn && startPfn < endPfn)) {
    throw new Error(
      `Cannot alloc_contig_range [${startPfn}, ${endPfn}): not a non-empty range inside zone ` +
        `${zone.name} [${zone.startPfn}, ${zone.endPfn})`,
    );
  }
  const iso = startIsolatePageRange(zone, startPfn, endPfn, migratetype);
  if (!iso.ok) return iso;
  // __alloc_contig_migrate_range(): EAGAIN is retried, ENOMEM / EINTR end the attempt, EBUSY
  // falls through to test_pages_isolated(), which reports the busy page.
  for (let tries = 0; tries < 5; tries++) {
    const m = hooks.migrateRange(zone, startPfn, endPfn);
    if (m.ok || m.errno === "EBUSY") break;
    if (m.errno === "ENOMEM" || m.errno === "EINTR") {
      undoIsolatePageRange(zone, startPfn, endPfn, migratetype);
      return m as AllocContigResult;
    }
  }
  return takeIsolatedRange(zone, startPfn, endPfn, migratetype, compound);
}

/**
 * `free_contig_range()`: drop the reference on each of `nrPages` order-0 pages from `pfn` and
 * free them (a page whose refcount is not 1 is a caller bug and throws).
 *
 * @example
 * ```ts
 * import { PhysMem, Zone, MIGRATE, allocContigRange, freeContigRange, migrateRangeNone } from "@mmsim/mmsim";
 * const zone = new Zone(new PhysMem({ nrFrames: 2048 }));
 * allocContigRange(zone, 0, 1024, MIGRATE.MOVABLE, { migrateRange: migrateRangeNone });
 * freeContigRange(zone, 0, 1024);
 * if (zone.nrFree[10] !== 2) throw new Error("all free");
 * ```
 */
export function freeContigRange(zone: Zone, pfn: number, nrPages: number): void {
  const mem = zone.mem;
  for (let p = pfn; p < pfn + nrPages; p++) {
    if (mem.refcount[p] !== 1) {
      throw new Error(
        `Cannot free_contig_range frame ${p}: refcount is ${mem.refcount[p]}, expected 1`,
      );
    }
    mem.refcount[p] = 0;
    zone.freePages(p, 0);
  }
}
