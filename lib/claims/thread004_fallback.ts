/**
 * Thread 004, C4.3 (Matthew Wilcox: migration needs no split). With `->migrate_folio =
 * filemap_migrate_folio` a dirty iomap folio migrates whenever a destination of its order
 * exists: its `iomap_folio_state` moves to the new folio and is never released. A filesystem
 * without `->migrate_folio` goes through `fallback_migrate_folio`, which refuses dirty folios:
 * -EBUSY in every mode since "migrate: Remove call to ->writepage" (era switch
 * `fallbackMigrateRefusesDirty`, v6.16 here), while before it wrote the folio out in
 * MIGRATE_SYNC (and migrated it clean on a later pass) and gave -EBUSY otherwise.
 *
 * {@link migrateWithoutSplitCell} migrates one order-k folio of an iomap file (1 KiB blocks, so
 * it carries block state) with a free destination of its order, for one filesystem variant,
 * state, kernel version and migration mode; {@link migrateWithoutSplitMatrix} runs them all.
 * A cell is one `migrate_pages` call, retried once by the caller after -EAGAIN (as
 * `alloc_contig_range` and `offline_pages` retry): the kernel's `writeout()` always fails the
 * attempt it writes in (-EAGAIN; the move phase retries without waiting for the write), and
 * the folio migrates clean on the caller's next call, whose unmap step waits for writeback.
 *
 * Not a kernel model itself; it composes lib/mm and lib/fs/iomap.ts.
 *
 * @module
 */

import { Engine } from "../sim/engine.ts";
import type { MigrateMode } from "../mm/address_space.ts";
import { filemapGetEntry } from "../mm/address_space.ts";
import { BlockDevice } from "../mm/block_device.ts";
import { folioGetPrivate } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { filemapWriteAndWaitRange } from "../mm/writeback.ts";
import { iomapFileBufferedWrite, IomapFs } from "../fs/iomap.ts";

/**
 * The filesystem variants of C4.3.
 *
 * @example
 * ```ts
 * import {
 *   type MigrateFsVariant,
 *   migrateWithoutSplitCell,
 *   predictMigrateCell,
 * } from "@mmsim/mmsim";
 * // A dirty folio, v6.16, MIGRATE_SYNC: only filemap_migrate_folio moves it.
 * const dirty = { state: "dirty", version: "6.16", mode: "MIGRATE_SYNC", order: 2 } as const;
 * const outcome = (fs: MigrateFsVariant) => migrateWithoutSplitCell({ fs, ...dirty }).outcome;
 * if (outcome("filemap_migrate_folio") !== "migrated") throw new Error("moves with its state");
 * if (outcome("no ->migrate_folio") !== "EBUSY") throw new Error("fallback refuses dirty folios");
 * if (predictMigrateCell("no ->migrate_folio", "dirty", "6.16", "MIGRATE_SYNC") !== "EBUSY") {
 *   throw new Error("the prediction agrees");
 * }
 * ```
 */
export type MigrateFsVariant = "filemap_migrate_folio" | "no ->migrate_folio";

/**
 * Outcome categories of one C4.3 migration.
 *
 * @example
 * ```ts
 * import {
 *   type MigrateCellOutcome,
 *   migrateWithoutSplitCell,
 *   predictMigrateCell,
 * } from "@mmsim/mmsim";
 * // Before v6.16, MIGRATE_SYNC wrote a dirty folio out and migrated it clean on the retry.
 * const o = {
 *   fs: "no ->migrate_folio",
 *   state: "dirty",
 *   version: "6.12",
 *   mode: "MIGRATE_SYNC",
 * } as const;
 * const measured: MigrateCellOutcome = migrateWithoutSplitCell({ ...o, order: 2 }).outcome;
 * const predicted = predictMigrateCell(o.fs, o.state, o.version, o.mode);
 * if (measured !== "migrated after write-out" || measured !== predicted) throw new Error(measured);
 * ```
 */
export type MigrateCellOutcome =
  | "migrated"
  | "migrated after write-out"
  | "EBUSY"
  | "EAGAIN"
  | "ENOMEM"
  | "other";

/**
 * One C4.3 migration.
 *
 * @example
 * ```ts
 * import { migrateWithoutSplitCell, type MigrateWithoutSplitCell } from "@mmsim/mmsim";
 * const c: MigrateWithoutSplitCell = migrateWithoutSplitCell({
 *   fs: "no ->migrate_folio",
 *   state: "dirty",
 *   version: "6.12",
 *   mode: "MIGRATE_SYNC",
 *   order: 4,
 * });
 * // writeout() fails the attempt it writes in (-EAGAIN); the caller's retry migrates it clean.
 * if (c.outcome !== "migrated after write-out" || !c.writtenOut || c.calls !== 2 || c.split) {
 *   throw new Error(JSON.stringify(c));
 * }
 * if (c.rc !== "MIGRATEPAGE_SUCCESS" || !(c.timeNs > 0)) throw new Error(JSON.stringify(c));
 * ```
 */
export interface MigrateWithoutSplitCell {
  /** Filesystem variant. */
  fs: MigrateFsVariant;
  /** Folio state before migration. */
  state: "clean" | "dirty";
  /** Kernel version. */
  version: string;
  /** Migration mode. */
  mode: MigrateMode;
  /** Folio order. */
  order: number;
  /** The source folio's final rc (MIGRATEPAGE_SUCCESS or the errno). */
  rc: string;
  /** Outcome category. */
  outcome: MigrateCellOutcome;
  /** The block state object now hangs off the new folio (moved, not released). */
  stateMoved: boolean;
  /** The folio was written back during the migration (writeout). */
  writtenOut: boolean;
  /** The folio was split (it must not be: a destination exists). */
  split: boolean;
  /** `migrate_pages` calls made (the caller retries once after -EAGAIN). */
  calls: number;
  /** Simulated time the migration took. */
  timeNs: number;
}

/**
 * Options of {@link migrateWithoutSplitCell}.
 *
 * @example
 * ```ts
 * import { type MigrateCellOptions, migrateWithoutSplitCell } from "@mmsim/mmsim";
 * const opts: MigrateCellOptions = {
 *   fs: "filemap_migrate_folio",
 *   state: "dirty",
 *   version: "6.16",
 *   mode: "MIGRATE_ASYNC",
 *   order: 2,
 * };
 * const c = migrateWithoutSplitCell(opts);
 * // The block state moves with the folio: no split and no write-out needed.
 * if (c.order !== 2 || c.outcome !== "migrated" || !c.stateMoved || c.writtenOut) {
 *   throw new Error(JSON.stringify(c));
 * }
 * ```
 */
export interface MigrateCellOptions {
  /** Filesystem variant. */
  fs: MigrateFsVariant;
  /** Folio state. */
  state: "clean" | "dirty";
  /** Kernel version. */
  version: string;
  /** Migration mode. */
  mode: MigrateMode;
  /** Folio order (default 9). */
  order?: number;
}

/**
 * C4.3: migrate one order-k iomap folio (see the module doc).
 *
 * @example A dirty folio keeps its block state through migration with filemap_migrate_folio
 * ```ts
 * import { migrateWithoutSplitCell } from "@mmsim/mmsim";
 * const c = migrateWithoutSplitCell({ fs: "filemap_migrate_folio", state: "dirty", version: "6.16", mode: "MIGRATE_ASYNC", order: 4 });
 * if (c.outcome !== "migrated" || !c.stateMoved || c.split) throw new Error(JSON.stringify(c));
 * const n = migrateWithoutSplitCell({ fs: "no ->migrate_folio", state: "dirty", version: "6.16", mode: "MIGRATE_SYNC", order: 4 });
 * if (n.outcome !== "EBUSY") throw new Error(n.outcome);
 * ```
 */
export function migrateWithoutSplitCell(o: MigrateCellOptions): MigrateWithoutSplitCell {
  const order = o.order ?? 9;
  const env = new Engine();
  const mm = new Mm(env, {
    memory: { nrFrames: Math.max(4096, 4 << order) },
    zone: { minFreeKbytes: 0 },
    version: o.version,
  });
  const ps = mm.mem.pageSizeBytes;
  const fs = new IomapFs(mm, {
    blockSizeBytes: 1024,
    migrateFolio: o.fs === "filemap_migrate_folio",
  });
  const file = fs.createFile({ name: "xfs file", maxOrder: order });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 100_000 } }).attach(file);
  const size = (1 << order) * ps;
  env.spawn("setup", function* () {
    yield* iomapFileBufferedWrite(mm, file, 0, size, 1);
    yield* filemapWriteAndWaitRange(mm, file, 0, (1 << order) - 1);
    if (o.state === "dirty") yield* iomapFileBufferedWrite(mm, file, ps, 1024, 2);
  });
  env.run();
  const f = filemapGetEntry(file, 0);
  if (mm.mem.order[f] !== order) throw new Error(`C4.3: expected one order-${order} folio`);
  const ifs = folioGetPrivate(mm, f);
  const written = fs.stats.foliosWritten;
  let rc = "none";
  const t0 = env.nowNs;
  let t1 = t0;
  let calls = 0;
  env.spawn("migrate", function* () {
    // The caller retries once after -EAGAIN (as alloc_contig_range and offline_pages do).
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!isolateFolioForMigration(mm, f)) throw new Error("C4.3: cannot isolate the folio");
      const r = yield* migratePages(mm, [f], allocMigrationTarget, o.mode, "MR_COMPACTION");
      calls++;
      rc = r.outcomes.find((x) => x.folio === f && x.order === order)?.rc ?? "none";
      putbackMovablePages(mm, r.failed);
      if (rc !== "EAGAIN") break;
    }
    t1 = env.nowNs;
  });
  env.run({ maxTimeNs: t0 + 1e9 });
  const now = filemapGetEntry(file, 0);
  const migrated = now !== f && mm.mem.order[now] === order;
  const writtenOut = fs.stats.foliosWritten > written;
  const outcome: MigrateCellOutcome = migrated
    ? (writtenOut ? "migrated after write-out" : "migrated")
    : rc === "EBUSY" || rc === "EAGAIN" || rc === "ENOMEM"
    ? rc
    : "other";
  return {
    fs: o.fs,
    state: o.state,
    version: o.version,
    mode: o.mode,
    order,
    rc,
    outcome,
    stateMoved: migrated && ifs !== undefined && mm.mem.testFlag(now, PG.private) &&
      folioGetPrivate(mm, now) === ifs,
    writtenOut,
    split: mm.mem.order[filemapGetEntry(file, 0)]! < order,
    calls,
    timeNs: t1 - t0,
  };
}

/**
 * The migration modes, in the order of the figure.
 *
 * @example
 * ```ts
 * import { MIGRATE_MODES, migrateWithoutSplitCell } from "@mmsim/mmsim";
 * const outcomes = MIGRATE_MODES.map((mode) =>
 *   migrateWithoutSplitCell({
 *     fs: "no ->migrate_folio",
 *     state: "clean",
 *     version: "6.16",
 *     mode,
 *     order: 2,
 *   }).outcome
 * );
 * if (outcomes.join() !== "migrated,migrated,migrated") throw new Error("a clean folio migrates");
 * ```
 */
export const MIGRATE_MODES: readonly MigrateMode[] = [
  "MIGRATE_ASYNC",
  "MIGRATE_SYNC_LIGHT",
  "MIGRATE_SYNC",
];

/**
 * Every C4.3 cell: both filesystem variants × clean/dirty × `versions` × the three modes.
 *
 * @example
 * ```ts
 * import { migrateWithoutSplitMatrix } from "@mmsim/mmsim";
 * const cells = migrateWithoutSplitMatrix(["6.12"], 4);
 * const sync = cells.find((c) => c.fs === "no ->migrate_folio" && c.state === "dirty" && c.mode === "MIGRATE_SYNC")!;
 * if (sync.outcome !== "migrated after write-out") throw new Error(sync.outcome);
 * ```
 */
export function migrateWithoutSplitMatrix(
  versions: readonly string[] = ["6.12", "6.16"],
  order = 9,
): MigrateWithoutSplitCell[] {
  const cells: MigrateWithoutSplitCell[] = [];
  for (const fs of ["filemap_migrate_folio", "no ->migrate_folio"] as const) {
    for (const state of ["clean", "dirty"] as const) {
      for (const version of versions) {
        for (const mode of MIGRATE_MODES) {
          cells.push(migrateWithoutSplitCell({ fs, state, version, mode, order }));
        }
      }
    }
  }
  return cells;
}

/**
 * What C4.3 predicts for a cell: a folio of a filesystem with `filemap_migrate_folio`, or a
 * clean one, migrates; a dirty folio without `->migrate_folio` gets -EBUSY, except before
 * v6.16 in MIGRATE_SYNC, where it is written out and then migrated.
 *
 * @example
 * ```ts
 * import { predictMigrateCell } from "@mmsim/mmsim";
 * if (predictMigrateCell("no ->migrate_folio", "dirty", "6.12", "MIGRATE_SYNC") !== "migrated after write-out") throw new Error();
 * ```
 */
export function predictMigrateCell(
  fs: MigrateFsVariant,
  state: "clean" | "dirty",
  version: string,
  mode: MigrateMode,
): MigrateCellOutcome {
  if (fs === "filemap_migrate_folio" || state === "clean") return "migrated";
  const [maj, min] = version.split(".").map(Number) as [number, number];
  const refuses = maj * 1000 + min >= 6016;
  if (!refuses && mode === "MIGRATE_SYNC") return "migrated after write-out";
  return "EBUSY";
}
