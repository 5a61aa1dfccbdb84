/**
 * Thread 001, claims C1.1 and C1.2: asynchronous direct-I/O reads into a buffer that is an
 * mmap of a FUSE file re-dirty its page behind FUSE's back, and the temp-page writeback then
 * sends several WRITEs for the same page offset at once.
 *
 * The workload (Maxim Patlasov's scenario, Aug 2013): a program maps one page of a FUSE file
 * MAP_SHARED, stores to it once, then in rounds submits `queueDepth` AIO O_DIRECT reads of a
 * disk file into that page at once (io_submit), which the disk completes `redirtyIntervalNs`
 * apart, each with a new version of the data. Each read's get_user_pages takes a write fault
 * (`->page_mkwrite`) only if writeback write-protected the PTE meanwhile; `bio_set_pages_dirty`
 * at submission and the deferred `bio_dirty_fn` re-dirty after completion call
 * `set_page_dirty_lock` and never `->page_mkwrite`. A flusher writes the file back every
 * `flushIntervalCentisecs`. The FUSE server (`serverThreads`, latency `serverLatency`) applies
 * WRITEs in the order its threads finish them. At the end the program calls fsync(2)
 * (`fuse_fsync`: write back, wait for every reply) and the scenario compares what the server
 * stored with the page's last version.
 *
 * Measured per run: the most WRITEs outstanding (created, not replied) for the page at once,
 * the most in flight and the most queued secondaries (8b284dc47291), WRITEs sent, dirty
 * episodes of the page (NR_DIRTIED), WRITEs the server applied out of version order, and
 * whether the update was lost (stored ≠ last version).
 *
 * Model code lives in lib/mm (direct_io.ts, mmap.ts, writeback.ts) and lib/fs/fuse*.ts; this
 * file only builds the scenario and sweeps it. Kernel versions: the temp-page designs run as
 * v3.11 (the fs/direct-io.c path and 2013 reclaim), `no-temp` as v6.16.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import * as Plot from "npm:@observablehq/plot@^0.6";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import { Engine } from "../sim/engine.ts";
import { Latency } from "../sim/latency.ts";
import { AddressSpace, newContentTag } from "../mm/address_space.ts";
import { aioDirectRead } from "../mm/direct_io.ts";
import { Mm } from "../mm/mm.ts";
import { mmapRegion, mmapState, userStore } from "../mm/mmap.ts";
import { spawnFlusher } from "../mm/fs_writeback.ts";
import { fuseFsync, FuseMount, type FuseWritebackDesign } from "../fs/fuse.ts";
import { type Figure, plot } from "../plot/display.ts";

/**
 * Configuration of the DIO re-dirty scenario ({@link runFuseRedirty}).
 *
 * @example
 * ```ts
 * import { FuseRedirtyConfig } from "@mmsim/mmsim";
 * const c = FuseRedirtyConfig.parse({ design: "chained", queueDepth: 4 });
 * if (c.redirtyIntervalNs !== 10_000_000 || c.serverThreads !== 4) throw new Error("defaults");
 * const bad = FuseRedirtyConfig.safeParse({ queueDepth: 0 });
 * if (bad.success || bad.error.issues[0]!.path[0] !== "queueDepth") throw new Error("names the field");
 * ```
 */
export interface FuseRedirtyConfig {
  /** FUSE writeback design (fuse.ts). */
  design: FuseWritebackDesign;
  /** Kernel version; default "3.11" for the temp-page designs, "6.16" for `no-temp`. */
  version?: string;
  /** FUSE server threads (libfuse's multithreaded loop), default 4. */
  serverThreads: number;
  /** Time a server thread spends on one request, default exponential, mean 10 ms. */
  serverLatency: Latency;
  /** AIO reads submitted at once into the page per round (io_submit iodepth), default 16. */
  queueDepth: number;
  /** Time between two reads' completions (the disk serves them one after another), default 10 ms. */
  redirtyIntervalNs: number;
  /** Rounds of `queueDepth` reads, default 3. */
  rounds: number;
  /** Flusher period, vm.dirty_writeback_centisecs (dirty_expire_centisecs is 0), default 1. */
  flushIntervalCentisecs: number;
}

/**
 * Input of {@link FuseRedirtyConfig}: every field optional.
 *
 * @example
 * ```ts
 * import type { FuseRedirtyConfigInput } from "@mmsim/mmsim";
 * const c: FuseRedirtyConfigInput = { design: "no-temp", rounds: 1 };
 * if (c.rounds !== 1) throw new Error();
 * ```
 */
export type FuseRedirtyConfigInput = Partial<FuseRedirtyConfig>;

const redirtySchema = z.object({
  design: z.enum(["no-check", "wait", "chained", "no-temp"]).default("no-check"),
  version: z.string().regex(/^\d+\.\d+$/, "version must look like 6.12").optional(),
  serverThreads: z.number().int().min(1).max(64).default(4),
  serverLatency: zodOf(Latency).default({ kind: "exponential", meanNs: 10_000_000 }),
  queueDepth: z.number().int().min(1).max(256).default(16),
  redirtyIntervalNs: z.number().int().positive().default(10_000_000),
  rounds: z.number().int().min(1).default(3),
  flushIntervalCentisecs: z.number().int().min(1).default(1),
});
const _redirtyTypes: Same<z.output<typeof redirtySchema>, FuseRedirtyConfig> = true;
void _redirtyTypes;

/**
 * The {@link FuseRedirtyConfig} schema.
 *
 * @example
 * ```ts
 * import { FuseRedirtyConfig } from "@mmsim/mmsim";
 * if (FuseRedirtyConfig.parse({}).design !== "no-check") throw new Error("default design");
 * ```
 */
export const FuseRedirtyConfig: ConfigSchema<FuseRedirtyConfig, FuseRedirtyConfigInput> =
  defineConfig("FuseRedirtyConfig", redirtySchema);

/**
 * What one run of {@link runFuseRedirty} measured.
 *
 * @example
 * ```ts
 * import { runFuseRedirty, type FuseRedirtyResult } from "@mmsim/mmsim";
 * const r: FuseRedirtyResult = runFuseRedirty({ design: "chained", queueDepth: 2, rounds: 1 });
 * if (r.lost || r.maxOutstanding > 2) throw new Error(JSON.stringify(r));
 * ```
 */
export interface FuseRedirtyResult {
  /** The design. */
  design: FuseWritebackDesign;
  /** Most WRITEs outstanding (created, not replied) for the page offset at once. */
  maxOutstanding: number;
  /** Most WRITEs in flight (outstanding and not a queued secondary) at once. */
  maxInFlight: number;
  /** Most chained secondaries queued at once (chained design). */
  maxSecondaries: number;
  /** WRITE requests created for the page. */
  writes: number;
  /** Re-dirties copied into a still-queued request instead of a new one (chained design). */
  merged: number;
  /** Times the page went from clean to dirty (NR_DIRTIED). */
  dirtyEpisodes: number;
  /** WRITEs the server applied with an older version than the one before them. */
  outOfOrderApplies: number;
  /** The page's last version (`mapping.latest`). */
  latest: number;
  /** What the server stored after fsync(2). */
  stored: number;
  /** Lost update: stored ≠ last version after fsync(2). */
  lost: boolean;
  /** Temp pages allocated (2013 designs). */
  tempPages: number;
  /** Most temp pages in use at once (NR_WRITEBACK_TEMP). */
  maxWritebackTemp: number;
  /** Reads whose get_user_pages took a write fault and `->page_mkwrite`. */
  pageMkwrites: number;
  /** Virtual time at the end, ns. */
  endNs: number;
  /** How the run ended ("done" unless something hung). */
  reason: string;
}

/**
 * Run the DIO re-dirty scenario once (deterministic per `seed`).
 *
 * @example Without the in-flight check several WRITEs for one offset are outstanding
 * ```ts
 * import { runFuseRedirty } from "@mmsim/mmsim";
 * const r = runFuseRedirty({ design: "no-check", queueDepth: 8, rounds: 1,
 *   serverLatency: { kind: "fixed", ns: 100_000_000 } }, 1);
 * if (r.reason !== "done" || r.maxOutstanding < 2) throw new Error(JSON.stringify(r));
 * ```
 */
export function runFuseRedirty(config: FuseRedirtyConfigInput, seed = 1): FuseRedirtyResult {
  const c = FuseRedirtyConfig.parse(config);
  const env = new Engine({ seed });
  const version = c.version ?? (c.design === "no-temp" ? "6.16" : "3.11");
  const mm = new Mm(env, { memory: { nrFrames: 4096 }, version });
  const fm = new FuseMount(mm, {
    writeback: c.design,
    server: { threads: c.serverThreads, latency: c.serverLatency },
  });
  const fi = fm.createInode(new Map([[0, newContentTag(mm)]]));
  const disk = AddressSpace.create(mm, { name: "disk file" });
  const buf = mmapRegion(mm, { mapping: fi.mapping, nrPages: 1, shared: true, name: "buffer" });
  spawnFlusher(mm, {
    dirtyWritebackCentisecs: c.flushIntervalCentisecs,
    dirtyExpireCentisecs: 0,
  });
  let maxTemp = 0;
  const dirtied0 = mm.vmstat.get("nr_dirtied");
  env.onStep(() => {
    const t = mm.vmstat.get("nr_writeback_temp");
    if (t > maxTemp) maxTemp = t;
  });
  const T = c.redirtyIntervalNs;
  env.spawn("app", function* (e) {
    yield* userStore(mm, buf, 0); // the program's own store: the only write fault it makes
    for (let r = 0; r < c.rounds; r++) {
      let done = 0;
      for (let k = 0; k < c.queueDepth; k++) {
        disk.backing.set(k, newContentTag(mm));
        e.spawn(`aio ${r}.${k}`, function* () {
          yield* aioDirectRead(mm, disk, buf, {
            nrPages: 1,
            fileIndex: k,
            device: { latency: { kind: "fixed", ns: (k + 1) * T } },
          });
          done++;
        });
      }
      while (done < c.queueDepth) yield e.sleep(T);
      yield e.sleep(T);
    }
    yield e.point(); // let a deferred bio_dirty_fn run
    yield* fuseFsync(mm, fi);
  });
  const run = env.run({ maxSteps: 20_000_000 });
  const stored = fm.conn.storageOf(fi.ino).get(0) ?? 0;
  const latest = fi.mapping.latest.get(0) ?? 0;
  let ooo = 0, prev = -1;
  for (const [ino, index, tag] of fm.conn.applied) {
    if (ino !== fi.ino || index !== 0) continue;
    if (tag < prev) ooo++;
    prev = tag;
  }
  const s = fi.stats;
  return {
    design: c.design,
    maxOutstanding: s.maxOutstanding,
    maxInFlight: s.maxInFlight,
    maxSecondaries: s.maxSecondaries,
    writes: s.writesPerIndex.get(0) ?? 0,
    merged: s.mergedIntoQueued,
    dirtyEpisodes: mm.vmstat.get("nr_dirtied") - dirtied0,
    outOfOrderApplies: ooo,
    latest,
    stored,
    lost: stored !== latest,
    tempPages: s.tempPagesAllocated,
    maxWritebackTemp: maxTemp,
    pageMkwrites: mmapState(mm).stats.pageMkwrite - 1,
    endNs: run.nowNs,
    reason: run.reason,
  };
}

/**
 * One point of {@link fuseOutstandingSweep}.
 *
 * @example
 * ```ts
 * import { fuseOutstandingSweep, type FuseOutstandingPoint } from "@mmsim/mmsim";
 * const [p]: FuseOutstandingPoint[] = fuseOutstandingSweep({ ratios: [1], lines: [{ design: "chained", queueDepth: 2 }], rounds: 1 });
 * if (p!.line !== "chained, 2 reads at once") throw new Error(p!.line);
 * ```
 */
export interface FuseOutstandingPoint {
  /** Line label ("no-check, 16 reads at once", …). */
  line: string;
  /** The design. */
  design: FuseWritebackDesign;
  /** Reads submitted at once. */
  queueDepth: number;
  /** Server latency / redirty interval. */
  ratio: number;
  /** Most WRITEs outstanding for the page offset. */
  maxOutstanding: number;
  /** WRITEs sent. */
  writes: number;
  /** Lost update in this run. */
  lost: boolean;
  /** Most temp pages in use at once (NR_WRITEBACK_TEMP). */
  maxWritebackTemp: number;
}

/**
 * Options of {@link fuseOutstandingSweep}.
 *
 * @example
 * ```ts
 * import type { FuseOutstandingSweepOptions } from "@mmsim/mmsim";
 * const o: FuseOutstandingSweepOptions = { ratios: [0.1, 100], rounds: 2, seed: 7 };
 * if (o.ratios!.length !== 2) throw new Error();
 * ```
 */
export interface FuseOutstandingSweepOptions {
  /** Server latency / redirty interval values (default 0.1 … 100, 7 points). */
  ratios?: number[];
  /** (design, queue depth) lines (default no-check ×16, no-check ×1, chained ×16, no-temp ×16). */
  lines?: Array<{ design: FuseWritebackDesign; queueDepth: number }>;
  /** Rounds per run (default 3). */
  rounds?: number;
  /** Seed (default 1). */
  seed?: number;
}

/**
 * Plot A's data: the most WRITEs outstanding per page offset against server latency /
 * redirty interval (fixed server latency, redirty interval 10 ms), per design.
 *
 * @example
 * ```ts
 * import { fuseOutstandingSweep } from "@mmsim/mmsim";
 * const pts = fuseOutstandingSweep({ ratios: [0.1, 10], lines: [{ design: "no-temp", queueDepth: 4 }], rounds: 1 });
 * if (pts.length !== 2 || pts.some((p) => p.maxOutstanding !== 1)) throw new Error(JSON.stringify(pts));
 * ```
 */
export function fuseOutstandingSweep(o: FuseOutstandingSweepOptions = {}): FuseOutstandingPoint[] {
  const ratios = o.ratios ?? [0.1, 0.3, 1, 3, 10, 30, 100];
  const lines = o.lines ?? [
    { design: "no-check", queueDepth: 16 },
    { design: "no-check", queueDepth: 1 },
    { design: "chained", queueDepth: 16 },
    { design: "no-temp", queueDepth: 16 },
  ];
  const T = 10_000_000;
  const out: FuseOutstandingPoint[] = [];
  for (const l of lines) {
    for (const ratio of ratios) {
      const r = runFuseRedirty({
        design: l.design,
        queueDepth: l.queueDepth,
        redirtyIntervalNs: T,
        rounds: o.rounds ?? 3,
        serverLatency: { kind: "fixed", ns: Math.round(ratio * T) },
      }, o.seed ?? 1);
      out.push({
        line: `${l.design}, ${l.queueDepth} read${l.queueDepth > 1 ? "s" : ""} at once`,
        design: l.design,
        queueDepth: l.queueDepth,
        ratio,
        maxOutstanding: r.maxOutstanding,
        writes: r.writes,
        lost: r.lost,
        maxWritebackTemp: r.maxWritebackTemp,
      });
    }
  }
  return out;
}

/**
 * Plot A: most WRITEs outstanding per page offset vs server latency / redirty interval (log x).
 *
 * @example
 * ```ts
 * import { fuseOutstandingFigure } from "@mmsim/mmsim";
 * const fig = fuseOutstandingFigure([
 *   { line: "a", design: "no-check", queueDepth: 1, ratio: 1, maxOutstanding: 2, writes: 3, lost: false, maxWritebackTemp: 2 },
 *   { line: "a", design: "no-check", queueDepth: 1, ratio: 10, maxOutstanding: 5, writes: 9, lost: true, maxWritebackTemp: 5 },
 * ]);
 * if (!fig.svg.includes("<path")) throw new Error("no line");
 * ```
 */
export function fuseOutstandingFigure(points: readonly FuseOutstandingPoint[]): Figure {
  const lines = [...new Set(points.map((p) => p.line))];
  const last = lines.map((l) => {
    const ps = points.filter((p) => p.line === l);
    return ps.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  });
  // Lines that end on the same value get their labels stacked.
  const dy = (p: FuseOutstandingPoint) => {
    const same = last.filter((q) => q.maxOutstanding === p.maxOutstanding);
    return 12 * (same.indexOf(p) - (same.length - 1) / 2) - 2;
  };
  const ratios = [...new Set(points.map((p) => p.ratio))].sort((a, b) => a - b);
  return plot({
    width: 760,
    height: 380,
    marginRight: 170,
    x: {
      type: "log",
      label: "server latency / redirty interval →",
      grid: true,
      ticks: ratios,
      tickFormat: (d: number) => String(d),
    },
    y: { label: "↑ max WRITEs outstanding for one page offset", grid: true, zero: true },
    color: { legend: true, domain: lines },
    marks: [
      Plot.ruleY([1, 2], { stroke: "#bbb", strokeDasharray: "3,3" }),
      Plot.line(points.filter((p) => p.queueDepth !== 1), {
        x: "ratio",
        y: "maxOutstanding",
        stroke: "line",
        strokeWidth: 2,
        marker: "circle",
      }),
      Plot.line(points.filter((p) => p.queueDepth === 1), {
        x: "ratio",
        y: "maxOutstanding",
        stroke: "line",
        strokeWidth: 2,
        strokeDasharray: "6,4",
        marker: "circle",
      }),
      ...last.map((p) =>
        Plot.text([p], {
          x: "ratio",
          y: "maxOutstanding",
          text: "line",
          fill: "line",
          textAnchor: "start",
          dx: 8,
          dy: dy(p),
          fontSize: 11,
        })
      ),
    ],
  }, { title: "C1.1/C1.2/C1.4 — WRITEs outstanding per page offset (Plot A)" });
}

/**
 * One point of {@link fuseLostUpdateSweep}.
 *
 * @example
 * ```ts
 * import { fuseLostUpdateSweep, type FuseLostUpdatePoint } from "@mmsim/mmsim";
 * const [p]: FuseLostUpdatePoint[] = fuseLostUpdateSweep({ designs: ["chained"], threads: [2], runs: 2 });
 * if (p!.lost !== 0 || p!.maxSecondaries > 1) throw new Error(JSON.stringify(p));
 * ```
 */
export interface FuseLostUpdatePoint {
  /** The design. */
  design: FuseWritebackDesign;
  /** Server threads. */
  serverThreads: number;
  /** Runs. */
  runs: number;
  /** Runs whose final stored content was not the last version. */
  lost: number;
  /** lost / runs. */
  rate: number;
  /** Runs in which the server applied some WRITE out of version order. */
  reordered: number;
  /** Most WRITEs outstanding in any run. */
  maxOutstanding: number;
  /** Most WRITEs in flight (not queued secondaries) in any run. */
  maxInFlight: number;
  /** Most queued secondaries in any run. */
  maxSecondaries: number;
  /** Re-dirties merged into a queued request, over all runs. */
  merged: number;
  /** Runs that sent more WRITEs than the page had dirty episodes. */
  moreWritesThanEpisodes: number;
}

/**
 * Options of {@link fuseLostUpdateSweep}.
 *
 * @example
 * ```ts
 * import type { FuseLostUpdateSweepOptions } from "@mmsim/mmsim";
 * const o: FuseLostUpdateSweepOptions = { threads: [1, 8], runs: 50, scenario: { queueDepth: 8 } };
 * if (o.runs !== 50) throw new Error();
 * ```
 */
export interface FuseLostUpdateSweepOptions {
  /** Server thread counts (default 1, 2, 4, 8). */
  threads?: number[];
  /** Designs (default no-check, chained). */
  designs?: FuseWritebackDesign[];
  /** Runs per point, seeds seed … seed+runs−1 (default 100). */
  runs?: number;
  /** First seed (default 1). */
  seed?: number;
  /** Scenario settings shared by all points (default: 4 reads at once, 2 rounds, latency exponential 30 ms). */
  scenario?: FuseRedirtyConfigInput;
}

/**
 * Plot B's data: the fraction of runs that lose an update (stored ≠ last version after
 * fsync) against server threads, per design. Server latency is exponential, so a
 * multi-threaded server finishes requests out of order.
 *
 * @example
 * ```ts
 * import { fuseLostUpdateSweep } from "@mmsim/mmsim";
 * const pts = fuseLostUpdateSweep({ threads: [1], designs: ["no-check"], runs: 3 });
 * if (pts[0]!.lost !== 0) throw new Error("one thread applies WRITEs in order");
 * ```
 */
export function fuseLostUpdateSweep(o: FuseLostUpdateSweepOptions = {}): FuseLostUpdatePoint[] {
  const runs = o.runs ?? 100;
  const seed = o.seed ?? 1;
  const out: FuseLostUpdatePoint[] = [];
  for (const design of o.designs ?? ["no-check", "chained"]) {
    for (const serverThreads of o.threads ?? [1, 2, 4, 8]) {
      let lost = 0, reordered = 0, maxOutstanding = 0, maxInFlight = 0, maxSecondaries = 0;
      let merged = 0, moreWritesThanEpisodes = 0;
      for (let i = 0; i < runs; i++) {
        const r = runFuseRedirty({
          queueDepth: 4,
          rounds: 2,
          serverLatency: { kind: "exponential", meanNs: 30_000_000 },
          ...o.scenario,
          design,
          serverThreads,
        }, seed + i);
        if (r.lost) lost++;
        if (r.outOfOrderApplies > 0) reordered++;
        maxOutstanding = Math.max(maxOutstanding, r.maxOutstanding);
        maxInFlight = Math.max(maxInFlight, r.maxInFlight);
        maxSecondaries = Math.max(maxSecondaries, r.maxSecondaries);
        merged += r.merged;
        if (r.writes > r.dirtyEpisodes) moreWritesThanEpisodes++;
      }
      out.push({
        design,
        serverThreads,
        runs,
        lost,
        rate: lost / runs,
        reordered,
        maxOutstanding,
        maxInFlight,
        maxSecondaries,
        merged,
        moreWritesThanEpisodes,
      });
    }
  }
  return out;
}

/**
 * Plot B: lost-update rate vs server threads, naive (no-check) vs chained.
 *
 * @example
 * ```ts
 * import { fuseLostUpdateFigure } from "@mmsim/mmsim";
 * const fig = fuseLostUpdateFigure([
 *   { design: "no-check", serverThreads: 2, runs: 10, lost: 1, rate: 0.1, reordered: 2, maxOutstanding: 3,
 *     maxInFlight: 3, maxSecondaries: 0, merged: 0, moreWritesThanEpisodes: 0 },
 *   { design: "chained", serverThreads: 2, runs: 10, lost: 0, rate: 0, reordered: 0, maxOutstanding: 2,
 *     maxInFlight: 1, maxSecondaries: 1, merged: 4, moreWritesThanEpisodes: 0 },
 * ]);
 * if (!fig.svg.includes("<rect")) throw new Error("no bars");
 * ```
 */
export function fuseLostUpdateFigure(points: readonly FuseLostUpdatePoint[]): Figure {
  return plot({
    width: 640,
    height: 340,
    fx: { label: "server threads" },
    x: { axis: null },
    y: { label: "↑ runs losing the last update", grid: true, percent: true },
    color: { legend: true },
    marks: [
      Plot.barY(points, { fx: "serverThreads", x: "design", y: "rate", fill: "design" }),
      Plot.text(points, {
        fx: "serverThreads",
        x: "design",
        y: "rate",
        text: (d: FuseLostUpdatePoint) => `${d.lost}/${d.runs}`,
        dy: -6,
        fontSize: 10,
      }),
      Plot.ruleY([0]),
    ],
  }, { title: "C1.1/C1.2 — lost updates after fsync vs server threads (Plot B)" });
}
