/**
 * Memory maps: one cell per pageblock, laid out in rows like a `/proc/pagetypeinfo` dump drawn
 * as a picture, coloured by the pageblock's migratetype and shaded by how many of its frames
 * are in use (refcount > 0).
 *
 * Reads `PhysMem.pageblockMigratetype` and `PhysMem.refcount` (include/linux/mmzone.h
 * pageblocks and migratetypes, Linux v6.12). Left out: zones (one zone is drawn), per-order
 * free-list detail (see the buddy allocator's own counters).
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import { MIGRATE, type MigrateType, NIL, PG, type PhysMem } from "../mm/memory.ts";
import { type Figure, type FigureOptions, plot } from "./display.ts";

/**
 * One pageblock as drawn by `pageblockMap()`.
 *
 * @example
 * ```ts
 * import { PhysMem, pageblockRows, type PageblockRow } from "@mmsim/mmsim";
 * const row: PageblockRow = pageblockRows(new PhysMem({ nrFrames: 1024 }))[0]!;
 * if (row.migratetype !== "MOVABLE" || row.usedFrames !== 0) throw new Error("fresh memory");
 * ```
 */
export interface PageblockRow {
  /** Pageblock number (pfn >> pageblock_order). */
  pageblock: number;
  /** Its migratetype name. */
  migratetype: MigrateType;
  /** Frames of the pageblock in use (not in a free buddy block; tails count with their head). */
  usedFrames: number;
  /** Frames of the pageblock the caller's `pinned` predicate marks. */
  pinnedFrames: number;
  /** Frames in the pageblock (the last one may be short). */
  frames: number;
  /** Column of the cell in the map. */
  col: number;
  /** Row of the cell in the map. */
  row: number;
}

const MIGRATE_NAMES = Object.keys(MIGRATE) as MigrateType[];

/**
 * The data behind `pageblockMap()`: one row per pageblock, `columns` cells per map row.
 *
 * @example
 * ```ts
 * import { PhysMem, MIGRATE, pageblockRows } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 * 512 });
 * mem.pageblockMigratetype[1] = MIGRATE.UNMOVABLE;
 * mem.refcount[512] = 1;
 * const rows = pageblockRows(mem, 2);
 * if (rows[1]!.migratetype !== "UNMOVABLE" || rows[1]!.usedFrames !== 1) throw new Error("pb 1");
 * if (rows[3]!.row !== 1 || rows[3]!.col !== 1) throw new Error("layout");
 * ```
 */
export function pageblockRows(
  mem: PhysMem,
  columns = 32,
  pinned: (pfn: number) => boolean = () => false,
): PageblockRow[] {
  if (!Number.isInteger(columns) || columns < 1) {
    throw new Error(
      `Cannot lay out pageblocks: columns must be a positive integer, got ${columns}`,
    );
  }
  const perBlock = 1 << mem.pageblockOrder;
  const rows: PageblockRow[] = [];
  for (let pb = 0; pb < mem.nrPageblocks; pb++) {
    const start = pb * perBlock;
    const end = Math.min(start + perBlock, mem.nrFrames);
    let used = 0, pins = 0;
    for (let pfn = start; pfn < end;) {
      if (mem.testFlag(pfn, PG.buddy)) {
        pfn += 1 << mem.order[pfn]!; // a free block: none of its frames is in use
        continue;
      }
      if (mem.refcount[pfn]! > 0 || mem.head[pfn]! !== NIL) {
        used++;
        if (pinned(pfn)) pins++;
      }
      pfn++;
    }
    const mt = MIGRATE_NAMES[mem.pageblockMigratetype[pb]!] ?? "MOVABLE";
    rows.push({
      pageblock: pb,
      migratetype: mt,
      usedFrames: used,
      pinnedFrames: pins,
      frames: end - start,
      col: pb % columns,
      row: Math.floor(pb / columns),
    });
  }
  return rows;
}

/**
 * Draw a pageblock map of `mem`: a cell per pageblock, colour = migratetype, opacity = share
 * of its frames in use (an empty block is drawn faint, a full one solid), and a black dot on
 * pageblocks holding frames that `options.pinned` marks.
 *
 * @example
 * ```ts
 * import { PhysMem, MIGRATE, pageblockMap } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 64 * 512 });
 * mem.pageblockMigratetype[5] = MIGRATE.UNMOVABLE;
 * const fig = pageblockMap(mem, { title: "64 pageblocks" });
 * if ((fig.svg.match(/<rect/g) ?? []).length < 64) throw new Error("one rect per pageblock");
 * ```
 */
export function pageblockMap(
  mem: PhysMem,
  options: FigureOptions & { columns?: number; pinned?: (pfn: number) => boolean } = {},
): Figure {
  const columns = options.columns ?? 32;
  const rows = pageblockRows(mem, columns, options.pinned);
  const nrRows = Math.ceil(rows.length / columns);
  return plot({
    width: 24 * columns + 80,
    height: 24 * nrRows + 60,
    padding: 0.1,
    x: { axis: null },
    y: { axis: null },
    color: { legend: true, domain: MIGRATE_NAMES },
    marks: [
      Plot.cell(rows, {
        x: "col",
        y: "row",
        fill: "migratetype",
        fillOpacity: (d: PageblockRow) => 0.25 + 0.75 * (d.usedFrames / d.frames),
        title: (d: PageblockRow) =>
          `pageblock ${d.pageblock}: ${d.migratetype}, ${d.usedFrames}/${d.frames} frames in use` +
          (d.pinnedFrames ? `, ${d.pinnedFrames} pinned` : ""),
      }),
      Plot.dot(rows.filter((d) => d.pinnedFrames > 0), {
        x: "col",
        y: "row",
        fill: "black",
        r: 4,
        title: (d: PageblockRow) => `${d.pinnedFrames} pinned frames`,
      }),
    ],
  }, { title: options.title });
}
