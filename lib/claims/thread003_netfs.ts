/**
 * Thread 003 scenarios for PG_private_2 / PG_fscache (claim C3.3): the same clear–δ–wake
 * pattern as PG_writeback, on the netfs model of lib/fs/netfs.ts, with and without the folio
 * reference paired with the bit, with `if` and `while` waiters, and with a netfs whose
 * release/invalidate skip the PG_private_2 waits (a freeing path that skips them).
 *
 * - {@link netfsReuseRace}: a small world for exhaustive exploration. File A's folio F is read
 *   from the server and copied to the cache; at the end of the cache write (δ = 50 ns) file A is
 *   truncated; a reader of file B waits for a free frame (every other frame is taken), gets F
 *   when it is freed, and starts its own cache write; a writer of B then waits for that write
 *   under the folio lock before starting another (afs's write to the cache) and gets A's wake.
 * - {@link runNetfsRace}: a randomized stress world: files whose page is read, re-written to
 *   the cache, truncated and reclaimed by independent tasks, frames reused at once under
 *   allocator pressure. It counts, per 10⁶ cache-write completions: violations
 *   (VM_BUG_ON_FOLIO when a start finds the bit still set, bad page state when a folio is freed
 *   with PG_private_2), use-after-free (a completion into a freed or reused frame, a wake after
 *   the frame was freed during δ) and lost waits.
 *
 * Not a kernel model itself; it composes lib/fs/netfs.ts and lib/mm.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import { Engine } from "../sim/engine.ts";
import type { Setup } from "../sim/explore.ts";
import { Latency } from "../sim/latency.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import { type AddressSpace, filemapGetEntry } from "../mm/address_space.ts";
import { folioPut } from "../mm/folio.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import { Mm } from "../mm/mm.ts";
import { truncateInodePagesRange } from "../mm/truncate.ts";
import { scanControl, shrinkInactiveList } from "../mm/vmscan.ts";
import { Netfs, type NetfsConfigInput, private2Stats } from "../fs/netfs.ts";
import {
  addLockedFolio,
  grid,
  Pressure,
  readIn,
  runToCompletions,
  spawnEvery,
  takeEveryFrame,
  writeIndexToCache,
} from "./_thread003_common.ts";
import { refWaitLabel, type RefWaitVariant } from "./thread003_wb.ts";

/**
 * A PG_private_2 design: {no ref, ref} × {if, while}, and whether release/invalidate wait.
 *
 * @example
 * ```ts
 * import { type Private2Variant, private2Label, runNetfsRace } from "@mmsim/mmsim";
 * const v5_13: Private2Variant = { ref: true, loop: true, releaseWaits: true };
 * const r = runNetfsRace({ ...v5_13, delayNs: 10_000, completions: 500 });
 * if (r.variant !== private2Label(v5_13)) throw new Error(r.variant);
 * if (r.uafPerMillion !== 0 || r.violationsPerMillion !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export interface Private2Variant extends RefWaitVariant {
  /** netfs_release_folio / netfs_invalidate_folio wait for PG_private_2 (false: v6.10 [U]). */
  releaseWaits: boolean;
}

/**
 * "no ref + if", or "ref + while, waits skipped" when release/invalidate do not wait.
 *
 * @example
 * ```ts
 * import { private2Label } from "@mmsim/mmsim";
 * if (private2Label({ ref: true, loop: true, releaseWaits: false }) !== "ref + while, waits skipped") throw new Error();
 * ```
 */
export function private2Label(v: Private2Variant): string {
  return refWaitLabel(v) + (v.releaseWaits ? "" : ", waits skipped");
}

/**
 * The six designs of Plot B: the four {ref} × {wait} with the waits in release/invalidate, and
 * {no ref, ref} with `while` waiters and a freeing path that skips the waits.
 *
 * @example
 * ```ts
 * import { PRIVATE2_VARIANTS } from "@mmsim/mmsim";
 * if (PRIVATE2_VARIANTS.length !== 6) throw new Error();
 * ```
 */
export const PRIVATE2_VARIANTS: readonly Private2Variant[] = [
  { ref: false, loop: false, releaseWaits: true },
  { ref: false, loop: true, releaseWaits: true },
  { ref: true, loop: false, releaseWaits: true },
  { ref: true, loop: true, releaseWaits: true },
  { ref: false, loop: true, releaseWaits: false },
  { ref: true, loop: true, releaseWaits: false },
];

function netfsOptions(v: Private2Variant): NetfsConfigInput {
  return {
    private2Ref: v.ref ? "ref" : "noRef",
    private2Wait: v.loop ? "while" : "if",
    releaseWaits: v.releaseWaits,
  };
}

/**
 * C3.3 in a small world, for exhaustive exploration (see the module doc). File A's cache write
 * ends at t = 110 ns (clear, δ = 50 ns, wake); truncate(A) runs at t = 110 ns. Labels: the
 * violations `use-after-free`, `VM_BUG_ON_FOLIO(folio_test_private_2)`, `bad_page`, and "frame
 * reused by B". Explore with `stopOnViolation: false` to see every violation of a run.
 *
 * @example
 * ```ts
 * import { explore, exhaustive, netfsReuseRace } from "@mmsim/mmsim";
 * const r = explore(netfsReuseRace({ ref: true, loop: true, releaseWaits: true }), { search: exhaustive() });
 * if (r.verdicts.violation !== "Never") throw new Error("the reference and the loop: safe");
 * ```
 */
export function netfsReuseRace(v: Private2Variant): Setup {
  return (env: Engine) => {
    const mm = new Mm(env, { memory: { nrFrames: 64 }, era: { private2TakesRef: v.ref } });
    const fixed = (ns: number): Latency => ({ kind: "fixed", ns });
    const common = { ...netfsOptions(v), serverLatency: fixed(10), endDelayNs: 50 };
    const fsA = new Netfs(mm, { ...common, name: "netfsA", cacheWriteLatency: fixed(100) });
    const fsB = new Netfs(mm, { ...common, name: "netfsB", cacheWriteLatency: fixed(100_000) });
    const a = fsA.createFile({ name: "A", fillPages: 1 });
    const b = fsB.createFile({ name: "B", fillPages: 1 });
    const [f] = readIn(mm, fsA, a, 1);
    const nextFreedFrame = takeEveryFrame(mm);
    env.spawn("truncate(A)", function* (env) {
      yield env.sleep(110);
      yield* truncateInodePagesRange(mm, a, 0, Infinity);
    });
    env.spawn("read(B)", function* (env) {
      const g = yield* nextFreedFrame();
      env.sometimes("frame reused by B", g === f);
      addLockedFolio(mm, b, g, 0);
      folioPut(mm, g);
      fsB.submitRead(b, [g]);
    });
    env.spawn("write to cache(B)", function* (env) {
      yield env.sleep(130);
      yield* writeIndexToCache(mm, fsB, b, 0);
    });
  };
}

// ------------------------------------------------------------------------- stress world

/**
 * The randomized PG_private_2 stress world of {@link runNetfsRace}.
 *
 * @example
 * ```ts
 * import { NetfsRaceConfig } from "@mmsim/mmsim";
 * const c = NetfsRaceConfig.parse({});
 * if (!c.releaseWaits || c.files !== 4 || c.reclaimIntervalNs !== 50_000) throw new Error();
 * ```
 */
export interface NetfsRaceConfig {
  /** PG_private_2 holds a folio reference (v5.13+). */
  ref: boolean;
  /** folio_wait_private_2 loops while the bit is set (v5.13+). */
  loop: boolean;
  /** netfs release/invalidate wait for PG_private_2 (false: a freeing path that skips them). */
  releaseWaits: boolean;
  /** δ in ns between the clear of PG_private_2 and the wake. */
  delayNs: number;
  /** Files, one page each. */
  files: number;
  /** Frames of the machine. */
  nrFrames: number;
  /** Free frames left when every other frame is taken (allocator pressure). */
  slackFrames: number;
  /** Stop after this many cache-write completions. */
  completions: number;
  /** Server read latency. */
  serverLatency: Latency;
  /** Cache write latency. */
  cacheWriteLatency: Latency;
  /** Mean think time of a file's reader (exponential), ns. */
  readIntervalNs: number;
  /** Mean time between writes of a file's folio to the cache, ns. */
  rewriteIntervalNs: number;
  /** Mean time between truncations of a file, ns. */
  truncateIntervalNs: number;
  /** Mean time between reclaim passes (shrink_inactive_list, 32 pages), ns; 0 = none. */
  reclaimIntervalNs: number;
  /** Seed. */
  seed: number;
}

/**
 * Input of {@link NetfsRaceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { NetfsRaceConfig, type NetfsRaceConfigInput, runNetfsRace } from "@mmsim/mmsim";
 * const input: NetfsRaceConfigInput = { ref: true, loop: true, delayNs: 10_000, completions: 500 };
 * if (NetfsRaceConfig.parse(input).reclaimIntervalNs !== 50_000) throw new Error("defaults");
 * const r = runNetfsRace(input);
 * // With the reference, each cache write costs a folio_get and a folio_put.
 * if (Math.round(r.refOpsPerWrite) !== 2 || r.completions < 500) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export type NetfsRaceConfigInput = Partial<NetfsRaceConfig>;

const netfsRaceSchema = z.object({
  ref: z.boolean().default(false),
  loop: z.boolean().default(false),
  releaseWaits: z.boolean().default(true),
  delayNs: z.number().int().min(0).default(0),
  files: z.number().int().min(1).default(4),
  nrFrames: z.number().int().min(16).default(1024),
  slackFrames: z.number().int().min(0).default(0),
  completions: z.number().int().positive().default(20_000),
  serverLatency: zodOf(Latency).default({ kind: "exponential", meanNs: 20_000 }),
  cacheWriteLatency: zodOf(Latency).default({ kind: "exponential", meanNs: 20_000 }),
  readIntervalNs: z.number().positive().default(5_000),
  rewriteIntervalNs: z.number().positive().default(10_000),
  truncateIntervalNs: z.number().positive().default(40_000),
  reclaimIntervalNs: z.number().min(0).default(50_000),
  seed: z.number().int().default(1),
});
const _netfsRaceTypes: Same<z.output<typeof netfsRaceSchema>, NetfsRaceConfig> = true;
void _netfsRaceTypes;

/** The {@link NetfsRaceConfig} schema. */
export const NetfsRaceConfig: ConfigSchema<NetfsRaceConfig, NetfsRaceConfigInput> = defineConfig(
  "NetfsRaceConfig",
  netfsRaceSchema,
);

/**
 * What one {@link runNetfsRace} measured.
 *
 * @example
 * ```ts
 * import { type NetfsRaceResult, runNetfsRace } from "@mmsim/mmsim";
 * // The Feb 2021 posting: no reference with the bit, `if` waiters.
 * const r: NetfsRaceResult = runNetfsRace({ delayNs: 10_000, completions: 500 });
 * const perM = (k: number) => (k / r.completions) * 1e6;
 * if (Math.abs(r.uafPerMillion - perM(r.staleCompletions + r.staleWakes)) > 1e-6) {
 *   throw new Error(JSON.stringify(r));
 * }
 * if (Math.abs(r.violationsPerMillion - perM(r.startBug + r.badPage + r.other)) > 1e-6) {
 *   throw new Error(JSON.stringify(r));
 * }
 * if (r.refOpsPerWrite !== 0 || r.variant !== "no ref + if") throw new Error("no references");
 * ```
 */
export interface NetfsRaceResult {
  /** The variant label. */
  variant: string;
  /** δ, ns. */
  delayNs: number;
  /** Cache-write completions. */
  completions: number;
  /** VM_BUG_ON_FOLIO(folio_test_private_2): a start found the bit still set. */
  startBug: number;
  /** Bad page state: a folio freed with PG_private_2 set. */
  badPage: number;
  /** Other violations except use-after-free and lost waits. */
  other: number;
  /** Completions into a freed or reused frame. */
  staleCompletions: number;
  /** Wakes after the frame was freed or reused during δ. */
  staleWakes: number;
  /** Lost waits (a waiter found the bit clear while the write went on in another folio). */
  lostWaits: number;
  /** (startBug + badPage + other) per 10⁶ completions. */
  violationsPerMillion: number;
  /** (staleCompletions + staleWakes) per 10⁶ completions. */
  uafPerMillion: number;
  /** Lost waits per 10⁶ completions. */
  lostWaitsPerMillion: number;
  /** folio_get/folio_put calls of start and end per start–end pair. */
  refOpsPerWrite: number;
  /** Frames freed per ms of simulated time. */
  freesPerMs: number;
  /** Mean time from a frame's free to its reallocation, ns. */
  meanReuseNs: number;
  /** True if bad pages leaked every frame and the run ended early. */
  exhausted: boolean;
}

/**
 * Run the PG_private_2 stress world once (see the module doc).
 *
 * @example
 * ```ts
 * import { runNetfsRace } from "@mmsim/mmsim";
 * const r = runNetfsRace({ ref: true, loop: true, delayNs: 10_000, completions: 1000 });
 * if (r.uafPerMillion !== 0 || r.violationsPerMillion !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export function runNetfsRace(input: NetfsRaceConfigInput = {}): NetfsRaceResult {
  const c = NetfsRaceConfig.parse(input);
  const env = new Engine({ seed: c.seed });
  const mm = new Mm(env, { memory: { nrFrames: c.nrFrames }, era: { private2TakesRef: c.ref } });
  const fs = new Netfs(mm, {
    ...netfsOptions(c),
    serverLatency: c.serverLatency,
    cacheWriteLatency: c.cacheWriteLatency,
    endDelayNs: c.delayNs,
  });
  const files: AddressSpace[] = [];
  for (let i = 0; i < c.files; i++) files.push(fs.createFile({ name: `file${i}`, fillPages: 1 }));
  const pressure = new Pressure(mm, c.files + c.slackFrames);
  for (const [i, m] of files.entries()) {
    spawnEvery(env, `reader${i}`, c.readIntervalNs, function* () {
      if (filemapGetEntry(m, 0) >= 0) return;
      const g = yield* pressure.alloc();
      if (!addLockedFolio(mm, m, g, 0)) return;
      folioPut(mm, g); // readahead holds no reference, only the lock
      fs.submitRead(m, [g]);
    });
    spawnEvery(
      env,
      `cachewriter${i}`,
      c.rewriteIntervalNs,
      () => writeIndexToCache(mm, fs, m, 0),
    );
    spawnEvery(
      env,
      `truncate${i}`,
      c.truncateIntervalNs,
      () => truncateInodePagesRange(mm, m, 0, Infinity),
    );
  }
  if (c.reclaimIntervalNs > 0) {
    spawnEvery(
      env,
      "reclaim",
      c.reclaimIntervalNs,
      () => shrinkInactiveList(mm, 32, scanControl({ gfpMask: GFP_KERNEL })),
    );
  }
  const run = runToCompletions(env, c.completions, () => fs.stats.cacheWritesDone);
  let startBug = 0, badPage = 0, other = 0;
  for (const v of run.violations) {
    if (v.name === "VM_BUG_ON_FOLIO(folio_test_private_2)") startBug++;
    else if (v.name === "bad_page") badPage++;
    else if (v.name !== "use-after-free" && v.name !== "lost wait") other++;
  }
  const s = private2Stats(mm);
  const n = Math.max(1, fs.stats.cacheWritesDone);
  const perM = (k: number) => (k / n) * 1e6;
  return {
    variant: private2Label(c),
    delayNs: c.delayNs,
    completions: fs.stats.cacheWritesDone,
    startBug,
    badPage,
    other,
    staleCompletions: s.staleCompletions,
    staleWakes: s.staleWakes,
    lostWaits: fs.stats.lostWaits,
    violationsPerMillion: perM(startBug + badPage + other),
    uafPerMillion: perM(s.staleCompletions + s.staleWakes),
    lostWaitsPerMillion: perM(fs.stats.lostWaits),
    refOpsPerWrite: s.refOps / Math.max(1, (s.started + s.ended) / 2),
    freesPerMs: pressure.freesPerMs(run.nowNs),
    meanReuseNs: pressure.meanReuseNs,
    exhausted: pressure.exhausted,
  };
}

/**
 * Plot B's data: {@link runNetfsRace} for every variant × δ.
 *
 * @example
 * ```ts
 * import { netfsRaceSweep, PRIVATE2_VARIANTS } from "@mmsim/mmsim";
 * const pts = netfsRaceSweep({ delaysNs: [1000], completions: 300, seed: 1, variants: PRIVATE2_VARIANTS.slice(0, 2) });
 * if (pts.length !== 2) throw new Error();
 * ```
 */
export function netfsRaceSweep(opts: {
  delaysNs: readonly number[];
  completions: number;
  seed: number;
  variants?: readonly Private2Variant[];
  config?: NetfsRaceConfigInput;
}): NetfsRaceResult[] {
  return grid(opts.variants ?? PRIVATE2_VARIANTS, opts.delaysNs, (v, delayNs) =>
    runNetfsRace({
      ...opts.config,
      ...v,
      delayNs,
      completions: opts.completions,
      seed: opts.seed,
    }));
}
