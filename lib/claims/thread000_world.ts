/**
 * Thread 000, C0.1 and Plot A: can target pageblocks holding FUSE readahead folios be freed
 * within a deadline, for each read design × migration mode × server latency?
 *
 * {@link pageblockTrial}: K target pageblocks, each filled with one FUSE file's page-cache
 * folios; a readahead READ covers a run of them (the locked, not-uptodate placeholders — or,
 * with late allocation, no folios at all, only an under-construction range). At t0 every
 * target pageblock is isolated (as `alloc_contig_range` does, so freed frames stay free) and one
 * driver per pageblock migrates its in-use folios in the given mode, again every `retryNs`
 * until the block is free or the deadline passes; a MIGRATE_SYNC driver sleeps on the folio
 * lock instead. Latencies are drawn per READ from a lognormal with the given p99 (median p99/4),
 * or ∞ (a hung server).
 *
 * {@link migrateModeRow}: one readahead folio, one `migrate_pages` call per mode: what it
 * returns and when (the C0.1 table).
 *
 * Divergences (scenario, not kernel): pageblocks of 2^6 pages by default (the claims do not
 * depend on the block size; 2^9 makes the sweep 8× slower); the retry cadence of the ASYNC and
 * SYNC_LIGHT drivers is a parameter with no kernel counterpart (CMA and khugepaged retry
 * their own ways); one driver per pageblock, so a driver stuck on one block does not hold up
 * the others.
 *
 * Not a kernel model; it composes lib/mm and lib/fs/fuse*.ts.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, zodOf } from "../_config.ts";
import { Engine } from "../sim/engine.ts";
import { Latency, latencyP99 } from "../sim/latency.ts";
import { Rng } from "../sim/rng.ts";
import {
  filemapAddFolio,
  filemapGetEntry,
  type MigrateMode,
  type ReadaheadControl,
} from "../mm/address_space.ts";
import { filemapAddFolioLocked } from "../mm/filemap.ts";
import { folioAlloc, folioPut } from "../mm/folio.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { startIsolatePageRange } from "../mm/page_isolation.ts";
import { mappingConstructRanges } from "../mm/construct_range.ts";
import { FuseMount } from "../fs/fuse.ts";
import type { FuseInode } from "../fs/fuse.ts";
import { FuseReadSide } from "../fs/fuse_read.ts";

/**
 * The read designs of Plot A.
 *
 * @example
 * ```ts
 * import { pageblockTrial, type ReadDesign } from "@mmsim/mmsim";
 * // A hung server: the abandon hook frees the pageblocks, the locked placeholder never does.
 * const never = { kind: "never" } as const;
 * const freed = (design: ReadDesign) =>
 *   pageblockTrial({ design, mode: "MIGRATE_SYNC", latency: never, blocks: 1 }).fraction;
 * if (freed("abandon hook") !== 1 || freed("locked placeholder") !== 0) throw new Error();
 * ```
 */
export type ReadDesign = "locked placeholder" | "abandon hook" | "late allocation" | "splice";

/**
 * Every read design, in plot order.
 *
 * @example
 * ```ts
 * import { pageblockTrial, READ_DESIGNS } from "@mmsim/mmsim";
 * const never = { kind: "never" } as const;
 * const hung = READ_DESIGNS.map((design) =>
 *   pageblockTrial({ design, mode: "MIGRATE_SYNC", latency: never, blocks: 1 }).fraction
 * );
 * // locked placeholder, abandon hook, late allocation, splice (a placeholder too)
 * if (hung.join() !== "0,1,1,0") throw new Error(hung.join());
 * ```
 */
export const READ_DESIGNS: readonly ReadDesign[] = [
  "locked placeholder",
  "abandon hook",
  "late allocation",
  "splice",
];

/**
 * Every migration mode, in Plot A order.
 *
 * @example
 * ```ts
 * import { migrateModeRow, PLOT_A_MODES } from "@mmsim/mmsim";
 * const L = { kind: "fixed", ns: 5e6 } as const;
 * const rcs = PLOT_A_MODES.map((mode) => migrateModeRow("locked placeholder", mode, L).rc);
 * // ASYNC and SYNC_LIGHT give up on the locked folio; SYNC waits for the reply.
 * if (rcs.join() !== "EAGAIN,EAGAIN,MIGRATEPAGE_SUCCESS") throw new Error(rcs.join());
 * ```
 */
export const PLOT_A_MODES: readonly MigrateMode[] = [
  "MIGRATE_ASYNC",
  "MIGRATE_SYNC_LIGHT",
  "MIGRATE_SYNC",
];

/**
 * Configuration of {@link pageblockTrial}.
 *
 * @example
 * ```ts
 * import { PageblockTrialConfig } from "@mmsim/mmsim";
 * const c = PageblockTrialConfig.parse({ design: "splice" });
 * if (c.deadlineNs !== 100e6 || c.blocks !== 8 || c.mode !== "MIGRATE_SYNC_LIGHT") throw new Error();
 * ```
 */
export interface PageblockTrialConfig {
  /** Read design. */
  design: ReadDesign;
  /** Migration mode of the drivers. */
  mode: MigrateMode;
  /** Server latency per READ (default lognormal, median 2.5 ms, p99 10 ms). */
  latency: Latency;
  /** Deadline after t0 (ns), default 100 ms. */
  deadlineNs: number;
  /** Retry interval of the ASYNC / SYNC_LIGHT drivers (ns), default 10 ms. */
  retryNs: number;
  /** Target pageblocks, default 8. */
  blocks: number;
  /** pageblock_order of the zone (default 6: 64 pages). */
  pageblockOrder: number;
  /** Pages of each block under one readahead READ (default 16). */
  readPages: number;
  /** Seed (latency draws, which run of each block is read). */
  seed: number;
}

/**
 * Input of {@link PageblockTrialConfig}: every field optional.
 *
 * @example
 * ```ts
 * import {
 *   PageblockTrialConfig,
 *   type PageblockTrialConfigInput,
 *   pageblockTrial,
 * } from "@mmsim/mmsim";
 * const input: PageblockTrialConfigInput = {
 *   design: "late allocation",
 *   latency: { kind: "never" },
 *   blocks: 2,
 *   deadlineNs: 50e6,
 * };
 * if (PageblockTrialConfig.parse(input).pageblockOrder !== 6) throw new Error("default 64 pages");
 * if (pageblockTrial(input).fraction !== 1) throw new Error("no folio waits for the server");
 * ```
 */
export type PageblockTrialConfigInput = Partial<PageblockTrialConfig>;

const trialSchema = z.object({
  design: z.enum(["locked placeholder", "abandon hook", "late allocation", "splice"]).default(
    "locked placeholder",
  ),
  mode: z.enum(["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"]).default(
    "MIGRATE_SYNC_LIGHT",
  ),
  latency: zodOf(Latency).default({ kind: "lognormal", medianNs: 2.5e6, p99Ns: 10e6 }),
  deadlineNs: z.number().positive().default(100e6),
  retryNs: z.number().positive().default(10e6),
  blocks: z.number().int().min(1).max(64).default(8),
  pageblockOrder: z.number().int().min(3).max(9).default(6),
  readPages: z.number().int().min(1).max(32).default(16),
  seed: z.number().int().default(1),
});

/** The {@link PageblockTrialConfig} schema. */
export const PageblockTrialConfig: ConfigSchema<PageblockTrialConfig, PageblockTrialConfigInput> =
  defineConfig(
    "PageblockTrialConfig",
    trialSchema as unknown as z.ZodType<PageblockTrialConfig, PageblockTrialConfigInput>,
  );

/**
 * What {@link pageblockTrial} measured.
 *
 * @example
 * ```ts
 * import { pageblockTrial, type PageblockTrialResult } from "@mmsim/mmsim";
 * const r: PageblockTrialResult = pageblockTrial({
 *   design: "locked placeholder",
 *   mode: "MIGRATE_SYNC",
 *   latency: { kind: "never" },
 *   blocks: 2,
 * });
 * // Both drivers sleep on a locked placeholder until the deadline; nothing is freed.
 * if (r.freed !== 0 || r.freedAtNs.join() !== "-1,-1" || r.driversBlocked !== 2) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export interface PageblockTrialResult {
  /** Target pageblocks. */
  blocks: number;
  /** Pageblocks free by the deadline. */
  freed: number;
  /** freed / blocks. */
  fraction: number;
  /** Per block: ns after t0 at which it was free, or -1. */
  freedAtNs: number[];
  /** Drivers still asleep (MIGRATE_SYNC on a lock) at the deadline. */
  driversBlocked: number;
  /** Folios the abandon hook gave up. */
  abandoned: number;
}

/** The FUSE read-side configuration of a design. */
function readConfigOf(design: ReadDesign, latency: Latency) {
  return {
    latency,
    reply: design === "splice" ? "splice" as const : "copy" as const,
    abandon: design === "abandon hook" ? "unlock" as const : "none" as const,
    lateAllocation: design === "late allocation",
    splice: { pipeMaxUsage: 256 },
  };
}

interface TargetWorld {
  env: Engine;
  mm: Mm;
  rs: FuseReadSide;
  files: FuseInode[];
  pb: number;
}

/**
 * Fill the target pageblocks [0, blocks × pb) with one file each (page i of file b at pfn
 * b·pb + i, uptodate), then put a run of `readPages` of each under a readahead READ.
 */
function targetWorld(c: PageblockTrialConfig): TargetWorld {
  const env = new Engine({ seed: c.seed });
  const pb = 1 << c.pageblockOrder;
  const nrFrames = (3 * c.blocks + 4) * pb;
  const mm = new Mm(env, {
    memory: { nrFrames, pageblockOrder: c.pageblockOrder },
    zone: { minFreeKbytes: 0 },
    version: "6.16",
  });
  const mount = new FuseMount(mm, {
    server: {
      threads: c.blocks,
      latency: { kind: "fixed", ns: 0 },
      maxBackground: 4 * c.blocks,
      congestionThreshold: 3 * c.blocks,
    },
  });
  const rs = new FuseReadSide(mount, readConfigOf(c.design, c.latency));
  const files: FuseInode[] = [];
  const end = c.blocks * pb;
  // Take every frame of the target range, give back the others.
  const byPfn = new Map<number, number>();
  const others: number[] = [];
  while (byPfn.size < end) {
    const f = folioAlloc(mm, 0, MIGRATE.MOVABLE);
    if (f < 0) throw new Error(`pageblockTrial: cannot take frame ${byPfn.size} of ${end}`);
    if (f < end) byPfn.set(f, f);
    else others.push(f);
  }
  for (const f of others) folioPut(mm, f);
  const rng = new Rng(c.seed * 7919 + 17);
  for (let b = 0; b < c.blocks; b++) {
    const contents = new Map<number, number>();
    for (let i = 0; i < pb; i++) contents.set(i, 1_000_000 * (b + 1) + i);
    const fi = rs.createInode(contents);
    files.push(fi);
    const runs = Math.floor(pb / c.readPages);
    const run = rng.int(runs) * c.readPages;
    const ra: number[] = [];
    for (let i = 0; i < pb; i++) {
      const pfn = b * pb + i;
      const inRun = i >= run && i < run + c.readPages;
      if (inRun && c.design === "late allocation") {
        folioPut(mm, pfn); // no placeholder: the frame stays free
        continue;
      }
      if (inRun) {
        filemapAddFolioLocked(mm, fi.mapping, pfn, i); // keeps the allocation reference
        ra.push(pfn);
        continue;
      }
      filemapAddFolio(mm, fi.mapping, pfn, i);
      mm.mem.setFlag(pfn, PG.uptodate);
      mm.mem.data[pfn] = contents.get(i)!;
      folioPut(mm, pfn);
    }
    if (c.design === "late allocation") {
      const tracker = mappingConstructRanges(fi.mapping);
      for (const r of tracker.begin(mm, run, run + c.readPages, -1, null)) {
        rs.readRange(fi, tracker, r, false).next();
      }
    } else {
      const rac: ReadaheadControl = {
        mapping: fi.mapping,
        folios: ra,
        index: run,
        nrPages: c.readPages,
      };
      rs.readahead(rac).next();
    }
  }
  return { env, mm, rs, files, pb };
}

/**
 * No frame of [start, end) is in use. (Free isolated pageblocks may merge into one buddy block
 * across their boundary, so `test_pages_isolated` on one block of a pair is not the test.)
 */
function pageblockFree(mm: Mm, start: number, end: number): boolean {
  const mem = mm.mem;
  for (let pfn = start; pfn < end; pfn++) {
    if (mem.refcount[mem.compoundHead(pfn)]! > 0) return false;
  }
  return true;
}

/**
 * One trial of Plot A (see the module doc).
 *
 * @example A hung server: no placeholder block is ever freed; late allocation frees them all
 * ```ts
 * import { pageblockTrial } from "@mmsim/mmsim";
 * const hung = { kind: "never" } as const;
 * if (pageblockTrial({ design: "locked placeholder", latency: hung, blocks: 2 }).freed !== 0) throw new Error();
 * if (pageblockTrial({ design: "late allocation", latency: hung, blocks: 2 }).fraction !== 1) throw new Error();
 * ```
 */
export function pageblockTrial(config: PageblockTrialConfigInput = {}): PageblockTrialResult {
  const c = PageblockTrialConfig.parse(config);
  const { env, mm, rs, pb } = targetWorld(c);
  const zone = mm.zone;
  const t0 = env.nowNs;
  const freedAt: number[] = Array(c.blocks).fill(-1);
  let blocked = 0;
  for (let b = 0; b < c.blocks; b++) {
    const start = b * pb, end = start + pb;
    const iso = startIsolatePageRange(zone, start, end, MIGRATE.MOVABLE);
    if (!iso.ok) {
      throw new Error(`pageblockTrial: cannot isolate block ${b} (pfn ${iso.failedPfn})`);
    }
    env.spawn(`free pageblock ${b}`, function* (e) {
      for (;;) {
        const list: number[] = [];
        for (let pfn = start; pfn < end; pfn++) {
          const f = mm.mem.compoundHead(pfn);
          if (f !== pfn || mm.mem.refcount[f]! <= 0 || !mm.mem.testFlag(f, PG.lru)) continue;
          if (isolateFolioForMigration(mm, f)) list.push(f);
        }
        if (list.length > 0) {
          if (c.mode === "MIGRATE_SYNC") blocked++;
          const r = yield* migratePages(mm, list, allocMigrationTarget, c.mode, "MR_CONTIG_RANGE");
          if (c.mode === "MIGRATE_SYNC") blocked--;
          putbackMovablePages(mm, r.failed);
        }
        if (pageblockFree(mm, start, end)) {
          freedAt[b] = e.nowNs - t0;
          return;
        }
        if (e.nowNs - t0 + c.retryNs > c.deadlineNs) return;
        yield e.sleep(c.retryNs);
      }
    });
  }
  env.run({ maxTimeNs: t0 + c.deadlineNs });
  const freed = freedAt.filter((t) => t >= 0 && t <= c.deadlineNs).length;
  return {
    blocks: c.blocks,
    freed,
    fraction: freed / c.blocks,
    freedAtNs: freedAt,
    driversBlocked: blocked,
    abandoned: rs.stats.abandoned,
  };
}

/**
 * One point of Plot A.
 *
 * @example
 * ```ts
 * import { type PlotAPoint, plotASweep } from "@mmsim/mmsim";
 * const [p]: PlotAPoint[] = plotASweep({
 *   p99sNs: [2e6],
 *   seeds: [1, 2],
 *   designs: ["late allocation"],
 *   modes: ["MIGRATE_ASYNC"],
 *   blocks: 2,
 * });
 * if (p?.design !== "late allocation" || p.p99Ns !== 2e6 || p.blocks !== 4) throw new Error();
 * if (p.fraction < 0 || p.fraction > 1) throw new Error("a fraction of the 4 pageblocks");
 * ```
 */
export interface PlotAPoint {
  /** Read design. */
  design: ReadDesign;
  /** Migration mode. */
  mode: MigrateMode;
  /** Server latency p99 (ns); Infinity for a hung server. */
  p99Ns: number;
  /** Fraction of target pageblocks free within the deadline, over all seeds. */
  fraction: number;
  /** Target pageblocks over all seeds. */
  blocks: number;
}

/**
 * Options of {@link plotASweep}.
 *
 * @example
 * ```ts
 * import { plotASweep, type PlotASweepOptions } from "@mmsim/mmsim";
 * const opts: PlotASweepOptions = {
 *   p99sNs: [1e6, 10e6, Infinity],
 *   seeds: [1],
 *   designs: ["abandon hook"],
 *   modes: ["MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"],
 *   deadlineNs: 50e6,
 *   blocks: 1,
 * };
 * const pts = plotASweep(opts);
 * if (pts.length !== 2 * 3) throw new Error("one point per mode × p99");
 * ```
 */
export interface PlotASweepOptions {
  /** Latency p99 values (ns); Infinity = a hung server. */
  p99sNs: readonly number[];
  /** Seeds per point. */
  seeds: readonly number[];
  /** Designs (default all). */
  designs?: readonly ReadDesign[];
  /** Modes (default all). */
  modes?: readonly MigrateMode[];
  /** Deadline (default 100 ms). */
  deadlineNs?: number;
  /** Target pageblocks per trial (default 8). */
  blocks?: number;
}

/**
 * The latency of a p99: lognormal with median p99/4, or `never` for Infinity.
 *
 * @example
 * ```ts
 * import { latencyOfP99 } from "@mmsim/mmsim";
 * const l = latencyOfP99(8e6);
 * if (l.kind !== "lognormal" || l.medianNs !== 2e6 || l.p99Ns !== 8e6) throw new Error("p99/4");
 * if (latencyOfP99(Infinity).kind !== "never") throw new Error("a hung server");
 * ```
 */
export function latencyOfP99(p99Ns: number): Latency {
  return Number.isFinite(p99Ns)
    ? { kind: "lognormal", medianNs: p99Ns / 4, p99Ns }
    : { kind: "never" };
}

/**
 * Plot A: fraction of target pageblocks freed within the deadline against the server's latency
 * p99, per design × mode.
 *
 * @example
 * ```ts
 * import { plotASweep } from "@mmsim/mmsim";
 * const pts = plotASweep({ p99sNs: [1e6, Infinity], seeds: [1], designs: ["abandon hook"], modes: ["MIGRATE_SYNC"], blocks: 2 });
 * if (pts.length !== 2 || pts.some((p) => p.fraction !== 1)) throw new Error(JSON.stringify(pts));
 * ```
 */
export function plotASweep(o: PlotASweepOptions): PlotAPoint[] {
  const out: PlotAPoint[] = [];
  for (const design of o.designs ?? READ_DESIGNS) {
    for (const mode of o.modes ?? PLOT_A_MODES) {
      for (const p99 of o.p99sNs) {
        let freed = 0, blocks = 0;
        for (const seed of o.seeds) {
          const r = pageblockTrial({
            design,
            mode,
            latency: latencyOfP99(p99),
            seed,
            deadlineNs: o.deadlineNs,
            blocks: o.blocks,
          });
          freed += r.freed;
          blocks += r.blocks;
        }
        out.push({ design, mode, p99Ns: p99, fraction: freed / blocks, blocks });
      }
    }
  }
  return out;
}

/**
 * One row of the C0.1 mode table.
 *
 * @example
 * ```ts
 * import { migrateModeRow, type MigrateModeRow } from "@mmsim/mmsim";
 * const row: MigrateModeRow = migrateModeRow("locked placeholder", "MIGRATE_SYNC", {
 *   kind: "never",
 * });
 * if (row.returned || row.rc !== "never returned" || row.timeNs !== -1) throw new Error(row.rc);
 * if (!row.waits.includes("FUSE_READ") || row.latency !== "∞") throw new Error(row.waits);
 * ```
 */
export interface MigrateModeRow {
  /** Read design. */
  design: ReadDesign;
  /** Mode. */
  mode: MigrateMode;
  /** Server latency (label). */
  latency: string;
  /** The folio's final rc, or "never returned". */
  rc: string;
  /** `migrate_pages` returned. */
  returned: boolean;
  /** Time until it returned (ns), or -1. */
  timeNs: number;
  /** Wait-for report when it did not return. */
  waits: string;
}

/**
 * C0.1's table: one readahead folio whose READ takes `latency`, and one `migrate_pages` of it
 * in `mode`, 1 µs after the READ was sent.
 *
 * @example
 * ```ts
 * import { migrateModeRow } from "@mmsim/mmsim";
 * const L = { kind: "fixed", ns: 5e6 } as const;
 * const a = migrateModeRow("locked placeholder", "MIGRATE_ASYNC", L);
 * const s = migrateModeRow("locked placeholder", "MIGRATE_SYNC", L);
 * if (a.rc !== "EAGAIN" || a.timeNs > 10_000 || s.rc !== "MIGRATEPAGE_SUCCESS" || s.timeNs < 5e6 - 1000) throw new Error();
 * ```
 */
export function migrateModeRow(
  design: ReadDesign,
  mode: MigrateMode,
  latency: Latency,
  seed = 1,
): MigrateModeRow {
  const c = PageblockTrialConfig.parse({ design, mode, latency, seed, blocks: 1, readPages: 1 });
  const { env, mm, files } = targetWorld(c);
  const fi = files[0]!;
  let folio = -1;
  for (let i = 0; i < 1 << c.pageblockOrder; i++) {
    const f = filemapGetEntry(fi.mapping, i);
    if (f >= 0 && !mm.mem.testFlag(f, PG.uptodate)) folio = f;
  }
  let rc = "never returned", returned = false, t1 = -1;
  env.spawn("migrate", function* (e) {
    yield e.sleep(1000);
    const t0 = e.nowNs;
    if (folio < 0) {
      rc = "no placeholder";
      returned = true;
      t1 = 0;
      return;
    }
    if (!isolateFolioForMigration(mm, folio)) throw new Error("migrateModeRow: cannot isolate");
    const r = yield* migratePages(mm, [folio], allocMigrationTarget, mode, "MR_COMPACTION");
    rc = r.outcomes.find((o) => o.folio === folio)?.rc ?? "none";
    putbackMovablePages(mm, r.failed);
    returned = true;
    t1 = e.nowNs - t0;
  });
  const res = env.run({ maxTimeNs: 10e9 });
  const p99 = latencyP99(latency);
  return {
    design,
    mode,
    latency: Number.isFinite(p99) ? `${p99 / 1e6} ms` : "∞",
    rc,
    returned,
    timeNs: t1,
    waits: returned ? "" : res.waits?.text ?? `run ended: ${res.reason}`,
  };
}
