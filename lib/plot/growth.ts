/**
 * The growth figure of the benchmarks: how throughput and memory change as the simulated
 * machine grows (frames, 2^10 … 2^24) and as the number of simulated tasks grows (2 … 10^4).
 * Four panels: buddy allocator throughput and memory against frames, engine throughput and
 * memory against tasks. Flat throughput and straight log–log memory lines of slope 1 mean the
 * model scales linearly. Where a point carries `anchorOpsPerSec`, the throughput panels also draw
 * a minimal implementation of the same workload, so a fall the model shares with the minimal
 * one (caches) can be told from one of its own.
 *
 * The measurements come from `bench/growth.ts` (they need the wall clock, which the library
 * never reads); the tour notebook draws the committed results (`docs/bench/growth.json`) with
 * {@link growthFigure}. Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import { type Figure, figure, type FigureOptions, plot } from "./display.ts";

/**
 * One point of a growth sweep.
 *
 * @example
 * ```ts
 * import type { GrowthPoint } from "@mmsim/mmsim";
 * const p: GrowthPoint = { sweep: "frames", x: 1024, opsPerSec: 2e7, modelBytes: 46080 };
 * if (p.sweep !== "frames") throw new Error("sweep");
 * ```
 */
export interface GrowthPoint {
  /** Which sweep: simulated frames (buddy allocator) or simulated tasks (engine). */
  sweep: "frames" | "processes";
  /** Frames or tasks. */
  x: number;
  /** Buddy alloc/free operations per second, or engine steps per second. */
  opsPerSec: number;
  /** Model state in bytes: PhysMem's per-frame arrays, or the JS heap the tasks hold. */
  modelBytes: number;
  /** Growth of the process's resident set size over the sweep point, in bytes (optional). */
  rssBytes?: number;
  /**
   * The same workload on a minimal implementation (the benchmarks' anchor: a buddy allocator
   * with nothing but free lists, or a bare event loop over generators), operations per second
   * (optional). Drawn as a second line in the throughput panels.
   */
  anchorOpsPerSec?: number;
}

/** A panel's data row: one series value at one x. */
interface Row {
  x: number;
  y: number;
  series: string;
}

const PANEL_WIDTH = 340;
const PANEL_HEIGHT = 230;

const SERIES = [
  "buddy alloc/free",
  "engine steps",
  "PhysMem arrays",
  "task heap",
  "RSS growth",
  "minimal anchor",
];

/** Tick labels: SI suffixes for counts and rates, plain decimals for MiB. */
function tick(d: number): string {
  if (d >= 1000) return d >= 1e6 ? `${d / 1e6}M` : `${d / 1e3}k`;
  return d < 1 ? String(Number(d.toPrecision(1))) : String(d);
}

function panel(
  rows: Row[],
  xLabel: string,
  yLabel: string,
  logY: boolean,
  labelAt: "first" | "last" = "last",
): string {
  // Label each series at its last (or first) point (an SVG legend: Plot's swatch legends are
  // HTML); the second series of a panel is labelled below its line, the first above. Throughput
  // lines converge at the large end, so those panels label at the first point.
  const end = new Map<string, Row>();
  for (const r of rows) {
    const e = end.get(r.series);
    if (e === undefined || (labelAt === "last" ? e.x <= r.x : e.x > r.x)) end.set(r.series, r);
  }
  const labels = [...end.values()].map((r, i) => ({ ...r, dy: i === 0 ? -10 : 14 }));
  const anchor = labelAt === "last" ? "end" : "start";
  const spec = {
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    marginLeft: 56,
    marginRight: 16,
    marginTop: 24,
    x: { type: "log", label: xLabel, tickFormat: tick },
    y: logY
      ? { type: "log", label: yLabel, grid: true, tickFormat: tick }
      : { label: yLabel, grid: true, zero: true },
    color: { domain: SERIES, scheme: "tableau10" },
    marks: [
      Plot.line(rows, { x: "x", y: "y", stroke: "series" }),
      Plot.dot(rows, { x: "x", y: "y", stroke: "series", fill: "white", r: 3 }),
      ...labels.map((l) =>
        Plot.text([l], {
          x: "x",
          y: "y",
          text: "series",
          fill: "series",
          textAnchor: anchor,
          dy: l.dy,
          stroke: "white",
          strokeWidth: 3,
          paintOrder: "stroke",
        })
      ),
    ],
  };
  return plot(spec).svg;
}

/**
 * Draw the growth figure from sweep points (see {@link GrowthPoint}): throughput against frames
 * and tasks on log x axes (flat is good), and memory against frames and tasks on log–log axes
 * (a straight line of slope 1 is linear growth). The four panels are laid out 2 × 2 in one SVG.
 *
 * @example
 * ```ts
 * import { growthFigure, type GrowthPoint } from "@mmsim/mmsim";
 * const pts: GrowthPoint[] = [];
 * for (const x of [1024, 4096, 16384]) {
 *   pts.push({ sweep: "frames", x, opsPerSec: 2e7, modelBytes: 45 * x, rssBytes: 50 * x, anchorOpsPerSec: 4e7 });
 * }
 * for (const x of [2, 100, 10000]) pts.push({ sweep: "processes", x, opsPerSec: 5e6, modelBytes: 900 * x });
 * const fig = growthFigure(pts, { title: "Growth" });
 * if (!fig.svg.includes("Growth") || (fig.svg.match(/<svg/g) ?? []).length < 5) throw new Error("4 panels");
 * ```
 */
export function growthFigure(points: readonly GrowthPoint[], options: FigureOptions = {}): Figure {
  const frames = points.filter((p) => p.sweep === "frames").sort((a, b) => a.x - b.x);
  const procs = points.filter((p) => p.sweep === "processes").sort((a, b) => a.x - b.x);
  const mem = (ps: GrowthPoint[], what: string): Row[] => {
    // Log axes: points without a positive measurement (heap noise at 2 tasks) are left out.
    const rows: Row[] = ps.filter((p) => p.modelBytes > 0)
      .map((p) => ({ x: p.x, y: p.modelBytes / 2 ** 20, series: what }));
    for (const p of ps) {
      if (p.rssBytes !== undefined && p.rssBytes > 0) {
        rows.push({ x: p.x, y: p.rssBytes / 2 ** 20, series: "RSS growth" });
      }
    }
    return rows;
  };
  const rate = (ps: GrowthPoint[], what: string): Row[] => {
    const rows: Row[] = ps.map((p) => ({ x: p.x, y: p.opsPerSec / 1e6, series: what }));
    for (const p of ps) {
      if (p.anchorOpsPerSec !== undefined && p.anchorOpsPerSec > 0) {
        rows.push({ x: p.x, y: p.anchorOpsPerSec / 1e6, series: "minimal anchor" });
      }
    }
    return rows;
  };
  const panels = [
    panel(
      rate(frames, "buddy alloc/free"),
      "frames →",
      "↑ M ops/s",
      false,
      "first",
    ),
    panel(mem(frames, "PhysMem arrays"), "frames →", "↑ MiB", true),
    panel(
      rate(procs, "engine steps"),
      "tasks →",
      "↑ M steps/s",
      false,
      "first",
    ),
    panel(mem(procs, "task heap"), "tasks →", "↑ MiB", true),
  ];
  const svgs = panels;
  const w = 2 * PANEL_WIDTH, h = 2 * PANEL_HEIGHT;
  let body = "";
  svgs.forEach((svg, i) => {
    const x = (i % 2) * PANEL_WIDTH, y = Math.floor(i / 2) * PANEL_HEIGHT;
    body += `<g transform="translate(${x},${y})">${svg}</g>`;
  });
  const markup = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
    `viewBox="0 0 ${w} ${h}" style="background: white; font: 10px sans-serif">` +
    `${body}</svg>`;
  return figure(markup, options);
}
