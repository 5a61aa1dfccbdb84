/**
 * Thread 002, claim C2.3: no universal winner. Jérôme Glisse wants "to provide the choice
 * between the two solutions as one will be better for some workload and the other for
 * different workload". Each strategy — Jan Kara's copy (A stays, A' on the device), migrate
 * (device-private page, `migrate_to_ram` on CPU touch) and bounce (read(2)/write(2) through a
 * bounce buffer, mmap still migrates) — runs the same sequence of operations on one page:
 * each operation is a CPU touch with probability r (read(2), write(2), mmap load or mmap store,
 * in the proportions of `cpuMix`), otherwise a device access, a store with probability w. The
 * runs count page copies and faults (CPU page faults, device faults, device invalidations);
 * cost = bytes copied / copy bandwidth + faults × fault cost, per operation. The costs come
 * from these counts, not from a formula: the protocols in lib/dev/hmm_file.ts decide what
 * each operation costs.
 *
 * Not a kernel model itself; it composes lib/mm and lib/dev.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { Engine } from "../sim/engine.ts";
import { Rng } from "../sim/rng.ts";
import { BlockDevice } from "../mm/block_device.ts";
import { Mm } from "../mm/mm.ts";
import { mmapRegion, mmapState, userLoad, userStore } from "../mm/mmap.ts";
import { SimpleFs } from "../fs/simple_fs.ts";
import { deviceLoad, deviceStore, HmmDevice } from "../dev/hmm.ts";
import { HmmFile, type HmmStrategy } from "../dev/hmm_file.ts";

/**
 * The strategies C2.3 compares: the 2016 designs (upstream's mirror is left out: its device
 * accesses cross the interconnect, a cost this model does not count).
 *
 * @example
 * ```ts
 * import { type HmmCostStrategy, runHmmCostWorkload } from "@mmsim/mmsim";
 * // Device loads only (r = 0, w = 0): every strategy copies or migrates the page once.
 * const once = (s: HmmCostStrategy) => runHmmCostWorkload(s, 0, 0, 4096, { ops: 20, seed: 1 });
 * for (const s of ["copy", "migrate", "bounce"] as const) {
 *   const run = once(s);
 *   if (run.copies !== 1 || run.deviceFaults !== 1) throw new Error(`${s}: ${run.copies}`);
 * }
 * ```
 */
export type HmmCostStrategy = Exclude<HmmStrategy, "mirror">;

/**
 * The three strategies of C2.3, in plot order.
 *
 * @example
 * ```ts
 * import { HMM_STRATEGIES, hmmCostSweep } from "@mmsim/mmsim";
 * const runs = hmmCostSweep({ gridSteps: 2, ops: 10, pageSizes: [4096] });
 * const seen = [...new Set(runs.map((r) => r.strategy))];
 * if (seen.join() !== HMM_STRATEGIES.join() || HMM_STRATEGIES.includes("mirror" as never)) {
 *   throw new Error(seen.join());
 * }
 * ```
 */
export const HMM_STRATEGIES: readonly HmmCostStrategy[] = ["copy", "migrate", "bounce"];

/**
 * Configuration of a cost sweep.
 *
 * @example
 * ```ts
 * import { HmmCostConfig } from "@mmsim/mmsim";
 * const c = HmmCostConfig.parse({ gridSteps: 5 });
 * if (c.ops !== 400 || c.pageSizes.join() !== "4096,65536") throw new Error();
 * ```
 */
export interface HmmCostConfig {
  /** Operations per run (default 400). */
  ops: number;
  /** Grid points per axis: r, w ∈ {0, 1/(n−1), …, 1} (default 11). */
  gridSteps: number;
  /** Base page sizes swept (default 4 KiB and 64 KiB). */
  pageSizes: (4096 | 16384 | 65536)[];
  /**
   * What a CPU touch is: weights of read(2), write(2), mmap load, mmap store (default
   * 0.4 / 0.1 / 0.3 / 0.2; a modelling choice, not a measurement).
   */
  cpuMix: { read: number; write: number; mmapLoad: number; mmapStore: number };
  /** Seed of the operation sequences (the same sequence for every strategy in a cell). */
  seed: number;
}

/**
 * Input of {@link HmmCostConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { hmmCostSweep, type HmmCostConfigInput } from "@mmsim/mmsim";
 * const input: HmmCostConfigInput = { gridSteps: 3, ops: 20, pageSizes: [4096, 65536] };
 * const runs = hmmCostSweep(input);
 * if (runs.length !== 3 * 3 * 3 * 2) throw new Error("strategies × r × w × page sizes");
 * if (runs.some((r) => r.ops !== 20)) throw new Error("ops per run");
 * ```
 */
export type HmmCostConfigInput = Partial<HmmCostConfig>;

const costSchema = z.object({
  ops: z.number().int().positive().default(400),
  gridSteps: z.number().int().min(2).default(11),
  pageSizes: z.array(z.union([z.literal(4096), z.literal(16384), z.literal(65536)])).min(1)
    .default([4096, 65536]),
  cpuMix: z.object({
    read: z.number().min(0),
    write: z.number().min(0),
    mmapLoad: z.number().min(0),
    mmapStore: z.number().min(0),
  }).default({ read: 0.4, write: 0.1, mmapLoad: 0.3, mmapStore: 0.2 }),
  seed: z.number().int().default(1),
});
const _costTypes: Same<z.output<typeof costSchema>, HmmCostConfig> = true;
void _costTypes;

/** The {@link HmmCostConfig} schema. */
export const HmmCostConfig: ConfigSchema<HmmCostConfig, HmmCostConfigInput> = defineConfig(
  "HmmCostConfig",
  costSchema,
);

/**
 * The counts of one run of one strategy.
 *
 * @example
 * ```ts
 * import { type HmmCostRun, runHmmCostWorkload } from "@mmsim/mmsim";
 * const run: HmmCostRun = runHmmCostWorkload("migrate", 0.5, 0.5, 4096, { ops: 40, seed: 1 });
 * if (run.faults !== run.cpuFaults + run.deviceFaults + run.invalidations) throw new Error();
 * if (run.bytesCopied !== run.copies * run.pageSizeBytes) throw new Error("whole pages");
 * ```
 */
export interface HmmCostRun {
  /** Strategy. */
  strategy: HmmCostStrategy;
  /** CPU-touch fraction. */
  r: number;
  /** Device-write fraction. */
  w: number;
  /** Base page size. */
  pageSizeBytes: number;
  /** Operations run. */
  ops: number;
  /** Page copies (to device, to host, bounce). */
  copies: number;
  /** Bytes copied. */
  bytesCopied: number;
  /** CPU page faults. */
  cpuFaults: number;
  /** Device faults. */
  deviceFaults: number;
  /** Device invalidations (write-protects and unmaps). */
  invalidations: number;
  /** cpuFaults + deviceFaults + invalidations. */
  faults: number;
}

/**
 * Run `ops` operations of the (r, w) workload on one page under `strategy` and count copies
 * and faults. Deterministic per (seed, r, w); the sequence does not depend on the strategy.
 *
 * @example
 * ```ts
 * import { runHmmCostWorkload } from "@mmsim/mmsim";
 * const all = runHmmCostWorkload("copy", 0, 0, 4096, { ops: 50, seed: 1 });
 * if (all.copies !== 1 || all.deviceFaults !== 1) throw new Error("device reads share one copy");
 * ```
 */
export function runHmmCostWorkload(
  strategy: HmmCostStrategy,
  r: number,
  w: number,
  pageSizeBytes: 4096 | 16384 | 65536,
  opts: { ops: number; seed: number; cpuMix?: HmmCostConfig["cpuMix"] },
): HmmCostRun {
  const mix = opts.cpuMix ?? HmmCostConfig.parse({}).cpuMix;
  const total = mix.read + mix.write + mix.mmapLoad + mix.mmapStore;
  if (!(total > 0)) throw new RangeError("runHmmCostWorkload: cpuMix weights must not all be 0");
  const env = new Engine({ seed: opts.seed });
  const mm = new Mm(env, { memory: { nrFrames: 64, pageSizeBytes } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 1_000 } });
  const file = fs.createFile({ name: "f", sizePages: 1, fillPages: 1 });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 1_000 } }).attach(file);
  const dev = new HmmDevice(mm, { nrFrames: 4 });
  const hf = new HmmFile(dev, file, { strategy });
  const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
  // The operation sequence: one stream per (seed, r, w), independent of the strategy.
  const rng = new Rng(
    (opts.seed * 1_000_003 + Math.round(r * 1000) * 1009 + Math.round(w * 1000)) >>> 0,
  );
  env.spawn("workload", function* () {
    for (let k = 0; k < opts.ops; k++) {
      const cpu = rng.float() < r;
      const u = rng.float();
      if (cpu) {
        const x = u * total;
        if (x < mix.read) yield* hf.read(0);
        else if (x < mix.read + mix.write) yield* hf.write(0, ++mm.contentTag);
        else if (x < mix.read + mix.write + mix.mmapLoad) yield* userLoad(mm, vma, 0);
        else yield* userStore(mm, vma, 0);
      } else if (u < w) yield* deviceStore(dev, file, 0, ++mm.contentTag);
      else yield* deviceLoad(dev, file, 0);
    }
  });
  const run = env.run();
  if (run.reason !== "done") {
    throw new Error(`cost workload ${strategy} r=${r} w=${w}: ${run.reason}`);
  }
  const s = hf.stats;
  const cpuFaults = mmapState(mm).stats.faults;
  const copies = s.copiesToDevice + s.copiesToHost + s.bounceCopies;
  return {
    strategy,
    r,
    w,
    pageSizeBytes,
    ops: opts.ops,
    copies,
    bytesCopied: s.bytesCopied,
    cpuFaults,
    deviceFaults: dev.stats.faults,
    invalidations: dev.stats.invalidations,
    faults: cpuFaults + dev.stats.faults + dev.stats.invalidations,
  };
}

/**
 * Run every strategy at every grid point (r, w) for every page size of `config`.
 *
 * @example
 * ```ts
 * import { hmmCostSweep } from "@mmsim/mmsim";
 * const runs = hmmCostSweep({ gridSteps: 2, ops: 20, pageSizes: [4096] });
 * if (runs.length !== 3 * 2 * 2) throw new Error("3 strategies × 2 × 2 grid points");
 * ```
 */
export function hmmCostSweep(config: HmmCostConfigInput = {}): HmmCostRun[] {
  const c = HmmCostConfig.parse(config);
  const out: HmmCostRun[] = [];
  const n = c.gridSteps;
  for (const pageSizeBytes of c.pageSizes) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const r = i / (n - 1), w = j / (n - 1);
        for (const s of HMM_STRATEGIES) {
          out.push(runHmmCostWorkload(s, r, w, pageSizeBytes, {
            ops: c.ops,
            seed: c.seed,
            cpuMix: c.cpuMix,
          }));
        }
      }
    }
  }
  return out;
}

/**
 * The cost weights: what a fault costs and how fast the device copies.
 *
 * @example
 * ```ts
 * import { type HmmCostModel, hmmRunCost, runHmmCostWorkload } from "@mmsim/mmsim";
 * const run = runHmmCostWorkload("copy", 0.5, 0.5, 4096, { ops: 40, seed: 1 });
 * const copyOnly: HmmCostModel = { faultCostNs: 0, copyBandwidthGBps: 1 }; // 1 byte per ns
 * if (hmmRunCost(run, copyOnly) !== run.bytesCopied / run.ops) throw new Error("bytes per op");
 * const faultsOnly: HmmCostModel = { faultCostNs: 1_000, copyBandwidthGBps: Infinity };
 * if (hmmRunCost(run, faultsOnly) !== (run.faults * 1_000) / run.ops) throw new Error();
 * ```
 */
export interface HmmCostModel {
  /** Cost of one fault or invalidation round trip, in ns. */
  faultCostNs: number;
  /** Device copy bandwidth in GB/s (= bytes per ns). */
  copyBandwidthGBps: number;
}

/**
 * One grid cell of the cheapest-strategy map.
 *
 * @example
 * ```ts
 * import {
 *   HMM_DEFAULT_COST_MODEL,
 *   hmmCheapest,
 *   type HmmCostCell,
 *   hmmCostSweep,
 * } from "@mmsim/mmsim";
 * const runs = hmmCostSweep({ gridSteps: 3, ops: 30, pageSizes: [4096] });
 * const cells: HmmCostCell[] = hmmCheapest(runs, HMM_DEFAULT_COST_MODEL);
 * for (const c of cells) {
 *   const costs = Object.values(c.costNsPerOp);
 *   if (c.minCostNsPerOp !== Math.min(...costs)) throw new Error("the cheapest cost");
 *   if (c.cheapest !== "tie" && c.costNsPerOp[c.cheapest] !== c.minCostNsPerOp) throw new Error();
 * }
 * if (cells.length !== 9 || cells[0]!.copyBandwidthGBps !== 16) throw new Error("3 × 3 cells");
 * ```
 */
export interface HmmCostCell {
  /** Base page size. */
  pageSizeBytes: number;
  /** Copy bandwidth of the cost model, GB/s. */
  copyBandwidthGBps: number;
  /** CPU-touch fraction. */
  r: number;
  /** Device-write fraction. */
  w: number;
  /** Cost per operation of each strategy, ns. */
  costNsPerOp: Record<HmmCostStrategy, number>;
  /** The cheapest strategy, or "tie" when two or more cost the same (within 10⁻⁹). */
  cheapest: HmmCostStrategy | "tie";
  /** Its cost per operation, ns. */
  minCostNsPerOp: number;
}

/**
 * Cost per operation of one run under a cost model.
 *
 * @example
 * ```ts
 * import { hmmRunCost } from "@mmsim/mmsim";
 * const c = hmmRunCost({ bytesCopied: 4096, faults: 1, ops: 1 }, { faultCostNs: 1000, copyBandwidthGBps: 4.096 });
 * if (c !== 2000) throw new Error(`${c}`);
 * ```
 */
export function hmmRunCost(
  run: Pick<HmmCostRun, "bytesCopied" | "faults" | "ops">,
  model: HmmCostModel,
): number {
  return (run.bytesCopied / model.copyBandwidthGBps + run.faults * model.faultCostNs) / run.ops;
}

/**
 * The cheapest strategy per (page size, r, w) under `model`, from a sweep's runs.
 *
 * @example
 * ```ts
 * import { hmmCheapest, hmmCostSweep } from "@mmsim/mmsim";
 * const cells = hmmCheapest(hmmCostSweep({ gridSteps: 2, ops: 20, pageSizes: [4096] }), { faultCostNs: 5000, copyBandwidthGBps: 16 });
 * if (cells.length !== 4) throw new Error("one cell per grid point");
 * ```
 */
export function hmmCheapest(runs: readonly HmmCostRun[], model: HmmCostModel): HmmCostCell[] {
  const byCell = new Map<string, HmmCostRun[]>();
  for (const run of runs) {
    const k = `${run.pageSizeBytes}:${run.r}:${run.w}`;
    const l = byCell.get(k);
    if (l) l.push(run);
    else byCell.set(k, [run]);
  }
  const cells: HmmCostCell[] = [];
  for (const list of byCell.values()) {
    const first = list[0]!;
    const cost = {} as Record<HmmCostStrategy, number>;
    for (const s of HMM_STRATEGIES) {
      const run = list.find((x) => x.strategy === s);
      cost[s] = run ? hmmRunCost(run, model) : Infinity;
    }
    const min = Math.min(...HMM_STRATEGIES.map((s) => cost[s]));
    const best = HMM_STRATEGIES.filter((s) => cost[s] <= min * (1 + 1e-9));
    cells.push({
      pageSizeBytes: first.pageSizeBytes,
      copyBandwidthGBps: model.copyBandwidthGBps,
      r: first.r,
      w: first.w,
      costNsPerOp: cost,
      cheapest: best.length === 1 ? best[0]! : "tie",
      minCostNsPerOp: min,
    });
  }
  return cells;
}

/**
 * How many cells each strategy wins outright (ties counted apart), per page size.
 *
 * @example
 * ```ts
 * import { hmmWins } from "@mmsim/mmsim";
 * const w = hmmWins([{ pageSizeBytes: 4096, cheapest: "copy" }]);
 * if (w[4096]?.copy !== 1 || w[4096]?.migrate !== 0) throw new Error();
 * ```
 */
export function hmmWins(
  cells: readonly Pick<HmmCostCell, "pageSizeBytes" | "cheapest">[],
): Record<number, Record<HmmCostStrategy | "tie", number>> {
  const out: Record<number, Record<HmmCostStrategy | "tie", number>> = {};
  for (const c of cells) {
    const m = out[c.pageSizeBytes] ??= { copy: 0, migrate: 0, bounce: 0, tie: 0 };
    m[c.cheapest]++;
  }
  return out;
}
