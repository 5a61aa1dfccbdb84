/**
 * The page-cache read path, folio lookup/creation, the buffered write path, and releasing a
 * folio's private data: `filemap_read` → `filemap_get_pages` → (`filemap_get_read_batch`,
 * readahead, `filemap_create_folio`, `filemap_update_page` → `filemap_read_folio`),
 * `__filemap_get_folio` (FGP_*), `generic_perform_write`, `filemap_release_folio`,
 * `kiocb_invalidate_pages`.
 *
 * Follows mm/filemap.c of the v6.10-era tree b6273b55 (torvalds/linux) with the v6.12
 * minimum-folio-order changes (Pankaj Raghav, "filemap: allocate mapping_min_order folios in
 * the page cache": min-order `filemap_create_folio` and `__filemap_get_folio`), mm/internal.h
 * `folio_needs_release` (with AS_RELEASE_ALWAYS, David Howells, v6.5/6.6) and
 * include/linux/page-flags.h `folio_has_private` (PAGE_FLAGS_PRIVATE = PG_private |
 * PG_private_2 in every tree read, v5.x through v6.10: PG_private_2 counts for release and
 * invalidate in all modelled eras, so no era switch is needed; only the *refcount* rule for
 * PG_private_2 changed, see `folioExpectedRefCount`).
 *
 * The read-path rules the claims rest on (CLAIMS.md thread 000):
 * - the read batch stops at a folio that is not uptodate or carries PG_readahead;
 * - PG_readahead starts asynchronous readahead (`page_cache_async_ra`);
 * - `filemap_update_page`: if the trylock fails, drop the reference, wait for the unlock
 *   (`folio_put_wait_locked`) and return AOP_TRUNCATED_PAGE so the caller looks the folio up
 *   again; a folio with no mapping (truncated) is also looked up again; a locked folio that is
 *   still not uptodate is read synchronously (`->read_folio`), -EIO on failure; IOCB_NOWAIT /
 *   IOCB_NOIO give -EAGAIN instead of waiting or reading;
 * - a reader never copies from a folio that is not uptodate (checked: a violation
 *   `filemap_read: !uptodate` is recorded, which is the finding if it ever happens).
 *
 * Contents are tags: a read returns `mem.data[pfn]` of each page; a hole reads as tag 0; a
 * write puts a new tag in `mem.data` and in `mapping.latest`.
 *
 * Lock order (mm/filemap.c, the parts modelled):
 *   i_rwsem (writers; not modelled) → invalidate_lock → folio lock → i_pages lock (atomic)
 *
 * The mapping's `invalidate_lock` (v5.15+, Jan Kara) is taken shared by filemap_update_page,
 * filemap_create_folio and readahead, and exclusively by a filesystem around truncation
 * ({@link filemapInvalidateLock}), so no new folio can be instantiated in a range being
 * truncated. The model takes it in every era (before v5.15 filesystems had their own locks).
 *
 * Interleaving: a preemption point sits between the batch lookup and filemap_update_page()
 * (the window in which a folio can be truncated or abandoned while a reader holds a
 * reference); allocation, lock waits and I/O are the other places a reader can be overtaken.
 *
 * The include/linux/pagemap.h helpers (FGP flags, mapping gfp mask, i_size, invalidate lock)
 * live in pagemap.ts, readahead in readahead.ts, truncation in truncate.ts; the names the mm
 * contract places in filemap.ts are re-exported from here.
 *
 * Left out: IOCB_WAITQ (async buffered reads), `is_partially_uptodate`, splice
 * (`filemap_splice_read`), `filemap_fault` (see mmap.ts), workingset refault detection (shadow
 * entries), dcache flushing, byte granularity (reads and writes are whole pages; a partial
 * write is a whole-page write here unless the folio is large).
 *
 * @module
 */

import type { Effect, Process } from "../sim/engine.ts";
import {
  AddressSpace,
  type Errno,
  filemapAddFolio,
  filemapGetEntry,
  type KResult,
} from "./address_space.ts";
import {
  folioDetachPrivate,
  folioLock,
  folioPut,
  folioTestUptodate,
  folioTryGet,
  folioTrylock,
  folioUnlock,
  folioWaitBit,
} from "./folio.ts";
import { folioMarkAccessed } from "./lru.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import {
  __GFP_FS,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_WRITE,
  folioAllocGfp,
  GFP_KERNEL,
  GFP_NOWAIT,
} from "./page_alloc.ts";
import {
  fgfGetOrder,
  FGP,
  filemapInvalidateLockShared,
  filemapInvalidateTrylockShared,
  filemapInvalidateUnlockShared,
  iSizeRead,
  iSizeWrite,
  mappingGfpMask,
  mappingMinFolioOrder,
} from "./pagemap.ts";
import {
  type FileRaState,
  mappingDefaultRa,
  pageCacheAsyncReadahead,
  pageCacheSyncReadahead,
} from "./readahead.ts";
import { invalidateInodePages2Range } from "./truncate.ts";
import {
  balanceDirtyPages,
  filemapWriteAndWaitRange,
  folioMarkDirty,
  folioWaitStable,
} from "./writeback.ts";

// include/linux/pagemap.h names, re-exported for callers of filemap.ts (see pagemap.ts).
export {
  fgfGetOrder,
  fgfSetOrder,
  FGP,
  filemapInvalidateLock,
  filemapInvalidateLockShared,
  filemapInvalidateTrylockShared,
  filemapInvalidateUnlock,
  filemapInvalidateUnlockShared,
  iSizeRead,
  iSizeWrite,
  mappingGfpMask,
  mappingInvalidateLock,
  mappingMinFolioOrder,
  mappingSetGfpMask,
} from "./pagemap.ts";
export {
  type FileRaState,
  fileRaStateInit,
  pageCacheAsyncRa,
  pageCacheAsyncReadahead,
  pageCacheSyncRa,
  pageCacheSyncReadahead,
} from "./readahead.ts";
export {
  invalidateInodePages2Range,
  truncateInodeFolio,
  truncateInodePagesRange,
} from "./truncate.ts";

/**
 * AOP_TRUNCATED_PAGE (include/linux/fs.h): "the folio went away while we slept; look it up
 * again". A positive, non-error status of `filemap_update_page` / `filemap_create_folio`.
 *
 * @example
 * ```ts
 * import { AOP_TRUNCATED_PAGE } from "@mmsim/mmsim";
 * if (AOP_TRUNCATED_PAGE !== "AOP_TRUNCATED_PAGE") throw new Error();
 * ```
 */
export const AOP_TRUNCATED_PAGE = "AOP_TRUNCATED_PAGE" as const;

/**
 * What the read-path helpers return, as the kernel's int: 0, AOP_TRUNCATED_PAGE or -errno.
 *
 * @example After waiting for another reader's lock the caller is told to look again
 * ```ts
 * import { AddressSpace, AOP_TRUNCATED_PAGE, Engine, filemapAddFolio, type FilemapStatus, filemapUpdatePage, folioAlloc, folioEndRead, folioGet, folioTrylock, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioTrylock(mm, f); // another task's read is in flight
 * const seen: FilemapStatus[] = [];
 * env.spawn("reader", function* () {
 *   folioGet(mm, f);
 *   seen.push(yield* filemapUpdatePage(mm, m, f)); // waits for the unlock, then: look it up again
 *   folioGet(mm, f);
 *   seen.push(yield* filemapUpdatePage(mm, m, f)); // uptodate now: 0
 * });
 * env.spawn("end_io", function* (env) { yield env.sleep(100); folioEndRead(mm, f, true); });
 * env.run();
 * if (seen[0] !== AOP_TRUNCATED_PAGE || seen[1] !== 0) throw new Error(`${seen}`);
 * ```
 */
export type FilemapStatus = 0 | typeof AOP_TRUNCATED_PAGE | Errno;

/**
 * filemap_add_folio(): `__folio_set_locked` + `__filemap_add_folio` + `folio_add_lru` — the
 * new folio enters the page cache locked (address_space.ts `filemapAddFolio` is the unlocked
 * insert, hence the different name). On failure the lock bit is cleared again; EEXIST comes
 * back as `EBUSY` (address_space.ts convention).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolioLocked, folioTestLocked } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * if (!filemapAddFolioLocked(mm, m, f, 3).ok || !folioTestLocked(mm, f)) throw new Error();
 * ```
 */
export function filemapAddFolioLocked(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  index: number,
): KResult {
  mm.mem.setFlag(folio, PG.locked);
  mm.setBitHolder(folio, PG.locked, mm.env.current);
  const r = filemapAddFolio(mm, mapping, folio, index);
  if (!r.ok) {
    mm.mem.clearFlag(folio, PG.locked);
    mm.setBitHolder(folio, PG.locked, null);
  }
  return r;
}

// ---------------------------------------------------------------- lookups

/**
 * Options of the read path (the `kiocb` flags modelled).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, fileRaStateInit, filemapRead, folioEndRead, Mm, type ReadOptions } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * const noio: ReadOptions = { noio: true }; // IOCB_NOIO: start no I/O
 * const noReadahead: ReadOptions = { ra: fileRaStateInit(mm, 0) }; // ra_pages = 0
 * const got: string[] = [];
 * env.spawn("reader", function* () {
 *   const miss = yield* filemapRead(mm, m, 0, 1, noio);
 *   got.push(miss.ok ? "ok" : miss.errno); // a miss would need I/O: -EAGAIN
 *   const r = yield* filemapRead(mm, m, 0, 1, noReadahead);
 *   got.push(r.ok ? `${m.nrpages} page` : r.errno); // exactly the page asked for
 * });
 * env.run();
 * if (got.join() !== "EAGAIN,1 page") throw new Error(`${got}`);
 * ```
 */
export interface ReadOptions {
  /** The file's readahead window (default: the mapping's, see `mappingDefaultRa`). */
  ra?: FileRaState;
  /** IOCB_NOWAIT: never sleep (-EAGAIN instead). */
  nowait?: boolean;
  /** IOCB_NOIO: start no I/O (-EAGAIN instead). */
  noio?: boolean;
}

/**
 * folio_put_wait_locked(): drop the reference and wait once for PG_locked to be cleared
 * (behaviour DROP: no re-check after the wake). The wait is queued before the reference is
 * dropped, in the same step, as in folio_wait_bit_common(). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioGet, folioTrylock, folioUnlock, folioPutWaitLocked } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * env.spawn("waiter", function* () { folioGet(mm, f); yield* folioPutWaitLocked(mm, f); });
 * env.spawn("owner", function* (e) { yield e.sleep(10); folioUnlock(mm, f); });
 * if (env.run().reason !== "done" || mm.mem.refcount[f] !== 1) throw new Error();
 * ```
 */
export function* folioPutWaitLocked(mm: Mm, folio: number): Process<void> {
  mm.env.emit("folio_put_wait_locked", folio);
  if (!mm.mem.testFlag(folio, PG.locked)) {
    folioPut(mm, folio);
    return;
  }
  // The waiter is queued (below, before the first yield) in the same atomic step as the put.
  const wait = folioWaitBit(mm, folio, PG.locked);
  let r: IteratorResult<Effect, boolean> = wait.next();
  folioPut(mm, folio);
  while (!r.done) {
    const v: unknown = yield r.value;
    r = wait.next(v);
  }
}

/**
 * folio_try_get() on a page-cache entry, as the lockless lookups do: a frozen folio
 * (refcount 0, being migrated or split) is retried after a short spin.
 */
function* filemapGetEntryRef(mm: Mm, mapping: AddressSpace, index: number): Process<number> {
  for (;;) {
    const folio = filemapGetEntry(mapping, index);
    if (folio < 0) return -1;
    if (folioTryGet(mm, folio)) {
      if (filemapGetEntry(mapping, index) === folio) return folio;
      folioPut(mm, folio);
      continue;
    }
    // Divergence: the kernel spins (xas_reset + reload); the model waits 100 ns of virtual
    // time so the freezer (migration, split) can finish.
    yield mm.env.sleep(100);
  }
}

/**
 * filemap_get_read_batch(): the folios for a contiguous run of indices starting at `index`
 * (up to `max`, inclusive), each with a reference. The batch ends at a hole, after a folio
 * that is not uptodate, or after one marked PG_readahead, so the caller can act on the last
 * folio. Use with `yield*` (it spins on a frozen folio).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, filemapGetReadBatch, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const fs = [0, 1, 2].map((i) => { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); return f; });
 * mm.mem.setFlag(fs[0]!, PG.uptodate); // 1 is not uptodate: the batch stops there
 * let batch: number[] = [];
 * env.spawn("r", function* () { batch = yield* filemapGetReadBatch(mm, m, 0, 2); });
 * env.run();
 * if (batch.length !== 2) throw new Error(`got ${batch}`);
 * ```
 */
export function* filemapGetReadBatch(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  max: number,
): Process<number[]> {
  const batch: number[] = [];
  const mem = mm.mem;
  let i = index;
  // Divergence: no folio_batch limit (PAGEVEC_SIZE, 31 folios): the batch runs to `max`. A
  // longer batch only means fewer filemap_get_pages() rounds; the stop rules are the kernel's.
  while (i <= max) {
    const folio = yield* filemapGetEntryRef(mm, mapping, i);
    if (folio < 0) break;
    batch.push(folio);
    if (!mem.testFlag(folio, PG.uptodate)) break;
    if (mem.testFlag(folio, PG.readahead)) break;
    i = mem.index[folio]! + (1 << mem.order[folio]!);
  }
  return batch;
}

/**
 * filemap_read_folio(): start `->read_folio` on a locked folio, wait once for the unlock
 * (folio_wait_locked_killable: one wake, no re-check), then report 0 if the folio is uptodate
 * and -EIO if not (shrinking the readahead window, shrink_readahead_size_eio). The read
 * unlocks the folio whatever happens.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolioLocked, filemapReadFolio, folioEndRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, false); return 0; } } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolioLocked(mm, m, f, 0);
 * let r: unknown;
 * env.spawn("r", function* () { r = yield* filemapReadFolio(mm, m, f); });
 * env.run();
 * if (r !== "EIO") throw new Error("a failed read is -EIO");
 * ```
 */
export function* filemapReadFolio(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  ra?: FileRaState,
): Process<0 | Errno> {
  const read = mapping.aops.readFolio;
  if (!read) throw new Error(`filemap_read_folio: ${mapping.name} has no ->read_folio`);
  mm.env.emit("filemap_read_folio", folio, null, { mapping: mapping.name });
  const err = yield* mapping.aops.readFolio!(mm, mapping, folio);
  // Divergence: any non-zero ->read_folio return is -EIO here; the kernel passes the error up
  // (AOP_TRUNCATED_PAGE from a filesystem makes filemap_create_folio's caller look again).
  if (err !== 0) return "EIO";
  if (mm.mem.testFlag(folio, PG.locked)) yield* folioWaitBit(mm, folio, PG.locked);
  if (folioTestUptodate(mm, folio)) return 0;
  if (ra) ra.raPages = Math.floor(ra.raPages / 4); // shrink_readahead_size_eio()
  return "EIO";
}

/**
 * filemap_update_page(): make the last folio of a batch uptodate, or say why not. The caller
 * holds a reference on `folio`; on AOP_TRUNCATED_PAGE it has been dropped.
 * - trylock fails: -EAGAIN with IOCB_NOWAIT/NOIO; otherwise folio_put_wait_locked() and
 *   AOP_TRUNCATED_PAGE ("this is where we usually end up waiting for a previously submitted
 *   readahead to finish");
 * - folio->mapping NULL (truncated): unlock, AOP_TRUNCATED_PAGE;
 * - uptodate now: unlock, 0;
 * - IOCB_NOWAIT/NOIO: unlock, -EAGAIN;
 * - else filemap_read_folio(): 0 or -EIO.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioGet, filemapAddFolio, filemapUpdatePage, folioTrylock } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioTrylock(mm, f); // someone's read is in flight
 * let r: unknown;
 * env.spawn("r", function* () { folioGet(mm, f); r = yield* filemapUpdatePage(mm, m, f, { nowait: true }); });
 * env.run();
 * if (r !== "EAGAIN") throw new Error("IOCB_NOWAIT does not wait on the lock");
 * ```
 */
export function* filemapUpdatePage(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  opts: ReadOptions = {},
): Process<FilemapStatus> {
  const env = mm.env;
  if (opts.nowait) {
    if (!(yield* filemapInvalidateTrylockShared(mm, mapping))) return "EAGAIN";
  } else {
    yield* filemapInvalidateLockShared(mm, mapping);
  }
  if (!folioTrylock(mm, folio)) {
    if (opts.nowait || opts.noio) {
      filemapInvalidateUnlockShared(mm, mapping);
      return "EAGAIN";
    }
    filemapInvalidateUnlockShared(mm, mapping);
    env.emit("filemap_update_page", folio, "locked", "wait");
    // This is where we usually end up waiting for a previously submitted readahead to finish.
    yield* folioPutWaitLocked(mm, folio);
    return AOP_TRUNCATED_PAGE;
  }
  let error: FilemapStatus;
  if (mm.mem.mapping[folio] === 0) {
    env.emit("filemap_update_page", folio, "truncated", AOP_TRUNCATED_PAGE);
    error = AOP_TRUNCATED_PAGE;
  } else if (folioTestUptodate(mm, folio)) {
    error = 0;
  } else if (opts.noio || opts.nowait) {
    error = "EAGAIN";
  } else {
    env.emit("filemap_update_page", folio, "!uptodate", "read_folio");
    const err = yield* filemapReadFolio(mm, mapping, folio, opts.ra);
    filemapInvalidateUnlockShared(mm, mapping);
    return err;
  }
  folioUnlock(mm, folio);
  filemapInvalidateUnlockShared(mm, mapping);
  if (error === AOP_TRUNCATED_PAGE) folioPut(mm, folio);
  return error;
}

/**
 * filemap_create_folio() (v6.12, minimum order): on a miss that readahead did not fill,
 * allocate a folio of the mapping's minimum order (mapping_gfp_mask), add it locked at the
 * aligned index (-EEXIST → AOP_TRUNCATED_PAGE: someone else added one), read it
 * synchronously, and append it to `batch`. Returns 0, AOP_TRUNCATED_PAGE, -ENOMEM or -EIO.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapCreateFolio, folioEndRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * const batch: number[] = [];
 * env.spawn("r", function* () { yield* filemapCreateFolio(mm, m, 5, batch); });
 * env.run();
 * if (batch.length !== 1 || mm.mem.index[batch[0]!] !== 5) throw new Error();
 * ```
 */
export function* filemapCreateFolio(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  batch: number[],
  opts: ReadOptions = {},
): Process<FilemapStatus> {
  const minOrder = mappingMinFolioOrder(mapping);
  const folio = yield* folioAllocGfp(mm, minOrder, mappingGfpMask(mapping));
  if (folio < 0) return "ENOMEM";
  const aligned = index - (index % (1 << minOrder));
  // Protect against truncate / hole punch: no new folio may be brought uptodate in a range
  // being truncated.
  yield* filemapInvalidateLockShared(mm, mapping);
  // mapping_gfp_constraint(mapping, GFP_KERNEL) for the xarray nodes: nothing to allocate.
  const r = filemapAddFolioLocked(mm, mapping, folio, aligned);
  if (!r.ok) {
    filemapInvalidateUnlockShared(mm, mapping);
    folioPut(mm, folio);
    return r.errno === "EBUSY" ? AOP_TRUNCATED_PAGE : r.errno;
  }
  mm.env.emit("filemap_create_folio", folio, null, { mapping: mapping.name, index: aligned });
  const err = yield* filemapReadFolio(mm, mapping, folio, opts.ra);
  filemapInvalidateUnlockShared(mm, mapping);
  if (err !== 0) {
    folioPut(mm, folio);
    return err;
  }
  batch.push(folio);
  return 0;
}

/**
 * filemap_get_pages(): the folios covering [index, index + count), each with a reference the
 * caller must drop (folioPut), all uptodate — or an errno when not even the first could be
 * had. A miss starts synchronous readahead (not with IOCB_NOIO) and, if that added nothing,
 * filemap_create_folio() (not with IOCB_NOWAIT); a PG_readahead folio starts asynchronous
 * readahead; a folio that is not uptodate goes through filemap_update_page(). A folio that
 * went away (AOP_TRUNCATED_PAGE) is looked up again from the start.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapGetPages, folioEndRead, folioPut } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * env.spawn("r", function* () {
 *   const r = yield* filemapGetPages(mm, m, 0, 2);
 *   if (!r.ok || r.value.length !== 2) throw new Error("two uptodate folios");
 *   for (const f of r.value) folioPut(mm, f);
 * });
 * env.run();
 * ```
 */
export function* filemapGetPages(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  count: number,
  opts: ReadOptions = {},
): Process<KResult<number[]>> {
  const env = mm.env;
  const ra = opts.ra ?? mappingDefaultRa(mm, mapping);
  const lastIndex = index + count; // the index of the page beyond the end of the read
  for (let tries = 0;; tries++) {
    if (tries > 10_000) {
      throw new Error(
        `filemap_get_pages: ${mapping.name} index ${index} retried 10000 times (livelock)`,
      );
    }
    let batch = yield* filemapGetReadBatch(mm, mapping, index, lastIndex - 1);
    if (batch.length === 0) {
      if (opts.noio) return { ok: false, errno: "EAGAIN" };
      yield* pageCacheSyncReadahead(mm, mapping, ra, index, lastIndex - index);
      batch = yield* filemapGetReadBatch(mm, mapping, index, lastIndex - 1);
    }
    if (batch.length === 0) {
      if (opts.nowait) return { ok: false, errno: "EAGAIN" };
      const err = yield* filemapCreateFolio(mm, mapping, index, batch, opts);
      if (err === AOP_TRUNCATED_PAGE) continue;
      if (err !== 0) return { ok: false, errno: err };
      env.emit("mm_filemap_get_pages", mapping.name, index, lastIndex);
      return { ok: true, value: batch };
    }
    const folio = batch[batch.length - 1]!;
    let err: FilemapStatus = 0;
    if (mm.mem.testFlag(folio, PG.readahead)) {
      // filemap_readahead()
      if (opts.noio) err = "EAGAIN";
      else yield* pageCacheAsyncReadahead(mm, mapping, ra, folio, lastIndex - mm.mem.index[folio]!);
    }
    if (err === 0 && !folioTestUptodate(mm, folio)) {
      // The lookup and the lock are separate steps: the folio may be truncated, abandoned
      // or read by someone else in between (CLAIMS.md C0.2 depends on this window).
      yield env.point();
      err = yield* filemapUpdatePage(mm, mapping, folio, opts);
    }
    if (err === 0) {
      env.emit("mm_filemap_get_pages", mapping.name, index, lastIndex);
      return { ok: true, value: batch };
    }
    // err: drop the last folio (its reference was dropped already on AOP_TRUNCATED_PAGE).
    if (err !== AOP_TRUNCATED_PAGE) folioPut(mm, folio);
    batch.pop();
    if (batch.length > 0) return { ok: true, value: batch };
    if (err === AOP_TRUNCATED_PAGE) {
      env.emit("aop_truncated_page", folio, mapping.name, index);
      continue;
    }
    return { ok: false, errno: err };
  }
}

/**
 * filemap_read() (generic_file_read_iter for buffered reads): read `count` pages from
 * `index`, returning the content tag of each page read (`mem.data`, 0 for a hole). Stops at
 * i_size. A short read returns what was read; an error with nothing read is returned as such.
 * Records a `filemap_read: !uptodate` violation if it is ever about to copy from a folio that
 * is not uptodate.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, filemapRead, folioEndRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: {
 *   *readFolio(mm, mapping, f) { mm.mem.data[f] = mapping.backing.get(mm.mem.index[f]!) ?? 0; folioEndRead(mm, f, true); return 0; },
 * } });
 * m.backing.set(1, 42);
 * let tags: number[] = [];
 * env.spawn("reader", function* () { const r = yield* filemapRead(mm, m, 0, 3); if (r.ok) tags = r.value; });
 * env.run();
 * if (tags.join() !== "0,42,0") throw new Error(tags.join());
 * ```
 */
export function* filemapRead(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  count: number,
  opts: ReadOptions = {},
): Process<KResult<number[]>> {
  const env = mm.env;
  const mem = mm.mem;
  const ra = opts.ra ?? mappingDefaultRa(mm, mapping);
  const o: ReadOptions = { ...opts, ra };
  const out: number[] = [];
  let pos = index;
  const end = index + count;
  let error: Errno | null = null;
  if (count <= 0) return { ok: true, value: out };
  let lastPos = ra.prevIndex;
  do {
    if (pos >= iSizeRead(mapping)) break;
    const r = yield* filemapGetPages(mm, mapping, pos, end - pos, o);
    if (!r.ok) {
      error = r.errno;
      break;
    }
    const batch = r.value;
    // i_size must be checked after we know the folios are uptodate.
    const isize = iSizeRead(mapping);
    const endOffset = Math.min(isize, end);
    const first = batch[0]!;
    // When a read accesses the same folio several times, only mark it accessed the first time.
    if (!folioContains(mm, first, lastPos - 1)) folioMarkAccessed(mm.lruvec, first);
    for (let i = 0; i < batch.length && pos < endOffset; i++) {
      const folio = batch[i]!;
      const fidx = mem.index[folio]!;
      if (endOffset <= fidx) break;
      if (i > 0) folioMarkAccessed(mm.lruvec, folio);
      if (!mem.testFlag(folio, PG.uptodate)) {
        env.violation(
          "filemap_read: !uptodate",
          `filemap_read: copying from ${mm.describeFolio(folio)}, which is not uptodate`,
        );
      }
      const nr = 1 << mem.order[folio]!;
      while (pos < endOffset && pos < fidx + nr) {
        out.push(mem.data[folio + (pos - fidx)]!);
        pos++;
      }
      lastPos = pos;
    }
    for (const f of batch) folioPut(mm, f);
  } while (pos < end && pos < iSizeRead(mapping) && error === null);
  ra.prevIndex = lastPos;
  env.emit("filemap_read", mapping.name, index, { pages: out.length, error });
  if (out.length > 0 || error === null) return { ok: true, value: out };
  return { ok: false, errno: error };
}

function folioContains(mm: Mm, folio: number, index: number): boolean {
  const fidx = mm.mem.index[folio]!;
  return index >= fidx && index < fidx + (1 << mm.mem.order[folio]!);
}

// ---------------------------------------------------------------- __filemap_get_folio

/**
 * __filemap_get_folio() (v6.12, minimum order): look up the folio at `index`, with a
 * reference. FGP_LOCK locks it (FGP_NOWAIT: trylock or -EAGAIN) and looks again if it was
 * truncated meanwhile; FGP_ACCESSED marks it accessed; FGP_STABLE waits for writeback
 * (folio_wait_stable). If absent and FGP_CREAT: allocate one of the preferred order (at least
 * the mapping's minimum, at most its maximum, smaller if the index is not aligned; falling
 * back towards the minimum), add it locked (-EEXIST: look again); FGP_FOR_MMAP returns it
 * unlocked. Returns the folio, or ENOENT / EAGAIN / ENOMEM.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, FGP, filemapGetFolioErr, folioTestLocked } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * env.spawn("w", function* () {
 *   const miss = yield* filemapGetFolioErr(mm, m, 0, FGP.LOCK);
 *   if (miss.ok || miss.errno !== "ENOENT") throw new Error("no FGP_CREAT: ENOENT");
 *   const r = yield* filemapGetFolioErr(mm, m, 0, FGP.LOCK | FGP.CREAT);
 *   if (!r.ok || !folioTestLocked(mm, r.value)) throw new Error("created locked");
 * });
 * env.run();
 * ```
 */
export function* filemapGetFolioErr(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  fgp: number,
  gfp: number = mappingGfpMask(mapping),
): Process<KResult<number>> {
  for (;;) { // repeat:
    let folio = yield* filemapGetEntryRef(mm, mapping, index);
    if (folio >= 0) {
      if (fgp & FGP.LOCK) {
        if (fgp & FGP.NOWAIT) {
          if (!folioTrylock(mm, folio)) {
            folioPut(mm, folio);
            return { ok: false, errno: "EAGAIN" };
          }
        } else {
          yield* folioLock(mm, folio);
        }
        // Has the folio been truncated?
        if (mm.mem.mapping[folio] !== mapping.id) {
          folioUnlock(mm, folio);
          folioPut(mm, folio);
          continue;
        }
      }
      if (fgp & FGP.ACCESSED) folioMarkAccessed(mm.lruvec, folio);
      if (fgp & FGP.STABLE) yield* folioWaitStable(mm, folio);
      return { ok: true, value: folio };
    }
    if (!(fgp & FGP.CREAT)) return { ok: false, errno: "ENOENT" };
    const minOrder = mappingMinFolioOrder(mapping);
    let order = Math.max(minOrder, fgfGetOrder(fgp));
    const at = index - (index % (1 << minOrder)); // mapping_align_index()
    let allocGfpBase = gfp;
    // mapping_can_writeback(): every modelled mapping can.
    if (fgp & FGP.WRITE) allocGfpBase |= __GFP_WRITE;
    if (fgp & FGP.NOFS) allocGfpBase &= ~__GFP_FS;
    if (fgp & FGP.NOWAIT) {
      allocGfpBase &= ~GFP_KERNEL;
      allocGfpBase |= GFP_NOWAIT | __GFP_NOWARN;
    }
    if (!(fgp & (FGP.LOCK | FGP.FOR_MMAP))) fgp |= FGP.LOCK; // WARN_ON_ONCE
    if (order > mapping.maxOrder) order = Math.max(mapping.maxOrder, minOrder);
    // If we're not aligned, allocate a smaller folio.
    if (at & ((1 << order) - 1)) order = ctz(at);
    let err: Errno | null = "ENOMEM";
    for (;;) {
      let allocGfp = allocGfpBase;
      err = "ENOMEM";
      if (order > minOrder) allocGfp |= __GFP_NORETRY | __GFP_NOWARN;
      folio = yield* folioAllocGfp(mm, order, allocGfp);
      if (folio >= 0) {
        if (fgp & FGP.ACCESSED) mm.mem.setFlag(folio, PG.referenced);
        const r = filemapAddFolioLocked(mm, mapping, folio, at - (at % (1 << order)));
        if (r.ok) {
          err = null;
          break;
        }
        // -EEXIST (EBUSY here) included: like the kernel, try the next smaller order — the
        // occupied index may lie outside the smaller folio's range.
        err = r.errno;
        folioPut(mm, folio);
        folio = -1;
      }
      if (order-- <= minOrder) break;
    }
    if (err === "EBUSY") continue; // -EEXIST at the smallest order: goto repeat
    if (err) return { ok: false, errno: err };
    mm.env.emit("filemap_get_folio_create", folio, null, { mapping: mapping.name, index: at });
    // filemap_add_folio locks the folio, and for mmap we expect an unlocked one.
    if (fgp & FGP.FOR_MMAP) folioUnlock(mm, folio);
    return { ok: true, value: folio };
  }
}

/**
 * __filemap_get_folio() returning the folio or -1 (the contract's form; the errno is lost,
 * use {@link filemapGetFolioErr} to see it). `gfp` defaults to mapping_gfp_mask(mapping).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, FGP, filemapGetFolio } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * let f = -2;
 * env.spawn("w", function* () { f = yield* filemapGetFolio(mm, m, 3, FGP.LOCK | FGP.CREAT | FGP.WRITE); });
 * env.run();
 * if (f < 0 || mm.mem.index[f] !== 3) throw new Error();
 * ```
 */
export function* filemapGetFolio(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  fgp: number,
  gfp?: number,
): Process<number> {
  const r = yield* filemapGetFolioErr(mm, mapping, index, fgp, gfp);
  return r.ok ? r.value : -1;
}

/** __ffs(). */
function ctz(x: number): number {
  if (x === 0) return 0;
  let n = 0;
  while ((x & 1) === 0) {
    x = Math.floor(x / 2);
    n++;
  }
  return n;
}

// ---------------------------------------------------------------- buffered write

/**
 * generic_perform_write() for one page: balance_dirty_pages_ratelimited(), then the
 * generic write_begin (`__filemap_get_folio(FGP_WRITEBEGIN)`: locked, stable — not under
 * writeback; a large folio that is not uptodate is read first, as block_write_begin reads
 * the blocks a partial write does not cover), the filesystem's `->writeBegin` if it has one,
 * copy (`tag` into `mem.data` and
 * `mapping.latest`), write_end (mark uptodate, `folio_mark_dirty`, extend i_size), unlock,
 * put. Whole-page writes need no read. Returns ok or ENOMEM / EIO.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, genericPerformWrite, newContentTag, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const tag = newContentTag(mm);
 * env.spawn("writer", function* () { yield* genericPerformWrite(mm, m, 2, tag); });
 * env.run();
 * const f = filemapGetEntry(m, 2);
 * if (mm.mem.data[f] !== tag || !mm.mem.testFlag(f, PG.dirty) || m.latest.get(2) !== tag) throw new Error();
 * ```
 */
export function* genericPerformWrite(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  tag: number,
): Process<KResult> {
  const env = mm.env;
  const mem = mm.mem;
  yield* balanceDirtyPages(mm, mapping, 1);
  // ->write_begin: grab_cache_folio_write_begin / __filemap_get_folio(FGP_WRITEBEGIN).
  const r = yield* filemapGetFolioErr(mm, mapping, index, FGP.WRITEBEGIN, mappingGfpMask(mapping));
  if (!r.ok) return { ok: false, errno: r.errno === "ENOENT" ? "ENOMEM" : r.errno };
  const folio = r.value;
  if (mapping.aops.writeBegin) {
    // The filesystem's ->write_begin work on the locked folio (see AddressSpaceOperations).
    const wb = yield* mapping.aops.writeBegin(mm, mapping, folio, index);
    if (!wb.ok) {
      folioUnlock(mm, folio);
      folioPut(mm, folio);
      return wb;
    }
  }
  const fidx = mem.index[folio]!;
  const nr = 1 << mem.order[folio]!;
  if (!mem.testFlag(folio, PG.uptodate) && nr > 1) {
    // A partial write to a large folio that is not uptodate: read the rest first.
    const ok = yield* readFolioLocked(mm, mapping, folio);
    if (!ok) {
      folioUnlock(mm, folio);
      folioPut(mm, folio);
      return { ok: false, errno: "EIO" };
    }
  }
  // copy_folio_from_iter_atomic()
  mem.data[folio + (index - fidx)] = tag;
  mapping.latest.set(index, tag);
  env.emit("generic_perform_write", folio, index, tag);
  // ->write_end (generic_write_end / block_write_end): the whole page was copied.
  mem.setFlag(folio, PG.uptodate);
  folioMarkDirty(mm, folio);
  const isize = iSizeRead(mapping);
  if (Number.isFinite(isize) && index + 1 > isize) iSizeWrite(mapping, index + 1);
  folioUnlock(mm, folio);
  folioPut(mm, folio);
  return { ok: true, value: undefined };
}

/**
 * Fill the pages of a locked large folio from the backing store before a partial write,
 * keeping the lock, as block_write_begin() reads the blocks a write does not cover
 * (`__block_write_begin_int`: buffer reads waited for under the folio lock). Divergence: no
 * buffer heads, so no I/O latency: the copy is instant. Returns false if the folio lost its
 * mapping.
 */
function* readFolioLocked(mm: Mm, mapping: AddressSpace, folio: number): Process<boolean> {
  if (mm.mem.mapping[folio] !== mapping.id) return false;
  yield mm.env.point();
  const fidx = mm.mem.index[folio]!;
  const nr = 1 << mm.mem.order[folio]!;
  for (let i = 0; i < nr; i++) mm.mem.data[folio + i] = mapping.backing.get(fidx + i) ?? 0;
  return true;
}

// ---------------------------------------------------------------- release

/**
 * folio_has_private(): PG_private or PG_private_2 (PAGE_FLAGS_PRIVATE).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioHasPrivate, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * mm.mem.setFlag(f, PG.private_2);
 * if (!folioHasPrivate(mm, f)) throw new Error("PG_private_2 counts as private for release");
 * mm.mem.clearFlag(f, PG.private_2);
 * ```
 */
export function folioHasPrivate(mm: Mm, folio: number): boolean {
  return mm.mem.testFlag(folio, PG.private) || mm.mem.testFlag(folio, PG.private_2);
}

/**
 * folio_needs_release() (mm/internal.h): folio_has_private(), or a mapping flagged
 * AS_RELEASE_ALWAYS.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, folioNeedsRelease } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", releaseAlways: true });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * if (!folioNeedsRelease(mm, f)) throw new Error("AS_RELEASE_ALWAYS");
 * ```
 */
export function folioNeedsRelease(mm: Mm, folio: number): boolean {
  if (folioHasPrivate(mm, folio)) return true;
  const mapping = AddressSpace.of(mm, folio);
  return mapping !== undefined && mapping.releaseAlways;
}

/**
 * filemap_release_folio(): ask the filesystem to drop a locked folio's private data so the
 * folio can be freed or split. True at once if there is nothing to release; false while the
 * folio is under writeback; otherwise `->release_folio`, or try_to_free_buffers() (the
 * model's buffer heads: refused while the folio is dirty, else the private data is detached).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, folioAttachPrivate, folioTrylock, filemapReleaseFolio, PG, GFP_KERNEL } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioAttachPrivate(mm, f, { buffers: 1 });
 * folioTrylock(mm, f);
 * mm.mem.setFlag(f, PG.writeback);
 * if (filemapReleaseFolio(mm, f, GFP_KERNEL)) throw new Error("refused under writeback");
 * mm.mem.clearFlag(f, PG.writeback);
 * if (!filemapReleaseFolio(mm, f, GFP_KERNEL) || mm.mem.testFlag(f, PG.private)) throw new Error("released");
 * ```
 */
export function filemapReleaseFolio(mm: Mm, folio: number, gfp: number): boolean {
  if (!mm.mem.testFlag(folio, PG.locked)) {
    throw new Error(`filemap_release_folio: ${mm.describeFolio(folio)} is not locked (BUG_ON)`);
  }
  if (!folioNeedsRelease(mm, folio)) return true;
  if (mm.mem.testFlag(folio, PG.writeback)) return false;
  const mapping = AddressSpace.of(mm, folio);
  let ok: boolean;
  if (mapping && mapping.aops.releaseFolio) ok = mapping.aops.releaseFolio(mm, mapping, folio, gfp);
  else ok = tryToFreeBuffers(mm, folio);
  mm.env.emit("filemap_release_folio", folio, null, ok);
  return ok;
}

/**
 * try_to_free_buffers() as the model's default release: buffers cannot go while the folio
 * is under writeback or dirty (drop_buffers: a dirty/busy buffer); otherwise the private data
 * is detached. A folio with only PG_private_2 has no buffers and counts as released.
 */
function tryToFreeBuffers(mm: Mm, folio: number): boolean {
  if (mm.mem.testFlag(folio, PG.writeback)) return false;
  if (!mm.mem.testFlag(folio, PG.private)) return true;
  if (mm.mem.testFlag(folio, PG.dirty)) return false;
  folioDetachPrivate(mm, folio);
  return true;
}

// ---------------------------------------------------------------- direct I/O support

/**
 * kiocb_invalidate_pages() (v6.6+, Christoph Hellwig 2023): before direct I/O to pages
 * [start, end], write back and wait (filemap_write_and_wait_range), then
 * invalidate_inode_pages2_range(). With IOCB_NOWAIT, -EAGAIN if any page is cached. Returns
 * the kernel's int: 0, or a negative errno (−16 = −EBUSY: a folio could not be invalidated;
 * the caller falls back to buffered I/O).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, kiocbInvalidatePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * let r = -1;
 * env.spawn("dio", function* () { r = yield* kiocbInvalidatePages(mm, m, 0, 7); });
 * env.run();
 * if (r !== 0) throw new Error("nothing cached, nothing to do");
 * ```
 */
export function* kiocbInvalidatePages(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
  opts: { nowait?: boolean } = {},
): Process<number> {
  if (opts.nowait) {
    // We could block if there are any pages in the range (filemap_range_has_page).
    for (let i = start; i <= end; i++) if (filemapGetEntry(mapping, i) >= 0) return -11;
  } else {
    const ret = yield* filemapWriteAndWaitRange(mm, mapping, start, end);
    if (ret) return ret;
  }
  return yield* invalidateInodePages2Range(mm, mapping, start, end);
}
