/**
 * Per-Mm writeback state shared by writeback.ts, fs_writeback.ts and block_device.ts: the
 * writeback sysctls, the dirty-inode list (b_dirty), the TOWRITE marks, the flusher's work
 * list, the mapping → block device association, and counters. Private to lib/mm.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Task } from "../sim/engine.ts";
import type { Completion } from "../sim/sync.ts";
import { WaitQueue } from "../sim/wait_queue.ts";
import type { AddressSpace, WritebackControl } from "./address_space.ts";
import type { Mm } from "./mm.ts";

/**
 * Writeback sysctls (`/proc/sys/vm/dirty_*`), defaults copied from mm/page-writeback.c.
 *
 * @example
 * ```ts
 * import { WritebackConfig } from "@mmsim/mmsim";
 * const c = WritebackConfig.parse({});
 * if (c.dirtyRatio !== 20 || c.dirtyBackgroundRatio !== 10) throw new Error("kernel defaults");
 * ```
 */
export interface WritebackConfig {
  /** vm.dirty_ratio: throttle writers above this % of dirtyable memory (default 20). */
  dirtyRatio: number;
  /** vm.dirty_background_ratio: start background writeback above this % (default 10). */
  dirtyBackgroundRatio: number;
  /** vm.dirty_writeback_centisecs: period of the kupdate pass, 0 = off (default 500). */
  dirtyWritebackCentisecs: number;
  /** vm.dirty_expire_centisecs: the kupdate pass writes data older than this (default 3000). */
  dirtyExpireCentisecs: number;
  /** MAX_PAUSE: longest balance_dirty_pages() sleep (HZ/5 = 200 ms). */
  maxPauseNs: number;
  /**
   * Write bandwidth of a bdi in bytes/s, which the kernel estimates starting from INIT_BW
   * (100 MiB/s); here it stays at its initial value.
   */
  writeBandwidthBytesPerSec: number;
  /** MIN_WRITEBACK_PAGES (4 MiB): the flusher's chunk per inode for WB_SYNC_NONE work. */
  writebackChunkBytes: number;
}
/**
 * Input of {@link WritebackConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { dirtyLimits, Engine, Mm, spawnFlusher, type WritebackConfigInput } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 4096 } });
 * const sysctls: WritebackConfigInput = { dirtyRatio: 40, dirtyBackgroundRatio: 5, dirtyWritebackCentisecs: 0 };
 * spawnFlusher(mm, sysctls); // vm.dirty_ratio, vm.dirty_background_ratio, no kupdate timer
 * const l = dirtyLimits(mm, null);
 * if (l.thresh !== Math.floor(0.4 * l.avail) || l.bgThresh !== Math.floor(0.05 * l.avail)) throw new Error(JSON.stringify(l));
 * ```
 */
export type WritebackConfigInput = Partial<WritebackConfig>;

const writebackSchema = z.object({
  dirtyRatio: z.number().min(0).max(100).default(20),
  dirtyBackgroundRatio: z.number().min(0).max(100).default(10),
  dirtyWritebackCentisecs: z.number().int().min(0).default(500),
  dirtyExpireCentisecs: z.number().int().min(0).default(3000),
  maxPauseNs: z.number().int().positive().default(200_000_000),
  writeBandwidthBytesPerSec: z.number().positive().default(100 * 1024 * 1024),
  writebackChunkBytes: z.number().int().positive().default(4 * 1024 * 1024),
});
const _writebackTypes: Same<z.output<typeof writebackSchema>, WritebackConfig> = true;
void _writebackTypes;

/** The {@link WritebackConfig} schema. */
export const WritebackConfig: ConfigSchema<WritebackConfig, WritebackConfigInput> = defineConfig(
  "WritebackConfig",
  writebackSchema,
);

/** One `struct wb_writeback_work`. */
export interface WbWork {
  syncMode: WritebackControl["syncMode"];
  nrPages: number;
  reason: string;
  forBackground: boolean;
  forKupdate: boolean;
  done: Completion | null;
}

/**
 * Counters of the writeback model.
 *
 * @example 073861ed77b6: without its reference, folio_end_writeback touches a freed folio
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, filemapRemoveFolio, folioAlloc, folioEndWriteback, folioPut, folioStartWriteback, Mm, writebackStats, type WritebackStats } from "@mmsim/mmsim";
 * const freed: number[] = [];
 * for (const version of ["5.9", "6.12"]) {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 64 }, version });
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, AddressSpace.create(mm, { name: "f" }), f, 0);
 *   folioPut(mm, f); // only the page cache holds it
 *   folioStartWriteback(mm, f);
 *   env.spawn("end_io", function* () { yield* folioEndWriteback(mm, f, { delayNs: 10 }); });
 *   env.spawn("truncate", function* (env) { yield env.sleep(5); filemapRemoveFolio(mm, f); }); // inside δ
 *   env.run();
 *   const s: WritebackStats = writebackStats(mm);
 *   freed.push(s.freedDuringDelay);
 * }
 * if (freed.join() !== "1,0") throw new Error(`${freed}`);
 * ```
 */
export interface WritebackStats {
  /** folio_end_writeback wakes whose frame had been freed or reused during δ (073861ed77b6). */
  staleWakes: number;
  /**
   * folio_end_writeback calls whose frame was freed or reused during δ, woken waiters or not
   * (the end path touched a freed struct page: the VM_BUG_ON(PageTail) half of 073861ed77b6).
   */
  freedDuringDelay: number;
  /** folio_end_writeback calls. */
  endWriteback: number;
  /** balance_dirty_pages() pauses. */
  pauses: number;
  /** Total balance_dirty_pages() throttling time in ns. */
  pausedNs: number;
  /** Folios dirtied while !uptodate (the WARN_ON_ONCE in __folio_mark_dirty). */
  dirtyNotUptodate: number;
}

/** The state; `bdev` members are BlockDevice (typed loosely to keep this file a leaf). */
export interface WbState {
  config: WritebackConfig;
  defaultBdev: unknown;
  bdevOf: WeakMap<AddressSpace, unknown>;
  /** b_dirty: mapping id → dirtied_when (ns); set when the inode goes clean → dirty. */
  dirtyInodes: Map<number, number>;
  /** PAGECACHE_TAG_TOWRITE per mapping: head index → generation of the tagged folio. */
  towrite: Map<number, Map<number, number>>;
  works: WbWork[];
  startAll: string | null;
  periodicDue: boolean;
  bgRequested: boolean;
  /** WB_writeback_running. */
  running: boolean;
  flusher: Task | null;
  wakeQueue: WaitQueue;
  stats: WritebackStats;
}

const states = new WeakMap<Mm, WbState>();

/** The writeback state of `mm`, created with defaults on first use. */
export function wbState(mm: Mm): WbState {
  let s = states.get(mm);
  if (!s) {
    s = {
      config: WritebackConfig.parse({}),
      defaultBdev: null,
      bdevOf: new WeakMap(),
      dirtyInodes: new Map(),
      towrite: new Map(),
      works: [],
      startAll: null,
      periodicDue: false,
      bgRequested: false,
      running: false,
      flusher: null,
      wakeQueue: Object.assign(new WaitQueue("wb_workfn work list"), { idle: true }),
      stats: {
        staleWakes: 0,
        freedDuringDelay: 0,
        endWriteback: 0,
        pauses: 0,
        pausedNs: 0,
        dirtyNotUptodate: 0,
      },
    };
    states.set(mm, s);
  }
  return s;
}

/** folio_nr_pages(). */
export function nrPages(mm: Mm, folio: number): number {
  return 1 << mm.mem.order[folio]!;
}

/** mapping_tagged(mapping, tag) for DIRTY / WRITEBACK, read from the folios' flags. */
export function mappingTagged(mm: Mm, mapping: AddressSpace, bit: number): boolean {
  let found = false;
  const mem = mm.mem;
  mapping.pages.forEach((_index, pfn) => {
    if (!found && mem.testFlag(pfn, bit)) found = true;
  });
  return found;
}
