/**
 * Direct I/O between a file's storage and user memory: bios over pages found with
 * get_user_pages / pin_user_pages, a block device that completes each bio after a configurable
 * latency, and the two ways a DIO read dirties the user pages it fills —
 * `bio_set_pages_dirty` at submission and `bio_check_pages_dirty` at completion, which defers
 * re-dirtying pages that writeback cleaned meanwhile to a workqueue (`bio_dirty_fn`). Both go
 * through `set_page_dirty_lock` → `->dirty_folio`; neither touches a PTE or calls
 * `->page_mkwrite`, so a filesystem whose page is the target of a DIO read (an mmap'ed FUSE
 * file, thread 001) is not notified.
 *
 * Two submission paths:
 * - {@link doBlockdevDirectIO}: fs/direct-io.c as of 2013 (v3.11 logic: `do_blockdev_direct_IO`,
 *   `dio_refill_pages` with `get_user_pages_fast` (FOLL_GET), `dio_bio_submit` — which calls
 *   `bio_set_pages_dirty` for async reads only — `dio_bio_complete` — `bio_check_pages_dirty`
 *   for async reads, `set_page_dirty_lock` per page for sync reads — `dio_bio_end_aio`,
 *   `dio_complete`), read at a v4.14-era revision whose logic is unchanged; the caller flushes
 *   first as `generic_file_aio_read` / `generic_file_direct_write` (v3.11, mm/filemap.c) did.
 * - {@link iomapDioRw}: fs/iomap/direct-io.c (`__iomap_dio_rw`, `iomap_dio_bio_iter`,
 *   `iomap_dio_bio_end_io`, `iomap_dio_complete`), v6.16-era: reads `kiocb_write_and_wait`
 *   (flush) and set IOMAP_DIO_DIRTY, so every read bio is dirtied at submission and checked at
 *   completion; writes `kiocb_invalidate_pages` (flush + `invalidate_inode_pages2_range`) and
 *   `kiocb_invalidate_post_direct_write` after.
 * block/bio.c (`bio_set_pages_dirty`, `bio_check_pages_dirty`, `bio_dirty_fn`,
 * `bio_release_pages`) read at a v6.x revision; the v3.11 variant of `bio_check_pages_dirty`
 * (release dirty pages at once, defer only the clean ones) is used by the 2013 path.
 *
 * Contents move as tags: a read copies `mapping.backing` into the user pages when the device
 * completes the bio (the DMA), a write copies the user pages into `backing`.
 *
 * Left out: sector/block mapping (`get_block`, `iomap_begin`: a file page is a disk block,
 * no holes, no unwritten extents), sub-page I/O and zeroing, i_size and short reads, plugging
 * and request merging, polling, IOCB_NOWAIT, the per-superblock `s_dio_done_wq` ordering (a
 * deferred completion runs in its own kworker task).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, nested, type Same, zodOf } from "../_config.ts";
import { type Process, type Task, TaskFlag } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import { Completion } from "../sim/sync.ts";
import type { AddressSpace, KResult } from "./address_space.ts";
import { kiocbInvalidatePages } from "./filemap.ts";
import { getUserPages, pinUserPages, putUserPage, unpinUserPage } from "./gup.ts";
import { PG } from "./memory.ts";
import type { FolioRef, Mm } from "./mm.ts";
import type { Vma } from "./mmap.ts";
import { filemapWriteAndWaitRange } from "./writeback.ts";
import { folioFileMapping, setPageDirtyLockAny as setPageDirtyLock } from "./_anon.ts";

/**
 * Configuration of the modelled block device and of the DIO paths.
 *
 * @example
 * ```ts
 * import { DioConfig } from "@mmsim/mmsim";
 * const c = DioConfig.parse({ latency: { kind: "fixed", ns: 5e6 } });
 * if (c.maxPagesPerBio !== 256 || c.dioPages !== 64) throw new Error("BIO_MAX_VECS, DIO_PAGES");
 * const bad = DioConfig.safeParse({ dioPages: 0 });
 * if (bad.success || bad.error.issues[0]!.path[0] !== "dioPages") throw new Error("names the field");
 * ```
 */
export interface DioConfig {
  /** Device service time of one bio (submit → end_io). `never` = a device that hangs. */
  latency: Latency;
  /** Pages per bio: BIO_MAX_VECS (256; BIO_MAX_PAGES in v3.11). */
  maxPagesPerBio: number;
  /** Pages taken per get_user_pages call (DIO_PAGES = 64 in fs/direct-io.c). */
  dioPages: number;
  /**
   * How user pages are held: FOLL_GET (get_user_pages_fast, fs/direct-io.c) or FOLL_PIN
   * (iov_iter_extract_pages, used by bio_iov_iter_get_pages since about v6.5 [U]). Default:
   * FOLL_GET for {@link doBlockdevDirectIO}, FOLL_PIN for {@link iomapDioRw}.
   */
  gup?: "FOLL_GET" | "FOLL_PIN";
  /** Delay between schedule_work(&bio_dirty_work) and bio_dirty_fn running, in ns. */
  dirtyWorkDelayNs: number;
  /**
   * Flush (reads) or flush and invalidate (writes) the page cache of the range before the I/O,
   * and invalidate after a write, as the kernel always does (default true). Model knob: false
   * is a DIO path without that pass — thread 002's "no DIO invalidation" negative control.
   */
  pageCacheSync: boolean;
}

/**
 * Input of {@link DioConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { AddressSpace, type DioConfigInput, dioStats, Engine, iomapDioRw, Mm, mmapRegion } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 5 });
 * const config: DioConfigInput = { maxPagesPerBio: 2, latency: { kind: "fixed", ns: 500_000 } };
 * env.spawn("pread", function* () {
 *   yield* iomapDioRw(mm, "READ", { mapping: disk, index: 0, async: false }, { vma: buf, index: 0, nrPages: 5 }, config);
 * });
 * env.run();
 * // 5 pages in bios of at most 2: three bios, served side by side.
 * if (dioStats(mm).biosSubmitted !== 3 || env.nowNs !== 500_000) throw new Error(`${env.nowNs}`);
 * ```
 */
export type DioConfigInput = Partial<DioConfig>;

const dioSchema = z.object({
  latency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
  maxPagesPerBio: z.number().int().positive().default(256),
  dioPages: z.number().int().positive().default(64),
  gup: z.enum(["FOLL_GET", "FOLL_PIN"]).optional(),
  dirtyWorkDelayNs: z.number().int().min(0).default(0),
  pageCacheSync: z.boolean().default(true),
});
const _dioTypes: Same<z.output<typeof dioSchema>, DioConfig> = true;
void _dioTypes;

/** The {@link DioConfig} schema. */
export const DioConfig: ConfigSchema<DioConfig, DioConfigInput> = defineConfig(
  "DioConfig",
  dioSchema,
);

/**
 * The file side of a direct I/O (`struct kiocb`, the parts modelled).
 *
 * @example A synchronous O_DIRECT read (2013 path): the disk's data lands in the user pages, which end up dirty
 * ```ts
 * import { AddressSpace, doBlockdevDirectIO, Engine, type IovIter, type Kiocb, Mm, mmapRegion, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * disk.backing.set(4, 40);
 * disk.backing.set(5, 50);
 * const buf = mmapRegion(mm, { nrPages: 2 });
 * const iocb: Kiocb = { mapping: disk, index: 4, async: false };
 * const iter: IovIter = { vma: buf, index: 0, nrPages: 2 };
 * let size = 0;
 * env.spawn("pread", function* () {
 *   const r = yield* doBlockdevDirectIO(mm, "READ", iocb, iter);
 *   if (r.ok) size = r.value.size;
 * });
 * env.run();
 * const pages = [buf.pteOf(0), buf.pteOf(1)];
 * if (size !== 2 || pages.map((p) => mm.mem.data[p]).join() !== "40,50") throw new Error("DMA");
 * if (!pages.every((p) => mm.mem.testFlag(p, PG.dirty))) throw new Error("set_page_dirty_lock after a sync read");
 * ```
 */
export interface Kiocb {
  /** The file read or written; its `backing` store is the disk. */
  mapping: AddressSpace;
  /** First file page (ki_pos / PAGE_SIZE). */
  index: number;
  /** AIO (io_submit): the call returns EIOCBQUEUED and completes later; false = sync. */
  async: boolean;
}

/**
 * The user buffer (`struct iov_iter` over one user range): pages of a VMA.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, iomapDioRw, type IovIter, Mm, mmapRegion } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * disk.backing.set(0, 7);
 * const buf = mmapRegion(mm, { nrPages: 4, pgoff: 100 }); // linear pages 100..103
 * const iter: IovIter = { vma: buf, index: 102, nrPages: 1 }; // the third page of the buffer
 * env.spawn("pread", function* () { yield* iomapDioRw(mm, "READ", { mapping: disk, index: 0, async: false }, iter); });
 * env.run();
 * if (mm.mem.data[buf.pteOf(102)] !== 7 || buf.pteOf(100) >= 0) throw new Error("only the iterated page is touched");
 * ```
 */
export interface IovIter {
  /** The VMA the buffer lives in (anonymous memory or an mmap'ed file). */
  vma: Vma;
  /** Linear page index of the first buffer page. */
  index: number;
  /** Length in pages. */
  nrPages: number;
}

/**
 * Direction of a direct I/O.
 *
 * @example
 * ```ts
 * import { AddressSpace, type DioRw, Engine, iomapDioRw, Mm, mmapRegion, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 1 });
 * const rw: DioRw = "WRITE"; // user memory → disk
 * env.spawn("pwrite", function* () {
 *   yield* userStore(mm, buf, 0, 99);
 *   yield* iomapDioRw(mm, rw, { mapping: disk, index: 3, async: false }, { vma: buf, index: 0, nrPages: 1 });
 * });
 * env.run();
 * if (disk.backing.get(3) !== 99 || disk.latest.get(3) !== 99) throw new Error("written to the disk");
 * ```
 */
export type DioRw = "READ" | "WRITE";

/**
 * A direct-I/O bio (`struct bio` as fs/direct-io.c and iomap build it): pages of user memory
 * and the file pages they transfer to or from. (block_device.ts has the write bios of
 * page-cache writeback.)
 *
 * @example The 2013 path takes page references (FOLL_GET); iomap pins (FOLL_PIN)
 * ```ts
 * import { AddressSpace, type DioBio, doBlockdevDirectIO, Engine, iomapDioRw, Mm, mmapRegion } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 2 });
 * const bios: DioBio[] = [];
 * env.spawn("reads", function* () {
 *   const iocb = { mapping: disk, index: 0, async: false };
 *   const a = yield* doBlockdevDirectIO(mm, "READ", iocb, { vma: buf, index: 0, nrPages: 2 });
 *   const b = yield* iomapDioRw(mm, "READ", iocb, { vma: buf, index: 0, nrPages: 2 });
 *   if (a.ok && b.ok) bios.push(a.value.bios[0]!, b.value.bios[0]!);
 * });
 * env.run();
 * const [old, cur] = bios;
 * if (old?.gup !== "FOLL_GET" || !old.legacy || cur?.gup !== "FOLL_PIN" || cur.legacy) throw new Error("paths");
 * if (cur.op !== "READ" || cur.pages.length !== 2 || cur.held.some((h) => h)) throw new Error("released after completion");
 * ```
 */
export class DioBio {
  /** Small id for traces. */
  readonly id: number;
  /** REQ_OP_READ (disk → memory) or REQ_OP_WRITE. */
  readonly op: DioRw;
  /** The file. */
  readonly mapping: AddressSpace;
  /** First file page. */
  readonly fileIndex: number;
  /** The user pages (pfns), one per file page. */
  readonly pages: number[];
  /** Stale-safe references to the folios of `pages`, taken at submission. */
  readonly refs: FolioRef[];
  /** How the pages are held. */
  readonly gup: "FOLL_GET" | "FOLL_PIN";
  /** v3.11 `bio_check_pages_dirty`: release dirty pages at once, defer only clean ones. */
  readonly legacy: boolean;
  /** Pages still held by the bio (NIL once released early). */
  readonly held: boolean[];
  /** bi_end_io. */
  endIo: (mm: Mm, bio: DioBio) => void = () => {};
  /** Completion status: 0 or an errno name. */
  status: 0 | "EIO" = 0;

  /** @internal */
  constructor(
    id: number,
    op: DioRw,
    mapping: AddressSpace,
    fileIndex: number,
    pages: number[],
    refs: FolioRef[],
    gup: "FOLL_GET" | "FOLL_PIN",
    legacy: boolean,
  ) {
    this.id = id;
    this.op = op;
    this.mapping = mapping;
    this.fileIndex = fileIndex;
    this.pages = pages;
    this.refs = refs;
    this.gup = gup;
    this.legacy = legacy;
    this.held = pages.map(() => true);
  }
}

/**
 * One direct I/O in flight (`struct dio` / `struct iomap_dio`).
 *
 * @example An AIO read returns at once; its completion comes later
 * ```ts
 * import { AddressSpace, doBlockdevDirectIO, Engine, Mm, mmapRegion } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 2 });
 * const log: string[] = [];
 * env.spawn("io_submit", function* (env) {
 *   const r = yield* doBlockdevDirectIO(mm, "READ", { mapping: disk, index: 0, async: true }, { vma: buf, index: 0, nrPages: 2 }, {
 *     latency: { kind: "fixed", ns: 1_000_000 },
 *   });
 *   if (!r.ok) throw new Error(r.errno);
 *   const dio = r.value;
 *   log.push(`submitted @${env.nowNs} size ${dio.size}`); // EIOCBQUEUED
 *   yield* dio.done.wait(env); // io_getevents
 *   log.push(`done @${env.nowNs} size ${dio.size}, ${dio.rw}, ${dio.bios.length} bio`);
 * });
 * env.run();
 * if (log.join("; ") !== "submitted @0 size 0; done @1000000 size 2, READ, 1 bio") throw new Error(log.join("; "));
 * ```
 */
export class Dio {
  /** Direction. */
  readonly rw: DioRw;
  /** The file side. */
  readonly iocb: Kiocb;
  /** Bios submitted. */
  readonly bios: DioBio[] = [];
  /** dio->refcount: the submitter's reference plus one per bio in flight. */
  refcount = 1;
  /** Pages transferred. */
  size = 0;
  /** First error. */
  error: 0 | "EIO" = 0;
  /** Completed when the whole I/O is done (`ki_complete` for AIO; the waiter for sync). */
  readonly done: Completion;

  /** @internal */
  constructor(rw: DioRw, iocb: Kiocb, name: string) {
    this.rw = rw;
    this.iocb = iocb;
    this.done = new Completion(name);
  }
}

/**
 * Counters of the DIO model ({@link dioStats}).
 *
 * @example An AIO read dirties its pages at submission (bio_set_pages_dirty); a sync 2013 read does not
 * ```ts
 * import { AddressSpace, doBlockdevDirectIO, Engine, Mm, mmapRegion, dioStats, type DioStats } from "@mmsim/mmsim";
 * const dirtied: number[] = [];
 * for (const async of [false, true]) {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 256 } });
 *   const disk = AddressSpace.create(mm, { name: "disk file" });
 *   const buf = mmapRegion(mm, { nrPages: 2 });
 *   env.spawn("read", function* () {
 *     const r = yield* doBlockdevDirectIO(mm, "READ", { mapping: disk, index: 0, async }, { vma: buf, index: 0, nrPages: 2 });
 *     if (r.ok) yield* r.value.done.wait(env);
 *   });
 *   env.run();
 *   const s: DioStats = dioStats(mm);
 *   if (s.biosCompleted !== 1 || s.deferredRedirty !== 0) throw new Error(JSON.stringify(s));
 *   dirtied.push(s.setPagesDirty);
 * }
 * if (dirtied.join() !== "0,2") throw new Error(`${dirtied}`);
 * ```
 */
export interface DioStats {
  /** Bios submitted to the device. */
  biosSubmitted: number;
  /** Bios the device completed. */
  biosCompleted: number;
  /** Pages dirtied by `bio_set_pages_dirty` at submission. */
  setPagesDirty: number;
  /** Bios `bio_check_pages_dirty` found with clean pages and queued for `bio_dirty_fn`. */
  deferredRedirty: number;
  /** Pages `bio_dirty_fn` dirtied again. */
  redirtiedPages: number;
}

class DioState {
  nextBio = 1;
  nextDio = 1;
  /** bio_dirty_list. */
  dirtyList: DioBio[] = [];
  /** bio_dirty_work is queued and has not started. */
  workPending = false;
  /** Counters. */
  readonly stats: DioStats = {
    biosSubmitted: 0,
    biosCompleted: 0,
    setPagesDirty: 0,
    deferredRedirty: 0,
    redirtiedPages: 0,
  };
}

const STATES = new WeakMap<Mm, DioState>();

function dioState(mm: Mm): DioState {
  let s = STATES.get(mm);
  if (!s) STATES.set(mm, s = new DioState());
  return s;
}

/**
 * Counters of the DIO model of `mm`: bios submitted and completed, pages dirtied at
 * submission, bios whose clean pages were re-dirtied by `bio_dirty_fn`, pages re-dirtied.
 *
 * @example
 * ```ts
 * import { Engine, Mm, dioStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (dioStats(mm).biosSubmitted !== 0) throw new Error("nothing yet");
 * ```
 */
export function dioStats(mm: Mm): Readonly<DioStats> {
  return dioState(mm).stats;
}

// ------------------------------------------------------------------ block/bio.c

/**
 * bio_set_pages_dirty (block/bio.c): `set_page_dirty_lock` on every page of the bio (the
 * legacy variant skips compound pages) — before the device has written anything, so that
 * dirtying never has to happen from interrupt context. No `->page_mkwrite`, no PTE change.
 *
 * @example
 * ```ts
 * import { AddressSpace, aioDirectRead, dioStats, Engine, filemapFdatawrite, filemapGetEntry, Mm, mmapRegion, PG, SimpleFs, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "file", sizePages: 1 });
 * const disk = AddressSpace.create(mm, { name: "disk" });
 * const buf = mmapRegion(mm, { mapping: file, nrPages: 1 }); // the DIO buffer is a file page
 * env.spawn("app", function* () {
 *   yield* userStore(mm, buf, 0, 1);
 *   // Writeback cleans (and write-protects) the buffer page while the device fills it.
 *   env.spawn("flusher", function* (e) {
 *     yield e.sleep(100_000);
 *     yield* filemapFdatawrite(mm, file, "WB_SYNC_ALL");
 *   });
 *   yield* aioDirectRead(mm, disk, buf, { device: { latency: { kind: "fixed", ns: 1_000_000 } } });
 * });
 * env.run();
 * const s = dioStats(mm);
 * // bio_set_pages_dirty() dirtied the page at submit; writeback cleaned it; it is dirty again.
 * if (s.setPagesDirty !== 1) throw new Error("dirtied once at submit");
 * if (!mm.mem.testFlag(filemapGetEntry(file, 0), PG.dirty)) throw new Error("dirty at the end");
 * ```
 */
export function* bioSetPagesDirty(mm: Mm, bio: DioBio): Process<void> {
  const st = dioState(mm);
  for (let k = 0; k < bio.pages.length; k++) {
    if (!bio.held[k]) continue;
    const folio = mm.mem.compoundHead(bio.pages[k]!);
    if (bio.legacy && mm.mem.order[folio]! > 0) continue; // PageCompound
    if (!mm.checkLive(bio.refs[k]!, "bio_set_pages_dirty")) continue;
    mm.env.emit("bio_set_pages_dirty", folio, null, { bio: bio.id });
    st.stats.setPagesDirty++;
    yield* setPageDirtyLock(mm, folio);
  }
}

/** bio_release_pages(bio, false): drop the bio's hold on every page it still holds. */
function bioReleasePages(mm: Mm, bio: DioBio): void {
  for (let k = 0; k < bio.pages.length; k++) {
    if (bio.held[k]) releasePage(mm, bio, k);
  }
}

function releasePage(mm: Mm, bio: DioBio, k: number): void {
  bio.held[k] = false;
  if (bio.gup === "FOLL_PIN") unpinUserPage(mm, bio.pages[k]!);
  else putUserPage(mm, bio.pages[k]!);
}

/**
 * bio_check_pages_dirty (block/bio.c), called from the bio's completion (interrupt context,
 * may not sleep): pages still dirty are fine; if any page is clean — writeback cleaned it
 * while the device was filling it — the bio goes on `bio_dirty_list` and `bio_dirty_work` is
 * scheduled to re-dirty it in process context ({@link bioDirtyFn}). The v3.11 variant releases
 * the dirty pages at once and keeps only the clean ones.
 *
 * @example
 * ```ts
 * import { AddressSpace, aioDirectRead, dioStats, Engine, filemapFdatawrite, Mm, mmapRegion, SimpleFs, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "file", sizePages: 1 });
 * const disk = AddressSpace.create(mm, { name: "disk" });
 * const buf = mmapRegion(mm, { mapping: file, nrPages: 1 }); // the DIO buffer is a file page
 * env.spawn("app", function* () {
 *   yield* userStore(mm, buf, 0, 1);
 *   // Writeback cleans (and write-protects) the buffer page while the device fills it.
 *   env.spawn("flusher", function* (e) {
 *     yield e.sleep(100_000);
 *     yield* filemapFdatawrite(mm, file, "WB_SYNC_ALL");
 *   });
 *   yield* aioDirectRead(mm, disk, buf, { device: { latency: { kind: "fixed", ns: 1_000_000 } } });
 * });
 * env.run();
 * const s = dioStats(mm);
 * // At completion the page was clean: the bio went on bio_dirty_list.
 * if (s.deferredRedirty !== 1) throw new Error("one deferred re-dirty");
 * ```
 */
export function bioCheckPagesDirty(mm: Mm, bio: DioBio, config: DioConfig): void {
  const mem = mm.mem;
  let clean = 0;
  for (let k = 0; k < bio.pages.length; k++) {
    if (!bio.held[k]) continue;
    const ref = bio.refs[k]!;
    const folio = mem.compoundHead(bio.pages[k]!);
    const live = mm.isLive(ref);
    const dirtyOrCompound = live &&
      (mem.testFlag(folio, PG.dirty) || (bio.legacy && mem.order[folio]! > 0));
    if (bio.legacy && dirtyOrCompound) releasePage(mm, bio, k);
    else if (!dirtyOrCompound) clean++;
  }
  mm.env.emit("bio_check_pages_dirty", bio.id, null, { clean });
  if (clean === 0) {
    bioReleasePages(mm, bio);
    return;
  }
  const st = dioState(mm);
  st.dirtyList.push(bio);
  st.stats.deferredRedirty++;
  scheduleBioDirtyWork(mm, config);
}

/** schedule_work(&bio_dirty_work): queue the work unless it is already pending. */
function scheduleBioDirtyWork(mm: Mm, config: DioConfig): void {
  const st = dioState(mm);
  if (st.workPending) return;
  st.workPending = true;
  mm.env.spawn("kworker/bio_dirty", function* () {
    // process_one_work() clears PENDING before calling the function.
    st.workPending = false;
    yield* bioDirtyFn(mm);
  }, { delayNs: config.dirtyWorkDelayNs });
}

/**
 * bio_dirty_fn (block/bio.c), the `bio_dirty_work` function, in process context: take the
 * whole `bio_dirty_list` and for each bio `bio_release_pages(bio, true)` —
 * `set_page_dirty_lock` on each page it still holds, then release it. This is the deferred
 * re-dirty of thread 001: a page that writeback cleaned (and write-protected with
 * `folio_mkclean`) becomes dirty again with no `->page_mkwrite` and a read-only PTE.
 *
 * @example
 * ```ts
 * import { AddressSpace, aioDirectRead, dioStats, Engine, filemapFdatawrite, Mm, mmapRegion, SimpleFs, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "file", sizePages: 1 });
 * const disk = AddressSpace.create(mm, { name: "disk" });
 * const buf = mmapRegion(mm, { mapping: file, nrPages: 1 }); // the DIO buffer is a file page
 * env.spawn("app", function* () {
 *   yield* userStore(mm, buf, 0, 1);
 *   // Writeback cleans (and write-protects) the buffer page while the device fills it.
 *   env.spawn("flusher", function* (e) {
 *     yield e.sleep(100_000);
 *     yield* filemapFdatawrite(mm, file, "WB_SYNC_ALL");
 *   });
 *   yield* aioDirectRead(mm, disk, buf, { device: { latency: { kind: "fixed", ns: 1_000_000 } } });
 * });
 * env.run();
 * const s = dioStats(mm);
 * // The work re-dirtied the page in process context, with no ->page_mkwrite.
 * if (s.redirtiedPages !== 1) throw new Error("one page re-dirtied by bio_dirty_fn");
 * ```
 */
export function* bioDirtyFn(mm: Mm): Process<void> {
  const st = dioState(mm);
  const list = st.dirtyList;
  st.dirtyList = [];
  for (const bio of list) {
    for (let k = 0; k < bio.pages.length; k++) {
      if (!bio.held[k]) continue;
      const folio = mm.mem.compoundHead(bio.pages[k]!);
      if (mm.checkLive(bio.refs[k]!, "bio_dirty_fn") && !(bio.legacy && mm.mem.order[folio]! > 0)) {
        mm.env.emit("bio_dirty_fn", folio, null, { bio: bio.id });
        st.stats.redirtiedPages++;
        yield* setPageDirtyLock(mm, folio);
      }
      releasePage(mm, bio, k);
    }
  }
}

/**
 * submit_bio to the modelled block device: a task that waits the device latency, moves the
 * data (the DMA: disk → user pages for a read, user pages → disk for a write) and calls
 * `bi_end_io` in interrupt context (TaskFlag.ATOMIC: sleeping there is reported). A stale page
 * reference at DMA time is recorded as a use-after-free and that page is skipped.
 */
function submitBio(mm: Mm, bio: DioBio, config: DioConfig): Task {
  const st = dioState(mm);
  st.stats.biosSubmitted++;
  mm.env.emit("block_bio_queue", bio.id, null, {
    op: bio.op,
    mapping: bio.mapping.name,
    index: bio.fileIndex,
    nr: bio.pages.length,
  });
  return mm.env.spawn(`blk bio#${bio.id}`, function* (env, self) {
    const ns = sampleLatency(self.rng, config.latency);
    if (ns === Infinity) yield env.hang(`disk never completes bio#${bio.id}`);
    else yield env.sleep(ns);
    const mem = mm.mem;
    for (let k = 0; k < bio.pages.length; k++) {
      const page = bio.pages[k]!;
      const fileIndex = bio.fileIndex + k;
      if (!mm.checkLive(bio.refs[k]!, `DMA of bio#${bio.id}`)) continue;
      if (bio.op === "READ") {
        const tag = bio.mapping.backing.get(fileIndex) ?? 0;
        mem.data[page] = tag;
        // The page is now the newest copy of whatever file it belongs to.
        const head = mem.compoundHead(page);
        const owner = folioFileMapping(mm, head);
        if (owner) owner.latest.set(mem.index[head]! + (page - head), tag);
      } else {
        const tag = mem.data[page]!;
        bio.mapping.backing.set(fileIndex, tag);
        bio.mapping.latest.set(fileIndex, tag);
      }
    }
    st.stats.biosCompleted++;
    env.emit("block_bio_complete", bio.id, null, { op: bio.op });
    self.flags |= TaskFlag.ATOMIC;
    bio.endIo(mm, bio);
    self.flags &= ~TaskFlag.ATOMIC;
  });
}

// ------------------------------------------------------------------ shared submission

function* grabPages(
  mm: Mm,
  rw: DioRw,
  iter: IovIter,
  from: number,
  n: number,
  gup: "FOLL_GET" | "FOLL_PIN",
): Process<KResult<number[]>> {
  // A read writes into user memory: FOLL_WRITE.
  const opts = { write: rw === "READ" };
  return gup === "FOLL_PIN"
    ? yield* pinUserPages(mm, iter.vma, iter.index + from, n, opts)
    : yield* getUserPages(mm, iter.vma, iter.index + from, n, opts);
}

/**
 * Build and submit the bios of one DIO: pages in batches of `dioPages`, at most
 * `maxPagesPerBio` per bio; `dirtyAtSubmit` calls {@link bioSetPagesDirty} before each
 * submission. Returns the number of pages submitted or the first errno.
 */
function* submitDio(
  mm: Mm,
  dio: Dio,
  iter: IovIter,
  config: DioConfig,
  gup: "FOLL_GET" | "FOLL_PIN",
  legacy: boolean,
  dirtyAtSubmit: boolean,
  endIo: (mm: Mm, bio: DioBio) => void,
): Process<KResult<number>> {
  const st = dioState(mm);
  let done = 0;
  while (done < iter.nrPages) {
    const want = Math.min(config.dioPages, config.maxPagesPerBio, iter.nrPages - done);
    const r = yield* grabPages(mm, dio.rw, iter, done, want, gup);
    if (!r.ok) return done > 0 ? { ok: true, value: done } : r;
    const pages = r.value;
    const refs = pages.map((p) => mm.ref(mm.mem.compoundHead(p)));
    const bio = new DioBio(
      st.nextBio++,
      dio.rw,
      dio.iocb.mapping,
      dio.iocb.index + done,
      pages,
      refs,
      gup,
      legacy,
    );
    bio.endIo = endIo;
    dio.bios.push(bio);
    dio.refcount++;
    if (dirtyAtSubmit) yield* bioSetPagesDirty(mm, bio);
    submitBio(mm, bio, config);
    done += pages.length;
    if (pages.length < want) break;
  }
  return { ok: true, value: done };
}

/** Drop one dio reference; the last one completes the DIO. */
function dioPut(mm: Mm, dio: Dio, complete: (mm: Mm, dio: Dio) => void): void {
  if (--dio.refcount === 0) complete(mm, dio);
}

/**
 * The page-cache pass before a DIO of pages `index … last`: a read writes the range back
 * (`filemap_write_and_wait_range`; an error is EIO), a write flushes and invalidates it
 * (`kiocb_invalidate_pages`; a failure is EBUSY). Returns the errno, or null.
 */
function* dioSyncPageCache(
  mm: Mm,
  rw: DioRw,
  mapping: AddressSpace,
  index: number,
  last: number,
): Process<"EIO" | "EBUSY" | null> {
  if (rw === "READ") {
    const err = yield* filemapWriteAndWaitRange(mm, mapping, index, last);
    return err !== 0 ? "EIO" : null;
  }
  const err = yield* kiocbInvalidatePages(mm, mapping, index, last);
  return err !== 0 ? "EBUSY" : null;
}

/** A new DIO named `<kind>#<n> <rw> <file>`, traced as `event` with its range. */
function dioBegin(
  mm: Mm,
  rw: DioRw,
  iocb: Kiocb,
  iter: IovIter,
  kind: string,
  event: string,
): Dio {
  const st = dioState(mm);
  const dio = new Dio(rw, iocb, `${kind}#${st.nextDio++} ${rw} ${iocb.mapping.name}`);
  mm.env.emit(event, iocb.mapping.name, null, {
    rw,
    index: iocb.index,
    nr: iter.nrPages,
    async: iocb.async,
  });
  return dio;
}

/**
 * Drop the submitter's dio reference after submission: an async DIO completes later through
 * `complete` (returns true: the caller returns at once); a sync one waits here until its bios
 * are done (returns false).
 */
function* dioSubmitterPut(
  mm: Mm,
  dio: Dio,
  complete: (mm: Mm, dio: Dio) => void,
): Process<boolean> {
  if (dio.iocb.async) {
    dioPut(mm, dio, complete);
    return true;
  }
  if (--dio.refcount > 0) yield* dio.done.wait(mm.env);
  return false;
}

// ------------------------------------------------------------------ fs/direct-io.c (2013)

/**
 * A direct I/O through fs/direct-io.c as of 2013 (`__blockdev_direct_IO` in v3.11, the path
 * thread 001 is about), with the flush its caller does first: `filemap_write_and_wait_range`
 * for a read (`generic_file_aio_read`), flush + `invalidate_inode_pages2_range`
 * (`kiocb_invalidate_pages` here) for a write (`generic_file_direct_write`).
 *
 * User pages are taken with get_user_pages_fast (FOLL_GET; `config.gup` overrides), FOLL_WRITE
 * for a read. `dio_bio_submit` dirties an async read's pages at submission
 * (`bio_set_pages_dirty`); `dio_bio_complete` calls `bio_check_pages_dirty` for an async read
 * (deferred re-dirty of pages cleaned meanwhile) and `set_page_dirty_lock` on each page for a
 * sync read. A sync DIO returns the pages transferred when every bio is done; an async one
 * returns at once with `dio.done` completed later (`ki_complete`).
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, doBlockdevDirectIO, Engine, Mm, mmapRegion, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const disk = AddressSpace.create(mm, { name: "disk" });
 * new BlockDevice(mm, { latency: { kind: "fixed", ns: 10_000 } }).attach(disk);
 * disk.backing.set(0, 7); // the disk holds content tag 7 at page 0
 * const buf = mmapRegion(mm, { nrPages: 1 }); // the user buffer
 * let got = -1;
 * env.spawn("app", function* () {
 *   const r = yield* doBlockdevDirectIO(mm, "READ", { mapping: disk, index: 0, async: false }, { vma: buf, index: 0, nrPages: 1 });
 *   if (!r.ok) throw new Error(r.errno);
 *   const v = yield* userLoad(mm, buf, 0);
 *   got = v.ok ? v.value : -1;
 * });
 * env.run();
 * if (got !== 7) throw new Error(`the buffer holds ${got}`);
 * ```
 */
export function* doBlockdevDirectIO(
  mm: Mm,
  rw: DioRw,
  iocb: Kiocb,
  iter: IovIter,
  config: DioConfigInput = {},
): Process<KResult<Dio>> {
  const c = DioConfig.parse(config);
  const mapping = iocb.mapping;
  const last = iocb.index + iter.nrPages - 1;
  const errno = yield* dioSyncPageCache(mm, rw, mapping, iocb.index, last);
  if (errno) return { ok: false, errno };
  const dio = dioBegin(mm, rw, iocb, iter, "dio", "do_blockdev_direct_IO");
  const asyncRead = iocb.async && rw === "READ";
  const complete = (_mm: Mm, d: Dio) => {
    // dio_complete(): aio_complete for AIO; the sync waiter is woken the same way here.
    mm.env.emit("dio_complete", mapping.name, null, { size: d.size, error: d.error });
    d.done.complete();
  };
  const endIo = (_mm: Mm, bio: DioBio) => {
    // dio_bio_end_aio / dio_bio_end_io → dio_bio_complete().
    if (bio.status) dio.error = bio.status;
    if (asyncRead) bioCheckPagesDirty(mm, bio, c);
    else if (iocb.async) bioReleasePages(mm, bio);
    else {
      // Sync: dio_bio_complete() runs in the submitter (dio_await_completion); see below.
    }
    dio.size += bio.pages.length;
    dioPut(mm, dio, iocb.async ? complete : () => dio.done.complete());
  };
  const r = yield* submitDio(mm, dio, iter, c, c.gup ?? "FOLL_GET", true, asyncRead, endIo);
  if (!r.ok) return r;
  // Sync: drop the submitter's reference and wait for the bios (dio_await_completion), then
  // dio_bio_complete() in process context: set_page_dirty_lock + put_page for a read.
  // Divergence: the kernel completes each bio as dio_await_one() returns it; here all bios
  // are waited for first (the same pages are dirtied, a little later for early bios).
  if (yield* dioSubmitterPut(mm, dio, complete)) return { ok: true, value: dio };
  for (const bio of dio.bios) {
    for (let k = 0; k < bio.pages.length; k++) {
      if (!bio.held[k]) continue;
      const folio = mm.mem.compoundHead(bio.pages[k]!);
      if (
        rw === "READ" && mm.mem.order[folio] === 0 && mm.checkLive(bio.refs[k]!, "dio_bio_complete")
      ) {
        mm.env.emit("dio_bio_complete", folio, null, { bio: bio.id });
        yield* setPageDirtyLock(mm, folio);
      }
      releasePage(mm, bio, k);
    }
  }
  complete(mm, dio);
  return { ok: true, value: dio };
}

// ------------------------------------------------------------------ fs/iomap/direct-io.c

/**
 * iomap_dio_rw (fs/iomap/direct-io.c, v6.16 era): a read first writes back dirty page-cache
 * pages of the range (`kiocb_write_and_wait`) and, the buffer being user memory, sets
 * IOMAP_DIO_DIRTY: every bio's pages are dirtied at submission (`bio_set_pages_dirty`) and
 * checked at completion (`bio_check_pages_dirty`), sync or async. A write first flushes and
 * invalidates the page cache (`kiocb_invalidate_pages`; failure → the kernel's -ENOTBLK
 * "fall back to buffered I/O", EBUSY here) and invalidates again after completion
 * (`kiocb_invalidate_post_direct_write`). User pages are pinned (FOLL_PIN; `config.gup`
 * overrides). `config.pageCacheSync: false` skips the page-cache pass (a model knob; the
 * 2013 path {@link doBlockdevDirectIO} always does it).
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, iomapDioRw, Engine, Mm, mmapRegion, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const disk = AddressSpace.create(mm, { name: "disk" });
 * new BlockDevice(mm, { latency: { kind: "fixed", ns: 10_000 } }).attach(disk);
 * disk.backing.set(0, 7); // the disk holds content tag 7 at page 0
 * const buf = mmapRegion(mm, { nrPages: 1 }); // the user buffer
 * let got = -1;
 * env.spawn("app", function* () {
 *   const r = yield* iomapDioRw(mm, "READ", { mapping: disk, index: 0, async: false }, { vma: buf, index: 0, nrPages: 1 });
 *   if (!r.ok) throw new Error(r.errno);
 *   const v = yield* userLoad(mm, buf, 0);
 *   got = v.ok ? v.value : -1;
 * });
 * env.run();
 * if (got !== 7) throw new Error(`the buffer holds ${got}`);
 * ```
 */
export function* iomapDioRw(
  mm: Mm,
  rw: DioRw,
  iocb: Kiocb,
  iter: IovIter,
  config: DioConfigInput = {},
): Process<KResult<Dio>> {
  const c = DioConfig.parse(config);
  const mapping = iocb.mapping;
  const last = iocb.index + iter.nrPages - 1;
  // Model knob (DioConfig.pageCacheSync): false, no flush or invalidation before the I/O.
  const errno = c.pageCacheSync ? yield* dioSyncPageCache(mm, rw, mapping, iocb.index, last) : null;
  if (errno) return { ok: false, errno };
  const dio = dioBegin(mm, rw, iocb, iter, "iomap_dio", "iomap_dio_rw_begin");
  const shouldDirty = rw === "READ"; // user_backed_iter → IOMAP_DIO_DIRTY
  const finish = (d: Dio) => {
    mm.env.emit("iomap_dio_complete", mapping.name, null, { size: d.size, error: d.error });
    d.done.complete();
  };
  const complete = (_mm: Mm, d: Dio) => {
    if (rw === "WRITE" && iocb.async && c.pageCacheSync) {
      // Async writes complete in a workqueue (s_dio_done_wq): iomap_dio_complete_work.
      mm.env.spawn(`kworker/dio ${mapping.name}`, function* () {
        yield* kiocbInvalidatePages(mm, mapping, iocb.index, last);
        finish(d);
      });
    } else finish(d);
  };
  const endIo = (_mm: Mm, bio: DioBio) => {
    // iomap_dio_bio_end_io()
    if (bio.status) dio.error = bio.status;
    dio.size += bio.pages.length;
    dioPut(mm, dio, iocb.async ? complete : () => dio.done.complete());
    if (shouldDirty) bioCheckPagesDirty(mm, bio, c);
    else bioReleasePages(mm, bio);
  };
  const r = yield* submitDio(mm, dio, iter, c, c.gup ?? "FOLL_PIN", false, shouldDirty, endIo);
  if (!r.ok) return r;
  if (yield* dioSubmitterPut(mm, dio, complete)) return { ok: true, value: dio };
  if (rw === "WRITE" && c.pageCacheSync) {
    // kiocb_invalidate_post_direct_write(); failure only warns.
    yield* kiocbInvalidatePages(mm, mapping, iocb.index, last);
  }
  finish(dio);
  return { ok: true, value: dio };
}

// ------------------------------------------------------------------ a reusable AIO reader

/**
 * Options of {@link aioDirectRead} and {@link dioReader}.
 *
 * @example
 * ```ts
 * import { AioReadConfig } from "@mmsim/mmsim";
 * const c = AioReadConfig.parse({ nrPages: 4 });
 * if (c.path !== "direct-io" || c.repeat !== 1 || c.device.dioPages !== 64) throw new Error();
 * ```
 */
export interface AioReadConfig {
  /** Pages per read. */
  nrPages: number;
  /** First file page read. */
  fileIndex: number;
  /** First buffer page (offset in pages from the start of the VMA). */
  bufferOffset: number;
  /** Reads issued one after the other by {@link dioReader}. */
  repeat: number;
  /** Pause between a completion and the next submission (ns). */
  intervalNs: number;
  /** Submission path: fs/direct-io.c (2013) or fs/iomap/direct-io.c. */
  path: "direct-io" | "iomap";
  /** Device and bio settings. */
  device: DioConfig;
}

/**
 * Input of {@link AioReadConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { AddressSpace, aioDirectRead, type AioReadConfigInput, dioStats, Engine, Mm, mmapRegion } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 4 });
 * const input: AioReadConfigInput = {
 *   nrPages: 4,
 *   path: "iomap",
 *   device: { latency: { kind: "fixed", ns: 1_000_000 }, maxPagesPerBio: 2 },
 * };
 * let read = 0;
 * env.spawn("aio", function* () { const r = yield* aioDirectRead(mm, disk, buf, input); if (r.ok) read = r.value; });
 * env.run();
 * if (read !== 4 || dioStats(mm).biosSubmitted !== 2 || dioStats(mm).setPagesDirty !== 4) throw new Error(JSON.stringify(dioStats(mm)));
 * ```
 */
export type AioReadConfigInput = Partial<Omit<AioReadConfig, "device">> & {
  /** Device and bio settings. */
  device?: DioConfigInput;
};

const aioReadSchema = z.object({
  nrPages: z.number().int().positive().default(1),
  fileIndex: z.number().int().min(0).default(0),
  bufferOffset: z.number().int().min(0).default(0),
  repeat: z.number().int().positive().default(1),
  intervalNs: z.number().int().min(0).default(0),
  path: z.enum(["direct-io", "iomap"]).default("direct-io"),
  device: nested(DioConfig),
});
const _aioTypes: Same<z.output<typeof aioReadSchema>, AioReadConfig> = true;
void _aioTypes;

/** The {@link AioReadConfig} schema. */
export const AioReadConfig: ConfigSchema<AioReadConfig, AioReadConfigInput> = defineConfig(
  "AioReadConfig",
  aioReadSchema,
);

/**
 * One asynchronous O_DIRECT read of `nrPages` pages of `file` into the user buffer `buffer`
 * (io_submit + io_getevents): submit with an async kiocb, then wait for `ki_complete`.
 * Returns the pages read. The deferred `bio_dirty_fn` may still be pending when this returns.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mmapRegion, aioDirectRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * disk.backing.set(0, 77);
 * const buf = mmapRegion(mm, { nrPages: 1 }); // anonymous buffer
 * env.spawn("aio", function* () {
 *   const r = yield* aioDirectRead(mm, disk, buf, { nrPages: 1 });
 *   if (!r.ok || r.value !== 1) throw new Error("one page read");
 * });
 * env.run();
 * if (mm.mem.data[buf.pteOf(0)] !== 77) throw new Error("the DMA filled the buffer");
 * ```
 */
export function* aioDirectRead(
  mm: Mm,
  file: AddressSpace,
  buffer: Vma,
  config: AioReadConfigInput = {},
): Process<KResult<number>> {
  const c = AioReadConfig.parse(config);
  const iocb: Kiocb = { mapping: file, index: c.fileIndex, async: true };
  const iter: IovIter = { vma: buffer, index: buffer.pgoff + c.bufferOffset, nrPages: c.nrPages };
  const r = c.path === "iomap"
    ? yield* iomapDioRw(mm, "READ", iocb, iter, c.device)
    : yield* doBlockdevDirectIO(mm, "READ", iocb, iter, c.device);
  if (!r.ok) return r;
  yield* r.value.done.wait(mm.env);
  return r.value.error ? { ok: false, errno: r.value.error } : { ok: true, value: r.value.size };
}

/**
 * A reusable process: `repeat` asynchronous DIO reads of `file` into `buffer`, each waited
 * for, `intervalNs` apart. Spawn it: `env.spawn("dio reader", dioReader(mm, file, buf, {…}))`.
 * The task's result is the number of pages read.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mmapRegion, dioReader } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const disk = AddressSpace.create(mm, { name: "disk file" });
 * const buf = mmapRegion(mm, { nrPages: 2 });
 * const t = env.spawn("reader", dioReader(mm, disk, buf, { nrPages: 2, repeat: 3 }));
 * env.run();
 * if (t.result !== 6) throw new Error(`read ${t.result} pages`);
 * ```
 */
export function dioReader(
  mm: Mm,
  file: AddressSpace,
  buffer: Vma,
  config: AioReadConfigInput = {},
): (env: Mm["env"], task: Task) => Process<number> {
  const c = AioReadConfig.parse(config);
  return function* (env) {
    let pages = 0;
    for (let i = 0; i < c.repeat; i++) {
      if (i > 0 && c.intervalNs > 0) yield env.sleep(c.intervalNs);
      const r = yield* aioDirectRead(mm, file, buffer, c);
      if (!r.ok) return pages;
      pages += r.value;
    }
    return pages;
  };
}
