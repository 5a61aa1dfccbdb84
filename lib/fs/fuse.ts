/**
 * A FUSE mount: FUSE inodes whose page cache is filled and written back through a
 * {@link FuseConn} to a userspace server, with the writeback designs the threads argue about.
 *
 * Follows fs/fuse/file.c: Linux v3.11–v3.15 for the temp-page writeback (`fuse_writepages`,
 * `fuse_writepages_fill`, `fuse_writepage_locked`, `fuse_send_writepage`,
 * `fuse_flush_writepages`, `fuse_writepage_end`, `fuse_page_is_writeback`,
 * `fuse_wait_on_page_writeback`, `fuse_page_mkwrite`, `fuse_write_begin`), commit 8b284dc47291
 * "fuse: writepages: handle same page rewrites" for `fuse_writepage_in_flight`, and v6.16 for the
 * design without temp pages (0c58a97f919c "fuse: remove tmp folio for writebacks and internal rb
 * tree": PG_writeback held until the reply, AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM set on the
 * mapping) and the read side (`fuse_readahead`, `fuse_read_folio`, `fuse_readpages_end`).
 * fsync(2) is `fuse_fsync` (filemap_write_and_wait, then `fuse_sync_writes` = fuse_set_nowrite +
 * fuse_release_nowrite from fs/fuse/dir.c, then FUSE_FSYNC). The temp-page code was read at a
 * v3.14-era revision of fs/fuse/file.c (`fuse_writepage_in_flight` as 8b284dc47291 added it).
 *
 * Writeback designs ({@link FuseWritebackDesign}):
 * - `no-check` — temp pages, writeback ended right after the copy, no in-flight check (before
 *   Maxim Patlasov's report, Aug 2013);
 * - `wait` — temp pages, and `fuse_page_is_writeback` in writepages: WB_SYNC_ALL waits for the
 *   in-flight request (holding the page lock), WB_SYNC_NONE redirties (the proposal Miklos said
 *   would deadlock in reclaim);
 * - `chained` — temp pages with 8b284dc47291: a rewrite of a page whose request is still queued
 *   updates it; otherwise a single-page secondary request is chained and sent on completion
 *   (the design of v3.13–v6.15, later with an rb-tree);
 * - `no-temp` — v6.16: no temp pages; generic writeback semantics (skip or wait on PG_writeback).
 * `auto` picks `chained` when `mm.era.fuseTempPages`, else `no-temp`.
 *
 * Left out: the rb-tree (a list gives the same answers), writeback of partial pages, file size
 * cropping (`fuse_send_writepage`'s `crop`), FOPEN_DIRECT_IO, passthrough, iomap-based large
 * folios of v6.17+, `->writepage` (fuse_writepage: reclaim's pageout; the model's reclaim never
 * writes file folios), `fuse_launder_folio`, BDI_CAP_STRICTLIMIT.
 *
 * Divergence: the wait-for graph names who must act for a request (the filling task before it
 * is sent, the server threads while it is queued, the handling thread after): the kernel has no
 * such notion; it is what a hung-task report plus a look at /dev/fuse would tell.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, nested } from "../_config.ts";
import type { Process, Task } from "../sim/engine.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  type KResult,
  type ReadaheadControl,
} from "../mm/address_space.ts";
import { folioEndRead, folioLock, folioPut, folioUnlock } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import { filemapGetFolio } from "../mm/filemap.ts";
import { readaheadFolio } from "../mm/readahead.ts";
import { FGP } from "../mm/pagemap.ts";
import {
  balanceDirtyPages,
  filemapWriteAndWaitRange,
  folioMarkDirty,
  folioWaitWriteback,
  WBC_END_MAX,
} from "../mm/writeback.ts";
import type { Mm } from "../mm/mm.ts";
import { filemapMigrateFolio } from "../mm/migrate_folio.ts";
import {
  FuseConn,
  type FuseReq,
  FuseServerConfig,
  type FuseServerConfigInput,
} from "./fuse_conn.ts";
import { fuseSyncWrites, fuseWaitOnPageWriteback, fuseWritepages } from "./fuse_writeback.ts";

/**
 * The writeback designs (see the module doc).
 *
 * @example
 * ```ts
 * import { Engine, FuseMount, type FuseWritebackDesign, Mm } from "@mmsim/mmsim";
 * const designOf = (version: string): FuseWritebackDesign =>
 *   new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 }, version })).design;
 * // `auto` follows the era: temp pages with chained rewrites until v6.16 removed them.
 * if (designOf("6.12") !== "chained" || designOf("6.16") !== "no-temp") throw new Error("auto");
 * const fm = new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 } }), { writeback: "wait" });
 * if (fm.design !== "wait") throw new Error("an explicit design is kept");
 * ```
 */
export type FuseWritebackDesign = "no-check" | "wait" | "chained" | "no-temp";

/**
 * Configuration of a FUSE mount.
 *
 * @example
 * ```ts
 * import { FuseMountConfig } from "@mmsim/mmsim";
 * const c = FuseMountConfig.parse({ writeback: "chained", server: { threads: 2 } });
 * if (c.server.threads !== 2 || c.writeback !== "chained") throw new Error("parsed");
 * ```
 */
export interface FuseMountConfig {
  /** The userspace server. */
  server: FuseServerConfig;
  /** Writeback design; `auto` (default) follows `mm.era.fuseTempPages`. */
  writeback: "auto" | FuseWritebackDesign;
  /**
   * Set AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM on FUSE mappings; default: true for `no-temp`
   * (what 0c58a97f919c does), false for the temp-page designs.
   */
  writebackMayDeadlockOnReclaim?: boolean;
  /** Largest folio order of FUSE mappings (0 = small folios only, the default). */
  maxOrder: number;
}

/**
 * Input of {@link FuseMountConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, FuseMount, type FuseMountConfigInput, Mm } from "@mmsim/mmsim";
 * const input: FuseMountConfigInput = { writeback: "no-temp", server: { threads: 2 } };
 * const fm = new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 } }), input);
 * const fi = fm.createInode();
 * if (fm.conn.serverThreads.length !== 2 || fm.config.maxOrder !== 0) throw new Error("config");
 * // no-temp sets AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM on the mapping unless told otherwise.
 * if (!fi.mapping.writebackMayDeadlockOnReclaim) throw new Error("flag of the no-temp design");
 * ```
 */
export interface FuseMountConfigInput {
  /** The userspace server. */
  server?: FuseServerConfigInput;
  /** Writeback design. */
  writeback?: "auto" | FuseWritebackDesign;
  /** AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM on FUSE mappings. */
  writebackMayDeadlockOnReclaim?: boolean;
  /** Largest folio order of FUSE mappings. */
  maxOrder?: number;
}

const fuseMountSchema = z.object({
  server: nested(FuseServerConfig),
  writeback: z.enum(["auto", "no-check", "wait", "chained", "no-temp"]).default("auto"),
  writebackMayDeadlockOnReclaim: z.boolean().optional(),
  maxOrder: z.number().int().min(0).max(13).default(0),
});

/** The {@link FuseMountConfig} schema. */
export const FuseMountConfig: ConfigSchema<FuseMountConfig, FuseMountConfigInput> = defineConfig(
  "FuseMountConfig",
  fuseMountSchema as unknown as z.ZodType<FuseMountConfig, FuseMountConfigInput>,
);

/**
 * Per-page-offset WRITE accounting of a {@link FuseInode}, for C1.1/C1.2/C1.4.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, type FuseWriteStats } from "@mmsim/mmsim";
 * const fi = new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 } })).createInode();
 * const s: FuseWriteStats = fi.stats;
 * if (s.maxOutstanding !== 0 || s.writesPerIndex.size !== 0) throw new Error("nothing yet");
 * ```
 */
export interface FuseWriteStats {
  /** WRITE requests outstanding (created, not replied) per page index now. */
  readonly outstanding: Map<number, number>;
  /** Highest `outstanding` ever seen for any index. */
  maxOutstanding: number;
  /** Highest outstanding per index. */
  readonly maxOutstandingPerIndex: Map<number, number>;
  /** Chained secondaries (created, not yet sent) per page index now (chained design). */
  readonly secondaries: Map<number, number>;
  /** Highest number of chained secondaries for one index ever seen. */
  maxSecondaries: number;
  /** Highest number of WRITEs in flight (outstanding, not a queued secondary) for one index. */
  maxInFlight: number;
  /** WRITE requests created per index. */
  readonly writesPerIndex: Map<number, number>;
  /** Temp pages allocated (2013 designs). */
  tempPagesAllocated: number;
  /** Rewrites merged into a queued request (chained design). */
  mergedIntoQueued: number;
  /** Secondary requests chained (chained design). */
  chained: number;
}

/**
 * A FUSE inode (`struct fuse_inode`, the writeback parts).
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount } from "@mmsim/mmsim";
 * const fi = new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 } })).createInode();
 * fi.writeStarted(4);
 * fi.writeStarted(4, true); // a chained secondary
 * const before = fi.stats.maxInFlight;
 * fi.secondarySent(4);
 * if (fi.stats.maxOutstanding !== 2 || before !== 1) throw new Error("1 + 1");
 * if (fi.stats.maxInFlight !== 2) throw new Error("both in flight once sent");
 * ```
 */
export class FuseInode {
  /** Inode number. */
  readonly ino: number;
  /** The mount. */
  readonly mount: FuseMount;
  /** Its page cache. */
  readonly mapping: AddressSpace;
  /** fi->writepages: in-flight primary WRITE requests (temp-page designs). */
  readonly writepages: FuseReq[] = [];
  /** fi->queued_writes: WRITEs waiting for fuse_flush_writepages. */
  readonly queuedWrites: FuseReq[] = [];
  /** fi->writectr: in-flight writes (negative while fuse_set_nowrite holds them back). */
  writectr = 0;
  /** fi->page_waitq: woken when a WRITE completes. */
  readonly pageWaitq: WaitQueue;
  /** Who each task sleeping on fi->page_waitq waits for (the requests), for wait-for graphs. */
  readonly pageWaitHolders = new Map<Task, () => FuseReq[]>();
  /** Accounting. */
  readonly stats: FuseWriteStats = {
    outstanding: new Map(),
    maxOutstanding: 0,
    maxOutstandingPerIndex: new Map(),
    secondaries: new Map(),
    maxSecondaries: 0,
    maxInFlight: 0,
    writesPerIndex: new Map(),
    tempPagesAllocated: 0,
    mergedIntoQueued: 0,
    chained: 0,
  };

  /** @internal Use `mount.createInode`. */
  constructor(mount: FuseMount, ino: number, mapping: AddressSpace) {
    this.mount = mount;
    this.ino = ino;
    this.mapping = mapping;
    this.pageWaitq = new WaitQueue(`fi->page_waitq of fuse ino ${ino}`);
    this.pageWaitq.owners = (w) => this.pageWaitHolders.get(w.task)?.() ?? [];
  }

  /**
   * Count a WRITE request covering `index` as outstanding (`secondary`: a chained request not
   * sent yet, 8b284dc47291).
   */
  writeStarted(index: number, secondary = false): void {
    const s = this.stats;
    const n = (s.outstanding.get(index) ?? 0) + 1;
    s.outstanding.set(index, n);
    s.writesPerIndex.set(index, (s.writesPerIndex.get(index) ?? 0) + 1);
    if (n > (s.maxOutstandingPerIndex.get(index) ?? 0)) s.maxOutstandingPerIndex.set(index, n);
    if (n > s.maxOutstanding) s.maxOutstanding = n;
    const sec = (s.secondaries.get(index) ?? 0) + (secondary ? 1 : 0);
    s.secondaries.set(index, sec);
    if (sec > s.maxSecondaries) s.maxSecondaries = sec;
    if (n - sec > s.maxInFlight) s.maxInFlight = n - sec;
  }

  /** A chained secondary for `index` was sent: it is in flight now. */
  secondarySent(index: number): void {
    const s = this.stats;
    s.secondaries.set(index, (s.secondaries.get(index) ?? 1) - 1);
    const n = (s.outstanding.get(index) ?? 0) - (s.secondaries.get(index) ?? 0);
    if (n > s.maxInFlight) s.maxInFlight = n;
  }

  /** A WRITE covering `index` was replied or dropped. */
  writeEnded(index: number): void {
    const s = this.stats;
    s.outstanding.set(index, (s.outstanding.get(index) ?? 1) - 1);
  }
}

/**
 * A FUSE mount: a connection, its server, and its inodes.
 *
 * @example A write, writeback to the server, and the server's copy
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, filemapFdatawrite, filemapFdatawait } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 }, version: "6.16" });
 * const fm = new FuseMount(mm, { server: { threads: 1, latency: { kind: "fixed", ns: 1000 } } });
 * const fi = fm.createInode();
 * env.spawn("writer", function* () {
 *   yield* fuseWriteIter(mm, fi, 0, 42);
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
 *   yield* filemapFdatawait(mm, fi.mapping);
 * });
 * env.run();
 * if (fm.conn.storageOf(fi.ino).get(0) !== 42) throw new Error("server did not get the data");
 * ```
 */
export class FuseMount {
  /** The mm context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: FuseMountConfig;
  /** The resolved writeback design. */
  readonly design: FuseWritebackDesign;
  /** The connection and its server. */
  readonly conn: FuseConn;
  /** Inodes by number. */
  readonly inodes = new Map<number, FuseInode>();
  #nextIno = 1;

  /** Mount: create the connection and start the server threads. */
  constructor(mm: Mm, config: FuseMountConfigInput = {}) {
    this.mm = mm;
    this.config = FuseMountConfig.parse(config);
    const d = this.config.writeback;
    this.design = d === "auto" ? (mm.era.fuseTempPages ? "chained" : "no-temp") : d;
    this.conn = new FuseConn(mm, this.config.server);
    this.conn.handlers.set("READ", (req) => this.#serveRead(req));
  }

  /** Create a FUSE inode with an empty page cache (and optional server-side contents). */
  createInode(contents: Map<number, number> = new Map()): FuseInode {
    const ino = this.#nextIno++;
    const mayDeadlock = this.config.writebackMayDeadlockOnReclaim ??
      this.design === "no-temp";
    const mapping = AddressSpace.create(this.mm, {
      name: `fuse ino ${ino}`,
      ino,
      aops: this.#aops(),
      maxOrder: this.config.maxOrder,
      writebackMayDeadlockOnReclaim: mayDeadlock,
    });
    const fi = new FuseInode(this, ino, mapping);
    mapping.host = fi;
    for (const [i, tag] of contents) {
      this.conn.storageOf(ino).set(i, tag);
      mapping.backing.set(i, tag);
      mapping.latest.set(i, tag);
    }
    this.inodes.set(ino, fi);
    return fi;
  }

  #aops(): AddressSpaceOperations {
    return fuseFileAops(this);
  }

  // deno-lint-ignore require-yield
  *#serveRead(req: FuseReq): Process<void> {
    const s = this.conn.storageOf(req.ino);
    req.tags.length = 0;
    for (let i = 0; i < req.folios.length; i++) req.tags.push(s.get(req.index + i) ?? 0);
  }
}

/**
 * fuse_file_aops (fs/fuse/file.c) bound to a mount, with fuse_file_vm_ops' page_mkwrite.
 * `.migrate_folio = filemap_migrate_folio` is in fuse_file_aops in the v6.16 tree the no-temp
 * design follows (it is context in Joanne Koong's 2025 iomap patches); when it first appeared
 * is not verified here [U], so the temp-page designs keep the fallback path
 * (fallback_migrate_folio), as before.
 */
function fuseFileAops(mount: FuseMount): AddressSpaceOperations {
  const migrate: Pick<AddressSpaceOperations, "migrateFolio"> = mount.design === "no-temp"
    ? { migrateFolio: filemapMigrateFolio }
    : {};
  return {
    ...migrate,
    *writepages(mm, mapping, wbc) {
      return yield* fuseWritepages(mm, mount, mapping.host as FuseInode, wbc);
    },
    *readahead(mm, rac) {
      yield* fuseReadahead(mm, mount, rac);
    },
    *readFolio(mm, mapping, folio) {
      return yield* fuseReadFolio(mm, mount, mapping.host as FuseInode, folio);
    },
    *pageMkwrite(mm, mapping, folio) {
      return yield* fusePageMkwrite(mm, mount, mapping.host as FuseInode, folio);
    },
  };
}

/**
 * fuse_fsync (fs/fuse/file.c, `fuse_fsync` / `fuse_fsync_common`): write back and wait for the
 * whole file (filemap_write_and_wait_range), then wait until the server has replied to every
 * WRITE sent (fuse_sync_writes — with temp pages PG_writeback ended long before), then a
 * synchronous FUSE_FSYNC request. Returns 0 or a negative errno. Use with `yield*`.
 *
 * @example With temp pages, fsync returns only once the server has the data
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, fuseFsync } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.12" });
 * const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 5000 } } });
 * const fi = fm.createInode();
 * let stored = -1;
 * env.spawn("app", function* () {
 *   yield* fuseWriteIter(mm, fi, 0, 7);
 *   yield* fuseFsync(mm, fi);
 *   stored = fm.conn.storageOf(fi.ino).get(0) ?? -1;
 * });
 * env.run();
 * if (stored !== 7) throw new Error(`stored ${stored}`);
 * ```
 */
export function* fuseFsync(mm: Mm, fi: FuseInode): Process<number> {
  const err: number = yield* filemapWriteAndWaitRange(mm, fi.mapping, 0, WBC_END_MAX);
  yield* fuseSyncWrites(mm, fi);
  const req = fi.mount.conn.newRequest("FSYNC", fi.ino, 0);
  const e2: number = yield* fi.mount.conn.sendSync(req);
  return err || (e2 ? -Math.abs(e2) : 0);
}

/**
 * fuse_page_mkwrite: lock the page, check it is still in the file, then wait until no WRITE for
 * it is in flight — `fuse_wait_on_page_writeback` with temp pages, `folio_wait_writeback`
 * without. Returns with the folio locked (VM_FAULT_LOCKED), or EAGAIN if it was truncated
 * (VM_FAULT_NOPAGE). Reached through a write fault on a MAP_SHARED mapping.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, mmapRegion, userStore, filemapFdatawrite } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.16" });
 * const fi = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 1000 } } }).createInode();
 * const vma = mmapRegion(mm, { mapping: fi.mapping, nrPages: 1 });
 * let waited = -1;
 * env.spawn("app", function* (e) {
 *   yield* userStore(mm, vma, 0, 1);
 *   yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // write-protects the PTE
 *   const t = e.nowNs;
 *   yield* userStore(mm, vma, 0, 2); // fuse_page_mkwrite waits for PG_writeback
 *   waited = e.nowNs - t;
 * });
 * env.run();
 * if (waited !== 1000) throw new Error(`waited ${waited}`);
 * ```
 */
export function* fusePageMkwrite(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  folio: number,
): Process<KResult> {
  mm.env.emit("fuse_page_mkwrite", folio);
  yield* folioLock(mm, folio);
  if (mm.mem.mapping[folio] !== fi.mapping.id) {
    folioUnlock(mm, folio);
    return { ok: false, errno: "EAGAIN" };
  }
  if (mount.design === "no-temp") yield* folioWaitWriteback(mm, folio);
  else yield* fuseWaitOnPageWriteback(mm, fi, mm.mem.index[folio]!);
  return { ok: true, value: undefined };
}

/**
 * fuse_readahead + fuse_send_readpages: one background READ per contiguous run of the locked,
 * !uptodate folios of `rac`; fuse_readpages_end copies the reply into each folio and ends the
 * read with folio_end_read (uptodate + unlock in one step). Reached through the mapping's
 * `->readahead`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseReadahead } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fm = new FuseMount(mm);
 * const fi = fm.createInode();
 * const it = fuseReadahead(mm, fm, { mapping: fi.mapping, index: 0, folios: [] } as never);
 * if (!it.next().done || fm.conn.stats.sent.READ) throw new Error("no folios, no READ");
 * ```
 */
// deno-lint-ignore require-yield
export function* fuseReadahead(mm: Mm, mount: FuseMount, rac: ReadaheadControl): Process<void> {
  const fi = rac.mapping.host as FuseInode;
  const per = mount.conn.config.maxPagesPerReq;
  // Take every folio of the batch (readahead_folio(): the page cache keeps it, its lock goes to
  // the READ, fuse_readpages_end() ends the read).
  const all: number[] = [];
  for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) all.push(f);
  for (let i = 0; i < all.length; i += per) {
    const folios = all.slice(i, i + per);
    const req = mount.conn.newRequest("READ", fi.ino, mm.mem.index[folios[0]!]!);
    req.folios.push(...folios);
    for (const f of folios) mm.setBitHolder(f, PG.locked, req);
    req.end = (r) => fuseReadpagesEnd(mm, r);
    mount.conn.sendBackground(req);
  }
}

/**
 * fuse_read_folio: a synchronous READ of one locked folio. Returns 0 or -EIO. Reached through
 * the mapping's `->read_folio` (a page fault, a read(2) without readahead).
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, mmapRegion, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fi = new FuseMount(mm).createInode(new Map([[0, 77]]));
 * const vma = mmapRegion(mm, { mapping: fi.mapping, nrPages: 1 });
 * let v = -1;
 * env.spawn("app", function* () { const r = yield* userLoad(mm, vma, 0); if (r.ok) v = r.value; });
 * env.run();
 * if (v !== 77) throw new Error("read from the server");
 * ```
 */
export function* fuseReadFolio(
  mm: Mm,
  mount: FuseMount,
  fi: FuseInode,
  folio: number,
): Process<number> {
  const req = mount.conn.newRequest("READ", fi.ino, mm.mem.index[folio]!);
  req.folios.push(folio);
  mm.setBitHolder(folio, PG.locked, req);
  req.end = (r) => fuseReadpagesEnd(mm, r);
  const err = yield* mount.conn.sendSync(req);
  return err === 0 ? 0 : -1;
}

/**
 * fuse_readpages_end: copy the reply into the folios, then folio_end_read each (a failed reply
 * leaves them !uptodate). Runs as the READ request's `end`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseConn, fuseReadpagesEnd, folioAlloc, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const req = new FuseConn(mm).newRequest("READ", 1, 0);
 * const f = folioAlloc(mm, 0);
 * mm.mem.setFlag(f, PG.locked);
 * req.folios.push(f);
 * req.tags.push(5);
 * fuseReadpagesEnd(mm, req).next();
 * if (mm.mem.data[f] !== 5 || !mm.mem.testFlag(f, PG.uptodate)) throw new Error("filled");
 * ```
 */
// deno-lint-ignore require-yield
export function* fuseReadpagesEnd(mm: Mm, req: FuseReq): Process<void> {
  for (let i = 0; i < req.folios.length; i++) {
    const f = req.folios[i]!;
    const ok = req.error === 0;
    if (ok) mm.mem.data[f] = req.tags[i] ?? 0;
    folioEndRead(mm, f, ok);
  }
}

/**
 * The write(2) path with the writeback cache (fuse_perform_write → generic_perform_write with
 * fuse_write_begin): get the folio locked, wait for FUSE writeback of it, copy the new data
 * (content `tag`), mark it dirty, unlock; then balance_dirty_pages. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fuseWriteIter, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fi = new FuseMount(mm).createInode();
 * env.spawn("write", function* () { yield* fuseWriteIter(mm, fi, 2, 9); });
 * env.run();
 * const f = filemapGetEntry(fi.mapping, 2);
 * if (!mm.mem.testFlag(f, PG.dirty) || fi.mapping.latest.get(2) !== 9) throw new Error("dirty");
 * ```
 */
export function* fuseWriteIter(
  mm: Mm,
  fi: FuseInode,
  index: number,
  tag: number,
): Process<KResult> {
  const folio: number = yield* filemapGetFolio(
    mm,
    fi.mapping,
    index,
    FGP.LOCK | FGP.CREAT | FGP.WRITE,
  );
  if (folio < 0) return { ok: false, errno: "ENOMEM" };
  if (fi.mount.design === "no-temp") yield* folioWaitWriteback(mm, folio);
  else yield* fuseWaitOnPageWriteback(mm, fi, index);
  mm.mem.data[folio] = tag;
  fi.mapping.latest.set(index, tag);
  mm.mem.setFlag(folio, PG.uptodate);
  folioMarkDirty(mm, folio);
  folioUnlock(mm, folio);
  folioPut(mm, folio);
  yield* balanceDirtyPages(mm, fi.mapping, 1);
  return { ok: true, value: undefined };
}

/**
 * Wait on `q` until `cond` (wait_event; used by fuse_wait_on_page_writeback-like waits). Use
 * with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, WaitQueue, fuseWaitEvent } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const q = new WaitQueue("q");
 * let ready = false;
 * env.spawn("w", function* () { yield* fuseWaitEvent(mm, q, () => ready); });
 * env.spawn("s", function* (e) { yield e.sleep(5); ready = true; q.wakeUp(0); });
 * if (env.run().nowNs !== 5) throw new Error("woken");
 * ```
 */
export function* fuseWaitEvent(mm: Mm, q: WaitQueue, cond: () => boolean): Process<void> {
  yield* waitEvent(mm.env, q, cond);
}
