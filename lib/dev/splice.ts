/**
 * Splice reads from the page cache into a pipe, and the pipe's reader. `filemap_splice_read`
 * puts page-cache pages into pipe buffers by reference (no copy); the data is copied out only
 * when someone reads the pipe, after `page_cache_pipe_buf_confirm` has checked the page: one
 * that left the page cache is -ENODATA, one that is not uptodate -EIO. Between the two, the
 * page can change state — which is how a page-cache page used by a device (CLAIMS.md thread
 * 002) reaches a generic reader while it is dirty and not uptodate.
 *
 * Follows mm/filemap.c `filemap_splice_read` / `splice_folio_into_pipe` (v6.5+: the
 * `filemap_get_pages` loop, one buffer per page with a folio reference) and fs/splice.c
 * `page_cache_pipe_buf_confirm`, `page_cache_pipe_buf_release`, Linux v6.12. Kept under
 * lib/dev because only thread 002 needs it so far; it models generic mm/fs code.
 *
 * Left out: pipe capacity and blocking (a pipe holds any number of buffers), partial pages,
 * `splice_write` and stealing pages into the page cache (thread 000's other direction),
 * `SPLICE_F_*` flags.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import type { AddressSpace, KResult } from "../mm/address_space.ts";
import { filemapGetPages } from "../mm/filemap.ts";
import { folioGet, folioPut } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { FolioRef, Mm } from "../mm/mm.ts";

/**
 * One pipe buffer holding a page-cache page (`struct pipe_buffer`, page_cache_pipe_buf_ops).
 *
 * @example
 * ```ts
 * import { Engine, filemapSpliceRead, Mm, Pipe, type PipeBuffer, SimpleFs } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 2, fillPages: 2 });
 * const pipe = new Pipe();
 * env.spawn("splice", function* () { yield* filemapSpliceRead(mm, file, 1, 1, pipe); });
 * env.run();
 * const b: PipeBuffer = pipe.bufs[0]!;
 * if (b.mapping !== file || b.index !== 1 || !mm.isLive(b.ref)) throw new Error("page 1");
 * if (mm.mem.data[b.folio] !== file.backing.get(1)) throw new Error("by reference, not a copy");
 * ```
 */
export interface PipeBuffer {
  /** The folio (head pfn). */
  readonly folio: number;
  /** Stale-safe reference to it (the buffer holds a folio reference). */
  readonly ref: FolioRef;
  /** The file it was spliced from. */
  readonly mapping: AddressSpace;
  /** File page index. */
  readonly index: number;
}

/**
 * A pipe (`struct pipe_inode_info`): its buffers in order.
 *
 * @example
 * ```ts
 * import { Engine, filemapSpliceRead, Mm, Pipe, pipeRead, SimpleFs } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 3, fillPages: 3 });
 * const pipe = new Pipe("splice pipe");
 * env.spawn("splice", function* () { yield* filemapSpliceRead(mm, file, 0, 3, pipe); });
 * env.run();
 * if (pipe.bufs.map((b) => b.index).join() !== "0,1,2") throw new Error("buffers in order");
 * const r = pipeRead(mm, pipe);
 * if (!r.ok || r.value.length !== 3 || pipe.bufs.length !== 0) throw new Error("read out");
 * ```
 */
export class Pipe {
  /** Name for reports. */
  readonly name: string;
  /** Buffers not yet read. */
  readonly bufs: PipeBuffer[] = [];

  /** An empty pipe. */
  constructor(name = "pipe") {
    this.name = name;
  }
}

/**
 * A confirm that failed: the page the reader found, and its state.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   filemapSpliceRead,
 *   HmmDevice,
 *   HmmFile,
 *   Mm,
 *   Pipe,
 *   type PipeConfirmFailure,
 *   pipeRead,
 *   SimpleFs,
 *   spliceStats,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * const pipe = new Pipe();
 * let errno = "";
 * env.spawn("t", function* () {
 *   yield* filemapSpliceRead(mm, file, 0, 1, pipe); // A into the pipe, uptodate
 *   yield* deviceStore(hf.dev, file, 0, 7); // then A becomes dirty and not uptodate
 *   const r = pipeRead(mm, pipe);
 *   if (!r.ok) errno = r.errno;
 * });
 * env.run();
 * const f: PipeConfirmFailure = spliceStats(mm).confirmFailures[0]!;
 * if (errno !== "EIO" || f.errno !== "EIO" || !f.dirty || f.index !== 0) throw new Error(errno);
 * ```
 */
export interface PipeConfirmFailure {
  /** The folio. */
  folio: number;
  /** The file and page index it was spliced from. */
  mapping: AddressSpace;
  /** File page index. */
  index: number;
  /** ENODATA (left the page cache) or EIO (not uptodate). */
  errno: "ENODATA" | "EIO";
  /** PG_dirty at the time (a dirty, not uptodate page: thread 002's A state). */
  dirty: boolean;
}

/**
 * Counters of the splice model of one Mm, and every confirm failure in order.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapSpliceRead,
 *   Mm,
 *   Pipe,
 *   pipeRead,
 *   SimpleFs,
 *   type SpliceStats,
 *   spliceStats,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 2, fillPages: 2 });
 * const pipe = new Pipe();
 * env.spawn("splice", function* () { yield* filemapSpliceRead(mm, file, 0, 2, pipe); });
 * env.run();
 * pipeRead(mm, pipe);
 * const s: SpliceStats = spliceStats(mm);
 * if (s.spliced !== 2 || s.read !== 2 || s.confirmFailures.length !== 0) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface SpliceStats {
  /** Pages spliced into pipes. */
  spliced: number;
  /** Buffers read out (copied). */
  read: number;
  /** Confirm failures, in order. */
  confirmFailures: PipeConfirmFailure[];
}

const STATS = new WeakMap<Mm, SpliceStats>();

/**
 * The splice counters of `mm` (created on first use).
 *
 * @example
 * ```ts
 * import { Engine, Mm, spliceStats } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (spliceStats(mm).spliced !== 0) throw new Error("nothing yet");
 * ```
 */
export function spliceStats(mm: Mm): SpliceStats {
  let s = STATS.get(mm);
  if (!s) STATS.set(mm, s = { spliced: 0, read: 0, confirmFailures: [] });
  return s;
}

/**
 * filemap_splice_read(): get pages [index, index + count) uptodate through the read path
 * (`filemap_get_pages`), then put each page into `pipe` by reference. Returns the number of
 * pages spliced. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, Pipe, SimpleFs, filemapSpliceRead, pipeRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 2, fillPages: 2 });
 * const pipe = new Pipe();
 * env.spawn("splice", function* () {
 *   yield* filemapSpliceRead(mm, file, 0, 2, pipe);
 *   const r = pipeRead(mm, pipe);
 *   if (!r.ok || r.value[1] !== file.backing.get(1)) throw new Error("read the pages");
 * });
 * env.run();
 * ```
 */
export function* filemapSpliceRead(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  count: number,
  pipe: Pipe,
): Process<KResult<number>> {
  const r = yield* filemapGetPages(mm, mapping, index, count);
  if (!r.ok) return r;
  let n = 0;
  const mem = mm.mem;
  for (const folio of r.value) {
    const fidx = mem.index[folio]!;
    const nr = 1 << mem.order[folio]!;
    for (let i = Math.max(index, fidx); i < Math.min(index + count, fidx + nr); i++) {
      folioGet(mm, folio); // splice_folio_into_pipe: the buffer's reference
      pipe.bufs.push({ folio, ref: mm.ref(folio), mapping, index: i });
      n++;
    }
    folioPut(mm, folio);
  }
  spliceStats(mm).spliced += n;
  mm.env.emit("filemap_splice_read", mapping.name, index, n);
  return { ok: true, value: n };
}

/**
 * Read every buffer out of `pipe`: `page_cache_pipe_buf_confirm` (ENODATA if the page left the
 * page cache, EIO if it is not uptodate — recorded in {@link spliceStats}), copy the page's
 * content tag, release the buffer's reference. Stops at the first failed confirm (its buffer
 * is released too) and returns its errno if nothing was read (ENODATA comes back as ENOENT:
 * the model's Errno has no ENODATA).
 *
 * @example
 * ```ts
 * import { Engine, Mm, Pipe, pipeRead } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const r = pipeRead(mm, new Pipe());
 * if (!r.ok || r.value.length !== 0) throw new Error("an empty pipe reads nothing");
 * ```
 */
export function pipeRead(mm: Mm, pipe: Pipe): KResult<number[]> {
  const out: number[] = [];
  const st = spliceStats(mm);
  while (pipe.bufs.length > 0) {
    const buf = pipe.bufs.shift()!;
    if (!mm.checkLive(buf.ref, `pipe read of ${pipe.name}`)) continue;
    const mem = mm.mem;
    let errno: "ENODATA" | "EIO" | null = null;
    if (mem.mapping[buf.folio] !== buf.mapping.id) errno = "ENODATA";
    else if (!mem.testFlag(buf.folio, PG.uptodate)) errno = "EIO";
    if (errno !== null) {
      st.confirmFailures.push({
        folio: buf.folio,
        mapping: buf.mapping,
        index: buf.index,
        errno,
        dirty: mem.testFlag(buf.folio, PG.dirty),
      });
      mm.env.emit("page_cache_pipe_buf_confirm", buf.folio, buf.index, errno);
      folioPut(mm, buf.folio);
      if (out.length === 0) return { ok: false, errno: errno === "EIO" ? "EIO" : "ENOENT" };
      break;
    }
    out.push(mem.data[buf.folio + (buf.index - mem.index[buf.folio]!)]!);
    st.read++;
    folioPut(mm, buf.folio);
  }
  return { ok: true, value: out };
}
