/**
 * Page writeback: dirtying folios, the PG_dirty → PG_writeback hand-over, the end of writeback
 * and its waiters, the data-integrity and background walks over a mapping, and dirty
 * throttling. The flusher and sync(2) are in fs_writeback.ts (re-exported here), the block
 * device and mpage_writepages in block_device.ts.
 *
 * Follows mm/page-writeback.c (`folio_mark_dirty`, `filemap_dirty_folio`, `__folio_mark_dirty`,
 * `folio_account_dirtied`, `__folio_cancel_dirty`, `set_page_dirty_lock`,
 * `folio_redirty_for_writepage`, `folio_clear_dirty_for_io`, `__folio_start_writeback`,
 * `__folio_end_writeback`, `domain_dirty_limits`, `global_dirtyable_memory`,
 * `pos_ratio_polynom`, `balance_dirty_pages`) read at v6.2; `writeback_iter`,
 * `writeback_get_folio`, `folio_prepare_writeback` and `write_cache_pages` as rewritten over
 * them in v6.10; mm/filemap.c (`folio_end_writeback` as of v6.16, `folio_wait_writeback`,
 * `folio_wait_stable`, `filemap_fdatawrite_wbc`, `__filemap_fdatawait_range`,
 * `filemap_check_errors`, `filemap_fdatawait_keep_errors`, `filemap_write_and_wait_range`).
 *
 * The era switches of CLAIMS.md thread 003 live here: `mm.era.endWritebackTakesRef`
 * (073861ed77b6: folio_end_writeback holds a reference from before the clear of PG_writeback
 * to after the wake) and `mm.era.waitWritebackLoops` (c2407cf7d22d: folio_wait_writeback
 * loops while the bit is set). PG_writeback itself is not a reference. Between the clear and
 * the wake there is an injectable window δ (`folioEndWriteback(mm, folio, { delayNs })`); the
 * wake is keyed by the frame, so a wake issued for a frame's previous use reaches a waiter of
 * its next use.
 *
 * Counters use the /proc/vmstat names: `nr_dirty` (NR_FILE_DIRTY), `nr_writeback`
 * (NR_WRITEBACK), `nr_writeback_temp` (NR_WRITEBACK_TEMP, kept by the FUSE model),
 * `nr_dirtied` (NR_DIRTIED), `nr_written` (NR_WRITTEN).
 *
 * Lock order (as mm/filemap.c draws it, the parts modelled):
 *   folio lock (PG_locked)
 *     → i_pages lock (implicit: a step is atomic)
 *       → folio wait-table bucket (implicit)
 *
 * Left out: cgroup writeback (one wb per bdi), bandwidth estimation (the write bandwidth is the
 * kernel's initial INIT_BW), the per-task dirty ratelimit (`balance_dirty_pages_ratelimited`:
 * {@link balanceDirtyPages} checks on every call), range_cyclic / `mapping->writeback_index`
 * (walks start at `wbc.rangeStart`), laptop mode, `dirty_bytes` sysctls, xarray marks (DIRTY
 * and WRITEBACK are read from PG_dirty / PG_writeback; TOWRITE is kept per mapping), inode
 * metadata writeback, `mapping_can_writeback()` (every mapping can write back), RWF_DONTCACHE
 * (`folio_end_dropbehind` at the end of writeback).
 *
 * @module
 */

import { type Process, type Task, TaskFlag } from "../sim/engine.ts";
import type { WaitTarget } from "../sim/wait_queue.ts";
import { AddressSpace, type WritebackControl } from "./address_space.ts";
import { type BlockDevice, inodeToBdi, mpageWritepages } from "./block_device.ts";
import { folioGet, folioLock, folioPut, folioTryGet, folioUnlock, folioWaitBit } from "./folio.ts";
import { wbStartBackgroundWriteback } from "./fs_writeback.ts";
import { folioRotateReclaimable, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE } from "./lru.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioMkclean } from "./mmap.ts";
import { mappingTagged, nrPages, wbState, type WritebackStats } from "./_wb_state.ts";

export { WritebackConfig, type WritebackConfigInput, type WritebackStats } from "./_wb_state.ts";
export { spawnFlusher, syncFilesystem, wakeupFlusherThreads } from "./fs_writeback.ts";

/** Kernel errno values used as the negative int returns of this module (-EIO, …). */
const EIO = 5, ENOMEM = 12, ENOSPC = 28;
/**
 * AOP_WRITEPAGE_ACTIVATE (include/linux/fs.h): ->writepage declined, folio still locked.
 *
 * @example A ->writepage that declines keeps the folio dirty; the walker unlocks it
 * ```ts
 * import { AddressSpace, AOP_WRITEPAGE_ACTIVATE, Engine, filemapAddFolio, folioAlloc, folioMarkDirty, Mm, PG, redirtyPageForWritepage, writebackControl, writeCachePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "tmpfs" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * let ret = -1;
 * env.spawn("reclaim", function* () {
 *   const wbc = writebackControl({ syncMode: "WB_SYNC_NONE", reason: "reclaim" });
 *   ret = yield* writeCachePages(mm, m, wbc, function* (folio) {
 *     redirtyPageForWritepage(mm, wbc, folio); // no swap space: keep it
 *     return AOP_WRITEPAGE_ACTIVATE; // …and keep the lock
 *   });
 * });
 * env.run();
 * if (ret !== 0 || mm.mem.testFlag(f, PG.locked) || !mm.mem.testFlag(f, PG.dirty)) throw new Error("declined");
 * ```
 */
export const AOP_WRITEPAGE_ACTIVATE = 0x80000;
/** FOLIO_BATCH (PAGEVEC_SIZE): folios per lookup batch. */
const FOLIO_BATCH = 31;
/**
 * The last page index (an inclusive `range_end` of LLONG_MAX, in pages).
 *
 * @example
 * ```ts
 * import { WBC_END_MAX, writebackControl } from "@mmsim/mmsim";
 * // Without a range, writeback covers the whole file: range_end = LLONG_MAX.
 * const wbc = writebackControl({ syncMode: "WB_SYNC_ALL" });
 * if (wbc.rangeStart !== 0 || wbc.rangeEnd !== WBC_END_MAX) throw new Error("whole file");
 * if (writebackControl({ syncMode: "WB_SYNC_ALL", rangeEnd: 7 }).rangeEnd !== 7) throw new Error("explicit range");
 * ```
 */
export const WBC_END_MAX = 0xffff_ffff;

/**
 * The writeback counters of `mm`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, writebackStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (writebackStats(mm).staleWakes !== 0) throw new Error("nothing happened yet");
 * ```
 */
export function writebackStats(mm: Mm): Readonly<WritebackStats> {
  return wbState(mm).stats;
}

// --------------------------------------------------------------------------------- dirtying

/** folio_account_dirtied(): NR_FILE_DIRTY, NR_DIRTIED and the tracepoint. */
function folioAccountDirtied(mm: Mm, mapping: AddressSpace, folio: number): void {
  const nr = nrPages(mm, folio);
  mm.env.emit("writeback_dirty_folio", folio, null, { mapping: mapping.name });
  mm.vmstat.inc("nr_dirty", nr);
  mm.vmstat.inc("nr_dirtied", nr);
}

/**
 * __folio_mark_dirty(): account a folio that just got PG_dirty, unless it was truncated
 * meanwhile (folio->mapping cleared). `warn` is the WARN_ON_ONCE for a !uptodate folio, which
 * is counted in {@link WritebackStats}.dirtyNotUptodate and traced, not a violation ("dirty ⇒
 * uptodate" has documented exceptions).
 */
function folioMarkDirtyAccount(
  mm: Mm,
  folio: number,
  mapping: AddressSpace,
  warn: boolean,
): void {
  const mem = mm.mem;
  if (mem.mapping[folio] === 0) return; // Race with truncate?
  if (warn && !mem.testFlag(folio, PG.uptodate)) {
    wbState(mm).stats.dirtyNotUptodate++;
    mm.env.emit("warn_dirty_not_uptodate", folio);
  }
  folioAccountDirtied(mm, mapping, folio);
}

/** __mark_inode_dirty(I_DIRTY_PAGES): put the inode on b_dirty with its dirtied_when. */
function markInodeDirty(mm: Mm, mapping: AddressSpace): void {
  const s = wbState(mm);
  if (!s.dirtyInodes.has(mapping.id)) s.dirtyInodes.set(mapping.id, mm.env.nowNs);
}

/**
 * filemap_dirty_folio() (mm/page-writeback.c): set PG_dirty; if it was clear, account the
 * folio (NR_FILE_DIRTY) and mark the inode dirty. Returns true if the folio was newly dirtied.
 * The default `->dirty_folio`. The caller must keep truncation away (folio lock or a PTE lock).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, filemapDirtyFolio, folioAlloc, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * if (!filemapDirtyFolio(mm, m, f) || filemapDirtyFolio(mm, m, f)) throw new Error("once");
 * if (mm.vmstat.get("nr_dirty") !== 1) throw new Error("NR_FILE_DIRTY");
 * ```
 */
export function filemapDirtyFolio(mm: Mm, mapping: AddressSpace, folio: number): boolean {
  if (mm.mem.testAndSetFlag(folio, PG.dirty)) return false;
  folioMarkDirtyAccount(mm, folio, mapping, !mm.mem.testFlag(folio, PG.private));
  markInodeDirty(mm, mapping);
  return true;
}

/**
 * folio_mark_dirty() (mm/page-writeback.c): clear a stale PG_reclaim, then call the
 * mapping's `->dirty_folio` (default {@link filemapDirtyFolio}); a folio without a mapping
 * only gets PG_dirty (noop_dirty_folio). Returns true if it was newly dirtied. Never calls
 * `->page_mkwrite`: dirtying through here bypasses the filesystem's notification (thread 001).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.setFlag(f, PG.reclaim);
 * folioMarkDirty(mm, f);
 * if (!mm.mem.testFlag(f, PG.dirty) || mm.mem.testFlag(f, PG.reclaim)) throw new Error();
 * ```
 */
export function folioMarkDirty(mm: Mm, folio: number): boolean {
  const mapping = AddressSpace.of(mm, folio);
  if (mapping) {
    if (mm.mem.testFlag(folio, PG.reclaim)) mm.mem.clearFlag(folio, PG.reclaim);
    const dirty = mapping.aops.dirtyFolio ?? filemapDirtyFolio;
    return dirty(mm, mapping, folio);
  }
  return !mm.mem.testAndSetFlag(folio, PG.dirty); // noop_dirty_folio
}

/**
 * set_page_dirty_lock() (mm/page-writeback.c): folio_lock, folio_mark_dirty, folio_unlock —
 * what the bio path (`bio_set_pages_dirty`, `bio_check_pages_dirty`) uses on user pages. Use
 * with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, setPageDirtyLock, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * env.spawn("dio", function* () { yield* setPageDirtyLock(mm, f); });
 * env.run();
 * if (!mm.mem.testFlag(f, PG.dirty) || mm.mem.testFlag(f, PG.locked)) throw new Error();
 * ```
 */
export function* setPageDirtyLock(mm: Mm, folio: number): Process<boolean> {
  yield* folioLock(mm, folio);
  const ret = folioMarkDirty(mm, folio);
  folioUnlock(mm, folio);
  return ret;
}

/**
 * folio_redirty_for_writepage() / redirty_page_for_writepage(): a `->writepage` declines to
 * write a folio it was handed: count it in `wbc.pagesSkipped` and dirty it again through
 * filemap_dirty_folio (not `->dirty_folio`), undoing NR_DIRTIED (folio_account_redirty). The
 * caller then unlocks the folio.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, redirtyPageForWritepage, writebackControl, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * const wbc = writebackControl({ syncMode: "WB_SYNC_NONE" });
 * redirtyPageForWritepage(mm, wbc, f);
 * if (wbc.pagesSkipped !== 1 || !mm.mem.testFlag(f, PG.dirty)) throw new Error();
 * ```
 */
export function redirtyPageForWritepage(mm: Mm, wbc: WritebackControl, folio: number): void {
  const nr = nrPages(mm, folio);
  wbc.pagesSkipped += nr;
  const mapping = AddressSpace.of(mm, folio);
  if (!mapping) {
    mm.mem.setFlag(folio, PG.dirty);
    return;
  }
  filemapDirtyFolio(mm, mapping, folio);
  mm.vmstat.dec("nr_dirtied", nr); // folio_account_redirty()
}

/**
 * __folio_cancel_dirty() / folio_cancel_dirty(): clear PG_dirty without writeback and undo
 * NR_FILE_DIRTY (folio_account_cleaned) — what truncation does before removing a dirty folio.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, folioCancelDirty } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * folioCancelDirty(mm, f);
 * if (mm.vmstat.get("nr_dirty") !== 0) throw new Error("cleaned");
 * ```
 */
export function folioCancelDirty(mm: Mm, folio: number): void {
  if (!mm.mem.testAndClearFlag(folio, PG.dirty)) return;
  if (mm.mem.mapping[folio] !== 0) mm.vmstat.dec("nr_dirty", nrPages(mm, folio));
}

/**
 * folio_clear_dirty_for_io() (mm/page-writeback.c): with the folio locked, clear PG_dirty for
 * writeback and undo NR_FILE_DIRTY. Returns true if it was dirty. A caller that does not hold
 * the folio lock trips VM_BUG_ON_FOLIO (recorded as a violation).
 *
 * Before that, as the kernel does, `folio_mkclean()` write-protects the folio's shared PTEs and
 * moves their dirty bits to the folio (`if (folio_mkclean(folio)) folio_mark_dirty(folio)`), so
 * the next store through a mapping takes a write fault and `->page_mkwrite`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, folioClearDirtyForIo, folioTrylock } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * folioTrylock(mm, f);
 * if (!folioClearDirtyForIo(mm, f) || folioClearDirtyForIo(mm, f)) throw new Error();
 * ```
 */
export function folioClearDirtyForIo(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked)) {
    mm.env.violation(
      "VM_BUG_ON_FOLIO(!folio_test_locked)",
      `folio_clear_dirty_for_io: ${mm.describeFolio(folio)} is not locked`,
    );
  } else if (mem.mapping[folio] !== 0 && folioMkclean(mm, folio)) {
    folioMarkDirty(mm, folio);
  }
  if (!mem.testAndClearFlag(folio, PG.dirty)) return false;
  if (mem.mapping[folio] !== 0) mm.vmstat.dec("nr_dirty", nrPages(mm, folio));
  return true;
}

// ------------------------------------------------------------------ start / end writeback

/**
 * folio_start_writeback() / __folio_start_writeback(folio, keep_write = false): set
 * PG_writeback, count NR_WRITEBACK and clear the folio's TOWRITE mark. `holder` is who will
 * end it, for wait-for graphs (default: the running task; a device uses its {@link Bio}).
 * Starting writeback on a folio already under writeback is VM_BUG_ON_FOLIO (v6.7+), recorded
 * as a violation.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioStartWriteback, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioStartWriteback(mm, f);
 * if (!mm.mem.testFlag(f, PG.writeback) || mm.vmstat.get("nr_writeback") !== 1) throw new Error();
 * ```
 */
export function folioStartWriteback(
  mm: Mm,
  folio: number,
  holder: Task | WaitTarget | null = mm.env.current,
): void {
  const mem = mm.mem;
  if (mem.testAndSetFlag(folio, PG.writeback)) {
    mm.env.violation(
      "VM_BUG_ON_FOLIO(folio_test_writeback)",
      `folio_start_writeback: ${mm.describeFolio(folio)} is already under writeback`,
    );
    return;
  }
  mm.setBitHolder(folio, PG.writeback, holder);
  mm.vmstat.inc("nr_writeback", nrPages(mm, folio));
  const tw = wbState(mm).towrite.get(mem.mapping[folio]!);
  tw?.delete(mem.index[folio]!);
  mm.env.emit("folio_start_writeback", folio, null, mm.describeFolio(folio));
}

/**
 * __folio_end_writeback(): test-and-clear PG_writeback and undo NR_WRITEBACK (adding
 * NR_WRITTEN). Returns false if the bit was not set.
 */
function folioEndWritebackClear(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  if (!mem.testAndClearFlag(folio, PG.writeback)) return false;
  const nr = nrPages(mm, folio);
  mm.setBitHolder(folio, PG.writeback, null);
  mm.vmstat.dec("nr_writeback", nr);
  mm.vmstat.inc("nr_written", nr);
  return true;
}

/**
 * folio_end_writeback() (mm/filemap.c): end writeback of a folio.
 *
 * 1. If PG_reclaim is set, clear it and rotate the folio to the inactive tail
 *    (folio_rotate_reclaimable), so reclaim finds it next.
 * 2. With `mm.era.endWritebackTakesRef` (073861ed77b6, v5.10+): folio_get.
 * 3. __folio_end_writeback: clear PG_writeback, NR_WRITEBACK − nr.
 * 4. The window δ: `yield env.sleep(opts.delayNs)`, or a preemption point when δ = 0. Without
 *    the reference, truncation may free the frame here and the allocator reuse it.
 * 5. If PG_waiters is set now (wake_up_page), folio_wake_bit(PG_writeback) through the hashed
 *    table, keyed by the frame: the wake can reach a waiter of the frame's next use. Such
 *    wakes are counted in {@link WritebackStats}.staleWakes; every end whose frame was freed
 *    or reused during δ, waiters or not, in {@link WritebackStats}.freedDuringDelay.
 * 6. With the era switch: folio_put.
 *
 * Divergence: v6.7+ samples PG_waiters atomically with the clear (folio_xor_flags_has_waiters);
 * the model tests it at wake time as wake_up_page() did up to v6.6. The difference is only a
 * wake to a waiter that queued during δ on a folio whose PG_writeback was set again — a wake
 * every era since c2407cf7d22d re-checks.
 *
 * Use with `yield*`. A folio not under writeback is VM_BUG_ON_FOLIO (recorded).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioStartWriteback, folioEndWriteback, folioWaitWriteback } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioStartWriteback(mm, f);
 * let wokeAt = -1;
 * env.spawn("waiter", function* () { yield* folioWaitWriteback(mm, f); wokeAt = env.nowNs; });
 * env.spawn("end_io", function* () { yield env.sleep(100); yield* folioEndWriteback(mm, f, { delayNs: 7 }); });
 * env.run();
 * if (wokeAt !== 107) throw new Error(`woken after the δ window, at ${wokeAt}`);
 * ```
 */
export function* folioEndWriteback(
  mm: Mm,
  folio: number,
  opts: { delayNs?: number } = {},
): Process<void> {
  const mem = mm.mem, env = mm.env;
  if (!mem.testFlag(folio, PG.writeback)) {
    env.violation(
      "VM_BUG_ON_FOLIO(!folio_test_writeback)",
      `folio_end_writeback: ${mm.describeFolio(folio)} is not under writeback`,
    );
    return;
  }
  const s = wbState(mm);
  s.stats.endWriteback++;
  if (mem.testFlag(folio, PG.reclaim)) {
    mem.clearFlag(folio, PG.reclaim);
    folioRotateReclaimable(mm.lruvec, folio);
  }
  const takeRef = mm.era.endWritebackTakesRef;
  if (takeRef) folioGet(mm, folio);
  const gen = mem.generation[folio]!;
  folioEndWritebackClear(mm, folio);
  env.emit("folio_end_writeback", folio, null, mm.describeFolio(folio));
  const delay = opts.delayNs ?? 0;
  yield delay > 0 ? env.sleep(delay) : env.point();
  const stale = mem.generation[folio] !== gen || mem.refcount[folio]! <= 0;
  if (stale) s.stats.freedDuringDelay++;
  if (mem.testFlag(folio, PG.waiters)) {
    if (stale) {
      s.stats.staleWakes++;
      env.emit("folio_wake_stale", folio, gen, mem.generation[folio]);
    }
    mm.waitTable.wakeBit(folio, PG.writeback);
  }
  env.sometimes("folio_end_writeback: frame freed during δ", stale);
  if (takeRef) folioPut(mm, folio);
}

/**
 * folio_wait_writeback() (mm/filemap.c): wait for PG_writeback to clear. With
 * `mm.era.waitWritebackLoops` (c2407cf7d22d, v5.11+) it loops `while (PG_writeback) wait`;
 * before, `if (PG_writeback) wait` once — a wake for another writeback of the frame (or for
 * its previous use) returns with the bit still set. The caller holds a reference. Use with
 * `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioWaitWriteback } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * env.spawn("t", function* () { yield* folioWaitWriteback(mm, f); });
 * if (env.run().nowNs !== 0) throw new Error("no writeback, no wait");
 * ```
 */
export function* folioWaitWriteback(mm: Mm, folio: number): Process<void> {
  const mem = mm.mem;
  if (mm.era.waitWritebackLoops) {
    while (mem.testFlag(folio, PG.writeback)) {
      mm.env.emit("folio_wait_writeback", folio);
      yield* folioWaitBit(mm, folio, PG.writeback);
    }
  } else if (mem.testFlag(folio, PG.writeback)) {
    mm.env.emit("folio_wait_writeback", folio);
    yield* folioWaitBit(mm, folio, PG.writeback);
  }
}

/**
 * folio_wait_stable() (mm/filemap.c): wait for writeback only if the backing device needs
 * stable pages during writeback (SB_I_STABLE_WRITES, here {@link BlockDeviceConfig}
 * `stableWrites`). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioStartWriteback, folioWaitStable } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * new BlockDevice(mm, { stableWrites: false }).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioStartWriteback(mm, f);
 * env.spawn("writer", function* () { yield* folioWaitStable(mm, f); });
 * if (env.run().reason !== "done") throw new Error("no stable writes: no wait");
 * ```
 */
export function* folioWaitStable(mm: Mm, folio: number): Process<void> {
  const mapping = AddressSpace.of(mm, folio);
  if (mapping && inodeToBdi(mm, mapping).config.stableWrites) {
    yield* folioWaitWriteback(mm, folio);
  }
}

// ------------------------------------------------------------------------- the walkers

/**
 * A `struct writeback_control` with the kernel's zero defaults for what is not given:
 * `nrToWrite` LONG_MAX, the whole file, no pages skipped.
 *
 * @example
 * ```ts
 * import { writebackControl } from "@mmsim/mmsim";
 * const wbc = writebackControl({ syncMode: "WB_SYNC_ALL", reason: "fsync" });
 * if (wbc.rangeStart !== 0 || wbc.nrToWrite !== Number.MAX_SAFE_INTEGER) throw new Error();
 * ```
 */
export function writebackControl(
  w: Partial<WritebackControl> & Pick<WritebackControl, "syncMode">,
): WritebackControl {
  return {
    nrToWrite: Number.MAX_SAFE_INTEGER,
    rangeStart: 0,
    rangeEnd: WBC_END_MAX,
    pagesSkipped: 0,
    reason: w.syncMode === "WB_SYNC_ALL" ? "sync" : "background",
    ...w,
  };
}

interface IterState {
  batch: number[];
  index: number;
  savedErr: number;
}

const iters = new WeakMap<WritebackControl, IterState>();

/**
 * tag_pages_for_writeback(): set TOWRITE on every dirty folio in [start, end], remembering
 * which use of the frame was tagged.
 */
function tagPagesForWriteback(mm: Mm, mapping: AddressSpace, start: number, end: number): void {
  const s = wbState(mm);
  let tw = s.towrite.get(mapping.id);
  if (!tw) s.towrite.set(mapping.id, tw = new Map());
  const mem = mm.mem;
  const t = tw;
  mapping.pages.forEach((index, pfn) => {
    if (index < start || index > end || mem.index[pfn] !== index) return;
    if (mem.testFlag(pfn, PG.dirty)) t.set(index, mem.generation[pfn]!);
  });
}

/**
 * filemap_get_folios_tag(): up to FOLIO_BATCH head folios from `index` to `end` carrying the
 * tag (PG_dirty / PG_writeback, or the TOWRITE mark), in index order, each with a reference
 * (folio_try_get). Advances `*index` past the last one.
 */
function filemapGetFoliosTag(
  mm: Mm,
  mapping: AddressSpace,
  from: number,
  end: number,
  tag: "dirty" | "writeback" | "towrite",
): { folios: number[]; next: number } {
  const mem = mm.mem;
  const found: number[] = [];
  if (tag === "towrite") {
    const tw = wbState(mm).towrite.get(mapping.id);
    if (tw) {
      const stale: number[] = [];
      for (const [index, gen] of tw) {
        if (index < from || index > end) continue;
        const pfn = mapping.pages.load(index);
        // The mark lives in the xarray slot: gone with the folio it was set on.
        if (pfn < 0 || mem.generation[pfn] !== gen || mem.index[pfn] !== index) stale.push(index);
        else found.push(index);
      }
      for (const i of stale) tw.delete(i);
    }
  } else {
    const bit = tag === "dirty" ? PG.dirty : PG.writeback;
    mapping.pages.forEach((index, pfn) => {
      if (index < from || index > end || mem.index[pfn] !== index) return;
      if (mem.testFlag(pfn, bit)) found.push(index);
    });
  }
  found.sort((a, b) => a - b);
  const folios: number[] = [];
  let next = from;
  for (const index of found) {
    if (folios.length === FOLIO_BATCH) break;
    const pfn = mapping.pages.load(index);
    next = index + (1 << mem.order[pfn]!);
    if (folioTryGet(mm, pfn)) folios.push(pfn);
  }
  if (folios.length < FOLIO_BATCH) next = end + 1;
  return { folios, next };
}

/** folio_batch_release(). */
function folioBatchRelease(mm: Mm, batch: number[]): void {
  for (const f of batch) folioPut(mm, f);
  batch.length = 0;
}

/**
 * folio_prepare_writeback() (mm/page-writeback.c, v6.10+; the body of write_cache_pages()
 * before): with the folio locked, skip it if it was truncated or is clean; if it is under
 * writeback, WB_SYNC_NONE skips it and WB_SYNC_ALL waits (folio_wait_writeback); then
 * BUG_ON(folio_test_writeback) — recorded as the violation "BUG_ON(PageWriteback)", which
 * fires when a wait returns with the bit set (the 5.9-era race, CLAIMS.md C3.1); then
 * folio_clear_dirty_for_io.
 */
function* folioPrepareWriteback(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
  folio: number,
): Process<boolean> {
  const mem = mm.mem;
  if (mem.mapping[folio] !== mapping.id) return false;
  if (!mem.testFlag(folio, PG.dirty)) return false;
  if (mem.testFlag(folio, PG.writeback)) {
    if (wbc.syncMode === "WB_SYNC_NONE") return false;
    yield* folioWaitWriteback(mm, folio);
  }
  mm.env.always(
    "BUG_ON(PageWriteback)",
    !mem.testFlag(folio, PG.writeback),
    `${wbc.syncMode} writeback: ${mm.describeFolio(folio)} is still under writeback after ` +
      `folio_wait_writeback`,
  );
  return folioClearDirtyForIo(mm, folio);
}

/**
 * writeback_iter() (mm/page-writeback.c, v6.10+): the iterator ->writepages implementations
 * loop over. Call with `folio` -1 to start; each call returns the next folio to write, locked
 * and with PG_dirty cleared for I/O (writeback_get_folio: batch lookup by the DIRTY tag, or by
 * TOWRITE after tag_pages_for_writeback for WB_SYNC_ALL; folio_lock — a sleeping lock in both
 * modes; folio_prepare_writeback), or -1 when done. Pass the previous folio back with the
 * error its write returned in `error.value`; at the end `error.value` holds the first error
 * (WB_SYNC_ALL keeps going after errors, WB_SYNC_NONE stops). `wbc.nrToWrite` counts down by
 * folio_nr_pages, and WB_SYNC_NONE stops at zero. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, folioUnlock, writebackIter, writebackControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (const i of [3, 1]) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); folioMarkDirty(mm, f); }
 * const seen: number[] = [];
 * env.spawn("wb", function* () {
 *   const wbc = writebackControl({ syncMode: "WB_SYNC_NONE" });
 *   const error = { value: 0 };
 *   let f = -1;
 *   while ((f = yield* writebackIter(mm, m, wbc, f, error)) !== -1) {
 *     seen.push(mm.mem.index[f]!);
 *     folioUnlock(mm, f);
 *   }
 * });
 * env.run();
 * if (seen.join() !== "1,3") throw new Error(`index order, got ${seen}`);
 * ```
 */
export function* writebackIter(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
  folio: number,
  error: { value: number },
): Process<number> {
  let it = iters.get(wbc);
  if (folio < 0) {
    it = { batch: [], index: wbc.rangeStart, savedErr: 0 };
    iters.set(wbc, it);
    error.value = 0;
    if (wbc.syncMode === "WB_SYNC_ALL") {
      tagPagesForWriteback(mm, mapping, wbc.rangeStart, wbc.rangeEnd);
    }
  } else {
    if (!it) throw new Error(`writeback_iter: folio ${folio} given before the walk started`);
    wbc.nrToWrite -= nrPages(mm, folio);
    if (error.value) {
      if (wbc.syncMode === "WB_SYNC_NONE") return done(it);
      if (!it.savedErr) it.savedErr = error.value;
    }
    if (wbc.nrToWrite <= 0 && wbc.syncMode === "WB_SYNC_NONE") return done(it);
  }
  const st = it;
  // writeback_get_folio()
  for (;;) {
    let next = st.batch.shift();
    if (next === undefined) {
      folioBatchRelease(mm, st.batch);
      yield mm.env.point(); // cond_resched()
      if (st.index > wbc.rangeEnd) break;
      const tag = wbc.syncMode === "WB_SYNC_ALL" ? "towrite" : "dirty";
      const r = filemapGetFoliosTag(mm, mapping, st.index, wbc.rangeEnd, tag);
      st.index = r.next;
      st.batch = r.folios;
      next = st.batch.shift();
      if (next === undefined) break;
    }
    yield* folioLock(mm, next);
    if (!(yield* folioPrepareWriteback(mm, mapping, wbc, next))) {
      folioUnlock(mm, next);
      folioPut(mm, next); // its batch reference
      continue;
    }
    mm.env.emit("wbc_writepage", next, null, wbc.syncMode);
    folioPut(mm, next); // the caller holds the lock; the page cache holds the folio
    return next;
  }
  iters.delete(wbc);
  error.value = st.savedErr;
  return -1;

  function done(st: IterState): number {
    folioBatchRelease(mm, st.batch);
    iters.delete(wbc);
    return -1;
  }
}

/**
 * write_cache_pages() (mm/page-writeback.c, v6.10+ form over writeback_iter): hand every
 * dirty folio of `wbc`'s range to `writeFolio`, in index order, locked and with PG_dirty
 * cleared. `writeFolio` is `->writepage`: it must start writeback (or redirty) and unlock the
 * folio, and return 0 or -errno; returning {@link AOP_WRITEPAGE_ACTIVATE} means it kept the
 * lock and declined. WB_SYNC_NONE skips folios under writeback; WB_SYNC_ALL waits for them.
 * Returns 0 or the first error. Use with `yield*`.
 *
 * Divergence: the kernel keeps its lookup reference until the batch is released; the model
 * drops it when the folio is handed out (the page cache still holds the folio, and the caller
 * holds its lock).
 *
 * @example WB_SYNC_NONE skips a folio under writeback
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, folioStartWriteback, folioUnlock, writeCachePages, writebackControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * folioStartWriteback(mm, f); // an earlier write is still in flight
 * let written = 0;
 * env.spawn("flusher", function* () {
 *   yield* writeCachePages(mm, m, writebackControl({ syncMode: "WB_SYNC_NONE" }), function* (folio) {
 *     written++;
 *     folioUnlock(mm, folio);
 *     return 0;
 *   });
 * });
 * env.run();
 * if (written !== 0) throw new Error("skipped");
 * ```
 */
export function* writeCachePages(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
  writeFolio: (folio: number) => Process<number>,
): Process<number> {
  const error = { value: 0 };
  let folio = -1;
  while ((folio = yield* writebackIter(mm, mapping, wbc, folio, error)) !== -1) {
    error.value = yield* writeFolio(folio);
    if (error.value === AOP_WRITEPAGE_ACTIVATE) {
      folioUnlock(mm, folio);
      error.value = 0;
    }
  }
  return error.value;
}

/**
 * do_writepages() (mm/page-writeback.c): nothing if `wbc.nrToWrite <= 0`; else the mapping's
 * `->writepages`, or {@link mpageWritepages} for mappings without one; WB_SYNC_ALL retries
 * -ENOMEM after reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK) (a 100 ms sleep here). Returns 0
 * or -errno. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, doWritepages, writebackControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * let calls = 0;
 * // deno-lint-ignore require-yield
 * const m = AddressSpace.create(mm, { name: "f", aops: { writepages: function* () { calls++; return 0; } } });
 * env.spawn("wb", function* () { yield* doWritepages(mm, m, writebackControl({ syncMode: "WB_SYNC_NONE" })); });
 * env.run();
 * if (calls !== 1) throw new Error("->writepages called");
 * ```
 */
export function* doWritepages(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
): Process<number> {
  if (wbc.nrToWrite <= 0) return 0;
  let ret: number;
  for (;;) {
    const wp = mapping.aops.writepages;
    ret = wp ? yield* wp(mm, mapping, wbc) : yield* mpageWritepages(mm, mapping, wbc);
    if (ret !== -ENOMEM || wbc.syncMode !== "WB_SYNC_ALL") break;
    yield mm.env.sleep(100_000_000); // reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): HZ/10
  }
  return ret;
}

/**
 * __filemap_fdatawrite_range() / filemap_fdatawrite_wbc(): if the mapping has dirty folios,
 * do_writepages over [start, end] (page indices, inclusive) with `syncMode` and no page limit.
 * Returns 0 or -errno. Use with `yield*`.
 */
function* filemapFdatawriteRange(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
  syncMode: WritebackControl["syncMode"],
): Process<number> {
  if (!mappingTagged(mm, mapping, PG.dirty)) return 0;
  const wbc = writebackControl({ syncMode, rangeStart: start, rangeEnd: end, reason: "fsync" });
  return yield* doWritepages(mm, mapping, wbc);
}

/**
 * __filemap_fdatawrite() / filemap_fdatawrite() (mm/filemap.c): start writeback of every dirty
 * folio of the mapping with `syncMode` (filemap_fdatawrite passes WB_SYNC_ALL: wait for
 * writeback already in flight, then write). Does not wait for the new I/O. Returns 0 or
 * -errno. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, filemapFdatawrite, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 } }).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * let underWb = false;
 * env.spawn("t", function* () { yield* filemapFdatawrite(mm, m, "WB_SYNC_ALL"); underWb = mm.mem.testFlag(f, PG.writeback); });
 * env.run();
 * if (!underWb) throw new Error("returns with the I/O in flight");
 * ```
 */
export function* filemapFdatawrite(
  mm: Mm,
  mapping: AddressSpace,
  syncMode: WritebackControl["syncMode"],
): Process<number> {
  return yield* filemapFdatawriteRange(mm, mapping, 0, WBC_END_MAX, syncMode);
}

/**
 * __filemap_fdatawait_range() (mm/filemap.c): wait for writeback of every folio under
 * writeback in [start, end] (batch lookup by the WRITEBACK tag, folio_wait_writeback on each,
 * no folio lock).
 */
function* filemapFdatawaitRangeNoErr(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
): Process<void> {
  let index = start;
  while (index <= end) {
    const r = filemapGetFoliosTag(mm, mapping, index, end, "writeback");
    index = r.next;
    if (r.folios.length === 0) break;
    for (const f of r.folios) yield* folioWaitWriteback(mm, f);
    folioBatchRelease(mm, r.folios);
    yield mm.env.point(); // cond_resched()
  }
}

/**
 * filemap_check_errors() (mm/filemap.c): report and clear AS_ENOSPC / AS_EIO.
 */
function filemapCheckErrors(mapping: AddressSpace): number {
  const e = mapping.wbErr;
  mapping.wbErr = null;
  return e === "ENOSPC" ? -ENOSPC : e === "EIO" ? -EIO : 0;
}

/**
 * filemap_fdatawait() (mm/filemap.c): wait for all writeback of the mapping that is in flight
 * now, then report (and clear) a writeback error: 0, -EIO or -ENOSPC. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapAddFolio, folioAlloc, folioStartWriteback, folioEndWriteback, filemapFdatawait } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioStartWriteback(mm, f);
 * m.wbErr = "EIO";
 * let ret = 0;
 * env.spawn("fsync", function* () { ret = yield* filemapFdatawait(mm, m); });
 * env.spawn("end_io", function* () { yield env.sleep(50); yield* folioEndWriteback(mm, f); });
 * env.run();
 * if (ret !== -5 || env.nowNs !== 50) throw new Error("waited, then -EIO");
 * ```
 */
export function* filemapFdatawait(mm: Mm, mapping: AddressSpace): Process<number> {
  yield* filemapFdatawaitRangeNoErr(mm, mapping, 0, WBC_END_MAX);
  return filemapCheckErrors(mapping);
}

/**
 * filemap_fdatawait_keep_errors() (mm/filemap.c): wait for all writeback of the mapping in
 * flight now; report a writeback error (0, -EIO, -ENOSPC) without clearing it, so a later
 * fsync(2) still sees it. What wait_sb_inodes() (sync(2)) uses. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapFdatawaitKeepErrors } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * m.wbErr = "ENOSPC";
 * let r = 0;
 * env.spawn("sync", function* () { r = yield* filemapFdatawaitKeepErrors(mm, m); });
 * env.run();
 * if (r !== -28 || m.wbErr !== "ENOSPC") throw new Error("reported and kept");
 * ```
 */
export function* filemapFdatawaitKeepErrors(mm: Mm, mapping: AddressSpace): Process<number> {
  yield* filemapFdatawaitRangeNoErr(mm, mapping, 0, WBC_END_MAX);
  const e = mapping.wbErr;
  return e === "ENOSPC" ? -ENOSPC : e === "EIO" ? -EIO : 0;
}

/**
 * filemap_write_and_wait_range() (mm/filemap.c): WB_SYNC_ALL writeback of [start, end] (page
 * indices, inclusive), then — unless that returned -EIO — wait for the range's writeback;
 * returns the first of the write error and the mapping's writeback error. What fsync(2) and
 * direct I/O do first. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapWriteAndWaitRange } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "empty" });
 * let r = 1;
 * env.spawn("t", function* () { r = yield* filemapWriteAndWaitRange(mm, m, 0, 10); });
 * env.run();
 * if (r !== 0) throw new Error("nothing to do");
 * ```
 */
export function* filemapWriteAndWaitRange(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
): Process<number> {
  if (end < start) return 0;
  let err = 0;
  if (mapping.nrpages > 0) {
    err = yield* filemapFdatawriteRange(mm, mapping, start, end, "WB_SYNC_ALL");
    if (err !== -EIO) yield* filemapFdatawaitRangeNoErr(mm, mapping, start, end);
  }
  const err2 = filemapCheckErrors(mapping);
  return err || err2;
}

// ------------------------------------------------------------------------- dirty throttling

/**
 * The global and per-bdi dirty state balance_dirty_pages() works from.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, dirtyLimits, type DirtyLimits, Engine, filemapAddFolio, folioAlloc, folioMarkDirty, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 4096 } });
 * const m = AddressSpace.create(mm, { name: "usb stick" });
 * new BlockDevice(mm, { maxRatio: 50 }).attach(m); // /sys/class/bdi/…/max_ratio = 50
 * for (let i = 0; i < 10; i++) {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioMarkDirty(mm, f);
 * }
 * const l: DirtyLimits = dirtyLimits(mm, m);
 * if (l.nrReclaimable !== 10 || l.wbDirty !== 10) throw new Error("NR_FILE_DIRTY and the bdi's dirty pages");
 * if (l.wbThresh !== Math.floor(l.thresh / 2) || l.bgThresh > l.thresh) throw new Error(JSON.stringify(l));
 * ```
 */
export interface DirtyLimits {
  /** global_dirtyable_memory(): free pages above the reserve + file LRU pages. */
  avail: number;
  /** Global threshold (vm.dirty_ratio). */
  thresh: number;
  /** Global background threshold (vm.dirty_background_ratio). */
  bgThresh: number;
  /** NR_FILE_DIRTY + NR_WRITEBACK. */
  dirty: number;
  /** NR_FILE_DIRTY. */
  nrReclaimable: number;
  /** The bdi's share of `thresh` (max_ratio). */
  wbThresh: number;
  /** The bdi's share of `bgThresh`. */
  wbBgThresh: number;
  /** Dirty + writeback pages of the bdi's mappings. */
  wbDirty: number;
}

/**
 * global_dirty_limits() + the per-bdi part of balance_dirty_pages() (simplified): dirtyable
 * memory is free pages above totalreserve_pages (the zone's high watermark) plus the file LRU
 * pages; thresh = dirty_ratio% and bg_thresh = dirty_background_ratio% of it (bg_thresh at
 * most thresh / 2); the bdi gets `max_ratio`% of both.
 *
 * Divergence: the kernel splits the limit between bdis by their recent writeout fraction
 * (wb_calc_thresh); here each bdi's share is just its max_ratio.
 *
 * @example
 * ```ts
 * import { Engine, Mm, dirtyLimits } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 10000 } });
 * const l = dirtyLimits(mm, null);
 * if (!(l.bgThresh < l.thresh && l.thresh < l.avail)) throw new Error(JSON.stringify(l));
 * ```
 */
export function dirtyLimits(mm: Mm, mapping: AddressSpace | null): DirtyLimits {
  const cfg = wbState(mm).config;
  const zone = mm.zone;
  const free = zone.nrFreePages;
  const lru = mm.lruvec.nrPages;
  const avail = free - Math.min(free, zone.wmarkHigh) + lru[LRU_INACTIVE_FILE]! +
    lru[LRU_ACTIVE_FILE]! + 1;
  const thresh = Math.floor(cfg.dirtyRatio * avail / 100);
  let bgThresh = Math.floor(cfg.dirtyBackgroundRatio * avail / 100);
  if (bgThresh >= thresh) bgThresh = Math.floor(thresh / 2);
  const nrReclaimable = mm.vmstat.get("nr_dirty");
  const dirty = nrReclaimable + mm.vmstat.get("nr_writeback");
  let wbThresh = thresh, wbBgThresh = bgThresh, wbDirty = dirty;
  if (mapping) {
    const bdev = inodeToBdi(mm, mapping);
    wbThresh = Math.floor(thresh * bdev.config.maxRatio / 100);
    wbBgThresh = Math.floor(bgThresh * bdev.config.maxRatio / 100);
    wbDirty = bdiDirtyPages(mm, bdev);
  }
  return { avail, thresh, bgThresh, dirty, nrReclaimable, wbThresh, wbBgThresh, wbDirty };
}

/** WB_RECLAIMABLE + WB_WRITEBACK of a bdi, counted over the mappings it backs. */
function bdiDirtyPages(mm: Mm, bdev: BlockDevice): number {
  const mem = mm.mem;
  let n = 0;
  for (const m of mm.mappings) {
    if (!(m instanceof AddressSpace) || inodeToBdi(mm, m) !== bdev) continue;
    m.pages.forEach((index, pfn) => {
      if (mem.index[pfn] !== index) return;
      if (mem.testFlag(pfn, PG.dirty) || mem.testFlag(pfn, PG.writeback)) {
        n += 1 << mem.order[pfn]!;
      }
    });
  }
  return n;
}

/** dirty_freerun_ceiling(): (thresh + bg_thresh) / 2. */
function freerunCeiling(thresh: number, bgThresh: number): number {
  return Math.floor((thresh + bgThresh) / 2);
}

/**
 * pos_ratio_polynom() (mm/page-writeback.c): 1 + ((setpoint − dirty) / (limit − setpoint))³,
 * clamped to [0, 2]: 1 at the setpoint, 2 at freerun, 0 at the limit.
 */
function posRatioPolynom(setpoint: number, dirty: number, limit: number): number {
  const x = (setpoint - dirty) / Math.max(1, limit - setpoint + 1);
  return Math.min(2, Math.max(0, 1 + x * x * x));
}

/**
 * balance_dirty_pages() (mm/page-writeback.c, simplified): throttle a task that just dirtied
 * `pagesDirtied` pages of `mapping`.
 *
 * - Below the freerun ceiling ((thresh + bg_thresh) / 2; with BDI_CAP_STRICTLIMIT the bdi's
 *   own ceiling; a PF_LOCAL_THROTTLE task also below the bdi's ceiling) it returns at once.
 * - Otherwise it kicks background writeback if the flusher is idle, then sleeps
 *   `pagesDirtied / task_ratelimit`, where task_ratelimit = write bandwidth × pos_ratio
 *   (pos_ratio_polynom around the setpoint between freerun and the limit), at most MAX_PAUSE.
 * - At or above the limit (pos_ratio 0) it sleeps MAX_PAUSE and checks again, until below.
 *
 * Divergence: no bandwidth or dirty-ratelimit estimation (the rate stays at INIT_BW), no
 * per-task ratelimit (every call is checked), no min-pause batching. Use with `yield*`.
 *
 * @example A writer below the freerun ceiling is not throttled
 * ```ts
 * import { AddressSpace, Engine, Mm, balanceDirtyPages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * env.spawn("writer", function* () { yield* balanceDirtyPages(mm, m, 1); });
 * if (env.run().nowNs !== 0) throw new Error("free running");
 * ```
 */
export function* balanceDirtyPages(
  mm: Mm,
  mapping: AddressSpace,
  pagesDirtied: number,
): Process<void> {
  const env = mm.env;
  const s = wbState(mm);
  const cfg = s.config;
  const bdev = inodeToBdi(mm, mapping);
  const strict = bdev.config.strictLimit;
  const localThrottle = env.current?.hasFlag(TaskFlag.LOCAL_THROTTLE) ?? false;
  const bwPagesPerNs = cfg.writeBandwidthBytesPerSec / mm.mem.pageSizeBytes / 1e9;
  for (;;) {
    const needWb = strict || localThrottle || bdev.config.maxRatio < 100;
    const l = dirtyLimits(mm, needWb ? mapping : null);
    const [dirty, thresh, bg] = strict
      ? [l.wbDirty, l.wbThresh, l.wbBgThresh]
      : [l.dirty, l.thresh, l.bgThresh];
    if (l.nrReclaimable > l.bgThresh && !s.running) wbStartBackgroundWriteback(mm);
    const freerun = freerunCeiling(thresh, bg);
    if (dirty <= freerun) break;
    if (localThrottle && l.wbDirty < freerunCeiling(l.wbThresh, l.wbBgThresh)) break;
    if (!s.running) wbStartBackgroundWriteback(mm);
    const limit = Math.max(thresh, freerun + 1);
    const setpoint = Math.floor((freerun + limit) / 2);
    const posRatio = posRatioPolynom(setpoint, dirty, limit);
    const taskRatelimit = bwPagesPerNs * posRatio;
    const pause = taskRatelimit > 0
      ? Math.min(cfg.maxPauseNs, Math.round(pagesDirtied / taskRatelimit))
      : cfg.maxPauseNs;
    env.emit("balance_dirty_pages", mapping.name, { dirty, thresh, bg, freerun }, {
      posRatio,
      pauseNs: pause,
    });
    s.stats.pauses++;
    s.stats.pausedNs += pause;
    yield env.sleep(pause);
    if (taskRatelimit > 0) break;
  }
}
