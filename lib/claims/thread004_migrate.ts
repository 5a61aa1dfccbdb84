/**
 * Thread 004, C4.1: migrating order-k file folios out of a memory block when the rest of the
 * zone is fragmented. A folio moves whole if an order-k destination is free; if not
 * (`-ENOMEM`), `migrate_pages` tries to split it and move the pieces. So
 *
 *   P(success) = P(free order-k block) + P(no block) · P(split allowed) · P(all pieces move).
 *
 * The scenario ({@link largeFolioMigrationTrial}): a zone of whole pageblocks (pageblock order
 * = k, the PMD order: 9 at 4 KiB pages, 13 at 64 KiB), R order-k folios of one iomap file at
 * the bottom of the zone, the rest filled and fragmented by fragment.ts (`fragmentZone`, its
 * movable folios made anonymous LRU folios) so that a share x of the free memory lies in blocks
 * below order k; then the folios' pageblocks are isolated and migrated out
 * `offline_pages`-style (MIGRATE_SYNC, MR_MEMORY_HOTPLUG, retry passes until a deadline).
 * The destination allocator is `alloc_migration_target` wrapped to record whether each
 * folio's first order-k request found a block; the rest is read off the page cache afterwards.
 *
 * Folio kinds (the figure's lines): a clean folio (splittable); a dirty iomap folio (release
 * refused, so no split); a folio of a mapping with minimum order m (large block size: split no
 * lower than m before the late-2025 change, not at all after); a hugetlbfs-like folio (minimum =
 * maximum order: never split).
 *
 * Not a kernel model itself; it composes lib/mm and lib/fs/iomap.ts.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { Engine } from "../sim/engine.ts";
import { Rng } from "../sim/rng.ts";
import { filemapAddFolio, filemapGetEntry } from "../mm/address_space.ts";
import { lruAddFragmentFolios } from "../mm/compaction.ts";
import { folioAlloc, folioPut } from "../mm/folio.ts";
import { buddyinfo, fragmentZone, freeShareBelowOrder } from "../mm/fragment.ts";
import { MIGRATE, NIL, PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  type NewFolioFn,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { startIsolatePageRange, undoIsolatePageRange } from "../mm/page_isolation.ts";
import { IomapFs } from "../fs/iomap.ts";
import { iomapFileBufferedWrite } from "../fs/iomap.ts";

/**
 * The kind of folio being migrated (a line of the C4.1 figure).
 *
 * @example
 * ```ts
 * import { type FolioKind, largeFolioMigrationTrial } from "@mmsim/mmsim";
 * // No free order-9 block at all: a folio moves only if it may be split.
 * const moved = (kind: FolioKind) =>
 *   largeFolioMigrationTrial({ kind, fragmentation: 1, zonePageblocks: 16, folios: 2 })
 *     .fates.filter((f) => f.moved).length;
 * if (moved("clean") !== 2 || moved("never-split") !== 0) throw new Error("split or stuck");
 * ```
 */
export type FolioKind = "clean" | "dirty-iomap" | "min-order" | "never-split";

/**
 * Configuration of one C4.1 trial.
 *
 * @example
 * ```ts
 * import { LargeFolioMigrationConfig } from "@mmsim/mmsim";
 * const c = LargeFolioMigrationConfig.parse({ kind: "dirty-iomap" });
 * if (c.pageSizeBytes !== 4096 || c.folios !== 4 || c.version !== "6.12") throw new Error();
 * ```
 */
export interface LargeFolioMigrationConfig {
  /** Base page size: 4 KiB (k = 9, 2 MiB folios) or 64 KiB (k = 13, 512 MiB folios). */
  pageSizeBytes: 4096 | 65536;
  /** Zone size in pageblocks (pageblock order = k). Default 32. */
  zonePageblocks: number;
  /** R: order-k folios in the block being vacated. Default 4. */
  folios: number;
  /** Free memory after fragmenting, in pageblocks' worth. Default 8. */
  freePageblocks: number;
  /** Target share of free memory in blocks below order k (the x axis). Default 0.5. */
  fragmentation: number;
  /** The folios' kind. Default "clean". */
  kind: FolioKind;
  /** Minimum folio order of the mapping for kind "min-order" (block size = page << m). */
  minOrder: number;
  /** Kernel version the trial runs as. Default "6.12". */
  version: string;
  /** Deadline for moving every folio out, ns of simulated time. Default 100 ms. */
  deadlineNs: number;
  /** Time between migration passes (offline_pages' retries). Default 10 ms. */
  retryNs: number;
  /** Seed of the fragmentation and of the engine. */
  seed: number;
}

/**
 * Input of {@link LargeFolioMigrationConfig}: every field optional.
 *
 * @example
 * ```ts
 * import {
 *   LargeFolioMigrationConfig,
 *   type LargeFolioMigrationConfigInput,
 *   largeFolioMigrationTrial,
 * } from "@mmsim/mmsim";
 * const input: LargeFolioMigrationConfigInput = {
 *   fragmentation: 0, // every free page in blocks of order ≥ 9
 *   zonePageblocks: 16,
 *   folios: 2,
 *   freePageblocks: 4,
 * };
 * if (LargeFolioMigrationConfig.parse(input).deadlineNs !== 100e6) throw new Error("100 ms");
 * const t = largeFolioMigrationTrial(input);
 * if (!t.fates.every((f) => f.block && f.moved && !f.split)) throw new Error(JSON.stringify(t));
 * ```
 */
export type LargeFolioMigrationConfigInput = Partial<LargeFolioMigrationConfig>;

const trialSchema = z.object({
  pageSizeBytes: z.union([z.literal(4096), z.literal(65536)]).default(4096),
  zonePageblocks: z.number().int().min(2).default(32),
  folios: z.number().int().min(1).default(4),
  freePageblocks: z.number().int().min(1).default(8),
  fragmentation: z.number().min(0).max(1).default(0.5),
  kind: z.enum(["clean", "dirty-iomap", "min-order", "never-split"]).default("clean"),
  minOrder: z.number().int().min(1).max(6).default(2),
  version: z.string().regex(/^\d+\.\d+$/).default("6.12"),
  deadlineNs: z.number().int().positive().default(100_000_000),
  retryNs: z.number().int().positive().default(10_000_000),
  seed: z.number().int().default(1),
});
const _trialTypes: Same<z.output<typeof trialSchema>, LargeFolioMigrationConfig> = true;
void _trialTypes;

/** The {@link LargeFolioMigrationConfig} schema. */
export const LargeFolioMigrationConfig: ConfigSchema<
  LargeFolioMigrationConfig,
  LargeFolioMigrationConfigInput
> = defineConfig("LargeFolioMigrationConfig", trialSchema);

/**
 * One folio's fate in a trial.
 *
 * @example
 * ```ts
 * import { type FolioFate, largeFolioMigrationTrial } from "@mmsim/mmsim";
 * const t = largeFolioMigrationTrial({ fragmentation: 1, zonePageblocks: 16, folios: 2 });
 * const fates: FolioFate[] = t.fates;
 * // No order-9 destination: each clean folio was split after -ENOMEM and its pieces moved.
 * if (fates.length !== 2 || fates.some((f) => f.block || !f.split || !f.moved)) {
 *   throw new Error(JSON.stringify(fates));
 * }
 * ```
 */
export interface FolioFate {
  /** Its first order-k destination request found a free block. */
  block: boolean;
  /** It was split (after -ENOMEM). */
  split: boolean;
  /** Every page left the block before the deadline. */
  moved: boolean;
}

/**
 * What {@link largeFolioMigrationTrial} measured.
 *
 * @example
 * ```ts
 * import { largeFolioMigrationTrial, type LargeFolioMigrationTrial } from "@mmsim/mmsim";
 * const t: LargeFolioMigrationTrial = largeFolioMigrationTrial({
 *   kind: "clean",
 *   fragmentation: 1,
 *   zonePageblocks: 16,
 *   folios: 2,
 *   freePageblocks: 4,
 * });
 * if (t.order !== 9 || t.freeBlocksK !== 0) throw new Error("2 MiB folios, no free 2 MiB block");
 * if (t.counters.migrate_split !== t.fates.filter((f) => f.split).length) throw new Error();
 * ```
 */
export interface LargeFolioMigrationTrial {
  /** Folio order k. */
  order: number;
  /** Achieved share of free memory below order k when migration starts (the x axis). */
  fragmentation: number;
  /** Free blocks of order ≥ k when migration starts. */
  freeBlocksK: number;
  /** Per folio. */
  fates: FolioFate[];
  /** Simulated time when the last pass ended. */
  doneNs: number;
  /** vmstat counters that moved: migrate_split_attempt, migrate_split, split_failed_*, … */
  counters: Record<string, number>;
}

const COUNTERS = [
  "migrate_split_attempt",
  "migrate_split",
  "split_failed_release",
  "split_failed_min_order",
  "split_failed_refs",
  "split_failed_writeback",
  "thp_migration_success",
  "thp_migration_fail",
  "pgmigrate_success",
  "pgmigrate_fail",
] as const;

/**
 * One C4.1 trial (see the module doc). Deterministic for a given config.
 *
 * @example A dirty iomap folio cannot split, so without a free order-9 block it stays
 * ```ts
 * import { largeFolioMigrationTrial } from "@mmsim/mmsim";
 * const t = largeFolioMigrationTrial({ kind: "dirty-iomap", fragmentation: 1, zonePageblocks: 16, folios: 2, freePageblocks: 4 });
 * if (t.freeBlocksK !== 0 || t.fates.some((f) => f.moved || f.split)) throw new Error("stuck");
 * if (t.counters.split_failed_release !== t.counters.migrate_split_attempt) throw new Error("release");
 * ```
 */
export function largeFolioMigrationTrial(
  input: LargeFolioMigrationConfigInput = {},
): LargeFolioMigrationTrial {
  const c = LargeFolioMigrationConfig.parse(input);
  const env = new Engine({ seed: c.seed });
  const pmd = c.pageSizeBytes === 4096 ? 9 : 13;
  const k = pmd;
  const nrFrames = c.zonePageblocks << k;
  const mm = new Mm(env, {
    memory: { nrFrames, pageSizeBytes: c.pageSizeBytes },
    zone: { minFreeKbytes: 0 },
    version: c.version,
  });
  const mem = mm.mem;
  const ps = c.pageSizeBytes;
  const fs = new IomapFs(mm, {
    blockSizeBytes: c.kind === "min-order" ? ps << c.minOrder : Math.min(4096, ps),
  });
  const file = fs.createFile({
    name: `${c.kind} file`,
    maxOrder: k,
    neverSplitOrder: c.kind === "never-split" ? k : undefined,
  });
  // The R folios, allocated first: the bottom of the zone.
  const originals: number[] = [];
  for (let i = 0; i < c.folios; i++) {
    const f = folioAlloc(mm, k, MIGRATE.MOVABLE);
    if (f === NIL) throw new Error(`C4.1 trial: cannot allocate order-${k} folio ${i}`);
    const r = filemapAddFolio(mm, file, f, i << k);
    if (!r.ok) throw new Error(`C4.1 trial: filemap_add_folio: ${r.errno}`);
    mem.setFlag(f, PG.uptodate);
    for (let p = 0; p < 1 << k; p++) mem.data[f + p] = 1 + (i << k) + p;
    folioPut(mm, f);
    originals.push(f);
  }
  if (c.kind === "dirty-iomap") {
    // A small write into each folio: per-block state, part of the folio dirty.
    env.spawn("writer", function* () {
      for (let i = 0; i < c.folios; i++) {
        yield* iomapFileBufferedWrite(mm, file, (i << k) * ps + ps, 3 * 4096, 1_000_000 + i);
      }
    });
    env.run();
  }
  // Fragment the rest: free memory F, a share `fragmentation` of it below order k.
  const managed = mm.zone.managedPages;
  const ours = c.folios << k;
  const free = c.freePageblocks << k;
  const genFreeTarget = free + ours; // fragment.ts counts our folios as free
  const f = 1 - (1 - c.fragmentation) * free / genFreeTarget;
  fragmentZone(mm.zone, new Rng(c.seed * 7919 + 1), {
    utilisation: 1 - genFreeTarget / managed,
    fragmentation: Math.min(1, Math.max(0, f)),
    order: k,
  });
  lruAddFragmentFolios(mm);
  const x = freeShareBelowOrder(mm.zone, k);
  const freeBlocksK = buddyinfo(mm.zone).slice(k).reduce((a, b, i) => a + (b << i), 0);

  // Isolate the block (offline_pages: start_isolate_page_range) and migrate it out.
  const ranges = originals.map((o) => [o, o + (1 << k)] as const);
  for (const [s, e] of ranges) {
    const iso = startIsolatePageRange(mm.zone, s, e, MIGRATE.MOVABLE);
    if (!iso.ok) throw new Error(`C4.1 trial: cannot isolate [${s}, ${e}): pfn ${iso.failedPfn}`);
  }
  const inRange = (p: number) => ranges.some(([s, e]) => p >= s && p < e);
  const first = new Map<number, boolean>();
  const original = new Set(originals);
  const recording: NewFolioFn = function* (mm, src) {
    const dst = yield* allocMigrationTarget(mm, src);
    if (mm.mem.order[src] === k && original.has(src) && !first.has(src)) first.set(src, dst >= 0);
    return dst;
  };
  const before = Object.fromEntries(COUNTERS.map((n) => [n, mm.vmstat.get(n)]));
  let doneNs = 0;
  env.spawn("offline", function* () {
    const deadline = env.nowNs + c.deadlineNs;
    for (;;) {
      const list: number[] = [];
      for (const [s, e] of ranges) {
        for (let p = s; p < e; p++) {
          if (mem.head[p] !== NIL || mem.refcount[p]! <= 0) continue;
          if (mem.testFlag(p, PG.lru) && isolateFolioForMigration(mm, p)) list.push(p);
        }
      }
      if (list.length === 0) break;
      const r = yield* migratePages(mm, list, recording, "MIGRATE_SYNC", "MR_MEMORY_HOTPLUG");
      putbackMovablePages(mm, r.failed);
      if (env.nowNs + c.retryNs > deadline) break;
      yield env.sleep(c.retryNs);
    }
    doneNs = env.nowNs;
  });
  env.run();
  for (const [s, e] of ranges) undoIsolatePageRange(mm.zone, s, e, MIGRATE.MOVABLE);

  const fates: FolioFate[] = originals.map((o, i) => {
    let split = false, moved = true;
    for (let idx = i << k; idx < (i + 1) << k; idx++) {
      const p = filemapGetEntry(file, idx);
      if (p < 0 || inRange(p)) moved = false;
      if (p >= 0 && mem.order[p]! < k) split = true;
    }
    return { block: first.get(o) ?? false, split, moved };
  });
  const counters: Record<string, number> = {};
  for (const n of COUNTERS) counters[n] = mm.vmstat.get(n) - before[n]!;
  return { order: k, fragmentation: x, freeBlocksK, fates, doneNs, counters };
}

/**
 * One row of {@link largeFolioMigrationSweep}: a line at one fragmentation level.
 *
 * @example
 * ```ts
 * import { largeFolioMigrationSweep, type MigrationSweepRow } from "@mmsim/mmsim";
 * const [row]: MigrationSweepRow[] = largeFolioMigrationSweep({
 *   pageSizeBytes: 4096,
 *   lines: [{ line: "clean", kind: "clean" }],
 *   levels: [0],
 *   seeds: [1],
 *   trial: { zonePageblocks: 16, folios: 2, freePageblocks: 4 },
 * });
 * // Every folio found a free order-9 block: nothing was split, so pSplit and pPieces are NaN.
 * if (row?.pBlock !== 1 || !Number.isNaN(row.pSplit) || row.formula !== 1 || row.pSuccess !== 1) {
 *   throw new Error(JSON.stringify(row));
 * }
 * if (row.n !== 2 || row.splitAttempts !== 0 || row.order !== 9) throw new Error();
 * ```
 */
export interface MigrationSweepRow {
  /** Folio order k (the panel). */
  order: number;
  /** The line's label. */
  line: string;
  /** Target fragmentation level. */
  level: number;
  /** Mean achieved share of free memory below order k (the x axis). */
  fragmentation: number;
  /** Folios observed (R × seeds). */
  n: number;
  /** P(free order-k block): the first order-k destination request succeeded. */
  pBlock: number;
  /** P(split allowed | no block). NaN when every folio found a block. */
  pSplit: number;
  /** P(all pieces move | split). NaN when nothing was split. */
  pPieces: number;
  /** Measured P(success): every page out of the block before the deadline. */
  pSuccess: number;
  /** The formula built from the measured terms. */
  formula: number;
  /** Split attempts after -ENOMEM (migrate_split_attempt). */
  splitAttempts: number;
  /**
   * Split failures by reason (split_failed_<why>), e.g. "release 12, min_order 0", and
   * "target ≥ order n" for the -EINVAL the kernel does not count (target order ≥ folio order).
   */
  splitFailures: string;
}

/**
 * A line of the C4.1 figure: its label and trial settings.
 *
 * @example
 * ```ts
 * import { largeFolioMigrationSweep, type MigrationLine } from "@mmsim/mmsim";
 * const line: MigrationLine = {
 *   line: "min-order 2, v6.12",
 *   kind: "min-order",
 *   minOrder: 2,
 *   version: "6.12",
 * };
 * const [row] = largeFolioMigrationSweep({
 *   pageSizeBytes: 4096,
 *   lines: [line],
 *   levels: [1],
 *   seeds: [1],
 *   trial: { zonePageblocks: 16, folios: 2, freePageblocks: 4 },
 * });
 * // v6.12 splits a min-order folio down to its minimum order when no order-9 block is free.
 * if (row?.line !== line.line || row.pBlock !== 0 || row.pSplit !== 1) {
 *   throw new Error(JSON.stringify(row));
 * }
 * ```
 */
export interface MigrationLine {
  /** Label. */
  line: string;
  /** Folio kind. */
  kind: FolioKind;
  /** Minimum order (kind "min-order"). */
  minOrder?: number;
  /** Kernel version (default the sweep's). */
  version?: string;
}

/**
 * The five lines of the C4.1 figure.
 *
 * @example
 * ```ts
 * import { MIGRATION_LINES } from "@mmsim/mmsim";
 * const kinds = new Set(MIGRATION_LINES.map((l) => l.kind));
 * if (kinds.size !== 4 || MIGRATION_LINES.length !== 5) throw new Error("two min-order lines");
 * if (MIGRATION_LINES.some((l) => (l.kind === "min-order") !== (l.minOrder !== undefined))) {
 *   throw new Error("only min-order lines carry a minimum order");
 * }
 * ```
 */
export const MIGRATION_LINES: readonly MigrationLine[] = [
  { line: "clean (splittable)", kind: "clean" },
  { line: "dirty iomap", kind: "dirty-iomap" },
  { line: "min-order 2", kind: "min-order", minOrder: 2 },
  { line: "min-order 4", kind: "min-order", minOrder: 4 },
  { line: "never-split (hugetlb-like)", kind: "never-split" },
];

/**
 * Options of {@link largeFolioMigrationSweep}.
 *
 * @example
 * ```ts
 * import { largeFolioMigrationSweep, type MigrationSweepOptions } from "@mmsim/mmsim";
 * const opts: MigrationSweepOptions = {
 *   pageSizeBytes: 4096,
 *   lines: [{ line: "clean", kind: "clean" }, { line: "never-split", kind: "never-split" }],
 *   levels: [0, 1],
 *   seeds: [1, 2],
 *   trial: { zonePageblocks: 16, folios: 2, freePageblocks: 4 },
 * };
 * const rows = largeFolioMigrationSweep(opts);
 * if (rows.length !== 2 * 2 || rows.some((r) => r.n !== 2 * 2)) throw new Error("R × seeds each");
 * ```
 */
export interface MigrationSweepOptions {
  /** Base page size (the panel): 4 KiB → k = 9, 64 KiB → k = 13. */
  pageSizeBytes: 4096 | 65536;
  /** Lines (default {@link MIGRATION_LINES}). */
  lines?: readonly MigrationLine[];
  /** Target fragmentation levels. */
  levels: readonly number[];
  /** Seeds per level. */
  seeds: readonly number[];
  /** Kernel version (default "6.12"). */
  version?: string;
  /** Trial overrides (zone size, R, free memory, deadline). */
  trial?: LargeFolioMigrationConfigInput;
}

/**
 * Run C4.1 trials for every line × level × seed and aggregate the terms of the formula.
 *
 * @example
 * ```ts
 * import { largeFolioMigrationSweep } from "@mmsim/mmsim";
 * const rows = largeFolioMigrationSweep({
 *   pageSizeBytes: 4096, levels: [0, 1], seeds: [1],
 *   lines: [{ line: "never", kind: "never-split" }],
 *   trial: { zonePageblocks: 16, folios: 2, freePageblocks: 4 },
 * });
 * if (rows[0]!.pSuccess !== 1 || rows[1]!.pSuccess !== 0) throw new Error("blocks, then none");
 * ```
 */
export function largeFolioMigrationSweep(opts: MigrationSweepOptions): MigrationSweepRow[] {
  const rows: MigrationSweepRow[] = [];
  for (const l of opts.lines ?? MIGRATION_LINES) {
    for (const level of opts.levels) {
      const fates: FolioFate[] = [];
      let xs = 0, order = 0;
      const counters: Record<string, number> = {};
      for (const seed of opts.seeds) {
        const t = largeFolioMigrationTrial({
          ...opts.trial,
          pageSizeBytes: opts.pageSizeBytes,
          kind: l.kind,
          minOrder: l.minOrder ?? 2,
          version: l.version ?? opts.version ?? "6.12",
          fragmentation: level,
          seed,
        });
        fates.push(...t.fates);
        xs += t.fragmentation;
        order = t.order;
        for (const [n, v] of Object.entries(t.counters)) counters[n] = (counters[n] ?? 0) + v;
      }
      rows.push(aggregate(l.line, order, level, xs / opts.seeds.length, fates, counters));
    }
  }
  return rows;
}

function aggregate(
  line: string,
  order: number,
  level: number,
  x: number,
  fates: FolioFate[],
  counters: Record<string, number>,
): MigrationSweepRow {
  const n = fates.length;
  const block = fates.filter((f) => f.block).length;
  const noBlock = fates.filter((f) => !f.block);
  const split = noBlock.filter((f) => f.split);
  const piecesMoved = split.filter((f) => f.moved).length;
  const pBlock = block / n;
  const pSplit = noBlock.length ? split.length / noBlock.length : NaN;
  const pPieces = split.length ? piecesMoved / split.length : NaN;
  const formula = pBlock + (1 - pBlock) * (Number.isNaN(pSplit) ? 0 : pSplit) *
      (Number.isNaN(pPieces) ? 0 : pPieces);
  const named = ["release", "min_order", "refs", "writeback"];
  const failedSplits = (counters.migrate_split_attempt ?? 0) - (counters.migrate_split ?? 0);
  const other = failedSplits - named.reduce((a, r) => a + (counters[`split_failed_${r}`] ?? 0), 0);
  // The rest: -EINVAL before any counter (split_huge_page_to_list_to_order with a target
  // order ≥ the folio's order: a min-order piece, or a hugetlbfs-like folio in v6.12).
  const reasons = named.map((r) => `${r} ${counters[`split_failed_${r}`] ?? 0}`)
    .concat(other > 0 ? [`target ≥ order ${other}`] : []).join(", ");
  return {
    order,
    line,
    level,
    fragmentation: x,
    n,
    pBlock,
    pSplit,
    pPieces,
    pSuccess: fates.filter((f) => f.moved).length / n,
    formula,
    splitAttempts: counters.migrate_split_attempt ?? 0,
    splitFailures: reasons,
  };
}
