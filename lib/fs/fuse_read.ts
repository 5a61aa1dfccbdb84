/**
 * The read side of FUSE as thread 000 argues about it: readahead into locked placeholder
 * folios, replies by /dev/fuse copy or by splice move, and the two proposals of the thread as
 * options — a migration hook that abandons unfilled folios, and late allocation over
 * "under construction" ranges.
 *
 * Follows fs/fuse/file.c and fs/fuse/dev.c of v6.16:
 * - `fuse_readahead`: the locked, not-uptodate folios of the readahead batch go into READ
 *   requests of at most `max_pages`, sent in the background; since 0c67c37e1710 ("fuse: revert
 *   back to __readahead_folio() for readahead", Feb 2025) each request keeps a reference on its
 *   folios until `fuse_readpages_end` (`folio_end_read` + `folio_put`). The folio's lock is
 *   the request's (its bit holder), so a wait-for graph runs from a waiter to the request and
 *   the server thread handling it.
 * - `fuse_read_folio` → `fuse_do_readfolio`: a synchronous READ of the caller's locked folio;
 *   the reading task marks it uptodate and unlocks it after the reply (it owns the lock).
 * - the reply, `fuse_dev_do_write` → `fuse_copy_args` → `fuse_copy_folio`: one memcpy per page
 *   into the locked folio; or with splice, `fuse_dev_splice_write` → `fuse_try_move_folio`
 *   (fuse_splice.ts), which replaces the placeholder by the server's page.
 * - `fuse_abort_conn` for READs being copied (see {@link FuseReadSide.abortConn}).
 *
 * The proposals (no kernel has them):
 * - `abandon` ("unlock" | "remove"): the mapping's `->abandonFolio` (abandon_read.ts), called
 *   by migration when it cannot lock a not-uptodate folio. Only readahead folios are given up —
 *   a `->read_folio` folio is locked by the reading task, which unlocks it itself after the
 *   reply, so there is no request to take it from. The request forgets the folio (drops its
 *   reference), the folio is unlocked without PG_uptodate ("unlock") or also removed from the
 *   page cache ("remove"), and the late reply for it is dropped. `lateReply: "copy"` is the
 *   negative control: the late reply is copied into the abandoned frame anyway (and
 *   `folio_end_read` run on it if it is locked), which the checkers flag as use-after-free,
 *   bad folio state or stale reads.
 * - `lateAllocation`: no placeholder; readahead begins construct ranges (construct_range.ts)
 *   and the reply allocates each folio, copies and inserts it uptodate; with splice the stolen
 *   server page itself is inserted. Readers use `filemapReadConstruct` ({@link FuseReadSide.read}).
 *
 * Counters in {@link FuseReadStats}: memcpy per page, pages moved, folios allocated at reply
 * time, folios abandoned, late replies dropped / copied.
 *
 * Left out: FOPEN_DIRECT_IO and passthrough, short reads and i_size updates from replies,
 * large folios, `fuse_invalidate_atime`, readahead throttling by `fc->max_background` beyond
 * what the connection models.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, nested, zodOf } from "../_config.ts";
import type { Process, Task } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import {
  type AddressSpace,
  filemapRemoveFolio,
  type KResult,
  type MigrateMode,
  type ReadaheadControl,
} from "../mm/address_space.ts";
import { folioEndRead, folioPut, folioUnlock } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { filemapRead } from "../mm/filemap.ts";
import {
  type ConstructRange,
  constructRangeFill,
  type ConstructRanges,
  filemapReadConstruct,
  mappingConstructRanges,
} from "../mm/construct_range.ts";
import type { FuseReq } from "./fuse_conn.ts";
import type { FuseInode, FuseMount } from "./fuse.ts";
import {
  fuseArgsTouch,
  type FuseIoArgs,
  FuseSpliceConfig,
  type FuseSpliceConfigInput,
  fuseTryMoveFolio,
  pipeBufRelease,
  pipeStats,
  ServerPipe,
  serverPipeFill,
} from "./fuse_splice.ts";

/**
 * Configuration of the FUSE read side.
 *
 * @example
 * ```ts
 * import { FuseReadConfig } from "@mmsim/mmsim";
 * const c = FuseReadConfig.parse({ abandon: "unlock" });
 * if (c.reply !== "copy" || c.lateReply !== "drop" || c.lateAllocation) throw new Error("defaults");
 * if (c.splice.pipeMaxUsage !== 16) throw new Error("PIPE_DEF_BUFFERS");
 * ```
 */
export interface FuseReadConfig {
  /** How the server replies to READ: write(2) to /dev/fuse ("copy") or splice with SPLICE_F_MOVE. */
  reply: "copy" | "splice";
  /** Proposal 1, the migration hook: "none" (today), "unlock" or "remove" the unfilled folio. */
  abandon: "none" | "unlock" | "remove";
  /** A reply for an abandoned folio: "drop" (the proposal) or "copy" (the negative control). */
  lateReply: "drop" | "copy";
  /** Proposal 2: allocate the folio when the data arrives (under-construction ranges). */
  lateAllocation: boolean;
  /**
   * Time the server takes for a READ (drawn per request from the handling thread's stream);
   * absent: the connection's latency alone. Set the connection's latency to 0 when using it.
   */
  latency?: Latency;
  /** Splice details (stealable pages, the lock_request fix, pipe size). */
  splice: FuseSpliceConfig;
}

/**
 * Input of {@link FuseReadConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, FuseMount, FuseReadSide, type FuseReadConfigInput, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 512 } });
 * const input: FuseReadConfigInput = { reply: "splice", splice: { stealable: true } };
 * const rs = new FuseReadSide(new FuseMount(mm), input);
 * const fi = rs.createInode(new Map([[0, 10], [1, 11]]));
 * let got: number[] = [];
 * env.spawn("reader", function* () {
 *   const r = yield* rs.read(fi, 0, 2);
 *   if (r.ok) got = r.value;
 * });
 * env.run();
 * if (got.join() !== "10,11" || rs.config.abandon !== "none") throw new Error(got.join());
 * // Stealable server pages are moved into the page cache, not copied.
 * if (rs.stats.movedPages === 0 || rs.stats.memcpyPages !== 0) throw new Error("moved");
 * ```
 */
export interface FuseReadConfigInput {
  /** Reply path. */
  reply?: "copy" | "splice";
  /** Migration hook. */
  abandon?: "none" | "unlock" | "remove";
  /** Late replies to abandoned folios. */
  lateReply?: "drop" | "copy";
  /** Late allocation. */
  lateAllocation?: boolean;
  /** READ latency. */
  latency?: Latency;
  /** Splice details. */
  splice?: FuseSpliceConfigInput;
}

const fuseReadSchema = z.object({
  reply: z.enum(["copy", "splice"]).default("copy"),
  abandon: z.enum(["none", "unlock", "remove"]).default("none"),
  lateReply: z.enum(["drop", "copy"]).default("drop"),
  lateAllocation: z.boolean().default(false),
  latency: zodOf(Latency).optional(),
  splice: nested(FuseSpliceConfig),
});

/** The {@link FuseReadConfig} schema. */
export const FuseReadConfig: ConfigSchema<FuseReadConfig, FuseReadConfigInput> = defineConfig(
  "FuseReadConfig",
  fuseReadSchema as unknown as z.ZodType<FuseReadConfig, FuseReadConfigInput>,
);

/**
 * Counters of a {@link FuseReadSide}.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, FuseReadSide, type FuseReadStats } from "@mmsim/mmsim";
 * const rs = new FuseReadSide(new FuseMount(new Mm(new Engine(), { memory: { nrFrames: 64 } })));
 * const s: FuseReadStats = rs.stats;
 * if (s.readsSent !== 0 || s.memcpyPages !== 0) throw new Error();
 * ```
 */
export interface FuseReadStats {
  /** READ requests sent (readahead, read_folio, construct ranges). */
  readsSent: number;
  /** Pages those requests cover. */
  pagesRequested: number;
  /** Pages copied into the page cache by the reply (fuse_copy_folio, or a splice fallback). */
  memcpyPages: number;
  /** Server pages moved into the page cache (splice, placeholder replaced). */
  movedPages: number;
  /** Server pages inserted directly into a construct range (splice with late allocation). */
  stolenInserted: number;
  /** Folios allocated when the data arrived (late allocation). */
  lateAllocated: number;
  /** Late-allocation fills that failed (no memory, or a folio appeared meanwhile). */
  lateAllocFailed: number;
  /** Folios abandoned by the migration hook. */
  abandoned: number;
  /** Replies for abandoned folios dropped. */
  lateRepliesDropped: number;
  /** Replies for abandoned folios copied anyway (negative control). */
  lateRepliesCopied: number;
  /** Splice replies that did not fit the pipe and went through write(2). */
  spliceTooBig: number;
  /** Requests ended by fuse_abort_conn. */
  aborted: number;
  /** Readahead folios whose READ ended (each was a locked placeholder until then). */
  placeholdersEnded: number;
  /** Shortest time a readahead placeholder stayed locked (ns; Infinity before any). */
  minPlaceholderLockedNs: number;
  /** Sum of the times readahead placeholders stayed locked (ns). */
  sumPlaceholderLockedNs: number;
}

interface Slot {
  args: FuseIoArgs;
  i: number;
}

/**
 * The read side of a {@link FuseMount}: its READ handler (the server's reply) and the read
 * `aops` of the inodes it is attached to. See the module doc.
 *
 * @example A readahead READ answered by /dev/fuse copy
 * ```ts
 * import { Engine, Mm, FuseMount, FuseReadSide } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 512 } });
 * const rs = new FuseReadSide(new FuseMount(mm), {});
 * const fi = rs.createInode(new Map([[0, 10], [1, 11], [2, 12]]));
 * let got: number[] = [];
 * env.spawn("reader", function* () { const r = yield* rs.read(fi, 0, 3); if (r.ok) got = r.value; });
 * env.run();
 * if (got.join() !== "10,11,12" || rs.stats.memcpyPages < 3) throw new Error(got.join());
 * ```
 */
export class FuseReadSide {
  /** The mount. */
  readonly mount: FuseMount;
  /** The mm context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: FuseReadConfig;
  /** Counters. */
  readonly stats: FuseReadStats = {
    readsSent: 0,
    pagesRequested: 0,
    memcpyPages: 0,
    movedPages: 0,
    stolenInserted: 0,
    lateAllocated: 0,
    lateAllocFailed: 0,
    abandoned: 0,
    lateRepliesDropped: 0,
    lateRepliesCopied: 0,
    spliceTooBig: 0,
    aborted: 0,
    placeholdersEnded: 0,
    minPlaceholderLockedNs: Infinity,
    sumPlaceholderLockedNs: 0,
  };
  /** READ requests sent and not yet ended, with their args. */
  readonly outstanding = new Map<FuseReq, FuseIoArgs>();
  /**
   * Fault injection: READs for which this returns true are answered with -EIO (no data); the
   * folios stay not uptodate, a construct range ends with an error.
   */
  failRead: ((req: FuseReq) => boolean) | null = null;
  readonly #slots = new Map<number, Slot>();

  /** Install the READ handler on `mount`'s connection. */
  constructor(mount: FuseMount, config: FuseReadConfigInput = {}) {
    this.mount = mount;
    this.mm = mount.mm;
    this.config = FuseReadConfig.parse(config);
    mount.conn.handlers.set("READ", (req, server) => this.#serve(req, server));
  }

  /** Create a FUSE inode (`mount.createInode`) and attach the read side to it. */
  createInode(contents: Map<number, number> = new Map()): FuseInode {
    const fi = this.mount.createInode(contents);
    this.attach(fi);
    return fi;
  }

  /**
   * Give `fi` this read side: `->readahead`, `->read_folio` and, with `abandon`, the
   * `->abandonFolio` hook; with `lateAllocation`, the construct-range read operations.
   */
  attach(fi: FuseInode): void {
    // deno-lint-ignore no-this-alias
    const rs = this;
    const aops = { ...fi.mapping.aops };
    aops.readahead = function* (_mm, rac) {
      yield* rs.readahead(rac);
    };
    aops.readFolio = function* (_mm, _mapping, folio) {
      return yield* rs.readFolio(fi, folio);
    };
    if (this.config.abandon !== "none") {
      aops.abandonFolio = (_mm, _mapping, folio, mode) => rs.abandonFolio(folio, mode);
    }
    fi.mapping.aops = aops;
    if (this.config.lateAllocation) {
      mappingConstructRanges(fi.mapping).ops = {
        maxPagesPerRange: this.mount.conn.config.maxPagesPerReq,
        readRange: (_mm, tracker, range, sync) => rs.readRange(fi, tracker, range, sync),
      };
    }
  }

  /**
   * A buffered read of `count` pages of `fi` from `index`: `filemap_read`, or with late
   * allocation `filemapReadConstruct`. Use with `yield*`.
   */
  *read(fi: FuseInode, index: number, count: number): Process<KResult<number[]>> {
    if (this.config.lateAllocation) {
      return yield* filemapReadConstruct(this.mm, fi.mapping, index, count);
    }
    return yield* filemapRead(this.mm, fi.mapping, index, count);
  }

  /** Page-cache folios locked and not uptodate whose lock a READ request holds now. */
  lockedReadFolios(): number {
    let n = 0;
    const mem = this.mm.mem;
    for (const [pfn, s] of this.#slots) {
      if (s.args.ended) continue;
      if (mem.testFlag(pfn, PG.locked) && !mem.testFlag(pfn, PG.uptodate)) n++;
    }
    return n;
  }

  /** Pages of readahead READs (placeholders or construct ranges) not yet replied. */
  outstandingReadaheadPages(): number {
    let n = 0;
    for (const a of this.outstanding.values()) {
      if (!a.background || a.ended) continue;
      n += a.range
        ? a.range.end - a.range.start
        : a.folios.filter((_, i) => !a.abandoned[i]).length;
    }
    return n;
  }

  #newArgs(req: FuseReq, folios: number[], background: boolean, range: ConstructRange | null) {
    const args: FuseIoArgs = {
      req,
      folios,
      refs: folios.map((f) => this.mm.ref(f)),
      abandoned: folios.map(() => false),
      background,
      range,
      nrPages: range ? range.end - range.start : folios.length,
      locked: false,
      aborted: false,
      ended: false,
    };
    if (req.tags.length === 0) { for (let i = 0; i < args.nrPages; i++) req.tags.push(0); }
    this.outstanding.set(req, args);
    this.stats.readsSent++;
    this.stats.pagesRequested += args.nrPages;
    req.end = (r) => this.readpagesEnd(r);
    return args;
  }

  /**
   * fuse_readahead (fs/fuse/file.c): take the batch's folios with their references
   * (`__readahead_folio`), one background READ per `max_pages`; each folio's lock is held by
   * its request. Reached through `->readahead`. Use with `yield*`.
   */
  // deno-lint-ignore require-yield
  *readahead(rac: ReadaheadControl): Process<void> {
    const mm = this.mm;
    const fi = rac.mapping.host as FuseInode;
    const per = this.mount.conn.config.maxPagesPerReq;
    const folios = rac.folios.splice(0); // __readahead_folio: the references go to the requests
    if (!this.mount.conn.connected) {
      // -ENOTCONN: fuse_readpages_end with the error.
      for (const f of folios) {
        folioEndRead(mm, f, false);
        folioPut(mm, f);
      }
      return;
    }
    for (let i = 0; i < folios.length; i += per) {
      const chunk = folios.slice(i, i + per);
      const req = this.mount.conn.newRequest("READ", fi.ino, mm.mem.index[chunk[0]!]!);
      const args = this.#newArgs(req, chunk, true, null);
      chunk.forEach((f, k) => {
        mm.setBitHolder(f, PG.locked, req);
        this.#slots.set(f, { args, i: k });
      });
      this.mount.conn.sendBackground(req);
    }
  }

  /**
   * fuse_read_folio (fs/fuse/file.c): a synchronous READ of the caller's locked folio; after the
   * reply the reading task marks it uptodate and unlocks it. Returns 0 or -1 (-EIO). Reached
   * through `->read_folio`. Use with `yield*`.
   */
  *readFolio(fi: FuseInode, folio: number): Process<number> {
    const mm = this.mm;
    if (!this.mount.conn.connected) {
      folioUnlock(mm, folio); // -ENOTCONN
      return -1;
    }
    const req = this.mount.conn.newRequest("READ", fi.ino, mm.mem.index[folio]!);
    const args = this.#newArgs(req, [folio], false, null);
    mm.setBitHolder(folio, PG.locked, mm.env.current);
    const err: number = yield* this.mount.conn.sendSync(req);
    void args;
    if (!mm.mem.testFlag(folio, PG.locked)) {
      mm.env.violation(
        "VM_BUG_ON_FOLIO",
        `fuse_read_folio: ${mm.describeFolio(folio)} is no longer locked after its READ ` +
          `(folio_unlock of an unlocked folio)`,
      );
      return err === 0 ? 0 : -1;
    }
    if (err === 0) mm.mem.setFlag(folio, PG.uptodate); // folio_mark_uptodate
    folioUnlock(mm, folio);
    return err === 0 ? 0 : -1;
  }

  /**
   * The tracker's read operation for late allocation: one READ with no folios for `range`
   * (background, or synchronous with `sync`); the reply allocates and inserts the folios and
   * ends the range. Returns 0 or -5 (-EIO). Use with `yield*`.
   */
  *readRange(
    fi: FuseInode,
    tracker: ConstructRanges,
    range: ConstructRange,
    sync: boolean,
  ): Process<number> {
    if (!this.mount.conn.connected) {
      tracker.end(this.mm, range, false); // -ENOTCONN
      return -5;
    }
    const req = this.mount.conn.newRequest("READ", fi.ino, range.start);
    this.#newArgs(req, [], !sync, range);
    range.owner = req;
    if (!sync) {
      this.mount.conn.sendBackground(req);
      return 0;
    }
    const err: number = yield* this.mount.conn.sendSync(req);
    return err === 0 ? 0 : -5;
  }

  /**
   * The proposed `->abandonFolio` (see the module doc): give up the readahead READ's hold on
   * `folio`. False for a folio not held by an outstanding readahead request.
   */
  abandonFolio(folio: number, mode: MigrateMode): boolean {
    const mm = this.mm;
    const slot = this.#slots.get(folio);
    if (this.config.abandon === "none" || !slot) return false;
    const { args, i } = slot;
    if (!args.background || args.ended || args.abandoned[i]) return false;
    if (mm.bitHolders.get(folio * 32 + PG.locked) !== args.req) return false;
    args.abandoned[i] = true;
    this.#slots.delete(folio);
    this.stats.abandoned++;
    mm.env.emit("fuse_abandon_read", folio, args.req.describe(), {
      how: this.config.abandon,
      mode,
    });
    if (this.config.abandon === "remove") filemapRemoveFolio(mm, folio);
    folioUnlock(mm, folio); // without PG_uptodate: readers will read it again
    folioPut(mm, folio); // the request's reference (__readahead_folio)
    return true;
  }

  /**
   * fuse_abort_conn (fs/fuse/dev.c) for the READs a server thread is replying to: a request
   * the copier holds (FR_LOCKED) is only marked FR_ABORTED; the others are ended now (their
   * `args->end` runs, freeing `fuse_io_args`). Returns the number ended.
   */
  abortConn(): number {
    let n = 0;
    this.mount.conn.connected = false; // new READs of this side fail with -ENOTCONN
    for (const [req, args] of this.outstanding) {
      if (req.handledBy === null || args.ended) continue;
      args.aborted = true;
      if (args.locked) continue;
      req.error = -103; // -ECONNABORTED
      this.stats.aborted++;
      this.readpagesEnd(req).next();
      n++;
    }
    return n;
  }

  /**
   * fuse_readpages_end (fs/fuse/file.c): for each folio `folio_end_read` (uptodate on success)
   * and `folio_put` (the request's reference); a synchronous read leaves the folio to its task;
   * late allocation ends the range. An abandoned folio's reply is dropped (or, as the negative
   * control, applied anyway). Runs as the request's `end`; the second end of a request ended by
   * an abort does nothing (FR_FINISHED).
   */
  // deno-lint-ignore require-yield
  *readpagesEnd(req: FuseReq): Process<void> {
    const mm = this.mm, mem = mm.mem;
    const args = this.outstanding.get(req);
    if (!args || args.ended) return;
    this.outstanding.delete(req);
    args.ended = true;
    const ok = req.error === 0 && !args.aborted;
    if (args.range) {
      mappingConstructRanges(this.#mappingOf(req)).end(mm, args.range, ok);
      return;
    }
    for (let i = 0; i < args.folios.length; i++) {
      const f: number = args.folios[i]!;
      if (args.abandoned[i]) {
        if (this.config.lateReply === "drop") {
          this.stats.lateRepliesDropped++;
          continue;
        }
        // Negative control: end the read of whatever the frame is now.
        this.stats.lateRepliesCopied++;
        if (!mm.checkLive(args.refs[i]!, `fuse_readpages_end: late reply to ${req.describe()}`)) {
          continue;
        }
        if (mem.testFlag(f, PG.locked)) {
          const holder = mm.bitHolders.get(f * 32 + PG.locked);
          mm.env.violation(
            "VM_BUG_ON_FOLIO",
            `folio_end_read: late reply to ${req.describe()} unlocks ${mm.describeFolio(f)}, ` +
              `whose lock ${describeHolder(holder)} holds`,
          );
          continue;
        }
        if (ok) mem.setFlag(f, PG.uptodate);
        continue;
      }
      if (this.#slots.get(f)?.args === args) this.#slots.delete(f);
      if (!args.background) continue; // fuse_read_folio: the reading task finishes it
      if (!mm.checkLive(args.refs[i]!, `fuse_readpages_end: ${req.describe()}`)) continue;
      if (!mem.testFlag(f, PG.locked) || mem.testFlag(f, PG.uptodate)) {
        mm.env.violation(
          "VM_BUG_ON_FOLIO",
          `folio_end_read: ${mm.describeFolio(f)} is ` +
            (mem.testFlag(f, PG.locked) ? "already uptodate" : "not locked") +
            ` when ${req.describe()} ends`,
        );
        continue;
      }
      folioEndRead(mm, f, ok);
      folioPut(mm, f);
      const held = mm.env.nowNs - req.times.createdNs;
      this.stats.placeholdersEnded++;
      this.stats.sumPlaceholderLockedNs += held;
      if (held < this.stats.minPlaceholderLockedNs) this.stats.minPlaceholderLockedNs = held;
    }
  }

  #mappingOf(req: FuseReq): AddressSpace {
    const fi = this.mount.inodes.get(req.ino);
    if (!fi) throw new Error(`fuse read side: no inode ${req.ino} for ${req.describe()}`);
    return fi.mapping;
  }

  /** The server thread's handling of a READ: its latency, then the reply (fuse_dev_do_write). */
  *#serve(req: FuseReq, server: Task): Process<void> {
    const mm = this.mm, env = mm.env, mem = mm.mem;
    const cfg = this.config;
    const args = this.outstanding.get(req);
    const storage = this.mount.conn.storageOf(req.ino);
    const n = args ? args.nrPages : req.folios.length;
    const tagsNow = () => Array.from({ length: n }, (_, i) => storage.get(req.index + i) ?? 0);
    // Only readahead READs may have their pages replaced (args->page_replace is set by
    // fuse_send_readpages alone), so only they are answered by splice-move.
    const splice = cfg.reply === "splice" && args !== undefined && args.background;
    let pipe: ServerPipe | null = null;
    if (splice && cfg.splice.fillPipeAtRead) pipe = this.#fillPipe(req, tagsNow());
    const ns = cfg.latency ? sampleLatency(server.rng, cfg.latency) : 0;
    if (ns === Infinity) yield env.hang(`server ${server} never replies to ${req.describe()}`);
    // The reply is the server's write to /dev/fuse: a separate system call.
    yield ns > 0 ? env.sleep(ns) : env.point();
    const tags = tagsNow();
    req.tags.length = 0;
    req.tags.push(...tags);
    if (!args) {
      // A READ issued elsewhere (fuse.ts): copy into its folios.
      for (let i = 0; i < req.folios.length; i++) mem.data[req.folios[i]!] = tags[i]!;
      return;
    }
    if (args.ended) return; // aborted before the reply
    if (this.failRead?.(req)) {
      req.error = -5; // the server answers -EIO
      if (pipe) { while (pipe.bufs.length > 0) pipeBufRelease(mm, pipe.bufs.shift()!); }
      return;
    }
    if (splice && !pipe) pipe = this.#fillPipe(req, tags);
    args.locked = true; // FR_LOCKED while the reply is copied
    if (args.range) {
      yield* this.#fillRange(req, args, tags, pipe);
    } else {
      for (let i = 0; i < args.folios.length; i++) {
        const f: number = args.folios[i]!;
        if (args.abandoned[i]) {
          if (pipe && pipe.bufs.length > 0) pipeBufRelease(mm, pipe.bufs.shift()!);
          if (cfg.lateReply === "drop") continue;
          // Negative control: the late reply's data goes into the frame anyway.
          mm.checkLive(args.refs[i]!, `fuse_copy_folio: late reply to ${req.describe()}`);
          mem.data[f] = tags[i]!;
          this.stats.memcpyPages++;
          continue;
        }
        if (pipe && pipe.bufs.length > 0) {
          const rc: number = yield* fuseTryMoveFolio(mm, args, i, pipe, cfg.splice.lockRequestFix);
          if (rc === 0) {
            this.stats.movedPages++;
            this.#retargetSlot(args, i, f);
            // The copy chain goes on (the loop reads ap->num_folios): an abort may have ended
            // the request meanwhile if it was left unlocked.
            yield env.point();
            if (!fuseArgsTouch(mm, args, "fuse_copy_folios after fuse_try_move_folio")) break;
            continue;
          }
          if (rc < 0) break;
          // Fallback: copy from the pipe buffer into the placeholder.
          const b = pipe.bufs.shift()!;
          mem.data[f] = mem.data[b.page]!;
          pipeBufRelease(mm, b);
          this.stats.memcpyPages++;
          continue;
        }
        // fuse_copy_folio: one memcpy into the locked folio.
        if (!mm.checkLive(args.refs[i]!, `fuse_copy_folio: ${req.describe()}`)) continue;
        mem.data[f] = tags[i]!;
        this.stats.memcpyPages++;
      }
    }
    if (pipe) { while (pipe.bufs.length > 0) pipeBufRelease(mm, pipe.bufs.shift()!); }
    if (!args.ended) args.locked = false;
    if (args.aborted && !args.ended) {
      req.error = -103;
      this.stats.aborted++;
    }
  }

  #retargetSlot(args: FuseIoArgs, i: number, old: number): void {
    const s = this.#slots.get(old);
    if (s?.args === args) this.#slots.delete(old);
    const nf = args.folios[i]!;
    this.#slots.set(nf, { args, i });
    this.mm.setBitHolder(nf, PG.locked, args.req);
  }

  #fillPipe(req: FuseReq, tags: number[]): ServerPipe | null {
    const mm = this.mm;
    const pipe = new ServerPipe(`reply pipe of ${req.describe()}`, this.config.splice.pipeMaxUsage);
    const r = serverPipeFill(mm, pipe, tags, this.config.splice.stealable);
    if (!r.ok) {
      // Too big for the pipe (or no memory): libfuse falls back to write(2).
      while (pipe.bufs.length > 0) pipeBufRelease(mm, pipe.bufs.shift()!);
      this.stats.spliceTooBig++;
      return null;
    }
    return pipe;
  }

  /** Late allocation: allocate (or steal), copy and insert each page of the range. */
  *#fillRange(req: FuseReq, args: FuseIoArgs, tags: number[], pipe: ServerPipe | null) {
    const mm = this.mm;
    const range = args.range!;
    const tracker = mappingConstructRanges(this.#mappingOf(req));
    for (let i = 0; i < range.end - range.start; i++) {
      let folio = -1;
      const b = pipe?.bufs[0];
      if (b && this.config.splice.stealable && mm.mem.refcount[b.page] === 1) {
        // The server's page itself becomes the page-cache folio.
        pipe!.bufs.shift();
        pipeStats(mm).live--;
        mm.mem.clearFlag(b.page, PG.uptodate);
        folio = b.page; // the pipe's reference becomes the fill's
        this.stats.stolenInserted++;
      } else if (b) {
        pipe!.bufs.shift();
        pipeBufRelease(mm, b);
      }
      const got: number = yield* constructRangeFill(
        mm,
        tracker,
        range,
        range.start + i,
        tags[i]!,
        folio,
      );
      if (got < 0) this.stats.lateAllocFailed++;
      else if (folio < 0) {
        this.stats.lateAllocated++;
        this.stats.memcpyPages++;
      }
    }
  }
}

function describeHolder(h: Task | { describe(): string } | undefined): string {
  if (!h) return "someone else";
  return "describe" in h ? h.describe() : String(h);
}
