/**
 * Figures of thread 003 (CLAIMS.md "Measurements and plots"): Plot A (writeback violations per
 * 10⁶ completions vs δ for {no ref, ref} × {if, while}), Plot B (the same for PG_private_2 with
 * use-after-free and lost waits), Plot C (migration -EAGAIN rate and lost waits vs cache-write
 * duration), the swim lanes of a found race, and the kernel eras side by side.
 *
 * Rates of zero cannot sit on a log axis: a point with no event is drawn hollow on a dashed
 * floor at half the detection limit (10⁶ / completions / 2) and labelled "0 observed".
 *
 * Not a kernel model.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import type { Counterexample } from "../sim/explore.ts";
import { Trace } from "../sim/trace.ts";
import { type Figure, plot } from "../plot/display.ts";
import { swimLanes } from "../plot/timeline.ts";
import type { WbRaceResult } from "./thread003_wb.ts";
import type { NetfsRaceResult } from "./thread003_netfs.ts";
import type { MigrateRaceResult } from "./thread003_migrate.ts";

interface RatePoint {
  variant: string;
  delayNs: number;
  metric: string;
  perMillion: number;
  y: number;
  zero: boolean;
}

const VARIANT_COLORS: Record<string, string> = {
  "no ref + if": "#d62728",
  "no ref + while": "#ff7f0e",
  "ref + if": "#9467bd",
  "ref + while": "#2ca02c",
  "no ref + while, waits skipped": "#8c564b",
  "ref + while, waits skipped": "#17becf",
};

function colorScale(variants: readonly string[]) {
  return {
    legend: true,
    domain: variants,
    range: variants.map((v) => VARIANT_COLORS[v] ?? "#7f7f7f"),
  };
}

function yDomain(data: readonly RatePoint[], floor: number): [number, number] {
  return [floor / 2, Math.max(floor * 10, ...data.map((d) => d.y)) * 1.5];
}

function floorOf(completions: readonly number[]): number {
  return 1e6 / Math.max(1, ...completions) / 2;
}

function rateMarks(data: RatePoint[], floor: number, fx?: string): unknown[] {
  const opts = fx ? { fx } : {};
  const maxX = Math.max(...data.map((d) => d.delayNs));
  const solid = data.filter((d) => !d.variant.includes("skipped"));
  const dashed = data.filter((d) => d.variant.includes("skipped"));
  return [
    Plot.ruleY([floor], { stroke: "#999", strokeDasharray: "2,3" }),
    Plot.line(solid, { x: "delayNs", y: "y", stroke: "variant", z: "variant", ...opts }),
    Plot.line(dashed, {
      x: "delayNs",
      y: "y",
      stroke: "variant",
      z: "variant",
      strokeDasharray: "5,3",
      ...opts,
    }),
    Plot.dot(data.filter((d) => !d.zero), {
      x: "delayNs",
      y: "y",
      fill: "variant",
      r: 3.5,
      title: (d: RatePoint) => `${d.variant}, δ=${d.delayNs} ns: ${d.perMillion.toFixed(0)}/10⁶`,
      ...opts,
    }),
    Plot.dot(data.filter((d) => d.zero), {
      x: "delayNs",
      y: "y",
      stroke: "variant",
      fill: "white",
      r: 3.5,
      title: (d: RatePoint) => `${d.variant}, δ=${d.delayNs} ns: 0 observed`,
      ...opts,
    }),
    Plot.text([{ x: maxX, y: floor }], {
      x: "x",
      y: "y",
      text: () => "0 observed ↓",
      dy: -8,
      textAnchor: "end",
      fill: "#777",
      fontSize: 10,
    }),
  ];
}

/**
 * Plot A: violations per 10⁶ writeback completions vs δ (log–log), one line per variant.
 * The title carries the page reuse the allocator pressure produced.
 *
 * @example
 * ```ts
 * import { wbRaceFigure, wbRaceSweep } from "@mmsim/mmsim";
 * const fig = wbRaceFigure(wbRaceSweep({ delaysNs: [100, 10_000], completions: 300, seed: 1 }));
 * if (!fig.svg.includes("<path")) throw new Error("lines");
 * ```
 */
export function wbRaceFigure(points: readonly WbRaceResult[], title?: string): Figure {
  const floor = floorOf(points.map((p) => p.completions));
  const data: RatePoint[] = points.map((p) => ({
    variant: p.variant,
    delayNs: p.delayNs,
    metric: "violations",
    perMillion: p.violationsPerMillion,
    y: p.violationsPerMillion > 0 ? p.violationsPerMillion : floor,
    zero: p.violationsPerMillion === 0,
  }));
  const variants = [...new Set(points.map((p) => p.variant))];
  const reuse = points.map((p) => p.meanReuseNs).filter((x) => x > 0);
  const frees = points.map((p) => p.freesPerMs);
  const note = reuse.length > 0
    ? ` — freed frames reused after ${(Math.min(...reuse) / 1000).toFixed(1)}–${
      (Math.max(...reuse) / 1000).toFixed(1)
    } µs, ${Math.min(...frees).toFixed(0)}–${Math.max(...frees).toFixed(0)} frees/ms`
    : "";
  return plot({
    width: 760,
    height: 420,
    marginLeft: 70,
    x: { type: "log", label: "δ between clear of PG_writeback and wake (ns) →", grid: true },
    y: {
      type: "log",
      label: "↑ violations per 10⁶ completions",
      grid: true,
      domain: yDomain(data, floor),
    },
    color: colorScale(variants),
    marks: rateMarks(data, floor),
  }, { title: (title ?? "Plot A: end-of-writeback race vs δ") + note });
}

/**
 * Plot B: per 10⁶ cache-write completions vs δ, one panel per counter (violations,
 * use-after-free, lost waits), one line per PG_private_2 design (dashed: waits skipped).
 *
 * @example
 * ```ts
 * import { netfsRaceFigure, netfsRaceSweep, PRIVATE2_VARIANTS } from "@mmsim/mmsim";
 * const pts = netfsRaceSweep({ delaysNs: [10_000], completions: 200, seed: 1, variants: PRIVATE2_VARIANTS.slice(0, 2) });
 * if (!netfsRaceFigure(pts).svg.includes("<circle")) throw new Error("dots");
 * ```
 */
export function netfsRaceFigure(points: readonly NetfsRaceResult[], title?: string): Figure {
  const floor = floorOf(points.map((p) => p.completions));
  const data: RatePoint[] = [];
  for (const p of points) {
    for (
      const [metric, v] of [
        ["violations (VM_BUG_ON, bad page)", p.violationsPerMillion],
        ["use-after-free", p.uafPerMillion],
        ["lost waits", p.lostWaitsPerMillion],
      ] as const
    ) {
      data.push({
        variant: p.variant,
        delayNs: p.delayNs,
        metric,
        perMillion: v,
        y: v > 0 ? v : floor,
        zero: v === 0,
      });
    }
  }
  const variants = [...new Set(points.map((p) => p.variant))];
  return plot({
    width: 960,
    height: 440,
    marginLeft: 70,
    marginBottom: 45,
    fx: {
      label: null,
      domain: ["violations (VM_BUG_ON, bad page)", "use-after-free", "lost waits"],
    },
    x: { type: "log", label: "δ between clear of PG_private_2 and wake (ns) →", grid: true },
    y: {
      type: "log",
      label: "↑ per 10⁶ cache-write completions",
      grid: true,
      domain: yDomain(data, floor),
    },
    color: colorScale(variants),
    marks: rateMarks(data, floor, "metric"),
  }, { title: title ?? "Plot B: PG_private_2 (PG_fscache) end-of-write race vs δ" });
}

/**
 * Plot C: migration outcome per attempt vs cache-write duration — -EAGAIN (with the measured
 * cache writes in flight per page, dashed) and lost waits — for the two expected-reference rules.
 *
 * @example
 * ```ts
 * import { migrateRaceFigure, migrateRaceSweep } from "@mmsim/mmsim";
 * const fig = migrateRaceFigure(migrateRaceSweep({ durationsNs: [1e4, 1e6], attempts: 40, seed: 1 }));
 * if (!fig.svg.includes("<path")) throw new Error("lines");
 * ```
 */
export function migrateRaceFigure(points: readonly MigrateRaceResult[], title?: string): Figure {
  const rows: { rule: string; d: number; metric: string; value: number }[] = [];
  for (const p of points) {
    rows.push({
      rule: p.variant,
      d: p.cacheWriteNs,
      metric: "-EAGAIN per attempt",
      value: p.eagainRate,
    });
    rows.push({
      rule: p.variant,
      d: p.cacheWriteNs,
      metric: "lost waits per attempt",
      value: p.lostWaitsPerAttempt,
    });
  }
  const inflight = points.map((p) => ({
    rule: p.variant,
    d: p.cacheWriteNs,
    metric: "-EAGAIN per attempt",
    value: p.writesInFlightPerPage,
  }));
  const rules = [...new Set(points.map((p) => p.variant))];
  return plot({
    width: 900,
    height: 380,
    marginLeft: 60,
    marginBottom: 45,
    fx: { label: null },
    x: { type: "log", label: "cache-write duration (ns) →", grid: true },
    y: { label: "↑ per migration attempt (dashed: cache writes in flight per page)", grid: true },
    color: { legend: true, domain: rules, range: ["#1f77b4", "#d62728"] },
    marks: [
      Plot.ruleY([0]),
      Plot.line(inflight, {
        x: "d",
        y: "value",
        stroke: "rule",
        fx: "metric",
        strokeDasharray: "4,3",
        strokeOpacity: 0.6,
      }),
      Plot.line(rows, { x: "d", y: "value", stroke: "rule", fx: "metric" }),
      Plot.dot(rows, {
        x: "d",
        y: "value",
        fill: "rule",
        fx: "metric",
        r: 3.5,
        title: (r: { rule: string; d: number; value: number }) =>
          `${r.rule}, ${r.d} ns: ${r.value}`,
      }),
    ],
  }, { title: title ?? "Plot C: migration during a cache write" });
}

/**
 * Swim lanes of a found race (an exploration's counterexample), with the events that tell the
 * story: start/end of the bit, frees and allocations, waits, stale wakes, violations.
 *
 * @example
 * ```ts
 * import { explore, exhaustive, raceSwimLanes, wbReuseRace } from "@mmsim/mmsim";
 * const r = explore(wbReuseRace({ ref: false, loop: false }), { search: exhaustive() });
 * if (!raceSwimLanes(r.counterexample!).svg.includes("<circle")) throw new Error();
 * ```
 */
export function raceSwimLanes(cx: Counterexample, title?: string): Figure {
  const keep = new Set([
    "folio_start_writeback",
    "folio_end_writeback",
    "folio_wait_writeback",
    "folio_wake_stale",
    "folio_wake_bit_spurious",
    "netfs_folio_start_private_2",
    "netfs_folio_end_private_2",
    "folio_wait_private_2",
    "mm_page_free",
    "mm_page_alloc",
    "mm_filemap_delete_from_page_cache",
    "mm_filemap_add_to_page_cache",
    "mm_migrate_flag_dropped",
    "violation",
  ]);
  // Drop the setup (events before the first task ran), renumbering what is left.
  const trace = new Trace();
  trace.taskNames.push(...cx.trace.taskNames);
  const first = cx.trace.events.findIndex((e) => e.task >= 0 && e.kind !== "sched_process_fork");
  for (const e of cx.trace.events.slice(Math.max(0, first))) {
    trace.events.push({ ...e, i: trace.events.length });
  }
  return swimLanes(trace, {
    x: "order",
    kinds: (k) => keep.has(k),
    width: 900,
    title: title ?? `found race: ${cx.violations[0]?.name ?? cx.why}`,
  });
}

/**
 * One bar of {@link thread003EraFigure}.
 *
 * @example
 * ```ts
 * import { kernelEra, runWbRace, thread003EraFigure, type Thread003EraRow } from "@mmsim/mmsim";
 * const row = (era: string): Thread003EraRow => {
 *   const e = kernelEra(era);
 *   const r = runWbRace({
 *     ref: e.endWritebackTakesRef,
 *     loop: e.waitWritebackLoops,
 *     delayNs: 10_000,
 *     completions: 500,
 *   });
 *   const perMillion = r.violationsPerMillion;
 *   return { scenario: "PG_writeback", era, metric: "violations", perMillion };
 * };
 * const rows = [row("5.9"), row("6.12")];
 * if (rows[1]!.perMillion !== 0) throw new Error("6.12 holds a reference and loops");
 * if (!thread003EraFigure(rows).svg.includes("5.9")) throw new Error("one bar per era");
 * ```
 */
export interface Thread003EraRow {
  /** "PG_writeback", "PG_private_2", "migration". */
  scenario: string;
  /** Kernel era label ("5.9", "6.12", …). */
  era: string;
  /** What is counted. */
  metric: string;
  /** The count per 10⁶ completions (or per attempt × 10⁶). */
  perMillion: number;
}

/**
 * The same scenarios under several kernel eras, side by side: one bar per scenario, era and
 * counter, grouped by scenario, with the value at the end of each bar.
 *
 * @example
 * ```ts
 * import { thread003EraFigure } from "@mmsim/mmsim";
 * const fig = thread003EraFigure([{ scenario: "PG_writeback", era: "5.9", metric: "violations", perMillion: 5000 },
 *   { scenario: "PG_writeback", era: "6.12", metric: "violations", perMillion: 0 }]);
 * if (!fig.svg.includes("<rect")) throw new Error();
 * ```
 */
export function thread003EraFigure(rows: readonly Thread003EraRow[], title?: string): Figure {
  const data = rows.map((r) => ({ ...r, label: `${r.scenario} · ${r.era} · ${r.metric}` }));
  const labels = [...new Set(data.map((d) => d.label))];
  const metrics = [...new Set(data.map((d) => d.metric))];
  const max = Math.max(1, ...data.map((d) => d.perMillion));
  return plot({
    width: 900,
    height: 80 + 20 * data.length,
    marginLeft: 330,
    marginRight: 80,
    x: {
      label: "per 10⁶ completions (migration: per 10⁶ attempts) →",
      grid: true,
      domain: [0, max * 1.1],
    },
    y: { label: null, domain: labels },
    color: { legend: true, domain: metrics },
    marks: [
      Plot.barX(data, {
        y: "label",
        x: "perMillion",
        fill: "metric",
        title: (d: Thread003EraRow) => `${d.scenario} ${d.era}: ${d.metric} ${d.perMillion}`,
      }),
      Plot.text(data, {
        y: "label",
        x: "perMillion",
        text: (d: Thread003EraRow) => (d.perMillion === 0 ? "0" : d.perMillion.toFixed(0)),
        textAnchor: "start",
        dx: 4,
        fontSize: 10,
      }),
      Plot.ruleX([0]),
    ],
  }, { title: title ?? "The same scenarios by kernel era" });
}
