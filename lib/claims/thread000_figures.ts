/**
 * Figures of thread 000 (CLAIMS.md "Measurements and plots"): Plot A (fraction of target
 * pageblocks freed within the deadline vs server latency p99, ∞ at the right edge, per design ×
 * migration mode), Plot B (locked READ folios, pipe-referenced frames and pages under
 * construction during a streaming read), the C0.3 growth against L × rate, stale reads and
 * use-after-free under exploration (C0.2), the pipe pin of C0.4, and C0.5's copy variants with
 * the cost model calibrated to Joanne Koong's table.
 *
 * Not a kernel model.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import type { ExploreResult } from "../sim/explore.ts";
import { type Figure, plot } from "../plot/display.ts";
import { type Table, table } from "../plot/table.ts";
import type { MigrateModeRow, PlotAPoint, ReadDesign } from "./thread000_world.ts";
import type { GrowthPoint000, PipeHoldResult, StreamResult } from "./thread000_stream.ts";
import type { CopyCostModel, CopyVariantResult } from "./thread000_copy.ts";

const DESIGN_COLORS: Record<ReadDesign, string> = {
  "locked placeholder": "#d62728",
  "abandon hook": "#2ca02c",
  "late allocation": "#1f77b4",
  "splice": "#ff7f0e",
};
const DESIGN_DASH: Record<ReadDesign, string> = {
  "locked placeholder": "none",
  "abandon hook": "none",
  "late allocation": "6,3",
  "splice": "6,3",
};
const DESIGN_DY: Record<ReadDesign, number> = {
  "locked placeholder": 3,
  "abandon hook": 3,
  "late allocation": -3,
  "splice": -3,
};

/**
 * Plot A: fraction of target pageblocks freed within the deadline against the server latency
 * p99 (log axis, ms), one panel per migration mode, one line per read design; a hung server
 * (∞) is a separate point at the right edge. Lines that coincide are offset by 3 px.
 *
 * @example
 * ```ts
 * import { plotAFigure } from "@mmsim/mmsim";
 * const fig = plotAFigure([
 *   { design: "locked placeholder", mode: "MIGRATE_SYNC", p99Ns: 1e6, fraction: 1, blocks: 8 },
 *   { design: "locked placeholder", mode: "MIGRATE_SYNC", p99Ns: Infinity, fraction: 0, blocks: 8 },
 * ]);
 * if (!fig.svg.includes("<path") || !fig.html.includes("∞")) throw new Error();
 * ```
 */
export function plotAFigure(points: readonly PlotAPoint[], title?: string): Figure {
  const finite = points.filter((p) => Number.isFinite(p.p99Ns));
  const maxMs = Math.max(1, ...finite.map((p) => p.p99Ns / 1e6));
  const infX = maxMs * 4;
  const data = points.map((p) => ({
    ...p,
    x: Number.isFinite(p.p99Ns) ? p.p99Ns / 1e6 : infX,
    hung: !Number.isFinite(p.p99Ns),
    mode: p.mode.replace("MIGRATE_", ""),
  }));
  const designs = [...new Set(points.map((p) => p.design))];
  const ticks = [1, 10, 100, 1000, 10000].filter((t) => t <= maxMs).concat([infX]);
  const marks: unknown[] = [
    Plot.ruleX([Math.sqrt(maxMs * infX)], { stroke: "#bbb", strokeDasharray: "2,3" }),
    Plot.ruleY([0, 1], { stroke: "#eee" }),
  ];
  for (const d of designs) {
    const mine = data.filter((p) => p.design === d);
    marks.push(
      Plot.line(mine.filter((p) => !p.hung), {
        x: "x",
        y: "fraction",
        z: "mode",
        fx: "mode",
        stroke: DESIGN_COLORS[d],
        strokeWidth: 2,
        strokeDasharray: DESIGN_DASH[d],
        dy: DESIGN_DY[d],
      }),
      Plot.dot(mine, {
        x: "x",
        y: "fraction",
        fx: "mode",
        fill: (p: { hung: boolean }) => (p.hung ? "white" : DESIGN_COLORS[d]),
        stroke: DESIGN_COLORS[d],
        r: 3.5,
        dy: DESIGN_DY[d],
        title: (p: { design: string; mode: string; x: number; fraction: number; hung: boolean }) =>
          `${p.design}, ${p.mode}, p99 ${p.hung ? "∞" : `${p.x} ms`}: ${p.fraction}`,
      }),
    );
  }
  marks.push(
    Plot.dot(designs.map((d) => ({ design: d })), { x: () => 0, y: () => 0, r: 0, fill: "design" }),
  );
  return plot({
    width: 900,
    height: 320,
    marginBottom: 40,
    x: {
      type: "log",
      label: "server latency p99 (ms) →",
      ticks,
      tickFormat: (t: number) => (t === infX ? "∞" : String(t)),
      domain: [Math.min(1, ...finite.map((p) => p.p99Ns / 1e6)) / 1.5, infX * 1.5],
    },
    y: { label: "↑ fraction of target pageblocks freed within 100 ms", domain: [-0.05, 1.05] },
    fx: { label: null, domain: ["ASYNC", "SYNC_LIGHT", "SYNC"] },
    color: { legend: true, domain: designs, range: designs.map((d) => DESIGN_COLORS[d]) },
    marks,
  }, {
    title: title ??
      "Plot A: pageblocks holding FUSE readahead folios freed within 100 ms (∞ = hung server)",
  });
}

/**
 * C0.1's mode table: one readahead folio, one `migrate_pages` per design × mode × latency.
 *
 * @example
 * ```ts
 * import { modeTableFigure } from "@mmsim/mmsim";
 * const t = modeTableFigure([{ design: "splice", mode: "MIGRATE_ASYNC", latency: "5 ms", rc: "EAGAIN", returned: true, timeNs: 0, waits: "" }]);
 * if (!t.text.includes("EAGAIN")) throw new Error();
 * ```
 */
export function modeTableFigure(rows: readonly MigrateModeRow[]): Table {
  return table(
    rows.map((r) => ({
      design: r.design,
      mode: r.mode.replace("MIGRATE_", ""),
      "server latency": r.latency,
      "migrate_pages rc": r.rc,
      "returned after": r.returned ? `${(r.timeNs / 1e6).toFixed(3)} ms` : "never (hung wait)",
    })),
    { title: "C0.1: one readahead folio, one migrate_pages call per mode" },
  );
}

/**
 * Plot B: during a streaming read at a fixed latency, page-cache folios locked by READs, frames
 * referenced by pipes, and pages under construction, one panel per design.
 *
 * @example
 * ```ts
 * import { streamingRead, plotBFigure } from "@mmsim/mmsim";
 * const fig = plotBFigure([streamingRead({ design: "splice", durationNs: 20e6 })]);
 * if (!fig.svg.includes("<path")) throw new Error();
 * ```
 */
export function plotBFigure(results: readonly StreamResult[], title?: string): Figure {
  const data: Array<{ design: string; tMs: number; series: string; n: number }> = [];
  for (const r of results) {
    for (const s of r.samples) {
      const t = s.tNs / 1e6;
      data.push({
        design: r.config.design,
        tMs: t,
        series: "locked !uptodate (READ)",
        n: s.lockedReadFolios,
      });
      data.push({
        design: r.config.design,
        tMs: t,
        series: "pipe-referenced frames",
        n: s.pipeFrames,
      });
      data.push({
        design: r.config.design,
        tMs: t,
        series: "pages under construction",
        n: s.underConstruction,
      });
    }
  }
  const series = ["locked !uptodate (READ)", "pipe-referenced frames", "pages under construction"];
  const r0 = results[0];
  const L = r0 && r0.config.latency.kind === "fixed" ? r0.config.latency.ns / 1e6 : NaN;
  const colors = ["#d62728", "#ff7f0e", "#1f77b4"];
  const dash = ["none", "4,3", "none"];
  return plot({
    width: 900,
    height: 130 * Math.max(1, results.length) + 60,
    marginRight: 130,
    x: { label: "time (ms) →" },
    y: { label: "↑ pages" },
    fy: { label: null },
    color: { legend: true, domain: series, range: colors },
    marks: [
      Plot.ruleY([0], { stroke: "#ccc" }),
      ...series.map((name, i) =>
        Plot.line(data.filter((d) => d.series === name), {
          x: "tMs",
          y: "n",
          stroke: colors[i],
          strokeWidth: i === 1 ? 2.5 : 1.5,
          strokeDasharray: dash[i],
          fy: "design",
          curve: "step-after",
        })
      ),
    ],
  }, {
    title: title ??
      `Plot B: streaming reads at L = ${L} ms — what the page cache and the pipes hold`,
  });
}

/**
 * C0.3: mean locked READ folios against L × read rate, placeholders vs late allocation, with
 * the least-squares line through the origin.
 *
 * @example
 * ```ts
 * import { growthFigure000 } from "@mmsim/mmsim";
 * const pts = [{ design: "locked placeholder", latencyNs: 1e6, streams: 1, pagesPerSec: 1000,
 *   lTimesRate: 1, meanLocked: 1.1, meanUnderConstruction: 0, maxLocked: 4, maxLockedMinusOutstanding: 0 }] as const;
 * if (!growthFigure000(pts, { slope: 1.1, r2: 1 }).svg.includes("<circle")) throw new Error();
 * ```
 */
export function growthFigure000(
  points: readonly GrowthPoint000[],
  fit: { slope: number; r2: number },
): Figure {
  const maxX = Math.max(1, ...points.map((p) => p.lTimesRate));
  const data = points.map((p) => ({
    ...p,
    y: p.design === "late allocation" ? p.maxLocked : p.meanLocked,
    what: p.design === "late allocation"
      ? "late allocation (max locked)"
      : "locked placeholder (mean locked)",
  }));
  return plot({
    width: 640,
    height: 360,
    x: { label: "L × read rate (pages) →" },
    y: { label: "↑ locked page-cache folios held by READs" },
    color: {
      legend: true,
      domain: ["locked placeholder (mean locked)", "late allocation (max locked)"],
      range: ["#d62728", "#1f77b4"],
    },
    marks: [
      Plot.line([{ x: 0, y: 0 }, { x: maxX, y: maxX }], {
        x: "x",
        y: "y",
        stroke: "#999",
        strokeDasharray: "3,3",
      }),
      Plot.line([{ x: 0, y: 0 }, { x: maxX, y: fit.slope * maxX }], {
        x: "x",
        y: "y",
        stroke: "#d62728",
        strokeOpacity: 0.5,
      }),
      Plot.dot(data, {
        x: "lTimesRate",
        y: "y",
        fill: "what",
        r: 4,
        title: (p: GrowthPoint000) => `L ${p.latencyNs / 1e6} ms, ${p.streams} stream(s)`,
      }),
      Plot.text([{ x: maxX, y: fit.slope * maxX }], {
        x: "x",
        y: "y",
        text: () => `fit ${fit.slope.toFixed(2)} × (R² ${fit.r2.toFixed(3)})`,
        dx: -6,
        dy: -10,
        textAnchor: "end",
      }),
    ],
  }, { title: "C0.3: the locked-folio gap grows linearly with L × read rate (dashed: y = x)" });
}

/**
 * C0.2: per explored variant, executions in which the hook abandoned a folio, a reader got an
 * error, a reader got stale data, a use-after-free or any violation was recorded.
 *
 * @example
 * ```ts
 * import { explore, randomSearch, abandonRaceWorld, staleReadsFigure } from "@mmsim/mmsim";
 * const r = explore(abandonRaceWorld({ abandon: "unlock", lateReply: "copy", mode: "MIGRATE_ASYNC" }),
 *   { search: randomSearch({ executions: 20, seed: 1 }), stopOnViolation: false });
 * if (!staleReadsFigure({ "unlock, copied": r }).svg.includes("<rect")) throw new Error();
 * ```
 */
export function staleReadsFigure(explorations: Readonly<Record<string, ExploreResult>>): Figure {
  const kinds = ["abandoned", "read error", "stale read", "violation:use-after-free", "violation"];
  const data: Array<{ variant: string; kind: string; runs: number; of: number }> = [];
  const short = (v: string) =>
    v.replace("late reply ", "").replace(/, (MIGRATE_)?(ASYNC|SYNC_LIGHT|SYNC)$/, "");
  for (const [v, r] of Object.entries(explorations)) {
    const variant = short(v);
    for (const k of kinds) {
      data.push({ variant, kind: k, runs: r.counts[k] ?? 0, of: r.executions });
    }
  }
  const top = Math.max(1, ...data.map((d) => d.runs)) * 1.15;
  const variants = Object.keys(explorations).map(short).sort((a, b) =>
    Number(a.includes("copied")) - Number(b.includes("copied")) || a.localeCompare(b)
  );
  return plot({
    width: 1000,
    height: 300,
    marginLeft: 60,
    marginTop: 40,
    x: { label: null, tickFormat: () => "", domain: kinds },
    fx: { label: null, domain: variants },
    y: { label: "↑ executions", domain: [0, top] },
    color: {
      legend: true,
      domain: kinds,
      range: ["#7f7f7f", "#bcbd22", "#d62728", "#9467bd", "#ff7f0e"],
    },
    marks: [
      Plot.barY(data, {
        x: "kind",
        y: "runs",
        fill: "kind",
        fx: "variant",
        title: (d: { kind: string; runs: number; of: number }) => `${d.kind}: ${d.runs} of ${d.of}`,
      }),
      Plot.text(data, {
        x: "kind",
        y: "runs",
        fx: "variant",
        text: (d: { runs: number }) => String(d.runs),
        dy: -6,
      }),
      Plot.ruleY([0]),
    ],
  }, {
    title:
      "C0.2: stale reads and use-after-free under exploration — 0 with the hook, > 0 when the late reply is copied",
  });
}

/**
 * C0.4: migration attempts on a page written through to a server that reads the WRITE with
 * splice (pipe-held) or read(2), against time; rules at the reply.
 *
 * @example
 * ```ts
 * import { pipeHoldTrial, pipeHoldFigure } from "@mmsim/mmsim";
 * const s = pipeHoldTrial({ splice: true, latencyNs: 2e6, holdNs: 5e6 });
 * const c = pipeHoldTrial({ splice: false, latencyNs: 2e6, holdNs: 5e6 });
 * if (!pipeHoldFigure([s, c]).svg.includes("<circle")) throw new Error();
 * ```
 */
export function pipeHoldFigure(results: readonly PipeHoldResult[]): Figure {
  const data = results.flatMap((r) =>
    r.attempts.map((a) => ({
      server: r.splice ? `splice read, pipe held ${r.holdNs / 1e6} ms` : "read(2)",
      tMs: a.tNs / 1e6,
      rc: a.rc,
      refs: a.extraRefs,
    }))
  );
  const r0 = results[0];
  return plot({
    width: 900,
    height: 200,
    marginLeft: 200,
    x: { label: "time (ms) →" },
    y: { label: null },
    color: {
      legend: true,
      domain: ["EAGAIN", "MIGRATEPAGE_SUCCESS"],
      range: ["#d62728", "#2ca02c"],
    },
    marks: [
      r0 ? Plot.ruleX([r0.latencyNs / 1e6], { stroke: "#999", strokeDasharray: "3,3" }) : null,
      Plot.dot(data, {
        x: "tMs",
        y: "server",
        fill: "rc",
        r: 5,
        title: (d: { rc: string; refs: number }) => `${d.rc}, ${d.refs} extra reference(s)`,
      }),
      r0
        ? Plot.text([{ x: r0.latencyNs / 1e6 }], {
          x: "x",
          frameAnchor: "top",
          text: () => "WRITE replied",
          dy: 8,
          dx: 4,
          textAnchor: "start",
        })
        : null,
    ],
  }, {
    title: "C0.4: a written page stays unmigratable (-EAGAIN) while the server's pipe holds it",
  });
}

/**
 * C0.5: counts per WRITE path (copies, allocations, the folio after the server's copy).
 *
 * @example
 * ```ts
 * import { copyVariantTrial, copyCountsTable } from "@mmsim/mmsim";
 * if (!copyCountsTable([copyVariantTrial("temp page", 2)]).text.includes("temp page")) throw new Error();
 * ```
 */
export function copyCountsTable(variants: readonly CopyVariantResult[]): Table {
  return table(
    variants.map((v) => ({
      path: v.variant,
      "memcpy from folio / page": v.memcpyFromFolioPerPage,
      "memcpy total / page": v.memcpyTotalPerPage,
      "allocations / page": v.allocsPerPage,
      "locked after copy": v.lockedAfterCopy,
      "writeback after copy": v.writebackAfterCopy,
      "extra refs after copy": v.extraRefAfterCopy,
      "migrated (ASYNC) after copy": `${v.migratedAfterCopy}/${v.pages}`,
    })),
    { title: "C0.5: per page of writeback, with the server's reply outstanding" },
  );
}

/**
 * C0.5's Plot D: MiB/s by write size with and without temp pages — Joanne Koong's table (dots)
 * and the calibrated cost model (bars).
 *
 * @example
 * ```ts
 * import { calibrateCopyCost, copyThroughputFigure } from "@mmsim/mmsim";
 * if (!copyThroughputFigure(calibrateCopyCost()).svg.includes("<rect")) throw new Error();
 * ```
 */
export function copyThroughputFigure(model: CopyCostModel): Figure {
  const label = (b: number) => (b >= 1 << 20 ? `${b >> 20}M` : `${b >> 10}k`);
  const rows = model.rows.map((r) => ({
    size: label(r.writeBytes),
    design: r.variant === "before" ? "temp pages (≤ v6.15)" : "no temp pages (v6.16)",
    model: r.modelMiBs,
    table: r.tableMiBs,
  }));
  const sizes = [...new Set(rows.map((r) => r.size))];
  return plot({
    width: 640,
    height: 320,
    fx: { label: "write size", domain: sizes },
    x: {
      label: null,
      tickFormat: () => "",
      domain: ["temp pages (≤ v6.15)", "no temp pages (v6.16)"],
    },
    y: { label: "↑ MiB/s", grid: true },
    color: {
      legend: true,
      domain: ["temp pages (≤ v6.15)", "no temp pages (v6.16)"],
      range: ["#ff7f0e", "#1f77b4"],
    },
    marks: [
      Plot.barY(rows, { fx: "size", x: "design", y: "model", fill: "design", fillOpacity: 0.6 }),
      Plot.dot(rows, {
        fx: "size",
        x: "design",
        y: "table",
        stroke: "black",
        fill: "white",
        r: 4,
        title: (d: { table: number; model: number }) =>
          `table ${d.table}, model ${d.model.toFixed(0)}`,
      }),
      Plot.ruleY([0]),
    ],
  }, {
    title: `C0.5: cost model (bars) vs Joanne Koong's benchmark (dots); temp-page work ` +
      `${model.tempPageNs.toFixed(0)} ns/page`,
  });
}
