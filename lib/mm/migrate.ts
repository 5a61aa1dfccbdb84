/**
 * Folio migration: isolate folios, then move each to a new folio — lock it, wait for or refuse
 * writeback, unmap it, freeze its refcount at the expected value, switch the page-cache entry,
 * copy contents and flags, remap, free the source.
 *
 * Follows mm/migrate.c: `migrate_pages`, `migrate_pages_sync`, `migrate_pages_batch` (the
 * unmap and move phases, retries, the -ENOMEM large-folio split fallback and `nosplit` for
 * MR_NUMA_MISPLACED, `try_split_folio`), `migrate_folio_unmap`, `migrate_folio_move`,
 * `migrate_folio_undo_src` / `_dst`, `migrate_folio_done`, `putback_movable_pages`,
 * `alloc_migration_target`; read at torvalds/linux 0003e2a4 (a v6.7 tree), with the later
 * changes: MIGRATE_SYNC_NO_COPY is gone (v6.10); `try_split_folio` only trylocks in
 * MIGRATE_ASYNC (v6.10). The `->migrate_folio` side (`move_to_new_folio`,
 * `folio_migrate_mapping`, `filemap_migrate_folio`, `fallback_migrate_folio`, …) is in
 * migrate_folio.ts and re-exported here.
 *
 * Lock and wait rules of `migrate_folio_unmap` (the claims of threads 000 and 004 rest on them):
 * MIGRATE_ASYNC only trylocks (-EAGAIN); a PF_MEMALLOC task (direct compaction) never sleeps on
 * the lock; MIGRATE_SYNC_LIGHT gives up on a locked folio that is not uptodate (I/O in flight);
 * otherwise the task sleeps in `folio_lock` (the wait-for graph then shows who holds the lock).
 * Under writeback only MIGRATE_SYNC waits; the other modes get -EBUSY. Any reference beyond
 * `folio_expected_ref_count()` (a pipe buffer, a GUP pin, a PG_private_2 write's reference)
 * makes the refcount check fail with -EAGAIN even for an unlocked, clean folio. A mapping with
 * the proposed `->abandonFolio` hook (thread 000, abandon_read.ts; no kernel has it) is asked to
 * give up a read in flight before these rules apply.
 *
 * Lock order (as mm/migrate.c draws it, the parts modelled):
 *   folio lock (src) → folio lock (dst, trylock) → i_pages lock (implicit: a step is atomic)
 *
 * Left out: hugetlb (`migrate_hugetlbs`), non-LRU movable pages (`movable_operations`:
 * zsmalloc, balloon), KSM, device-private pages, the anon_vma reference, memcg and NUMA
 * statistics, TLB batching (`try_to_unmap_flush`), `thp_migration_supported()` is taken as
 * true, per-CPU LRU batches (`folio_add_lru` applies at once), the deferred-split queue.
 * Unmapping is mmap.ts's `tryToMigrate` / `removeMigrationPtes` (its reverse map); mappings it
 * does not know of (fragment.ts's folios, see `lruAddFragmentFolios`) count one reference each
 * (`_migrate_rmap.ts`). Anonymous folios are those whose mapping is not an
 * {@link AddressSpace} (e.g. `FRAGMENT_MAPPING`) or that are PG_swapbacked without a mapping
 * (mmap.ts's anonymous pages).
 *
 * CPU cost: each batch sleeps `cost.folioNs + cost.copyNsPerPage × pages` per folio moved, once,
 * after its move phase. // Divergence: the kernel spends that time inside the move phase, and
 * calls `cond_resched()` before every folio; here a preemption point comes before each retry
 * pass only (so a task holding a transient reference can drop it between passes).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { type Process, TaskFlag } from "../sim/engine.ts";
import type { Errno, KResult, MigrateMode } from "./address_space.ts";
import { folioAlloc, folioLock, folioPut, folioTrylock, folioUnlock } from "./folio.ts";
import { filemapReleaseFolio } from "./filemap.ts";
import { folioAddLru, folioIsFileLru, folioIsolateLru } from "./lru.ts";
import { MIGRATE, NIL, PG, pmdOrder } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioTestAnon, moveToNewFolio } from "./migrate_folio.ts";
import { GFP_KERNEL } from "./page_alloc.ts";
import { folioWaitWriteback } from "./writeback.ts";
import { removeMigrationPtes, tryToMigrate } from "./_migrate_rmap.ts";
import { folioAbandonRead } from "./abandon_read.ts";
import { splitFolioToList } from "./split.ts";

export {
  expectedRefCount,
  fallbackMigrateFolio,
  filemapMigrateFolio,
  folioMapping,
  folioMigrateCopy,
  folioMigrateFlags,
  folioMigrateMapping,
  folioTestAnon,
  migrateFolio,
  moveToNewFolio,
} from "./migrate_folio.ts";

/**
 * Why folios are migrated (`enum migrate_reason`, include/linux/migrate_mode.h, v6.12). Only
 * MR_NUMA_MISPLACED changes behaviour here: a large folio is not split when its destination
 * cannot be allocated.
 *
 * @example
 * ```ts
 * const r: MigrateReason = "MR_COMPACTION";
 * if (r !== "MR_COMPACTION") throw new Error("unreachable");
 * ```
 */
export type MigrateReason =
  | "MR_COMPACTION"
  | "MR_MEMORY_FAILURE"
  | "MR_MEMORY_HOTPLUG"
  | "MR_SYSCALL"
  | "MR_MEMPOLICY_MBIND"
  | "MR_NUMA_MISPLACED"
  | "MR_CONTIG_RANGE"
  | "MR_LONGTERM_PIN"
  | "MR_DEMOTION"
  | "MR_DAMON";

/**
 * `get_new_folio` (`new_folio_t`): allocate the destination for `src` (same order), returning
 * its head pfn with refcount 1, or -1 (the kernel's NULL, which migration reports as -ENOMEM).
 * A generator because the kernel's allocator may sleep (reclaim) and compaction's scanner
 * reschedules.
 *
 * @example No destination: migrate_pages() returns -ENOMEM
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, isolateFolioForMigration, migratePages, Mm, type NewFolioFn, PG, putbackMovablePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * isolateFolioForMigration(mm, f);
 * const noMemory: NewFolioFn = function* () { return -1; }; // the allocator's NULL
 * env.spawn("compact", function* () {
 *   const r = yield* migratePages(mm, [f], noMemory, "MIGRATE_ASYNC", "MR_COMPACTION");
 *   if (r.errno !== "ENOMEM" || r.failed.join() !== `${f}`) throw new Error(JSON.stringify(r.errno));
 *   putbackMovablePages(mm, r.failed);
 * });
 * env.run();
 * ```
 */
export type NewFolioFn = (mm: Mm, src: number) => Process<number>;

/**
 * `put_new_folio` (`free_folio_t`): take back a destination that was not used.
 *
 * @example A destination that was allocated but not used goes back through put_new_folio
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioGet, folioPut, type FreeFolioFn, isolateFolioForMigration, migratePages, Mm, PG, putbackMovablePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioGet(mm, f); // an unexpected reference: every attempt fails with -EAGAIN
 * isolateFolioForMigration(mm, f);
 * let returned = 0;
 * const putNewFolio: FreeFolioFn = (mm, dst) => { returned++; folioPut(mm, dst); };
 * const free = mm.zone.nrFreePages;
 * env.spawn("migrate", function* () {
 *   const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL", { putNewFolio });
 *   putbackMovablePages(mm, r.failed);
 * });
 * env.run();
 * if (returned === 0 || mm.zone.nrFreePages !== free) throw new Error(`${returned} destinations returned`);
 * ```
 */
export type FreeFolioFn = (mm: Mm, dst: number) => void;

/**
 * CPU time of migration (model parameters, no sysctl): what a batch sleeps per folio moved.
 *
 * @example
 * ```ts
 * import { MigrateCost } from "@mmsim/mmsim";
 * const c = MigrateCost.parse({});
 * if (c.copyNsPerPage !== 300) throw new Error("default");
 * ```
 */
export interface MigrateCost {
  /** Copying one base page (folio_copy): ~4 KiB at ~13 GB/s. */
  copyNsPerPage: number;
  /** Per folio: locks, rmap walks, migration entries, TLB flush, LRU. */
  folioNs: number;
}

/**
 * Input of {@link MigrateCost}: every field optional.
 *
 * @example Copy time grows with the folio's size
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioPut, isolateFolioForMigration, MigrateCost, type MigrateCostInput, migratePages, Mm, PG } from "@mmsim/mmsim";
 * const cost: MigrateCostInput = { copyNsPerPage: 1000 }; // folioNs keeps its default
 * if (MigrateCost.parse(cost).folioNs !== 1000) throw new Error("default per-folio cost");
 * const took: number[] = [];
 * for (const order of [0, 2]) {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 64 } });
 *   const m = AddressSpace.create(mm, { name: "f", maxOrder: 2, aops: { migrateFolio: filemapMigrateFolio } });
 *   const f = folioAlloc(mm, order);
 *   filemapAddFolio(mm, m, f, 0);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   isolateFolioForMigration(mm, f);
 *   folioPut(mm, f); // the allocation's reference
 *   env.spawn("migrate", function* () { yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL", { cost }); });
 *   env.run();
 *   took.push(env.nowNs);
 * }
 * if (took.join() !== "2000,5000") throw new Error(`${took}`); // 1000 + 1000 × pages
 * ```
 */
export type MigrateCostInput = Partial<MigrateCost>;

const migrateCostSchema = z.object({
  copyNsPerPage: z.number().min(0).default(300),
  folioNs: z.number().min(0).default(1000),
});
const _migrateCostTypes: Same<z.output<typeof migrateCostSchema>, MigrateCost> = true;
void _migrateCostTypes;

/** The {@link MigrateCost} schema. */
export const MigrateCost: ConfigSchema<MigrateCost, MigrateCostInput> = defineConfig(
  "MigrateCost",
  migrateCostSchema,
);

/**
 * Options of {@link migratePages}.
 *
 * @example
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioPut, isolateFolioForMigration, type MigrateOptions, migratePages, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const folios = [0, 1].map((i) => {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   isolateFolioForMigration(mm, f);
 *   folioPut(mm, f);
 *   return f;
 * });
 * const opts: MigrateOptions = { cost: { folioNs: 5000, copyNsPerPage: 0 } };
 * env.spawn("migrate", function* () { yield* migratePages(mm, folios, allocMigrationTarget, "MIGRATE_ASYNC", "MR_COMPACTION", opts); });
 * env.run();
 * if (env.nowNs !== 10_000) throw new Error(`two folios at 5 µs each, took ${env.nowNs}`);
 * ```
 */
export interface MigrateOptions {
  /** `put_new_folio`: where unused destinations go (default `folio_put`). */
  putNewFolio?: FreeFolioFn;
  /** CPU cost parameters. */
  cost?: MigrateCostInput;
}

/**
 * The final outcome of one source folio.
 *
 * @example
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolio, filemapGetEntry, filemapMigrateFolio, folioAlloc, folioPut, isolateFolioForMigration, type MigrateOutcome, migratePages, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 7);
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.data[f] = 42;
 * isolateFolioForMigration(mm, f);
 * folioPut(mm, f);
 * const out: MigrateOutcome[] = [];
 * env.spawn("migrate", function* () {
 *   out.push(...(yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL")).outcomes);
 * });
 * env.run();
 * const o = out[0]!;
 * if (o.rc !== "MIGRATEPAGE_SUCCESS" || o.attempts !== 1 || o.split !== null) throw new Error(JSON.stringify(o));
 * // The destination took the source's place and contents; the source was freed.
 * if (filemapGetEntry(m, 7) !== o.dst || mm.mem.data[o.dst] !== 42 || mm.mem.refcount[f] !== 0) throw new Error("moved");
 * ```
 */
export interface MigrateOutcome {
  /** Source head pfn. */
  folio: number;
  /** Its order. */
  order: number;
  /** `MIGRATEPAGE_SUCCESS` or the errno of the last attempt. */
  rc: "MIGRATEPAGE_SUCCESS" | Errno;
  /** The destination when migrated, else -1. */
  dst: number;
  /** Attempts made (unmap attempts; a move retry counts too). */
  attempts: number;
  /** When the folio was split after -ENOMEM: the pieces (each has its own outcome). */
  split: number[] | null;
}

/**
 * What {@link migratePages} did: the kernel's return value (`nrFailed`, or `errno` when it
 * returned an error code), its `migrate_pages_stats`, every folio's outcome, and histograms of
 * failure reasons. Besides the kernel's counters (pgmigrate_success / pgmigrate_fail /
 * thp_migration_success / _fail / _split), `mm.vmstat` gets the model counters
 * `migrate_split_attempt` and `migrate_split` (large folios of any order split after -ENOMEM).
 *
 * @example A pinned folio stays behind
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolio, filemapMigrateFolio, folioAlloc, folioGet, folioPut, isolateFolioForMigration, migratePages, type MigrateResult, Mm, PG, putbackMovablePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const [free, pinned] = [0, 1].map((i) => {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   isolateFolioForMigration(mm, f);
 *   folioPut(mm, f);
 *   return f;
 * }) as [number, number];
 * folioGet(mm, pinned); // e.g. a GUP pin
 * const results: MigrateResult[] = [];
 * env.spawn("migrate", function* () {
 *   const r = yield* migratePages(mm, [free, pinned], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
 *   results.push(r);
 *   putbackMovablePages(mm, r.failed);
 * });
 * env.run();
 * const r = results[0]!;
 * if (r.nrFailed !== 1 || r.nrSucceeded !== 1 || r.reasons.EAGAIN !== 1 || r.failed.join() !== `${pinned}`) {
 *   throw new Error(JSON.stringify({ ...r, outcomes: undefined }));
 * }
 * if (mm.vmstat.get("pgmigrate_success") !== 1 || mm.vmstat.get("pgmigrate_fail") !== 1) throw new Error("vmstat");
 * ```
 */
export interface MigrateResult {
  /**
   * Folios not migrated, as `migrate_pages` returns it (a split large folio counts once, and 0
   * if all its pieces moved); when `errno` is set, the number of folios left on the list.
   */
  nrFailed: number;
  /** The error `migrate_pages` returned (-ENOMEM), or null. */
  errno: Errno | null;
  /** stats.nr_succeeded: base pages migrated. */
  nrSucceeded: number;
  /** stats.nr_failed_pages: base pages that failed (untried ones not counted). */
  nrFailedPages: number;
  /** stats.nr_thp_succeeded (PMD-sized folios). */
  nrThpSucceeded: number;
  /** stats.nr_thp_failed. */
  nrThpFailed: number;
  /** stats.nr_thp_split. */
  nrThpSplit: number;
  /** Large folios split after -ENOMEM (any order; `nrThpSplit` counts PMD-sized ones). */
  nrSplit: number;
  /** Outcome per source folio and per split piece, in the order first seen. */
  outcomes: MigrateOutcome[];
  /** Final failure reason per folio that was not migrated. */
  reasons: Partial<Record<Errno, number>>;
  /** Every failed attempt's errno, retried ones included. */
  attemptReasons: Partial<Record<Errno, number>>;
  /** Folios left on the list: the caller puts them back (`putbackMovablePages`). */
  failed: number[];
}

/** NR_MAX_BATCHED_MIGRATION = HPAGE_PMD_NR (512 with 4 KiB pages). */
const NR_MAX_MIGRATE_PAGES_RETRY = 10;
const NR_MAX_MIGRATE_ASYNC_RETRY = 3;
const NR_MAX_MIGRATE_SYNC_RETRY = NR_MAX_MIGRATE_PAGES_RETRY - NR_MAX_MIGRATE_ASYNC_RETRY;

const SUCCESS = "MIGRATEPAGE_SUCCESS";
const UNMAP = "MIGRATEPAGE_UNMAP";
type UnmapRc = typeof SUCCESS | typeof UNMAP | Errno;

const ERR = new Map<Errno, KResult>();
function err(e: Errno): KResult {
  let r = ERR.get(e);
  if (!r) ERR.set(e, r = Object.freeze({ ok: false, errno: e }) as KResult);
  return r;
}

function isolatedItem(mm: Mm, folio: number): string {
  return folioIsFileLru(mm.mem, folio) ? "nr_isolated_file" : "nr_isolated_anon";
}

/**
 * Isolate a folio for migration (`folio_isolate_lru()` + NR_ISOLATED_* accounting, as
 * `isolate_folio_to_list()` and compaction do): take it off its LRU list with PG_lru cleared
 * and a reference taken. False if it was not on an LRU list (already isolated, or never added).
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, putbackMovablePages } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, f, 0);
 * const refs = () => mm.mem.refcount[f];
 * if (!isolateFolioForMigration(mm, f) || refs() !== 3) throw new Error("isolate");
 * putbackMovablePages(mm, [f]);
 * if (refs() !== 2) throw new Error("put back");
 * ```
 */
export function isolateFolioForMigration(mm: Mm, folio: number): boolean {
  if (mm.mem.head[folio] !== NIL || mm.mem.refcount[folio]! <= 0) return false;
  if (!folioIsolateLru(mm.lruvec, folio)) return false;
  mm.vmstat.inc(isolatedItem(mm, folio), 1 << mm.mem.order[folio]!);
  return true;
}

/**
 * `putback_movable_pages()` (mm/migrate.c): return isolated folios to the LRU and drop the
 * isolation reference (`folio_putback_lru`); the last reference frees the folio.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "f" }), f, 0);
 * isolateFolioForMigration(mm, f);
 * putbackMovablePages(mm, [f]);
 * if (!mm.mem.testFlag(f, PG.lru) || mm.vmstat.get("nr_isolated_file") !== 0) throw new Error();
 * ```
 */
export function putbackMovablePages(mm: Mm, folios: readonly number[]): void {
  const mem = mm.mem;
  for (const folio of folios) {
    mm.vmstat.dec(isolatedItem(mm, folio), 1 << mem.order[folio]!);
    folioAddLru(mm.lruvec, folio);
    // Divergence: free_pages_prepare() clears an anonymous folio's mapping when this is the
    // last reference; folio.ts's free path reports any mapping, so it is cleared here.
    if (mem.refcount[folio] === 1 && mem.mapping[folio] !== 0 && folioTestAnon(mm, folio)) {
      mem.mapping[folio] = 0;
    }
    folioPut(mm, folio);
  }
}

/**
 * `alloc_migration_target()` (mm/migrate.c): a destination of the source's order from the
 * zone, MOVABLE (so never in an isolated pageblock). Divergence: no reclaim (`__GFP_RECLAIM`
 * is cleared for large folios in the kernel anyway; order-0 targets could reclaim there).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const src = folioAlloc(mm, 2);
 * let dst = -1;
 * env.spawn("t", function* () { dst = yield* allocMigrationTarget(mm, src); });
 * env.run();
 * if (mm.mem.order[dst] !== 2) throw new Error("same order");
 * ```
 */
// deno-lint-ignore require-yield
export function* allocMigrationTarget(mm: Mm, src: number): Process<number> {
  return folioAlloc(mm, mm.mem.order[src]!, MIGRATE.MOVABLE);
}

// ------------------------------------------------------------------ one folio

/** State of one `migratePages` call. */
class Ctx {
  readonly stats = {
    nrSucceeded: 0,
    nrFailedPages: 0,
    nrThpSucceeded: 0,
    nrThpFailed: 0,
    nrThpSplit: 0,
    nrSplit: 0,
  };
  readonly outcomes: MigrateOutcome[] = [];
  readonly current = new Map<number, MigrateOutcome>();
  readonly attemptReasons: Partial<Record<Errno, number>> = {};
  /** dst → page_was_mapped (the kernel keeps it in dst->private). */
  readonly wasMapped = new Map<number, boolean>();
  readonly cost: MigrateCost;
  readonly pmd: number;
  readonly nosplit: boolean;
  /** dst of the last UNMAP result. */
  lastDst = NIL;
  /** CPU time owed by the batch. */
  owedNs = 0;
  constructor(
    readonly mm: Mm,
    readonly getNewFolio: NewFolioFn,
    readonly putNewFolio: FreeFolioFn | undefined,
    readonly reason: MigrateReason,
    cost: MigrateCostInput | undefined,
  ) {
    this.cost = MigrateCost.parse(cost ?? {});
    this.pmd = pmdOrder(mm.mem.pageSizeBytes);
    this.nosplit = reason === "MR_NUMA_MISPLACED";
  }
  outcome(folio: number): MigrateOutcome {
    let o = this.current.get(folio);
    if (!o) {
      o = {
        folio,
        order: this.mm.mem.order[folio]!,
        rc: "EAGAIN",
        dst: NIL,
        attempts: 0,
        split: null,
      };
      this.current.set(folio, o);
      this.outcomes.push(o);
    }
    return o;
  }
  failed(folio: number, e: Errno): void {
    this.outcome(folio).rc = e;
    this.attemptReasons[e] = (this.attemptReasons[e] ?? 0) + 1;
  }
}

/** `migrate_folio_done()`: the source is migrated (or was freed under us): drop isolation. */
function migrateFolioDone(ctx: Ctx, src: number): void {
  const mm = ctx.mm;
  mm.vmstat.dec(isolatedItem(mm, src), 1 << mm.mem.order[src]!);
  // Divergence: free_pages_prepare() clears an anonymous folio's mapping; folio.ts's free path
  // reports any mapping as a bad page, so it is cleared here.
  if (folioTestAnon(mm, src)) mm.mem.mapping[src] = 0;
  if (ctx.reason !== "MR_MEMORY_FAILURE") folioPut(mm, src);
}

/** `migrate_folio_undo_src()`. */
function undoSrc(ctx: Ctx, src: number, wasMapped: boolean, locked: boolean, ret: number[] | null) {
  if (wasMapped) removeMigrationPtes(ctx.mm, src, src);
  if (locked) folioUnlock(ctx.mm, src);
  if (ret) ret.push(src);
}

/** `migrate_folio_undo_dst()`. */
function undoDst(ctx: Ctx, dst: number, locked: boolean): void {
  if (locked) folioUnlock(ctx.mm, dst);
  if (ctx.putNewFolio) ctx.putNewFolio(ctx.mm, dst);
  else folioPut(ctx.mm, dst);
}

/**
 * `migrate_folio_unmap()` (mm/migrate.c): allocate the destination, lock the source (mode
 * rules in the module doc), handle writeback, lock the destination, unmap the source. Returns
 * MIGRATEPAGE_UNMAP (ready to move; the destination is `ctx.lastDst`), MIGRATEPAGE_SUCCESS
 * (the folio was freed under us), -ENOMEM (no destination), -EAGAIN (retry) or another errno
 * (the folio was put on `ret`).
 */
function* migrateFolioUnmap(
  ctx: Ctx,
  src: number,
  mode: MigrateMode,
  ret: number[],
): Process<UnmapRc> {
  const mm = ctx.mm, mem = mm.mem;
  ctx.outcome(src).attempts++;
  if (mem.refcount[src] === 1) {
    // Folio was freed from under us. So we are done.
    mem.clearFlag(src, PG.active);
    mem.clearFlag(src, PG.unevictable);
    migrateFolioDone(ctx, src);
    ctx.outcome(src).rc = SUCCESS;
    return SUCCESS;
  }
  const dst = yield* ctx.getNewFolio(mm, src);
  if (dst < 0) {
    ctx.failed(src, "ENOMEM");
    return "ENOMEM";
  }
  mem.private[dst] = 0;
  let rc: Errno = "EAGAIN";
  let locked = false, dstLocked = false, wasMapped = false;
  out: {
    // Proposal (thread 000, no kernel has it): the filesystem may abandon a read in flight.
    if (!folioTrylock(mm, src) && !(folioAbandonRead(mm, src, mode) && folioTrylock(mm, src))) {
      if (mode === "MIGRATE_ASYNC") break out;
      // Not safe for direct compaction to call lock_page (PF_MEMALLOC).
      if (mm.env.current && (mm.env.current.flags & TaskFlag.MEMALLOC) !== 0) break out;
      // In "light" mode, wait for transient locks but not for I/O.
      if (mode === "MIGRATE_SYNC_LIGHT" && !mem.testFlag(src, PG.uptodate)) break out;
      yield* folioLock(mm, src);
    }
    locked = true;
    if (mem.testFlag(src, PG.writeback)) {
      // Only a full synchronous migration waits for writeback.
      if (mode !== "MIGRATE_SYNC") {
        rc = "EBUSY";
        break out;
      }
      yield* folioWaitWriteback(mm, src);
    }
    if (!folioTrylock(mm, dst)) break out;
    dstLocked = true;
    if (mem.mapping[src] === 0 && !folioTestAnon(mm, src)) {
      // An orphaned (truncated) folio with private data: try to free it, retry.
      if (mem.testFlag(src, PG.private)) {
        if (!mem.testFlag(src, PG.writeback)) filemapReleaseFolio(mm, src, GFP_KERNEL);
        break out;
      }
    } else if (mem.mapcount[src]! > 0) {
      // Establish migration entries.
      tryToMigrate(mm, src);
      wasMapped = true;
    }
    if (mem.mapcount[src] === 0) {
      ctx.wasMapped.set(dst, wasMapped);
      ctx.lastDst = dst;
      return UNMAP;
    }
  }
  // A folio that has not been unmapped is restored to the right list unless we retry.
  undoSrc(ctx, src, wasMapped, locked, rc === "EAGAIN" ? null : ret);
  undoDst(ctx, dst, dstLocked);
  ctx.failed(src, rc);
  return rc;
}

/** `migrate_folio_move()` (mm/migrate.c): move the unmapped, locked source to `dst`. */
function* migrateFolioMove(
  ctx: Ctx,
  src: number,
  dst: number,
  mode: MigrateMode,
  ret: number[],
): Process<typeof SUCCESS | Errno> {
  const mm = ctx.mm;
  const wasMapped = ctx.wasMapped.get(dst) ?? false;
  const rc = yield* moveToNewFolio(mm, dst, src, mode);
  if (!rc.ok) {
    ctx.failed(src, rc.errno);
    if (rc.errno === "EAGAIN") return "EAGAIN"; // keep dst recorded, retry the move
    ctx.wasMapped.delete(dst);
    undoSrc(ctx, src, wasMapped, true, ret);
    undoDst(ctx, dst, true);
    return rc.errno;
  }
  ctx.wasMapped.delete(dst);
  // Push dst to the LRU first, so that remapping an mlocked folio finds it there.
  folioAddLru(mm.lruvec, dst);
  if (wasMapped) removeMigrationPtes(mm, src, dst);
  folioUnlock(mm, dst);
  folioPut(mm, dst); // the new owners hold it now
  const order = mm.mem.order[src]!;
  ctx.owedNs += ctx.cost.folioNs + ctx.cost.copyNsPerPage * (1 << order);
  const o = ctx.outcome(src);
  o.rc = SUCCESS;
  o.dst = dst;
  mm.env.emit("mm_migrate_folio", src, mode, dst);
  folioUnlock(mm, src);
  migrateFolioDone(ctx, src);
  return SUCCESS;
}

/**
 * `try_split_folio()` (mm/migrate.c, v6.10+): lock (trylock in MIGRATE_ASYNC) and split the
 * folio to the mapping's minimum order onto `splitFolios`; the folio itself goes last.
 */
function* trySplitFolio(
  ctx: Ctx,
  folio: number,
  splitFolios: number[],
  mode: MigrateMode,
): Process<KResult<number[]>> {
  const mm = ctx.mm;
  if (mode === "MIGRATE_ASYNC") {
    if (!folioTrylock(mm, folio)) return err("EAGAIN") as KResult<number[]>;
  } else yield* folioLock(mm, folio);
  const rc = splitFolioToList(mm, folio, splitFolios);
  folioUnlock(mm, folio);
  if (rc.ok) splitFolios.push(folio);
  return rc;
}

// ------------------------------------------------------------------ batches

/**
 * `migrate_pages_batch()` (mm/migrate.c): unmap as many folios of `from` as possible, then move
 * them, each phase up to `nrPass` passes while some return -EAGAIN. `from` keeps the folios to
 * retry; permanent failures go to `ret`; large folios split after -ENOMEM go to `splitFolios`.
 * Returns the number of failures or -ENOMEM (as "ENOMEM").
 */
function* migratePagesBatch(
  ctx: Ctx,
  from: number[],
  mode: MigrateMode,
  ret: number[],
  splitFolios: number[] | null,
  nrPass: number,
): Process<number | "ENOMEM"> {
  const mm = ctx.mm, mem = mm.mem, stats = ctx.stats;
  let retry = 1, thpRetry = 1, nrFailed = 0, nrRetryPages = 0;
  let rcSaved: "ENOMEM" | null = null;
  let rc: number | "ENOMEM" = 0;
  const unmapFolios: number[] = [];
  const dstFolios: number[] = [];
  let skipToOut = false;
  let enomem = false;
  unmapPhase: for (let pass = 0; pass < nrPass && retry; pass++) {
    // cond_resched() (per folio in the kernel; here once before each retry pass).
    if (pass > 0) yield mm.env.point();
    retry = 0;
    thpRetry = 0;
    nrRetryPages = 0;
    const list = from.splice(0);
    for (let i = 0; i < list.length; i++) {
      const folio = list[i]!;
      const order = mem.order[folio]!;
      const isThp = order > 0 && order >= ctx.pmd ? 1 : 0;
      const nrPages = 1 << order;
      const r = yield* migrateFolioUnmap(ctx, folio, mode, ret);
      switch (r) {
        case "ENOMEM": {
          // When memory is low, don't bother to try to migrate other folios.
          nrFailed++;
          stats.nrThpFailed += isThp;
          // Large folio NUMA faulting doesn't split to retry.
          if (order > 0 && !ctx.nosplit && splitFolios) {
            mm.vmstat.inc("migrate_split_attempt"); // model counter (any order)
            const s = yield* trySplitFolio(ctx, folio, splitFolios, mode);
            if (s.ok) {
              mm.vmstat.inc("migrate_split"); // model counter (any order)
              stats.nrThpSplit += isThp;
              stats.nrSplit++;
              const o = ctx.outcome(folio);
              o.split = s.value;
              ctx.current.delete(folio);
              break;
            } else if (ctx.reason === "MR_LONGTERM_PIN" && s.errno === "EAGAIN") {
              // Try again to split large folio to mitigate the failure of longterm pinning.
              retry++;
              thpRetry += isThp;
              nrRetryPages += nrPages;
              nrFailed--;
              stats.nrThpFailed -= isThp;
              from.push(folio);
              break;
            }
          }
          stats.nrFailedPages += nrPages + nrRetryPages;
          stats.nrThpFailed += thpRetry;
          rcSaved = "ENOMEM";
          rc = "ENOMEM";
          enomem = true;
          from.push(folio);
          for (let j = i + 1; j < list.length; j++) from.push(list[j]!);
          if (unmapFolios.length === 0) skipToOut = true;
          break unmapPhase;
        }
        case "EAGAIN":
          retry++;
          thpRetry += isThp;
          nrRetryPages += nrPages;
          from.push(folio);
          break;
        case SUCCESS:
          stats.nrSucceeded += nrPages;
          stats.nrThpSucceeded += isThp;
          break;
        case UNMAP:
          unmapFolios.push(folio);
          dstFolios.push(ctx.lastDst);
          break;
        default:
          // Permanent failure (-EBUSY, etc.): not retried in the next pass.
          nrFailed++;
          stats.nrThpFailed += isThp;
          stats.nrFailedPages += nrPages;
          break;
      }
    }
  }
  if (!enomem) {
    nrFailed += retry;
    stats.nrThpFailed += thpRetry;
    stats.nrFailedPages += nrRetryPages;
  }
  if (!skipToOut) {
    // move:
    retry = 1;
    for (let pass = 0; pass < nrPass && retry; pass++) {
      if (pass > 0) yield mm.env.point(); // cond_resched()
      retry = 0;
      thpRetry = 0;
      nrRetryPages = 0;
      const srcs = unmapFolios.splice(0);
      const dsts = dstFolios.splice(0);
      for (let i = 0; i < srcs.length; i++) {
        const folio = srcs[i]!, dst = dsts[i]!;
        const order = mem.order[folio]!;
        const isThp = order > 0 && order >= ctx.pmd ? 1 : 0;
        const nrPages = 1 << order;
        const r = yield* migrateFolioMove(ctx, folio, dst, mode, ret);
        if (r === "EAGAIN") {
          retry++;
          thpRetry += isThp;
          nrRetryPages += nrPages;
          unmapFolios.push(folio);
          dstFolios.push(dst);
        } else if (r === SUCCESS) {
          stats.nrSucceeded += nrPages;
          stats.nrThpSucceeded += isThp;
        } else {
          nrFailed++;
          stats.nrThpFailed += isThp;
          stats.nrFailedPages += nrPages;
        }
      }
    }
    nrFailed += retry;
    stats.nrThpFailed += thpRetry;
    stats.nrFailedPages += nrRetryPages;
    rc = rcSaved ?? nrFailed;
  }
  // out: clean up folios left unmapped (a move kept failing with -EAGAIN).
  for (let i = 0; i < unmapFolios.length; i++) {
    const folio = unmapFolios[i]!, dst = dstFolios[i]!;
    const wasMapped = ctx.wasMapped.get(dst) ?? false;
    ctx.wasMapped.delete(dst);
    undoSrc(ctx, folio, wasMapped, true, ret);
    undoDst(ctx, dst, true);
  }
  if (ctx.owedNs > 0) {
    const ns = Math.round(ctx.owedNs);
    ctx.owedNs = 0;
    yield mm.env.sleep(ns);
  }
  return rc;
}

/**
 * `migrate_pages_sync()` (mm/migrate.c): first the whole batch in MIGRATE_ASYNC (3 passes),
 * then every folio that failed, one at a time, in `mode` (7 passes). A folio under writeback
 * thus gets -EBUSY from the async pass and is waited for by the synchronous one.
 */
function* migratePagesSync(
  ctx: Ctx,
  from: number[],
  mode: MigrateMode,
  ret: number[],
  splitFolios: number[],
): Process<number | "ENOMEM"> {
  const stats = ctx.stats;
  let nrFailed = 0;
  const folios: number[] = [];
  const astats = { ...stats };
  const rc = yield* migratePagesBatch(
    ctx,
    from,
    "MIGRATE_ASYNC",
    folios,
    splitFolios,
    NR_MAX_MIGRATE_ASYNC_RETRY,
  );
  // The async pass's failures are not counted: they are retried synchronously below.
  const nrThpSplit = stats.nrThpSplit - astats.nrThpSplit;
  const nrSplit = stats.nrSplit - astats.nrSplit;
  if (rc === "ENOMEM") {
    ret.push(...folios);
    return rc;
  }
  stats.nrFailedPages = astats.nrFailedPages;
  stats.nrThpFailed = astats.nrThpFailed + nrThpSplit;
  // "Count nr_split only, since it includes nr_thp_split" (a259945efe6a, v6.7): a split large
  // folio of any order counts as one failure.
  nrFailed += nrSplit;
  // Fall back to migrating all failed folios one by one synchronously.
  from.push(...folios);
  while (from.length > 0) {
    const one = [from.shift()!];
    const r = yield* migratePagesBatch(ctx, one, mode, ret, splitFolios, NR_MAX_MIGRATE_SYNC_RETRY);
    ret.push(...one);
    if (r === "ENOMEM") return r;
    nrFailed += r;
  }
  return nrFailed;
}

/**
 * `migrate_pages()` (mm/migrate.c): migrate the isolated folios `folios` to destinations from
 * `getNewFolio`, in batches of up to 512 pages: MIGRATE_ASYNC with 10 passes, or
 * `migrate_pages_sync`; then the pieces of large folios split after -ENOMEM, in MIGRATE_ASYNC
 * with one pass. Counts pgmigrate_success / pgmigrate_fail / thp_migration_* in `mm.vmstat`.
 * Failed folios are left in `result.failed` for the caller's `putbackMovablePages`.
 *
 * @example A folio with an extra (GUP-like) reference is not migrated: -EAGAIN
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, folioGet, PG, putbackMovablePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const mapping = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioGet(mm, f); // pinned
 * isolateFolioForMigration(mm, f);
 * env.spawn("migrate", function* () {
 *   const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
 *   if (r.nrFailed !== 1 || r.outcomes[0]!.rc !== "EAGAIN") throw new Error("EAGAIN expected");
 *   putbackMovablePages(mm, r.failed);
 * });
 * env.run();
 * ```
 */
export function* migratePages(
  mm: Mm,
  folios: readonly number[],
  getNewFolio: NewFolioFn,
  mode: MigrateMode,
  reason: MigrateReason,
  options: MigrateOptions = {},
): Process<MigrateResult> {
  const ctx = new Ctx(mm, getNewFolio, options.putNewFolio, reason, options.cost);
  const mem = mm.mem;
  mm.env.emit("mm_migrate_pages_start", null, mode, reason);
  for (const f of folios) ctx.outcome(f);
  const from = folios.slice();
  const ret: number[] = [];
  const splitFolios: number[] = [];
  const maxBatch = 1 << ctx.pmd; // NR_MAX_BATCHED_MIGRATION = HPAGE_PMD_NR
  let rcGather = 0;
  let errno: Errno | null = null;
  while (from.length > 0) {
    let nrPages = 0;
    let cut = from.length;
    for (let i = 0; i < from.length; i++) {
      nrPages += 1 << mem.order[from[i]!]!;
      if (nrPages >= maxBatch) {
        cut = i + 1;
        break;
      }
    }
    const batch = from.splice(0, cut);
    const rc = mode === "MIGRATE_ASYNC"
      ? yield* migratePagesBatch(
        ctx,
        batch,
        mode,
        ret,
        splitFolios,
        NR_MAX_MIGRATE_PAGES_RETRY,
      )
      : yield* migratePagesSync(ctx, batch, mode, ret, splitFolios);
    ret.push(...batch);
    if (rc === "ENOMEM") {
      errno = "ENOMEM";
      ret.push(...splitFolios.splice(0));
      break;
    }
    if (splitFolios.length > 0) {
      // Failure isn't counted: the split large folio already counted once. Minimal effort.
      const pieces = splitFolios.splice(0);
      yield* migratePagesBatch(ctx, pieces, "MIGRATE_ASYNC", ret, null, 1);
      ret.push(...pieces);
    }
    rcGather += rc;
  }
  const failed = [...ret, ...from];
  // Return 0 if all split folios of fail-to-migrate large folios were migrated.
  if (failed.length === 0) rcGather = 0;
  const s = ctx.stats;
  mm.vmstat.inc("pgmigrate_success", s.nrSucceeded);
  mm.vmstat.inc("pgmigrate_fail", s.nrFailedPages);
  mm.vmstat.inc("thp_migration_success", s.nrThpSucceeded);
  mm.vmstat.inc("thp_migration_fail", s.nrThpFailed);
  mm.vmstat.inc("thp_migration_split", s.nrThpSplit);
  const reasons: Partial<Record<Errno, number>> = {};
  for (const o of ctx.outcomes) {
    if (o.rc !== SUCCESS && o.split === null) reasons[o.rc] = (reasons[o.rc] ?? 0) + 1;
  }
  mm.env.emit("mm_migrate_pages", null, { mode, reason }, {
    succeeded: s.nrSucceeded,
    failed: s.nrFailedPages,
    thpSucceeded: s.nrThpSucceeded,
    thpFailed: s.nrThpFailed,
    thpSplit: s.nrThpSplit,
  });
  return {
    nrFailed: errno ? failed.length : rcGather,
    errno,
    nrSucceeded: s.nrSucceeded,
    nrFailedPages: s.nrFailedPages,
    nrThpSucceeded: s.nrThpSucceeded,
    nrThpFailed: s.nrThpFailed,
    nrThpSplit: s.nrThpSplit,
    nrSplit: s.nrSplit,
    outcomes: ctx.outcomes,
    reasons,
    attemptReasons: ctx.attemptReasons,
    failed,
  };
}
