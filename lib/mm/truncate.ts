/**
 * Taking folios out of the page cache: truncation (`truncate_inode_pages_range`: the folios
 * go whatever their state, after waiting for their lock and writeback) and the stronger
 * invalidation that direct I/O uses (`invalidate_inode_pages2_range`: write back dirty folios
 * with `->launder_folio` or give up with -EBUSY).
 *
 * Follows mm/truncate.c of linux-next in 2025 (ColinIanKing/linux-next tree 09d5a30a, v6.16
 * era: `folio_invalidate`, `truncate_cleanup_folio`, `truncate_inode_folio`,
 * `truncate_inode_partial_folio`, `truncate_inode_pages_range`, `folio_launder`,
 * `folio_unmap_invalidate`, `invalidate_inode_pages2_range`, `truncate_pagecache`,
 * `truncate_setsize`, `truncate_pagecache_range`) and mm/filemap.c
 * `find_lock_entries` / `find_get_entries` (v6.10-era tree b6273b55). The 2021-era
 * invalidate_inode_pages2_range (`do_launder_page` + `invalidate_complete_page2`) makes the
 * same decisions: launder a dirty folio if the filesystem can, otherwise a folio that stays
 * dirty, cannot release its private data, or lost its mapping is -EBUSY. A folio "needs
 * release" (and so `->invalidate_folio` on truncation) if it has PG_private or PG_private_2
 * (`folio_has_private`) in every era, or its mapping has AS_RELEASE_ALWAYS.
 *
 * Ranges are page indices, both ends inclusive; `Infinity` for "to the end of the file".
 *
 * Lock order: folio lock → (mapping i_mmap for unmapping, mmap.ts) → i_pages lock (atomic).
 *
 * Left out: shadow and DAX entries, the invalidate_lock (callers hold it in the kernel),
 * byte-granular partial pages (zeroing). A large folio that straddles the range is split
 * (split.ts) as the kernel does; when the split fails a clean one is dropped whole and a dirty
 * one is kept and the range shrunk around it.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { AddressSpace, filemapRemoveFolio } from "./address_space.ts";
import { folioLock, folioPut, folioTryGet, folioTrylock, folioUnlock } from "./folio.ts";
import { NIL, PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { unmapMappingFolio, unmapMappingRange } from "./mmap.ts";
import { GFP_KERNEL } from "./page_alloc.ts";
import { folioCancelDirty, folioWaitWriteback } from "./writeback.ts";
import {
  filemapGetFolioErr,
  filemapReleaseFolio,
  folioHasPrivate,
  folioNeedsRelease,
} from "./filemap.ts";
import { FGP, iSizeWrite } from "./pagemap.ts";
import { minOrderForSplit, splitFolio, tryFolioSplitToOrder } from "./split.ts";

/** -EBUSY as the kernel's int. */
const EBUSY = -16;
/** -EIO as the kernel's int. */
const EIO = -5;
/** PAGEVEC_SIZE: folios per batch. */
const PAGEVEC_SIZE = 31;

/**
 * The head pfns of the folios with some index in [start, end], in index order, each once.
 * (find_get_entries / find_lock_entries walk the xarray in order; the model's index map is a
 * hash, so it collects and sorts.)
 */
function foliosInRange(mm: Mm, mapping: AddressSpace, start: number, end: number): number[] {
  const heads = new Set<number>();
  if (Number.isFinite(end) && end - start < 4 * mapping.pages.size) {
    for (let i = start; i <= end; i++) {
      const f = mapping.pages.load(i);
      if (f >= 0) heads.add(f);
    }
  } else {
    mapping.pages.forEach((i, f) => {
      if (i >= start && i <= end) heads.add(f);
    });
  }
  return [...heads].sort((a, b) => mm.mem.index[a]! - mm.mem.index[b]!);
}

function folioLast(mm: Mm, folio: number): number {
  return mm.mem.index[folio]! + (1 << mm.mem.order[folio]!) - 1;
}

/**
 * find_get_entries(): up to PAGEVEC_SIZE folios with an index in [start, end], with a
 * reference each (frozen folios are skipped: the caller's loop finds them again).
 */
function findGetEntries(mm: Mm, mapping: AddressSpace, start: number, end: number): number[] {
  const out: number[] = [];
  for (const f of foliosInRange(mm, mapping, start, end)) {
    if (out.length === PAGEVEC_SIZE) break;
    if (folioTryGet(mm, f)) out.push(f);
  }
  return out;
}

/**
 * find_lock_entries(): up to PAGEVEC_SIZE folios entirely inside [start, end], each with a
 * reference and locked by us; folios locked by someone else, under writeback, or truncated
 * meanwhile are skipped (this pass does not block).
 */
function findLockEntries(mm: Mm, mapping: AddressSpace, start: number, end: number): number[] {
  const out: number[] = [];
  for (const f of foliosInRange(mm, mapping, start, end)) {
    if (out.length === PAGEVEC_SIZE) break;
    if (mm.mem.index[f]! < start || folioLast(mm, f) > end) continue;
    if (!folioTryGet(mm, f)) continue;
    if (!folioTrylock(mm, f)) {
      folioPut(mm, f);
      continue;
    }
    if (mm.mem.mapping[f] !== mapping.id || mm.mem.testFlag(f, PG.writeback)) {
      folioUnlock(mm, f);
      folioPut(mm, f);
      continue;
    }
    out.push(f);
  }
  return out;
}

/**
 * folio_invalidate(): tell the filesystem that (part of) a folio is going away:
 * `->invalidate_folio(folio, offset, length)` (bytes) if it has one — netfs waits for
 * PG_private_2 there, buffer-head filesystems drop their buffers. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, folioInvalidate } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * let len = 0;
 * const m = AddressSpace.create(mm, { name: "f", aops: { *invalidateFolio(_mm, _m, _f, _o, l) { len = l; } } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * env.spawn("t", function* () { yield* folioInvalidate(mm, f, 0, 4096); });
 * env.run();
 * if (len !== 4096) throw new Error();
 * ```
 */
export function* folioInvalidate(
  mm: Mm,
  folio: number,
  offset: number,
  length: number,
): Process<void> {
  const mapping = AddressSpace.of(mm, folio);
  if (!mapping) return;
  mm.env.emit("folio_invalidate", folio, offset, length);
  if (mapping.aops.invalidateFolio) {
    yield* mapping.aops.invalidateFolio(mm, mapping, folio, offset, length);
  }
}

/**
 * truncate_cleanup_folio(): unmap the locked folio from user page tables, invalidate its
 * private data if it needs release, then cancel its dirty state (after the invalidation:
 * some filesystems re-dirty there).
 */
function* truncateCleanupFolio(mm: Mm, folio: number): Process<void> {
  if (mm.mem.mapcount[folio]! > 0) unmapMappingFolio(mm, folio);
  if (folioNeedsRelease(mm, folio)) {
    yield* folioInvalidate(mm, folio, 0, (1 << mm.mem.order[folio]!) * mm.mem.pageSizeBytes);
  }
  folioCancelDirty(mm, folio);
}

/**
 * truncate_inode_folio(): remove a locked folio from `mapping` (unmap, invalidate, cancel
 * dirty, filemap_remove_folio). Returns 0, or -EIO (−5) if the folio no longer belongs to
 * `mapping`. The caller keeps its reference and the lock. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, folioTrylock, truncateInodeFolio } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioTrylock(mm, f);
 * let r = -1;
 * env.spawn("t", function* () { r = yield* truncateInodeFolio(mm, m, f); });
 * env.run();
 * if (r !== 0 || m.nrpages !== 0 || mm.mem.mapping[f] !== 0) throw new Error();
 * ```
 */
export function* truncateInodeFolio(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
): Process<number> {
  if (mm.mem.mapping[folio] !== mapping.id) return EIO;
  yield* truncateCleanupFolio(mm, folio);
  filemapRemoveFolio(mm, folio);
  return 0;
}

/**
 * truncate_inode_partial_folio() for whole pages: the locked folio at an end of the range.
 * Wait for writeback; a folio entirely inside goes. A large folio that straddles the range is
 * invalidated over the part inside (if it needs release) and split so that pass 2 can drop the
 * pieces inside: before v6.15 `split_folio()` (to order 0, or to the mapping's minimum order
 * before v6.18); from v6.15 (era `nonUniformSplit`, Zi Yan's "use folio_split() in truncate
 * operation") `try_folio_split()` around the first page inside the range, to the mapping's
 * minimum order, and then a second try around the first page after the range in the piece that
 * holds it (its result does not matter). If the split fails the kernel's fallback follows: a
 * dirty folio is kept (returns false, and the caller shrinks the range around it), a clean one
 * is removed whole. Follows mm/truncate.c of linux-next 09d5a30a (v6.16 era) and v6.12's
 * `split_folio()` call.
 * Divergence: the second try is made only inside the folio and mapping the first split came
 * from; the 09d5a30a code takes `folio_page(folio, offset + length)`, which is the next frame
 * when the range reaches the folio's end (later kernels check that the mapping is the same).
 */
function* truncatePartialFolio(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  start: number,
  end: number,
): Process<boolean> {
  yield* folioWaitWriteback(mm, folio);
  const mem = mm.mem;
  const first = mem.index[folio]!;
  const inside = first >= start && folioLast(mm, folio) <= end;
  if (inside) {
    yield* truncateInodeFolio(mm, mapping, folio);
    return true;
  }
  const offset = Math.max(start, first) - first; // pages
  const length = Math.min(end, folioLast(mm, folio)) - Math.max(start, first) + 1;
  if (folioNeedsRelease(mm, folio)) {
    const ps = mem.pageSizeBytes;
    yield* folioInvalidate(mm, folio, offset * ps, length * ps);
  }
  const nr = 1 << mem.order[folio]!;
  if (nr === 1) return true;
  if (splitForTruncate(mm, folio, folio + offset)) {
    const at2 = offset + length;
    if (mm.era.nonUniformSplit && at2 < nr) {
      // The piece holding the first page after the range: try_folio_split it there too.
      const p2 = folio + at2;
      const folio2 = mem.head[p2] === NIL ? p2 : mem.head[p2]!;
      if (folio2 !== folio && mem.mapping[folio2] === mapping.id && folioTryGet(mm, folio2)) {
        if (mem.order[folio2]! > 0 && folioTrylock(mm, folio2)) {
          splitForTruncate(mm, folio2, p2);
          folioUnlock(mm, folio2);
        }
        folioPut(mm, folio2);
      }
    }
    return true;
  }
  if (mem.testFlag(folio, PG.dirty)) return false;
  yield* truncateInodeFolio(mm, mapping, folio);
  return true;
}

/**
 * The split truncate_inode_partial_folio() asks for: `try_folio_split()` (v6.15+: non-uniform
 * around `splitAt` to the minimum order where supported, else uniform) or, earlier,
 * `split_folio()`. True on success.
 */
function splitForTruncate(mm: Mm, folio: number, splitAt: number): boolean {
  if (!mm.era.nonUniformSplit) return splitFolio(mm, folio).ok;
  const min = minOrderForSplit(mm, folio);
  if (!min.ok) return false;
  return tryFolioSplitToOrder(mm, folio, splitAt, min.value).ok;
}

/**
 * truncate_inode_pages_range(): remove the folios of pages [start, end] from the page cache.
 * Pass 1 takes, without blocking, the folios it can lock that are not under writeback; then
 * the folios at either end (locked, writeback waited for); pass 2 looks again from the start
 * until nothing is left, locking each folio (sleeping) and waiting for its writeback
 * (folio_wait_writeback) before truncate_inode_folio(). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioPut, filemapAddFolio, truncateInodePagesRange } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 4; i++) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); folioPut(mm, f); }
 * env.spawn("truncate", function* () { yield* truncateInodePagesRange(mm, m, 1, Infinity); });
 * env.run();
 * if (m.nrpages !== 1) throw new Error("pages 1.. truncated");
 * ```
 */
export function* truncateInodePagesRange(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
): Process<void> {
  const env = mm.env;
  if (mapping.nrpages === 0) return;
  env.emit("truncate_inode_pages_range", mapping.name, start, end);
  let s = start;
  let e = end;

  // Pass 1: nonblocking.
  let index = s;
  while (index <= e) {
    const batch = findLockEntries(mm, mapping, index, e);
    if (batch.length === 0) break;
    for (const f of batch) yield* truncateCleanupFolio(mm, f);
    for (const f of batch) filemapRemoveFolio(mm, f); // delete_from_page_cache_batch()
    for (const f of batch) folioUnlock(mm, f);
    index = folioLast(mm, batch[batch.length - 1]!) + 1;
    for (const f of batch) folioPut(mm, f);
    yield env.point(); // cond_resched()
  }

  // The folios at the ends of the range (the kernel looks them up even when aligned).
  let sameFolio = false;
  const head = yield* filemapGetFolioErr(mm, mapping, s, FGP.LOCK, 0);
  if (head.ok) {
    const f = head.value;
    sameFolio = e <= folioLast(mm, f);
    if (!(yield* truncatePartialFolio(mm, mapping, f, start, end))) {
      const fidx = mm.mem.index[f]!;
      s = folioLast(mm, f) + 1;
      if (sameFolio) e = fidx - 1;
    }
    folioUnlock(mm, f);
    folioPut(mm, f);
  }
  if (!sameFolio && Number.isFinite(e)) {
    const tail = yield* filemapGetFolioErr(mm, mapping, e, FGP.LOCK, 0);
    if (tail.ok) {
      const f = tail.value;
      if (!(yield* truncatePartialFolio(mm, mapping, f, start, end))) e = mm.mem.index[f]! - 1;
      folioUnlock(mm, f);
      folioPut(mm, f);
    }
  }

  // Pass 2: blocking, until nothing is left in [s, e].
  index = s;
  for (let rounds = 0; index <= e; rounds++) {
    if (rounds > 100_000) {
      throw new Error(`truncate_inode_pages_range: ${mapping.name} [${s}, ${e}] never empties`);
    }
    yield env.point(); // cond_resched()
    const batch = findGetEntries(mm, mapping, index, e);
    if (batch.length === 0) {
      if (index === s) break; // all gone from start onwards
      index = s; // otherwise restart to make sure all are gone
      continue;
    }
    for (const f of batch) {
      yield* folioLock(mm, f);
      yield* folioWaitWriteback(mm, f);
      yield* truncateInodeFolio(mm, mapping, f);
      folioUnlock(mm, f);
    }
    index = folioLast(mm, batch[batch.length - 1]!) + 1;
    for (const f of batch) folioPut(mm, f);
  }
}

/**
 * folio_launder(): a dirty folio of `mapping` is written by `->launder_folio` if the
 * filesystem has one (FUSE, NFS, 9p, …). Returns its result, or 0.
 */
function* folioLaunder(mm: Mm, mapping: AddressSpace, folio: number): Process<number> {
  if (!mm.mem.testFlag(folio, PG.dirty)) return 0;
  if (mm.mem.mapping[folio] !== mapping.id || !mapping.aops.launderFolio) return 0;
  mm.env.emit("folio_launder", folio, null, mapping.name);
  return yield* mapping.aops.launderFolio(mm, mapping, folio);
}

/**
 * folio_unmap_invalidate() (v6.15+; invalidate_complete_page2 with do_launder_page before):
 * unmap a locked folio, launder it if dirty, release its private data, and remove it —
 * unless it still is dirty, could not be released, or left the mapping: -EBUSY (−16). Returns
 * 1 when removed, or a negative errno. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, folioTrylock, folioUnmapInvalidate, PG, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" }); // no ->launder_folio
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.setFlag(f, PG.dirty);
 * folioTrylock(mm, f);
 * let r = 0;
 * env.spawn("dio", function* () { r = yield* folioUnmapInvalidate(mm, m, f, GFP_KERNEL); });
 * env.run();
 * if (r !== -16) throw new Error("a dirty folio that cannot be laundered: -EBUSY");
 * ```
 */
export function* folioUnmapInvalidate(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  gfp: number,
): Process<number> {
  if (!mm.mem.testFlag(folio, PG.locked)) {
    throw new Error(`folio_unmap_invalidate: ${mm.describeFolio(folio)} is not locked`);
  }
  if (mm.mem.mapcount[folio]! > 0) unmapMappingFolio(mm, folio);
  if (mm.mem.mapcount[folio]! > 0) {
    throw new Error(
      `folio_unmap_invalidate: ${mm.describeFolio(folio)} still mapped ` +
        `(mapcount ${mm.mem.mapcount[folio]}) after unmap_mapping_folio (BUG_ON)`,
    );
  }
  const ret = yield* folioLaunder(mm, mapping, folio);
  // Divergence: a positive ->launder_folio return is reported as -EIO; the kernel returns it
  // as is and invalidate_inode_pages2_range ignores it (only ret2 < 0 counts). Filesystems
  // return 0 or -errno.
  if (ret) return ret < 0 ? ret : EIO;
  if (mm.mem.mapping[folio] !== mapping.id) return EBUSY;
  if (!filemapReleaseFolio(mm, folio, gfp)) return EBUSY;
  if (mm.mem.testFlag(folio, PG.dirty)) return EBUSY;
  if (folioHasPrivate(mm, folio)) {
    throw new Error(
      `folio_unmap_invalidate: ${mm.describeFolio(folio)} released but still has private data ` +
        `(BUG_ON(folio_has_private))`,
    );
  }
  filemapRemoveFolio(mm, folio);
  return 1;
}

/**
 * invalidate_inode_pages2_range(): remove pages [start, end] from the page cache for direct
 * I/O. Mapped folios are unmapped first (the rest of the range in one go); each folio is
 * locked (sleeping), its writeback waited for, then folio_unmap_invalidate(). Returns the
 * kernel's int: 0, or −16 (−EBUSY) if any folio could not be invalidated (the kernel also
 * WARNs in the DIO path: stale page cache). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioPut, filemapAddFolio, invalidateInodePages2Range, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 2; i++) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); folioPut(mm, f); }
 * mm.mem.setFlag(m.pages.load(1), PG.dirty);
 * let r = 0;
 * env.spawn("dio", function* () { r = yield* invalidateInodePages2Range(mm, m, 0, 1); });
 * env.run();
 * if (r !== -16 || m.nrpages !== 1) throw new Error("clean page gone, dirty page refused");
 * ```
 */
export function* invalidateInodePages2Range(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
): Process<number> {
  const env = mm.env;
  if (mapping.nrpages === 0) return 0;
  env.emit("invalidate_inode_pages2_range", mapping.name, start, end);
  let ret = 0;
  let didRangeUnmap = false;
  let index = start;
  while (index <= end) {
    const batch = findGetEntries(mm, mapping, index, end);
    if (batch.length === 0) break;
    for (const f of batch) {
      const fidx = mm.mem.index[f]!;
      if (!didRangeUnmap && mm.mem.mapcount[f]! > 0) {
        // If the folio is mapped, before taking its lock, zap the rest of the file in one hit.
        unmapMappingRange(mm, mapping, fidx, Number.isFinite(end) ? 1 + end - fidx : 0, false);
        didRangeUnmap = true;
      }
      yield* folioLock(mm, f);
      if (mm.mem.mapping[f] !== mapping.id) {
        folioUnlock(mm, f);
        continue;
      }
      yield* folioWaitWriteback(mm, f);
      const r = yield* folioUnmapInvalidate(mm, mapping, f, GFP_KERNEL);
      if (r < 0) {
        ret = r;
        env.emit("invalidate_inode_pages2_failed", f, mapping.name, r);
      }
      folioUnlock(mm, f);
    }
    index = folioLast(mm, batch[batch.length - 1]!) + 1;
    for (const f of batch) folioPut(mm, f);
    yield env.point(); // cond_resched()
  }
  return ret;
}

/**
 * truncate_pagecache(): unmap (including private COWed copies) and remove the page cache
 * from page `newSize` on; the caller has written the new i_size and holds the invalidate
 * lock, as a filesystem's setattr does. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioPut, filemapAddFolio, truncatePagecache } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 4; i++) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); folioPut(mm, f); }
 * env.spawn("t", function* () { yield* truncatePagecache(mm, m, 2); });
 * env.run();
 * if (m.nrpages !== 2) throw new Error();
 * ```
 */
export function* truncatePagecache(
  mm: Mm,
  mapping: AddressSpace,
  newSize: number,
): Process<void> {
  unmapMappingRange(mm, mapping, newSize, 0, true);
  yield* truncateInodePagesRange(mm, mapping, newSize, Infinity);
  unmapMappingRange(mm, mapping, newSize, 0, true);
}

/**
 * truncate_setsize(): write the new i_size (pages), then truncate_pagecache(). Caller holds
 * the invalidate lock. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, truncateSetsize, iSizeRead, filemapInvalidateLock, filemapInvalidateUnlock } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * env.spawn("setattr", function* () {
 *   yield* filemapInvalidateLock(mm, m);
 *   yield* truncateSetsize(mm, m, 0);
 *   filemapInvalidateUnlock(mm, m);
 * });
 * env.run();
 * if (iSizeRead(m) !== 0) throw new Error();
 * ```
 */
export function* truncateSetsize(mm: Mm, mapping: AddressSpace, newSize: number): Process<void> {
  iSizeWrite(mapping, newSize);
  yield* truncatePagecache(mm, mapping, newSize);
}

/**
 * truncate_pagecache_range(): hole punch of pages [start, end]: unmap (shared mappings only)
 * and remove them; i_size is unchanged. Caller holds the invalidate lock. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, folioPut, filemapAddFolio, truncatePagecacheRange } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * for (let i = 0; i < 4; i++) { const f = folioAlloc(mm, 0); filemapAddFolio(mm, m, f, i); folioPut(mm, f); }
 * env.spawn("punch", function* () { yield* truncatePagecacheRange(mm, m, 1, 2); });
 * env.run();
 * if (m.nrpages !== 2) throw new Error();
 * ```
 */
export function* truncatePagecacheRange(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  end: number,
): Process<void> {
  if (end >= start) {
    unmapMappingRange(mm, mapping, start, Number.isFinite(end) ? end - start + 1 : 0, false);
  }
  yield* truncateInodePagesRange(mm, mapping, start, end);
}
