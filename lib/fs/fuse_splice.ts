/**
 * FUSE and splice: the server's pipes, replies that move the server's pages into the page
 * cache, and requests whose page-cache pages are handed to the server by reference.
 *
 * Follows fs/fuse/dev.c as of v6.16 plus a078484921052 ("fuse: re-lock request before
 * replacing page cache folio", Joanne Koong, posted 19 May 2026, Fixes: ce534fb05292 "fuse:
 * allow splice to move pages"):
 * - `fuse_dev_splice_write` → `fuse_copy_folio` → `fuse_try_move_folio`: `unlock_request`,
 *   `pipe_buf_confirm`, a whole-folio buffer, `pipe_buf_try_steal` (an anonymous pipe page is
 *   stealable when the pipe holds the only reference; it comes back locked),
 *   `folio_clear_uptodate`, `fuse_check_folio`, the WARN_ONs on the old folio, `lock_request`
 *   (the fix; before it, FR_ABORTED was only checked after the replace),
 *   `replace_page_cache_folio` (the server's page takes the placeholder's place and its page-cache
 *   reference), `folio_get` for `ap->folios`, LRU add, `pipe_buf_release`, then the placeholder
 *   is unlocked and loses the request's reference; anything else falls back to a copy into the
 *   placeholder. The placeholder must exist and stay locked until the reply: the move replaces
 *   a page-cache folio, it does not insert one.
 * - `fuse_dev_splice_read` → `fuse_copy_folio` → `fuse_ref_folio`: a request's page-cache
 *   folios (a WRITE's) go into the server's pipe by reference (`nosteal_pipe_buf_ops`), one
 *   `folio_get` per buffer, -EIO beyond `pipe->max_usage`; they stay referenced until the
 *   server consumes or closes the pipe, however long that is, so migration's refcount freeze
 *   fails with -EAGAIN on a folio that is unlocked, clean and not under writeback.
 * - `fuse_abort_conn` → `end_requests`: a request the copier has locked (FR_LOCKED) is only
 *   marked FR_ABORTED and ended by the copier; others are ended at once (their `args->end`
 *   runs and frees `fuse_io_args`).
 * - the fs/fuse/file.c `fuse_perform_write` / `fuse_send_write_pages` write-through path for
 *   whole pages (no writeback cache): the folio is unlocked once copied and uptodate, the WRITE
 *   holds a reference until the reply.
 *
 * Pipes (`struct pipe_inode_info`, fs/pipe.c): a bounded list of buffers, `max_usage` =
 * PIPE_DEF_BUFFERS (16) unless the server raised it with F_SETPIPE_SZ (libfuse sizes its pipe
 * to its buffer). Every live pipe buffer is counted in {@link pipeStats} ("pipe-referenced
 * frames").
 *
 * Left out: partial pages, SPLICE_F_GIFT bookkeeping (a server page is stealable or not, by
 * configuration), `page_cache_pipe_buf_try_steal` for server pages that came from its own page
 * cache, large folios, interrupts.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Process } from "../sim/engine.ts";
import { type AddressSpace, filemapReplaceEntry, type KResult } from "../mm/address_space.ts";
import type { ConstructRange } from "../mm/construct_range.ts";
import {
  folioAlloc,
  folioGet,
  folioPut,
  folioRefAdd,
  folioTrylock,
  folioUnlock,
} from "../mm/folio.ts";
import { FGP, filemapGetFolio } from "../mm/filemap.ts";
import { folioAddLru } from "../mm/lru.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import type { FolioRef, Mm } from "../mm/mm.ts";
import type { FuseReq } from "./fuse_conn.ts";
import type { FuseInode, FuseMount } from "./fuse.ts";

/**
 * How the server uses splice.
 *
 * @example
 * ```ts
 * import { FuseSpliceConfig } from "@mmsim/mmsim";
 * const c = FuseSpliceConfig.parse({});
 * if (c.pipeMaxUsage !== 16 || !c.lockRequestFix || !c.stealable) throw new Error("defaults");
 * ```
 */
export interface FuseSpliceConfig {
  /** The server's reply pages can be stolen (gifted anonymous pages, SPLICE_F_MOVE); default true. */
  stealable: boolean;
  /** `lock_request()` before `replace_page_cache_folio()` (a078484921052, May 2026); default true. */
  lockRequestFix: boolean;
  /** pipe->max_usage in buffers (PIPE_DEF_BUFFERS = 16; F_SETPIPE_SZ raises it). */
  pipeMaxUsage: number;
  /**
   * The server fills its reply pipe when it reads the request and holds those pages until it
   * replies (data arriving over its latency), instead of filling it at reply time; default true.
   */
  fillPipeAtRead: boolean;
  /** How long the server keeps a request's page-cache pages in its pipe after replying (ns). */
  holdNs: number;
}

/**
 * Input of {@link FuseSpliceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { FuseSpliceConfig, type FuseSpliceConfigInput } from "@mmsim/mmsim";
 * // A server that raised its pipe to 64 buffers with F_SETPIPE_SZ and keeps pages 1 µs.
 * const input: FuseSpliceConfigInput = { pipeMaxUsage: 64, holdNs: 1_000 };
 * const c = FuseSpliceConfig.parse(input);
 * if (c.pipeMaxUsage !== 64 || !c.stealable || !c.fillPipeAtRead) throw new Error("defaults kept");
 * ```
 */
export type FuseSpliceConfigInput = Partial<FuseSpliceConfig>;

const fuseSpliceSchema = z.object({
  stealable: z.boolean().default(true),
  lockRequestFix: z.boolean().default(true),
  pipeMaxUsage: z.number().int().min(1).default(16),
  fillPipeAtRead: z.boolean().default(true),
  holdNs: z.number().min(0).default(0),
});
const _fuseSpliceTypes: Same<z.output<typeof fuseSpliceSchema>, FuseSpliceConfig> = true;
void _fuseSpliceTypes;

/** The {@link FuseSpliceConfig} schema. */
export const FuseSpliceConfig: ConfigSchema<FuseSpliceConfig, FuseSpliceConfigInput> = defineConfig(
  "FuseSpliceConfig",
  fuseSpliceSchema,
);

/**
 * One pipe buffer (`struct pipe_buffer`): a page with the pipe's reference.
 *
 * @example
 * ```ts
 * import { Engine, Mm, ServerPipe, serverPipeFill, type PipeBuf } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const pipe = new ServerPipe("p");
 * serverPipeFill(mm, pipe, [7]);
 * const b: PipeBuf = pipe.bufs[0]!;
 * if (!b.steal || mm.mem.data[b.page] !== 7) throw new Error();
 * ```
 */
export interface PipeBuf {
  /** The page (head pfn). */
  readonly page: number;
  /** Stale-safe reference (the buffer holds a page reference). */
  readonly ref: FolioRef;
  /** anon_pipe_buf_ops (stealable) rather than nosteal_pipe_buf_ops. */
  readonly steal: boolean;
  /** PIPE_BUF_FLAG_LRU: the page is already on an LRU list. */
  readonly lru: boolean;
}

/**
 * A pipe (`struct pipe_inode_info`) of the server.
 *
 * @example
 * ```ts
 * import { ServerPipe } from "@mmsim/mmsim";
 * const p = new ServerPipe("fuse-server-0 pipe", 4);
 * if (p.maxUsage !== 4 || p.bufs.length !== 0) throw new Error();
 * ```
 */
export class ServerPipe {
  /** Name for traces. */
  readonly name: string;
  /** pipe->max_usage. */
  readonly maxUsage: number;
  /** Buffers in the pipe, oldest first. */
  readonly bufs: PipeBuf[] = [];

  /** An empty pipe of `maxUsage` buffers (PIPE_DEF_BUFFERS = 16). */
  constructor(name: string, maxUsage = 16) {
    this.name = name;
    this.maxUsage = maxUsage;
  }
}

/**
 * Counters of the pipe model of one Mm: `live` is the number of pipe buffers (frames
 * referenced by a pipe) now.
 *
 * @example
 * ```ts
 * import { Engine, Mm, pipeStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (pipeStats(mm).live !== 0) throw new Error();
 * ```
 */
export interface PipeStats {
  /** Pipe buffers alive now. */
  live: number;
  /** Highest `live`. */
  maxLive: number;
  /** Page-cache folios put into a pipe by reference (fuse_ref_folio). */
  refFolios: number;
  /** Server pages moved into the page cache (fuse_try_move_folio succeeded). */
  moved: number;
  /** Moves that fell back to a copy. */
  fallbacks: number;
}

const STATS = new WeakMap<Mm, PipeStats>();

/**
 * The pipe counters of `mm` (created on first use).
 *
 * @example
 * ```ts
 * import { Engine, Mm, pipeStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (pipeStats(mm) !== pipeStats(mm)) throw new Error("one per Mm");
 * ```
 */
export function pipeStats(mm: Mm): PipeStats {
  let s = STATS.get(mm);
  if (!s) STATS.set(mm, s = { live: 0, maxLive: 0, refFolios: 0, moved: 0, fallbacks: 0 });
  return s;
}

function pushBuf(mm: Mm, pipe: ServerPipe, buf: PipeBuf): void {
  pipe.bufs.push(buf);
  const s = pipeStats(mm);
  if (++s.live > s.maxLive) s.maxLive = s.live;
}

/**
 * `pipe_buf_release()`: drop the pipe's reference on the buffer's page.
 *
 * @example
 * ```ts
 * import { Engine, Mm, ServerPipe, serverPipeFill, pipeBufRelease, pipeStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const pipe = new ServerPipe("p");
 * serverPipeFill(mm, pipe, [1]);
 * pipeBufRelease(mm, pipe.bufs.shift()!);
 * if (pipeStats(mm).live !== 0 || mm.zone.nrFreePages !== 64) throw new Error("freed");
 * ```
 */
export function pipeBufRelease(mm: Mm, buf: PipeBuf): void {
  pipeStats(mm).live--;
  if (mm.checkLive(buf.ref, "pipe_buf_release")) folioPut(mm, buf.page);
}

/**
 * The server puts its reply data into its pipe (vmsplice of gifted anonymous pages): one new
 * page per content tag, stealable unless `steal` is false. Returns the number of buffers added, or EIO when the pipe
 * would exceed `max_usage`, ENOMEM when a page cannot be allocated.
 *
 * @example
 * ```ts
 * import { Engine, Mm, ServerPipe, serverPipeFill } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const r = serverPipeFill(mm, new ServerPipe("p", 2), [1, 2, 3]);
 * if (r.ok || r.errno !== "EIO") throw new Error("3 pages do not fit in 2 buffers");
 * ```
 */
export function serverPipeFill(
  mm: Mm,
  pipe: ServerPipe,
  tags: readonly number[],
  steal = true,
): KResult<number> {
  if (pipe.bufs.length + tags.length > pipe.maxUsage) return { ok: false, errno: "EIO" };
  for (const tag of tags) {
    const page = folioAlloc(mm, 0, MIGRATE.MOVABLE);
    if (page < 0) return { ok: false, errno: "ENOMEM" };
    mm.mem.data[page] = tag;
    mm.mem.setFlag(page, PG.uptodate);
    pushBuf(mm, pipe, { page, ref: mm.ref(page), steal, lru: false });
  }
  return { ok: true, value: tags.length };
}

/**
 * `fuse_ref_folio()` (fs/fuse/dev.c, `fuse_dev_splice_read`): hand a request's page-cache
 * folio to the server by reference — `folio_get` and a nosteal buffer — or -EIO when the pipe
 * is full (`cs->nr_segs >= cs->pipe->max_usage`).
 *
 * @example
 * ```ts
 * import { Engine, Mm, ServerPipe, folioAlloc, fuseRefFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * if (!fuseRefFolio(mm, new ServerPipe("p"), f).ok || mm.mem.refcount[f] !== 2) throw new Error();
 * ```
 */
export function fuseRefFolio(mm: Mm, pipe: ServerPipe, folio: number): KResult {
  if (pipe.bufs.length >= pipe.maxUsage) return { ok: false, errno: "EIO" };
  folioGet(mm, folio);
  pushBuf(mm, pipe, { page: folio, ref: mm.ref(folio), steal: false, lru: true });
  pipeStats(mm).refFolios++;
  mm.env.emit("fuse_ref_folio", folio, null, pipe.name);
  return { ok: true, value: undefined };
}

/**
 * The kernel side of one READ request (`struct fuse_io_args` with its `fuse_args_pages` and
 * the request flags the copy path reads).
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseConn, type FuseIoArgs } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const req = new FuseConn(mm).newRequest("READ", 1, 0);
 * const a: FuseIoArgs = { req, folios: [], refs: [], abandoned: [], background: true, range: null,
 *   nrPages: 1, locked: false, aborted: false, ended: false };
 * if (a.ended) throw new Error();
 * ```
 */
export interface FuseIoArgs {
  /** The request. */
  readonly req: FuseReq;
  /** ap->folios (each with the request's reference for readahead). */
  readonly folios: number[];
  /** Stale-safe references to `folios`. */
  readonly refs: FolioRef[];
  /** Per folio: abandoned by the migration hook (the late reply is dropped). */
  readonly abandoned: boolean[];
  /** A readahead request (FR_BACKGROUND; the request owns the folio locks). */
  readonly background: boolean;
  /** Late allocation: the under-construction range it fills (no folios). */
  range: ConstructRange | null;
  /** Pages requested. */
  readonly nrPages: number;
  /** FR_LOCKED: the copier holds the request. */
  locked: boolean;
  /** FR_ABORTED. */
  aborted: boolean;
  /** `args->end` ran: fuse_io_args is freed. */
  ended: boolean;
}

/**
 * Touch `args` from the copy path: a use-after-free violation if `args->end` has freed them.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseConn, fuseArgsTouch } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const req = new FuseConn(mm).newRequest("READ", 1, 0);
 * const a = { req, folios: [], refs: [], abandoned: [], background: true, range: null, nrPages: 1,
 *   locked: false, aborted: false, ended: true };
 * if (fuseArgsTouch(mm, a, "copy")) throw new Error("freed args");
 * if (mm.env.violations[0]?.name !== "use-after-free") throw new Error();
 * ```
 */
export function fuseArgsTouch(mm: Mm, args: FuseIoArgs, action: string): boolean {
  if (!args.ended) return true;
  mm.env.violation(
    "use-after-free",
    `${action}: fuse_io_args of ${args.req.describe()} were freed by its end (fuse_abort_conn)`,
  );
  return false;
}

/**
 * `fuse_try_move_folio()` (fs/fuse/dev.c; see the module doc): move the server's page at the
 * head of `pipe` into the page cache in place of `args.folios[i]`. Returns 0 when moved (the new
 * folio is in `args.folios[i]`, locked, with the request's reference), 1 to fall back to a
 * copy (the caller copies from `pipe.bufs[0]` and releases it), or a negative errno (-2
 * ENOENT: the request was aborted). `fix`: take `lock_request()` before the replace. Use with
 * `yield*`; there is a preemption point after `unlock_request()`, where an abort can end the
 * request.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, FuseConn, ServerPipe, serverPipeFill, fuseTryMoveFolio, folioAlloc, filemapAddFolioLocked, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const old = folioAlloc(mm, 0);
 * filemapAddFolioLocked(mm, m, old, 0); // the readahead placeholder (its ref = the request's)
 * const req = new FuseConn(mm).newRequest("READ", 1, 0);
 * const args = { req, folios: [old], refs: [mm.ref(old)], abandoned: [false], background: true,
 *   range: null, nrPages: 1, locked: true, aborted: false, ended: false };
 * const pipe = new ServerPipe("p");
 * serverPipeFill(mm, pipe, [9]);
 * let rc = -1;
 * env.spawn("reply", function* () { rc = yield* fuseTryMoveFolio(mm, args, 0, pipe, true); });
 * env.run();
 * const now = filemapGetEntry(m, 0);
 * if (rc !== 0 || now === old || now !== args.folios[0] || mm.mem.data[now] !== 9) throw new Error();
 * if (!mm.mem.testFlag(now, PG.locked) || mm.mem.refcount[old] !== 0) throw new Error("old freed");
 * ```
 */
export function* fuseTryMoveFolio(
  mm: Mm,
  args: FuseIoArgs,
  i: number,
  pipe: ServerPipe,
  fix: boolean,
): Process<number> {
  const env = mm.env, mem = mm.mem;
  const st = pipeStats(mm);
  // unlock_request(cs->req)
  if (args.aborted) return -2;
  args.locked = false;
  // fuse_copy_finish(); the request is unlocked from here on: an abort can end it.
  yield env.point();
  const buf = pipe.bufs[0];
  // pipe_buf_confirm()
  if (!buf || !mm.checkLive(buf.ref, "pipe_buf_confirm")) return -5;
  const old = args.folios[i]!;
  const relock = (): number => {
    // out_fallback: cs->pg = buf->page; lock_request()
    st.fallbacks++;
    if (args.aborted) return -2;
    args.locked = true;
    return 1;
  };
  if (mem.order[old] !== 0) return relock(); // cs->len != folio_size(oldfolio)
  // pipe_buf_try_steal(): an anonymous pipe page whose only reference is the pipe's.
  if (!buf.steal || mem.refcount[buf.page] !== 1 || !folioTrylock(mm, buf.page)) return relock();
  const newf = buf.page;
  mem.clearFlag(newf, PG.uptodate);
  const fallbackUnlock = (err?: number): number => {
    folioUnlock(mm, newf);
    if (err !== undefined) return err;
    return relock();
  };
  // fuse_check_folio(): a new, unmapped, unshared page with no odd flags.
  if (mem.mapping[newf] !== 0 || mem.refcount[newf] !== 1 || mem.mapcount[newf] !== 0) {
    return fallbackUnlock();
  }
  // The old folio: not mapped, no private data, not dirty or under writeback, not mlocked.
  const oldFlags = mem.flags[old]!;
  const bad = (1 << PG.private) | (1 << PG.dirty) | (1 << PG.writeback) | (1 << PG.mlocked);
  if (mem.mapcount[old]! > 0 || (oldFlags & bad) !== 0) return fallbackUnlock();
  if (fix) {
    // lock_request() before replace_page_cache_folio() (a078484921052).
    if (args.aborted) return fallbackUnlock(-2);
    args.locked = true;
  }
  // replace_page_cache_folio(oldfolio, newfolio)
  if (!mem.testFlag(old, PG.locked) || mem.mapping[old] === 0) {
    env.violation(
      "VM_BUG_ON_FOLIO",
      `replace_page_cache_folio: ${mm.describeFolio(old)} is ` +
        (mem.mapping[old] === 0 ? "not in the page cache" : "not locked") +
        ` (${args.req.describe()} was ended meanwhile)`,
    );
    return fallbackUnlock(-5);
  }
  folioRefAdd(mm, newf, 1); // folio_get(new) for the page cache
  filemapReplaceEntry(mm, old, newf);
  folioPut(mm, old); // the page cache's reference on the old folio
  folioGet(mm, newf); // for ap->folios
  if (!buf.lru) folioAddLru(mm.lruvec, newf);
  // pipe_buf_release(): the pipe's reference.
  pipe.bufs.shift();
  pipeBufRelease(mm, buf);
  st.moved++;
  mm.env.emit("fuse_try_move_folio", newf, old, args.req.describe());
  if (!fix && args.aborted) {
    // The pre-fix tail: FR_ABORTED checked only now.
    folioUnlock(mm, newf);
    folioPut(mm, newf);
    folioPut(mm, old);
    return -2;
  }
  // *foliop = newfolio
  if (!fuseArgsTouch(mm, args, "fuse_try_move_folio")) return -2;
  args.folios[i] = newf;
  args.refs[i] = mm.ref(newf);
  folioUnlock(mm, old);
  folioPut(mm, old); // drop the ref for ap->folios[]
  return 0;
}

/**
 * Options of {@link fuseSpliceReadInstall}.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   FuseMount,
 *   fusePerformWrite,
 *   fuseSpliceReadInstall,
 *   type FuseSpliceReadOptions,
 *   Mm,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 0 } } });
 * const opts: FuseSpliceReadOptions = { latencyNs: 1_000 }; // pipe released at the reply
 * const stats = fuseSpliceReadInstall(fm, opts);
 * const fi = fm.createInode();
 * env.spawn("write", function* () { yield* fusePerformWrite(mm, fi, 0, 5); });
 * const r = env.run();
 * if (r.nowNs !== 1_000 || stats.refFolios !== 1 || stats.live !== 0) throw new Error(`${r.nowNs}`);
 * ```
 */
export interface FuseSpliceReadOptions {
  /** The server's time between reading a WRITE and replying (ns); default 0. */
  latencyNs?: number;
  /** Splice configuration (`holdNs`: how long the pipe keeps the pages after the reply). */
  splice?: FuseSpliceConfigInput;
}

/**
 * A server that reads WRITE requests with splice (`fuse_dev_splice_read` → `fuse_ref_folio`):
 * installs the mount's WRITE handler. Each WRITE's page-cache folios go into the handling
 * thread's pipe by reference when the server reads the request; the server stores the data,
 * replies after `latencyNs`, and keeps the pipe buffers for `splice.holdNs` more. Returns the
 * counters.
 *
 * @example The page stays referenced after the reply, for as long as the pipe holds it
 * ```ts
 * import { Engine, Mm, FuseMount, fuseSpliceReadInstall, fusePerformWrite, filemapGetEntry, pipeStats } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 0 } } });
 * fuseSpliceReadInstall(fm, { latencyNs: 1000, splice: { holdNs: 5000 } });
 * const fi = fm.createInode();
 * env.spawn("write", function* () { yield* fusePerformWrite(mm, fi, 0, 5); });
 * env.run({ maxTimeNs: 3000 });
 * const f = filemapGetEntry(fi.mapping, 0);
 * const refs = () => mm.mem.refcount[f];
 * if (refs() !== 2 || pipeStats(mm).live !== 1) throw new Error("cache + pipe");
 * env.run();
 * if (refs() !== 1 || fm.conn.storageOf(fi.ino).get(0) !== 5) throw new Error();
 * ```
 */
export function fuseSpliceReadInstall(
  mount: FuseMount,
  options: FuseSpliceReadOptions = {},
): PipeStats {
  const mm = mount.mm;
  const conn = mount.conn;
  const cfg = FuseSpliceConfig.parse(options.splice ?? {});
  const latency = options.latencyNs ?? 0;
  conn.handlers.set("WRITE", function* (req, server) {
    const env = mm.env;
    const pipe = new ServerPipe(`${server.name} pipe`, cfg.pipeMaxUsage);
    // fuse_dev_splice_read: the request's pages into the pipe, by reference.
    for (const f of req.folios) {
      if (!fuseRefFolio(mm, pipe, f).ok) {
        req.error = -5;
        break;
      }
    }
    if (latency > 0) yield env.sleep(latency);
    // The server consumes the data from its pipe and stores it.
    if (req.error === 0) {
      const s = conn.storageOf(req.ino);
      for (let k = 0; k < req.tags.length; k++) {
        const b = pipe.bufs[k];
        const tag = b && mm.isLive(b.ref) ? mm.mem.data[b.page]! : req.tags[k]!;
        s.set(req.index + k, tag);
        conn.applied.push([req.ino, req.index + k, tag]);
      }
    }
    const bufs = pipe.bufs.splice(0);
    if (bufs.length === 0) return;
    if (cfg.holdNs <= 0) {
      for (const b of bufs) pipeBufRelease(mm, b);
      return;
    }
    env.spawn(`${pipe.name} hold`, function* (e) {
      yield e.sleep(cfg.holdNs);
      for (const b of bufs) pipeBufRelease(mm, b);
    });
  });
  return pipeStats(mm);
}

/**
 * `fuse_perform_write()` + `fuse_send_write_pages()` (fs/fuse/file.c) for one whole page of a
 * FUSE file without the writeback cache (write-through): get the folio locked
 * (FGP_WRITEBEGIN), copy the data (`tag`), mark it uptodate and unlock it, send a synchronous
 * WRITE that covers the folio (the request keeps the folio's reference until the reply), then
 * drop the reference. Returns ok, or ENOMEM / EIO. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, FuseMount, fusePerformWrite } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fm = new FuseMount(mm);
 * const fi = fm.createInode();
 * env.spawn("w", function* () { yield* fusePerformWrite(mm, fi, 3, 11); });
 * env.run();
 * if (fm.conn.storageOf(fi.ino).get(3) !== 11) throw new Error("written through");
 * ```
 */
export function* fusePerformWrite(
  mm: Mm,
  fi: FuseInode,
  index: number,
  tag: number,
): Process<KResult> {
  const mapping: AddressSpace = fi.mapping;
  const folio: number = yield* filemapGetFolio(mm, mapping, index, FGP.WRITEBEGIN);
  if (folio < 0) return { ok: false, errno: "ENOMEM" };
  mm.mem.data[folio] = tag;
  mapping.latest.set(index, tag);
  mm.mem.setFlag(folio, PG.uptodate);
  folioUnlock(mm, folio);
  const req = fi.mount.conn.newRequest("WRITE", fi.ino, index);
  req.folios.push(folio);
  req.tags.push(tag);
  const err: number = yield* fi.mount.conn.sendSync(req);
  folioPut(mm, folio);
  return err === 0 ? { ok: true, value: undefined } : { ok: false, errno: "EIO" };
}
