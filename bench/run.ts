/**
 * `deno task bench`: run every benchmark and print one table — figure, value, target, anchor,
 * met? — with the date, the machine's load, and the command behind each figure.
 *
 *     deno task bench [--quick] [--only engine,explore,replay,buddy,memory,growth,notebooks]
 *                     [--runs N] [--out DIR] [--docs]
 *
 * Every figure is measured in child processes (`bench/_child.ts`, `bench/replay_bench.ts
 * --single`, `tools/reproduce.ts`), timed by the parent from spawn to exit and, when GNU time
 * (/usr/bin/time) is installed, by the child's own CPU time and peak RSS:
 * - "whole process" rates divide the work a fresh process did (its start-up, set-up and JIT
 *   warm-up included) by that process's CPU time (user + system); the median of `--runs`
 *   processes is the value, and the wall-clock median is shown beside it;
 * - "steady state" rates are in-process medians of 5 timed repetitions after a warm-up.
 * The targets of issue 10 are judged on the whole-process CPU-time medians (wall time on a
 * shared 2-core machine measures the neighbours); see _harness.ts.
 *
 * Writes `DIR/results.json` (every row with its raw data), `DIR/table.md`, `DIR/growth.json`
 * and `DIR/growth.svg` (DIR defaults to `out/bench`); `--docs` also copies the growth figure and
 * its data to `docs/bench/` (committed, shown in README).
 *
 * @module
 */

import {
  denoRun,
  lastJson,
  loadAverage,
  median,
  type Rate,
  runTimed,
  type Timed,
} from "./_harness.ts";
import { runGrowth, writeGrowth } from "./growth.ts";
import { REFERENCE_TRACE_PATH } from "./gen_trace.ts";
import type { GrowthPoint } from "../lib/plot/growth.ts";

/** One row of the table. */
interface Row {
  /** Group: engine, explore, replay, buddy, memory, growth, notebooks. */
  group: string;
  /** What is measured. */
  figure: string;
  /** The value (whole-process CPU-time median where a rate). */
  value: string;
  /** The issue's target, or "—". */
  target: string;
  /** The issue's anchor, and what it measured here when measured. */
  anchor: string;
  /** Whether the target is met; null when there is no target. */
  met: boolean | null;
  /** How to reproduce the figure. */
  command: string;
  /** Raw measurements. */
  data: unknown;
}

const args = Deno.args;
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : fallback;
};
const quick = flag("quick");
const only = new Set(opt("only", "engine,explore,replay,buddy,memory,growth,notebooks").split(","));
const runs = Number(opt("runs", quick ? "3" : "5"));
const outDir = opt("out", "out/bench");
const rows: Row[] = [];

const M = (x: number, digits = 2) => `${(x / 1e6).toFixed(digits)} M`;
const fmtInt = (x: number) => x.toLocaleString("en-US");
const progress = (msg: string) => console.error(`bench: ${msg}`);
const CHILD_FLAGS = ["--allow-read"];
const childCmd = (a: string[]) => `deno run --allow-read bench/_child.ts ${a.join(" ")}`;

/** Run `cmd` `n` times as whole processes. */
async function repeat(
  n: number,
  cmd: string[],
  env?: Record<string, string>,
): Promise<Timed[]> {
  const out: Timed[] = [];
  for (let i = 0; i < n; i++) out.push(await runTimed(cmd, { env }));
  return out;
}

/** Whole-process rates: work / CPU time (null without GNU time) and work / wall time. */
function wholeRates(ts: Timed[], work: (t: Timed) => number): { cpu: number | null; wall: number } {
  const cpu = ts.every((t) => t.cpuS !== null) ? median(ts.map((t) => work(t) / t.cpuS!)) : null;
  return { cpu, wall: median(ts.map((t) => work(t) / t.wallS)) };
}

function rateValue(r: { cpu: number | null; wall: number }, unit: string): string {
  return r.cpu === null ? `${M(r.wall)} ${unit} (wall)` : `${M(r.cpu)} ${unit} (wall ${M(r.wall)})`;
}

function judged(r: { cpu: number | null; wall: number }, target: number): boolean {
  return (r.cpu ?? r.wall) >= target;
}

// ---------------------------------------------------------------- engine

async function engine(): Promise<void> {
  const rounds = quick ? 250_000 : 2_500_000;
  const ppArgs = ["pingpong", String(rounds), "1", "0"];
  progress(`engine ping-pong, ${runs} processes of ${fmtInt(2 * rounds)} steps`);
  const pp = await repeat(runs, denoRun("_child.ts", ppArgs, CHILD_FLAGS));
  const ppRate = wholeRates(pp, (t) => lastJson<{ work: number }>(t.stdout).work);
  const ppSteadyArgs = ["pingpong", String(Math.min(rounds, 1_000_000)), "5", "1"];
  const ppSteady = lastJson<{ rate: Rate }>(
    (await runTimed(denoRun("_child.ts", ppSteadyArgs, CHILD_FLAGS))).stdout,
  ).rate;
  rows.push({
    group: "engine",
    figure: "two-process ping-pong through a wait queue, steps (events)/s, whole process",
    value: rateValue(ppRate, "steps/s") + `; steady state ${M(ppSteady.cpu)}`,
    target: "≥ 5 M events/s",
    anchor: "SimPy ≈ 240 k events/s",
    met: judged(ppRate, 5e6),
    command: `${childCmd(ppArgs)} (×${runs}); steady: ${childCmd(ppSteadyArgs)}`,
    data: { whole: ppRate, steady: ppSteady, processes: pp },
  });

  const iters = quick ? 500 : 5000;
  const slArgs = ["sleepers", "1000", String(iters), "1", "0"];
  progress(`engine 1,000 processes, ${runs} processes of ${fmtInt(1000 * iters)} steps`);
  const sl = await repeat(runs, denoRun("_child.ts", slArgs, CHILD_FLAGS));
  const slRate = wholeRates(sl, (t) => lastJson<{ work: number }>(t.stdout).work);
  const slSteadyArgs = ["sleepers", "1000", String(Math.min(iters, 1000)), "5", "1"];
  const slSteady = lastJson<{ rate: Rate }>(
    (await runTimed(denoRun("_child.ts", slSteadyArgs, CHILD_FLAGS))).stdout,
  ).rate;
  rows.push({
    group: "engine",
    figure: "1,000 processes sleeping random intervals (event heap), steps/s, whole process",
    value: rateValue(slRate, "steps/s") + `; steady state ${M(slSteady.cpu)}`,
    target: "≥ 2 M events/s",
    anchor: "SimPy ≈ 240 k events/s",
    met: judged(slRate, 2e6),
    command: `${childCmd(slArgs)} (×${runs}); steady: ${childCmd(slSteadyArgs)}`,
    data: { whole: slRate, steady: slSteady, processes: sl },
  });
}

// ---------------------------------------------------------------- exploration

async function exploration(): Promise<void> {
  const cases: [string, string, string][] = [
    ["small", quick ? "20" : "200", "3 tasks × 2 racy increments, exhaustive (≤ 3 preemptions)"],
    ["deadlock", quick ? "50" : "500", "AB-BA mutex deadlock, exhaustive (≤ 3 preemptions)"],
    ["c13", quick ? "100" : "1000", "C1.3 FUSE writeback / reclaim deadlock search, random"],
    ["c13x", quick ? "3" : "20", "C1.3 deadlock search, bounded exhaustive (≤ 2 preemptions)"],
  ];
  for (const [which, n, what] of cases) {
    progress(`exploration: ${what}`);
    const a = which === "c13x"
      ? ["explore", "c13", n, "exhaustive"]
      : ["explore", which, n, ...(which === "c13" ? ["random"] : [])];
    const r = lastJson<{
      available: boolean;
      why?: string;
      executions: number;
      states: number | null;
      execPerSec?: Rate;
      statesPerSec?: Rate;
      steps?: number;
      complete?: boolean;
      deadlock?: string;
    }>((await runTimed(denoRun("_child.ts", a, CHILD_FLAGS))).stdout);
    let value: string;
    if (!r.available) value = `not available yet (${r.why})`;
    else {
      value = `${fmtInt(Math.round(r.execPerSec!.cpu))} executions/s, ` +
        `${fmtInt(Math.round(r.statesPerSec!.cpu))} distinct states/s ` +
        `(${r.executions} executions, ${r.states} states per search` +
        (r.deadlock ? `; deadlock ${r.deadlock}` : "") +
        (r.complete === undefined ? "" : r.complete ? "; complete" : "; cut by its bounds") + ")";
    }
    rows.push({
      group: "explore",
      figure: `exploration: ${what}`,
      value,
      target: "report",
      anchor: "—",
      met: null,
      command: childCmd(a),
      data: r,
    });
  }
}

// ---------------------------------------------------------------- replay

async function replay(): Promise<void> {
  const trace = REFERENCE_TRACE_PATH;
  try {
    await Deno.stat(trace);
  } catch {
    progress(`generating the reference trace ${trace}`);
    await runTimed(denoRun("gen_trace.ts", [], ["--allow-read=out", "--allow-write=out"]));
  }
  progress("replay: pure-LRU misses vs an independent exact LRU");
  const chk = lastJson<{ requests: number; pureLru: number; exactLru: number }>(
    (await runTimed(denoRun("_child.ts", ["lrucheck", trace, "100000"], CHILD_FLAGS))).stdout,
  );
  rows.push({
    group: "replay",
    figure: "pure-LRU misses, reference trace (10 M Zipf(1.0) requests, 1 M objects), " +
      "100,000-page cache",
    value: `${fmtInt(chk.pureLru)} (hit ratio ${(1 - chk.pureLru / chk.requests).toFixed(4)})`,
    target: "= any exact LRU",
    anchor: `independent exact LRU (bench/_exact_lru.ts): ${fmtInt(chk.exactLru)}`,
    met: chk.pureLru === chk.exactLru,
    command: childCmd(["lrucheck", trace, "100000"]),
    data: chk,
  });

  const naiveN = quick ? 50_000 : 200_000;
  const naive = lastJson<{ rate: Rate; misses: number }>(
    (await runTimed(denoRun("_child.ts", ["naive", trace, String(naiveN), "100000"], CHILD_FLAGS)))
      .stdout,
  );
  for (const policy of ["lru", "active_inactive"] as const) {
    progress(`replay ${policy}: ${runs} whole processes (read + decode + replay)`);
    const cmd = denoRun("replay_bench.ts", [
      "--single",
      policy,
      "--trace",
      trace,
      "--capacity",
      "100000",
    ], ["--allow-read"]);
    const ts = await repeat(runs, cmd);
    const whole = wholeRates(ts, () => chk.requests);
    const steadyArgs = ["replay", policy, trace, "100000", quick ? "2" : "5"];
    const steady = lastJson<{ rate: Rate; misses: number }>(
      (await runTimed(denoRun("_child.ts", steadyArgs, CHILD_FLAGS))).stdout,
    );
    const target = policy === "lru" ? 10e6 : 5e6;
    rows.push({
      group: "replay",
      figure: `page-cache replay, ${
        policy === "lru" ? "pure LRU" : "active/inactive lists"
      }, requests/s, whole process (read + decode + replay)`,
      value: rateValue(whole, "req/s") + `; replay loop alone ${M(steady.rate.cpu)} ` +
        `(misses ${fmtInt(steady.misses)})`,
      target: policy === "lru" ? "≥ 10 M req/s" : "≥ 5 M req/s",
      anchor: policy === "lru"
        ? `libCacheSim LRU ≈ 8 M (library), 5 M (CLI); C typed arrays ≈ 40 M, TS ≈ 25 M; ` +
          `naive Map LRU ≈ 0.09 M (here: ${M(naive.rate.cpu, 3)})`
        : "libCacheSim LRU ≈ 8 M (library)",
      met: judged(whole, target),
      command: `deno run --allow-read bench/replay_bench.ts --single ${policy} --trace ${trace} ` +
        `--capacity 100000 (×${runs}); loop: ${childCmd(steadyArgs)}`,
      data: { whole, steady, naive: policy === "lru" ? naive : undefined, processes: ts },
    });
  }
}

// ---------------------------------------------------------------- buddy and memory

let physMemBytesPerFrame = NaN, buddyStateBytes = NaN;

async function buddy(): Promise<void> {
  const frames = quick ? 1 << 20 : 4 << 20;
  const ops = quick ? 2_000_000 : 10_000_000;
  const wholeArgs = ["buddy", String(frames), String(ops), "1", "0"];
  const n = Math.min(runs, 3);
  progress(`buddy: ${n} whole processes of ${fmtInt(ops)} ops over ${fmtInt(frames)} frames`);
  const ts = await repeat(n, denoRun("_child.ts", wholeArgs, CHILD_FLAGS));
  const whole = wholeRates(ts, (t) => lastJson<{ work: number }>(t.stdout).work);
  const steadyArgs = ["buddy", String(frames), String(ops), "5", "1"];
  progress("buddy: steady state, model and minimal anchor");
  const steady = lastJson<{ rate: Rate; physMemBytesPerFrame: number; buddyBytesPerFrame: number }>(
    (await runTimed(denoRun("_child.ts", steadyArgs, CHILD_FLAGS))).stdout,
  );
  physMemBytesPerFrame = steady.physMemBytesPerFrame;
  buddyStateBytes = steady.buddyBytesPerFrame;
  const minArgs = ["minimal", String(frames), String(ops), "5", "1"];
  const minimal = lastJson<{ rate: Rate; bytesPerFrame: number }>(
    (await runTimed(denoRun("_child.ts", minArgs, CHILD_FLAGS))).stdout,
  );
  const smallArgs = ["buddy", "65536", String(ops), "5", "1"];
  const small = lastJson<{ rate: Rate }>(
    (await runTimed(denoRun("_child.ts", smallArgs, CHILD_FLAGS))).stdout,
  );
  const thp = lastJson<{ rate: Rate }>(
    (await runTimed(denoRun("_child.ts", steadyArgs, CHILD_FLAGS), {
      env: { GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" },
    })).stdout,
  );
  rows.push({
    group: "buddy",
    figure: `buddy allocator, random alloc/free at ~50 % use over ${
      frames === 4 << 20 ? "4 Mi" : fmtInt(frames)
    } frames, ops/s, whole process`,
    value: rateValue(whole, "ops/s") + `; steady state ${M(steady.rate.cpu)}; ` +
      `64 Ki frames (in cache) ${M(small.rate.cpu)}; arrays on THP ${M(thp.rate.cpu)}`,
    target: "≥ 20 M ops/s",
    anchor: `C ≈ 35–47 M, TS ≈ 21–26 M (minimal allocators); minimal TS allocator here ` +
      `(bench/_minimal_buddy.ts): ${M(minimal.rate.cpu)}`,
    met: judged(whole, 20e6),
    command: `${childCmd(wholeArgs)} (×${n}); steady: ${childCmd(steadyArgs)}; anchor: ` +
      `${childCmd(minArgs)}; THP: GLIBC_TUNABLES=glibc.malloc.hugetlb=1 ${childCmd(steadyArgs)}`,
    data: { whole, steady, minimal, small, thp, processes: ts },
  });
  rows.push({
    group: "memory",
    figure: "buddy allocator state per frame (free-list links + order; PG_buddy is a flag bit)",
    value: `${buddyStateBytes.toFixed(2)} B/frame`,
    target: "report",
    anchor: `9–10 B/frame (minimal allocators; here ${minimal.bytesPerFrame} B)`,
    met: null,
    command: childCmd(steadyArgs),
    data: { buddyStateBytes },
  });
}

async function memory(): Promise<void> {
  if (Number.isNaN(physMemBytesPerFrame)) {
    const r = lastJson<{ physMemBytesPerFrame: number }>(
      (await runTimed(denoRun("_child.ts", ["buddy", "65536", "1000", "1", "0"], CHILD_FLAGS)))
        .stdout,
    );
    physMemBytesPerFrame = r.physMemBytesPerFrame;
  }
  rows.push({
    group: "memory",
    figure: "model state per frame (PhysMem typed arrays, pageblock bytes amortised)",
    value: `${physMemBytesPerFrame.toFixed(3)} B/frame`,
    target: "≤ 48 B/frame",
    anchor: "struct page: 64 B/frame",
    met: physMemBytesPerFrame <= 48,
    command: "new PhysMem({ nrFrames }).bytesPerFrame()",
    data: { physMemBytesPerFrame },
  });
  const frames = quick ? 1 << 20 : 16 << 20;
  progress(`memory: allocate + fragment + compact ${fmtInt(frames)} frames in one process`);
  const a = ["scale", String(frames)];
  const t = await runTimed(denoRun("_child.ts", a, CHILD_FLAGS));
  const r = lastJson<{
    phases: { phase: string; seconds: number; rssBytes: number; migrated?: number }[];
    rssBytes: number;
  }>(t.stdout);
  const peak = t.maxRssBytes;
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  rows.push({
    group: "memory",
    figure: `${
      frames === 16 << 20 ? "16 Mi frames (64 GiB of 4 KiB pages)" : `${fmtInt(frames)} frames`
    }: allocate, fragment (50 % used), compact_memory, in one process`,
    value: `peak RSS ${peak === null ? "unknown (no GNU time)" : MiB(peak)}; ` +
      r.phases.map((p) =>
        `${p.phase}: RSS ${MiB(p.rssBytes)} (${p.seconds.toFixed(1)} s` +
        (p.migrated !== undefined ? `, ${fmtInt(p.migrated)} pages migrated)` : ")")
      ).join("; "),
    target: "< 1 GiB RSS",
    anchor: "struct page alone: 1 GiB for 16 Mi frames",
    met: (peak ?? Math.max(...r.phases.map((p) => p.rssBytes))) < 2 ** 30,
    command: `${childCmd(a)} (peak RSS from GNU time)`,
    data: { ...r, peakRssBytes: peak, wallS: t.wallS, cpuS: t.cpuS },
  });
}

// ---------------------------------------------------------------- growth

let growth: GrowthPoint[] = [];

async function growthSweep(): Promise<void> {
  progress("growth: frames 2^10 … 2^24, tasks 2 … 10^4 (one process per point)");
  growth = await runGrowth({
    ...(quick
      ? { frameExponents: [10, 14, 18, 20], processes: [2, 100, 1000], steps: 500_000 }
      : {}),
    progress,
  });
  const fr = growth.filter((p) => p.sweep === "frames");
  const pr = growth.filter((p) => p.sweep === "processes");
  const spread = (ps: GrowthPoint[]) => {
    const v = ps.map((p) => p.opsPerSec);
    return Math.max(...v) / Math.min(...v);
  };
  // The same sweep on the minimal implementations (anchors): their own spread shows how much
  // of the fall comes with the workload's size on this machine (caches, TLB) rather than the
  // model.
  const anchorSpread = (ps: GrowthPoint[], what: string) => {
    const v = ps.map((p) => p.anchorOpsPerSec ?? NaN);
    if (v.some((x) => !(x > 0))) return "—";
    const ex2 = (x: number) => x >= 1024 && Number.isInteger(Math.log2(x)) ? ex(x) : fmtInt(x);
    return `${what}: ` + ps.map((p) => `${ex2(p.x)}: ${M(p.anchorOpsPerSec!, 1)}`).join(", ") +
      ` (max/min ${(Math.max(...v) / Math.min(...v)).toFixed(1)}×)`;
  };
  const ex = (x: number) => `2^${Math.log2(x)}`;
  rows.push({
    group: "growth",
    figure: `buddy alloc/free ops/s (CPU) across ${ex(fr[0]!.x)} … ${ex(fr.at(-1)!.x)} frames`,
    value: fr.map((p) => `${ex(p.x)}: ${M(p.opsPerSec, 1)}`).join(", ") +
      ` (max/min ${spread(fr).toFixed(1)}×)`,
    target: "flat (max/min ≤ 2×)",
    anchor: anchorSpread(fr, "minimal allocator (bench/_minimal_buddy.ts)"),
    met: spread(fr) <= 2,
    command: "deno run --allow-read --allow-write --allow-run bench/growth.ts",
    data: fr,
  });
  // Linear growth: the marginal RSS per frame between successive sweep points (the fixed
  // start-up overhead cancels) should equal PhysMem's bytes per frame. From 2^18 frames up:
  // below, a few MiB of V8 heap noise is more than 10 % of the step.
  const perFrame = fr[0]!.modelBytes / fr[0]!.x;
  const slopes = fr.slice(1).filter((p) => p.x >= 1 << 20).map((p) => {
    const q = fr[fr.indexOf(p) - 1]!;
    return {
      from: q.x,
      to: p.x,
      bytesPerFrame: ((p.rssBytes ?? 0) - (q.rssBytes ?? 0)) / (p.x - q.x),
    };
  });
  rows.push({
    group: "growth",
    figure: "marginal RSS per added frame between sweep points from 2^18 frames (arrays committed)",
    value: slopes.map((s) => `${ex(s.from)}→${ex(s.to)}: ${s.bytesPerFrame.toFixed(1)} B`)
      .join(", "),
    target: "linear: PhysMem's B/frame ± 10 %",
    anchor: `PhysMem arrays: ${perFrame.toFixed(1)} B/frame`,
    met: slopes.length > 0 &&
      slopes.every((s) => Math.abs(s.bytesPerFrame / perFrame - 1) <= 0.1),
    command: "deno run --allow-read --allow-write --allow-run bench/growth.ts",
    data: slopes,
  });
  rows.push({
    group: "growth",
    figure: `engine steps/s (CPU) across ${pr[0]!.x} … ${fmtInt(pr.at(-1)!.x)} tasks`,
    value: pr.map((p) => `${fmtInt(p.x)}: ${M(p.opsPerSec, 1)}`).join(", ") +
      ` (max/min ${spread(pr).toFixed(1)}×)`,
    target: "flat (max/min ≤ 2×)",
    anchor: anchorSpread(pr, "minimal event loop (minimalEventLoop)"),
    met: spread(pr) <= 2,
    command: "deno run --allow-read --allow-write --allow-run bench/growth.ts",
    data: pr,
  });
  const heavy = pr.filter((p) => p.x >= 1000);
  rows.push({
    group: "growth",
    figure: "JS heap per engine task (after GC), from 1,000 tasks up",
    value: heavy.map((p) => `${fmtInt(p.x)}: ${(p.modelBytes / p.x).toFixed(0)} B`).join(", "),
    target: "linear (constant per task, ±25 %)",
    anchor: "—",
    met: heavy.length > 0 &&
      Math.max(...heavy.map((p) => p.modelBytes / p.x)) /
            Math.min(...heavy.map((p) => p.modelBytes / p.x)) <= 1.25,
    command: "deno run --allow-read --allow-write --allow-run bench/growth.ts",
    data: heavy,
  });
}

// ---------------------------------------------------------------- notebooks

async function notebooks(): Promise<void> {
  progress("notebooks: deno task reproduce (claims + every notebook), whole process");
  const cmd = [
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    new URL("../tools/reproduce.ts", import.meta.url).pathname,
  ];
  const t = await runTimed(cmd);
  const nbs = [...t.stderr.matchAll(/^notebook \d+\/\d+ (\S+): (.*) \(([\d.]+) s\)$/gm)]
    .map((m) => ({ name: m[1]!, status: m[2]!, seconds: Number(m[3]) }));
  const skipped = nbs.length === 0;
  const slowest = nbs.reduce((a, b) => (b.seconds > a.seconds ? b : a), {
    name: "-",
    status: "",
    seconds: 0,
  });
  rows.push({
    group: "notebooks",
    figure: "deno task reproduce (every claim + every notebook), wall time",
    value: `${t.wallS.toFixed(0)} s`,
    target: "< 10 min",
    anchor: "—",
    met: t.wallS < 600,
    command: "deno task reproduce",
    data: { wallS: t.wallS, cpuS: t.cpuS },
  });
  rows.push({
    group: "notebooks",
    figure: `slowest notebook (of ${nbs.length}) executed in Jupyter`,
    value: skipped
      ? "no notebook ran (Jupyter's nbconvert missing?)"
      : `${slowest.name}: ${slowest.seconds.toFixed(1)} s (${slowest.status})`,
    target: "< 2 min each",
    anchor: "—",
    met: skipped ? null : nbs.every((n) => n.seconds < 120),
    command: "deno task reproduce",
    data: nbs,
  });
}

// ---------------------------------------------------------------- main

const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const load0 = loadAverage();
const started = performance.now();
if (only.has("engine")) await engine();
if (only.has("explore")) await exploration();
if (only.has("replay")) await replay();
if (only.has("buddy")) await buddy();
if (only.has("memory")) await memory();
if (only.has("growth")) await growthSweep();
if (only.has("notebooks")) await notebooks();
const load1 = loadAverage();

const metText = (m: boolean | null) => (m === null ? "—" : m ? "yes" : "NO");
const esc = (s: string) => s.replaceAll("|", "\\|");
const header = [
  `mmsim benchmarks, ${date}${quick ? " (--quick)" : ""}: Deno ${Deno.version.deno}, V8 ` +
  `${Deno.version.v8}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.target}`,
  `load average ${load0?.map((x) => x.toFixed(2)).join(" ") ?? "?"} at start, ` +
  `${load1?.map((x) => x.toFixed(2)).join(" ") ?? "?"} at end; ` +
  `${((performance.now() - started) / 1000).toFixed(0)} s in all. Rates: median over processes ` +
  `of work / CPU time (wall-clock median in brackets).`,
];
const table = [
  "| figure | value | target | anchor | met? |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map((r) =>
    `| ${esc(r.figure)} | ${esc(r.value)} | ${esc(r.target)} | ${esc(r.anchor)} | ${
      metText(r.met)
    } |`
  ),
];
const commands = rows.map((r) => `- ${r.figure}: \`${r.command}\``);
const md = [...header, "", ...table, "", "Commands:", "", ...commands, ""].join("\n");

await Deno.mkdir(outDir, { recursive: true });
const written = [`${outDir}/results.json`, `${outDir}/table.md`];
await Deno.writeTextFile(
  written[0]!,
  JSON.stringify({ date, quick, load: { start: load0, end: load1 }, rows }, null, 1) + "\n",
);
await Deno.writeTextFile(written[1]!, md);
if (growth.length > 0) {
  written.push(...await writeGrowth(growth, outDir));
  if (flag("docs")) written.push(...await writeGrowth(growth, "docs/bench"));
}
console.log(md);
progress(`wrote ${written.join(", ")}`);
