/**
 * Thread 004, C4.2 (when a split is allowed) and C4.4 (what a split costs), and the model's
 * prediction for the real-kernel cross-check of a split at one page.
 *
 * - {@link splitAllowedTrial}: order-k folios of an iomap file, each clean, dirty (a small
 *   write: per-block state, PG_dirty), pinned (an extra reference) or under writeback; then
 *   `split_folio` on each, as `try_split_folio` does after -ENOMEM. iomap refuses to release a
 *   dirty folio, so the unsplittable fraction should equal the dirty fraction; a pin gives
 *   -EAGAIN, writeback -EBUSY.
 * - {@link minOrderSplitTrial}: `split_folio` of a folio of a large-block-size mapping (minimum
 *   order m): before the late-2025 change it silently splits to order m, after it fails with
 *   -EINVAL — no folio below order m either way.
 * - {@link splitCostRows}: "isolate one page" splits of an order-k iomap folio whose every other
 *   block is dirty, uniform against non-uniform, counting new folios and the block-state
 *   allocations carrying the dirty state would need (lib/fs/iomap_split.ts).
 * - {@link predictSplitFolioSizes}: an order-9 tmpfs folio (4 KiB pages) split at page 5 as
 *   debugfs `split_huge_pages` does it in each era; the folio sizes in file order.
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
import { AddressSpace, filemapAddFolio, filemapGetEntry } from "../mm/address_space.ts";
import { BlockDevice } from "../mm/block_device.ts";
import { folioAlloc, folioGet, folioLock, folioPut, folioUnlock } from "../mm/folio.ts";
import { MIGRATE, NIL, PG } from "../mm/memory.ts";
import { filemapMigrateFolio } from "../mm/migrate_folio.ts";
import { Mm } from "../mm/mm.ts";
import { folioSplit, splitFolio, splitHugePageToListToOrder } from "../mm/split.ts";
import {
  doWritepages,
  filemapWriteAndWaitRange,
  folioMarkDirty,
  writebackControl,
} from "../mm/writeback.ts";
import { ifsAlloc, iomapFileBufferedWrite, IomapFs, iomapSetRangeDirty } from "../fs/iomap.ts";
import { iomapSplitFolioKeepState } from "../fs/iomap_split.ts";

/**
 * Configuration of a C4.2 split trial. The fractions are of the folios and must sum to ≤ 1;
 * the rest are clean.
 *
 * @example
 * ```ts
 * import { SplitAllowedConfig } from "@mmsim/mmsim";
 * const c = SplitAllowedConfig.parse({ dirtyFraction: 0.25 });
 * if (c.folios !== 32 || c.order !== 9 || c.pinnedFraction !== 0) throw new Error();
 * ```
 */
export interface SplitAllowedConfig {
  /** Order-k folios. Default 32. */
  folios: number;
  /** Folio order k (default 9: 2 MiB at 4 KiB pages). */
  order: number;
  /** Share of the folios dirtied by a small write after writeback (default 0). */
  dirtyFraction: number;
  /** Share holding an extra reference (a pipe buffer, a GUP pin) (default 0). */
  pinnedFraction: number;
  /** Share under writeback to a device that has not completed (default 0). */
  writebackFraction: number;
  /** iomap block size (default 4 KiB). */
  blockSizeBytes: number;
  /** Kernel version (default "6.12"). */
  version: string;
  /** Seed choosing which folios get which state. */
  seed: number;
}

/**
 * Input of {@link SplitAllowedConfig}: every field optional.
 *
 * @example
 * ```ts
 * import {
 *   SplitAllowedConfig,
 *   type SplitAllowedConfigInput,
 *   splitAllowedTrial,
 * } from "@mmsim/mmsim";
 * const input: SplitAllowedConfigInput = {
 *   folios: 8,
 *   order: 4,
 *   pinnedFraction: 0.25,
 *   writebackFraction: 0.25,
 * };
 * const r = splitAllowedTrial(input);
 * if (r.pinned !== 2 || r.writeback !== 2 || r.dirty !== 0) throw new Error(JSON.stringify(r));
 * if (SplitAllowedConfig.safeParse({ dirtyFraction: 0.8, pinnedFraction: 0.5 }).success) {
 *   throw new Error("the fractions must sum to ≤ 1");
 * }
 * ```
 */
export type SplitAllowedConfigInput = Partial<SplitAllowedConfig>;

const splitAllowedSchema = z.object({
  folios: z.number().int().min(1).max(256).default(32),
  order: z.number().int().min(1).max(10).default(9),
  dirtyFraction: z.number().min(0).max(1).default(0),
  pinnedFraction: z.number().min(0).max(1).default(0),
  writebackFraction: z.number().min(0).max(1).default(0),
  blockSizeBytes: z.number().int().min(512).default(4096),
  version: z.string().regex(/^\d+\.\d+$/).default("6.12"),
  seed: z.number().int().default(1),
}).refine((c) => c.dirtyFraction + c.pinnedFraction + c.writebackFraction <= 1, {
  message: "dirtyFraction + pinnedFraction + writebackFraction must be ≤ 1",
  path: ["dirtyFraction"],
});
const _splitAllowedTypes: Same<z.output<typeof splitAllowedSchema>, SplitAllowedConfig> = true;
void _splitAllowedTypes;

/** The {@link SplitAllowedConfig} schema. */
export const SplitAllowedConfig: ConfigSchema<SplitAllowedConfig, SplitAllowedConfigInput> =
  defineConfig("SplitAllowedConfig", splitAllowedSchema);

/**
 * What {@link splitAllowedTrial} measured.
 *
 * @example
 * ```ts
 * import { splitAllowedTrial, type SplitAllowedResult } from "@mmsim/mmsim";
 * const r: SplitAllowedResult = splitAllowedTrial({
 *   folios: 8,
 *   order: 4,
 *   pinnedFraction: 0.25,
 *   writebackFraction: 0.25,
 * });
 * // Pinned folios fail on their extra reference, folios under writeback on PG_writeback.
 * if (r.reasons.refs !== r.pinned || r.reasons.writeback !== r.writeback || r.unexpected !== 0) {
 *   throw new Error(JSON.stringify(r));
 * }
 * if (r.unsplittableFraction !== r.failed / r.folios) throw new Error("failed / folios");
 * ```
 */
export interface SplitAllowedResult {
  /** Folios tried. */
  folios: number;
  /** Folios in each state. */
  dirty: number;
  /** Folios with an extra reference. */
  pinned: number;
  /** Folios under writeback. */
  writeback: number;
  /** Splits that failed. */
  failed: number;
  /** failed / folios. */
  unsplittableFraction: number;
  /** Failures by errno. */
  errnos: Record<string, number>;
  /** The split's failure counters (split_failed_<why>). */
  reasons: Record<string, number>;
  /** Failed splits of folios that were not dirty, pinned or under writeback (expected 0). */
  unexpected: number;
}

/**
 * C4.2: try `split_folio` on order-k iomap folios in the chosen states (see the module doc).
 *
 * @example Half the folios dirty: half cannot be split, all for "release"
 * ```ts
 * import { splitAllowedTrial } from "@mmsim/mmsim";
 * const r = splitAllowedTrial({ folios: 8, order: 4, dirtyFraction: 0.5 });
 * if (r.unsplittableFraction !== 0.5 || r.reasons.release !== 4 || r.unexpected !== 0) throw new Error();
 * ```
 */
export function splitAllowedTrial(input: SplitAllowedConfigInput = {}): SplitAllowedResult {
  const c = SplitAllowedConfig.parse(input);
  const env = new Engine({ seed: c.seed });
  const k = c.order;
  const mm = new Mm(env, {
    memory: { nrFrames: Math.max(4096, 2 * (c.folios << k)) },
    zone: { minFreeKbytes: 0 },
    version: c.version,
  });
  const ps = mm.mem.pageSizeBytes;
  const fs = new IomapFs(mm, { blockSizeBytes: c.blockSizeBytes });
  const file = fs.createFile({ name: "xfs file", maxOrder: k });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 50_000 } }).attach(file);
  const folios: number[] = [];
  for (let i = 0; i < c.folios; i++) {
    const f = folioAlloc(mm, k, MIGRATE.MOVABLE);
    if (f === NIL) throw new Error(`C4.2 trial: cannot allocate order-${k} folio ${i}`);
    filemapAddFolio(mm, file, f, i << k);
    folioPut(mm, f);
    folios.push(f);
  }
  // Which folio gets which state.
  const order = new Rng(c.seed).shuffle([...folios.keys()]);
  const nd = Math.round(c.dirtyFraction * c.folios);
  const np = Math.round(c.pinnedFraction * c.folios);
  const nw = Math.round(c.writebackFraction * c.folios);
  const dirty = new Set(order.slice(0, nd));
  const pinned = new Set(order.slice(nd, nd + np));
  const wb = new Set(order.slice(nd + np, nd + np + nw));
  const size = (1 << k) * ps;
  env.spawn("setup", function* () {
    // Written whole and written back: clean, with block state attached by writeback.
    for (let i = 0; i < c.folios; i++) {
      yield* iomapFileBufferedWrite(mm, file, i * size, size, i + 1);
    }
    yield* filemapWriteAndWaitRange(mm, file, 0, (c.folios << k) - 1);
    // Then small writes: one block into each folio to be dirtied or written back.
    for (const i of [...dirty, ...wb]) {
      yield* iomapFileBufferedWrite(mm, file, i * size + ps, c.blockSizeBytes, 1000 + i);
    }
  });
  env.run();
  // Writeback that has not completed: a device that does not answer from now on.
  new BlockDevice(mm, { name: "stuck", latency: { kind: "never" } }).attach(file);
  if (wb.size > 0) {
    // Only the wb folios' ranges (filemap_fdatawrite_range), so the dirty ones stay dirty.
    env.spawn("flusher", function* () {
      for (const i of wb) {
        const range = { rangeStart: i << k, rangeEnd: ((i + 1) << k) - 1 };
        yield* doWritepages(mm, file, writebackControl({ syncMode: "WB_SYNC_NONE", ...range }));
      }
    });
    env.run();
  }
  for (const i of pinned) folioGet(mm, folios[i]!);
  const before: Record<string, number> = {};
  const WHY = ["release", "refs", "writeback", "min_order", "truncated", "unsupported"];
  for (const w of WHY) before[w] = mm.vmstat.get(`split_failed_${w}`);
  const errnos: Record<string, number> = {};
  let failed = 0, unexpected = 0;
  env.spawn("split", function* () {
    for (let i = 0; i < c.folios; i++) {
      const f = folios[i]!;
      folioGet(mm, f); // the caller's reference (try_split_folio holds the isolation one)
      yield* folioLock(mm, f);
      const r = splitFolio(mm, f);
      folioUnlock(mm, f);
      folioPut(mm, f);
      if (!r.ok) {
        failed++;
        errnos[r.errno] = (errnos[r.errno] ?? 0) + 1;
        if (!dirty.has(i) && !pinned.has(i) && !wb.has(i)) unexpected++;
      }
    }
  });
  env.run({ maxTimeNs: 1e9 });
  const reasons: Record<string, number> = {};
  for (const w of WHY) reasons[w] = mm.vmstat.get(`split_failed_${w}`) - before[w]!;
  return {
    folios: c.folios,
    dirty: nd,
    pinned: np,
    writeback: nw,
    failed,
    unsplittableFraction: failed / c.folios,
    errnos,
    reasons,
    unexpected,
  };
}

/**
 * What {@link minOrderSplitTrial} saw.
 *
 * @example
 * ```ts
 * import { minOrderSplitTrial, type MinOrderSplitResult } from "@mmsim/mmsim";
 * const r: MinOrderSplitResult = minOrderSplitTrial("6.12", 2, 4); // 16 KiB blocks, order-4 folio
 * const pages = r.orders.reduce((a, o) => a + (1 << o), 0);
 * if (!r.ok || r.errno !== null || pages !== 16) throw new Error(JSON.stringify(r));
 * if (r.smallestOrder !== Math.min(...r.orders) || r.smallestOrder < r.minOrder) throw new Error();
 * ```
 */
export interface MinOrderSplitResult {
  /** Kernel version. */
  version: string;
  /** The mapping's minimum folio order. */
  minOrder: number;
  /** `split_folio` returned success. */
  ok: boolean;
  /** Its errno otherwise. */
  errno: string | null;
  /** Orders of the folios afterwards (one entry per folio). */
  orders: number[];
  /** Smallest order afterwards. */
  smallestOrder: number;
}

/**
 * C4.2, minimum order: `split_folio` (to order 0) of an order-`order` folio of an iomap file
 * whose block size is `page << minOrder` (so its minimum folio order is `minOrder`).
 *
 * @example
 * ```ts
 * import { minOrderSplitTrial } from "@mmsim/mmsim";
 * const old = minOrderSplitTrial("6.12", 2, 4), now = minOrderSplitTrial("6.19", 2, 4);
 * if (!old.ok || old.smallestOrder !== 2 || old.orders.length !== 4) throw new Error("raised to 2");
 * if (now.ok || now.errno !== "EINVAL" || now.orders.join() !== "4") throw new Error("EINVAL");
 * ```
 */
export function minOrderSplitTrial(
  version: string,
  minOrder: number,
  order = 9,
): MinOrderSplitResult {
  const env = new Engine();
  const mm = new Mm(env, {
    memory: { nrFrames: Math.max(2048, 2 << order) },
    zone: { minFreeKbytes: 0 },
    version,
  });
  const fs = new IomapFs(mm, { blockSizeBytes: mm.mem.pageSizeBytes << minOrder });
  const file = fs.createFile({ name: "lbs file", maxOrder: order });
  const f = folioAlloc(mm, order, MIGRATE.MOVABLE);
  filemapAddFolio(mm, file, f, 0);
  mm.mem.setFlag(f, PG.uptodate);
  mm.mem.setFlag(f, PG.locked);
  const r = splitFolio(mm, f);
  mm.mem.clearFlag(f, PG.locked);
  const orders: number[] = [];
  for (let i = 0; i < 1 << order;) {
    const p = filemapGetEntry(file, i);
    orders.push(mm.mem.order[p]!);
    i += 1 << mm.mem.order[p]!;
  }
  return {
    version,
    minOrder,
    ok: r.ok,
    errno: r.ok ? null : r.errno,
    orders,
    smallestOrder: Math.min(...orders),
  };
}

/**
 * One row of {@link splitCostRows}.
 *
 * @example
 * ```ts
 * import { type SplitCostRow, splitCostRows } from "@mmsim/mmsim";
 * const k4 = { order: 4, pageSizeBytes: 4096, blockSizeBytes: 1024 } as const;
 * const rows: SplitCostRow[] = splitCostRows([k4]);
 * const buddy = rows.find((r) => r.split === "non-uniform")!;
 * // The non-uniform split isolating page 5: sizes in pages, in file order, covering the folio.
 * const sizes = buddy.sizes.split(",").map(Number);
 * if (sizes.length !== buddy.folios || sizes.reduce((a, b) => a + b, 0) !== 16) throw new Error();
 * if (buddy.case !== "k=4 (4 KiB pages, 1 KiB blocks)") throw new Error(buddy.case);
 * ```
 */
export interface SplitCostRow {
  /** Folio order k. */
  order: number;
  /** Base page size in bytes. */
  pageSizeBytes: number;
  /** Block size in bytes. */
  blockSizeBytes: number;
  /** Label of the case, e.g. "k=9 (4 KiB pages, 1 KiB blocks)". */
  case: string;
  /** "uniform" or "non-uniform". */
  split: "uniform" | "non-uniform";
  /** New folios the split made. */
  folios: number;
  /** Block-state allocations carrying the dirty state would need. */
  ifsAllocs: number;
  /** Folio sizes in pages, in file order (first 12, then "…"). */
  sizes: string;
  /** Today's kernel: split_folio of the same dirty folio (errno, or "ok"). */
  kernel: string;
}

/**
 * The C4.4 cases: (k, page size, block size).
 *
 * @example
 * ```ts
 * import { SPLIT_COST_CASES, splitCostRows } from "@mmsim/mmsim";
 * const smallest = SPLIT_COST_CASES[0]!; // k = 4, 4 KiB pages, 1 KiB blocks: fast to run
 * const rows = splitCostRows([smallest]);
 * if (rows.map((r) => r.split).join() !== "uniform,non-uniform") throw new Error("two per case");
 * if (!SPLIT_COST_CASES.some((c) => c.pageSizeBytes === 65536 && c.order === 13)) {
 *   throw new Error("and a 512 MiB folio of 64 KiB pages");
 * }
 * ```
 */
export const SPLIT_COST_CASES: readonly {
  order: number;
  pageSizeBytes: 4096 | 65536;
  blockSizeBytes: number;
}[] = [
  { order: 4, pageSizeBytes: 4096, blockSizeBytes: 1024 },
  { order: 9, pageSizeBytes: 4096, blockSizeBytes: 1024 },
  { order: 9, pageSizeBytes: 4096, blockSizeBytes: 4096 },
  { order: 13, pageSizeBytes: 65536, blockSizeBytes: 4096 },
];

function kib(b: number): string {
  return b >= 1024 ? `${b / 1024} KiB` : `${b} B`;
}

/**
 * C4.4: split an order-k iomap folio whose every other block is dirty so as to isolate page
 * 5, uniformly and non-uniformly (era 6.16), keeping the block state (lib/fs/iomap_split.ts);
 * count the new folios and block-state allocations. Also records what today's kernel does with
 * the same folio (`split_folio`: -EBUSY, release refused).
 *
 * @example
 * ```ts
 * import { splitCostRows } from "@mmsim/mmsim";
 * const rows = splitCostRows([{ order: 4, pageSizeBytes: 4096, blockSizeBytes: 1024 }]);
 * const u = rows.find((r) => r.split === "uniform")!, n = rows.find((r) => r.split === "non-uniform")!;
 * if (u.folios !== 16 || u.ifsAllocs !== 16 || n.folios !== 5 || n.ifsAllocs !== 5) throw new Error();
 * if (u.kernel !== "EBUSY") throw new Error("iomap refuses today");
 * ```
 */
export function splitCostRows(
  cases: readonly { order: number; pageSizeBytes: 4096 | 65536; blockSizeBytes: number }[] =
    SPLIT_COST_CASES,
): SplitCostRow[] {
  const rows: SplitCostRow[] = [];
  for (const cs of cases) {
    for (const uniform of [true, false]) {
      const make = () => {
        const mm = new Mm(new Engine(), {
          memory: { nrFrames: Math.max(2048, 2 << cs.order), pageSizeBytes: cs.pageSizeBytes },
          zone: { minFreeKbytes: 0 },
          version: "6.16",
        });
        const fs = new IomapFs(mm, { blockSizeBytes: cs.blockSizeBytes });
        const file = fs.createFile({ name: "xfs file", maxOrder: cs.order });
        const f = folioAlloc(mm, cs.order, MIGRATE.MOVABLE);
        filemapAddFolio(mm, file, f, 0);
        mm.mem.setFlag(f, PG.uptodate);
        const ifs = ifsAlloc(mm, f)!;
        for (let b = 0; b < ifs.nrBlocks; b += 2) {
          iomapSetRangeDirty(mm, f, b * cs.blockSizeBytes, cs.blockSizeBytes);
        }
        folioMarkDirtyRaw(mm, f);
        mm.mem.setFlag(f, PG.locked);
        return { mm, f };
      };
      const today = make();
      const k = splitFolio(today.mm, today.f);
      const { mm, f } = make();
      const r = iomapSplitFolioKeepState(mm, f, f + 5, { uniform });
      if (!r.ok) throw new Error(`C4.4: split of order ${cs.order} failed: ${r.errno}`);
      const sizes = r.value.orders.map((o) => 1 << o);
      rows.push({
        order: cs.order,
        pageSizeBytes: cs.pageSizeBytes,
        blockSizeBytes: cs.blockSizeBytes,
        case: `k=${cs.order} (${kib(cs.pageSizeBytes)} pages, ${kib(cs.blockSizeBytes)} blocks)`,
        split: uniform ? "uniform" : "non-uniform",
        folios: r.value.folios.length,
        ifsAllocs: r.value.ifsAllocs,
        sizes: sizes.slice(0, 12).join(",") + (sizes.length > 12 ? ",…" : ""),
        kernel: k.ok ? "ok" : k.errno,
      });
    }
  }
  return rows;
}

/** PG_dirty without going through ->dirty_folio (the block state is already set up). */
function folioMarkDirtyRaw(mm: Mm, folio: number): void {
  if (!mm.mem.testAndSetFlag(folio, PG.dirty)) mm.vmstat.inc("nr_dirty", 1 << mm.mem.order[folio]!);
}

/**
 * The model's prediction for the cross-check experiment `split-at-page` (crosscheck/): a
 * 2 MiB tmpfs folio (order 9, 4 KiB pages) split through debugfs `split_huge_pages` at page 5
 * — `folio_split` (non-uniform) where the era has it (v6.15+), otherwise a uniform split to
 * order 0 — simulated with `kernelEra(version)`. Returns the folio sizes in pages, in pfn
 * (= file) order.
 *
 * @example
 * ```ts
 * import { predictSplitFolioSizes } from "@mmsim/mmsim";
 * if (predictSplitFolioSizes("6.12").length !== 512) throw new Error("uniform");
 * if (predictSplitFolioSizes("7.0").join() !== "4,1,1,2,8,16,32,64,128,256") throw new Error();
 * ```
 */
export function predictSplitFolioSizes(version: string): number[] {
  const mm = new Mm(new Engine(), {
    memory: { nrFrames: 2048 },
    zone: { minFreeKbytes: 0 },
    version,
  });
  // tmpfs mounted huge=always: a shmem mapping with large folios up to PMD size.
  const shmem = AddressSpace.create(mm, {
    name: "tmpfs thp",
    maxOrder: 9,
    aops: { migrateFolio: filemapMigrateFolio },
  });
  const f = folioAlloc(mm, 9, MIGRATE.MOVABLE);
  filemapAddFolio(mm, shmem, f, 0);
  // Written with write(2): uptodate, dirty, swap-backed.
  mm.mem.setFlag(f, PG.uptodate);
  mm.mem.setFlag(f, PG.swapbacked);
  folioMarkDirty(mm, f);
  mm.mem.setFlag(f, PG.locked);
  const r = mm.era.nonUniformSplit
    ? folioSplit(mm, f, 0, f + 5)
    : splitHugePageToListToOrder(mm, f, 0);
  if (!r.ok) throw new Error(`predictSplitFolioSizes(${version}): split failed: ${r.errno}`);
  const sizes: number[] = [];
  for (let i = 0; i < 512;) {
    const p = filemapGetEntry(shmem, i);
    sizes.push(1 << mm.mem.order[p]!);
    i += 1 << mm.mem.order[p]!;
  }
  return sizes;
}
