/**
 * mmsim: composable, deterministic simulation primitives for Linux memory management.
 *
 * Import this module (locally or by URL) to build scenarios from the engine (`lib/sim/`), the
 * kernel model (`lib/mm/`), filesystems (`lib/fs/`), device memory (`lib/dev/`), the claims of
 * the seed threads (`lib/claims/`) and the figures (`lib/plot/`).
 *
 * @example
 * ```ts
 * import { Engine } from "@mmsim/mmsim";
 * const engine = new Engine({ seed: 1 });
 * engine.spawn("hello", function* (env) {
 *   yield env.sleep(1_000);
 * });
 * const result = engine.run();
 * if (result.nowNs !== 1_000) throw new Error("time did not advance");
 * ```
 *
 * @module
 */

// --- engine (lib/sim) ---
export * from "./lib/sim/rng.ts";
export * from "./lib/sim/engine.ts";
export * from "./lib/sim/wait_queue.ts";
export * from "./lib/sim/sync.ts";
export * from "./lib/sim/wait_table.ts";
export * from "./lib/sim/trace.ts";
export * from "./lib/sim/deadlock.ts";
export * from "./lib/sim/strategy.ts";
export * from "./lib/sim/fifo.ts";
export * from "./lib/sim/random.ts";
export * from "./lib/sim/pct.ts";
export * from "./lib/sim/replay.ts";
export * from "./lib/sim/exhaustive.ts";
export * from "./lib/sim/explore.ts";
export * from "./lib/sim/latency.ts";
export * from "./lib/config.ts";

// --- memory-management model (lib/mm) ---
export * from "./lib/mm/memory.ts";
export * from "./lib/mm/lru.ts";
export * from "./lib/mm/era.ts";
export * from "./lib/mm/vmstat.ts";
export * from "./lib/mm/mm.ts";
export * from "./lib/mm/folio.ts";
export * from "./lib/mm/buddy.ts";
export * from "./lib/mm/address_space.ts";
export * from "./lib/mm/buddy_check.ts";
export * from "./lib/mm/page_isolation.ts";
export * from "./lib/mm/fragment.ts";
export * from "./lib/mm/page_alloc.ts";
export * from "./lib/mm/filemap.ts";
export * from "./lib/mm/readahead.ts";
export * from "./lib/mm/truncate.ts";
export * from "./lib/mm/writeback.ts";
export * from "./lib/mm/fs_writeback.ts";
export * from "./lib/mm/block_device.ts";
export * from "./lib/mm/vmscan.ts";
// memory mappings, GUP, direct I/O, invariant checker (helper "mmap"; gup.ts via mmap.ts)
export * from "./lib/mm/mmap.ts";
export * from "./lib/mm/direct_io.ts";
export * from "./lib/mm/check.ts";
// thread 000 proposals: the migration hook that abandons reads, under-construction ranges
export * from "./lib/mm/abandon_read.ts";
export * from "./lib/mm/construct_range.ts";
// migration, split, compaction, contiguous ranges (helper "migrate")
export {
  allocMigrationTarget,
  expectedRefCount,
  fallbackMigrateFolio,
  filemapMigrateFolio,
  folioMapping,
  folioMigrateCopy,
  folioMigrateFlags,
  folioMigrateMapping,
  folioTestAnon,
  type FreeFolioFn,
  isolateFolioForMigration,
  MigrateCost,
  type MigrateCostInput,
  migrateFolio,
  type MigrateOptions,
  type MigrateOutcome,
  migratePages,
  type MigrateReason,
  type MigrateResult,
  moveToNewFolio,
  type NewFolioFn,
  putbackMovablePages,
} from "./lib/mm/migrate.ts";
export * from "./lib/mm/split.ts";
export {
  COMPACT_CLUSTER_MAX,
  COMPACT_RESULTS,
  CompactControl,
  type CompactControlOptions,
  CompactionConfig,
  type CompactionConfigInput,
  compactionDeferred,
  compactionDeferReset,
  type CompactResult,
  deferCompaction,
  resetIsolationSuitable,
  ZoneCompactState,
  zoneCompactState,
} from "./lib/mm/compact_control.ts";
export {
  ISOLATE_MODE,
  isolateFreepagesBlock,
  isolateMigratepagesBlock,
  isolateMigratepagesRange,
} from "./lib/mm/compaction_scanners.ts";
export {
  compactFinished,
  compactionSuitable,
  compactMemory,
  compactZone,
  lruAddFragmentFolios,
  tryToCompactPages,
} from "./lib/mm/compaction.ts";
export {
  // page_isolation.ts's allocContigRange (synchronous, migration hook) keeps the plain name.
  allocContigRange as allocContigRangeMm,
  type ContigResult,
  offlinePages,
  type OfflineResult,
} from "./lib/mm/contig_range.ts";

// --- filesystems (lib/fs) and devices (lib/dev) ---
export * from "./lib/fs/fuse_conn.ts";
export * from "./lib/fs/fuse.ts";
export * from "./lib/fs/fuse_writeback.ts";
// FUSE read side and splice (thread 000)
export * from "./lib/fs/fuse_read.ts";
export * from "./lib/fs/fuse_splice.ts";
export * from "./lib/fs/simple_fs.ts";
// iomap filesystem (helper "thread 004")
export * from "./lib/fs/iomap.ts";
export * from "./lib/fs/iomap_split.ts";
// device memory and page-cache pages on a device (thread 002)
export * from "./lib/dev/hmm.ts";
export * from "./lib/dev/hmm_file.ts";
export * from "./lib/dev/hmm_check.ts";
export * from "./lib/dev/splice.ts";
export * from "./lib/fs/netfs.ts";

// --- workloads and traces (lib/workload) ---
export * from "./lib/workload/zipf.ts";
export * from "./lib/workload/oracle_general.ts";
export * from "./lib/workload/csv_trace.ts";
export * from "./lib/workload/replay.ts";

// --- claims (lib/claims) ---
export * from "./lib/claims/registry.ts";
export * from "./lib/claims/report.ts";
export * from "./lib/claims/all.ts";
export * from "./lib/claims/crosscheck_recorded.ts";
// thread 000: FUSE readahead folios, migration, late allocation and splice (claims C0.1–C0.5;
// the `claims` array via all.ts)
export {
  type C01Data,
  c01Evidence,
  type C02Data,
  c02Evidence,
  type C03Data,
  c03Evidence,
  type C04Data,
  c04Evidence,
  type C05Data,
  c05Evidence,
  claims as thread000Claims,
  type Thread000Evidence,
  type Thread000Options,
  thread000PlotA,
  type Thread000Size,
} from "./lib/claims/thread000.ts";
export * from "./lib/claims/thread000_world.ts";
export * from "./lib/claims/thread000_crosscheck.ts";
export * from "./lib/claims/thread000_explore.ts";
export * from "./lib/claims/thread000_stream.ts";
export * from "./lib/claims/thread000_copy.ts";
export * from "./lib/claims/thread000_figures.ts";
// thread 002: page-cache pages on a device — A/A' copy vs migrate vs bounce (C2.1–C2.5; the
// `claims` array via all.ts)
export { HMM_DEFAULT_COST_MODEL, thread002Claims } from "./lib/claims/thread002.ts";
export * from "./lib/claims/thread002_world.ts";
export * from "./lib/claims/thread002_dio.ts";
export * from "./lib/claims/thread002_cost.ts";
export * from "./lib/claims/thread002_figures.ts";
// thread 001: FUSE writeback temp pages, DIO re-dirtying, reclaim deadlock (C1.1–C1.4; the
// `claims` array via all.ts)
export * from "./lib/claims/thread001_redirty.ts";
export * from "./lib/claims/thread001_deadlock.ts";
export * from "./lib/claims/thread001_hung.ts";
// thread 003: PG_private_2 / fscache refcounts (claims C3.1–C3.4; the `claims` array via all.ts)
export {
  c31Evidence,
  c32Evidence,
  c33Evidence,
  c34Evidence,
  type Thread003Evidence,
  thread003MigratePoints,
  thread003NetfsPoints,
  type Thread003Options,
  type Thread003Size,
  thread003WbPoints,
} from "./lib/claims/thread003.ts";
export * from "./lib/claims/thread003_wb.ts";
export * from "./lib/claims/thread003_netfs.ts";
export * from "./lib/claims/thread003_migrate.ts";
export * from "./lib/claims/thread003_figures.ts";
export * from "./lib/claims/thread003_eras.ts";
// thread 004: unsplittable folios, large-folio migration, min order (claims C4.1–C4.5; the
// `claims` array via all.ts)
export { c41Sweeps, thread004Claims } from "./lib/claims/thread004.ts";
export * from "./lib/claims/thread004_migrate.ts";
export * from "./lib/claims/thread004_split.ts";
export * from "./lib/claims/thread004_fallback.ts";
export * from "./lib/claims/thread004_unmovable.ts";
export * from "./lib/claims/thread004_figures.ts";

// --- figures (lib/plot) ---
export * from "./lib/plot/document.ts";
export * from "./lib/plot/display.ts";
export * from "./lib/plot/table.ts";
export * from "./lib/plot/memory_map.ts";
export * from "./lib/plot/timeline.ts";
export * from "./lib/plot/growth.ts";
