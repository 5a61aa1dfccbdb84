/**
 * Thread 003 scenarios for PG_writeback (claims C3.1 and C3.2): the end-of-writeback window δ
 * between the clear of PG_writeback and the wake, the reference 073861ed77b6 takes around it,
 * and the `while` loop c2407cf7d22d put into folio_wait_writeback.
 *
 * Two kinds of scenario, both built on writeback.ts (`folioEndWriteback` with its `delayNs` and
 * the era switches `endWritebackTakesRef` / `waitWritebackLoops`, `writeCachePages` with its
 * BUG_ON(PageWriteback)), truncate.ts and the block device:
 *
 * - small worlds for exhaustive exploration (verdicts): {@link wbReuseRace} (Hugh's race: the
 *   frame is truncated, freed and reused during δ, and the stale wake reaches the new use's
 *   fsync) and {@link wbRestartRace} (the folio stays, but writeback is started again under the
 *   folio lock during δ);
 * - a randomized stress world ({@link runWbRace}): files whose single page is written, flushed,
 *   fsync'ed and truncated by independent tasks with exponential think times, frames freed by
 *   truncation and reallocated at once by an allocator under pressure (every other frame is
 *   taken), write bios ending on their own task (another CPU) with the window δ. It counts
 *   violations per 10⁶ writeback completions: BUG_ON(PageWriteback), bad page state (a folio
 *   freed under writeback), and ends whose frame was freed during δ (the end touched a freed
 *   struct page: the VM_BUG_ON(PageTail) half of 073861ed77b6).
 *
 * Not a kernel model itself; it composes lib/mm. The end-of-I/O path runs as its own task per
 * folio (the completion interrupt on another CPU), so a long δ does not hold up the device.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import { Engine, type Process } from "../sim/engine.ts";
import type { Setup } from "../sim/explore.ts";
import { Latency } from "../sim/latency.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import {
  AddressSpace,
  filemapAddFolio,
  filemapGetEntry,
  filemapRemoveFolio,
  type WritebackControl,
} from "../mm/address_space.ts";
import { type Bio, BlockDevice, inodeToBdi } from "../mm/block_device.ts";
import {
  folioAlloc,
  folioLock,
  folioPut,
  folioTryGet,
  folioTrylock,
  folioUnlock,
} from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import { Mm } from "../mm/mm.ts";
import { truncateInodePagesRange } from "../mm/truncate.ts";
import {
  addLockedFolio,
  grid,
  lockCachedFolio,
  logSweep,
  Pressure,
  runToCompletions,
  spawnEvery,
  takeEveryFrame,
} from "./_thread003_common.ts";
import {
  doWritepages,
  filemapWriteAndWaitRange,
  folioClearDirtyForIo,
  folioEndWriteback,
  folioMarkDirty,
  folioStartWriteback,
  folioWaitWriteback,
  WBC_END_MAX,
  writebackControl,
  writebackStats,
  writeCachePages,
} from "../mm/writeback.ts";

/**
 * One of the four designs: {no ref, ref} × {if-wait, while-wait}.
 *
 * @example
 * ```ts
 * import { type RefWaitVariant, refWaitLabel, runWbRace } from "@mmsim/mmsim";
 * const v5_11: RefWaitVariant = { ref: true, loop: true }; // 073861ed77b6 + c2407cf7d22d
 * const r = runWbRace({ ...v5_11, delayNs: 10_000, completions: 500 });
 * if (r.variant !== refWaitLabel(v5_11) || r.violationsPerMillion !== 0) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export interface RefWaitVariant {
  /** The end of I/O holds a folio reference across clear + δ + wake (073861ed77b6). */
  ref: boolean;
  /** Waiters loop `while` the bit is set (c2407cf7d22d); false: `if` set, wait once. */
  loop: boolean;
}

/**
 * The four variants in plot order: (no ref, if) = v5.9, (no ref, while), (ref, if) = v5.10,
 * (ref, while) = v5.11+.
 *
 * @example
 * ```ts
 * import { REF_WAIT_VARIANTS, refWaitLabel } from "@mmsim/mmsim";
 * if (refWaitLabel(REF_WAIT_VARIANTS[3]!) !== "ref + while") throw new Error();
 * ```
 */
export const REF_WAIT_VARIANTS: readonly RefWaitVariant[] = [
  { ref: false, loop: false },
  { ref: false, loop: true },
  { ref: true, loop: false },
  { ref: true, loop: true },
];

/**
 * "no ref + if", "ref + while", …
 *
 * @example
 * ```ts
 * import { refWaitLabel } from "@mmsim/mmsim";
 * if (refWaitLabel({ ref: false, loop: false }) !== "no ref + if") throw new Error();
 * ```
 */
export function refWaitLabel(v: RefWaitVariant): string {
  return `${v.ref ? "ref" : "no ref"} + ${v.loop ? "while" : "if"}`;
}

function wbEra(v: RefWaitVariant) {
  return { endWritebackTakesRef: v.ref, waitWritebackLoops: v.loop };
}

/** A page-cache folio of `mapping` at `index`, uptodate, held only by the page cache. */
function cacheFolio(mm: Mm, mapping: AddressSpace, index: number): number {
  const f = folioAlloc(mm, 0);
  if (f < 0 || !filemapAddFolio(mm, mapping, f, index).ok) {
    throw new Error(`cacheFolio: cannot add a folio at index ${index}`);
  }
  mm.mem.setFlag(f, PG.uptodate);
  folioPut(mm, f);
  return f;
}

/** ->writepage that starts writeback and never completes it. */
// deno-lint-ignore require-yield
function* startOnly(mm: Mm, folio: number): Process<number> {
  folioStartWriteback(mm, folio);
  folioUnlock(mm, folio);
  return 0;
}

/** At t = 100 ns, the end of writeback of `folio` with δ = a preemption point. */
function spawnEndIo(env: Engine, name: string, mm: Mm, folio: number): void {
  env.spawn(name, function* (env) {
    yield env.sleep(100);
    yield* folioEndWriteback(mm, folio, { delayNs: 0 });
  });
}

/** Once `ready()`, fsync `mapping` (WB_SYNC_ALL write_cache_pages) with {@link startOnly}. */
function spawnFsync(
  env: Engine,
  name: string,
  mm: Mm,
  mapping: AddressSpace,
  q: WaitQueue,
  ready: () => boolean,
): void {
  env.spawn(name, function* (env) {
    yield* waitEvent(env, q, ready);
    const wbc = writebackControl({ syncMode: "WB_SYNC_ALL" });
    yield* writeCachePages(mm, mapping, wbc, (folio) => startOnly(mm, folio));
  });
}

/**
 * C3.1 in a small world, for exhaustive exploration: frame F is the only page of file A, under
 * writeback. At t = 100 ns its end of I/O (δ = a preemption point) and truncate(A) run; a
 * writer of file B waits for a free frame (every other frame is taken), gets F when truncation
 * frees it, dirties it and starts a writeback of B that completes much later; fsync(B)
 * (WB_SYNC_ALL write_cache_pages) then waits on F's writeback. Labels: the violation
 * "BUG_ON(PageWriteback)" and "folio_end_writeback: frame freed during δ".
 *
 * @example
 * ```ts
 * import { explore, exhaustive, wbReuseRace } from "@mmsim/mmsim";
 * const r = explore(wbReuseRace({ ref: true, loop: true }), { search: exhaustive() });
 * if (r.verdicts.violation !== "Never") throw new Error("6.12 is safe");
 * ```
 */
export function wbReuseRace(v: RefWaitVariant): Setup {
  return (env: Engine) => {
    const mm = new Mm(env, { memory: { nrFrames: 64 }, era: wbEra(v) });
    const a = AddressSpace.create(mm, { name: "A" });
    const b = AddressSpace.create(mm, { name: "B" });
    const f = cacheFolio(mm, a, 0);
    folioMarkDirty(mm, f);
    folioTrylock(mm, f);
    folioClearDirtyForIo(mm, f);
    folioStartWriteback(mm, f);
    folioUnlock(mm, f);
    const nextFreedFrame = takeEveryFrame(mm);
    const reused = new WaitQueue("B dirty under writeback");
    let bReady = false;
    spawnEndIo(env, "end_io(A)", mm, f);
    env.spawn("truncate(A)", function* (env) {
      yield env.sleep(100);
      if (!folioTryGet(mm, f)) return;
      yield* folioLock(mm, f);
      yield* folioWaitWriteback(mm, f);
      filemapRemoveFolio(mm, f);
      folioUnlock(mm, f);
      folioPut(mm, f);
    });
    env.spawn("write(B)", function* (env) {
      const g = yield* nextFreedFrame();
      env.sometimes("frame reused", g === f);
      filemapAddFolio(mm, b, g, 0);
      mm.mem.setFlag(g, PG.uptodate);
      folioMarkDirty(mm, g);
      yield* folioLock(mm, g);
      folioClearDirtyForIo(mm, g);
      folioStartWriteback(mm, g);
      folioMarkDirty(mm, g); // written again while its writeback is in flight
      folioUnlock(mm, g);
      folioPut(mm, g);
      bReady = true;
      reused.wakeUp(0);
      yield env.sleep(1000);
      yield* folioEndWriteback(mm, g);
    });
    spawnFsync(env, "fsync(B)", mm, b, reused, () => bReady);
  };
}

/**
 * C3.2 in a small world: the folio stays in the page cache (so a reference does not help), but
 * during δ the flusher finds it dirty and not under writeback and starts writeback again under
 * the folio lock; fsync (WB_SYNC_ALL) then waits on that second writeback and receives the
 * first one's wake. Labels: "BUG_ON(PageWriteback)", "writeback restarted in δ".
 *
 * @example
 * ```ts
 * import { explore, exhaustive, wbRestartRace } from "@mmsim/mmsim";
 * const r = explore(wbRestartRace({ ref: true, loop: false }), { search: exhaustive() });
 * if (r.verdicts["violation:BUG_ON(PageWriteback)"] !== "Sometimes") throw new Error("5.10 BUGs");
 * ```
 */
export function wbRestartRace(v: RefWaitVariant): Setup {
  return (env: Engine) => {
    const mm = new Mm(env, { memory: { nrFrames: 64 }, era: wbEra(v) });
    const a = AddressSpace.create(mm, { name: "A" });
    const f = cacheFolio(mm, a, 0);
    folioTrylock(mm, f);
    folioStartWriteback(mm, f);
    folioUnlock(mm, f);
    folioMarkDirty(mm, f);
    let done = false;
    const q = new WaitQueue("flusher done");
    spawnEndIo(env, "end_io", mm, f);
    env.spawn("flusher", function* (env) {
      yield env.sleep(100);
      yield* folioLock(mm, f);
      const again = !mm.mem.testFlag(f, PG.writeback);
      if (again) {
        folioClearDirtyForIo(mm, f);
        folioStartWriteback(mm, f);
      }
      folioUnlock(mm, f);
      folioMarkDirty(mm, f);
      env.sometimes("writeback restarted in δ", again);
      done = true;
      q.wakeUp(0);
      if (again) {
        yield env.sleep(1000);
        yield* folioEndWriteback(mm, f);
      }
    });
    spawnFsync(env, "fsync", mm, a, q, () => done);
  };
}

// ------------------------------------------------------------------------- stress world

/**
 * The randomized writeback stress world of {@link runWbRace}.
 *
 * @example
 * ```ts
 * import { WbRaceConfig } from "@mmsim/mmsim";
 * const c = WbRaceConfig.parse({ delayNs: 1000 });
 * if (c.files !== 4 || c.slackFrames !== 0 || c.delayNs !== 1000) throw new Error();
 * ```
 */
export interface WbRaceConfig {
  /** 073861ed77b6: the end of writeback holds a reference across δ. */
  ref: boolean;
  /** c2407cf7d22d: folio_wait_writeback loops while the bit is set. */
  loop: boolean;
  /** δ in ns between the clear of PG_writeback and the wake. */
  delayNs: number;
  /** Files, one page each. */
  files: number;
  /** Frames of the machine. */
  nrFrames: number;
  /** Free frames left when every other frame is taken (allocator pressure; 0 = a freed frame is the next one handed out). */
  slackFrames: number;
  /** Stop after this many folio_end_writeback calls. */
  completions: number;
  /** Write bio latency. */
  ioLatency: Latency;
  /** Mean think time of a file's writer between writes (exponential), ns. */
  writeIntervalNs: number;
  /** Mean time between WB_SYNC_NONE passes of the flusher over all files, ns. */
  flushIntervalNs: number;
  /** Mean time between fsyncs of a file, ns. */
  fsyncIntervalNs: number;
  /** Mean time between truncations of a file, ns. */
  truncateIntervalNs: number;
  /** Seed. */
  seed: number;
}

/**
 * Input of {@link WbRaceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { runWbRace, WbRaceConfig, type WbRaceConfigInput } from "@mmsim/mmsim";
 * const input: WbRaceConfigInput = { ref: true, loop: true, delayNs: 10_000, completions: 500 };
 * if (WbRaceConfig.parse(input).files !== 4) throw new Error("default: 4 one-page files");
 * const r = runWbRace(input);
 * if (r.completions < 500 || r.bugOn !== 0 || r.exhausted) throw new Error(JSON.stringify(r));
 * ```
 */
export type WbRaceConfigInput = Partial<WbRaceConfig>;

const wbRaceSchema = z.object({
  ref: z.boolean().default(false),
  loop: z.boolean().default(false),
  delayNs: z.number().int().min(0).default(0),
  files: z.number().int().min(1).default(4),
  nrFrames: z.number().int().min(16).default(1024),
  slackFrames: z.number().int().min(0).default(0),
  completions: z.number().int().positive().default(20_000),
  ioLatency: zodOf(Latency).default({ kind: "exponential", meanNs: 20_000 }),
  writeIntervalNs: z.number().positive().default(5_000),
  flushIntervalNs: z.number().positive().default(10_000),
  fsyncIntervalNs: z.number().positive().default(20_000),
  truncateIntervalNs: z.number().positive().default(40_000),
  seed: z.number().int().default(1),
});
const _wbRaceTypes: Same<z.output<typeof wbRaceSchema>, WbRaceConfig> = true;
void _wbRaceTypes;

/** The {@link WbRaceConfig} schema. */
export const WbRaceConfig: ConfigSchema<WbRaceConfig, WbRaceConfigInput> = defineConfig(
  "WbRaceConfig",
  wbRaceSchema,
);

/**
 * What one {@link runWbRace} measured.
 *
 * @example
 * ```ts
 * import { runWbRace, type WbRaceResult } from "@mmsim/mmsim";
 * // v5.9: no reference across δ, and waiters that wait once.
 * const r: WbRaceResult = runWbRace({ ref: false, loop: false, delayNs: 1e4, completions: 500 });
 * // staleWakes are a part of freedDuringDelay, counted once.
 * const all = r.bugOn + r.badPage + r.freedDuringDelay + r.other;
 * if (Math.abs(r.violationsPerMillion - (all / r.completions) * 1e6) > 1e-6) throw new Error();
 * if (r.staleWakes > r.freedDuringDelay || r.variant !== "no ref + if") throw new Error();
 * ```
 */
export interface WbRaceResult {
  /** The variant label ("no ref + if" …). */
  variant: string;
  /** δ, ns. */
  delayNs: number;
  /** folio_end_writeback calls. */
  completions: number;
  /** BUG_ON(PageWriteback) in write_cache_pages (a wait returned with the bit set). */
  bugOn: number;
  /** "Bad page state": a folio freed under writeback (truncated after an early wake). */
  badPage: number;
  /** Ends whose frame was freed or reused during δ (the end touched a freed frame). */
  freedDuringDelay: number;
  /** Of those, wakes issued with PG_waiters set (reaching the frame's next use). */
  staleWakes: number;
  /** Follow-on violations (the end of a writeback whose folio was freed, …). */
  other: number;
  /** All of the above per 10⁶ completions. */
  violationsPerMillion: number;
  /** Frames freed per ms of simulated time. */
  freesPerMs: number;
  /** Mean time from a frame's free to its reallocation, ns (page reuse). */
  meanReuseNs: number;
  /** Simulated time, ns. */
  simNs: number;
  /** True if the run ended early because bad pages had leaked every frame. */
  exhausted: boolean;
}

/**
 * Run the writeback stress world once (see the module doc) and count the violations.
 *
 * @example
 * ```ts
 * import { runWbRace } from "@mmsim/mmsim";
 * const r = runWbRace({ ref: true, loop: true, delayNs: 10_000, completions: 2000 });
 * if (r.completions < 2000 || r.violationsPerMillion !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export function runWbRace(input: WbRaceConfigInput = {}): WbRaceResult {
  const c = WbRaceConfig.parse(input);
  const env = new Engine({ seed: c.seed });
  const mm = new Mm(env, { memory: { nrFrames: c.nrFrames }, era: wbEra(c) });
  const bdev = new BlockDevice(mm, { latency: c.ioLatency, nrQueues: 2 * c.files });
  const files: AddressSpace[] = [];
  for (let i = 0; i < c.files; i++) {
    files.push(
      AddressSpace.create(mm, { name: `file${i}`, aops: { writepages } }),
    );
    bdev.attach(files[i]!);
  }
  // Allocator pressure: take every frame but `files + slackFrames`.
  const pressure = new Pressure(mm, c.files + c.slackFrames);

  /** ->writepages: mpage_writepages with each bio ending on its own task (another CPU). */
  function* writepages(m: Mm, mapping: AddressSpace, wbc: WritebackControl): Process<number> {
    const dev = inodeToBdi(m, mapping);
    return yield* writeCachePages(m, mapping, wbc, function* (folio) {
      const bio = dev.newBio(mapping);
      folioStartWriteback(m, folio, bio);
      dev.bioAddFolio(bio, folio);
      bio.endIo = endIo;
      folioUnlock(m, folio);
      dev.submitBio(bio);
      return 0;
    });
  }
  function* endIo(bio: Bio): Process<void> {
    for (const folio of bio.folios) {
      env.spawn("end_io", function* () {
        yield* folioEndWriteback(mm, folio, { delayNs: c.delayNs });
      });
    }
    yield* [];
  }

  for (const [i, m] of files.entries()) {
    spawnEvery(env, `writer${i}`, c.writeIntervalNs, function* () {
      if (filemapGetEntry(m, 0) >= 0) {
        yield* lockCachedFolio(mm, m, 0, function* (f) {
          folioMarkDirty(mm, f);
        });
        return;
      }
      const g = yield* pressure.alloc();
      if (!addLockedFolio(mm, m, g, 0)) return;
      mm.mem.setFlag(g, PG.uptodate);
      folioMarkDirty(mm, g);
      folioUnlock(mm, g);
      folioPut(mm, g);
    });
    spawnEvery(
      env,
      `fsync${i}`,
      c.fsyncIntervalNs,
      () => filemapWriteAndWaitRange(mm, m, 0, WBC_END_MAX),
    );
    spawnEvery(
      env,
      `truncate${i}`,
      c.truncateIntervalNs,
      () => truncateInodePagesRange(mm, m, 0, Infinity),
    );
  }
  spawnEvery(env, "flusher", c.flushIntervalNs, function* () {
    for (const m of files) {
      yield* doWritepages(mm, m, writebackControl({ syncMode: "WB_SYNC_NONE" }));
    }
  });
  const stats = writebackStats(mm);
  const run = runToCompletions(env, c.completions, () => stats.endWriteback);
  let bugOn = 0, badPage = 0, other = 0;
  for (const v of run.violations) {
    if (v.name === "BUG_ON(PageWriteback)") bugOn++;
    else if (v.name === "bad_page") badPage++;
    else other++;
  }
  const n = Math.max(1, stats.endWriteback);
  const all = bugOn + badPage + other + stats.freedDuringDelay;
  return {
    variant: refWaitLabel(c),
    delayNs: c.delayNs,
    completions: stats.endWriteback,
    bugOn,
    badPage,
    freedDuringDelay: stats.freedDuringDelay,
    staleWakes: stats.staleWakes,
    other,
    violationsPerMillion: (all / n) * 1e6,
    freesPerMs: pressure.freesPerMs(run.nowNs),
    meanReuseNs: pressure.meanReuseNs,
    simNs: run.nowNs,
    exhausted: pressure.exhausted,
  };
}

/**
 * δ values of the sweeps: 10 ns … 1 ms, half a decade apart (quick: a decade apart).
 *
 * @example
 * ```ts
 * import { delaySweepNs } from "@mmsim/mmsim";
 * if (delaySweepNs(true)[0] !== 10 || delaySweepNs(true).at(-1) !== 1_000_000) throw new Error();
 * ```
 */
export function delaySweepNs(quick: boolean): number[] {
  return logSweep(1, 6, quick);
}

/**
 * Plot A's data: {@link runWbRace} for every variant × δ.
 *
 * @example
 * ```ts
 * import { wbRaceSweep } from "@mmsim/mmsim";
 * const pts = wbRaceSweep({ delaysNs: [1000], completions: 500, seed: 1 });
 * if (pts.length !== 4) throw new Error("four variants");
 * ```
 */
export function wbRaceSweep(opts: {
  delaysNs: readonly number[];
  completions: number;
  seed: number;
  variants?: readonly RefWaitVariant[];
  config?: WbRaceConfigInput;
}): WbRaceResult[] {
  return grid(opts.variants ?? REF_WAIT_VARIANTS, opts.delaysNs, (v, delayNs) =>
    runWbRace({
      ...opts.config,
      ...v,
      delayNs,
      completions: opts.completions,
      seed: opts.seed,
    }));
}
