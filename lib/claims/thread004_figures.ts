/**
 * Figures of thread 004 (CLAIMS.md "Measurements and plots"): Plot A (P(migrate an order-k
 * folio within the deadline) vs fragmentation, panels k = 9 and 13), the physical-memory map of
 * a zone before and after compaction, the split-allowed plot (unsplittable vs dirty fraction),
 * Plot B (folios and block-state allocations per "isolate one page" split, log scale), the
 * migrate-without-split matrix, and Plot C (CMA / offline success vs the share of the range
 * under FUSE I/O).
 *
 * Not a kernel model. The compaction map scenario composes lib/mm and lib/fs/iomap.ts.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import { Engine } from "../sim/engine.ts";
import { Rng } from "../sim/rng.ts";
import { filemapAddFolio } from "../mm/address_space.ts";
import { compactMemory, lruAddFragmentFolios } from "../mm/compaction.ts";
import { folioAlloc, folioPut } from "../mm/folio.ts";
import { buddyinfo, fragmentZone, freeShareBelowOrder } from "../mm/fragment.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import { Mm } from "../mm/mm.ts";
import { type Figure, plot } from "../plot/display.ts";
import { pageblockMap } from "../plot/memory_map.ts";
import { iomapFileBufferedWrite, IomapFs } from "../fs/iomap.ts";
import type { MigrationSweepRow } from "./thread004_migrate.ts";
import type { SplitAllowedResult, SplitCostRow } from "./thread004_split.ts";
import type { MigrateWithoutSplitCell } from "./thread004_fallback.ts";
import type { ContigSweepRow } from "./thread004_unmovable.ts";

function panelOf(order: number): string {
  return order === 13 ? "k = 13: 512 MiB (64 KiB pages)" : `k = ${order}: 2 MiB (4 KiB pages)`;
}

const LINE_COLORS: Record<string, string> = {
  "clean (splittable)": "#2ca02c",
  "dirty iomap": "#d62728",
  "min-order 2": "#1f77b4",
  "min-order 4": "#9467bd",
  "never-split (hugetlb-like)": "#7f7f7f",
};

/**
 * Plot A (C4.1): P(migrate the order-k folios out within the deadline) against the share of
 * free memory in blocks below order k — one column per k, one row per folio kind (so lines that
 * coincide stay visible), with P(free order-k block) dashed in every cell.
 *
 * @example
 * ```ts
 * import { migrationFigure, type MigrationSweepRow } from "@mmsim/mmsim";
 * const row = (line: string, x: number, p: number): MigrationSweepRow => ({ order: 9, line, level: x,
 *   fragmentation: x, n: 4, pBlock: 1 - x, pSplit: 0, pPieces: NaN, pSuccess: p, formula: p,
 *   splitAttempts: 0, splitFailures: "" });
 * const fig = migrationFigure([row("dirty iomap", 0, 1), row("dirty iomap", 1, 0)]);
 * if (!fig.svg.includes("<path")) throw new Error("lines");
 * ```
 */
export function migrationFigure(rows: readonly MigrationSweepRow[], title?: string): Figure {
  const data = rows.map((r) => ({ ...r, panel: panelOf(r.order) }));
  const lines = [...new Set(data.map((r) => r.line))];
  const panels = [...new Set(data.map((r) => r.order))].sort((a, b) => a - b).map(panelOf);
  const color = (l: string) =>
    LINE_COLORS[l] ?? LINE_COLORS[l.replace(/ \(.*\)$/, "")] ?? "#17becf";
  return plot({
    width: 900,
    height: 90 * lines.length + 90,
    marginRight: 190,
    marginBottom: 45,
    x: { label: "share of free memory in blocks below order k →", domain: [0, 1] },
    y: { label: "↑ P(migrated)", domain: [0, 1.05], ticks: [0, 0.5, 1], grid: true },
    fx: { label: null, domain: panels },
    fy: { label: null, domain: lines, padding: 0.15 },
    color: { domain: lines, range: lines.map(color) },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.line(data, {
        x: "fragmentation",
        y: "pBlock",
        fx: "panel",
        fy: "line",
        stroke: "#999",
        strokeDasharray: "4,3",
      }),
      Plot.line(data, {
        x: "fragmentation",
        y: "pSuccess",
        fx: "panel",
        fy: "line",
        stroke: "line",
        strokeWidth: 2,
      }),
      Plot.dot(data, {
        x: "fragmentation",
        y: "pSuccess",
        fx: "panel",
        fy: "line",
        fill: "line",
        r: 3,
        title: (d: MigrationSweepRow) =>
          `${d.line}: P(block) ${d.pBlock.toFixed(2)}, P(split|no block) ${
            Number.isNaN(d.pSplit) ? "—" : d.pSplit.toFixed(2)
          }, P(pieces|split) ${Number.isNaN(d.pPieces) ? "—" : d.pPieces.toFixed(2)}`,
      }),
    ],
  }, {
    title: title ??
      "C4.1: migrating order-k file folios out of a memory block (solid: measured; dashed: " +
        "P(free order-k block))",
  });
}

/**
 * What {@link compactionMaps} shows.
 *
 * @example
 * ```ts
 * import { type CompactionMaps, compactionMaps } from "@mmsim/mmsim";
 * const m: CompactionMaps = compactionMaps(1);
 * // Compaction frees order-9 blocks but leaves the pageblock-sized dirty folios where they are.
 * if (m.dirtyFolios !== 2 || m.dirtyFoliosMoved !== 0) throw new Error(JSON.stringify(m));
 * if (!(m.fragmentationAfter < m.fragmentationBefore) || !m.after.svg.includes("<rect")) {
 *   throw new Error("less fragmented after compact_memory");
 * }
 * ```
 */
export interface CompactionMaps {
  /** The zone before `compact_memory`. */
  before: Figure;
  /** The zone after. */
  after: Figure;
  /** Free blocks of order ≥ 9 before and after. */
  freeBlocksBefore: number;
  /** Free blocks of order ≥ 9 after compaction. */
  freeBlocksAfter: number;
  /** Share of free memory below order 9 before and after. */
  fragmentationBefore: number;
  /** Share of free memory below order 9 after compaction. */
  fragmentationAfter: number;
  /** Dirty order-9 iomap folios in the zone. */
  dirtyFolios: number;
  /**
   * Of those, how many compaction moved (compaction does not isolate pageblock-sized folios:
   * `skip_isolation_on_order`; they stay where they are).
   */
  dirtyFoliosMoved: number;
}

/**
 * The physical-memory map of a fragmented 128 MiB zone (4 KiB pages) holding two dirty order-9
 * iomap folios, before and after `echo 1 > /proc/sys/vm/compact_memory` (MIGRATE_SYNC).
 *
 * @example
 * ```ts
 * import { compactionMaps } from "@mmsim/mmsim";
 * const m = compactionMaps(1);
 * if (m.freeBlocksAfter <= m.freeBlocksBefore || !m.before.svg.includes("<rect")) throw new Error();
 * ```
 */
export function compactionMaps(seed: number, fragmentation = 0.95): CompactionMaps {
  const env = new Engine({ seed });
  const mm = new Mm(env, { memory: { nrFrames: 1 << 15 }, zone: { minFreeKbytes: 0 } });
  const fs = new IomapFs(mm);
  const file = fs.createFile({ name: "xfs file", maxOrder: 9 });
  // Two order-9 iomap folios first (they cannot be split once dirty), then the fragmentation.
  const placed: number[] = [];
  for (let i = 0; i < 2; i++) {
    const f = folioAlloc(mm, 9, MIGRATE.MOVABLE);
    filemapAddFolio(mm, file, f, i << 9);
    mm.mem.setFlag(f, PG.uptodate);
    folioPut(mm, f);
    placed.push(f);
  }
  env.spawn("writer", function* () {
    for (let i = 0; i < placed.length; i++) {
      yield* iomapFileBufferedWrite(mm, file, ((i << 9) + 1) * 4096, 4096, 7 + i);
    }
  });
  env.run();
  fragmentZone(mm.zone, new Rng(seed * 13 + 5), { utilisation: 0.55, fragmentation, order: 9 });
  lruAddFragmentFolios(mm);
  const free9 = () => buddyinfo(mm.zone).slice(9).reduce((a, b, i) => a + (b << i), 0);
  const freeBlocksBefore = free9();
  const fragmentationBefore = freeShareBelowOrder(mm.zone, 9);
  const before = pageblockMap(mm.mem, {
    title: `Before compaction: ${freeBlocksBefore} free order-9 blocks, ` +
      `${(100 * fragmentationBefore).toFixed(0)}% of free memory below order 9`,
    columns: 16,
  });
  env.spawn("echo 1 > compact_memory", function* () {
    yield* compactMemory(mm);
  });
  env.run();
  const freeBlocksAfter = free9();
  const fragmentationAfter = freeShareBelowOrder(mm.zone, 9);
  let moved = 0;
  for (let i = 0; i < placed.length; i++) {
    if (file.pages.load(i << 9) !== placed[i]) moved++;
  }
  const after = pageblockMap(mm.mem, {
    title: `After compact_memory: ${freeBlocksAfter} free order-9 blocks, ` +
      `${(100 * fragmentationAfter).toFixed(0)}% below order 9`,
    columns: 16,
  });
  return {
    before,
    after,
    freeBlocksBefore,
    freeBlocksAfter,
    fragmentationBefore,
    fragmentationAfter,
    dirtyFolios: placed.length,
    dirtyFoliosMoved: moved,
  };
}

/**
 * C4.2: the unsplittable fraction of order-9 iomap folios against their dirty fraction, with
 * the line y = x the claim predicts.
 *
 * @example
 * ```ts
 * import { splitAllowedFigure, splitAllowedTrial } from "@mmsim/mmsim";
 * const fig = splitAllowedFigure([0, 0.5].map((d) => ({ d, r: splitAllowedTrial({ folios: 4, order: 4, dirtyFraction: d }) })));
 * if (!fig.svg.includes("<circle")) throw new Error("dots");
 * ```
 */
export function splitAllowedFigure(
  points: readonly { d: number; r: SplitAllowedResult }[],
  title?: string,
): Figure {
  const data = points.map(({ d, r }) => ({ dirty: d, unsplittable: r.unsplittableFraction }));
  return plot({
    width: 420,
    height: 320,
    x: { label: "dirty fraction of the folios →", domain: [0, 1] },
    y: { label: "↑ split_folio fails", domain: [0, 1], grid: true },
    marks: [
      Plot.line([[0, 0], [1, 1]], { stroke: "#999", strokeDasharray: "4,3" }),
      Plot.dot(data, { x: "dirty", y: "unsplittable", r: 5, fill: "#d62728" }),
      Plot.text([[0.62, 0.42]], { text: ["predicted: y = x"], fill: "#777" }),
    ],
  }, { title: title ?? "C4.2: iomap folios that cannot be split" });
}

/**
 * Plot B (C4.4): folios and block-state allocations per "isolate one page" split, uniform vs
 * non-uniform, per (k, page size, block size) case, on a symmetric-log axis (a zero bar is
 * drawn as zero and labelled).
 *
 * @example
 * ```ts
 * import { splitCostFigure, splitCostRows } from "@mmsim/mmsim";
 * const fig = splitCostFigure(splitCostRows([{ order: 4, pageSizeBytes: 4096, blockSizeBytes: 1024 }]));
 * if (!fig.svg.includes("<rect")) throw new Error("bars");
 * ```
 */
export function splitCostFigure(rows: readonly SplitCostRow[], title?: string): Figure {
  const data = rows.flatMap((r) => [
    { case: r.case, metric: `folios, ${r.split}`, value: r.folios },
    { case: r.case, metric: `block states, ${r.split}`, value: r.ifsAllocs },
  ]);
  const metrics = [
    "folios, uniform",
    "folios, non-uniform",
    "block states, uniform",
    "block states, non-uniform",
  ];
  return plot({
    width: 900,
    height: 360,
    marginBottom: 60,
    x: { axis: null, domain: metrics },
    y: {
      type: "symlog",
      label: "↑ count (symlog scale)",
      grid: true,
      domain: [0, 10000],
      ticks: [0, 1, 10, 100, 1000, 10000],
      tickFormat: (d: number) => String(d),
    },
    fx: { label: null, domain: [...new Set(rows.map((r) => r.case))] },
    color: { legend: true, domain: metrics, range: ["#1f77b4", "#aec7e8", "#d62728", "#ff9896"] },
    marks: [
      Plot.barY(data, { fx: "case", x: "metric", y: "value", fill: "metric" }),
      Plot.text(data, {
        fx: "case",
        x: "metric",
        y: "value",
        text: (d: { value: number }) => String(d.value),
        dy: -6,
        fontSize: 10,
      }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "C4.4: cost of an 'isolate one page' split that keeps the block state" });
}

const OUTCOME_COLORS: Record<string, string> = {
  "migrated": "#2ca02c",
  "migrated after write-out": "#98df8a",
  "EBUSY": "#d62728",
  "EAGAIN": "#ff9896",
  "ENOMEM": "#9467bd",
  "other": "#7f7f7f",
};

/**
 * C4.3: the outcome of migrating a clean or dirty order-k iomap folio, with and without
 * `->migrate_folio`, per kernel version and migration mode.
 *
 * @example
 * ```ts
 * import { migrateMatrixFigure, migrateWithoutSplitMatrix } from "@mmsim/mmsim";
 * const fig = migrateMatrixFigure(migrateWithoutSplitMatrix(["6.16"], 2));
 * if (!fig.svg.includes("<rect")) throw new Error("cells");
 * ```
 */
export function migrateMatrixFigure(
  cells: readonly MigrateWithoutSplitCell[],
  title?: string,
): Figure {
  const short = (m: string) => m.replace("MIGRATE_", "").replace("SYNC_LIGHT", "SYNC_L");
  const data = cells.map((c) => ({
    col: `${c.version} ${short(c.mode)}`,
    row: `${c.fs} · ${c.state}`,
    outcome: c.outcome,
    label: c.outcome === "migrated after write-out"
      ? "written out, migrated"
      : c.outcome === "migrated"
      ? (c.stateMoved ? "migrated (state moved)" : "migrated")
      : `-${c.outcome}`,
  }));
  const outcomes = [...new Set(data.map((d) => d.outcome))];
  return plot({
    width: 960,
    height: 260,
    marginLeft: 230,
    x: { label: null, axis: "top", domain: [...new Set(data.map((d) => d.col))] },
    y: { label: null, domain: [...new Set(data.map((d) => d.row))] },
    color: {
      legend: true,
      domain: outcomes,
      range: outcomes.map((o) => OUTCOME_COLORS[o] ?? "#7f7f7f"),
    },
    marks: [
      Plot.cell(data, { x: "col", y: "row", fill: "outcome", inset: 1 }),
      Plot.text(data, { x: "col", y: "row", text: "label", fontSize: 9, lineWidth: 8 }),
    ],
  }, { title: title ?? "C4.3: migration without split (a free destination exists)" });
}

/**
 * Plot C (C4.5): P(CMA allocation / offlining of a pageblock succeeds within T) against the
 * share of it under FUSE writeback or readahead, one line per server latency; panels by kind
 * (columns) and driver (rows).
 *
 * @example
 * ```ts
 * import { contigFigure, type ContigSweepRow } from "@mmsim/mmsim";
 * const r = (share: number, p: number): ContigSweepRow => ({ driver: "cma", kind: "writeback",
 *   latency: "∞", share, n: 1, pSuccess: p, pHung: 1 - p, meanMs: 1 });
 * if (!contigFigure([r(0, 1), r(0.5, 0)]).svg.includes("<path")) throw new Error();
 * ```
 */
export function contigFigure(rows: readonly ContigSweepRow[], title?: string): Figure {
  const data = rows.map((r) => ({
    ...r,
    driverLabel: r.driver === "cma" ? "alloc_contig_range (CMA)" : "offline_pages",
    kindLabel: r.kind === "writeback" ? "FUSE writeback" : "FUSE readahead",
  }));
  return plot({
    width: 900,
    height: 460,
    marginRight: 170,
    x: { label: "share of the pageblock under FUSE I/O →", domain: [0, 1] },
    y: { label: "↑ P(success within T)", domain: [0, 1.05], grid: true },
    fx: { label: null },
    fy: { label: null },
    color: { legend: true },
    marks: [
      Plot.line(data, {
        x: "share",
        y: "pSuccess",
        stroke: "latency",
        fx: "kindLabel",
        fy: "driverLabel",
      }),
      Plot.dot(data, {
        x: "share",
        y: "pSuccess",
        fill: "latency",
        fx: "kindLabel",
        fy: "driverLabel",
        r: 3,
      }),
      Plot.ruleY([0]),
    ],
  }, { title: title ?? "C4.5: CMA and offlining under FUSE I/O" });
}
