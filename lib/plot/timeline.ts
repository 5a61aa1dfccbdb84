/**
 * Figures of runs and explorations: a swim-lane timeline of a trace (one lane per task, waits
 * as bars, wakeups and model events as marks), a wait-for graph drawing, and an exploration
 * summary (executions per label with the Always / Sometimes / Never verdict).
 *
 * Not a kernel model.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import type { Trace, TraceEvent } from "../sim/trace.ts";
import type { WaitReport } from "../sim/deadlock.ts";
import type { ExploreResult } from "../sim/explore.ts";
import { type Figure, plot } from "./display.ts";

/**
 * A wait bar of the swim-lane figure.
 *
 * @example
 * ```ts
 * import { Engine, type LaneBar, laneData } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * e.spawn("stuck", function* (env) { yield env.sleep(5); yield env.hang("server died"); });
 * e.run();
 * const bar: LaneBar = laneData(e.trace!, "time").bars[0]!;
 * if (bar.outcome !== "never woken" || bar.x1 !== 5) throw new Error(JSON.stringify(bar));
 * ```
 */
export interface LaneBar {
  /** Lane (task `name#id`). */
  lane: string;
  /** Start (ns or event order). */
  x1: number;
  /** End. */
  x2: number;
  /** What was waited for. */
  what: string;
  /** "woken" or "never woken" (still blocked when the run ended). */
  outcome: "woken" | "never woken";
}

/**
 * A point mark of the swim-lane figure.
 *
 * @example
 * ```ts
 * import { Engine, type LaneMark, laneData } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * e.spawn("writer", function* (env) { yield env.sleep(7); env.emit("folio_mark_dirty", 12); });
 * e.run();
 * const mark: LaneMark = laneData(e.trace!, "time").marks[0]!;
 * if (mark.kind !== "folio_mark_dirty" || mark.x !== 7 || !mark.lane.startsWith("writer")) {
 *   throw new Error(JSON.stringify(mark));
 * }
 * ```
 */
export interface LaneMark {
  /** Lane. */
  lane: string;
  /** Position. */
  x: number;
  /** Event kind. */
  kind: string;
  /** Tooltip text. */
  label: string;
}

/**
 * Options of {@link swimLanes}.
 *
 * @example
 * ```ts
 * import { Engine, swimLanes, type SwimLaneOptions } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * e.spawn("writer", function* (env) { yield env.sleep(7); env.emit("folio_mark_dirty", 12); });
 * e.spawn("reader", function* (env) { yield env.sleep(3); env.emit("mm_filemap_get_pages", 12); });
 * e.run();
 * const opts: SwimLaneOptions = { x: "order", lanes: (l) => l.startsWith("writer"), width: 400 };
 * const fig = swimLanes(e.trace!, opts);
 * if (!fig.svg.includes("writer") || fig.svg.includes("reader")) throw new Error("lane filter");
 * ```
 */
export interface SwimLaneOptions {
  /** X axis: virtual time, or the order of trace events (default: order if all at t=0). */
  x?: "time" | "order";
  /** Event kinds to draw as marks (default: everything except scheduler events). */
  kinds?: (kind: string) => boolean;
  /** Title above the figure. */
  title?: string;
  /** Width in pixels (default 760). */
  width?: number;
  /** Only lanes of tasks whose name matches. */
  lanes?: (lane: string) => boolean;
}

const SCHED = new Set([
  "sched_process_fork",
  "sched_process_exit",
  "sched_blocked",
  "sched_wakeup",
]);

/**
 * Lane data of a trace: wait bars from `sched_blocked` to the matching `sched_wakeup` (or the
 * end of the run), and marks for the other events.
 *
 * @example
 * ```ts
 * import { Engine, Mutex, laneData } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * const m = new Mutex("m");
 * e.spawn("a", function* (env) { yield* m.lock(env); yield env.sleep(10); m.unlock(env); });
 * e.spawn("b", function* (env) { yield env.sleep(1); yield* m.lock(env); m.unlock(env); });
 * e.run();
 * const { bars } = laneData(e.trace!, "time");
 * if (bars.length !== 1 || bars[0]!.x1 !== 1 || bars[0]!.x2 !== 10) throw new Error(JSON.stringify(bars));
 * ```
 */
export function laneData(
  trace: Trace,
  x: "time" | "order",
  kinds: (kind: string) => boolean = (k) => !SCHED.has(k),
): { bars: LaneBar[]; marks: LaneMark[]; lanes: string[]; end: number } {
  const pos = (e: TraceEvent) => (x === "time" ? e.tNs : e.i);
  const open = new Map<number, { x1: number; what: string }>();
  const bars: LaneBar[] = [];
  const marks: LaneMark[] = [];
  const lanes: string[] = [];
  const seen = new Set<string>();
  const lane = (id: number) => {
    const l = trace.taskName(id);
    if (!seen.has(l)) {
      seen.add(l);
      lanes.push(l);
    }
    return l;
  };
  let end = 0;
  for (const e of trace.events) {
    end = Math.max(end, pos(e));
    if (e.kind === "sched_process_fork") continue;
    if (e.kind === "sched_blocked") {
      open.set(e.task, { x1: pos(e), what: String(e.obj) });
      lane(e.task);
      continue;
    }
    if (e.kind === "sched_wakeup") {
      const id = typeof e.before === "number" ? e.before : -1;
      const o = open.get(id);
      if (o) {
        bars.push({ lane: lane(id), x1: o.x1, x2: pos(e), what: o.what, outcome: "woken" });
        open.delete(id);
      }
      continue;
    }
    if (e.task < 0 || !kinds(e.kind)) continue;
    const b = e.before === null || e.before === undefined ? "" : ` ${JSON.stringify(e.before)}`;
    const a = e.after === null || e.after === undefined ? "" : ` → ${JSON.stringify(e.after)}`;
    marks.push({
      lane: lane(e.task),
      x: pos(e),
      kind: e.kind,
      label: `${e.kind} ${e.obj ?? ""}${b}${a}`,
    });
  }
  const stop = x === "time" ? end : end + 1;
  for (const [id, o] of open) {
    bars.push({
      lane: lane(id),
      x1: o.x1,
      x2: Math.max(stop, o.x1 + 1),
      what: o.what,
      outcome: "never woken",
    });
  }
  return { bars, marks, lanes, end: stop };
}

/**
 * A swim-lane timeline of a trace: one lane per task, waits as bars (red when never woken),
 * events as dots colored by kind.
 *
 * @example
 * ```ts
 * import { Engine, Mutex, swimLanes } from "@mmsim/mmsim";
 * const e = new Engine({ trace: true });
 * const a = new Mutex("A"), b = new Mutex("B");
 * e.spawn("t1", function* (env) { yield* a.lock(env); yield env.sleep(1); yield* b.lock(env); });
 * e.spawn("t2", function* (env) { yield* b.lock(env); yield env.sleep(1); yield* a.lock(env); });
 * e.run();
 * const fig = swimLanes(e.trace!, { title: "ABBA" });
 * if (!fig.svg.includes("<rect")) throw new Error("no wait bars");
 * ```
 */
export function swimLanes(trace: Trace, options: SwimLaneOptions = {}): Figure {
  const allZero = trace.events.every((e) => e.tNs === trace.events[0]?.tNs);
  const x = options.x ?? (allZero ? "order" : "time");
  const data = laneData(trace, x, options.kinds);
  const keep = options.lanes ?? (() => true);
  const lanes = data.lanes.filter(keep);
  const bars = data.bars.filter((b) => keep(b.lane));
  const marks = data.marks.filter((m) => keep(m.lane));
  return plot({
    width: options.width ?? 760,
    height: 60 + 36 * Math.max(1, lanes.length),
    marginLeft: 150,
    x: {
      label: x === "time" ? "virtual time (ns)" : "trace order (event #)",
      grid: true,
      domain: [0, Math.max(1, data.end)],
    },
    y: { domain: lanes, label: null },
    color: { legend: true, type: "categorical" },
    marks: [
      Plot.barX(bars, {
        y: "lane",
        x1: "x1",
        x2: "x2",
        fill: (d: LaneBar) => (d.outcome === "woken" ? "#9ecae1" : "#e6550d"),
        title: (d: LaneBar) => `${d.lane} waits for ${d.what} (${d.outcome})`,
        insetTop: 6,
        insetBottom: 6,
      }),
      Plot.dot(marks, { y: "lane", x: "x", fill: "kind", r: 4, title: "label" }),
    ],
  }, { title: options.title });
}

/**
 * A wait-for graph drawn as a ring: tasks and the objects they wait for, arrows for "waits
 * for" and "held by"; cycle edges in red.
 *
 * @example
 * ```ts
 * import { Engine, Mutex, waitForFigure } from "@mmsim/mmsim";
 * const e = new Engine();
 * const a = new Mutex("A"), b = new Mutex("B");
 * e.spawn("t1", function* (env) { yield* a.lock(env); yield env.sleep(1); yield* b.lock(env); });
 * e.spawn("t2", function* (env) { yield* b.lock(env); yield env.sleep(1); yield* a.lock(env); });
 * const r = e.run();
 * if (!waitForFigure(r.waits!).svg.includes("<text")) throw new Error("no labels");
 * ```
 */
export function waitForFigure(report: WaitReport, title?: string): Figure {
  const edges: { from: string; to: string; cycle: boolean }[] = [];
  const cycleEdges = new Set<string>();
  for (const c of report.cycles) {
    for (let i = 0; i + 1 < c.length; i++) cycleEdges.add(`${c[i]}→${c[i + 1]}`);
  }
  for (const h of report.hung) {
    for (let i = 0; i + 1 < h.length; i++) {
      edges.push({ from: h[i]!, to: h[i + 1]!, cycle: false });
    }
  }
  // Cycle edges between two non-task nodes (a request held by a task) are in no blocked entry.
  for (const c of report.cycles) {
    for (let i = 0; i + 1 < c.length; i++) edges.push({ from: c[i]!, to: c[i + 1]!, cycle: true });
  }
  for (const e of report.blocked) {
    edges.push({ from: e.task, to: e.waitsFor, cycle: cycleEdges.has(`${e.task}→${e.waitsFor}`) });
    for (const h of e.heldBy) {
      edges.push({ from: e.waitsFor, to: h, cycle: cycleEdges.has(`${e.waitsFor}→${h}`) });
    }
  }
  const uniq = new Map<string, { from: string; to: string; cycle: boolean }>();
  for (const e of edges) {
    const k = `${e.from}→${e.to}`;
    const prev = uniq.get(k);
    uniq.set(k, { ...e, cycle: e.cycle || (prev?.cycle ?? false) });
  }
  const nodes: string[] = [];
  for (const e of uniq.values()) {
    if (!nodes.includes(e.from)) nodes.push(e.from);
    if (!nodes.includes(e.to)) nodes.push(e.to);
  }
  const n = Math.max(1, nodes.length);
  const at = new Map(nodes.map((name, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return [name, { name, x: Math.cos(a), y: Math.sin(a), task: /#\d+$/.test(name) }];
  }));
  const arrows = [...uniq.values()].map((e) => ({
    x1: at.get(e.from)!.x,
    y1: at.get(e.from)!.y,
    x2: at.get(e.to)!.x,
    y2: at.get(e.to)!.y,
    cycle: e.cycle,
  }));
  const pts = [...at.values()];
  return plot({
    width: 640,
    height: 480,
    inset: 110,
    x: { axis: null },
    y: { axis: null },
    marks: [
      Plot.arrow(arrows, {
        x1: "x1",
        y1: "y1",
        x2: "x2",
        y2: "y2",
        stroke: (d: { cycle: boolean }) => (d.cycle ? "#d62728" : "#888"),
        strokeWidth: (d: { cycle: boolean }) => (d.cycle ? 2.5 : 1.2),
        inset: 14,
        bend: true,
      }),
      Plot.dot(pts, {
        x: "x",
        y: "y",
        r: 7,
        fill: (d: { task: boolean }) => (d.task ? "#1f77b4" : "#ff7f0e"),
      }),
      Plot.text(pts.filter((p) => p.y <= 0.01), {
        x: "x",
        y: "y",
        text: "name",
        dy: -14,
        fontSize: 11,
        lineWidth: 18,
      }),
      Plot.text(pts.filter((p) => p.y > 0.01), {
        x: "x",
        y: "y",
        text: "name",
        dy: 16,
        fontSize: 11,
        lineWidth: 18,
      }),
    ],
  }, { title: title ?? `wait-for graph (${report.kind})` });
}

/**
 * Exploration summary: for each label, the executions where it held and where it did not,
 * with its verdict.
 *
 * @example
 * ```ts
 * import { explore, exhaustive, explorationSummary } from "@mmsim/mmsim";
 * const r = explore((env) => { env.spawn("a", function* (env) { env.sometimes("ran"); yield env.point(); }); },
 *   { search: exhaustive() });
 * if (!explorationSummary(r).svg.includes("Always")) throw new Error("verdict missing");
 * ```
 */
export function explorationSummary(result: ExploreResult, title?: string): Figure {
  const rows: { label: string; outcome: string; executions: number }[] = [];
  for (const [label, held] of Object.entries(result.counts)) {
    const v = result.verdicts[label]!;
    const name = `${label} — ${v}`;
    rows.push({ label: name, outcome: "holds", executions: held });
    rows.push({ label: name, outcome: "does not hold", executions: result.executions - held });
  }
  const cut = Object.entries(result.cut).filter(([, v]) => v).map(([k]) => k);
  return plot({
    width: 720,
    height: 60 + 28 * (rows.length / 2),
    marginLeft: 260,
    x: {
      label: `executions (of ${result.executions}, ${result.search}${
        cut.length ? `, cut by ${cut.join("/")}` : ", complete"
      })`,
    },
    y: { label: null },
    color: { domain: ["holds", "does not hold"], range: ["#d62728", "#cccccc"], legend: true },
    marks: [
      Plot.barX(
        rows,
        Plot.stackX({
          y: "label",
          x: "executions",
          fill: "outcome",
          title: (d: { executions: number }) => `${d.executions}`,
        }),
      ),
    ],
  }, { title: title ?? "exploration summary" });
}
