/**
 * The flusher and sync(2): the bdi writeback worker that writes dirty inodes for queued work
 * (sync), start-all requests (reclaim), background writeback above the background threshold
 * and the periodic ("kupdate") writeback of data older than dirty_expire; and sync(2) as
 * sync_inodes_sb() + wait_sb_inodes().
 *
 * Follows fs/fs-writeback.c (`wb_workfn`, `wb_do_writeback`, `wb_writeback`,
 * `wb_check_start_all`, `wb_check_background_flush`, `wb_check_old_data_flush`,
 * `wakeup_flusher_threads`, `wb_start_background_writeback`, `sync_inodes_sb`,
 * `wait_sb_inodes`), Linux v6.12, and fs/sync.c (`ksys_sync`).
 *
 * One superblock, one bdi, one wb: every mapping is written by the one flusher; its inodes are
 * kept on b_dirty with their dirtied_when. Left out: b_io/b_more_io queueing (each pass takes
 * the dirty inodes in dirtied_when order), I_SYNC and inode_sleep_on_writeback (a pass that
 * writes nothing ends the work item), the initial WB_SYNC_NONE pass of sync(2), sync_fs and
 * block-device flushes, laptop mode, cgroup writeback.
 *
 * @module
 */

import type { Process, Task } from "../sim/engine.ts";
import { Completion } from "../sim/sync.ts";
import { waitEvent } from "../sim/wait_queue.ts";
import { AddressSpace, type WritebackControl } from "./address_space.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import {
  mappingTagged,
  wbState,
  type WbWork,
  WritebackConfig,
  type WritebackConfigInput,
} from "./_wb_state.ts";
import {
  dirtyLimits,
  doWritepages,
  filemapFdatawaitKeepErrors,
  writebackControl,
} from "./writeback.ts";

/**
 * wb_start_background_writeback() (fs/fs-writeback.c): ask the flusher for background writeback (it writes while
 * the dirty pages exceed the background threshold).
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, filemapAddFolio, folioAlloc, folioMarkDirty, Mm, PG, spawnFlusher, wbStartBackgroundWriteback } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * new BlockDevice(mm).attach(m);
 * for (let i = 0; i < 100; i++) { // far above vm.dirty_background_ratio
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioMarkDirty(mm, f);
 * }
 * spawnFlusher(mm, { dirtyWritebackCentisecs: 0 }); // no periodic pass: only what we ask for
 * env.spawn("writer", function* (env) {
 *   wbStartBackgroundWriteback(mm);
 *   yield env.sleep(1_000_000_000);
 * });
 * env.run();
 * if (mm.vmstat.get("nr_dirty") !== 0 || m.backing.size !== 100) throw new Error(`${mm.vmstat.get("nr_dirty")} still dirty`);
 * ```
 */
export function wbStartBackgroundWriteback(mm: Mm): void {
  const s = wbState(mm);
  s.bgRequested = true;
  mm.env.emit("writeback_wake_background", "wb");
  s.wakeQueue.wakeUp(1);
}

/**
 * wakeup_flusher_threads() (fs/fs-writeback.c): start writeback of all dirty pages
 * (WB_SYNC_NONE, WB_start_all) with `reason` ("WB_REASON_VMSCAN", "WB_REASON_SYNC" …). Does
 * nothing without a flusher (see {@link spawnFlusher}).
 *
 * @example
 * ```ts
 * import { Engine, Mm, wakeupFlusherThreads } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * wakeupFlusherThreads(mm, "WB_REASON_VMSCAN"); // no flusher: a no-op
 * ```
 */
export function wakeupFlusherThreads(mm: Mm, reason: string): void {
  const s = wbState(mm);
  if (!s.flusher) return;
  s.startAll ??= reason;
  mm.env.emit("writeback_wake_all", "wb", null, reason);
  s.wakeQueue.wakeUp(1);
}

function overBgThresh(mm: Mm): boolean {
  const l = dirtyLimits(mm, null);
  return l.nrReclaimable > l.bgThresh;
}

/**
 * wb_writeback() (fs/fs-writeback.c): write dirty inodes for one work item. Inodes are taken
 * in dirtied_when order; kupdate work takes only those dirtied more than dirty_expire ago,
 * sync work only those dirtied before it started. Each inode gets do_writepages with a chunk
 * of `writebackChunkBytes` (all of it for WB_SYNC_ALL). Background and kupdate work stop when
 * other work is queued, background work when the dirty pages fall below the background
 * threshold; every kind stops when a pass writes nothing. Returns pages written.
 */
function* wbWriteback(mm: Mm, work: WbWork): Process<number> {
  const s = wbState(mm);
  const env = mm.env;
  const startNs = env.nowNs;
  const chunk = work.syncMode === "WB_SYNC_ALL"
    ? Number.MAX_SAFE_INTEGER
    : Math.max(1, Math.floor(s.config.writebackChunkBytes / mm.mem.pageSizeBytes));
  let total = 0;
  env.emit("writeback_start", "wb", null, work.reason);
  for (let pass = 0;; pass++) {
    if (work.nrPages <= 0) break;
    if ((work.forBackground || work.forKupdate) && s.works.length > 0) break;
    if (work.forBackground && !overBgThresh(mm)) break;
    const olderThan = work.forKupdate
      ? env.nowNs - s.config.dirtyExpireCentisecs * 10_000_000
      : startNs;
    const inodes = [...s.dirtyInodes]
      .filter(([, when]) => when <= olderThan)
      .sort((a, b) => a[1] - b[1])
      .map(([id]) => id);
    if (inodes.length === 0) break;
    let progress = 0;
    for (const id of inodes) {
      const mapping = mm.mappings[id];
      if (!(mapping instanceof AddressSpace)) {
        s.dirtyInodes.delete(id);
        continue;
      }
      const nr = Math.min(chunk, work.nrPages);
      const wbc = writebackControl({ syncMode: work.syncMode, nrToWrite: nr, reason: work.reason });
      yield* doWritepages(mm, mapping, wbc);
      const written = nr - Math.max(0, wbc.nrToWrite);
      work.nrPages -= written;
      progress += written;
      if (!mappingTagged(mm, mapping, PG.dirty)) s.dirtyInodes.delete(id);
      if (work.nrPages <= 0) break;
    }
    total += progress;
    if (work.syncMode === "WB_SYNC_ALL" || progress === 0) break;
  }
  env.emit("writeback_written", "wb", null, { reason: work.reason, pages: total });
  return total;
}

/** wb_workfn() / wb_do_writeback(): queued work, start-all, background, kupdate. */
function* wbWorkfn(mm: Mm): Process<void> {
  const s = wbState(mm);
  const env = mm.env;
  for (;;) {
    yield* waitEvent(
      env,
      s.wakeQueue,
      () => s.works.length > 0 || s.startAll !== null || s.periodicDue || s.bgRequested,
    );
    s.bgRequested = false;
    s.running = true;
    let work: WbWork | undefined;
    while ((work = s.works.shift())) {
      env.emit("writeback_exec", "wb", null, work.reason);
      yield* wbWriteback(mm, work);
      work.done?.completeAll();
    }
    if (s.startAll !== null) {
      const reason = s.startAll;
      s.startAll = null;
      yield* wbWriteback(mm, newWork(mm, "WB_SYNC_NONE", reason));
    }
    if (overBgThresh(mm)) {
      const w = newWork(mm, "WB_SYNC_NONE", "WB_REASON_BACKGROUND");
      w.forBackground = true;
      w.nrPages = Number.MAX_SAFE_INTEGER;
      yield* wbWriteback(mm, w);
    }
    if (s.periodicDue) {
      s.periodicDue = false;
      const w = newWork(mm, "WB_SYNC_NONE", "WB_REASON_PERIODIC");
      w.forKupdate = true;
      if (w.nrPages > 0) yield* wbWriteback(mm, w);
    }
    s.running = false;
  }
}

function newWork(mm: Mm, syncMode: WritebackControl["syncMode"], reason: string): WbWork {
  return {
    syncMode,
    nrPages: mm.vmstat.get("nr_dirty"), // get_nr_dirty_pages()
    reason,
    forBackground: false,
    forKupdate: false,
    done: null,
  };
}

/**
 * Spawn the flusher (the bdi's `wb_workfn` worker, "kworker/u:flush") and its periodic timer
 * (`dirty_writeback_interval`, the kupdate pass) as daemon tasks, and set the writeback
 * sysctls. The flusher serves queued work (sync), start-all requests
 * ({@link wakeupFlusherThreads}), background writeback above the background threshold, and
 * the periodic writeback of data older than dirty_expire. Returns the flusher task.
 *
 * @example The periodic pass writes data older than dirty_expire
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, spawnFlusher } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * new BlockDevice(mm).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.data[f] = 9;
 * folioMarkDirty(mm, f);
 * spawnFlusher(mm, { dirtyWritebackCentisecs: 100, dirtyExpireCentisecs: 200 });
 * env.spawn("clock", function* () { yield env.sleep(5e9); });
 * env.run();
 * if (m.backing.get(0) !== 9) throw new Error("written back by the kupdate pass");
 * ```
 */
export function spawnFlusher(mm: Mm, config: WritebackConfigInput = {}): Task {
  const s = wbState(mm);
  if (s.flusher) throw new Error("spawnFlusher: this Mm already has a flusher");
  s.config = WritebackConfig.parse(config);
  const env = mm.env;
  const flusher = env.spawn("kworker/u:flush", () => wbWorkfn(mm), { daemon: true });
  s.flusher = flusher;
  const interval = s.config.dirtyWritebackCentisecs * 10_000_000;
  if (interval > 0) {
    env.spawn("wb_timer", function* () {
      for (;;) {
        yield env.sleep(interval);
        s.periodicDue = true;
        s.wakeQueue.wakeUp(1);
      }
    }, { daemon: true });
  }
  return flusher;
}

/**
 * sync(2) for the model's one superblock: sync_inodes_sb() — queue a WB_SYNC_ALL work item for
 * the flusher and wait for it (or, without a flusher, write from the calling task) — then
 * wait_sb_inodes(): filemap_fdatawait on every mapping with folios under writeback. A mapping
 * whose writeback never completes (a hung FUSE server after 0c58a97f919c) hangs sync. Use
 * with `yield*`.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, spawnFlusher, syncFilesystem } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * new BlockDevice(mm, { latency: { kind: "fixed", ns: 1e6 } }).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.data[f] = 3;
 * folioMarkDirty(mm, f);
 * spawnFlusher(mm);
 * env.spawn("sync", function* () { yield* syncFilesystem(mm); });
 * env.run();
 * if (m.backing.get(0) !== 3) throw new Error("on disk when sync returns");
 * ```
 */
export function* syncFilesystem(mm: Mm): Process<void> {
  const s = wbState(mm);
  const work = newWork(mm, "WB_SYNC_ALL", "WB_REASON_SYNC");
  work.nrPages = Number.MAX_SAFE_INTEGER;
  if (s.flusher) {
    const done = new Completion("sync_inodes_sb work");
    done.owner = s.flusher;
    work.done = done;
    s.works.push(work);
    mm.env.emit("writeback_queue", "wb", null, work.reason);
    s.wakeQueue.wakeUp(1);
    yield* done.wait(mm.env);
  } else {
    yield* wbWriteback(mm, work);
  }
  // wait_sb_inodes()
  for (const m of mm.mappings) {
    if (!(m instanceof AddressSpace) || !mappingTagged(mm, m, PG.writeback)) continue;
    yield* filemapFdatawaitKeepErrors(mm, m);
  }
}
