/**
 * Page reclaim: shrink_folio_list() with its three writeback cases, the inactive/active file
 * list scans of one node, direct reclaim (try_to_free_pages, from any task — a FUSE server
 * thread included), memcg reclaim on cgroup v1 or v2 (try_to_free_mem_cgroup_pages) and
 * kswapd.
 *
 * Follows mm/vmscan.c as of v6.16: `shrink_folio_list` (the "case 1/2/3" block for folios under
 * writeback, with 0c4f8ed498ce's AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM test in case 2, behind the
 * era switch `mm.era.reclaimSkipsMayDeadlock`), `folio_check_dirty_writeback`,
 * `folio_check_references`, `may_enter_fs`, `writeback_throttling_sane`, `__remove_mapping`,
 * `pageout`, `too_many_isolated`, `shrink_inactive_list`, `shrink_lruvec` (file lists only),
 * `shrink_node`, `reclaim_throttle`, `do_try_to_free_pages`, `try_to_free_pages`,
 * `try_to_free_mem_cgroup_pages`, `wakeup_kswapd`, `kswapd`, `balance_pgdat`,
 * `pgdat_balanced`; mm/rmap.c `folio_referenced` (young PTEs from mmap.ts).
 *
 * Dirty file folios (v6.x): reclaim does not write them. Direct reclaim, and kswapd until the
 * node is flagged PGDAT_DIRTY and the folio already carries PG_reclaim, marks them PG_reclaim
 * (NR_VMSCAN_IMMEDIATE) and activates them, and shrink_inactive_list wakes the flusher when
 * every folio it took was dirty and not queued. When kswapd would call pageout(), the model's
 * mappings have no `->writepage` (most filesystems had dropped it by v6.16; v6.17 removed it),
 * so pageout() returns PAGE_ACTIVATE, as the kernel does for such mappings.
 *
 * Legacy memcg v1 is a {@link ScanControl} option (`targetMemcgV1`): writeback_throttling_sane()
 * is false only for cgroup reclaim on v1, which is the one case (3) where reclaim waits on
 * PG_writeback — the wait Miklos Szeredi named in thread 001 (CLAIMS.md C1.3, C1.4).
 *
 * Left out: anonymous memory and swap (get_scan_count always SCAN_FILE: folios with
 * PG_swapbacked are activated as if folio_alloc_swap() failed), MGLRU, memcg trees and
 * protection (memcg reclaim scans the one lruvec, as if all its pages were charged to the
 * target), shrinkers/slab, NUMA demotion, compaction-driven reclaim (should_continue_reclaim,
 * compaction_ready), workingset shadow entries, throttle_direct_reclaim (pfmemalloc), the
 * proportional scan-target adjustment of shrink_lruvec (scanning stops once the target is
 * met), kswapd's watermark boosting, short pre-sleep nap and kcompactd wakeups, laptop mode.
 * `reclaim_throttle()` sleeps its full timeout (the kernel may wake a WRITEBACK throttle early
 * from acct_reclaim_writeback).
 *
 * @module
 */

import { type Process, type Task, TaskFlag } from "../sim/engine.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import { AddressSpace, filemapRemoveFolio } from "./address_space.ts";
import { filemapReleaseFolio, folioNeedsRelease } from "./filemap.ts";
import {
  folioMapped,
  folioPut,
  folioRefFreeze,
  folioRefUnfreeze,
  folioTrylock,
  folioUnlock,
} from "./folio.ts";
import { wakeupFlusherThreads } from "./fs_writeback.ts";
import { folioMaybeDmaPinned } from "./gup.ts";
import {
  folioAddLru,
  folioEvictable,
  folioIsFileLru,
  FolioList,
  inactiveIsLow,
  isolateLruFolios,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_FILE,
  lruNoteCost,
  shrinkActiveList,
  SWAP_CLUSTER_MAX,
} from "./lru.ts";
import { NIL, PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioRmap, PTE, tryToUnmap, VM } from "./mmap.ts";
import {
  __GFP_FS,
  __GFP_HIGH,
  __GFP_IO,
  __GFP_MEMALLOC,
  __GFP_NOFAIL,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_RETRY_MAYFAIL,
  currentGfpContext,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  registerDefaultPageAllocHooks,
} from "./page_alloc.ts";
import { folioWaitWriteback } from "./writeback.ts";

/**
 * DEF_PRIORITY (mm/vmscan.c): the first scan covers lru_size >> 12 pages.
 *
 * @example A pass scans lru_size >> priority pages
 * ```ts
 * import { AddressSpace, DEF_PRIORITY, Engine, filemapAddFolio, folioAlloc, folioPut, GFP_KERNEL, Mm, PG, scanControl, shrinkNode } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 64; i++) {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioPut(mm, f);
 * }
 * const reclaimed: number[] = [];
 * env.spawn("reclaim", function* () {
 *   for (const priority of [DEF_PRIORITY, 0]) {
 *     reclaimed.push(yield* shrinkNode(mm, scanControl({ gfpMask: GFP_KERNEL, priority })));
 *   }
 * });
 * env.run();
 * // 64 >> 12 = 0: the first pass at DEF_PRIORITY looks at nothing; priority 0 scans it all.
 * if (scanControl({ gfpMask: GFP_KERNEL }).priority !== DEF_PRIORITY || reclaimed[0] !== 0 || !(reclaimed[1]! > 0)) {
 *   throw new Error(`${reclaimed}`);
 * }
 * ```
 */
export const DEF_PRIORITY = 12;
/**
 * MAX_RECLAIM_RETRIES (mm/internal.h): kswapd gives up on a node after this many failures.
 *
 * @example kswapd that failed MAX_RECLAIM_RETRIES times is not woken any more
 * ```ts
 * import { Engine, GFP_KERNEL, MAX_RECLAIM_RETRIES, MIGRATE, Mm, pgdatFlags, spawnKswapd, wakeupKswapd } from "@mmsim/mmsim";
 * const env = new Engine({ trace: true });
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * while (mm.zone.nrFreePages > mm.zone.wmarkMin) mm.zone.allocPages(0, MIGRATE.UNMOVABLE); // unbalanced
 * spawnKswapd(mm);
 * const wakes: number[] = [];
 * env.spawn("allocator", function* (env) {
 *   yield env.sleep(1); // kswapd is asleep in kswapd_try_to_sleep
 *   pgdatFlags(mm).kswapdFailures = MAX_RECLAIM_RETRIES;
 *   wakeupKswapd(mm, 0, GFP_KERNEL);
 *   wakes.push(env.trace!.ofKind("mm_vmscan_wakeup_kswapd").length);
 *   pgdatFlags(mm).kswapdFailures = 0;
 *   wakeupKswapd(mm, 0, GFP_KERNEL);
 *   wakes.push(env.trace!.ofKind("mm_vmscan_wakeup_kswapd").length);
 * });
 * env.run();
 * if (wakes.join() !== "0,1") throw new Error(`${wakes}`);
 * ```
 */
export const MAX_RECLAIM_RETRIES = 16;
/** GFP_RECLAIM_MASK (mm/internal.h): the bits memcg reclaim keeps from the caller's gfp. */
const GFP_RECLAIM_MASK = __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN |
  __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC;
/** One jiffy at HZ=250, in ns. */
const JIFFY_NS = 4_000_000;

/**
 * Per-scan counters of `struct scan_control` `nr` (summed over shrink_inactive_list calls).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioMarkDirty, folioPut, GFP_KERNEL, Mm, PG, scanControl, type ScanNr, shrinkNode } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 8; i++) {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioMarkDirty(mm, f); // nobody started writeback yet
 *   folioPut(mm, f);
 * }
 * const sc = scanControl({ gfpMask: GFP_KERNEL, priority: 0 });
 * env.spawn("reclaim", function* () { yield* shrinkNode(mm, sc); });
 * env.run();
 * const nr: ScanNr = sc.nr;
 * if (nr.taken !== 8 || nr.fileTaken !== 8 || nr.unqueuedDirty !== 8 || nr.writeback !== 0) throw new Error(JSON.stringify(nr));
 * ```
 */
export interface ScanNr {
  /** Dirty or writeback folios taken (stat.nr_dirty). */
  dirty: number;
  /** Dirty folios not yet under writeback. */
  unqueuedDirty: number;
  /** Folios under writeback that already had PG_reclaim. */
  congested: number;
  /** Folios under writeback marked for immediate reclaim (case 2). */
  writeback: number;
  /** Folios counted by kswapd in case 1. */
  immediate: number;
  /** File pages taken off the LRU. */
  fileTaken: number;
  /** Pages taken off the LRU. */
  taken: number;
}

/**
 * `struct scan_control` (mm/vmscan.c), the parts modelled.
 *
 * @example Legacy memcg v1 reclaim waits for writeback (case 3)
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioEndWriteback, folioIsolateLru, folioPut, folioStartWriteback, GFP_KERNEL, Mm, PG, type ScanControl, scanControl, shrinkFolioList } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "fuse" }), f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioPut(mm, f);
 * folioStartWriteback(mm, f);
 * mm.mem.setFlag(f, PG.reclaim);
 * folioIsolateLru(mm.lruvec, f);
 * const sc: ScanControl = scanControl({ gfpMask: GFP_KERNEL, cgroupReclaim: true, targetMemcgV1: true });
 * let doneAt = -1, waited = 0;
 * env.spawn("memcg reclaim", function* (env) {
 *   const st = yield* shrinkFolioList(mm, [f], sc);
 *   waited = st.nrWaited;
 *   doneAt = env.nowNs;
 * });
 * env.spawn("end_io", function* (env) { yield env.sleep(1_000_000); yield* folioEndWriteback(mm, f); });
 * env.run();
 * if (waited !== 1 || doneAt !== 1_000_000) throw new Error(`waited ${waited}, done at ${doneAt}`);
 * ```
 */
export interface ScanControl {
  /** nr_to_reclaim: stop once this many pages were reclaimed. */
  nrToReclaim: number;
  /** gfp_mask of the allocation (after current_gfp_context). */
  gfpMask: number;
  /** order of the allocation. */
  order: number;
  /** priority: scan lru_size >> priority per round, from DEF_PRIORITY down to 0. */
  priority: number;
  /** may_writepage (!laptop_mode). */
  mayWritepage: boolean;
  /** may_unmap: mapped folios may be unmapped. */
  mayUnmap: boolean;
  /** may_swap (no swap in the model). */
  maySwap: boolean;
  /** cgroup_reclaim(sc): reclaim on behalf of a memory cgroup (target_mem_cgroup set). */
  cgroupReclaim: boolean;
  /**
   * The target memcg lives on the legacy cgroup v1 hierarchy: writeback_throttling_sane() is
   * false, so reclaim waits on writeback (case 3). Only meaningful with `cgroupReclaim`.
   */
  targetMemcgV1: boolean;
  /** may_deactivate & DEACTIVATE_FILE (set per shrink_node by prepare_scan_control). */
  mayDeactivate: boolean;
  /** force_deactivate: the retry of do_try_to_free_pages after skipped deactivation. */
  forceDeactivate: boolean;
  /** skipped_deactivate. */
  skippedDeactivate: boolean;
  /** nr_scanned. */
  nrScanned: number;
  /** nr_reclaimed. */
  nrReclaimed: number;
  /** The `nr` counters of the last shrink_node. */
  nr: ScanNr;
}

/**
 * A {@link ScanControl} with the defaults try_to_free_pages() uses: SWAP_CLUSTER_MAX pages,
 * DEF_PRIORITY, writepage/unmap/swap allowed, global reclaim.
 *
 * @example
 * ```ts
 * import { scanControl, GFP_NOFS, writebackThrottlingSane } from "@mmsim/mmsim";
 * const sc = scanControl({ gfpMask: GFP_NOFS, cgroupReclaim: true, targetMemcgV1: true });
 * if (sc.nrToReclaim !== 32 || writebackThrottlingSane(sc)) throw new Error();
 * ```
 */
export function scanControl(init: Partial<ScanControl> & { gfpMask: number }): ScanControl {
  return {
    nrToReclaim: SWAP_CLUSTER_MAX,
    order: 0,
    priority: DEF_PRIORITY,
    mayWritepage: true,
    mayUnmap: true,
    maySwap: true,
    cgroupReclaim: false,
    targetMemcgV1: false,
    mayDeactivate: true,
    forceDeactivate: false,
    skippedDeactivate: false,
    nrScanned: 0,
    nrReclaimed: 0,
    nr: zeroNr(),
    ...init,
  };
}

function zeroNr(): ScanNr {
  return {
    dirty: 0,
    unqueuedDirty: 0,
    congested: 0,
    writeback: 0,
    immediate: 0,
    fileTaken: 0,
    taken: 0,
  };
}

/**
 * `struct reclaim_stat` (include/linux/vmstat.h), plus the pages reclaimed.
 *
 * @example Reclaim frees a clean folio and leaves a dirty one marked for immediate reclaim
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioIsolateLru, folioMarkDirty, folioPut, GFP_KERNEL, Mm, PG, type ReclaimStat, scanControl, shrinkFolioList } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const [clean, dirty] = [0, 1].map((i) => {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioPut(mm, f);
 *   folioIsolateLru(mm.lruvec, f);
 *   return f;
 * }) as [number, number];
 * folioMarkDirty(mm, dirty);
 * const list = [clean, dirty];
 * const stats: ReclaimStat[] = [];
 * env.spawn("direct reclaim", function* () { stats.push(yield* shrinkFolioList(mm, list, scanControl({ gfpMask: GFP_KERNEL }))); });
 * env.run();
 * const st = stats[0]!;
 * if (st.nrReclaimed !== 1 || st.nrDirty !== 1 || st.nrUnqueuedDirty !== 1 || st.nrPageout !== 0) throw new Error(JSON.stringify(st));
 * if (list.join() !== `${dirty}` || !mm.mem.testFlag(dirty, PG.reclaim)) throw new Error("dirty folio kept, PG_reclaim set");
 * ```
 */
export interface ReclaimStat {
  /** nr_dirty: dirty or writeback folios (pages). */
  nrDirty: number;
  /** nr_unqueued_dirty: dirty, not under writeback. */
  nrUnqueuedDirty: number;
  /** nr_congested: under writeback with PG_reclaim already set. */
  nrCongested: number;
  /** nr_writeback: under writeback, marked for immediate reclaim and kept (case 2). */
  nrWriteback: number;
  /** nr_immediate: kswapd found PG_reclaim folios cycling (case 1). */
  nrImmediate: number;
  /** nr_pageout: written by pageout(). */
  nrPageout: number;
  /** nr_activate[anon, file]. */
  nrActivate: [number, number];
  /** nr_ref_keep. */
  nrRefKeep: number;
  /** nr_unmap_fail. */
  nrUnmapFail: number;
  /** Pages reclaimed (shrink_folio_list's return value). */
  nrReclaimed: number;
  /** Folios waited on in case 3 (model counter). */
  nrWaited: number;
}

/**
 * Node and lruvec reclaim flags (`pgdat->flags`, `lruvec->flags`), kswapd's state.
 *
 * @example With PGDAT_WRITEBACK set, kswapd counts a recycled PG_reclaim folio as case 1
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, folioIsolateLru, folioPut, folioStartWriteback, GFP_KERNEL, Mm, pgdatFlags, type PgdatFlags, PG, scanControl, shrinkFolioList, TaskFlag } from "@mmsim/mmsim";
 * const cases: string[] = [];
 * for (const flagged of [false, true]) {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 64 } });
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, AddressSpace.create(mm, { name: "f" }), f, 0);
 *   folioPut(mm, f);
 *   folioStartWriteback(mm, f);
 *   mm.mem.setFlag(f, PG.reclaim); // reclaim met it before
 *   folioIsolateLru(mm.lruvec, f);
 *   const flags: PgdatFlags = pgdatFlags(mm);
 *   flags.PGDAT_WRITEBACK = flagged;
 *   env.spawn("kswapd0", function* () {
 *     const st = yield* shrinkFolioList(mm, [f], scanControl({ gfpMask: GFP_KERNEL }));
 *     cases.push(st.nrImmediate ? "case 1" : st.nrWriteback ? "case 2" : "?");
 *   }, { flags: TaskFlag.KSWAPD | TaskFlag.MEMALLOC });
 *   env.run();
 * }
 * if (cases.join() !== "case 2,case 1") throw new Error(`${cases}`);
 * ```
 */
export interface PgdatFlags {
  /** PGDAT_WRITEBACK: kswapd saw only folios under writeback; case 1 applies. */
  PGDAT_WRITEBACK: boolean;
  /** PGDAT_DIRTY: kswapd saw only unqueued dirty file folios; it may call pageout(). */
  PGDAT_DIRTY: boolean;
  /** LRUVEC_NODE_CONGESTED: direct reclaimers throttle (VMSCAN_THROTTLE_CONGESTED). */
  LRUVEC_NODE_CONGESTED: boolean;
  /** LRUVEC_CGROUP_CONGESTED. */
  LRUVEC_CGROUP_CONGESTED: boolean;
  /** pgdat->kswapd_failures. */
  kswapdFailures: number;
}

interface VmscanState {
  flags: PgdatFlags;
  kswapd: Task | null;
  kswapdWait: WaitQueue;
  kswapdPending: boolean;
  kswapdOrder: number;
}

const states = new WeakMap<Mm, VmscanState>();

function vmscanState(mm: Mm): VmscanState {
  let s = states.get(mm);
  if (!s) {
    s = {
      flags: {
        PGDAT_WRITEBACK: false,
        PGDAT_DIRTY: false,
        LRUVEC_NODE_CONGESTED: false,
        LRUVEC_CGROUP_CONGESTED: false,
        kswapdFailures: 0,
      },
      kswapd: null,
      kswapdWait: Object.assign(new WaitQueue("kswapd_wait"), { idle: true }),
      kswapdPending: false,
      kswapdOrder: 0,
    };
    states.set(mm, s);
  }
  return s;
}

/**
 * The node's reclaim flags (PGDAT_WRITEBACK, PGDAT_DIRTY, LRUVEC_*_CONGESTED) and kswapd
 * failure count, live and writable (a scenario may start with a node already flagged).
 *
 * @example
 * ```ts
 * import { Engine, Mm, pgdatFlags } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (pgdatFlags(mm).PGDAT_WRITEBACK) throw new Error("clear at boot");
 * ```
 */
export function pgdatFlags(mm: Mm): PgdatFlags {
  return vmscanState(mm).flags;
}

/** current_is_kswapd(). */
function currentIsKswapd(mm: Mm): boolean {
  return mm.env.current?.hasFlag(TaskFlag.KSWAPD) ?? false;
}

/**
 * writeback_throttling_sane() (mm/vmscan.c): can this reclaim rely on balance_dirty_pages()
 * throttling? True for global reclaim and for cgroup v2 reclaim; false for legacy memcg v1
 * reclaim, which throttles by waiting on writeback in shrink_folio_list (case 3).
 *
 * @example
 * ```ts
 * import { scanControl, writebackThrottlingSane, GFP_KERNEL } from "@mmsim/mmsim";
 * if (!writebackThrottlingSane(scanControl({ gfpMask: GFP_KERNEL }))) throw new Error("global");
 * if (!writebackThrottlingSane(scanControl({ gfpMask: GFP_KERNEL, cgroupReclaim: true }))) throw new Error("v2");
 * ```
 */
export function writebackThrottlingSane(sc: ScanControl): boolean {
  if (!sc.cgroupReclaim) return true;
  return !sc.targetMemcgV1;
}

/**
 * may_enter_fs() (mm/vmscan.c): may reclaim call into the filesystem for this folio? Only
 * with __GFP_FS (the swap-cache case with __GFP_IO does not arise without swap).
 *
 * @example
 * ```ts
 * import { mayEnterFs, GFP_KERNEL, GFP_NOFS } from "@mmsim/mmsim";
 * if (!mayEnterFs(GFP_KERNEL) || mayEnterFs(GFP_NOFS)) throw new Error();
 * ```
 */
export function mayEnterFs(gfpMask: number): boolean {
  return (gfpMask & __GFP_FS) !== 0;
}

/**
 * folio_referenced() (mm/rmap.c): count and clear the young bits of the folio's PTEs; returns
 * the count and the union of the mapping VMAs' vm_flags.
 */
function folioReferenced(mm: Mm, folio: number): { referenced: number; vmFlags: number } {
  let referenced = 0, vmFlags = 0;
  for (const s of folioRmap(mm, folio)) {
    const i = s.index - s.vma.pgoff;
    const b = s.vma.pteBits[i]!;
    vmFlags |= s.vma.vmFlags;
    if ((b & PTE.young) !== 0) {
      s.vma.pteBits[i] = b & ~PTE.young; // ptep_clear_flush_young
      referenced++;
    }
  }
  return { referenced, vmFlags };
}

type FolioReferences = "RECLAIM" | "RECLAIM_CLEAN" | "KEEP" | "ACTIVATE";

/** folio_check_references() (mm/vmscan.c), classic LRU. */
function folioCheckReferences(mm: Mm, folio: number): FolioReferences {
  const { referenced, vmFlags } = folioReferenced(mm, folio);
  // Divergence: no VM_LOCKED → FOLIOREF_ACTIVATE (mlock is not modelled, see mmap.ts) and no
  // rmap-lock contention (referenced_ptes == -1 → FOLIOREF_KEEP).
  const mem = mm.mem;
  const referencedFolio = mem.testAndClearFlag(folio, PG.referenced);
  const file = folioIsFileLru(mem, folio);
  if (referenced) {
    mem.setFlag(folio, PG.referenced);
    if (referencedFolio || referenced > 1) return "ACTIVATE";
    if ((vmFlags & VM.EXEC) && file) return "ACTIVATE";
    return "KEEP";
  }
  if (referencedFolio && file) return "RECLAIM_CLEAN";
  return "RECLAIM";
}

/**
 * __remove_mapping() (mm/vmscan.c): with the folio locked, freeze its refcount at the
 * isolation reference + the page cache's (1 + nr); a dirty folio or any other reference
 * refuses. On success the folio leaves the page cache and only the caller's reference is left.
 *
 * Divergence: the kernel frees the folio with its refcount frozen at 0; the model unfreezes and
 * drops the page cache's references through filemap_remove_folio (one atomic step either way).
 */
function removeMapping(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  const refcount = 1 + (1 << mem.order[folio]!);
  if (!folioRefFreeze(mm, folio, refcount)) return false;
  if (mem.testFlag(folio, PG.dirty)) {
    folioRefUnfreeze(mm, folio, refcount);
    return false;
  }
  folioRefUnfreeze(mm, folio, refcount);
  filemapRemoveFolio(mm, folio);
  return true;
}

type Outcome = "activate" | "keep_locked" | "keep" | "freed" | "retry";

/**
 * One folio of shrink_folio_list(): returns where it goes. The folio holds the isolation
 * reference and is not on an LRU list.
 */
function* shrinkFolio(
  mm: Mm,
  folio: number,
  sc: ScanControl,
  stat: ReclaimStat,
  ignoreReferences: boolean,
): Process<Outcome> {
  const mem = mm.mem, env = mm.env;
  if (!folioTrylock(mm, folio)) return "keep";
  const nr = 1 << mem.order[folio]!;
  sc.nrScanned += nr;
  if (!folioEvictable(mm.lruvec, folio)) return "activate";
  if (!sc.mayUnmap && folioMapped(mm, folio)) return "keep_locked";

  // folio_check_dirty_writeback(): file folios only (all of them, in the model).
  const file = folioIsFileLru(mem, folio);
  const dirty = file && mem.testFlag(folio, PG.dirty);
  const writeback = file && mem.testFlag(folio, PG.writeback);
  if (dirty || writeback) stat.nrDirty += nr;
  if (dirty && !writeback) stat.nrUnqueuedDirty += nr;
  if (writeback && mem.testFlag(folio, PG.reclaim)) stat.nrCongested += nr;

  if (mem.testFlag(folio, PG.writeback)) {
    const mapping = AddressSpace.of(mm, folio);
    const reclaim = mem.testFlag(folio, PG.reclaim);
    if (currentIsKswapd(mm) && reclaim && vmscanState(mm).flags.PGDAT_WRITEBACK) {
      // Case 1: folios are being recycled through the LRU before their I/O completes.
      stat.nrImmediate += nr;
      env.emit("mm_vmscan_writeback_case", folio, null, "case 1");
      return "activate";
    }
    if (
      writebackThrottlingSane(sc) || !reclaim || !mayEnterFs(sc.gfpMask) ||
      (mm.era.reclaimSkipsMayDeadlock && mapping !== undefined &&
        mapping.writebackMayDeadlockOnReclaim)
    ) {
      // Case 2: mark for immediate reclaim and keep scanning.
      mem.setFlag(folio, PG.reclaim);
      stat.nrWriteback += nr;
      env.emit("mm_vmscan_writeback_case", folio, null, "case 2");
      return "activate";
    }
    // Case 3: legacy memcg waits for the writeback, then tries the same folio again.
    env.emit("mm_vmscan_writeback_case", folio, null, "case 3");
    folioUnlock(mm, folio);
    stat.nrWaited++;
    yield* folioWaitWriteback(mm, folio);
    return "retry";
  }

  const references = ignoreReferences ? "RECLAIM" : folioCheckReferences(mm, folio);
  if (references === "ACTIVATE") return "activate";
  if (references === "KEEP") {
    stat.nrRefKeep += nr;
    return "keep_locked";
  }

  // Anonymous memory has nowhere to go without swap (folio_alloc_swap() fails).
  if (!file) return "activate";

  if (folioMapped(mm, folio)) {
    tryToUnmap(mm, folio);
    if (folioMapped(mm, folio)) {
      stat.nrUnmapFail += nr;
      return "activate";
    }
  }
  if (folioMaybeDmaPinned(mm, folio)) return "activate";

  const mapping = AddressSpace.of(mm, folio);
  if (mem.testFlag(folio, PG.dirty)) {
    const flags = vmscanState(mm).flags;
    if (!currentIsKswapd(mm) || !mem.testFlag(folio, PG.reclaim) || !flags.PGDAT_DIRTY) {
      // Immediately reclaim when written back.
      mm.vmstat.inc("nr_vmscan_immediate_reclaim", nr);
      mem.setFlag(folio, PG.reclaim);
      return "activate";
    }
    if (references === "RECLAIM_CLEAN") return "keep_locked";
    if (!mayEnterFs(sc.gfpMask)) return "keep_locked";
    if (!sc.mayWritepage) return "keep_locked";
    // pageout(): is_page_cache_freeable, then ->writepage — which the model's mappings lack.
    const freeable = mem.refcount[folio]! - (mem.testFlag(folio, PG.private) ? 1 : 0) ===
      1 + nr;
    if (!freeable || !mapping) return "keep_locked";
    return "activate"; // PAGE_ACTIVATE: mapping->a_ops->writepage == NULL
  }

  if (folioNeedsRelease(mm, folio)) {
    if (!filemapReleaseFolio(mm, folio, sc.gfpMask)) return "activate";
    if (!AddressSpace.of(mm, folio) && mem.refcount[folio] === 1) {
      folioUnlock(mm, folio);
      folioPut(mm, folio);
      return "freed";
    }
  }
  if (!mapping || !removeMapping(mm, folio)) return "keep_locked";
  folioUnlock(mm, folio);
  folioPut(mm, folio); // free_it: the isolation reference was the last
  return "freed";
}

/**
 * shrink_folio_list() (mm/vmscan.c, v6.16): try to reclaim each isolated folio of `folios`
 * (oldest first, each holding its isolation reference, PG_lru clear). For a folio under
 * writeback:
 *
 * - case 1: kswapd, PG_reclaim already set and the node flagged PGDAT_WRITEBACK → count it in
 *   nr_immediate and activate it;
 * - case 2: writeback_throttling_sane(sc) (global reclaim or cgroup v2), or no PG_reclaim yet,
 *   or no __GFP_FS, or — with `mm.era.reclaimSkipsMayDeadlock` (0c4f8ed498ce, v6.16) — the
 *   mapping has AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM → set PG_reclaim, count nr_writeback,
 *   activate;
 * - case 3: legacy memcg v1 → unlock, folio_wait_writeback(), retry the same folio.
 *
 * Other folios: referenced ones are kept or activated (folio_check_references); mapped ones
 * are unmapped (try_to_unmap); pinned ones activated; dirty file folios marked PG_reclaim and
 * activated (see the module doc); folios with private data go through filemap_release_folio;
 * clean ones are removed from the page cache with the refcount freeze of __remove_mapping and
 * freed. Folios not freed are left in `folios` (the kernel splices them back onto the list),
 * still isolated. Returns the reclaim statistics. Use with `yield*`.
 *
 * @example A clean page-cache folio is reclaimed
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioIsolateLru, folioPut, shrinkFolioList, scanControl, GFP_KERNEL, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioPut(mm, f);
 * folioIsolateLru(mm.lruvec, f);
 * const list = [f];
 * let freed = 0;
 * env.spawn("reclaim", function* () { freed = (yield* shrinkFolioList(mm, list, scanControl({ gfpMask: GFP_KERNEL }))).nrReclaimed; });
 * env.run();
 * if (freed !== 1 || list.length !== 0 || mm.mem.refcount[f] !== 0) throw new Error("freed");
 * ```
 */
export function* shrinkFolioList(
  mm: Mm,
  folios: number[],
  sc: ScanControl,
  ignoreReferences = false,
): Process<ReclaimStat> {
  const mem = mm.mem, env = mm.env;
  const stat: ReclaimStat = {
    nrDirty: 0,
    nrUnqueuedDirty: 0,
    nrCongested: 0,
    nrWriteback: 0,
    nrImmediate: 0,
    nrPageout: 0,
    nrActivate: [0, 0],
    nrRefKeep: 0,
    nrUnmapFail: 0,
    nrReclaimed: 0,
    nrWaited: 0,
  };
  const kept: number[] = [];
  yield env.point(); // cond_resched()
  for (let i = 0; i < folios.length;) {
    const folio = folios[i]!;
    const nr = 1 << mem.order[folio]!;
    const outcome = yield* shrinkFolio(mm, folio, sc, stat, ignoreReferences);
    if (outcome === "retry") continue; // "then go back and try same folio again"
    i++;
    switch (outcome) {
      case "freed":
        stat.nrReclaimed += nr;
        continue;
      case "activate":
        if (!mem.testFlag(folio, PG.mlocked)) {
          mem.setFlag(folio, PG.active);
          stat.nrActivate[folioIsFileLru(mem, folio) ? 1 : 0] += nr;
        }
        folioUnlock(mm, folio);
        break;
      case "keep_locked":
        folioUnlock(mm, folio);
        break;
      case "keep":
        break;
    }
    kept.push(folio);
  }
  folios.length = 0;
  folios.push(...kept);
  const pgactivate = stat.nrActivate[0] + stat.nrActivate[1];
  mm.vmstat.inc("pgactivate", pgactivate);
  mm.lruvec.events.pgactivate += pgactivate;
  return stat;
}

/**
 * move_folios_to_lru(): put the folios left by shrink_folio_list back on the LRU list their
 * flags name and drop the isolation references (a folio whose last reference this is is
 * freed).
 */
function moveFoliosToLru(mm: Mm, folios: readonly number[]): void {
  const mem = mm.mem, lruvec = mm.lruvec;
  for (const f of folios) {
    folioAddLru(lruvec, f);
    if (mem.testFlag(f, PG.active)) lruvec.nonresidentAge += 1 << mem.order[f]!;
    folioPut(mm, f);
  }
}

type ThrottleReason = "WRITEBACK" | "ISOLATED" | "CONGESTED" | "NOPROGRESS";

/**
 * reclaim_throttle() (mm/vmscan.c): sleep HZ/10 for WRITEBACK, HZ/50 for ISOLATED, one jiffy
 * for CONGESTED/NOPROGRESS unless skip_throttle_noprogress (kswapd hopeless, or fewer than
 * half of the reclaimable pages are dirty or under writeback).
 */
function* reclaimThrottle(mm: Mm, reason: ThrottleReason): Process<void> {
  let timeout: number;
  if (reason === "WRITEBACK") timeout = 100_000_000;
  else if (reason === "ISOLATED") timeout = 20_000_000;
  else {
    const n = mm.lruvec.nrPages;
    const reclaimable = n[LRU_INACTIVE_FILE]! + n[LRU_ACTIVE_FILE]!;
    const writePending = mm.vmstat.get("nr_dirty") + mm.vmstat.get("nr_writeback");
    const flags = vmscanState(mm).flags;
    if (flags.kswapdFailures >= MAX_RECLAIM_RETRIES || 2 * writePending <= reclaimable) {
      yield mm.env.point(); // cond_resched()
      return;
    }
    timeout = JIFFY_NS;
  }
  mm.env.emit("mm_vmscan_throttled", reason, null, timeout);
  yield mm.env.sleep(timeout);
}

/** too_many_isolated() (mm/vmscan.c), file list. */
function tooManyIsolated(mm: Mm, sc: ScanControl): boolean {
  if (currentIsKswapd(mm)) return false;
  if (!writebackThrottlingSane(sc)) return false;
  let inactive = mm.lruvec.nrPages[LRU_INACTIVE_FILE]!;
  const isolated = mm.vmstat.get("nr_isolated_file");
  if ((sc.gfpMask & (__GFP_IO | __GFP_FS)) === (__GFP_IO | __GFP_FS)) inactive >>= 3;
  return isolated > inactive;
}

/**
 * shrink_inactive_list() (mm/vmscan.c) on the inactive file list: isolate up to `nrToScan`
 * pages from its tail, shrink_folio_list, put the rest back; if every folio taken was dirty
 * and unqueued, wake the flusher (and on cgroup v1 throttle for writeback). Adds to `sc.nr`.
 * Returns pages reclaimed. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, shrinkInactiveList, scanControl, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * let n = -1;
 * env.spawn("reclaim", function* () { n = yield* shrinkInactiveList(mm, 32, scanControl({ gfpMask: GFP_KERNEL })); });
 * env.run();
 * if (n !== 0) throw new Error("empty list");
 * ```
 */
export function* shrinkInactiveList(mm: Mm, nrToScan: number, sc: ScanControl): Process<number> {
  const env = mm.env, mem = mm.mem, lruvec = mm.lruvec;
  let stalled = false;
  while (tooManyIsolated(mm, sc)) {
    if (stalled) return 0;
    stalled = true;
    yield* reclaimThrottle(mm, "ISOLATED");
  }
  const list = new FolioList(mem);
  const nrTaken = isolateLruFolios(lruvec, nrToScan, list, LRU_INACTIVE_FILE, sc.mayUnmap);
  const nrScanned = lruvec.nrScanned;
  const kswapd = currentIsKswapd(mm);
  mm.vmstat.inc("nr_isolated_file", nrTaken);
  if (!sc.cgroupReclaim) mm.vmstat.inc(kswapd ? "pgscan_kswapd" : "pgscan_direct", nrScanned);
  mm.vmstat.inc("pgscan_file", nrScanned);
  if (nrTaken === 0) return 0;
  const folios: number[] = [];
  for (let p = list.popTail(); p !== NIL; p = list.popTail()) folios.push(p);
  const stat = yield* shrinkFolioList(mm, folios, sc);
  const nrReclaimed = stat.nrReclaimed;
  moveFoliosToLru(mm, folios);
  mm.vmstat.dec("nr_isolated_file", nrTaken);
  if (!sc.cgroupReclaim) mm.vmstat.inc(kswapd ? "pgsteal_kswapd" : "pgsteal_direct", nrReclaimed);
  mm.vmstat.inc("pgsteal_file", nrReclaimed);
  lruNoteCost(lruvec, true, stat.nrPageout, nrScanned - nrReclaimed);
  if (stat.nrUnqueuedDirty === nrTaken) {
    wakeupFlusherThreads(mm, "WB_REASON_VMSCAN");
    if (!writebackThrottlingSane(sc)) yield* reclaimThrottle(mm, "WRITEBACK");
  }
  sc.nr.dirty += stat.nrDirty;
  sc.nr.congested += stat.nrCongested;
  sc.nr.unqueuedDirty += stat.nrUnqueuedDirty;
  sc.nr.writeback += stat.nrWriteback;
  sc.nr.immediate += stat.nrImmediate;
  sc.nr.taken += nrTaken;
  sc.nr.fileTaken += nrTaken;
  env.emit("mm_vmscan_lru_shrink_inactive", nrScanned, null, {
    nrReclaimed,
    nrDirty: stat.nrDirty,
    nrWriteback: stat.nrWriteback,
    nrImmediate: stat.nrImmediate,
    nrActivate: stat.nrActivate[1],
    priority: sc.priority,
  });
  return nrReclaimed;
}

/**
 * shrink_lruvec() (mm/vmscan.c) for the file lists: scan targets lru_size >> priority (no
 * anon: get_scan_count's SCAN_FILE), in chunks of SWAP_CLUSTER_MAX, the inactive list through
 * shrink_inactive_list and the active list through shrink_active_list when deactivation is
 * allowed. Stops once nr_to_reclaim is met.
 */
function* shrinkLruvec(mm: Mm, sc: ScanControl): Process<void> {
  const lruvec = mm.lruvec;
  const div = 2 ** sc.priority;
  let nrInactive = Math.floor(lruvec.nrPages[LRU_INACTIVE_FILE]! / div);
  let nrActive = Math.floor(lruvec.nrPages[LRU_ACTIVE_FILE]! / div);
  let nrReclaimed = 0;
  while (nrInactive > 0 || nrActive > 0) {
    if (nrInactive > 0) {
      const n = Math.min(nrInactive, SWAP_CLUSTER_MAX);
      nrInactive -= n;
      nrReclaimed += yield* shrinkInactiveList(mm, n, sc);
    }
    if (nrActive > 0) {
      const n = Math.min(nrActive, SWAP_CLUSTER_MAX);
      nrActive -= n;
      if (sc.mayDeactivate) shrinkActiveList(lruvec, n, LRU_ACTIVE_FILE);
      else sc.skippedDeactivate = true;
    }
    if (sc.nrReclaimed + nrReclaimed >= sc.nrToReclaim) break;
  }
  sc.nrReclaimed += nrReclaimed;
}

/**
 * shrink_node() (mm/vmscan.c, v6.16): one pass over the node's file lists at `sc.priority`
 * (prepare_scan_control decides whether the active list may be deactivated), then the
 * writeback heuristics: kswapd flags the node PGDAT_WRITEBACK when every folio it took was
 * under writeback, PGDAT_DIRTY when every file folio it took was dirty and unqueued, and
 * throttles for writeback when it met case 1; the lruvec is flagged congested when every
 * dirty folio was congested, and direct reclaimers throttle on a congested node. Returns the
 * pages reclaimed. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, shrinkNode, scanControl, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * let n = -1;
 * env.spawn("reclaim", function* () { n = yield* shrinkNode(mm, scanControl({ gfpMask: GFP_KERNEL, priority: 0 })); });
 * env.run();
 * if (n !== 0) throw new Error("nothing to reclaim");
 * ```
 */
export function* shrinkNode(mm: Mm, sc: ScanControl): Process<number> {
  const vs = vmscanState(mm);
  const flags = vs.flags;
  sc.nr = zeroNr();
  const before = sc.nrReclaimed;
  sc.mayDeactivate = sc.forceDeactivate || inactiveIsLow(mm.lruvec, LRU_INACTIVE_FILE);
  yield* shrinkLruvec(mm, sc);
  const nrReclaimed = sc.nrReclaimed - before;
  if (nrReclaimed > 0) flags.kswapdFailures = 0;
  const kswapd = currentIsKswapd(mm);
  if (kswapd) {
    if (sc.nr.writeback && sc.nr.writeback === sc.nr.taken) flags.PGDAT_WRITEBACK = true;
    // "Allow kswapd to start writing pages during reclaim" (v6.16 has the non-zero test).
    if (sc.nr.unqueuedDirty && sc.nr.unqueuedDirty === sc.nr.fileTaken) {
      flags.PGDAT_DIRTY = true;
    }
    if (sc.nr.immediate) yield* reclaimThrottle(mm, "WRITEBACK");
  }
  if (sc.nr.dirty && sc.nr.dirty === sc.nr.congested) {
    if (sc.cgroupReclaim && writebackThrottlingSane(sc)) flags.LRUVEC_CGROUP_CONGESTED = true;
    if (kswapd) flags.LRUVEC_NODE_CONGESTED = true;
  }
  const mayThrottle = !(mm.env.current?.hasFlag(TaskFlag.LOCAL_THROTTLE) ?? false);
  if (
    !kswapd && mayThrottle && (flags.LRUVEC_CGROUP_CONGESTED || flags.LRUVEC_NODE_CONGESTED)
  ) {
    yield* reclaimThrottle(mm, "CONGESTED");
  }
  return nrReclaimed;
}

/**
 * do_try_to_free_pages() (mm/vmscan.c): shrink the node at priorities DEF_PRIORITY … 0 until
 * nr_to_reclaim pages are reclaimed (may_writepage from priority DEF_PRIORITY − 3); if nothing
 * was reclaimed because deactivation was skipped, retry once with force_deactivate.
 */
function* doTryToFreePages(mm: Mm, sc: ScanControl): Process<number> {
  const initialPriority = sc.priority;
  for (;;) {
    if (!sc.cgroupReclaim) mm.vmstat.inc("allocstall");
    do {
      sc.nrScanned = 0;
      yield* shrinkNode(mm, sc);
      if (sc.nrReclaimed >= sc.nrToReclaim) break;
      if (sc.priority < DEF_PRIORITY - 2) sc.mayWritepage = true;
    } while (--sc.priority >= 0);
    if (sc.nrReclaimed) return sc.nrReclaimed;
    if (sc.skippedDeactivate) {
      sc.priority = initialPriority;
      sc.forceDeactivate = true;
      sc.skippedDeactivate = false;
      continue;
    }
    return 0;
  }
}

/** Run `body` as a reclaimer: PF_MEMALLOC and TaskFlag.DIRECT_RECLAIM set, then restored. */
function* asDirectReclaimer<T>(mm: Mm, body: () => Process<T>): Process<T> {
  const env = mm.env;
  const task = env.current;
  if (!task) throw new Error("direct reclaim: must run in a task");
  const noreclaim = memallocNoreclaimSave(env);
  const hadDirect = task.flags & TaskFlag.DIRECT_RECLAIM;
  task.flags |= TaskFlag.DIRECT_RECLAIM;
  try {
    return yield* body();
  } finally {
    if (!hadDirect) task.flags &= ~TaskFlag.DIRECT_RECLAIM;
    memallocNoreclaimRestore(env, noreclaim);
  }
}

/**
 * try_to_free_pages() (mm/vmscan.c): direct reclaim of SWAP_CLUSTER_MAX pages for an
 * allocation of `order` with `gfp` (current_gfp_context applied: a GFP_NOFS scope gives
 * may_enter_fs false), global reclaim, by whichever task allocates — a filesystem server
 * thread included. Sets TaskFlag.DIRECT_RECLAIM and PF_MEMALLOC while it runs (the kernel sets
 * PF_MEMALLOC in __perform_reclaim). Returns pages reclaimed. Use with `yield*`. Also the
 * page allocator's default reclaim hook.
 *
 * Divergence: no throttle_direct_reclaim() (pfmemalloc watermark wait).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioPut, tryToFreePages, GFP_KERNEL, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 64; i++) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); mm.mem.setFlag(f, PG.uptodate); folioPut(mm, f); }
 * let n = 0;
 * env.spawn("allocator", function* () { n = yield* tryToFreePages(mm, 0, GFP_KERNEL); });
 * env.run();
 * if (n < 32 || m.nrpages !== 64 - n) throw new Error(`reclaimed ${n}`);
 * ```
 */
export function* tryToFreePages(mm: Mm, order: number, gfp: number): Process<number> {
  const env = mm.env;
  const sc = scanControl({ gfpMask: currentGfpContext(env, gfp), order });
  env.emit("mm_vmscan_direct_reclaim_begin", env.current?.name ?? null, order, gfp);
  const n = yield* asDirectReclaimer(mm, () => doTryToFreePages(mm, sc));
  env.emit("mm_vmscan_direct_reclaim_end", env.current?.name ?? null, null, n);
  return n;
}

/**
 * try_to_free_mem_cgroup_pages() (mm/vmscan.c): memcg reclaim when a charge hits the limit —
 * at least `nrPages` (SWAP_CLUSTER_MAX), with the caller's reclaim bits of `gfp` over
 * GFP_HIGHUSER_MOVABLE. `opts.v1` makes the memcg a legacy cgroup v1 one, where
 * writeback_throttling_sane() is false and reclaim waits on writeback (case 3). Runs with
 * PF_MEMALLOC. Use with `yield*`.
 *
 * Divergence: the one lruvec is scanned as if all its pages were charged to the memcg.
 *
 * @example
 * ```ts
 * import { Engine, Mm, tryToFreeMemCgroupPages, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * let n = -1;
 * env.spawn("charge", function* () { n = yield* tryToFreeMemCgroupPages(mm, 1, GFP_KERNEL, { v1: true }); });
 * env.run();
 * if (n !== 0 || mm.vmstat.get("allocstall") !== 0) throw new Error("memcg reclaim is no allocstall");
 * ```
 */
export function* tryToFreeMemCgroupPages(
  mm: Mm,
  nrPages: number,
  gfp: number,
  opts: { v1?: boolean } = {},
): Process<number> {
  const env = mm.env;
  const gfpMask = (currentGfpContext(env, gfp) & GFP_RECLAIM_MASK) |
    (GFP_HIGHUSER_MOVABLE & ~GFP_RECLAIM_MASK);
  const sc = scanControl({
    gfpMask,
    nrToReclaim: Math.max(nrPages, SWAP_CLUSTER_MAX),
    cgroupReclaim: true,
    targetMemcgV1: opts.v1 ?? false,
  });
  env.emit("mm_vmscan_memcg_reclaim_begin", env.current?.name ?? null, 0, gfpMask);
  const n = yield* asDirectReclaimer(mm, () => doTryToFreePages(mm, sc));
  env.emit("mm_vmscan_memcg_reclaim_end", env.current?.name ?? null, null, n);
  return n;
}

/** pgdat_balanced(): the zone meets its high watermark for `order`. */
function pgdatBalanced(mm: Mm, order: number): boolean {
  return mm.zone.zoneWatermarkOk(order, mm.zone.wmarkHigh, 0);
}

/**
 * wakeup_kswapd() (mm/vmscan.c): record the order; if kswapd sleeps and the node is neither
 * hopeless (MAX_RECLAIM_RETRIES failures) nor balanced, wake it. The page allocator calls it
 * (wake_all_kswapds) for allocations with __GFP_KSWAPD_RECLAIM below the low watermark.
 *
 * @example
 * ```ts
 * import { Engine, Mm, spawnKswapd, wakeupKswapd, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * spawnKswapd(mm);
 * env.spawn("alloc", function* () { yield env.sleep(1); wakeupKswapd(mm, 0, GFP_KERNEL); });
 * env.run();
 * ```
 */
export function wakeupKswapd(mm: Mm, order: number, gfp: number): void {
  const vs = vmscanState(mm);
  if (!vs.kswapd) return;
  if (vs.kswapdOrder < order) vs.kswapdOrder = order;
  if (!vs.kswapdWait.active) return;
  if (vs.flags.kswapdFailures >= MAX_RECLAIM_RETRIES || pgdatBalanced(mm, order)) return;
  mm.env.emit("mm_vmscan_wakeup_kswapd", order, null, gfp);
  vs.kswapdPending = true;
  vs.kswapdWait.wakeUp(0);
}

/**
 * balance_pgdat() (mm/vmscan.c): reclaim at priorities DEF_PRIORITY … 1 until the zone meets
 * its high watermark, nr_to_reclaim = max(high watermark, SWAP_CLUSTER_MAX) per round; lower
 * the priority when a round scanned too little or reclaimed nothing. A balance that reclaimed
 * nothing counts a kswapd failure. When balanced, clear the node's congestion flags.
 */
function* balancePgdat(mm: Mm, order: number): Process<number> {
  const vs = vmscanState(mm);
  const sc = scanControl({ gfpMask: GFP_KERNEL, order });
  do {
    if (pgdatBalanced(mm, order)) break;
    sc.nrScanned = 0;
    sc.nrToReclaim = Math.max(mm.zone.wmarkHigh, SWAP_CLUSTER_MAX);
    const before = sc.nrReclaimed;
    yield* shrinkNode(mm, sc);
    const scannedEnough = sc.nrScanned >= sc.nrToReclaim;
    if (!scannedEnough || sc.nrReclaimed === before) sc.priority--;
  } while (sc.priority >= 1);
  if (!sc.nrReclaimed) vs.flags.kswapdFailures++;
  if (pgdatBalanced(mm, order)) {
    // clear_pgdat_congested()
    vs.flags.LRUVEC_NODE_CONGESTED = false;
    vs.flags.LRUVEC_CGROUP_CONGESTED = false;
    vs.flags.PGDAT_DIRTY = false;
    vs.flags.PGDAT_WRITEBACK = false;
  }
  return sc.nrReclaimed;
}

/**
 * Spawn kswapd0 (mm/vmscan.c `kswapd`): a daemon task with PF_KSWAPD | PF_MEMALLOC that sleeps
 * on kswapd_wait until {@link wakeupKswapd}, then runs balance_pgdat() until the zone is
 * balanced or the node is hopeless. Returns the task.
 *
 * @example kswapd reclaims clean page cache up to the high watermark
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioPut, spawnKswapd, wakeupKswapd, GFP_KERNEL, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; mm.zone.nrFreePages > mm.zone.wmarkMin; i++) {
 *   const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); mm.mem.setFlag(f, PG.uptodate); folioPut(mm, f);
 * }
 * spawnKswapd(mm);
 * env.spawn("alloc", function* () {
 *   yield env.sleep(1);
 *   wakeupKswapd(mm, 0, GFP_KERNEL);
 *   yield env.sleep(1e9); // kswapd is a daemon: keep the run going while it works
 * });
 * env.run();
 * if (mm.zone.nrFreePages <= mm.zone.wmarkHigh) throw new Error("balanced");
 * ```
 */
export function spawnKswapd(mm: Mm): Task {
  const vs = vmscanState(mm);
  if (vs.kswapd) throw new Error("spawnKswapd: this Mm already has a kswapd");
  const env = mm.env;
  vs.kswapd = env.spawn("kswapd0", function* () {
    for (;;) {
      yield* waitEvent(env, vs.kswapdWait, () => vs.kswapdPending);
      vs.kswapdPending = false;
      for (;;) {
        const order = vs.kswapdOrder;
        vs.kswapdOrder = 0;
        env.emit("mm_vmscan_kswapd_wake", order);
        yield* balancePgdat(mm, order);
        // kswapd_try_to_sleep(): sleep only once balanced (or hopeless).
        if (pgdatBalanced(mm, order) || vs.flags.kswapdFailures >= MAX_RECLAIM_RETRIES) break;
      }
      env.emit("mm_vmscan_kswapd_sleep", 0);
    }
  }, { flags: TaskFlag.KSWAPD | TaskFlag.MEMALLOC, daemon: true });
  return vs.kswapd;
}

// The page allocator reaches reclaim through its hooks (page_alloc.ts): register the defaults.
registerDefaultPageAllocHooks({ tryToFreePages, wakeupKswapd });
