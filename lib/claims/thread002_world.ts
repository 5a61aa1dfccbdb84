/**
 * Thread 002 scenarios (CLAIMS.md): one file page A shared with a device whose threads load and
 * store it, while CPU tasks read(2) and write(2) it, load and store it through a shared
 * mapping, fsync it, read it with direct I/O (and optionally splice it); an oracle follows the
 * latest version and counts stale reads and stale writebacks, and a final task syncs and checks
 * that storage holds the latest version. Explored under random and PCT schedules for each
 * protocol variant (claims C2.1, C2.2, C2.5), plus a direct-I/O world for C2.4.
 *
 * Not a kernel model itself; it composes lib/mm, lib/fs/simple_fs.ts and lib/dev.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { Engine, Process, Task } from "../sim/engine.ts";
import {
  explore,
  type ExploreResult,
  pctSearch,
  randomSearch,
  type Setup,
} from "../sim/explore.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { BlockDevice } from "../mm/block_device.ts";
import { Mm } from "../mm/mm.ts";
import { mmapRegion, mmapState, userLoad, userStore, type Vma } from "../mm/mmap.ts";
import { SimpleFs } from "../fs/simple_fs.ts";
import { deviceLoad, deviceStore, HmmDevice } from "../dev/hmm.ts";
import { HmmFile, type HmmStrategy } from "../dev/hmm_file.ts";
import { HmmOracle, installHmmChecker } from "../dev/hmm_check.ts";
import { filemapSpliceRead, Pipe, pipeRead } from "../dev/splice.ts";

/**
 * The protocol variants of Figure B, in plot order: Jan Kara's full protocol and the three
 * with one part switched off.
 *
 * @example
 * ```ts
 * import { HMM_VARIANTS } from "@mmsim/mmsim";
 * if (HMM_VARIANTS[0] !== "full" || HMM_VARIANTS.length !== 4) throw new Error();
 * ```
 */
export const HMM_VARIANTS: readonly HmmVariant[] = [
  "full",
  "no write notification",
  "no DIO invalidation",
  "no writeback hook",
];

/**
 * A protocol variant (see {@link HMM_VARIANTS}); "no read hook" is C2.5's negative control.
 *
 * @example
 * ```ts
 * import { buildHmmWorld, Engine, type HmmVariant } from "@mmsim/mmsim";
 * const protocol = (variant: HmmVariant) => buildHmmWorld(new Engine(), { variant }).hf.config;
 * if (protocol("no write notification").writeNotify || !protocol("full").writeNotify) {
 *   throw new Error("writeNotify");
 * }
 * if (protocol("no read hook").readHook || protocol("no DIO invalidation").dioInvalidation) {
 *   throw new Error("each variant switches one part off");
 * }
 * ```
 */
export type HmmVariant =
  | "full"
  | "no write notification"
  | "no DIO invalidation"
  | "no writeback hook"
  | "no read hook";

/**
 * The world of one exploration: who runs, how much, and which protocol.
 *
 * @example
 * ```ts
 * import { HmmWorldConfig } from "@mmsim/mmsim";
 * const c = HmmWorldConfig.parse({});
 * if (c.strategy !== "copy" || c.variant !== "full" || c.deviceWriters !== 2) throw new Error();
 * ```
 */
export interface HmmWorldConfig {
  /** Copy (Jan Kara), migrate or bounce (Jérôme Glisse), mirror (upstream); default "copy". */
  strategy: HmmStrategy;
  /** Protocol variant (default "full"). */
  variant: HmmVariant;
  /** Device threads that store (default 2). */
  deviceWriters: number;
  /** Device threads that load (default 1). */
  deviceReaders: number;
  /** Accesses per device thread (default 2). */
  deviceOps: number;
  /** A CPU task that loads, then stores, through a shared mapping (default true). */
  cpuMmap: boolean;
  /** read(2)s by a CPU reader (default 2). */
  cpuReads: number;
  /** A CPU task doing one write(2) (default true). */
  cpuWrite: boolean;
  /** A task doing one fsync(2) (default true). */
  fsync: boolean;
  /** A task doing one direct read (default true). */
  dioRead: boolean;
  /** A task splicing the page into a pipe and reading the pipe later (default false). */
  splice: boolean;
  /** Each task sleeps up to this long before each operation, in ns (default 20 µs). */
  maxThinkNs: number;
  /** Time a device access stays in flight (HmmDeviceConfig.accessNs; default 0). */
  deviceAccessNs: number;
  /** Install the illegal-state checker (C2.5): its rules become violations (default false). */
  illegalStateChecker: boolean;
  /** Record stale events as violations too, so explorations keep a replayable one (false). */
  staleAsViolations: boolean;
  /** Base page size (default 4 KiB). */
  pageSizeBytes: 4096 | 16384 | 65536;
}

/**
 * Input of {@link HmmWorldConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { buildHmmWorld, Engine, HmmWorldConfig, type HmmWorldConfigInput } from "@mmsim/mmsim";
 * const input: HmmWorldConfigInput = { strategy: "mirror", deviceWriters: 1, cpuMmap: false };
 * const c = HmmWorldConfig.parse(input);
 * if (c.deviceReaders !== 1 || c.variant !== "full" || c.cpuMmap) throw new Error("defaults");
 * if (buildHmmWorld(new Engine(), input).hf.config.strategy !== "mirror") throw new Error();
 * ```
 */
export type HmmWorldConfigInput = Partial<HmmWorldConfig>;

const worldSchema = z.object({
  strategy: z.enum(["copy", "migrate", "bounce", "mirror"]).default("copy"),
  variant: z.enum([
    "full",
    "no write notification",
    "no DIO invalidation",
    "no writeback hook",
    "no read hook",
  ]).default("full"),
  deviceWriters: z.number().int().min(0).default(2),
  deviceReaders: z.number().int().min(0).default(1),
  deviceOps: z.number().int().min(1).default(2),
  cpuMmap: z.boolean().default(true),
  cpuReads: z.number().int().min(0).default(2),
  cpuWrite: z.boolean().default(true),
  fsync: z.boolean().default(true),
  dioRead: z.boolean().default(true),
  splice: z.boolean().default(false),
  maxThinkNs: z.number().int().min(0).default(20_000),
  deviceAccessNs: z.number().int().min(0).default(0),
  illegalStateChecker: z.boolean().default(false),
  staleAsViolations: z.boolean().default(false),
  pageSizeBytes: z.union([z.literal(4096), z.literal(16384), z.literal(65536)]).default(4096),
});
const _worldTypes: Same<z.output<typeof worldSchema>, HmmWorldConfig> = true;
void _worldTypes;

/** The {@link HmmWorldConfig} schema. */
export const HmmWorldConfig: ConfigSchema<HmmWorldConfig, HmmWorldConfigInput> = defineConfig(
  "HmmWorldConfig",
  worldSchema,
);

/**
 * One built world: the engine's objects a run (or a test) inspects.
 *
 * @example
 * ```ts
 * import { buildHmmWorld, deviceStore, Engine, type HmmWorld } from "@mmsim/mmsim";
 * const env = new Engine();
 * const w: HmmWorld = buildHmmWorld(env);
 * env.spawn("t", function* () {
 *   yield* deviceStore(w.hf.dev, w.hf.mapping, 0, 77);
 *   const start = w.oracle.readStart();
 *   const r = yield* w.hf.read(0);
 *   if (r.ok) w.oracle.checkRead("read(2)", 0, r.value, start);
 * });
 * env.run();
 * if (w.oracle.events.reads !== 1 || w.oracle.events.staleReads !== 0) throw new Error("fresh");
 * if (w.vma.nrPages !== 1 || w.buf.nrPages !== 1 || w.ops.count !== 0) throw new Error();
 * ```
 */
export interface HmmWorld {
  /** The memory context. */
  mm: Mm;
  /** The shared file and its protocol. */
  hf: HmmFile;
  /** The freshness oracle. */
  oracle: HmmOracle;
  /** The shared mapping of the file (one page). */
  vma: Vma;
  /** A one-page anonymous buffer for direct I/O. */
  buf: Vma;
  /** Operations issued so far (reads, writes, loads, stores, fsyncs, DIOs, splices). */
  ops: { count: number };
  /** Splice reads whose pipe read failed with -EIO (the page was not uptodate). */
  spliceErrors: { count: number };
}

/**
 * Build the mm, file, device and protocol of a world on `env` (no tasks yet).
 *
 * @example
 * ```ts
 * import { Engine, buildHmmWorld } from "@mmsim/mmsim";
 * const w = buildHmmWorld(new Engine(), { strategy: "migrate" });
 * if (w.hf.config.strategy !== "migrate" || w.vma.nrPages !== 1) throw new Error();
 * ```
 */
export function buildHmmWorld(env: Engine, config: HmmWorldConfigInput = {}): HmmWorld {
  const c = HmmWorldConfig.parse(config);
  const mm = new Mm(env, { memory: { nrFrames: 256, pageSizeBytes: c.pageSizeBytes } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 2_000 } });
  const file = fs.createFile({ name: "shared file", sizePages: 1, fillPages: 1 });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 5_000 } }).attach(file);
  const dev = new HmmDevice(mm, { nrFrames: 16, accessNs: c.deviceAccessNs });
  const hf = new HmmFile(dev, file, {
    strategy: c.strategy,
    writeNotify: c.variant !== "no write notification",
    dioInvalidation: c.variant !== "no DIO invalidation",
    writebackHook: c.variant !== "no writeback hook",
    readHook: c.variant !== "no read hook",
  });
  const vma = mmapRegion(mm, { mapping: file, nrPages: 1, name: "cpu mmap" });
  const buf = mmapRegion(mm, { nrPages: 1, name: "dio buffer" });
  const oracle = new HmmOracle(hf, 1, { asViolations: c.staleAsViolations });
  if (c.illegalStateChecker) installHmmChecker(hf, 1);
  return { mm, hf, oracle, vma, buf, ops: { count: 0 }, spliceErrors: { count: 0 } };
}

/**
 * Per-execution results an exploration adds up.
 *
 * @example
 * ```ts
 * import { emptyTally, explore, hmmScenario, type HmmRunTally, randomSearch } from "@mmsim/mmsim";
 * const tally: HmmRunTally = emptyTally();
 * const search = randomSearch({ executions: 2, seed: 1 });
 * explore(hmmScenario({ deviceOps: 1 }, tally), { search });
 * const [zero, one, more] = tally.episodesByMkwrite;
 * if (tally.executions !== 2 || zero + one + more !== tally.writeEpisodes) throw new Error();
 * if (tally.staleReads !== 0 || tally.staleWritebacks !== 0) throw new Error("full protocol");
 * ```
 */
export interface HmmRunTally {
  /** Executions. */
  executions: number;
  /** Operations issued. */
  ops: number;
  /** Oracle events, summed. */
  staleReads: number;
  /** Stale writebacks plus lost writes, summed. */
  staleWritebacks: number;
  /** Two-writer episodes, summed. */
  twoWriters: number;
  /** Uptodate-but-not-latest episodes, summed. */
  uptodateNotLatest: number;
  /** Device write episodes, and by the number of write notifications [0, 1, ≥2]. */
  writeEpisodes: number;
  /** Episodes with 0, 1, ≥2 write notifications. */
  episodesByMkwrite: [number, number, number];
  /** Write notifications. */
  mkwrite: number;
  /** Device faults. */
  deviceFaults: number;
  /** CPU page faults on the shared mapping and the buffer. */
  cpuFaults: number;
  /** Page copies (both directions and bounce). */
  copies: number;
  /** Splice reads that got -EIO. */
  spliceErrors: number;
  /** Illegal-state violations (C2.5 checker), summed. */
  illegalState: number;
}

/**
 * An empty {@link HmmRunTally}.
 *
 * @example
 * ```ts
 * import { emptyTally } from "@mmsim/mmsim";
 * if (emptyTally().executions !== 0) throw new Error();
 * ```
 */
export function emptyTally(): HmmRunTally {
  return {
    executions: 0,
    ops: 0,
    staleReads: 0,
    staleWritebacks: 0,
    twoWriters: 0,
    uptodateNotLatest: 0,
    writeEpisodes: 0,
    episodesByMkwrite: [0, 0, 0],
    mkwrite: 0,
    deviceFaults: 0,
    cpuFaults: 0,
    copies: 0,
    spliceErrors: 0,
    illegalState: 0,
  };
}

const ILLEGAL = new Set(
  ["splice read", "generic writeback", "fault maps A", "generic read_folio"].map((r) =>
    `hmm: ${r}`
  ),
);

function* think(env: Engine, max: number): Process<void> {
  const ns = max > 0 ? env.current!.rng.int(max + 1) : 0;
  yield ns > 0 ? env.sleep(ns) : env.point();
}

/**
 * The exploration scenario: a setup for `explore` that builds the world, spawns the tasks and,
 * after each execution, adds its counts to `tally` (only executions, not replays, call it).
 *
 * @example
 * ```ts
 * import { emptyTally, explore, hmmScenario, randomSearch } from "@mmsim/mmsim";
 * const tally = emptyTally();
 * const r = explore(hmmScenario({ deviceOps: 1 }, tally), { search: randomSearch({ executions: 3, seed: 1 }) });
 * if (r.executions !== 3 || tally.executions !== 3 || tally.staleReads !== 0) throw new Error();
 * ```
 */
export function hmmScenario(config: HmmWorldConfigInput, tally: HmmRunTally): Setup {
  const c = HmmWorldConfig.parse(config);
  return (env) => {
    const w = buildHmmWorld(env, c);
    const { mm, hf, oracle, vma, buf, ops } = w;
    const file = hf.mapping, dev = hf.dev;
    const workers: Task[] = [];
    const spawn = (name: string, body: () => Process<void>) => workers.push(env.spawn(name, body));
    const read = function* (kind: string, op: () => Process<{ ok: boolean; value?: number }>) {
      const start = oracle.readStart();
      ops.count++;
      const r = yield* op();
      if (r.ok && r.value !== undefined) oracle.checkRead(kind, 0, r.value, start);
    };
    for (let k = 0; k < c.deviceWriters; k++) {
      spawn(`gpu-w${k}`, function* () {
        for (let j = 0; j < c.deviceOps; j++) {
          yield* think(env, c.maxThinkNs);
          ops.count++;
          yield* deviceStore(dev, file, 0, ++mm.contentTag);
        }
      });
    }
    for (let k = 0; k < c.deviceReaders; k++) {
      spawn(`gpu-r${k}`, function* () {
        for (let j = 0; j < c.deviceOps; j++) {
          yield* think(env, c.maxThinkNs);
          yield* read("device load", () => deviceLoad(dev, file, 0));
        }
      });
    }
    if (c.cpuMmap) {
      spawn("cpu-mmap", function* () {
        yield* think(env, c.maxThinkNs);
        yield* read("mmap load", () => userLoad(mm, vma, 0));
        yield* think(env, c.maxThinkNs);
        ops.count++;
        yield* userStore(mm, vma, 0);
      });
    }
    if (c.cpuReads > 0) {
      spawn("cpu-read", function* () {
        for (let j = 0; j < c.cpuReads; j++) {
          yield* think(env, c.maxThinkNs);
          yield* read("read(2)", () => hf.read(0));
        }
      });
    }
    if (c.cpuWrite) {
      spawn("cpu-write", function* () {
        yield* think(env, c.maxThinkNs);
        ops.count++;
        yield* hf.write(0, ++mm.contentTag);
      });
    }
    if (c.fsync) {
      spawn("fsync", function* () {
        yield* think(env, c.maxThinkNs);
        ops.count++;
        yield* hf.fsync();
      });
    }
    if (c.dioRead) {
      spawn("dio-read", function* () {
        yield* think(env, c.maxThinkNs);
        yield* read("direct read", function* () {
          const r = yield* hf.directIo("READ", 0, buf, 0);
          return r.ok ? { ok: true, value: r.value.tag } : { ok: false };
        });
      });
    }
    if (c.splice) {
      spawn("splice", function* () {
        const pipe = new Pipe();
        yield* think(env, c.maxThinkNs);
        const start = oracle.readStart();
        ops.count++;
        yield* filemapSpliceRead(mm, file, 0, 1, pipe);
        yield* think(env, c.maxThinkNs);
        const r = pipeRead(mm, pipe);
        if (r.ok && r.value.length > 0) oracle.checkRead("splice", 0, r.value[0]!, start);
        else if (!r.ok) w.spliceErrors.count++;
      });
    }
    env.spawn("final sync", function* (e) {
      for (const t of workers) yield* e.join(t);
      yield* hf.fsync();
      oracle.finalCheck();
    });
    return {
      outcome: (run) => {
        const ev = oracle.events;
        const illegal = run.violations.filter((v) => ILLEGAL.has(v.name)).length;
        tally.executions++;
        tally.ops += ops.count;
        tally.staleReads += ev.staleReads;
        tally.staleWritebacks += ev.staleWritebacks + ev.lostWrites;
        tally.twoWriters += ev.twoWriters;
        tally.uptodateNotLatest += ev.uptodateNotLatest;
        tally.writeEpisodes += dev.stats.writeEpisodes;
        for (let k = 0; k < 3; k++) tally.episodesByMkwrite[k]! += dev.stats.episodesByMkwrite[k]!;
        tally.mkwrite += hf.stats.mkwrite;
        tally.deviceFaults += dev.stats.faults;
        tally.cpuFaults += mmapState(mm).stats.faults;
        tally.copies += hf.stats.copiesToDevice + hf.stats.copiesToHost + hf.stats.bounceCopies;
        tally.spliceErrors += w.spliceErrors.count;
        tally.illegalState += illegal;
        return {
          "stale read": ev.staleReads > 0,
          "stale writeback": ev.staleWritebacks + ev.lostWrites > 0,
          "two writers": ev.twoWriters > 0,
          "uptodate not latest": ev.uptodateNotLatest > 0,
          "illegal state": illegal > 0,
          "splice -EIO": w.spliceErrors.count > 0,
        };
      },
    };
  };
}

/**
 * Options of {@link exploreHmm}.
 *
 * @example
 * ```ts
 * import { exploreHmm, type ExploreHmmOptions } from "@mmsim/mmsim";
 * const opts: ExploreHmmOptions = { seed: 3, executions: 2 };
 * const x = exploreHmm({ deviceOps: 1 }, opts);
 * if (x.random.executions !== 2 || x.pct.executions !== 2) throw new Error("2 random + 2 PCT");
 * ```
 */
export interface ExploreHmmOptions {
  /** Base seed. */
  seed: number;
  /** Executions under random scheduling and as many under PCT (depth 3). */
  executions: number;
}

/**
 * What {@link exploreHmm} returns: the two explorations and the summed tally.
 *
 * @example
 * ```ts
 * import { exploreHmm, type HmmExploration } from "@mmsim/mmsim";
 * const x: HmmExploration = exploreHmm({ deviceOps: 1 }, { seed: 1, executions: 3 });
 * if (x.config.variant !== "full" || x.tally.executions !== 6) throw new Error("3 + 3");
 * if (x.verdicts["stale read"] !== "Never" || x.replay !== null) throw new Error("no failure");
 * ```
 */
export interface HmmExploration {
  /** The world explored. */
  config: HmmWorldConfig;
  /** Random-scheduling exploration. */
  random: ExploreResult;
  /** PCT exploration. */
  pct: ExploreResult;
  /** Counts summed over both. */
  tally: HmmRunTally;
  /** Per label: Always / Sometimes / Never over both explorations. */
  verdicts: Record<string, "Always" | "Sometimes" | "Never">;
  /** A replayable failing execution (random search), if any. */
  replay: string | null;
}

/**
 * Explore one world under `executions` random and `executions` PCT schedules (each execution
 * with its own seed, so think times vary too), without stopping at violations, and combine the
 * verdicts: Never only if never seen in either, Always only if seen in every execution.
 *
 * @example
 * ```ts
 * import { exploreHmm } from "@mmsim/mmsim";
 * const x = exploreHmm({ variant: "full", deviceOps: 1 }, { seed: 1, executions: 5 });
 * if (x.verdicts["stale read"] !== "Never" || x.tally.executions !== 10) throw new Error();
 * ```
 */
export function exploreHmm(config: HmmWorldConfigInput, opts: ExploreHmmOptions): HmmExploration {
  const c = HmmWorldConfig.parse(config);
  const tally = emptyTally();
  const setup = hmmScenario(c, tally);
  const common = { stopOnViolation: false, shrink: false, maxSteps: 200_000 } as const;
  const random = explore(setup, {
    ...common,
    seed: opts.seed,
    search: randomSearch({ executions: opts.executions, seed: opts.seed }),
  });
  const pct = explore(setup, {
    ...common,
    seed: opts.seed + 1,
    search: pctSearch({
      executions: opts.executions,
      depth: 3,
      maxSteps: 600,
      seed: opts.seed + 1,
    }),
  });
  const verdicts: Record<string, "Always" | "Sometimes" | "Never"> = {};
  const n = random.executions + pct.executions;
  for (const label of new Set([...Object.keys(random.counts), ...Object.keys(pct.counts)])) {
    const k = (random.counts[label] ?? 0) + (pct.counts[label] ?? 0);
    verdicts[label] = k === 0 ? "Never" : k === n ? "Always" : "Sometimes";
  }
  const replay = random.counterexample?.replay ?? pct.counterexample?.replay ?? null;
  return { config: c, random, pct, tally, verdicts, replay };
}
