/**
 * Figures of thread 002 (CLAIMS.md "Measurements and plots"): the cheapest-strategy heatmap
 * with isocost lines (C2.3), stale events per 10⁶ operations by protocol variant (C2.2, C2.4),
 * faults, copies and mkwrite events per device write episode (C2.2), the exploration verdicts
 * (C2.1), the direct-I/O invalidation outcomes (C2.4) and what the illegal-state checker flags
 * (C2.5). Each takes the data the scenario functions return and gives a {@link Figure}.
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import { type Figure, plot } from "../plot/display.ts";
import type { HmmExploration } from "./thread002_world.ts";
import type { DioInvalidationCounts } from "./thread002_dio.ts";
import { HMM_STRATEGIES, type HmmCostCell } from "./thread002_cost.ts";

const STRATEGY_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#bbbbbb"];

/**
 * C2.3: the cheapest strategy over (r, w), one panel per page size (columns) and copy
 * bandwidth (rows), with lines of equal cost per operation (µs) of the cheapest strategy.
 *
 * @example
 * ```ts
 * import { hmmCheapest, hmmCostFigure, hmmCostSweep } from "@mmsim/mmsim";
 * const cells = hmmCheapest(hmmCostSweep({ gridSteps: 3, ops: 30, pageSizes: [4096] }), { faultCostNs: 5000, copyBandwidthGBps: 16 });
 * if (!hmmCostFigure(cells).svg.includes("<rect")) throw new Error("cells drawn");
 * ```
 */
export function hmmCostFigure(cells: readonly HmmCostCell[], title?: string): Figure {
  const rs = [...new Set(cells.map((c) => c.r))].sort((a, b) => a - b);
  const d = rs.length > 1 ? rs[1]! - rs[0]! : 1;
  const data = cells.map((c) => ({
    ...c,
    page: `${c.pageSizeBytes / 1024} KiB pages`,
    bandwidth: `${c.copyBandwidthGBps} GB/s`,
    costUs: c.minCostNsPerOp / 1000,
  }));
  const pages = [...new Set(data.map((c) => c.page))];
  const bws = [...new Set(data.map((c) => c.bandwidth))];
  return plot({
    width: 300 * pages.length + 80,
    height: 270 * bws.length + 70,
    marginRight: 70,
    x: { label: "CPU-touch fraction r →", domain: [-d / 2, 1 + d / 2] },
    y: { label: "↑ device-write fraction w", domain: [-d / 2, 1 + d / 2] },
    fx: { label: null, domain: pages },
    fy: { label: null, domain: bws },
    color: {
      legend: true,
      domain: [...HMM_STRATEGIES, "tie"],
      range: STRATEGY_COLORS,
      label: "cheapest",
    },
    marks: [
      Plot.rect(data, {
        x1: (c: HmmCostCell) => c.r - d / 2,
        x2: (c: HmmCostCell) => c.r + d / 2,
        y1: (c: HmmCostCell) => c.w - d / 2,
        y2: (c: HmmCostCell) => c.w + d / 2,
        fill: "cheapest",
        fillOpacity: 0.75,
        fx: "page",
        fy: "bandwidth",
        title: (c: HmmCostCell) =>
          `r=${c.r.toFixed(2)} w=${c.w.toFixed(2)}: ` +
          HMM_STRATEGIES.map((s) => `${s} ${(c.costNsPerOp[s] / 1000).toFixed(2)} µs`).join(", "),
      }),
      Plot.contour(data, {
        x: "r",
        y: "w",
        value: "costUs",
        fx: "page",
        fy: "bandwidth",
        interpolate: "barycentric",
        thresholds: 6,
        stroke: "black",
        strokeOpacity: 0.55,
        fill: "none",
      }),
    ],
  }, {
    title: title ??
      "C2.3 cheapest strategy per operation mix (lines: equal cost per op of the cheapest)",
  });
}

/**
 * Per-10⁶-operation stale rates of one exploration.
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmStaleFigure, type HmmStaleRow, hmmStaleRows } from "@mmsim/mmsim";
 * const x = exploreHmm({ strategy: "migrate", deviceOps: 1 }, { seed: 1, executions: 2 });
 * const rows: HmmStaleRow[] = hmmStaleRows([x], (x) => x.config.strategy);
 * const labels = rows.map((r) => `${r.variant}: ${r.kind}`).join(" | ");
 * if (labels !== "migrate: stale reads | migrate: stale writebacks") throw new Error(labels);
 * if (!hmmStaleFigure(rows).svg.includes("<svg")) throw new Error();
 * ```
 */
export interface HmmStaleRow {
  /** Variant (or strategy) label. */
  variant: string;
  /** "stale reads" or "stale writebacks". */
  kind: string;
  /** Events per 10⁶ operations. */
  perMillionOps: number;
}

/**
 * Rows of stale events per 10⁶ operations, two per exploration, labelled by `label(x)`
 * (default: the variant).
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmStaleRows } from "@mmsim/mmsim";
 * const rows = hmmStaleRows([exploreHmm({ deviceOps: 1 }, { seed: 1, executions: 3 })]);
 * if (rows.length !== 2 || rows[0]!.perMillionOps !== 0) throw new Error();
 * ```
 */
export function hmmStaleRows(
  xs: readonly HmmExploration[],
  label: (x: HmmExploration) => string = (x) => x.config.variant,
): HmmStaleRow[] {
  return xs.flatMap((x) => {
    const per = (n: number) => x.tally.ops > 0 ? (n / x.tally.ops) * 1e6 : 0;
    return [
      { variant: label(x), kind: "stale reads", perMillionOps: per(x.tally.staleReads) },
      { variant: label(x), kind: "stale writebacks", perMillionOps: per(x.tally.staleWritebacks) },
    ];
  });
}

/**
 * Figure B: stale reads and stale writebacks per 10⁶ operations for each protocol variant.
 *
 * @example
 * ```ts
 * import { hmmStaleFigure } from "@mmsim/mmsim";
 * const f = hmmStaleFigure([{ variant: "full", kind: "stale reads", perMillionOps: 0 }]);
 * if (!f.svg.includes("<svg")) throw new Error();
 * ```
 */
export function hmmStaleFigure(rows: readonly HmmStaleRow[], title?: string): Figure {
  const variants = [...new Set(rows.map((r) => r.variant))];
  return plot({
    width: 170 * variants.length + 80,
    height: 320,
    marginLeft: 60,
    marginTop: 30,
    marginBottom: 40,
    fx: { label: null, domain: variants },
    x: { label: null, axis: null },
    y: { label: "events per 10⁶ operations", grid: true },
    color: {
      legend: true,
      domain: ["stale reads", "stale writebacks"],
      range: ["#ff7f0e", "#9467bd"],
    },
    marks: [
      Plot.barY(rows, { fx: "variant", x: "kind", y: "perMillionOps", fill: "kind" }),
      Plot.text(rows, {
        fx: "variant",
        x: "kind",
        y: "perMillionOps",
        text: (r: HmmStaleRow) => r.perMillionOps.toFixed(0),
        dy: -6,
        fontSize: 11,
      }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "Stale events per 10⁶ operations under exploration, by protocol variant" });
}

/**
 * Per-episode averages of one exploration.
 *
 * @example
 * ```ts
 * import { exploreHmm, type HmmEpisodeRow, hmmEpisodeRows } from "@mmsim/mmsim";
 * const x = exploreHmm({ deviceOps: 1 }, { seed: 1, executions: 2 });
 * const rows: HmmEpisodeRow[] = hmmEpisodeRows([x]);
 * if (rows.map((r) => r.metric).join() !== "device faults,CPU faults,copies,mkwrite events") {
 *   throw new Error(JSON.stringify(rows));
 * }
 * if (rows.some((r) => r.variant !== "full" || !(r.perEpisode >= 0))) throw new Error();
 * ```
 */
export interface HmmEpisodeRow {
  /** Variant or strategy label. */
  variant: string;
  /** "device faults", "copies", "mkwrite events" or "CPU faults". */
  metric: string;
  /** Per device write episode. */
  perEpisode: number;
}

/**
 * Rows of faults, copies and mkwrite events per device write episode, four per exploration.
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmEpisodeRows } from "@mmsim/mmsim";
 * const rows = hmmEpisodeRows([exploreHmm({ deviceOps: 1 }, { seed: 1, executions: 3 })]);
 * if (rows.find((r) => r.metric === "mkwrite events")?.perEpisode !== 1) throw new Error();
 * ```
 */
export function hmmEpisodeRows(
  xs: readonly HmmExploration[],
  label: (x: HmmExploration) => string = (x) => x.config.variant,
): HmmEpisodeRow[] {
  return xs.flatMap((x) => {
    const t = x.tally;
    const per = (n: number) => t.writeEpisodes > 0 ? n / t.writeEpisodes : 0;
    return [
      { variant: label(x), metric: "device faults", perEpisode: per(t.deviceFaults) },
      { variant: label(x), metric: "CPU faults", perEpisode: per(t.cpuFaults) },
      { variant: label(x), metric: "copies", perEpisode: per(t.copies) },
      { variant: label(x), metric: "mkwrite events", perEpisode: per(t.mkwrite) },
    ];
  });
}

/**
 * Faults, copies and mkwrite events per device write episode (the last must be 1 with the
 * write notification).
 *
 * @example
 * ```ts
 * import { hmmEpisodeFigure } from "@mmsim/mmsim";
 * const f = hmmEpisodeFigure([{ variant: "full", metric: "mkwrite events", perEpisode: 1 }]);
 * if (!f.svg.includes("<svg")) throw new Error();
 * ```
 */
export function hmmEpisodeFigure(rows: readonly HmmEpisodeRow[], title?: string): Figure {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const metrics = ["device faults", "CPU faults", "copies", "mkwrite events"];
  return plot({
    width: 200 * variants.length + 80,
    height: 320,
    marginTop: 30,
    fx: { label: null, domain: variants },
    x: { label: null, axis: null, domain: metrics },
    y: { label: "per device write episode", grid: true },
    color: {
      legend: true,
      domain: metrics,
      range: ["#1f77b4", "#17becf", "#2ca02c", "#d62728"],
    },
    marks: [
      Plot.barY(rows, { fx: "variant", x: "metric", y: "perEpisode", fill: "metric" }),
      Plot.text(rows, {
        fx: "variant",
        x: "metric",
        y: "perEpisode",
        text: (r: HmmEpisodeRow) => r.perEpisode.toFixed(2),
        dy: -6,
        fontSize: 10,
      }),
      Plot.ruleY([1], { stroke: "#d62728", strokeDasharray: "4,3" }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "Faults, copies and write notifications per device write episode" });
}

/**
 * C2.1: for each oracle label, the executions (random + PCT) in which it happened.
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmExplorationFigure } from "@mmsim/mmsim";
 * const f = hmmExplorationFigure(exploreHmm({ deviceOps: 1 }, { seed: 1, executions: 3 }));
 * if (!f.svg.includes("Never")) throw new Error();
 * ```
 */
export function hmmExplorationFigure(x: HmmExploration, title?: string): Figure {
  const labels = [
    "two writers",
    "uptodate not latest",
    "stale read",
    "stale writeback",
    "violation",
  ];
  const n = x.random.executions + x.pct.executions;
  const rows = labels.flatMap((l) => {
    const held = (x.random.counts[l] ?? 0) + (x.pct.counts[l] ?? 0);
    const name = `${l} — ${x.verdicts[l] ?? "Never"}`;
    return [
      { label: name, outcome: "happened", executions: held },
      { label: name, outcome: "did not happen", executions: n - held },
    ];
  });
  return plot({
    width: 720,
    height: 60 + 30 * labels.length,
    marginLeft: 230,
    x: { label: `executions (of ${n}: ${x.random.search} + ${x.pct.search})` },
    y: { label: null },
    color: { domain: ["happened", "did not happen"], range: ["#d62728", "#cccccc"], legend: true },
    marks: [Plot.barX(rows, Plot.stackX({ y: "label", x: "executions", fill: "outcome" }))],
  }, { title: title ?? `C2.1 under ${x.config.strategy} / ${x.config.variant}` });
}

/**
 * C2.4: how a direct write's page-cache pass fared, per strategy: took the page back from the
 * device first, failed (device page pinned), fell back to buffered I/O.
 *
 * @example
 * ```ts
 * import { hmmDioFigure } from "@mmsim/mmsim";
 * const f = hmmDioFigure([{ strategy: "copy", executions: 1, dioWrites: 1, fallbacks: 1, failures: 0, dioFallbacks: 0, executionsWithFailure: 0 }]);
 * if (!f.svg.includes("<rect")) throw new Error();
 * ```
 */
export function hmmDioFigure(counts: readonly DioInvalidationCounts[], title?: string): Figure {
  const outcomes = ["took the page back", "invalidation failed", "fell back to buffered"];
  const rows = counts.flatMap((c) => {
    const per = (n: number) => (100 * n) / Math.max(1, c.dioWrites);
    return [
      { strategy: c.strategy, outcome: outcomes[0]!, per100: per(c.fallbacks) },
      { strategy: c.strategy, outcome: outcomes[1]!, per100: per(c.failures) },
      { strategy: c.strategy, outcome: outcomes[2]!, per100: per(c.dioFallbacks) },
    ];
  });
  return plot({
    width: 220 * counts.length + 80,
    height: 300,
    marginTop: 30,
    fx: { label: null },
    x: { label: null, axis: null, domain: outcomes },
    y: { label: "per 100 direct writes", grid: true },
    color: { legend: true, domain: outcomes, range: ["#2ca02c", "#d62728", "#ff7f0e"] },
    marks: [
      Plot.barY(rows, { fx: "strategy", x: "outcome", y: "per100", fill: "outcome" }),
      Plot.text(rows, {
        fx: "strategy",
        x: "outcome",
        y: "per100",
        text: (r: { per100: number }) => r.per100.toFixed(0),
        dy: -6,
      }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "C2.4 a direct write against device threads: the invalidation pass" });
}

/**
 * One row of the illegal-state figure: a scenario, a checker rule, how often it fired.
 *
 * @example
 * ```ts
 * import { exploreHmm, type HmmIllegalRow, hmmIllegalRows } from "@mmsim/mmsim";
 * const x = exploreHmm({ illegalStateChecker: true, deviceOps: 1 }, { seed: 1, executions: 2 });
 * const rows: HmmIllegalRow[] = hmmIllegalRows([["Jan's protocol", x]]);
 * if (rows.length !== 4 || rows[0]!.scenario !== "Jan's protocol") throw new Error("one per rule");
 * if (rows.some((r) => r.fraction !== 0)) throw new Error("the full protocol is never flagged");
 * ```
 */
export interface HmmIllegalRow {
  /** Scenario label. */
  scenario: string;
  /** Checker rule. */
  rule: string;
  /** Fraction of executions in which the rule fired. */
  fraction: number;
}

/**
 * Rows for {@link hmmIllegalStateFigure}: per exploration and rule, the fraction of executions
 * in which the checker flagged it.
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmIllegalRows } from "@mmsim/mmsim";
 * const x = exploreHmm({ illegalStateChecker: true, deviceOps: 1 }, { seed: 1, executions: 3 });
 * if (hmmIllegalRows([["full", x]]).some((r) => r.fraction !== 0)) throw new Error();
 * ```
 */
export function hmmIllegalRows(
  xs: readonly (readonly [string, HmmExploration])[],
): HmmIllegalRow[] {
  const rules = ["splice read", "generic writeback", "fault maps A", "generic read_folio"];
  return xs.flatMap(([scenario, x]) => {
    const n = x.random.executions + x.pct.executions;
    return rules.map((rule) => {
      const k = `violation:hmm: ${rule}`;
      return {
        scenario,
        rule,
        fraction: ((x.random.counts[k] ?? 0) + (x.pct.counts[k] ?? 0)) / Math.max(1, n),
      };
    });
  });
}

/**
 * C2.5: the fraction of executions in which each checker rule fired, per scenario.
 *
 * @example
 * ```ts
 * import { hmmIllegalStateFigure } from "@mmsim/mmsim";
 * const f = hmmIllegalStateFigure([{ scenario: "full", rule: "splice read", fraction: 0.2 }]);
 * if (!f.svg.includes("<rect")) throw new Error();
 * ```
 */
export function hmmIllegalStateFigure(rows: readonly HmmIllegalRow[], title?: string): Figure {
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const rules = ["splice read", "generic writeback", "fault maps A", "generic read_folio"];
  return plot({
    width: 190 * scenarios.length + 80,
    height: 300,
    fx: { label: null, domain: scenarios },
    x: { label: null, axis: null, domain: rules },
    y: { label: "fraction of executions flagged", domain: [0, 1], grid: true },
    color: { legend: true, domain: rules, range: ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f"] },
    marks: [
      Plot.barY(rows, { fx: "scenario", x: "rule", y: "fraction", fill: "rule" }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "C2.5 what the illegal-state checker flags (A dirty && !uptodate)" });
}

/**
 * One row of {@link hmmSummaryRows}.
 *
 * @example
 * ```ts
 * import { exploreHmm, type HmmSummaryRow, hmmSummaryRows } from "@mmsim/mmsim";
 * const x = exploreHmm({ strategy: "copy", deviceOps: 1 }, { seed: 1, executions: 2 });
 * const [row]: HmmSummaryRow[] = hmmSummaryRows([["copy (2016)", x]]);
 * if (row?.design !== "copy (2016)" || row.executions !== x.tally.executions) throw new Error();
 * // Jan Kara's protocol: exactly one write notification per device write episode, nothing stale.
 * if (row.mkwritePerEpisode !== 1 || row.staleReadsPerMop !== 0) {
 *   throw new Error(JSON.stringify(row));
 * }
 * ```
 */
export interface HmmSummaryRow {
  /** Design label. */
  design: string;
  /** Executions explored. */
  executions: number;
  /** Stale reads per 10⁶ operations. */
  staleReadsPerMop: number;
  /** Stale writebacks per 10⁶ operations. */
  staleWritebacksPerMop: number;
  /** Page copies per device write episode. */
  copiesPerEpisode: number;
  /** Device faults per device write episode. */
  deviceFaultsPerEpisode: number;
  /** Write notifications (mkwrite) per device write episode. */
  mkwritePerEpisode: number;
}

/**
 * One summary row per labelled exploration: stale rates and per-episode counts, for tables
 * comparing designs (e.g. Jan Kara's 2016 copy protocol next to upstream's mirror).
 *
 * @example
 * ```ts
 * import { exploreHmm, hmmSummaryRows, table } from "@mmsim/mmsim";
 * const rows = hmmSummaryRows([["mirror", exploreHmm({ strategy: "mirror", deviceOps: 1 }, { seed: 1, executions: 3 })]]);
 * if (rows[0]!.copiesPerEpisode !== 0 || !table(rows).text.includes("mirror")) throw new Error();
 * ```
 */
export function hmmSummaryRows(
  xs: readonly (readonly [string, HmmExploration])[],
): HmmSummaryRow[] {
  return xs.map(([design, x]) => {
    const t = x.tally;
    const perOp = (n: number) => t.ops > 0 ? (n / t.ops) * 1e6 : 0;
    const perEp = (n: number) => t.writeEpisodes > 0 ? n / t.writeEpisodes : 0;
    return {
      design,
      executions: t.executions,
      staleReadsPerMop: perOp(t.staleReads),
      staleWritebacksPerMop: perOp(t.staleWritebacks),
      copiesPerEpisode: perEp(t.copies),
      deviceFaultsPerEpisode: perEp(t.deviceFaults),
      mkwritePerEpisode: perEp(t.mkwrite),
    };
  });
}
