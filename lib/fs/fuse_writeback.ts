/**
 * FUSE writeback: the temp-page designs of 2013 (`no-check`, `wait`, `chained`) and the
 * design without temp pages of v6.16 (`no-temp`). See fuse.ts for the designs and sources.
 *
 * Temp-page designs (fs/fuse/file.c v3.11–v3.15): `fuse_writepages` walks dirty pages with
 * write_cache_pages; `fuse_writepages_fill` sets PG_writeback, copies the page into a temp page
 * (GFP_NOFS, counted in NR_WRITEBACK_TEMP), adds it to the current request, and
 * `fuse_writepages_send` queues the request and ends PG_writeback of the originals right away.
 * `fuse_writepage_end` (the reply) sends chained secondaries, frees the temp pages and wakes
 * fi->page_waitq.
 *
 * No-temp design (v6.16): PG_writeback stays set until the reply, and `fuse_writepage_end`
 * ends it; the generic writeback rules (WB_SYNC_NONE skips folios under writeback, WB_SYNC_ALL
 * waits) give at most one WRITE per folio with no FUSE-private tracking.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import { waitEvent } from "../sim/wait_queue.ts";
import type { WritebackControl } from "../mm/address_space.ts";
import { folioPut, folioUnlock } from "../mm/folio.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { folioAllocGfp, GFP_NOFS } from "../mm/page_alloc.ts";
import {
  folioEndWriteback,
  folioStartWriteback,
  redirtyPageForWritepage,
  writeCachePages,
} from "../mm/writeback.ts";
import type { FuseReq } from "./fuse_conn.ts";
import type { FuseInode, FuseMount } from "./fuse.ts";

/**
 * fuse_page_is_writeback: is a WRITE covering `index` in fi->writepages?
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, filemapFdatawrite, fusePageIsWriteback } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.12" });
 * const fi = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 1000 } } }).createInode();
 * let inFlight = false;
 * env.spawn("app", function* () {
 *   yield* fuseWriteIter(mm, fi, 3, 1);
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
 *   inFlight = fusePageIsWriteback(fi, 3);
 *   yield env.sleep(2000);
 * });
 * env.run();
 * if (!inFlight || fusePageIsWriteback(fi, 3)) throw new Error("in flight until the reply");
 * ```
 */
export function fusePageIsWriteback(fi: FuseInode, index: number): boolean {
  return findWriteback(fi, index) !== null;
}

function findWriteback(fi: FuseInode, index: number): FuseReq | null {
  for (const r of fi.writepages) {
    if (r.index <= index && index < r.index + r.tags.length) return r;
  }
  return null;
}

/**
 * fuse_wait_on_page_writeback: sleep on fi->page_waitq until no WRITE covers `index`. Use with
 * `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, filemapFdatawrite, fuseWaitOnPageWriteback } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.12" });
 * const fi = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 1000 } } }).createInode();
 * env.spawn("app", function* () {
 *   yield* fuseWriteIter(mm, fi, 0, 1);
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
 *   yield* fuseWaitOnPageWriteback(mm, fi, 0);
 * });
 * if (env.run().nowNs !== 1000) throw new Error("woken by the reply");
 * ```
 */
export function* fuseWaitOnPageWriteback(mm: Mm, fi: FuseInode, index: number): Process<void> {
  if (!fusePageIsWriteback(fi, index)) return;
  mm.env.emit("fuse_wait_on_page_writeback", `ino ${fi.ino} index ${index}`);
  // The wait-for graph: this wait is held by the in-flight request.
  yield* pageWaitqWait(mm, fi, () => {
    const r = findWriteback(fi, index);
    return r ? [r] : [];
  }, () => !fusePageIsWriteback(fi, index));
}

/** Sleep on fi->page_waitq until `cond`, naming `holders` in wait-for graphs meanwhile. */
function* pageWaitqWait(
  mm: Mm,
  fi: FuseInode,
  holders: () => FuseReq[],
  cond: () => boolean,
): Process<void> {
  const task = mm.env.current!;
  fi.pageWaitHolders.set(task, holders);
  try {
    yield* waitEvent(mm.env, fi.pageWaitq, cond);
  } finally {
    fi.pageWaitHolders.delete(task);
  }
}

/**
 * FUSE_NOWRITE (fs/fuse/fuse_i.h): INT_MIN, added to fi->writectr by fuse_set_nowrite.
 *
 * @example
 * ```ts
 * import { FUSE_NOWRITE } from "@mmsim/mmsim";
 * if (FUSE_NOWRITE !== -(2 ** 31)) throw new Error("INT_MIN");
 * ```
 */
export const FUSE_NOWRITE: number = -0x8000_0000;

/**
 * fuse_set_nowrite (fs/fuse/dir.c): hold back new WRITEs (fi->writectr += FUSE_NOWRITE; queued
 * ones stay on fi->queued_writes) and wait on fi->page_waitq until every WRITE in flight was
 * replied. With a server that never replies, this never returns (the wait-for graph names the
 * requests). Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseSetNowrite, fuseReleaseNowrite } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const fi = new FuseMount(mm).createInode();
 * env.spawn("truncate", function* () {
 *   yield* fuseSetNowrite(mm, fi);
 *   if (fi.writectr !== -0x8000_0000) throw new Error("FUSE_NOWRITE");
 *   fuseReleaseNowrite(mm, fi);
 * });
 * env.run();
 * if (fi.writectr !== 0) throw new Error("released");
 * ```
 */
export function* fuseSetNowrite(mm: Mm, fi: FuseInode): Process<void> {
  if (fi.writectr < 0) {
    throw new Error(
      `fuse_set_nowrite: fuse ino ${fi.ino} writectr is ${fi.writectr}, expected ≥ 0`,
    );
  }
  fi.writectr += FUSE_NOWRITE;
  const conn = fi.mount.conn;
  yield* pageWaitqWait(
    mm,
    fi,
    () =>
      [...conn.pending, ...conn.bgQueue, ...conn.processing].filter((r) =>
        r.opcode === "WRITE" && r.ino === fi.ino && r.state !== "FINISHED"
      ),
    () => fi.writectr === FUSE_NOWRITE,
  );
}

/**
 * fuse_release_nowrite / __fuse_release_nowrite (fs/fuse/dir.c): writectr back to 0, then
 * send the WRITEs queued meanwhile (fuse_flush_writepages).
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseReleaseNowrite } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fi = new FuseMount(mm).createInode();
 * fi.writectr = -0x8000_0000;
 * fuseReleaseNowrite(mm, fi);
 * if (fi.writectr !== 0) throw new Error("released");
 * ```
 */
export function fuseReleaseNowrite(mm: Mm, fi: FuseInode): void {
  if (fi.writectr !== FUSE_NOWRITE) {
    throw new Error(
      `fuse_release_nowrite: fuse ino ${fi.ino} writectr is ${fi.writectr}, expected FUSE_NOWRITE`,
    );
  }
  fi.writectr = 0;
  fuseFlushWritepages(mm, fi.mount, fi);
}

/**
 * fuse_sync_writes (fs/fuse/file.c): wait until every WRITE of the inode sent so far was
 * replied — fuse_set_nowrite + fuse_release_nowrite. What fsync(2) adds to
 * filemap_write_and_wait on FUSE, since temp-page writeback ends PG_writeback long before the
 * reply. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseSyncWrites } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const fi = new FuseMount(mm).createInode();
 * env.spawn("fsync", function* () { yield* fuseSyncWrites(mm, fi); });
 * if (env.run().reason !== "done") throw new Error("nothing in flight: returns at once");
 * ```
 */
export function* fuseSyncWrites(mm: Mm, fi: FuseInode): Process<void> {
  yield* fuseSetNowrite(mm, fi);
  fuseReleaseNowrite(mm, fi);
}

interface FillData {
  req: FuseReq | null;
  origPages: number[];
}

/**
 * fuse_writepages (fs/fuse/file.c): `->writepages` of FUSE files — write_cache_pages with the
 * design's fill function (fuse_writepages_fill), then send the last request. Returns 0 or a
 * negative errno. Use with `yield*`; normally reached through do_writepages.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, fuseWritepages, writebackControl } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.16" });
 * const fm = new FuseMount(mm);
 * const fi = fm.createInode();
 * let requests = 0;
 * env.spawn("app", function* () {
 *   for (const i of [0, 1, 5]) yield* fuseWriteIter(mm, fi, i, 10 + i);
 *   yield* fuseWritepages(mm, fm, fi, writebackControl({ syncMode: "WB_SYNC_NONE" }));
 *   requests = fm.conn.numBackground;
 * });
 * env.run();
 * if (requests !== 2) throw new Error("pages 0–1 in one WRITE, page 5 in another");
 * ```
 */
export function* fuseWritepages(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  wbc: WritebackControl,
): Process<number> {
  const data: FillData = { req: null, origPages: [] };
  const err: number = yield* writeCachePages(
    mm,
    fi.mapping,
    wbc,
    (folio) =>
      mount.design === "no-temp"
        ? fuseWritepagesFillNoTemp(mm, mount, fi, wbc, data, folio)
        : fuseWritepagesFill(mm, mount, fi, wbc, data, folio),
  );
  if (data.req) {
    if (mount.design === "no-temp") yield* fuseWritepagesSendNoTemp(mm, mount, fi, data);
    else yield* fuseWritepagesSend(mm, mount, fi, data);
  }
  return err;
}

/**
 * fuse_writepages_fill (v3.11 with the variants): called with the folio locked and its dirty bit
 * already cleared for I/O; unlocks it.
 */
function* fuseWritepagesFill(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  wbc: WritebackControl,
  data: FillData,
  folio: number,
): Process<number> {
  const mem = mm.mem;
  const index = mem.index[folio]!;
  const design = mount.design;
  let isWriteback = false;
  if (design !== "no-check") isWriteback = fusePageIsWriteback(fi, index);
  if (design === "wait" && isWriteback) {
    if (wbc.syncMode === "WB_SYNC_ALL") {
      // The proposal: wait for the in-flight WRITE — with the page locked.
      yield* fuseWaitOnPageWriteback(mm, fi, index);
      isWriteback = false;
    } else {
      redirtyPageForWritepage(mm, wbc, folio);
      unlock(mm, folio);
      return 0;
    }
  }
  const req0 = data.req;
  if (
    req0 && req0.tags.length > 0 &&
    (isWriteback || req0.tags.length === mount.conn.config.maxPagesPerReq ||
      mem.index[data.origPages[data.origPages.length - 1]!]! + 1 !== index)
  ) {
    yield* fuseWritepagesSend(mm, mount, fi, data);
  }
  // tmp_page = alloc_page(GFP_NOFS | __GFP_HIGHMEM)
  const tmp: number = yield* folioAllocGfp(mm, 0, GFP_NOFS, MIGRATE.UNMOVABLE);
  if (tmp < 0) {
    redirtyPageForWritepage(mm, wbc, folio);
    unlock(mm, folio);
    return -1;
  }
  fi.stats.tempPagesAllocated++;
  let req = data.req;
  if (!req) {
    req = mount.conn.newRequest("WRITE", fi.ino, index);
    fi.writepages.push(req);
    data.req = req;
  }
  folioStartWriteback(mm, folio);
  // copy_highpage(tmp_page, page)
  mem.data[tmp] = mem.data[folio]!;
  req.tempPages.push(tmp);
  req.tags.push(mem.data[folio]!);
  mm.vmstat.inc("nr_writeback_temp");
  mm.env.emit("fuse_writepage_copy", `ino ${fi.ino} index ${index}`, null, mem.data[folio]);
  if (design === "chained" && isWriteback && fuseWritepageInFlight(mm, mount, fi, req, index)) {
    yield* folioEndWriteback(mm, folio);
    data.req = null;
    unlock(mm, folio);
    return 0;
  }
  fi.writeStarted(index);
  data.origPages.push(folio);
  unlock(mm, folio);
  return 0;
}

function unlock(mm: Mm, folio: number): void {
  folioUnlock(mm, folio);
}

/**
 * fuse_writepage_in_flight (8b284dc47291): `newReq` holds just this page. If a WRITE covering it
 * is in flight, either copy into a still-queued single-page request for the same page (no new
 * request), or chain `newReq` behind it as a secondary sent when it completes. Returns true when
 * the page was taken care of (the caller ends writeback of the original and forgets newReq).
 * A chained secondary is counted as outstanding (and secondary) for `index`; a merged copy
 * creates no request and is not counted.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, filemapFdatawrite, filemapGetEntry, setPageDirtyLock } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.12" });
 * const fi = new FuseMount(mm, { writeback: "chained", server: { latency: { kind: "fixed", ns: 1000 } } }).createInode();
 * env.spawn("app", function* () {
 *   yield* fuseWriteIter(mm, fi, 0, 1);
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // WRITE #1 in flight
 *   yield env.sleep(1); // the server has read it
 *   yield* setPageDirtyLock(mm, filemapGetEntry(fi.mapping, 0)); // a DIO completion re-dirties
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // → fuse_writepage_in_flight
 * });
 * env.run();
 * if (fi.stats.chained !== 1 || fi.stats.maxOutstanding !== 2) throw new Error("one secondary");
 * ```
 */
export function fuseWritepageInFlight(
  mm: Mm,
  _mount: FuseMount,
  fi: FuseInode,
  newReq: FuseReq,
  index: number,
): boolean {
  // list_del(&new_req->writepages_entry)
  fi.writepages.splice(fi.writepages.indexOf(newReq), 1);
  let oldReq = findWriteback(fi, index);
  if (!oldReq) {
    fi.writepages.push(newReq);
    return false;
  }
  for (let tmp: FuseReq | null = oldReq; tmp !== null; tmp = tmp.next) {
    if (tmp.tags.length === 1 && tmp.index === index) oldReq = tmp;
  }
  if (oldReq.tags.length === 1 && (oldReq.state === "INIT" || oldReq.state === "PENDING")) {
    // copy_highpage(old_req->pages[0], page): the queued request carries the new data.
    oldReq.tags[0] = newReq.tags[0]!;
    mm.mem.data[oldReq.tempPages[0]!] = newReq.tags[0]!;
    fi.stats.mergedIntoQueued++;
    mm.env.emit("fuse_writepage_update_queued", oldReq.describe(), null, newReq.tags[0]);
    // fuse_writepage_free(new_req)
    for (const t of newReq.tempPages) folioPut(mm, t);
    mm.vmstat.dec("nr_writeback_temp", newReq.tempPages.length);
    return true;
  }
  newReq.next = oldReq.next;
  oldReq.next = newReq;
  fi.stats.chained++;
  fi.writeStarted(index, true);
  mm.env.emit("fuse_writepage_chain", newReq.describe(), null, oldReq.describe());
  return true;
}

/**
 * fuse_writepages_send: queue the request, flush queued writes, and end PG_writeback of the
 * original pages at once (their data is in the temp pages now).
 */
function* fuseWritepagesSend(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  data: FillData,
): Process<void> {
  const req = data.req!;
  data.req = null;
  req.end = (r) => fuseWritepageEnd(mm, mount, fi, r);
  fi.queuedWrites.push(req);
  fuseFlushWritepages(mm, mount, fi);
  const pages = data.origPages.splice(0);
  for (const page of pages) yield* folioEndWriteback(mm, page);
}

/**
 * fuse_flush_writepages: send queued WRITEs while writectr ≥ 0.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseFlushWritepages } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fm = new FuseMount(mm);
 * const fi = fm.createInode();
 * fuseFlushWritepages(mm, fm, fi); // nothing queued: nothing sent
 * if (fm.conn.pending.length !== 0) throw new Error("nothing to send");
 * ```
 */
export function fuseFlushWritepages(_mm: Mm, mount: FuseMount, fi: FuseInode): void {
  while (fi.writectr >= 0 && fi.queuedWrites.length > 0) {
    const req = fi.queuedWrites.shift()!;
    fuseSendWritepage(mount, fi, req);
  }
}

function fuseSendWritepage(mount: FuseMount, fi: FuseInode, req: FuseReq): void {
  fi.writectr++;
  mount.conn.sendBackground(req);
}

/**
 * fuse_writepage_end: send chained secondaries, then fuse_writepage_finish (off fi->writepages,
 * NR_WRITEBACK_TEMP down, wake fi->page_waitq) and free the temp pages.
 */
// deno-lint-ignore require-yield
function* fuseWritepageEnd(mm: Mm, mount: FuseMount, fi: FuseInode, req: FuseReq): Process<void> {
  if (req.error) fi.mapping.wbErr = "EIO";
  // The reply arrived: this request is no longer outstanding (the kernel's bookkeeping in
  // fuse_writepage_finish comes after the secondaries are sent, in the same critical section).
  for (let k = 0; k < req.tags.length; k++) fi.writeEnded(req.index + k);
  while (req.next) {
    const next = req.next;
    req.next = next.next;
    next.next = null;
    next.end = (r) => fuseWritepageEnd(mm, mount, fi, r);
    fi.writepages.push(next);
    fi.secondarySent(next.index);
    fuseSendWritepage(mount, fi, next);
  }
  fi.writectr--;
  const i = fi.writepages.indexOf(req);
  if (i >= 0) fi.writepages.splice(i, 1);
  mm.vmstat.dec("nr_writeback_temp", req.tempPages.length);
  for (const t of req.tempPages) folioPut(mm, t);
  fi.pageWaitq.wakeUp(0);
}

/**
 * fuse_writepages_fill without temp pages (v6.16): PG_writeback is set here and ended by the
 * reply; the folio itself is the request's page.
 */
function* fuseWritepagesFillNoTemp(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  _wbc: WritebackControl,
  data: FillData,
  folio: number,
): Process<number> {
  const mem = mm.mem;
  const index = mem.index[folio]!;
  const req0 = data.req;
  if (
    req0 && (req0.folios.length === mount.conn.config.maxPagesPerReq ||
      mem.index[req0.folios[req0.folios.length - 1]!]! + 1 !== index)
  ) {
    yield* fuseWritepagesSendNoTemp(mm, mount, fi, data);
  }
  let req = data.req;
  if (!req) {
    req = mount.conn.newRequest("WRITE", fi.ino, index);
    data.req = req;
  }
  folioStartWriteback(mm, folio);
  req.folios.push(folio);
  req.tags.push(mem.data[folio]!);
  mm.setBitHolder(folio, PG.writeback, req);
  fi.writeStarted(index);
  unlock(mm, folio);
  return 0;
}

// deno-lint-ignore require-yield
function* fuseWritepagesSendNoTemp(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  data: FillData,
): Process<void> {
  const req = data.req!;
  data.req = null;
  req.end = (r) => fuseWritepageEndNoTemp(mm, fi, r);
  fi.writectr++;
  mount.conn.sendBackground(req);
}

function* fuseWritepageEndNoTemp(mm: Mm, fi: FuseInode, req: FuseReq): Process<void> {
  if (req.error) fi.mapping.wbErr = "EIO";
  fi.writectr--;
  for (let k = 0; k < req.folios.length; k++) {
    const folio = req.folios[k]!;
    fi.writeEnded(req.index + k);
    mm.setBitHolder(folio, PG.writeback, null);
    yield* folioEndWriteback(mm, folio);
  }
  fi.pageWaitq.wakeUp(0);
}
