/**
 * "Under construction" ranges: the page cache's other proposal of thread 000 (Miklos Szeredi,
 * linux-fsdevel, 14 Jan 2025: "If the generic code would be able to keep track of 'under
 * construction' ranges without relying on an allocated page, then the filesystem could
 * allocate the page just before copying the data, insert the page into the cache mark the
 * relevant portion of the file uptodate"). No kernel has it (no generic tracker found
 * upstream as of v6.16).
 *
 * Readahead records the range it reads ({@link ConstructRanges.begin}) instead of adding
 * locked, not-uptodate placeholder folios; readers that miss inside such a range wait on the
 * tracker's wait queue (not on a folio lock); when the data arrives the filesystem allocates a
 * folio, copies, and inserts it uptodate in one step ({@link constructRangeFill}), then ends
 * the range ({@link ConstructRanges.end}). A page the range ended without (the read failed, or
 * the folio could not be allocated) is read once more synchronously; if that fails too the
 * reader gets -EIO. So the page cache never holds a locked, not-uptodate folio for a read in
 * flight.
 *
 * The read path over it, {@link filemapReadConstruct}, mirrors mm/filemap.c `filemap_read` /
 * `filemap_get_pages` (v6.12; lookups through filemap.ts `filemapGetReadBatch`, a folio that is
 * not uptodate — from a path outside the tracker — through `filemapUpdatePage`), and its
 * readahead window mirrors mm/readahead.c `ondemand_readahead` for sequential streams
 * (`get_init_ra_size` on a miss, `get_next_ra_size` when the reader reaches the async mark,
 * which is PG_readahead on the folio inserted at the mark index, as the kernel marks its
 * placeholder).
 *
 * Left out: truncation or invalidation of a range under construction, random-read and
 * context-readahead heuristics, large folios (fills are order 0), IOCB_NOWAIT/NOIO.
 *
 * @module
 */

import type { Process, Task } from "../sim/engine.ts";
import { waitEvent, WaitQueue, type WaitTarget } from "../sim/wait_queue.ts";
import { AddressSpace, type Errno, filemapGetEntry, type KResult } from "./address_space.ts";
import { folioEndRead, folioPut } from "./folio.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioAllocGfp } from "./page_alloc.ts";
import { iSizeRead, mappingGfpMask } from "./pagemap.ts";
import {
  AOP_TRUNCATED_PAGE,
  filemapAddFolioLocked,
  filemapGetReadBatch,
  filemapUpdatePage,
} from "./filemap.ts";
import { type FileRaState, getInitRaSize, getNextRaSize, mappingDefaultRa } from "./readahead.ts";
import { folioMarkAccessed } from "./lru.ts";

/**
 * One range of a file being read with no folio in the page cache yet (the proposal).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingConstructRanges, type ConstructRange } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const t = mappingConstructRanges(AddressSpace.create(mm, { name: "f" }));
 * const [r]: ConstructRange[] = t.begin(mm, 0, 4, 1, null);
 * if (r!.end !== 4 || r!.markIndex !== 1 || t.find(3) !== r) throw new Error();
 * ```
 */
export interface ConstructRange {
  /** First page index. */
  readonly start: number;
  /** One past the last page index. */
  readonly end: number;
  /** The folio filled at this index gets PG_readahead (the async readahead mark); -1: none. */
  readonly markIndex: number;
  /** Who fills it (the request), for wait-for graphs. */
  owner: Task | WaitTarget | null;
  /** Pages filled so far. */
  filled: number;
  /** Ended (filled or failed). */
  done: boolean;
  /** Ended with an error. */
  error: boolean;
}

/**
 * Counters of a {@link ConstructRanges} tracker.
 *
 * @example A second reader waits for the range, and the page cache never holds a placeholder
 * ```ts
 * import { AddressSpace, type ConstructRangeStats, constructRangeFill, Engine, filemapGetEntry, filemapReadConstruct, mappingConstructRanges, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const tracker = mappingConstructRanges(m);
 * tracker.ops = {
 *   maxPagesPerRange: 32,
 *   *readRange(mm, t, r) {
 *     yield mm.env.sleep(1_000_000);
 *     for (let i = r.start; i < r.end; i++) yield* constructRangeFill(mm, t, r, i, 7);
 *     t.end(mm, r, true);
 *     return 0;
 *   },
 * };
 * let cachedMidway = 0;
 * for (const n of ["a", "b"]) env.spawn(n, function* () { yield* filemapReadConstruct(mm, m, 0, 1); });
 * env.spawn("probe", function* (env) { yield env.sleep(500_000); cachedMidway = m.nrpages; });
 * env.run();
 * const s: ConstructRangeStats = tracker.stats;
 * if (cachedMidway !== 0 || s.waits < 1 || s.failed !== 0 || s.filled !== s.maxPages || filemapGetEntry(m, 0) < 0) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface ConstructRangeStats {
  /** Ranges begun. */
  begun: number;
  /** Ranges ended with an error. */
  failed: number;
  /** Pages filled (folios inserted uptodate). */
  filled: number;
  /** Pages of ranges ended without their folio (read failed, allocation failed, raced). */
  unfilled: number;
  /** Highest number of pages under construction at once. */
  maxPages: number;
  /** Times a reader waited on the tracker. */
  waits: number;
}

/**
 * What the filesystem provides to read a range (its `->readahead` / `->read_folio` for the
 * tracker): start the I/O for `range`; the data is put in with {@link constructRangeFill} and
 * the range ended with {@link ConstructRanges.end}. With `sync` the call returns only once the
 * range has ended. Returns 0 or a negative errno.
 *
 * @example A server that reads at most 2 pages per request
 * ```ts
 * import { AddressSpace, type ConstructReadOps, constructRangeFill, Engine, filemapReadConstruct, mappingConstructRanges, Mm } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "fuse ino 2" });
 * const sizes: number[] = [];
 * const ops: ConstructReadOps = {
 *   maxPagesPerRange: 2,
 *   *readRange(mm, t, r) {
 *     sizes.push(r.end - r.start);
 *     yield mm.env.sleep(1000); // the server's latency
 *     for (let i = r.start; i < r.end; i++) yield* constructRangeFill(mm, t, r, i, 100 + i);
 *     t.end(mm, r, true);
 *     return 0;
 *   },
 * };
 * const tracker = mappingConstructRanges(m);
 * tracker.ops = ops;
 * const got: number[] = [];
 * env.spawn("reader", function* () { const r = yield* filemapReadConstruct(mm, m, 0, 4); if (r.ok) got.push(...r.value); });
 * env.run();
 * if (got.join() !== "100,101,102,103" || sizes.some((n) => n > 2) || tracker.stats.begun !== sizes.length) {
 *   throw new Error(`${got} in ranges ${sizes}`);
 * }
 * ```
 */
export interface ConstructReadOps {
  /** Start (or, with `sync`, perform) the read of `range`. */
  readRange(
    mm: Mm,
    tracker: ConstructRanges,
    range: ConstructRange,
    sync: boolean,
  ): Process<number>;
  /** Largest range one read covers (FUSE: max_pages per READ). */
  maxPagesPerRange: number;
}

/**
 * The under-construction ranges of one mapping, with the wait queue readers sleep on.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingConstructRanges } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const t = mappingConstructRanges(AddressSpace.create(mm, { name: "f" }));
 * const [r] = t.begin(mm, 8, 12, -1, null);
 * const pages = () => t.pagesUnderConstruction;
 * if (pages() !== 4) throw new Error();
 * t.end(mm, r!, true);
 * if (pages() !== 0 || t.stats.unfilled !== 4) throw new Error("ended unfilled");
 * ```
 */
export class ConstructRanges implements WaitTarget {
  /** The mapping. */
  readonly mapping: AddressSpace;
  /** Ranges not yet ended. */
  readonly ranges = new Set<ConstructRange>();
  /** Readers waiting for a range to end. */
  readonly waitq: WaitQueue;
  /** The filesystem's read operations (set by the filesystem). */
  ops: ConstructReadOps | null = null;
  /** Counters. */
  readonly stats: ConstructRangeStats = {
    begun: 0,
    failed: 0,
    filled: 0,
    unfilled: 0,
    maxPages: 0,
    waits: 0,
  };
  #pages = 0;

  /** @internal Use {@link mappingConstructRanges}. */
  constructor(mapping: AddressSpace) {
    this.mapping = mapping;
    this.waitq = new WaitQueue(`construct ranges of ${mapping.name}`);
    this.waitq.owners = () => [...this.ranges].map((r) => r.owner).filter((o) => o !== null);
  }

  /** "construct ranges of fuse ino 1". */
  describe(): string {
    return this.waitq.name;
  }

  /** Who will end the ranges (their owners). */
  holders(): Array<Task | WaitTarget> {
    return this.waitq.holders();
  }

  /** Pages under construction now. */
  get pagesUnderConstruction(): number {
    return this.#pages;
  }

  /** The range covering `index`, if any. */
  find(index: number): ConstructRange | undefined {
    for (const r of this.ranges) if (index >= r.start && index < r.end) return r;
    return undefined;
  }

  /**
   * Record `[start, end)` as being read: split into ranges of pages that are neither cached
   * nor already under construction, at most `ops.maxPagesPerRange` each. Returns them.
   */
  begin(
    mm: Mm,
    start: number,
    end: number,
    markIndex: number,
    owner: Task | WaitTarget | null,
  ): ConstructRange[] {
    const out: ConstructRange[] = [];
    const max = this.ops?.maxPagesPerRange ?? Infinity;
    let i = start;
    while (i < end) {
      if (filemapGetEntry(this.mapping, i) >= 0 || this.find(i)) {
        i++;
        continue;
      }
      let j = i + 1;
      while (
        j < end && j - i < max && filemapGetEntry(this.mapping, j) < 0 && !this.find(j)
      ) j++;
      const r: ConstructRange = {
        start: i,
        end: j,
        markIndex: markIndex >= i && markIndex < j ? markIndex : -1,
        owner,
        filled: 0,
        done: false,
        error: false,
      };
      this.ranges.add(r);
      this.#pages += j - i;
      this.stats.begun++;
      if (this.#pages > this.stats.maxPages) this.stats.maxPages = this.#pages;
      mm.env.emit("construct_range_begin", this.mapping.name, i, j);
      out.push(r);
      i = j;
    }
    return out;
  }

  /** End a range (all its data arrived, or `ok` false: it failed) and wake the waiters. */
  end(mm: Mm, range: ConstructRange, ok: boolean): void {
    if (range.done) return;
    range.done = true;
    range.error = !ok;
    this.ranges.delete(range);
    this.#pages -= range.end - range.start;
    if (!ok) this.stats.failed++;
    this.stats.unfilled += range.end - range.start - range.filled;
    mm.env.emit("construct_range_end", this.mapping.name, range.start, ok ? "ok" : "error");
    this.waitq.wakeUp(0);
  }
}

const TRACKERS = new WeakMap<AddressSpace, ConstructRanges>();

/**
 * The tracker of `mapping` (created on first use).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingConstructRanges } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * if (mappingConstructRanges(m) !== mappingConstructRanges(m)) throw new Error("one per mapping");
 * ```
 */
export function mappingConstructRanges(mapping: AddressSpace): ConstructRanges {
  let t = TRACKERS.get(mapping);
  if (!t) TRACKERS.set(mapping, t = new ConstructRanges(mapping));
  return t;
}

/**
 * The filesystem's fill at data arrival: allocate a folio now (or take `folio`, e.g. a page
 * stolen from a pipe), copy the data (`tag`), and insert it uptodate and unlocked in one step
 * (filemap_add_folio + folio_end_read, no yield between). Returns the folio, or -1 if the
 * allocation failed (ENOMEM) or something else put a folio at `index` meanwhile (the data is
 * then dropped). Use with `yield*` (the allocation may reclaim).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingConstructRanges, constructRangeFill, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const t = mappingConstructRanges(m);
 * const [r] = t.begin(mm, 0, 1, -1, null);
 * env.spawn("reply", function* () { yield* constructRangeFill(mm, t, r!, 0, 42); t.end(mm, r!, true); });
 * env.run();
 * const f = filemapGetEntry(m, 0);
 * if (mm.mem.data[f] !== 42 || !mm.mem.testFlag(f, PG.uptodate) || mm.mem.testFlag(f, PG.locked)) throw new Error();
 * ```
 */
export function* constructRangeFill(
  mm: Mm,
  tracker: ConstructRanges,
  range: ConstructRange,
  index: number,
  tag: number,
  folio = -1,
): Process<number> {
  const mapping = tracker.mapping;
  if (folio < 0) folio = yield* folioAllocGfp(mm, 0, mappingGfpMask(mapping));
  if (folio < 0) return -1;
  mm.mem.data[folio] = tag;
  const r = filemapAddFolioLocked(mm, mapping, folio, index);
  if (!r.ok) {
    folioPut(mm, folio);
    return -1;
  }
  if (index === range.markIndex) mm.mem.setFlag(folio, PG.readahead);
  folioEndRead(mm, folio, true);
  folioPut(mm, folio); // the page cache holds it now
  range.filled++;
  tracker.stats.filled++;
  return folio;
}

/**
 * The readahead window over the tracker (`ondemand_readahead` for a sequential stream): on a
 * miss (`folio` -1) a new window at `index`; at the async mark the next window after the
 * current one. The ranges are begun and handed to `ops.readRange` (asynchronously).
 */
function* constructReadahead(
  mm: Mm,
  tracker: ConstructRanges,
  ra: FileRaState,
  index: number,
  reqCount: number,
  async: boolean,
): Process<void> {
  const ops = tracker.ops;
  if (!ops || ra.raPages === 0) return;
  const max = ra.raPages;
  if (!async) {
    ra.start = index;
    ra.size = getInitRaSize(reqCount, max);
    ra.asyncSize = ra.size > reqCount ? ra.size - reqCount : ra.size;
  } else {
    ra.start += ra.size;
    ra.size = getNextRaSize(ra, max);
    ra.asyncSize = ra.size;
  }
  const end = Math.min(ra.start + ra.size, iSizeRead(tracker.mapping));
  const mark = ra.start + ra.size - ra.asyncSize;
  mm.env.emit("construct_readahead", tracker.mapping.name, ra.start, { end, mark, async });
  for (const r of tracker.begin(mm, ra.start, end, mark, null)) {
    yield* ops.readRange(mm, tracker, r, false);
  }
}

/**
 * `filemap_read` over an under-construction tracker (see the module doc): returns the content
 * tags of pages [index, index + count), or an errno if not even the first could be read.
 * Records a `filemap_read: !uptodate` violation if it ever copies from a folio that is not
 * uptodate. Use with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mappingConstructRanges, constructRangeFill, filemapReadConstruct } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 128 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const t = mappingConstructRanges(m);
 * t.ops = { maxPagesPerRange: 32, *readRange(mm, t, r) {
 *   yield mm.env.sleep(1000);
 *   for (let i = r.start; i < r.end; i++) yield* constructRangeFill(mm, t, r, i, 100 + i);
 *   t.end(mm, r, true);
 *   return 0;
 * } };
 * let got: number[] = [];
 * env.spawn("reader", function* () { const r = yield* filemapReadConstruct(mm, m, 0, 3); if (r.ok) got = r.value; });
 * env.run();
 * if (got.join() !== "100,101,102") throw new Error(got.join());
 * ```
 */
export function* filemapReadConstruct(
  mm: Mm,
  mapping: AddressSpace,
  index: number,
  count: number,
  opts: { ra?: FileRaState } = {},
): Process<KResult<number[]>> {
  const env = mm.env;
  const mem = mm.mem;
  const tracker = mappingConstructRanges(mapping);
  const ra = opts.ra ?? mappingDefaultRa(mm, mapping);
  const out: number[] = [];
  const end = index + count;
  let pos = index;
  let error: Errno | null = null;
  let raAt = -1, syncAt = -1;
  for (let tries = 0; pos < end && pos < iSizeRead(mapping); tries++) {
    if (tries > 100_000) {
      throw new Error(`filemap_read (construct): ${mapping.name} index ${pos} livelocked`);
    }
    const batch = yield* filemapGetReadBatch(mm, mapping, pos, end - 1);
    if (batch.length === 0) {
      const r = tracker.find(pos);
      if (r) {
        // Someone is reading it: wait for the range, not for a folio lock.
        tracker.stats.waits++;
        env.emit("construct_range_wait", mapping.name, pos);
        yield* waitEvent(env, tracker.waitq, () => r.done || filemapGetEntry(mapping, pos) >= 0);
        continue;
      }
      if (raAt !== pos) {
        raAt = pos;
        yield* constructReadahead(mm, tracker, ra, pos, end - pos, false);
        continue;
      }
      // The readahead ended without this page: read it once more, synchronously.
      if (syncAt === pos || !tracker.ops) {
        error = "EIO";
        break;
      }
      syncAt = pos;
      const [one] = tracker.begin(mm, pos, pos + 1, -1, env.current);
      if (one) {
        const err: number = yield* tracker.ops.readRange(mm, tracker, one, true);
        if (err !== 0 && filemapGetEntry(mapping, pos) < 0) {
          error = "EIO";
          break;
        }
      }
      continue;
    }
    const last = batch[batch.length - 1]!;
    if (mem.testFlag(last, PG.readahead) && mem.testFlag(last, PG.uptodate)) {
      mem.clearFlag(last, PG.readahead);
      yield* constructReadahead(mm, tracker, ra, mem.index[last]!, end - pos, true);
    }
    if (!mem.testFlag(last, PG.uptodate)) {
      // A folio from outside the tracker (e.g. a partial write): the usual update path.
      const err = yield* filemapUpdatePage(mm, mapping, last, { ra });
      if (err !== 0) {
        if (err !== AOP_TRUNCATED_PAGE) folioPut(mm, last);
        batch.pop();
        if (batch.length === 0) {
          if (err === AOP_TRUNCATED_PAGE) continue;
          error = err;
          break;
        }
      }
    }
    for (const folio of batch) {
      if (!mem.testFlag(folio, PG.uptodate)) {
        env.violation(
          "filemap_read: !uptodate",
          `filemap_read: copying from ${mm.describeFolio(folio)}, which is not uptodate`,
        );
      }
      folioMarkAccessed(mm.lruvec, folio);
      const fidx = mem.index[folio]!;
      const nr = 1 << mem.order[folio]!;
      while (pos < end && pos >= fidx && pos < fidx + nr) {
        out.push(mem.data[folio + (pos - fidx)]!);
        pos++;
      }
      folioPut(mm, folio);
    }
  }
  ra.prevIndex = pos;
  env.emit("filemap_read", mapping.name, index, { pages: out.length, error, construct: true });
  if (out.length > 0 || error === null) return { ok: true, value: out };
  return { ok: false, errno: error };
}
