/**
 * Contiguous ranges: allocate an exact pfn range (CMA, gigantic pages) or take it offline
 * (memory hot-unplug) by isolating its pageblocks and migrating every in-use folio out of it,
 * engine-driven and in MIGRATE_SYNC.
 *
 * Follows mm/page_alloc.c `alloc_contig_range` (v6.12: `alloc_contig_range_noprof`) with
 * `__alloc_contig_migrate_range`, and mm/memory_hotplug.c `offline_pages` with
 * `scan_movable_pages` and `do_migrate_range`, on lib/mm/page_isolation.ts
 * (`start_isolate_page_range`, `test_pages_isolated`, `undo_isolate_page_range`,
 * `isolate_freepages_range`). Source read: the v6.7 tree of mm/compaction.c and mm/migrate.c;
 * these two functions from memory of the v6.12 code [partly U].
 *
 * MIGRATE_SYNC sleeps on a locked folio and waits for writeback: a folio whose lock or
 * writeback an I/O request never ends keeps `allocContigRange` (bounded retries otherwise) and
 * `offlinePages` (retries until a signal) from returning — the run's wait-for report then shows
 * the chain task → PG_locked/PG_writeback → request (thread 004, C4.5).
 *
 * Left out: `reclaim_clean_pages_from_list` (clean page-cache folios are migrated, not dropped),
 * `lru_add_drain_all` / pcp draining, fatal signals in alloc_contig_range, hugetlb
 * (`dissolve_free_huge_pages`, `isolate_or_dissolve_huge_page`), HWPoison, memory notifiers,
 * zone shrinking after offline (offlined frames stay as allocated, PG_reserved pages).
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import type { Errno } from "./address_space.ts";
import { folioPut, folioTryGet } from "./folio.ts";
import { MIGRATE, NIL, PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "./migrate.ts";
import { GFP_HIGHUSER_MOVABLE } from "./page_alloc.ts";
import {
  startIsolatePageRange,
  takeIsolatedRange,
  testPagesIsolated,
  undoIsolatePageRange,
} from "./page_isolation.ts";
import { CompactControl, CompactionConfig, type CompactionConfigInput } from "./compact_control.ts";
import { isolateMigratepagesRange } from "./compaction_scanners.ts";

const BUDDY = 1 << PG.buddy;
const LRU = 1 << PG.lru;

/**
 * Outcome of `allocContigRange` / `offlinePages`: ok, or the errno with the first pfn that
 * stood in the way and the kernel's reason text where it has one.
 *
 * @example A pinned page in the range: -EBUSY naming it, and the isolation undone
 * ```ts
 * import { AddressSpace, allocContigRangeMm, type ContigResult, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioGet, MIGRATE, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0); // in the first pageblock
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioGet(mm, f); // e.g. a GUP pin: migration fails with -EAGAIN, retried, then -EBUSY
 * const results: ContigResult[] = [];
 * env.spawn("cma_alloc", function* () { results.push(yield* allocContigRangeMm(mm, 0, 512, MIGRATE.MOVABLE)); });
 * env.run();
 * const r = results[0]!;
 * if (r.ok || r.errno !== "EBUSY" || r.failedPfn !== f) throw new Error(JSON.stringify(r));
 * if (mm.zone.nrIsolatePageblock !== 0 || !mm.mem.testFlag(f, PG.lru)) throw new Error("isolation undone, folio put back");
 * ```
 */
export type ContigResult =
  | { ok: true; value: undefined }
  | { ok: false; errno: Errno; failedPfn: number; reason: string };

const CONTIG_OK: ContigResult = Object.freeze({ ok: true, value: undefined }) as ContigResult;

/**
 * `__alloc_contig_migrate_range()` (mm/page_alloc.c): isolate the in-use folios of the range in
 * batches and migrate them (MIGRATE_SYNC, MR_CONTIG_RANGE); a batch that still fails after 5
 * tries gives -EBUSY; -ENOMEM ends at once.
 */
function* allocContigMigrateRange(
  mm: Mm,
  cc: CompactControl,
  start: number,
  end: number,
): Process<ContigResult> {
  let pfn = start;
  let tries = 0;
  let ret: Errno | null = null;
  while (pfn < end || cc.migratepages.length > 0) {
    if (cc.migratepages.length === 0) {
      cc.nrMigratepages = 0;
      isolateMigratepagesRange(cc, pfn, end);
      pfn = cc.migratePfn;
      tries = 0;
      if (cc.migratepages.length === 0) {
        if (pfn >= end) break;
        continue;
      }
    } else if (++tries === 5) {
      ret = "EBUSY";
      break;
    }
    const r = yield* migratePages(
      mm,
      cc.migratepages,
      allocMigrationTarget,
      cc.mode,
      "MR_CONTIG_RANGE",
    );
    cc.migratepages = r.failed;
    // On -ENOMEM, migrate_pages() bails out right away; so do we.
    if (r.errno === "ENOMEM") {
      ret = "ENOMEM";
      break;
    }
  }
  if (ret) {
    const failedPfn = cc.migratepages[0] ?? pfn;
    putbackMovablePages(mm, cc.migratepages);
    cc.migratepages = [];
    return { ok: false, errno: ret, failedPfn, reason: "migration failed" };
  }
  return CONTIG_OK;
}

/**
 * `alloc_contig_range()` (mm/page_alloc.c, v6.12), engine-driven: isolate the pageblocks of
 * `[startPfn, endPfn)` (`start_isolate_page_range`), migrate their in-use folios away in
 * MIGRATE_SYNC with bounded retries (`__alloc_contig_migrate_range`), then check that the range
 * is free and take it (`test_pages_isolated`, `isolate_freepages_range`). `migratetype` is
 * MIGRATE_MOVABLE, or MIGRATE_CMA for `cma_alloc`. On failure the isolation is undone and the
 * errno comes with the first pfn in the way. MIGRATE_SYNC sleeps on locked folios and waits for
 * writeback, so a folio held by a request that never completes keeps this from returning.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, folioPut, filemapAddFolio, filemapGetEntry, filemapMigrateFolio, MIGRATE, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const mapping = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0); // lands in the first pageblock
 * filemapAddFolio(mm, mapping, f, 0);
 * folioPut(mm, f); // only the page cache holds it now
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.data[f] = 7;
 * let ok = false;
 * env.spawn("cma", function* () {
 *   const r = yield* allocContigRange(mm, 0, 512, MIGRATE.MOVABLE);
 *   ok = r.ok;
 * });
 * env.run();
 * const moved = filemapGetEntry(mapping, 0);
 * if (!ok || moved < 512 || mm.mem.data[moved] !== 7) throw new Error("migrated out of the range");
 * ```
 */
export function* allocContigRange(
  mm: Mm,
  startPfn: number,
  endPfn: number,
  migratetype: number,
  options: { compound?: boolean; gfpMask?: number; config?: CompactionConfigInput } = {},
): Process<ContigResult> {
  const zone = mm.zone;
  if (!(startPfn >= zone.startPfn && endPfn <= zone.endPfn && startPfn < endPfn)) {
    throw new Error(
      `Cannot alloc_contig_range [${startPfn}, ${endPfn}): not a non-empty range inside zone ` +
        `${zone.name} [${zone.startPfn}, ${zone.endPfn})`,
    );
  }
  mm.env.emit("alloc_contig_range_begin", null, { startPfn, endPfn }, migratetype);
  const cc = new CompactControl(mm, {
    order: -1,
    mode: "MIGRATE_SYNC",
    ignoreSkipHint: true,
    noSetSkipHint: true,
    allocContig: true,
    gfpMask: options.gfpMask ?? GFP_HIGHUSER_MOVABLE,
    config: options.config,
  });
  const iso = startIsolatePageRange(zone, startPfn, endPfn, migratetype);
  if (!iso.ok) {
    return { ok: false, errno: "EBUSY", failedPfn: iso.failedPfn, reason: "isolation failed" };
  }
  const m = yield* allocContigMigrateRange(mm, cc, startPfn, endPfn);
  if (!m.ok && m.errno !== "EBUSY") {
    undoIsolatePageRange(zone, startPfn, endPfn, migratetype);
    return m;
  }
  const t = takeIsolatedRange(zone, startPfn, endPfn, migratetype, options.compound ?? false);
  const r: ContigResult = t.ok
    ? CONTIG_OK
    : { ok: false, errno: t.errno, failedPfn: t.failedPfn, reason: "range not free" };
  mm.env.emit("alloc_contig_range_end", null, { startPfn, endPfn }, r.ok ? 0 : r.errno);
  return r;
}

/**
 * `scan_movable_pages()` (mm/memory_hotplug.c): the first pfn in `[start, end)` whose folio is
 * on the LRU (PageLRU reads the head), or -1 (-ENOENT).
 */
function scanMovablePages(mm: Mm, start: number, end: number): number {
  const mem = mm.mem, flags = mem.flags, heads = mem.head;
  for (let pfn = start; pfn < end; pfn++) {
    const h = heads[pfn]!;
    if ((flags[h === NIL ? pfn : h]! & LRU) !== 0) return pfn;
  }
  return -1;
}

/**
 * `do_migrate_range()` (mm/memory_hotplug.c): isolate every LRU folio of `[start, end)` and
 * migrate them (MIGRATE_SYNC, MR_MEMORY_HOTPLUG); failures are put back.
 */
function* doMigrateRange(mm: Mm, start: number, end: number): Process<void> {
  const mem = mm.mem;
  const source: number[] = [];
  for (let pfn = start; pfn < end; pfn++) {
    const h = mem.head[pfn]!;
    const folio = h === NIL ? pfn : h;
    if ((mem.flags[folio]! & BUDDY) !== 0) {
      pfn += (1 << mem.order[folio]!) - 1;
      continue;
    }
    if (mem.order[folio]! > 0) pfn = folio + (1 << mem.order[folio]!) - 1;
    if (!folioTryGet(mm, folio)) continue;
    // Not isolated: the kernel warns "failed to isolate pfn" and moves on.
    if (isolateFolioForMigration(mm, folio)) source.push(folio);
    folioPut(mm, folio);
  }
  if (source.length > 0) {
    const r = yield* migratePages(
      mm,
      source,
      allocMigrationTarget,
      "MIGRATE_SYNC",
      "MR_MEMORY_HOTPLUG",
    );
    if (r.failed.length > 0) putbackMovablePages(mm, r.failed);
  }
}

/**
 * Outcome of {@link offlinePages}: a {@link ContigResult} and the number of scan passes.
 *
 * @example A page that cannot be migrated keeps offlining busy until the signal
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioGet, Mm, offlinePages, type OfflineResult, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioGet(mm, f); // an extra reference: every migration attempt fails with -EAGAIN
 * const results: OfflineResult[] = [];
 * env.spawn("echo offline", function* () { results.push(yield* offlinePages(mm, 0, 512, { timeoutNs: 100_000 })); });
 * env.run();
 * const r = results[0]!;
 * if (r.ok || r.errno !== "EINTR" || r.reason !== "signal backoff" || r.failedPfn !== f || r.passes < 2) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export type OfflineResult = ContigResult & { passes: number };

/**
 * `offline_pages()` (mm/memory_hotplug.c, v6.12), engine-driven: isolate the range, then loop
 * — migrate every LRU folio found (`scan_movable_pages` / `do_migrate_range`, MIGRATE_SYNC)
 * until none is left, and retry until `test_pages_isolated` finds the whole range free. The
 * kernel retries until a signal; `timeoutNs` stands for a signal delivered after that long
 * (checked where the kernel checks `signal_pending`), giving -EINTR "signal backoff". A
 * MIGRATE_SYNC migration sleeping in `folio_lock` on a folio whose lock an I/O request never
 * releases is not interruptible: then this never returns, and the run's wait-for report shows
 * the chain. On success the range's frames are taken (allocated, PG_reserved: offline).
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, folioPut, filemapAddFolio, filemapMigrateFolio, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const mapping = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, f, 0);
 * folioPut(mm, f); // only the page cache holds it now
 * mm.mem.setFlag(f, PG.uptodate);
 * let r: OfflineResult | null = null;
 * env.spawn("offline", function* () { r = yield* offlinePages(mm, 0, 512, { timeoutNs: 1e9 }); });
 * env.run();
 * if (!r!.ok || !mm.mem.testFlag(0, PG.reserved)) throw new Error("offline");
 * ```
 */
export function* offlinePages(
  mm: Mm,
  startPfn: number,
  endPfn: number,
  options: { timeoutNs?: number; config?: CompactionConfigInput } = {},
): Process<OfflineResult> {
  const zone = mm.zone, env = mm.env;
  const config = CompactionConfig.parse(options.config ?? {});
  const deadline = options.timeoutNs === undefined ? Infinity : env.nowNs + options.timeoutNs;
  let passes = 0;
  const iso = startIsolatePageRange(zone, startPfn, endPfn, MIGRATE.MOVABLE);
  if (!iso.ok) {
    return {
      ok: false,
      errno: "EBUSY",
      failedPfn: iso.failedPfn,
      reason: "failure to isolate range",
      passes,
    };
  }
  env.emit("offline_pages_begin", null, { startPfn, endPfn });
  let busyPfn = startPfn;
  for (;;) {
    let pfn = startPfn;
    for (;;) {
      if (env.nowNs >= deadline) {
        undoIsolatePageRange(zone, startPfn, endPfn, MIGRATE.MOVABLE);
        env.emit("offline_pages_end", null, { startPfn, endPfn }, "EINTR");
        return { ok: false, errno: "EINTR", failedPfn: busyPfn, reason: "signal backoff", passes };
      }
      passes++;
      // cond_resched(), and the time the scan takes.
      yield env.sleep(Math.max(1, Math.round((endPfn - pfn) * config.scanNsPerPage)));
      const found = scanMovablePages(mm, pfn, endPfn);
      if (found < 0) break;
      pfn = busyPfn = found;
      yield* doMigrateRange(mm, pfn, endPfn);
    }
    const t = testPagesIsolated(zone, startPfn, endPfn);
    if (t.ok) break;
    busyPfn = t.failedPfn;
  }
  const t = takeIsolatedRange(zone, startPfn, endPfn, MIGRATE.MOVABLE);
  if (!t.ok) {
    return { ok: false, errno: t.errno, failedPfn: t.failedPfn, reason: "range not free", passes };
  }
  for (let p = startPfn; p < endPfn; p++) mm.mem.setFlag(p, PG.reserved);
  env.emit("offline_pages_end", null, { startPfn, endPfn }, 0);
  return { ok: true, value: undefined, passes };
}
