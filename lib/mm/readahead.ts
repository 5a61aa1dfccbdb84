/**
 * Readahead: allocate folios for a window of the file, add them to the page cache locked and
 * not uptodate, mark the folio where the next (asynchronous) readahead should start with
 * PG_readahead, and hand the batch to the filesystem (`->readahead`, or `->read_folio` per
 * folio). The filesystem's I/O completion ends each read with `folio_end_read` (uptodate and
 * unlock in one step).
 *
 * Follows mm/readahead.c as of v6.5 (CachyOS/linux tree 4cbe8f83: `read_pages`,
 * `page_cache_ra_unbounded`, `do_page_cache_ra`, `force_page_cache_ra`, `get_init_ra_size`,
 * `get_next_ra_size`, `count_history_pages`, `try_context_readahead`, `ra_alloc_folio`,
 * `page_cache_ra_order`, `ondemand_readahead`, `page_cache_sync_ra`, `page_cache_async_ra`)
 * with the v6.12 minimum-order changes (Pankaj Raghav, "readahead: allocate folios with
 * mapping_min_order in readahead", v6 of 29 May 2024: aligned start index, min-order folios,
 * the PG_readahead mark rounded up to the minimum folio size), with Jan Kara's v6.8 fix
 * "readahead: avoid multiple marked readahead pages" (`ra_alloc_folio` and the expected index
 * of `ondemand_readahead` round the mark down to the folio, not up), and mm/filemap.c
 * `page_cache_next_miss` / `page_cache_prev_miss` (v6.10-era tree b6273b55).
 *
 * The window is `struct file_ra_state` ({@link FileRaState}); a read that starts with no
 * readahead state gets the mapping's default one (one open file per mapping).
 *
 * Left out: the bdi `io_pages` limit (taken equal to `ra_pages`), `blk_cgroup_congested()`,
 * psi/workingset accounting, `readahead_expand()`, mmap read-around (`do_sync_mmap_readahead`,
 * see mmap.ts), and the v6.10+ restructuring that folded `ondemand_readahead` into
 * `page_cache_sync_ra`/`page_cache_async_ra` (same decisions for the cases modelled). The
 * mapping's invalidate_lock is held shared while folios are added and submitted.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { AddressSpace, filemapRemoveFolio, type ReadaheadControl } from "./address_space.ts";
import { folioGet, folioPut, folioUnlock } from "./folio.ts";
import { PG, pmdOrder } from "./memory.ts";
import type { Mm } from "./mm.ts";
import {
  __GFP_NORETRY,
  __GFP_NOWARN,
  folioAllocGfp,
  memallocNofsRestore,
  memallocNofsSave,
} from "./page_alloc.ts";
import { filemapAddFolioLocked } from "./filemap.ts";
import {
  filemapInvalidateLockShared,
  filemapInvalidateUnlockShared,
  iSizeRead,
  mappingGfpMask,
  mappingMinFolioOrder,
} from "./pagemap.ts";

/**
 * VM_READAHEAD_PAGES in bytes (include/linux/mm.h: SZ_128K).
 *
 * @example
 * ```ts
 * import { Engine, fileRaStateInit, Mm, VM_READAHEAD_BYTES } from "@mmsim/mmsim";
 * // 128 KiB of readahead is 32 pages of 4 KiB but only 2 of 64 KiB.
 * for (const [pageSizeBytes, pages] of [[4096, 32], [65536, 2]] as const) {
 *   const mm = new Mm(new Engine(), { memory: { nrFrames: 64, pageSizeBytes } });
 *   if (fileRaStateInit(mm).raPages !== VM_READAHEAD_BYTES / pageSizeBytes || pages !== VM_READAHEAD_BYTES / pageSizeBytes) {
 *     throw new Error(`${pageSizeBytes}`);
 *   }
 * }
 * ```
 */
export const VM_READAHEAD_BYTES = 128 * 1024;

/**
 * `struct file_ra_state` (include/linux/fs.h): the readahead window of one open file.
 * Positions are page indices (the model reads whole pages).
 *
 * @example The first read of a file: a 4-page window with PG_readahead on its async part
 * ```ts
 * import { AddressSpace, Engine, fileRaStateInit, type FileRaState, filemapGetEntry, Mm, pageCacheSyncReadahead, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * const ra: FileRaState = fileRaStateInit(mm);
 * env.spawn("read", function* () { yield* pageCacheSyncReadahead(mm, m, ra, 0, 1); });
 * env.run();
 * // get_init_ra_size(1, 32) = 4; async_size = size − req_count; the mark starts the async part.
 * if (ra.start !== 0 || ra.size !== 4 || ra.asyncSize !== 3) throw new Error(JSON.stringify(ra));
 * if (!mm.mem.testFlag(filemapGetEntry(m, 1), PG.readahead)) throw new Error("PG_readahead on index 1");
 * ```
 */
export interface FileRaState {
  /** Where the current window starts. */
  start: number;
  /** Pages in the current window. */
  size: number;
  /** Pages in its asynchronous tail (PG_readahead sits on the first of them). */
  asyncSize: number;
  /** Maximum window (bdi->ra_pages; 0 disables readahead). */
  raPages: number;
  /** mmap misses (read-around heuristics; kept for mmap.ts). */
  mmapMiss: number;
  /** `prev_pos >> PAGE_SHIFT`: page index just past the previous read, -1 before any. */
  prevIndex: number;
  /** FMODE_RANDOM (POSIX_FADV_RANDOM): forced, non-adaptive readahead of the request only. */
  random: boolean;
}

/**
 * file_ra_state_init(): a fresh window with `ra_pages` = VM_READAHEAD_PAGES (128 KiB of base
 * pages: 32 at 4 KiB, 2 at 64 KiB), unless given.
 *
 * @example
 * ```ts
 * import { Engine, Mm, fileRaStateInit } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (fileRaStateInit(mm).raPages !== 32) throw new Error("128 KiB / 4 KiB");
 * ```
 */
export function fileRaStateInit(mm: Mm, raPages?: number): FileRaState {
  return {
    start: 0,
    size: 0,
    asyncSize: 0,
    raPages: raPages ?? Math.max(1, Math.floor(VM_READAHEAD_BYTES / mm.mem.pageSizeBytes)),
    mmapMiss: 0,
    prevIndex: -1,
    random: false,
  };
}

const defaultRa = new WeakMap<AddressSpace, FileRaState>();

/**
 * The readahead state reads of `mapping` use when they bring none (the model's single open
 * file of the mapping).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingDefaultRa } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * if (mappingDefaultRa(mm, m) !== mappingDefaultRa(mm, m)) throw new Error("one per mapping");
 * ```
 */
export function mappingDefaultRa(mm: Mm, mapping: AddressSpace): FileRaState {
  let ra = defaultRa.get(mapping);
  if (!ra) {
    ra = fileRaStateInit(mm);
    defaultRa.set(mapping, ra);
  }
  return ra;
}

/**
 * `struct readahead_control` as the model keeps it: `folios` are the locked, not-uptodate
 * folios of the current batch (each still holding the reference taken at allocation), `index`
 * is `_index` (first page of the batch) and `nrPages` is `_nr_pages`; `ra` is the file's
 * window (null for readahead without one).
 *
 * @example POSIX_FADV_RANDOM: readahead of the request only
 * ```ts
 * import { AddressSpace, Engine, fileRaStateInit, Mm, pageCacheSyncRa, type Ractl, readaheadControl } from "@mmsim/mmsim";
 * const pages: number[] = [];
 * for (const random of [false, true]) {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 256 } });
 *   const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 *   const rac: Ractl = readaheadControl(m, { ...fileRaStateInit(mm), random }, 0);
 *   env.spawn("read", function* () { yield* pageCacheSyncRa(mm, rac, 1); });
 *   env.run();
 *   pages.push(m.nrpages);
 * }
 * if (pages.join() !== "4,1") throw new Error(`${pages}`);
 * ```
 */
export interface Ractl extends ReadaheadControl {
  /** The file's readahead window. */
  ra: FileRaState | null;
}

/**
 * DEFINE_READAHEAD(): a readahead control at `index`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, readaheadControl, fileRaStateInit } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const rac = readaheadControl(m, fileRaStateInit(mm), 8);
 * if (rac.index !== 8 || rac.nrPages !== 0) throw new Error();
 * ```
 */
export function readaheadControl(
  mapping: AddressSpace,
  ra: FileRaState | null,
  index: number,
): Ractl {
  return { mapping, folios: [], index, nrPages: 0, ra };
}

/**
 * readahead_folio(): take the next folio of the batch for I/O and drop the reference the
 * batch held (the page cache keeps its own, and the folio stays locked until the read ends).
 * Returns -1 when the batch is empty. Filesystems may instead walk `rac.folios`; what they
 * leave there is handed over when `->readahead` returns (see `readPages`).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, readaheadControl, readaheadFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const rac = readaheadControl(AddressSpace.create(mm, { name: "f" }), null, 0);
 * if (readaheadFolio(mm, rac) !== -1) throw new Error("empty batch");
 * ```
 */
export function readaheadFolio(mm: Mm, rac: ReadaheadControl): number {
  const folio = rac.folios.shift();
  if (folio === undefined) return -1;
  const nr = 1 << mm.mem.order[folio]!;
  rac.index += nr;
  rac.nrPages -= nr;
  folioPut(mm, folio);
  return folio;
}

/**
 * read_pages() (mm/readahead.c, v6.12): submit the batch. With `->readahead` the filesystem
 * takes its folios with {@link readaheadFolio} (`readahead_folio()`); the ones it leaves in the
 * batch (FUSE skips the asynchronous part when the connection is congested) are cleaned up as
 * the kernel does: each shrinks `ra->size`, one that fits in `ra->async_size` also shrinks it
 * and is removed from the page cache, and every one is unlocked, so a reader finds it
 * !uptodate and reads it through `->read_folio` instead of waiting on a lock nobody will drop.
 * Without `->readahead`, `->read_folio` is called per folio.
 */
function* readPages(mm: Mm, rac: Ractl): Process<void> {
  if (rac.folios.length === 0) return;
  const aops = rac.mapping.aops;
  mm.env.emit("mm_filemap_read_pages", rac.mapping.name, rac.index, rac.nrPages);
  if (aops.readahead) {
    yield* aops.readahead(mm, rac);
    // Clean up the remaining folios: the sizes in ->ra may size the next readahead.
    for (let folio = readaheadFolio(mm, rac); folio >= 0; folio = readaheadFolio(mm, rac)) {
      const nr = 1 << mm.mem.order[folio]!;
      folioGet(mm, folio);
      if (rac.ra !== null) {
        rac.ra.size -= nr;
        if (rac.ra.asyncSize >= nr) {
          rac.ra.asyncSize -= nr;
          filemapRemoveFolio(mm, folio);
        }
      }
      folioUnlock(mm, folio);
      folioPut(mm, folio);
    }
  } else if (aops.readFolio) {
    for (;;) {
      const folio = readaheadFolio(mm, rac);
      if (folio < 0) break;
      yield* aops.readFolio(mm, rac.mapping, folio);
    }
  } else {
    // No way to read: leave the folios !uptodate and unlocked (readers will get -EIO or
    // retry through ->read_folio, which throws: a mapping without read ops is a model bug).
    for (;;) {
      const folio = rac.folios[0];
      if (folio === undefined) break;
      folioUnlock(mm, folio);
      readaheadFolio(mm, rac);
    }
  }
  rac.index += rac.nrPages;
  rac.nrPages = 0;
}

/** readahead_gfp_mask(): mapping_gfp_mask | __GFP_NORETRY | __GFP_NOWARN. */
function readaheadGfpMask(mapping: AddressSpace): number {
  return mappingGfpMask(mapping) | __GFP_NORETRY | __GFP_NOWARN;
}

const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;
const roundDown = (x: number, m: number) => Math.floor(x / m) * m;

/**
 * page_cache_ra_unbounded() (v6.12 with minimum order): under a NOFS allocation scope
 * (memalloc_nofs_save — the locked folios already added must not be waited on by reclaim),
 * walk `nrToRead` pages from the (min-order aligned) index; where a folio is present, submit
 * the batch so far and skip it; otherwise allocate a min-order folio, add it locked, set
 * PG_readahead on the one `lookaheadSize` pages before the end. Then submit.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheRaUnbounded, readaheadControl, folioTestFlag, PG, filemapGetEntry } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" }); // no ->read_folio: folios are left !uptodate
 * env.spawn("ra", function* () { yield* pageCacheRaUnbounded(mm, readaheadControl(m, null, 0), 4, 3); });
 * env.run();
 * if (!folioTestFlag(mm, filemapGetEntry(m, 1), PG.readahead)) throw new Error("mark at 4 - 3");
 * ```
 */
export function* pageCacheRaUnbounded(
  mm: Mm,
  rac: Ractl,
  nrToRead: number,
  lookaheadSize: number,
): Process<void> {
  const env = mm.env;
  const mapping = rac.mapping;
  const minOrder = mappingMinFolioOrder(mapping);
  const minNrPages = 1 << minOrder;
  const gfp = readaheadGfpMask(mapping);
  const nofs = memallocNofsSave(env);
  yield* filemapInvalidateLockShared(mm, mapping);
  try {
    const start = rac.index;
    const index = start - (start % minNrPages); // mapping_align_start_index()
    const mark = roundUp(start + nrToRead - lookaheadSize, minNrPages) - index;
    if (index !== start) {
      nrToRead += start - index;
      rac.index = index;
    }
    env.emit("page_cache_ra_unbounded", mapping.name, index, { nrToRead, lookaheadSize });
    let i = 0;
    while (i < nrToRead) {
      const present = mapping.pages.load(index + i);
      if (present >= 0) {
        // Page already present? Kick off the current batch of contiguous pages.
        yield* readPages(mm, rac);
        let nr = 1 << mm.mem.order[present]!;
        if (mm.mem.mapping[present] !== mapping.id) nr = minNrPages;
        rac.index += nr;
        i = rac.index + rac.nrPages - index;
        continue;
      }
      const folio = yield* folioAllocGfp(mm, minOrder, gfp);
      if (folio < 0) break;
      const r = filemapAddFolioLocked(mm, mapping, folio, index + i);
      if (!r.ok) {
        folioPut(mm, folio);
        if (r.errno === "ENOMEM") break;
        yield* readPages(mm, rac);
        rac.index += minNrPages;
        i = rac.index + rac.nrPages - index;
        continue;
      }
      if (i === mark) mm.mem.setFlag(folio, PG.readahead);
      rac.folios.push(folio);
      rac.nrPages += minNrPages;
      i += minNrPages;
    }
    // Now start the I/O. Errors are ignored: a reader finding the folio !uptodate will call
    // ->read_folio itself and handle the error.
    yield* readPages(mm, rac);
  } finally {
    filemapInvalidateUnlockShared(mm, mapping);
    memallocNofsRestore(env, nofs);
  }
}

/**
 * do_page_cache_ra(): clamp the request to i_size, then page_cache_ra_unbounded().
 */
function* doPageCacheRa(
  mm: Mm,
  rac: Ractl,
  nrToRead: number,
  lookaheadSize: number,
): Process<void> {
  const isize = iSizeRead(rac.mapping);
  if (isize === 0) return;
  const endIndex = isize - 1;
  const index = rac.index;
  if (index > endIndex) return;
  if (nrToRead > endIndex - index) nrToRead = endIndex - index + 1;
  yield* pageCacheRaUnbounded(mm, rac, nrToRead, lookaheadSize);
}

/**
 * force_page_cache_ra(): read exactly the request (at most the window), in 2 MiB chunks,
 * with no PG_readahead mark (FMODE_RANDOM, or readahead disabled).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, forcePageCacheRa, readaheadControl, fileRaStateInit } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * env.spawn("ra", function* () { yield* forcePageCacheRa(mm, readaheadControl(m, fileRaStateInit(mm), 0), 3); });
 * env.run();
 * if (m.nrpages !== 3) throw new Error("exactly the request");
 * ```
 */
export function* forcePageCacheRa(mm: Mm, rac: Ractl, nrToRead: number): Process<void> {
  const aops = rac.mapping.aops;
  if (!aops.readFolio && !aops.readahead) return;
  const ra = rac.ra;
  // Divergence: bdi->io_pages is taken equal to ra_pages.
  const maxPages = Math.max(ra?.raPages ?? 0, 1);
  nrToRead = Math.min(nrToRead, maxPages);
  let index = rac.index;
  const chunk = Math.max(1, Math.floor((2 * 1024 * 1024) / mm.mem.pageSizeBytes));
  while (nrToRead > 0) {
    const thisChunk = Math.min(chunk, nrToRead);
    rac.index = index;
    yield* doPageCacheRa(mm, rac, thisChunk, 0);
    index += thisChunk;
    nrToRead -= thisChunk;
  }
}

/**
 * get_init_ra_size(): the first window: the request rounded up to a power of two, ×4 if
 * small, ×2 if medium, else the maximum.
 *
 * @example
 * ```ts
 * import { getInitRaSize } from "@mmsim/mmsim";
 * if (getInitRaSize(1, 32) !== 4 || getInitRaSize(5, 32) !== 16 || getInitRaSize(20, 32) !== 32) throw new Error();
 * ```
 */
export function getInitRaSize(size: number, max: number): number {
  let newsize = 1;
  while (newsize < size) newsize *= 2;
  if (newsize <= max / 32) newsize *= 4;
  else if (newsize <= max / 4) newsize *= 2;
  else newsize = max;
  return newsize;
}

/**
 * get_next_ra_size(): ramp up: ×4 below max/16, ×2 up to max/2, then max.
 *
 * @example
 * ```ts
 * import { getNextRaSize } from "@mmsim/mmsim";
 * if (getNextRaSize({ size: 1 }, 32) !== 4 || getNextRaSize({ size: 4 }, 32) !== 8) throw new Error();
 * if (getNextRaSize({ size: 16 }, 32) !== 32 || getNextRaSize({ size: 20 }, 32) !== 32) throw new Error();
 * ```
 */
export function getNextRaSize(ra: { size: number }, max: number): number {
  const cur = ra.size;
  if (cur < max / 16) return 4 * cur;
  if (cur <= max / 2) return 2 * cur;
  return max;
}

/**
 * page_cache_next_miss() (mm/filemap.c): the first index in [index, index + maxScan) with no
 * folio, or index + maxScan.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheNextMiss } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (pageCacheNextMiss(AddressSpace.create(mm, { name: "f" }), 5, 10) !== 5) throw new Error();
 * ```
 */
export function pageCacheNextMiss(mapping: AddressSpace, index: number, maxScan: number): number {
  for (let i = 0; i < maxScan; i++) {
    if (mapping.pages.load(index + i) < 0) return index + i;
  }
  return index + maxScan;
}

/**
 * page_cache_prev_miss() (mm/filemap.c): the highest index in (index − maxScan, index] with
 * no folio, or index − maxScan.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCachePrevMiss } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (pageCachePrevMiss(AddressSpace.create(mm, { name: "f" }), 5, 10) !== 5) throw new Error();
 * ```
 */
export function pageCachePrevMiss(mapping: AddressSpace, index: number, maxScan: number): number {
  for (let i = 0; i < maxScan; i++) {
    if (index - i < 0 || mapping.pages.load(index - i) < 0) return index - i;
  }
  return index - maxScan;
}

/** count_history_pages() + try_context_readahead(). */
function tryContextReadahead(
  mapping: AddressSpace,
  ra: FileRaState,
  index: number,
  reqSize: number,
  max: number,
): boolean {
  const head = pageCachePrevMiss(mapping, index - 1, max);
  let size = index - 1 - head;
  if (size <= reqSize) return false; // not enough history: could be a random read
  if (size >= index) size *= 2; // starts from the beginning of the file
  ra.start = index;
  ra.size = Math.min(size + reqSize, max);
  ra.asyncSize = 1;
  return true;
}

/**
 * ra_alloc_folio(): allocate a folio of `order`, mark it PG_readahead if it contains the
 * mark (rounded down to the order, v6.8+), add it locked.
 */
function* raAllocFolio(
  mm: Mm,
  rac: Ractl,
  index: number,
  mark: number,
  order: number,
  gfp: number,
): Process<"ok" | "ENOMEM" | "EEXIST"> {
  const folio = yield* folioAllocGfp(mm, order, gfp);
  if (folio < 0) return "ENOMEM";
  // round_down since "readahead: avoid multiple marked readahead pages" (Jan Kara, v6.8; it was
  // round_up from b9ff43dd2743): the folio that contains the mark gets it, and only that one.
  mark = roundDown(mark, 1 << order);
  if (index === mark) mm.mem.setFlag(folio, PG.readahead);
  const r = filemapAddFolioLocked(mm, rac.mapping, folio, index);
  if (!r.ok) {
    folioPut(mm, folio);
    return r.errno === "ENOMEM" ? "ENOMEM" : "EEXIST";
  }
  rac.folios.push(folio);
  rac.nrPages += 1 << order;
  return "ok";
}

/**
 * page_cache_ra_order() (v6.12 with minimum order): for mappings with large folios and a
 * window of at least max(4, min folio pages), read the window in folios of order up to
 * `newOrder` + 2 (bounded by the mapping's maximum and the window), aligned, not past EOF,
 * never below the minimum; otherwise, or if a folio was already present, fall back to
 * do_page_cache_ra().
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheRaOrder, readaheadControl, fileRaStateInit, filemapGetEntry } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
 * const ra = { ...fileRaStateInit(mm), start: 0, size: 8, asyncSize: 4 };
 * env.spawn("ra", function* () { yield* pageCacheRaOrder(mm, readaheadControl(m, ra, 0), 0); });
 * env.run();
 * if (mm.mem.order[filemapGetEntry(m, 0)] !== 2) throw new Error("order-2 folios");
 * ```
 */
export function* pageCacheRaOrder(mm: Mm, rac: Ractl, newOrder: number): Process<void> {
  const env = mm.env;
  const mapping = rac.mapping;
  const ra = rac.ra;
  if (!ra) throw new Error(`page_cache_ra_order: ${mapping.name} readahead without file_ra_state`);
  let index = rac.index;
  const minOrder = mappingMinFolioOrder(mapping);
  const isize = iSizeRead(mapping);
  let limit = isize - 1;
  const mark = index + ra.size - ra.asyncSize;
  const gfp = readaheadGfpMask(mapping);
  const minRaSize = Math.max(4, 1 << minOrder);
  let err: "ok" | "ENOMEM" | "EEXIST" = "ok";
  if (mapping.maxOrder > 0 && ra.size >= minRaSize) {
    limit = Math.min(limit, index + ra.size - 1);
    const maxPagecacheOrder = Math.min(pmdOrder(mm.mem.pageSizeBytes), mm.mem.maxOrder);
    if (newOrder < maxPagecacheOrder) {
      newOrder += 2;
      newOrder = Math.min(mapping.maxOrder, newOrder);
      newOrder = Math.min(newOrder, Math.floor(Math.log2(ra.size)));
      newOrder = Math.max(newOrder, minOrder);
    }
    env.emit("page_cache_ra_order", mapping.name, index, { order: newOrder, size: ra.size });
    const nofs = memallocNofsSave(env);
    yield* filemapInvalidateLockShared(mm, mapping);
    try {
      rac.index = index - (index % (1 << minOrder));
      index = rac.index;
      while (index <= limit) {
        let order = newOrder;
        // Align with smaller folios if needed.
        if (index & ((1 << order) - 1)) order = ctz(index);
        // Don't allocate folios past EOF.
        while (order > minOrder && index + (1 << order) - 1 > limit) order--;
        err = yield* raAllocFolio(mm, rac, index, mark, order, gfp);
        if (err !== "ok") break;
        index += 1 << order;
      }
      yield* readPages(mm, rac);
    } finally {
      filemapInvalidateUnlockShared(mm, mapping);
      memallocNofsRestore(env, nofs);
    }
    // If there were already folios in the page cache we may have left gaps: let the regular
    // readahead code take care of them.
    if (err === "ok") return;
  }
  yield* doPageCacheRa(mm, rac, ra.size, ra.asyncSize);
}

/** __ffs(): index of the lowest set bit. */
function ctz(x: number): number {
  let n = 0;
  while (x !== 0 && (x & 1) === 0) {
    x = Math.floor(x / 2);
    n++;
  }
  return n;
}

/**
 * ondemand_readahead(): the adaptive window. At the start of the file, on an oversize read,
 * or right after the previous read: a fresh window. At the expected index (the marked folio
 * or the end of the window): push the window forward and ramp it up. On a marked folio with
 * no valid state (interleaved streams): size it from the cached run ahead. Otherwise look for
 * cached history (context readahead), or read just the request without touching the state.
 */
function* ondemandReadahead(mm: Mm, rac: Ractl, folio: number, reqSize: number): Process<void> {
  const ra = rac.ra!;
  const maxPages = ra.raPages;
  const index = rac.index;
  const order = folio >= 0 ? mm.mem.order[folio]! : 0;
  let mode: "initial" | "readit" = "initial";
  const decide = (): "initial" | "readit" | "random" | "stop" => {
    if (!index) return "initial";
    // round_down since v6.8 (the same fix as ra_alloc_folio's mark).
    const expected = roundDown(ra.start + ra.size - ra.asyncSize, 1 << order);
    if (index === expected || index === ra.start + ra.size) {
      ra.start += ra.size;
      ra.size = getNextRaSize(ra, maxPages);
      ra.asyncSize = ra.size;
      return "readit";
    }
    if (folio >= 0) {
      let start = pageCacheNextMiss(rac.mapping, index + 1, maxPages);
      if (!start || start - index - 1 > maxPages) return "stop";
      if (start - index - 1 === maxPages) start--;
      ra.start = start;
      ra.size = start - index + reqSize;
      ra.size = getNextRaSize(ra, maxPages);
      ra.asyncSize = ra.size;
      return "readit";
    }
    if (reqSize > maxPages) return "initial";
    if (ra.prevIndex >= 0 && index - ra.prevIndex <= 1 && index >= ra.prevIndex) return "initial";
    if (tryContextReadahead(rac.mapping, ra, index, reqSize, maxPages)) return "readit";
    return "random";
  };
  const d = decide();
  if (d === "stop") return;
  if (d === "random") {
    // Standalone, small random read: read as is, do not pollute the readahead state.
    yield* doPageCacheRa(mm, rac, reqSize, 0);
    return;
  }
  mode = d;
  if (mode === "initial") {
    ra.start = index;
    ra.size = getInitRaSize(reqSize, maxPages);
    ra.asyncSize = ra.size > reqSize ? ra.size - reqSize : ra.size;
  }
  // Will this read hit the readahead marker made by itself? If so, trigger it now and merge
  // the next window into this one.
  if (index === ra.start && ra.size === ra.asyncSize) {
    const add = getNextRaSize(ra, maxPages);
    if (ra.size + add <= maxPages) {
      ra.asyncSize = add;
      ra.size += add;
    } else {
      ra.size = maxPages;
      ra.asyncSize = maxPages >> 1;
    }
  }
  rac.index = ra.start;
  yield* pageCacheRaOrder(mm, rac, order);
}

/**
 * page_cache_sync_ra(): readahead on a cache miss. FMODE_RANDOM, or a disabled window
 * (`raPages` 0, then one page), reads just the request (force_page_cache_ra); otherwise the
 * adaptive window.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheSyncRa, readaheadControl, fileRaStateInit } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * const ra = fileRaStateInit(mm);
 * env.spawn("r", function* () { yield* pageCacheSyncRa(mm, readaheadControl(m, ra, 0), 1); });
 * env.run();
 * if (ra.size !== 4 || ra.asyncSize !== 3 || m.nrpages !== 4) throw new Error("initial window 4, async 3");
 * ```
 */
export function* pageCacheSyncRa(mm: Mm, rac: Ractl, reqCount: number): Process<void> {
  const ra = rac.ra;
  if (!ra) {
    yield* doPageCacheRa(mm, rac, reqCount, 0);
    return;
  }
  mm.env.emit("page_cache_sync_ra", rac.mapping.name, rac.index, { reqCount, ...raOf(ra) });
  let forced = ra.random;
  if (!ra.raPages) {
    reqCount = 1;
    forced = true;
  }
  if (forced) {
    yield* forcePageCacheRa(mm, rac, reqCount);
    return;
  }
  yield* ondemandReadahead(mm, rac, -1, reqCount);
}

/**
 * page_cache_async_ra(): a reader met PG_readahead on `folio`. Nothing if readahead is off or
 * the folio is under writeback (PG_readahead is PG_reclaim: the bit means reclaim then);
 * otherwise clear the mark and extend the window.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheAsyncRa, readaheadControl, fileRaStateInit, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 1);
 * mm.mem.setFlag(f, PG.readahead);
 * const ra = { ...fileRaStateInit(mm), start: 0, size: 4, asyncSize: 3 };
 * env.spawn("r", function* () { yield* pageCacheAsyncRa(mm, readaheadControl(m, ra, 1), f, 1); });
 * env.run();
 * if (mm.mem.testFlag(f, PG.readahead) || ra.start !== 4) throw new Error("mark consumed, window pushed");
 * ```
 */
export function* pageCacheAsyncRa(
  mm: Mm,
  rac: Ractl,
  folio: number,
  reqCount: number,
): Process<void> {
  const ra = rac.ra;
  if (!ra || !ra.raPages) return;
  // Same bit is used for PG_readahead and PG_reclaim.
  if (mm.mem.testFlag(folio, PG.writeback)) return;
  mm.mem.clearFlag(folio, PG.readahead);
  mm.env.emit("page_cache_async_ra", rac.mapping.name, rac.index, { reqCount, ...raOf(ra) });
  yield* ondemandReadahead(mm, rac, folio, reqCount);
}

/**
 * page_cache_sync_readahead() (include/linux/pagemap.h): DEFINE_READAHEAD + page_cache_sync_ra.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, pageCacheSyncReadahead, fileRaStateInit } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * env.spawn("r", function* () { yield* pageCacheSyncReadahead(mm, m, fileRaStateInit(mm), 0, 1); });
 * env.run();
 * if (m.nrpages !== 4) throw new Error();
 * ```
 */
export function* pageCacheSyncReadahead(
  mm: Mm,
  mapping: AddressSpace,
  ra: FileRaState | null,
  index: number,
  reqCount: number,
): Process<void> {
  yield* pageCacheSyncRa(mm, readaheadControl(mapping, ra, index), reqCount);
}

/**
 * page_cache_async_readahead() (include/linux/pagemap.h): DEFINE_READAHEAD at the marked
 * folio + page_cache_async_ra.
 *
 * @example Reaching the PG_readahead mark pushes the window ahead
 * ```ts
 * import { AddressSpace, Engine, fileRaStateInit, filemapGetEntry, Mm, pageCacheAsyncReadahead, pageCacheSyncReadahead, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { *readFolio() { return 0; } } });
 * const ra = fileRaStateInit(mm);
 * env.spawn("read", function* () {
 *   yield* pageCacheSyncReadahead(mm, m, ra, 0, 1); // pages 0–3, mark on 1
 *   const marked = filemapGetEntry(m, 1);
 *   yield* pageCacheAsyncReadahead(mm, m, ra, marked, 1); // the reader got to page 1
 *   if (mm.mem.testFlag(marked, PG.readahead)) throw new Error("the mark is consumed");
 * });
 * env.run();
 * // The next window starts where the last ended and doubles (get_next_ra_size).
 * if (ra.start !== 4 || ra.size !== 8 || m.nrpages !== 12) throw new Error(JSON.stringify(ra));
 * ```
 */
export function* pageCacheAsyncReadahead(
  mm: Mm,
  mapping: AddressSpace,
  ra: FileRaState | null,
  folio: number,
  reqCount: number,
): Process<void> {
  const rac = readaheadControl(mapping, ra, mm.mem.index[folio]!);
  yield* pageCacheAsyncRa(mm, rac, folio, reqCount);
}

function raOf(ra: FileRaState) {
  return { start: ra.start, size: ra.size, asyncSize: ra.asyncSize };
}
