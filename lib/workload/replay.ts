/**
 * Trace-driven replay of a page cache with reclaim: each request reads one base page of a file;
 * a hit finds it in the mapping's index, a miss allocates a frame, inserts it and adds it to
 * the LRU; when no frame is free, reclaim evicts from the policy's lists.
 *
 * Two policies over the same intrusive lists (lib/mm/lru.ts):
 * - `"lru"`: pure LRU (`PureLru`): a hit moves the page to the head, reclaim takes the tail.
 *   With `reclaimBatch` 1 (its default) the miss count is exactly that of any exact LRU of
 *   `capacityPages` pages, e.g. libCacheSim's LRU at cache size `capacityPages × 4 KiB` on a
 *   trace of 4 KiB objects.
 * - `"active_inactive"`: the kernel's classic file LRU. A request is a `read(2)` of one page:
 *   mm/filemap.c `filemap_read` → on a miss `filemap_add_folio` (+ `folio_add_lru`), then
 *   `folio_mark_accessed` on every request, hit or miss (two touches promote to the active
 *   list). Reclaim is a reduced `shrink_lruvec` (mm/vmscan.c, v6.12): while
 *   `inactive_is_low(LRU_INACTIVE_FILE)`, `shrink_active_list(SWAP_CLUSTER_MAX)`; then
 *   `isolate_lru_folios` from the inactive tail and a `shrink_folio_list` reduced to what it
 *   does with a clean, unmapped page-cache folio: `folio_check_references` (no young PTEs;
 *   PG_referenced is cleared and gives FOLIOREF_RECLAIM_CLEAN, i.e. reclaim) and
 *   `__remove_mapping` (refcount frozen at 2: page cache + isolation; index entry erased;
 *   frame freed).
 *
 * // Divergence: no watermarks, kswapd or priority loop: reclaim runs when the free frames run
 * out and frees `reclaimBatch` pages (SWAP_CLUSTER_MAX by default, as one
 * `shrink_inactive_list` pass); no shadow entries, so no refault activation (mm/workingset.c);
 * no readahead; writes are replayed as reads (no dirtying: writeback is vmscan.ts's and
 * writeback.ts's); one base page per request (order-0 folios).
 *
 * Frames come from a simple free-frame stack over `PhysMem` (// Divergence: not the buddy
 * allocator, which can be swapped in: the replay only needs "a free order-0 frame"). Each
 * allocation bumps the frame's generation, as `PhysMem` documents.
 *
 * Object ids of oracleGeneral traces map to page indices of one mapping (`index = obj_id`);
 * ids of 2^32 and above are rejected (the page index is 32-bit here).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { NIL, PG, PhysMem } from "../mm/memory.ts";
import {
  folioAddLru,
  FolioList,
  folioMarkAccessed,
  inactiveIsLow,
  isolateLruFolios,
  LRU_ACTIVE_FILE,
  LRU_INACTIVE_FILE,
  Lruvec,
  PureLru,
  shrinkActiveList,
  SWAP_CLUSTER_MAX,
} from "../mm/lru.ts";
import { XArray } from "../mm/_xarray.ts";
import { type OracleGeneralBatch, readOracleGeneral, type TraceSource } from "./oracle_general.ts";
import { type CsvTraceBatch, readCsvTrace } from "./csv_trace.ts";

/**
 * Configuration of a page-cache replay.
 *
 * @example
 * ```ts
 * import { ReplayConfig } from "@mmsim/mmsim";
 * const c = ReplayConfig.parse({ capacityPages: 100_000 });
 * if (c.policy !== "lru") throw new Error("pure LRU by default");
 * ```
 */
export interface ReplayConfig {
  /** Page-cache size in base pages (the frames available to the cache). */
  capacityPages: number;
  /** Reclaim policy: pure LRU, or the kernel's active/inactive file lists. */
  policy: "lru" | "active_inactive";
  /** Pages freed per reclaim: default 1 for `"lru"`, SWAP_CLUSTER_MAX (32) otherwise. */
  reclaimBatch?: number;
  /** How `shrink_active_list` models `folio_referenced()` (see `LruvecConfig`). */
  folioReferenced: "no_ptes" | "pg_referenced";
}

/**
 * Input of `ReplayConfig` (what `PageCacheReplay` and the replay functions accept).
 *
 * @example
 * ```ts
 * import { PageCacheReplay, type ReplayOptions } from "@mmsim/mmsim";
 * const opts: ReplayOptions = { capacityPages: 8, policy: "active_inactive" };
 * const r = new PageCacheReplay(opts);
 * for (let i = 0; i < 40; i++) r.access(1, i % 12);
 * const s = r.stats();
 * if (r.config.folioReferenced !== "no_ptes") throw new Error("default filled in");
 * if (s.hits + s.misses !== 40 || r.nrCached > 8) throw new Error(JSON.stringify(s));
 * ```
 */
export interface ReplayOptions {
  /** Page-cache size in base pages. */
  capacityPages: number;
  /** Reclaim policy (default `"lru"`). */
  policy?: "lru" | "active_inactive";
  /** Pages freed per reclaim. */
  reclaimBatch?: number;
  /** How `shrink_active_list` models `folio_referenced()` (default `"no_ptes"`). */
  folioReferenced?: "no_ptes" | "pg_referenced";
}

const replaySchema = z.object({
  capacityPages: z.number().int().positive().max(2 ** 26),
  policy: z.enum(["lru", "active_inactive"]).default("lru"),
  reclaimBatch: z.number().int().positive().optional(),
  folioReferenced: z.enum(["no_ptes", "pg_referenced"]).default("no_ptes"),
});
const _replayTypes: Same<z.output<typeof replaySchema>, ReplayConfig> = true;
void _replayTypes;

/** The {@link ReplayConfig} schema. */
export const ReplayConfig: ConfigSchema<ReplayConfig, ReplayOptions> = defineConfig(
  "ReplayConfig",
  replaySchema,
);

/**
 * The lookups a replay's page-cache index offers (page index → pfn).
 *
 * @example
 * ```ts
 * import { type PageCacheIndex, PageCacheReplay } from "@mmsim/mmsim";
 * const r = new PageCacheReplay({ capacityPages: 2 });
 * for (const index of [1, 2, 1, 3]) r.access(1, index); // LRU: page 2 is evicted for page 3
 * const xa: PageCacheIndex = r.mappingIndex(1);
 * const cached: number[] = [];
 * xa.forEach((index) => cached.push(index));
 * if (xa.size !== 2 || xa.load(2) !== -1 || xa.load(3) < 0) throw new Error(cached.join());
 * if (cached.sort().join() !== "1,3") throw new Error(cached.join());
 * ```
 */
export interface PageCacheIndex {
  /** The pfn cached at `index`, or -1. */
  load(index: number): number;
  /** Number of cached pages of the mapping. */
  readonly size: number;
  /** Visit every (index, pfn) in a deterministic order. */
  forEach(cb: (index: number, pfn: number) => void): void;
}

/**
 * Counters of a replay.
 *
 * @example
 * ```ts
 * import { replayCsvTrace, type ReplayStats } from "@mmsim/mmsim";
 * // One frame, three requests alternating between two pages: every request misses.
 * const s: ReplayStats = await replayCsvTrace("0,1,0,r\n1,1,1,r\n2,1,0,r\n", { capacityPages: 1 });
 * if (s.requests !== 3 || s.misses !== 3 || s.hits !== 0 || s.evictions !== 2) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface ReplayStats {
  /** Requests replayed. */
  requests: number;
  /** Requests that found their page cached. */
  hits: number;
  /** Requests that had to insert their page. */
  misses: number;
  /** Pages reclaimed. */
  evictions: number;
}

const BIT_LRU = 1 << PG.lru;
const BIT_REFERENCED = 1 << PG.referenced;
const BIT_UPTODATE = 1 << PG.uptodate;

/**
 * A page cache of `capacityPages` frames replaying requests. `access(mapping, index)` is one
 * request; `accessIds` replays a run of page indices of mapping 1 without per-request
 * allocation.
 *
 * @example
 * ```ts
 * import { PageCacheReplay } from "@mmsim/mmsim";
 * const r = new PageCacheReplay({ capacityPages: 2 });
 * for (const index of [1, 2, 1, 3, 2]) r.access(1, index);
 * const s = r.stats();
 * if (s.hits !== 1 || s.misses !== 4 || s.evictions !== 2) throw new Error(JSON.stringify(s));
 * ```
 */
export class PageCacheReplay {
  /** Parsed configuration. */
  readonly config: ReplayConfig;
  /** The frames. */
  readonly mem: PhysMem;
  /** The kernel lists (`"active_inactive"`), else null. */
  readonly lruvec: Lruvec | null;
  /** The pure LRU list (`"lru"`), else null. */
  readonly pureLru: PureLru | null;
  /** Requests replayed. */
  requests = 0;
  /** Hits. */
  hits = 0;
  /** Misses. */
  misses = 0;
  /** Pages reclaimed. */
  evictions = 0;
  private readonly freeStack: Int32Array;
  private nrFree: number;
  private readonly batch: number;
  /** Index of each mapping id (ids from 1; 0 is NO_MAPPING). */
  private readonly xas: XArray[] = [];
  private readonly hold: FolioList;
  private readonly inodeMapping = new Map<number, number>();

  /** A cold cache: every frame free. */
  constructor(config: ReplayOptions) {
    const c = ReplayConfig.parse(config);
    this.config = c;
    const n = c.capacityPages;
    this.mem = new PhysMem({ nrFrames: n });
    if (c.policy === "lru") {
      this.pureLru = new PureLru(this.mem);
      this.lruvec = null;
    } else {
      this.lruvec = new Lruvec(this.mem, { folioReferenced: c.folioReferenced });
      this.pureLru = null;
    }
    this.batch = Math.min(c.reclaimBatch ?? (c.policy === "lru" ? 1 : SWAP_CLUSTER_MAX), n);
    this.freeStack = new Int32Array(n);
    // Pop order 0, 1, 2, …: the stack holds the highest pfn at the bottom.
    for (let i = 0; i < n; i++) this.freeStack[i] = n - 1 - i;
    this.nrFree = n;
    this.hold = new FolioList(this.mem);
  }

  /** The counters so far. */
  stats(): ReplayStats {
    return {
      requests: this.requests,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  /** Pages currently cached. */
  get nrCached(): number {
    return this.config.capacityPages - this.nrFree;
  }

  /** The index of mapping `mapping` (created on first use; ids from 1). */
  mappingIndex(mapping: number): PageCacheIndex {
    return this.xarrayOf(mapping);
  }

  /** The XArray of `mapping`, created on first use. */
  private xarrayOf(mapping: number): XArray {
    let xa = this.xas[mapping];
    if (xa === undefined) {
      if (mapping < 1 || !Number.isInteger(mapping)) {
        throw new RangeError(`PageCacheReplay: mapping id must be an integer >= 1, got ${mapping}`);
      }
      xa = new XArray(Math.min(this.config.capacityPages, 1 << 16));
      this.xas[mapping] = xa;
    }
    return xa;
  }

  /** One request for page `index` of `mapping`; returns true on a hit. */
  access(mapping: number, index: number): boolean {
    const xa = this.xarrayOf(mapping);
    const pfn = xa.load(index);
    this.requests++;
    if (pfn >= 0) {
      this.hits++;
      this.touch(pfn);
      return true;
    }
    this.misses++;
    this.insert(xa, mapping, index);
    return false;
  }

  /** Replay page indices `ids[start..end)` of mapping 1. */
  accessIds(ids: Uint32Array, start = 0, end: number = ids.length): void {
    const xa = this.xarrayOf(1);
    const lru = this.pureLru;
    let hits = 0;
    if (lru !== null) {
      for (let i = start; i < end; i++) {
        const index = ids[i]!;
        const pfn = xa.load(index);
        if (pfn >= 0) {
          hits++;
          lru.access(pfn);
        } else this.insert(xa, 1, index);
      }
    } else {
      const lruvec = this.lruvec!;
      for (let i = start; i < end; i++) {
        const index = ids[i]!;
        const pfn = xa.load(index);
        if (pfn >= 0) {
          hits++;
          folioMarkAccessed(lruvec, pfn);
        } else this.insert(xa, 1, index);
      }
    }
    const n = end - start;
    this.requests += n;
    this.hits += hits;
    this.misses += n - hits;
  }

  /** Replay an oracleGeneral batch (object id = page index of mapping 1). */
  accessOracleBatch(batch: OracleGeneralBatch): void {
    const hi = batch.objIdHi;
    for (let i = 0; i < batch.length; i++) {
      if (hi[i] !== 0) {
        throw new RangeError(
          `PageCacheReplay: object id ${batch.objId(i)} does not fit a 32-bit page index`,
        );
      }
    }
    this.accessIds(batch.objIdLo, 0, batch.length);
  }

  /** Replay a CSV batch: one mapping per inode (ids by first appearance), page = `index`. */
  accessCsvBatch(batch: CsvTraceBatch): void {
    let lastInode = -1, lastMapping = 0;
    for (let i = 0; i < batch.length; i++) {
      const inode = batch.inode[i]!;
      if (inode !== lastInode) {
        let m = this.inodeMapping.get(inode);
        if (m === undefined) {
          m = this.inodeMapping.size + 1;
          this.inodeMapping.set(inode, m);
        }
        lastInode = inode;
        lastMapping = m;
      }
      this.access(lastMapping, batch.index[i]!);
    }
  }

  /** A hit: the policy's access. */
  private touch(pfn: number): void {
    if (this.pureLru !== null) this.pureLru.access(pfn);
    else folioMarkAccessed(this.lruvec!, pfn);
  }

  /** Miss: allocate a frame, insert it in the index and on the LRU. */
  private insert(xa: XArray, mapping: number, index: number): void {
    if (this.nrFree === 0) this.reclaim();
    const pfn = this.freeStack[--this.nrFree]!;
    const mem = this.mem;
    mem.generation[pfn]!++;
    mem.refcount[pfn] = 1; // the page cache's reference
    mem.mapping[pfn] = mapping;
    mem.index[pfn] = index;
    mem.flags[pfn] = BIT_UPTODATE;
    xa.store(index, pfn);
    if (this.pureLru !== null) this.pureLru.add(pfn);
    else {
      folioAddLru(this.lruvec!, pfn);
      folioMarkAccessed(this.lruvec!, pfn);
    }
  }

  /** Remove a reclaimed frame from its mapping and free it. */
  private freeFrame(pfn: number): void {
    const mem = this.mem;
    const xa = this.xas[mem.mapping[pfn]!]!;
    if (xa.erase(mem.index[pfn]!) !== pfn) {
      throw new Error(
        `Cannot remove frame ${pfn} from mapping ${mem.mapping[pfn]} index ${mem.index[pfn]}: ` +
          `the index does not hold it`,
      );
    }
    mem.flags[pfn] = 0;
    mem.refcount[pfn] = 0;
    mem.mapping[pfn] = 0;
    this.freeStack[this.nrFree++] = pfn;
    this.evictions++;
  }

  /** Free `reclaimBatch` frames through the policy. */
  private reclaim(): void {
    if (this.pureLru !== null) {
      const lru = this.pureLru;
      for (let i = 0; i < this.batch; i++) {
        const pfn = lru.evict();
        if (pfn === NIL) break;
        this.freeFrame(pfn);
      }
      return;
    }
    const lruvec = this.lruvec!, mem = this.mem, hold = this.hold;
    let reclaimed = 0;
    for (let round = 0; reclaimed < this.batch; round++) {
      // shrink_lruvec(): age the active list while the inactive one is low.
      const maxPasses = 2 * Math.ceil(lruvec.nrPages[LRU_ACTIVE_FILE]! / SWAP_CLUSTER_MAX) + 2;
      for (let p = 0; p < maxPasses && inactiveIsLow(lruvec, LRU_INACTIVE_FILE); p++) {
        shrinkActiveList(lruvec, SWAP_CLUSTER_MAX, LRU_ACTIVE_FILE);
      }
      if (lruvec.nrPages[LRU_INACTIVE_FILE] === 0) {
        if (lruvec.nrPages[LRU_ACTIVE_FILE] === 0 || round > maxPasses) {
          throw new Error(`reclaim: no page could be reclaimed (cache of ${mem.nrFrames} pages)`);
        }
        shrinkActiveList(lruvec, SWAP_CLUSTER_MAX, LRU_ACTIVE_FILE);
        continue;
      }
      isolateLruFolios(lruvec, this.batch - reclaimed, hold, LRU_INACTIVE_FILE);
      // shrink_folio_list(), clean unmapped page cache only.
      for (let pfn = hold.popTail(); pfn !== NIL; pfn = hold.popTail()) {
        // folio_check_references(): no PTEs; PG_referenced is test-and-cleared and, for a
        // file folio, means FOLIOREF_RECLAIM_CLEAN: a clean folio is reclaimed either way.
        mem.flags[pfn]! &= ~BIT_REFERENCED;
        // __remove_mapping(): folio_ref_freeze(folio, 2) (page cache + isolation).
        if (mem.refcount[pfn] !== 2 || (mem.flags[pfn]! & BIT_LRU) !== 0) {
          throw new Error(
            `__remove_mapping: frame ${pfn} has refcount ${mem.refcount[pfn]}, expected 2`,
          );
        }
        this.freeFrame(pfn);
        reclaimed++;
      }
    }
  }
}

/**
 * Replay a whole oracleGeneral trace (stream or bytes) through a fresh page cache.
 *
 * @example
 * ```ts
 * import { OracleGeneralBatch, encodeOracleGeneral, replayOracleGeneral } from "@mmsim/mmsim";
 * const b = new OracleGeneralBatch(4);
 * for (const id of [1, 2, 1, 3]) b.push(0, id, 4096, -1);
 * const s = await replayOracleGeneral(encodeOracleGeneral(b), { capacityPages: 2 });
 * if (s.misses !== 3 || s.hits !== 1) throw new Error();
 * ```
 */
export async function replayOracleGeneral(
  source: TraceSource,
  config: ReplayOptions,
): Promise<ReplayStats> {
  const r = new PageCacheReplay(config);
  for await (const batch of readOracleGeneral(source, 65_536, "objId")) r.accessOracleBatch(batch);
  return r.stats();
}

/**
 * Replay a whole CSV trace (stream, bytes or text) through a fresh page cache.
 *
 * @example
 * ```ts
 * import { replayCsvTrace } from "@mmsim/mmsim";
 * const s = await replayCsvTrace("0,1,0,read\n1,2,0,read\n2,1,0,write\n", { capacityPages: 4 });
 * if (s.hits !== 1 || s.misses !== 2) throw new Error();
 * ```
 */
export async function replayCsvTrace(
  source: TraceSource | string,
  config: ReplayOptions,
): Promise<ReplayStats> {
  const r = new PageCacheReplay(config);
  for await (const batch of readCsvTrace(source)) r.accessCsvBatch(batch);
  return r.stats();
}
