/**
 * Growth benchmark: throughput and memory as the simulated machine grows from 2^10 to 2^24
 * frames (4 MiB … 64 GiB of 4 KiB pages) and as the engine runs from 2 to 10^4 tasks. Each
 * point runs in a fresh process (`bench/_child.ts`), so its RSS is its own.
 *
 * - frames: the buddy allocator workload of `bench/buddy_bench.ts` (random alloc/free at about
 *   50 % use) — median alloc/free operations per CPU second of 3 runs after a warm-up — the
 *   bytes of PhysMem's per-frame arrays, and the growth of the process's RSS from before the
 *   `PhysMem` is made to after the zone is filled and every array page touched;
 * - tasks: N tasks sleeping random intervals, about 2 M engine steps in all — steps per CPU
 *   second of one run — and the JS heap the N tasks hold (after a full GC, `--expose-gc`);
 * - anchors, each point in its own process too: the minimal buddy allocator
 *   (bench/_minimal_buddy.ts) on the same workload at each frame count, and the minimal event
 *   loop (`minimalEventLoop` in bench/_engine_workloads.ts) at each task count — whether a fall
 *   in throughput is the model's or comes with the workload's size on this machine.
 *
 *     deno run --allow-read --allow-write --allow-run bench/growth.ts [--quick] [--out DIR]
 *
 * writes `DIR/growth.json` (the `GrowthPoint[]`) and `DIR/growth.svg` (`growthFigure`),
 * DIR defaulting to `out/bench`. `bench/run.ts` runs it as part of `deno task bench`.
 *
 * @module
 */

import { denoRun, lastJson, runTimed } from "./_harness.ts";
import { growthFigure, type GrowthPoint } from "../lib/plot/growth.ts";

/** Sweep parameters. */
export interface GrowthOptions {
  /** log2 of the frame counts (default 10, 12, …, 24). */
  frameExponents?: number[];
  /** Task counts (default 2, 10, 100, 1000, 10000). */
  processes?: number[];
  /** Buddy operations per timed run (default 2 M). */
  opsPerRun?: number;
  /** Engine steps per task-sweep point (default 2 M). */
  steps?: number;
  /** Called after each point with a progress line. */
  progress?: (msg: string) => void;
}

/** Run the sweeps; every point in its own process. */
export async function runGrowth(o: GrowthOptions = {}): Promise<GrowthPoint[]> {
  const exps = o.frameExponents ?? [10, 12, 14, 16, 18, 20, 22, 24];
  const procs = o.processes ?? [2, 10, 100, 1000, 10_000];
  const ops = o.opsPerRun ?? 2_000_000, steps = o.steps ?? 2_000_000;
  const points: GrowthPoint[] = [];
  for (const e of exps) {
    const t = await runTimed(denoRun("_child.ts", ["frames", String(2 ** e), String(ops)]));
    const r = lastJson<{ rate: { cpu: number }; modelBytes: number; rssDeltaBytes: number }>(
      t.stdout,
    );
    const a = await runTimed(
      denoRun("_child.ts", ["minimal", String(2 ** e), String(ops), "3", "1"]),
    );
    const anchor = lastJson<{ rate: { cpu: number } }>(a.stdout).rate.cpu;
    points.push({
      sweep: "frames",
      x: 2 ** e,
      opsPerSec: r.rate.cpu,
      modelBytes: r.modelBytes,
      rssBytes: r.rssDeltaBytes,
      anchorOpsPerSec: anchor,
    });
    o.progress?.(
      `growth: 2^${e} frames: ${(r.rate.cpu / 1e6).toFixed(2)} M ops/s ` +
        `(minimal allocator ${(anchor / 1e6).toFixed(2)} M), ` +
        `RSS +${(r.rssDeltaBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  }
  for (const n of procs) {
    const t = await runTimed(
      denoRun("_child.ts", ["procs", String(n), String(steps)], ["--v8-flags=--expose-gc"]),
    );
    const r = lastJson<{ rate: { cpu: number }; heapPerTask: number }>(t.stdout);
    const a = await runTimed(denoRun("_child.ts", ["minprocs", String(n), String(steps)]));
    const anchor = lastJson<{ rate: { cpu: number } }>(a.stdout).rate.cpu;
    points.push({
      sweep: "processes",
      x: n,
      opsPerSec: r.rate.cpu,
      modelBytes: Math.max(0, r.heapPerTask) * n,
      anchorOpsPerSec: anchor,
    });
    o.progress?.(
      `growth: ${n} tasks: ${(r.rate.cpu / 1e6).toFixed(2)} M steps/s ` +
        `(minimal event loop ${(anchor / 1e6).toFixed(2)} M), ${r.heapPerTask.toFixed(0)} B/task`,
    );
  }
  return points;
}

/** Write `growth.json` and `growth.svg` into `dir`; returns their paths. */
export async function writeGrowth(points: GrowthPoint[], dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const json = `${dir}/growth.json`, svg = `${dir}/growth.svg`;
  await Deno.writeTextFile(json, JSON.stringify(points, null, 1) + "\n");
  const fig = growthFigure(points, {
    title: "mmsim growth: buddy allocator vs frames, engine vs tasks (CPU-time rates)",
  });
  await Deno.writeTextFile(svg, fig.svg + "\n");
  return [json, svg];
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const i = Deno.args.indexOf("--out");
  const dir = i >= 0 ? Deno.args[i + 1]! : "out/bench";
  const points = await runGrowth({
    ...(quick ? { frameExponents: [10, 14, 18], processes: [2, 100, 1000], steps: 200_000 } : {}),
    progress: (m) => console.error(m),
  });
  console.log((await writeGrowth(points, dir)).join("\n"));
}
