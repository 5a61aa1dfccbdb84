/**
 * Address spaces (`struct address_space`): the page cache of one file, its mapping flags, and
 * the filesystem's `address_space_operations` table, plus the backing store the filesystem
 * reads from and writes to.
 *
 * Follows include/linux/fs.h (`struct address_space`, `struct address_space_operations`),
 * include/linux/pagemap.h (`enum mapping_flags`, `mapping_min_folio_order`,
 * `mapping_set_folio_order_range`) and mm/filemap.c (`__filemap_add_folio`,
 * `__filemap_remove_folio`, `filemap_free_folio`, `filemap_get_entry`), Linux v6.16.
 *
 * Page-cache lookups use a typed-array hash (`_xarray.ts`); a folio of order k is stored at
 * each of its 2^k indices (the multi-index entry of the kernel's xarray). The page cache
 * holds one reference per page of each folio (folio_ref_add(folio, nr)).
 *
 * Contents are tags: `mem.data[pfn]` names the version a frame holds; `backing` is what the
 * storage (disk, server) holds per index; `written` counts the versions written per index, so
 * a checker can tell a stale read from a fresh one.
 *
 * Left out: shadow entries (workingset), xarray marks other than dirty/writeback (the flags
 * are read from the folio instead), i_mmap (see mmap.ts), nrexceptional.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { XArray } from "./_xarray.ts";
import { folioPutRefs, folioRefAdd } from "./folio.ts";
import { folioAddLru } from "./lru.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";

/**
 * Writeback control (`struct writeback_control`), the parts modelled.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapFdatawrite, folioAlloc, folioMarkDirty, Mm, type WritebackControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const seen: WritebackControl[] = [];
 * const m = AddressSpace.create(mm, { name: "f", aops: { *writepages(_mm, _m, wbc) { seen.push({ ...wbc }); return 0; } } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * env.spawn("fsync", function* () { yield* filemapFdatawrite(mm, m, "WB_SYNC_ALL"); });
 * env.run();
 * // fsync asks ->writepages for data integrity over the whole file.
 * const wbc = seen[0];
 * if (wbc?.syncMode !== "WB_SYNC_ALL" || wbc.rangeStart !== 0 || wbc.reason !== "fsync") throw new Error(JSON.stringify(wbc));
 * ```
 */
export interface WritebackControl {
  /** WB_SYNC_NONE (background, skip busy folios) or WB_SYNC_ALL (data integrity, wait). */
  syncMode: "WB_SYNC_NONE" | "WB_SYNC_ALL";
  /** Pages still to write (decremented by writepages). */
  nrToWrite: number;
  /** First index of the range. */
  rangeStart: number;
  /** Last index of the range (inclusive). */
  rangeEnd: number;
  /** Pages skipped (redirty_page_for_writepage). */
  pagesSkipped: number;
  /** Why this writeback runs, for traces ("sync", "background", "reclaim", "migrate"…). */
  reason: string;
}

/**
 * Migration modes (`enum migrate_mode`, include/linux/migrate_mode.h).
 *
 * @example A folio locked for a read in flight: only MIGRATE_SYNC waits for the lock
 * ```ts
 * import { AddressSpace, allocMigrationTarget, Engine, filemapAddFolioLocked, filemapMigrateFolio, folioAlloc, folioEndRead, folioPut, isolateFolioForMigration, migratePages, type MigrateMode, Mm, putbackMovablePages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
 * const rc: Record<string, string> = {};
 * const modes: MigrateMode[] = ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"];
 * modes.forEach((mode, index) => {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolioLocked(mm, m, f, index); // locked and not uptodate: a read in flight
 *   isolateFolioForMigration(mm, f);
 *   folioPut(mm, f); // the allocation's reference: the cache and the isolation hold it now
 *   env.spawn(`end_io ${index}`, function* (env) { yield env.sleep(1_000_000); folioEndRead(mm, f, true); });
 *   env.spawn(mode, function* () {
 *     const r = yield* migratePages(mm, [f], allocMigrationTarget, mode, "MR_COMPACTION");
 *     rc[mode] = r.outcomes[0]!.rc;
 *     putbackMovablePages(mm, r.failed);
 *   });
 * });
 * env.run();
 * if (rc.MIGRATE_ASYNC !== "EAGAIN" || rc.MIGRATE_SYNC_LIGHT !== "EAGAIN" || rc.MIGRATE_SYNC !== "MIGRATEPAGE_SUCCESS") {
 *   throw new Error(JSON.stringify(rc));
 * }
 * ```
 */
export type MigrateMode = "MIGRATE_ASYNC" | "MIGRATE_SYNC_LIGHT" | "MIGRATE_SYNC";

/**
 * Kernel return codes used by the model (as positive names; the kernel returns -errno).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, type Errno, filemapAddFolio, folioAlloc, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * filemapAddFolio(mm, m, folioAlloc(mm, 0), 3);
 * const r = filemapAddFolio(mm, m, folioAlloc(mm, 0), 3);
 * // Errnos are positive names; the kernel's -EEXIST is reported as EBUSY here.
 * const e: Errno | null = r.ok ? null : r.errno;
 * if (e !== "EBUSY") throw new Error(`index 3 is taken: ${e}`);
 * ```
 */
export type Errno =
  | "EAGAIN"
  | "EBUSY"
  | "ENOMEM"
  | "EINVAL"
  | "EIO"
  | "ENOENT"
  | "EINTR"
  | "ENOSPC"
  | "EFAULT"
  | "EPERM";

/**
 * A kernel-style result: success with a value, or an errno.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, type KResult, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
 * const misaligned: KResult = filemapAddFolio(mm, m, folioAlloc(mm, 2), 2);
 * if (misaligned.ok || misaligned.errno !== "EINVAL") throw new Error("an order-2 folio needs an index aligned to 4");
 * const ok: KResult = filemapAddFolio(mm, m, folioAlloc(mm, 2), 4);
 * if (!ok.ok) throw new Error(ok.errno);
 * ```
 */
export type KResult<T = void> = { ok: true; value: T } | { ok: false; errno: Errno };

/**
 * Readahead control (`struct readahead_control`), the parts modelled.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapRead, folioEndRead, folioTestLocked, folioTestUptodate, iSizeWrite, Mm, readaheadFolio, type ReadaheadControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const batches: { index: number; nrPages: number; lockedNotUptodate: boolean }[] = [];
 * const m = AddressSpace.create(mm, {
 *   name: "f",
 *   aops: {
 *     *readahead(mm, rac: ReadaheadControl) {
 *       const lockedNotUptodate = rac.folios.every((f) => folioTestLocked(mm, f) && !folioTestUptodate(mm, f));
 *       batches.push({ index: rac.index, nrPages: rac.nrPages, lockedNotUptodate });
 *       // Take each folio (readahead_folio); one left in the batch is cleaned up by read_pages().
 *       for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) folioEndRead(mm, f, true);
 *     },
 *   },
 * });
 * iSizeWrite(m, 64);
 * env.spawn("cat", function* () { yield* filemapRead(mm, m, 0, 1); });
 * env.run();
 * const b = batches[0];
 * if (b?.index !== 0 || !(b.nrPages >= 1) || !b.lockedNotUptodate) throw new Error(JSON.stringify(batches));
 * ```
 */
export interface ReadaheadControl {
  /** The mapping. */
  mapping: AddressSpace;
  /** Folios added for this readahead, locked and not uptodate, in index order. */
  folios: number[];
  /** First index. */
  index: number;
  /** Number of pages. */
  nrPages: number;
}

/**
 * The filesystem's operations (`struct address_space_operations`). Absent members take the
 * kernel's generic path (e.g. no `migrateFolio` → `fallback_migrate_folio`). Members that may
 * sleep are generator functions (use with `yield*`).
 *
 * @example A filesystem whose ->read_folio takes 100 µs
 * ```ts
 * import { AddressSpace, type AddressSpaceOperations, Engine, filemapRead, folioEndRead, Mm } from "@mmsim/mmsim";
 * let reads = 0;
 * const aops: AddressSpaceOperations = {
 *   *readFolio(mm, mapping, folio) {
 *     reads++;
 *     yield mm.env.sleep(100_000);
 *     mm.mem.data[folio] = mapping.backing.get(mm.mem.index[folio]!) ?? 0;
 *     folioEndRead(mm, folio, true);
 *     return 0;
 *   },
 * };
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = AddressSpace.create(mm, { name: "file", aops });
 * file.backing.set(0, 7);
 * const tags: number[] = [];
 * let readsAfterFirst = 0;
 * env.spawn("cat", function* () {
 *   for (let i = 0; i < 2; i++) {
 *     const r = yield* filemapRead(mm, file, 0, 1);
 *     if (r.ok) tags.push(r.value[0]!);
 *     if (i === 0) readsAfterFirst = reads;
 *   }
 * });
 * env.run();
 * if (tags.join() !== "7,7" || readsAfterFirst < 1) throw new Error(`${tags}`);
 * if (reads !== readsAfterFirst) throw new Error("the second read is served from the page cache");
 * ```
 */
export interface AddressSpaceOperations {
  /** ->read_folio: start reading a locked folio; the fs unlocks it (folio_end_read) when done. */
  readFolio?(mm: Mm, mapping: AddressSpace, folio: number): Process<number>;
  /** ->readahead: start reading the locked folios of `rac`. */
  readahead?(mm: Mm, rac: ReadaheadControl): Process<void>;
  /** ->dirty_folio: mark dirty (default `filemap_dirty_folio`); true if it was clean. */
  dirtyFolio?(mm: Mm, mapping: AddressSpace, folio: number): boolean;
  /** ->writepages: write back dirty folios in `wbc`'s range. Returns 0 or -errno count. */
  writepages?(mm: Mm, mapping: AddressSpace, wbc: WritebackControl): Process<number>;
  /** ->release_folio: drop private data so the folio can go; false = refused. */
  releaseFolio?(mm: Mm, mapping: AddressSpace, folio: number, gfp: number): boolean;
  /** ->invalidate_folio: the folio (or part) is being removed; may wait (netfs waits PG_private_2). */
  invalidateFolio?(
    mm: Mm,
    mapping: AddressSpace,
    folio: number,
    offset: number,
    length: number,
  ): Process<void>;
  /** ->migrate_folio: move `src` to `dst` (e.g. `filemap_migrate_folio`). */
  migrateFolio?(
    mm: Mm,
    mapping: AddressSpace,
    dst: number,
    src: number,
    mode: MigrateMode,
  ): Process<KResult>;
  /** ->launder_folio: write a dirty folio before invalidation (invalidate_inode_pages2). */
  launderFolio?(mm: Mm, mapping: AddressSpace, folio: number): Process<number>;
  /** vm_ops->page_mkwrite for mmap writes (kept here: one table per filesystem). */
  pageMkwrite?(mm: Mm, mapping: AddressSpace, folio: number): Process<KResult>;
  /**
   * The filesystem's part of ->write_begin: called by `genericPerformWrite` with the folio
   * got by the generic write_begin (locked, stable) before the copy from user space; an errno
   * fails the write. Absent: the generic write_begin only. (Thread 002's device-copy protocol
   * revokes the device's copy here, the "kmap users" Jan Kara names.)
   */
  writeBegin?(mm: Mm, mapping: AddressSpace, folio: number, index: number): Process<KResult>;
  /**
   * Proposal, no kernel counterpart (thread 000, Miklos Szeredi, linux-fsdevel 14 Jan 2025:
   * "an explicit callback from the migration code to the filesystem"): migration could not
   * lock `folio`, which is not uptodate (a read in flight). The filesystem may abandon that
   * read — unlock the folio without marking it uptodate, or remove it from the page cache,
   * drop the references its request holds, and make the late reply be dropped — and return
   * true; migration then takes the lock and goes on. Absent or false: the usual mode rules.
   * Called through `folioAbandonRead` (abandon_read.ts).
   */
  abandonFolio?(mm: Mm, mapping: AddressSpace, folio: number, mode: MigrateMode): boolean;
}

/**
 * Options of an {@link AddressSpace}.
 *
 * @example
 * ```ts
 * import { AddressSpace, type AddressSpaceOptions, Engine, filemapAddFolio, folioAlloc, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * // A filesystem with 8 KiB blocks on 4 KiB pages: folios of order 1 at least, 2 at most.
 * const opts: AddressSpaceOptions = { name: "xfs inode 5", ino: 5, minOrder: 1, maxOrder: 2 };
 * const m = AddressSpace.create(mm, opts);
 * if (filemapAddFolio(mm, m, folioAlloc(mm, 0), 0).ok) throw new Error("below mapping_min_folio_order");
 * if (filemapAddFolio(mm, m, folioAlloc(mm, 3), 8).ok) throw new Error("above the maximum order");
 * if (!filemapAddFolio(mm, m, folioAlloc(mm, 1), 2).ok || m.nrpages !== 2) throw new Error("order 1 fits");
 * ```
 */
export interface AddressSpaceOptions {
  /** Name for reports ("fuse inode 2"). */
  name: string;
  /** Inode number. */
  ino?: number;
  /** The operations table. */
  aops?: AddressSpaceOperations;
  /** mapping_set_folio_min_order (AS_FOLIO_ORDER_MIN), default 0. */
  minOrder?: number;
  /** mapping_set_folio_order_range max (AS_FOLIO_ORDER_MAX), default 0 (no large folios). */
  maxOrder?: number;
  /**
   * AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM (v6.16; earlier series names AS_NO_WRITEBACK_RECLAIM,
   * AS_WRITEBACK_MAY_BLOCK, AS_WRITEBACK_INDETERMINATE): reclaim must not wait on writeback.
   */
  writebackMayDeadlockOnReclaim?: boolean;
  /** AS_UNEVICTABLE. */
  unevictable?: boolean;
  /** AS_RELEASE_ALWAYS: call ->release_folio even without PG_private. */
  releaseAlways?: boolean;
  /** Filesystem-private per-inode data (FUSE's `fuse_inode`, …). */
  host?: unknown;
}

/**
 * An address space: one file's page cache.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, folioAlloc, filemapAddFolio, filemapGetEntry } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
 * const mapping = AddressSpace.create(mm, { name: "file", maxOrder: 2 });
 * const folio = folioAlloc(mm, 2);
 * filemapAddFolio(mm, mapping, folio, 4);
 * if (filemapGetEntry(mapping, 6) !== folio) throw new Error("index 6 is inside the folio");
 * if (mm.mem.refcount[folio] !== 5) throw new Error("1 + 4 page-cache references");
 * ```
 */
export class AddressSpace {
  /** Id in `mm.mappings` (the value stored in `mem.mapping[pfn]`). */
  readonly id: number;
  /** Name for reports. */
  readonly name: string;
  /** Marks a file mapping in `mm.mappings` (as opposed to an anon_vma). */
  readonly kind = "file" as const;
  /** Inode number. */
  readonly ino: number;
  /** i_pages: index → head pfn. */
  readonly pages = new XArray();
  /** nrpages: pages (not folios) in the cache. */
  nrpages = 0;
  /** The operations table. */
  aops: AddressSpaceOperations;
  /** AS_FOLIO_ORDER_MIN. */
  minOrder: number;
  /** AS_FOLIO_ORDER_MAX. */
  maxOrder: number;
  /** AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM. */
  writebackMayDeadlockOnReclaim: boolean;
  /** AS_UNEVICTABLE. */
  unevictable: boolean;
  /** AS_RELEASE_ALWAYS. */
  releaseAlways: boolean;
  /** AS_EIO / AS_ENOSPC: the last writeback error (mapping_set_error). */
  wbErr: "EIO" | "ENOSPC" | null = null;
  /** Filesystem-private per-inode data. */
  host: unknown;
  /** Storage contents per index (content tags); absent = a hole (zeroes, tag 0). */
  readonly backing = new Map<number, number>();
  /** Latest version written by anyone per index (write(2), mmap store, device). */
  readonly latest = new Map<number, number>();

  private constructor(id: number, o: AddressSpaceOptions) {
    this.id = id;
    this.name = o.name;
    this.ino = o.ino ?? id;
    this.aops = o.aops ?? {};
    this.minOrder = o.minOrder ?? 0;
    this.maxOrder = Math.max(o.maxOrder ?? 0, this.minOrder);
    this.writebackMayDeadlockOnReclaim = o.writebackMayDeadlockOnReclaim ?? false;
    this.unevictable = o.unevictable ?? false;
    this.releaseAlways = o.releaseAlways ?? false;
    this.host = o.host;
  }

  /** Create and register an address space in `mm`. */
  static create(mm: Mm, options: AddressSpaceOptions): AddressSpace {
    return mm.registerMapping((id) => new AddressSpace(id, options)) as AddressSpace;
  }

  /**
   * folio_mapping(): the address space a folio belongs to, or undefined for a folio that is
   * anonymous or not in any page cache.
   */
  static of(mm: Mm, folio: number): AddressSpace | undefined {
    const id = mm.mem.mapping[folio]!;
    return mm.isFileMapping(id) ? mm.mappings[id] as AddressSpace : undefined;
  }
}

/**
 * Tag of a new version of a page's contents (unique per Mm).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, newContentTag } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const v1 = newContentTag(mm), v2 = newContentTag(mm);
 * m.backing.set(0, v1); // the disk holds version 1…
 * m.latest.set(0, v2); // …while version 2 was written since: a read of v1 now would be stale
 * if (v1 === v2 || v1 === 0 || mm.contentTag !== v2) throw new Error("tags are unique and never 0 (zeroes)");
 * ```
 */
export function newContentTag(mm: Mm): number {
  return ++mm.contentTag;
}

/**
 * filemap_get_entry: the head pfn cached at `index`, or -1.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapGetEntry, folioAlloc, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
 * const f = folioAlloc(mm, 2);
 * filemapAddFolio(mm, m, f, 4);
 * // A multi-index entry: every index of the folio finds its head.
 * for (const i of [4, 5, 6, 7]) if (filemapGetEntry(m, i) !== f) throw new Error(`index ${i}`);
 * if (filemapGetEntry(m, 8) !== -1 || filemapGetEntry(m, 3) !== -1) throw new Error("holes");
 * ```
 */
export function filemapGetEntry(mapping: AddressSpace, index: number): number {
  return mapping.pages.load(index);
}

/**
 * __filemap_add_folio + folio_add_lru: insert a locked folio at `index` (aligned to its
 * order), set folio->mapping/index, take one reference per page, add it to the LRU. Returns
 * -EEXIST as `EBUSY` if any index is occupied, `EINVAL` if the order is outside the mapping's
 * range or misaligned.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
 * const f = folioAlloc(mm, 2);
 * if (!filemapAddFolio(mm, m, f, 4).ok) throw new Error("added");
 * // folio->mapping/index set, one reference per page, on the LRU.
 * if (mm.mem.mapping[f] !== m.id || mm.mem.index[f] !== 4 || mm.mem.refcount[f] !== 5) throw new Error("fields");
 * if (m.nrpages !== 4 || !mm.mem.testFlag(f, PG.lru)) throw new Error("nrpages, LRU");
 * const r = filemapAddFolio(mm, m, folioAlloc(mm, 0), 6);
 * if (r.ok || r.errno !== "EBUSY") throw new Error("index 6 belongs to the order-2 folio");
 * ```
 */
export function filemapAddFolio(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
  index: number,
): KResult {
  const mem = mm.mem;
  const order = mem.order[folio]!;
  const nr = 1 << order;
  // Divergence: the kernel VM_BUG_ONs a folio below mapping_min_folio_order() and does not
  // check the maximum here (its callers size folios); the model returns -EINVAL for both.
  if (order < mapping.minOrder || (order > mapping.maxOrder && order > 0)) {
    return { ok: false, errno: "EINVAL" };
  }
  if ((index & (nr - 1)) !== 0) return { ok: false, errno: "EINVAL" };
  for (let i = index; i < index + nr; i++) {
    if (mapping.pages.load(i) !== -1) return { ok: false, errno: "EBUSY" };
  }
  folioRefAdd(mm, folio, nr);
  mem.mapping[folio] = mapping.id;
  mem.index[folio] = index;
  for (let i = index; i < index + nr; i++) mapping.pages.store(i, folio);
  mapping.nrpages += nr;
  mm.vmstat.inc("nr_file_pages", nr);
  if (!mem.testFlag(folio, PG.lru)) folioAddLru(mm.lruvec, folio);
  mm.env.emit("mm_filemap_add_to_page_cache", folio, null, { mapping: mapping.name, index });
  return { ok: true, value: undefined };
}

/**
 * filemap_remove_folio / __filemap_remove_folio + filemap_free_folio: take a locked folio out
 * of the page cache, clear folio->mapping, drop the page cache's references. The caller still
 * holds its own reference.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapGetEntry, filemapRemoveFolio, folioAlloc, folioMarkDirty, folioPut, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * filemapRemoveFolio(mm, f);
 * if (filemapGetEntry(m, 0) !== -1 || mm.mem.mapping[f] !== 0 || m.nrpages !== 0) throw new Error("gone from the cache");
 * if (mm.vmstat.get("nr_dirty") !== 0) throw new Error("a dirty folio removed without writeback is uncounted");
 * if (mm.mem.refcount[f] !== 1) throw new Error("the caller still holds its own reference");
 * folioPut(mm, f);
 * if (mm.zone.nrFreePages !== 64) throw new Error("then it can be freed");
 * ```
 */
export function filemapRemoveFolio(mm: Mm, folio: number): void {
  const mem = mm.mem;
  const mapping = AddressSpace.of(mm, folio);
  if (!mapping) throw new Error(`filemap_remove_folio: ${mm.describeFolio(folio)} has no mapping`);
  const nr = 1 << mem.order[folio]!;
  const index = mem.index[folio]!;
  for (let i = index; i < index + nr; i++) {
    if (mapping.pages.load(i) === folio) mapping.pages.erase(i);
  }
  mapping.nrpages -= nr;
  mm.vmstat.dec("nr_file_pages", nr);
  if (mem.testFlag(folio, PG.dirty)) {
    // folio_account_cleaned(): a dirty folio removed without writeback.
    // Divergence: filemap_unaccount_folio() (mm/filemap.c, v6.10) WARNs and "leaves the dirty
    // flag set" (cleared when the folio is freed); the model clears it here, so a later
    // folio_mark_dirty() on a still-referenced (e.g. GUP-pinned) truncated folio reports it
    // newly dirtied. Truncation clears PG_dirty before (folio_cancel_dirty), so only paths
    // that remove a dirty folio reach this.
    mem.clearFlag(folio, PG.dirty);
    mm.vmstat.dec("nr_dirty", nr);
  }
  mem.mapping[folio] = 0;
  mm.env.emit("mm_filemap_delete_from_page_cache", folio, null, {
    mapping: mapping.name,
    index,
  });
  folioPutRefs(mm, folio, nr);
}

/**
 * Replace the cache entry of `old` by `folio` (the xarray part of replace_page_cache_folio /
 * folio_migrate_mapping): `folio` takes over mapping and index. Reference counts are the
 * caller's business (migration freezes and moves them; see migrate.ts).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapGetEntry, filemapReplaceEntry, folioAlloc, Mm } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, src, 9);
 * filemapReplaceEntry(mm, src, dst); // the xarray step of folio_migrate_mapping
 * if (filemapGetEntry(m, 9) !== dst || mm.mem.index[dst] !== 9 || mm.mem.mapping[dst] !== m.id) throw new Error("dst took over");
 * if (mm.mem.mapping[src] !== 0) throw new Error("src left the cache");
 * ```
 */
export function filemapReplaceEntry(mm: Mm, old: number, folio: number): void {
  const mem = mm.mem;
  const mapping = AddressSpace.of(mm, old);
  if (!mapping) throw new Error(`replace entry: ${mm.describeFolio(old)} has no mapping`);
  const nr = 1 << mem.order[old]!;
  const index = mem.index[old]!;
  mem.mapping[folio] = mapping.id;
  mem.index[folio] = index;
  for (let i = index; i < index + nr; i++) mapping.pages.store(i, folio);
  mem.mapping[old] = 0;
}
