/**
 * Thread 001, claim C1.4: without temp pages (v6.16) PG_writeback stays set until the FUSE
 * server replies, so there is no extra memory (NR_WRITEBACK_TEMP = 0) — but sync(2) and
 * MIGRATE_SYNC migration now wait for the server, and with a server that never replies they
 * hang, where the temp-page kernels (2013 … v6.15) return.
 *
 * The workload: a program writes `writeBytes` through a FUSE file (write(2) with the writeback
 * cache), then another task calls sync(2) and a third migrates the file's first folio with
 * MIGRATE_SYNC (as compaction or memory offlining would). The server takes `serverLatency` per
 * request (`never` = hung). Counters are sampled over `horizonNs`: NR_WRITEBACK_TEMP
 * (/proc/meminfo WritebackTmp) and NR_WRITEBACK (Writeback).
 *
 * {@link predictFuseWritebackCounters} is the model's prediction for the real-kernel crosscheck
 * (4 MiB written, WRITE replies delayed 5 s: which counter holds the pages).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import * as Plot from "npm:@observablehq/plot@^0.6";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import { Engine } from "../sim/engine.ts";
import { Latency } from "../sim/latency.ts";
import type { Trace } from "../sim/trace.ts";
import type { WaitReport } from "../sim/deadlock.ts";
import { filemapGetEntry, newContentTag } from "../mm/address_space.ts";
import { Mm } from "../mm/mm.ts";
import { spawnFlusher, syncFilesystem } from "../mm/fs_writeback.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { FuseMount, type FuseWritebackDesign, fuseWriteIter } from "../fs/fuse.ts";
import { type Figure, plot } from "../plot/display.ts";

/**
 * Configuration of the hung-server scenario ({@link runFuseHungServer}).
 *
 * @example
 * ```ts
 * import { FuseHungServerConfig } from "@mmsim/mmsim";
 * const c = FuseHungServerConfig.parse({ version: "6.16" });
 * if (c.serverLatency.kind !== "never" || c.writeBytes !== 1 << 20) throw new Error("defaults");
 * ```
 */
export interface FuseHungServerConfig {
  /** Kernel version (the design follows `mm.era.fuseTempPages`), default "6.16". */
  version: string;
  /** Bytes written through the FUSE file, default 1 MiB. */
  writeBytes: number;
  /** Server time per request, default `never` (a hung server). */
  serverLatency: Latency;
  /** Server threads, default 1. */
  serverThreads: number;
  /** When sync(2) and the migration start, ns after the write (default 100 ms). */
  syncAtNs: number;
  /** How long to simulate, ns (default 2 s). */
  horizonNs: number;
  /** Counter sampling period, ns (default 20 ms). */
  sampleEveryNs: number;
  /** Also try MIGRATE_SYNC on the file's first folio (default true). */
  migrate: boolean;
  /** Record a trace (for swim lanes), default false. */
  trace: boolean;
}

/**
 * Input of {@link FuseHungServerConfig}: every field optional.
 *
 * @example
 * ```ts
 * import type { FuseHungServerConfigInput } from "@mmsim/mmsim";
 * const c: FuseHungServerConfigInput = { version: "6.12", serverLatency: { kind: "fixed", ns: 5e9 } };
 * if (c.version !== "6.12") throw new Error();
 * ```
 */
export type FuseHungServerConfigInput = Partial<FuseHungServerConfig>;

const hungSchema = z.object({
  version: z.string().regex(/^\d+\.\d+$/, "version must look like 6.12").default("6.16"),
  writeBytes: z.number().int().positive().default(1 << 20),
  serverLatency: zodOf(Latency).default({ kind: "never" }),
  serverThreads: z.number().int().min(1).default(1),
  syncAtNs: z.number().int().min(0).default(100_000_000),
  horizonNs: z.number().int().positive().default(2_000_000_000),
  sampleEveryNs: z.number().int().positive().default(20_000_000),
  migrate: z.boolean().default(true),
  trace: z.boolean().default(false),
});
const _hungTypes: Same<z.output<typeof hungSchema>, FuseHungServerConfig> = true;
void _hungTypes;

/**
 * The {@link FuseHungServerConfig} schema.
 *
 * @example
 * ```ts
 * import { FuseHungServerConfig } from "@mmsim/mmsim";
 * if (FuseHungServerConfig.safeParse({ writeBytes: 0 }).success) throw new Error("writeBytes > 0");
 * ```
 */
export const FuseHungServerConfig: ConfigSchema<FuseHungServerConfig, FuseHungServerConfigInput> =
  defineConfig("FuseHungServerConfig", hungSchema);

/**
 * One counter sample of {@link runFuseHungServer}.
 *
 * @example
 * ```ts
 * import type { FuseCounterSample } from "@mmsim/mmsim";
 * const s: FuseCounterSample = { version: "6.16", tNs: 0, counter: "Writeback", bytes: 4096 };
 * if (s.counter !== "Writeback") throw new Error();
 * ```
 */
export interface FuseCounterSample {
  /** Kernel version of the run. */
  version: string;
  /** Virtual time, ns. */
  tNs: number;
  /** Counter (`WritebackTmp` = NR_WRITEBACK_TEMP, `Writeback` = NR_WRITEBACK). */
  counter: "WritebackTmp" | "Writeback";
  /** Value in bytes. */
  bytes: number;
}

/**
 * How a blocking call of the scenario ended.
 *
 * @example
 * ```ts
 * import type { FuseCallOutcome } from "@mmsim/mmsim";
 * const o: FuseCallOutcome = { returned: false, atNs: -1, result: "hung", waitChain: "sync#5 → …" };
 * if (o.returned) throw new Error();
 * ```
 */
export interface FuseCallOutcome {
  /** It returned within the horizon. */
  returned: boolean;
  /** When it returned (ns), or -1. */
  atNs: number;
  /** Its result in words ("returned", "migrated", "-EBUSY" …, or "hung"). */
  result: string;
  /** If it did not return: its wait-for chain from the run's report. */
  waitChain: string;
}

/**
 * What {@link runFuseHungServer} measured.
 *
 * @example
 * ```ts
 * import { runFuseHungServer, type FuseHungServerResult } from "@mmsim/mmsim";
 * const r: FuseHungServerResult = runFuseHungServer({ version: "6.16", writeBytes: 8 * 4096, horizonNs: 2e8, migrate: false });
 * if (r.design !== "no-temp" || r.waits !== "hung") throw new Error(r.waits);
 * ```
 */
export interface FuseHungServerResult {
  /** Kernel version. */
  version: string;
  /** The FUSE writeback design that version uses. */
  design: FuseWritebackDesign;
  /** Counter samples over time. */
  samples: FuseCounterSample[];
  /** Peak NR_WRITEBACK_TEMP, bytes. */
  maxWritebackTmpBytes: number;
  /** Peak NR_WRITEBACK, bytes. */
  maxWritebackBytes: number;
  /** sync(2). */
  sync: FuseCallOutcome;
  /** MIGRATE_SYNC of the first folio (null when not tried). */
  migrate: FuseCallOutcome | null;
  /** Kind of the run's wait report at the end ("hung", "cycle", "blocked" or "none"). */
  waits: string;
  /** The run's wait-for report at the end (null if nothing was blocked). */
  waitReport: WaitReport | null;
  /** How the run ended. */
  reason: string;
  /** The trace, when asked for. */
  trace: Trace | null;
}

/**
 * Run the hung-server scenario (deterministic per `seed`).
 *
 * @example sync(2) hangs on a hung server without temp pages, returns with them
 * ```ts
 * import { runFuseHungServer } from "@mmsim/mmsim";
 * const now = runFuseHungServer({ version: "6.16", writeBytes: 64 * 4096, horizonNs: 5e8 });
 * const old = runFuseHungServer({ version: "6.12", writeBytes: 64 * 4096, horizonNs: 5e8 });
 * if (now.sync.returned || !old.sync.returned) throw new Error("sync");
 * if (now.maxWritebackTmpBytes !== 0 || old.maxWritebackTmpBytes !== 64 * 4096) throw new Error("temp");
 * ```
 */
export function runFuseHungServer(
  config: FuseHungServerConfigInput = {},
  seed = 1,
): FuseHungServerResult {
  const c = FuseHungServerConfig.parse(config);
  const env = new Engine({ seed, trace: c.trace });
  const pageBytes = 4096;
  const nrPages = Math.ceil(c.writeBytes / pageBytes);
  const mm = new Mm(env, {
    // 64 MiB or more: the write stays below the dirty thresholds (balance_dirty_pages).
    memory: { nrFrames: Math.max(16384, 16 * nrPages), pageSizeBytes: pageBytes },
    version: c.version,
  });
  const fm = new FuseMount(mm, {
    server: { threads: c.serverThreads, latency: c.serverLatency },
  });
  const fi = fm.createInode();
  // The flusher writes everything dirty at its next pass (dirty_expire 0, every 50 ms).
  spawnFlusher(mm, { dirtyWritebackCentisecs: 5, dirtyExpireCentisecs: 0 });
  const samples: FuseCounterSample[] = [];
  let maxTmp = 0, maxWb = 0;
  const sample = () => {
    const tmp = mm.vmstat.get("nr_writeback_temp") * pageBytes;
    const wb = mm.vmstat.get("nr_writeback") * pageBytes;
    maxTmp = Math.max(maxTmp, tmp);
    maxWb = Math.max(maxWb, wb);
    samples.push({ version: c.version, tNs: env.nowNs, counter: "WritebackTmp", bytes: tmp });
    samples.push({ version: c.version, tNs: env.nowNs, counter: "Writeback", bytes: wb });
  };
  env.spawn("sampler", function* (e) {
    while (e.nowNs + c.sampleEveryNs <= c.horizonNs) {
      sample();
      yield e.sleep(c.sampleEveryNs);
    }
  });
  env.onStep(() => {
    maxTmp = Math.max(maxTmp, mm.vmstat.get("nr_writeback_temp") * pageBytes);
    maxWb = Math.max(maxWb, mm.vmstat.get("nr_writeback") * pageBytes);
  });
  let written = false;
  env.spawn("writer", function* () {
    for (let i = 0; i < nrPages; i++) yield* fuseWriteIter(mm, fi, i, newContentTag(mm));
    written = true;
  });
  const sync: FuseCallOutcome = { returned: false, atNs: -1, result: "hung", waitChain: "" };
  const syncTask = env.spawn("sync", function* (e) {
    yield e.sleep(c.syncAtNs);
    while (!written) yield e.sleep(1_000_000);
    yield* syncFilesystem(mm);
    sync.returned = true;
    sync.atNs = e.nowNs;
    sync.result = "returned";
  });
  let migrate: FuseCallOutcome | null = null;
  let migrateTask = null;
  if (c.migrate) {
    const m: FuseCallOutcome = { returned: false, atNs: -1, result: "hung", waitChain: "" };
    migrate = m;
    migrateTask = env.spawn("migrate", function* (e) {
      yield e.sleep(c.syncAtNs);
      while (!written) yield e.sleep(1_000_000);
      const f = filemapGetEntry(fi.mapping, 0);
      if (f < 0 || !isolateFolioForMigration(mm, f)) {
        m.returned = true;
        m.atNs = e.nowNs;
        m.result = "not isolated";
        return;
      }
      const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
      putbackMovablePages(mm, r.failed);
      m.returned = true;
      m.atNs = e.nowNs;
      m.result = r.nrFailed === 0 ? "migrated" : `-${r.outcomes[0]?.rc ?? "?"}`;
    });
  }
  const run = env.run({ maxTimeNs: c.horizonNs, maxSteps: 50_000_000 });
  sample();
  const chainOf = (task: typeof syncTask | null): string => {
    if (!task || !run.waits) return "";
    const me = task.toString();
    const h = run.waits.hung.find((p) => p[0] === me);
    if (h) return h.join(" → ");
    const cy = run.waits.cycles.find((p) => p.includes(me));
    if (cy) return cy.join(" → ");
    const e = run.waits.blocked.find((b) => b.task === me);
    return e ? `${e.task} → ${e.waitsFor}` : "";
  };
  if (!sync.returned) sync.waitChain = chainOf(syncTask);
  if (migrate && !migrate.returned) migrate.waitChain = chainOf(migrateTask);
  return {
    version: c.version,
    design: fm.design,
    samples,
    maxWritebackTmpBytes: maxTmp,
    maxWritebackBytes: maxWb,
    sync,
    migrate,
    waits: run.waits?.kind ?? "none",
    waitReport: run.waits,
    reason: run.reason,
    trace: run.trace,
  };
}

/**
 * The model's prediction for the crosscheck experiment ({@link predictFuseWritebackCounters}).
 *
 * @example
 * ```ts
 * import { predictFuseWritebackCounters, type FuseWritebackPrediction } from "@mmsim/mmsim";
 * const p: FuseWritebackPrediction = predictFuseWritebackCounters("6.1", { bytes: 1 << 20 });
 * if (p.writebackTmpBytes !== 1 << 20) throw new Error(JSON.stringify(p));
 * ```
 */
export interface FuseWritebackPrediction {
  /** Kernel version asked about. */
  version: string;
  /** The FUSE writeback design the model uses for it. */
  design: FuseWritebackDesign;
  /** The /proc/meminfo line that holds the pages while the replies are delayed. */
  holder: "WritebackTmp" | "Writeback";
  /** NR_WRITEBACK_TEMP (WritebackTmp) at the sample, bytes. */
  writebackTmpBytes: number;
  /** NR_WRITEBACK (Writeback) at the sample, bytes. */
  writebackBytes: number;
  /** When the sample was taken, ns after sync(2) started the writeback. */
  sampledAfterNs: number;
  /** Whether sync(2) had returned by then. */
  syncReturned: boolean;
}

/**
 * The model's prediction for crosscheck experiment (a): write `bytes` (default 4 MiB) through
 * a FUSE file with the writeback cache, the server delaying every WRITE reply by `delayNs`
 * (default 5 s), sync(2) in the background; sample the counters half-way through the delay.
 * Kernels with temp pages (≤ v6.15) hold the pages in NR_WRITEBACK_TEMP, later ones in
 * NR_WRITEBACK.
 *
 * @example
 * ```ts
 * import { predictFuseWritebackCounters } from "@mmsim/mmsim";
 * const p = predictFuseWritebackCounters("6.12");
 * if (p.holder !== "WritebackTmp" || p.writebackTmpBytes !== 4 << 20) throw new Error(JSON.stringify(p));
 * const q = predictFuseWritebackCounters("7.0");
 * if (q.holder !== "Writeback" || q.writebackBytes !== 4 << 20 || q.syncReturned) throw new Error(JSON.stringify(q));
 * ```
 */
export function predictFuseWritebackCounters(
  version: string,
  opts: { bytes?: number; delayNs?: number } = {},
): FuseWritebackPrediction {
  const delay = opts.delayNs ?? 5_000_000_000;
  const syncAt = 10_000_000;
  const r = runFuseHungServer({
    version,
    writeBytes: opts.bytes ?? 4 << 20,
    serverLatency: { kind: "fixed", ns: delay },
    serverThreads: 4,
    syncAtNs: syncAt,
    horizonNs: syncAt + Math.floor(delay / 2),
    sampleEveryNs: Math.floor(delay / 2),
    migrate: false,
  });
  const last = (counter: string) =>
    r.samples.filter((s) => s.counter === counter).at(-1)?.bytes ?? 0;
  const tmp = last("WritebackTmp"), wb = last("Writeback");
  return {
    version,
    design: r.design,
    holder: tmp >= wb ? "WritebackTmp" : "Writeback",
    writebackTmpBytes: tmp,
    writebackBytes: wb,
    sampledAfterNs: Math.floor(delay / 2),
    syncReturned: r.sync.returned,
  };
}

/**
 * The temp-memory figure: WritebackTmp and Writeback over time with a hung server, one panel
 * per kernel, with the moment sync(2) returned (or "sync(2) hangs").
 *
 * @example
 * ```ts
 * import { runFuseHungServer, fuseHungServerFigure } from "@mmsim/mmsim";
 * const runs = ["6.12", "6.16"].map((version) => runFuseHungServer({ version, writeBytes: 16 * 4096, horizonNs: 3e8, migrate: false }));
 * if (!fuseHungServerFigure(runs).svg.includes("<path")) throw new Error("no lines");
 * ```
 */
export function fuseHungServerFigure(runs: readonly FuseHungServerResult[]): Figure {
  const label = (r: FuseHungServerResult) =>
    `v${r.version} (${r.design === "no-temp" ? "no temp pages" : "temp pages"})`;
  const data = runs.flatMap((r) =>
    r.samples.map((s) => ({ ...s, kernel: label(r), ms: s.tNs / 1e6, kib: s.bytes / 1024 }))
  );
  const notes = runs.map((r) => ({
    kernel: label(r),
    ms: r.sync.returned ? r.sync.atNs / 1e6 : (r.samples.at(-1)?.tNs ?? 0) / 1e6,
    text: r.sync.returned
      ? `sync(2) returned at ${(r.sync.atNs / 1e6).toFixed(0)} ms`
      : "sync(2) still blocked (hung)",
  }));
  const returned = notes.filter((_, i) => runs[i]!.sync.returned);
  const hung = notes.filter((_, i) => !runs[i]!.sync.returned);
  const ends = runs.flatMap((r) => {
    const last = r.samples.filter((s) => s.tNs === r.samples.at(-1)?.tNs);
    return last.map((s) => ({
      kernel: label(r),
      counter: s.counter,
      ms: s.tNs / 1e6,
      kib: s.bytes / 1024,
    }));
  });
  return plot({
    width: 760,
    height: 400,
    marginRight: 100,
    fy: { label: null, axis: null, padding: 0.15 },
    x: { label: "time (ms) →", grid: true },
    y: { label: "↑ KiB", grid: true },
    color: { legend: true, domain: ["WritebackTmp", "Writeback"] },
    marks: [
      Plot.line(data, {
        fy: "kernel",
        x: "ms",
        y: "kib",
        stroke: "counter",
        strokeWidth: 2,
        curve: "step-after",
      }),
      Plot.text(ends, {
        fy: "kernel",
        x: "ms",
        y: "kib",
        text: "counter",
        fill: "counter",
        textAnchor: "start",
        dx: 6,
        fontSize: 11,
      }),
      Plot.text(runs.map(label), {
        fy: (d: string) => d,
        frameAnchor: "top-left",
        text: (d: string) => d,
        dx: 6,
        dy: 4,
        fontWeight: "bold",
        fontSize: 12,
      }),
      Plot.ruleX(returned, { fy: "kernel", x: "ms", stroke: "#2ca02c", strokeDasharray: "4,3" }),
      Plot.text(returned, {
        fy: "kernel",
        x: "ms",
        frameAnchor: "middle",
        text: "text",
        textAnchor: "start",
        dx: 6,
        fill: "#2ca02c",
        fontSize: 11,
      }),
      Plot.text(hung, {
        fy: "kernel",
        frameAnchor: "middle",
        text: "text",
        fill: "#d62728",
        fontSize: 12,
      }),
    ],
  }, { title: "C1.4 — temp memory and sync(2) with a hung server, temp pages vs v6.16" });
}
