/**
 * Thread 004, C4.5 (David Hildenbrand): folios under FUSE writeback, and readahead folios whose
 * READ the server has not answered, are unmovable in practice. Async compaction does not even
 * isolate a folio under writeback; MIGRATE_ASYNC and MIGRATE_SYNC_LIGHT give up on it (-EBUSY);
 * only MIGRATE_SYNC waits (alloc_contig_range / CMA, memory offlining). A locked folio that is
 * not uptodate: MIGRATE_ASYNC cannot take the lock, MIGRATE_SYNC_LIGHT gives up, MIGRATE_SYNC
 * sleeps on the lock. With a server that never answers (L = ∞), `alloc_contig_range` and
 * `offline_pages` never return: the run ends with every task blocked and a wait-for report
 * naming the folio bit and the FUSE request, not with a JavaScript infinite loop.
 *
 * {@link unmovableModeRow} runs one folio through one migration mode; {@link contigUnderIoTrial}
 * takes one pageblock (512 pages of one FUSE file, era v6.16: FUSE keeps PG_writeback until
 * the WRITE reply) with a share of it under writeback or readahead, by `alloc_contig_range` or
 * `offline_pages` within a deadline.
 *
 * Not a kernel model itself; it composes lib/mm and lib/fs/fuse*.ts.
 *
 * @module
 */

import type { WaitReport } from "../sim/deadlock.ts";
import { Engine, type RunResult } from "../sim/engine.ts";
import type { Latency } from "../sim/latency.ts";
import { Rng } from "../sim/rng.ts";
import type { MigrateMode, ReadaheadControl } from "../mm/address_space.ts";
import { filemapAddFolio } from "../mm/address_space.ts";
import { CompactControl } from "../mm/compact_control.ts";
import { ISOLATE_MODE, isolateMigratepagesBlock } from "../mm/compaction_scanners.ts";
import { allocContigRange, type ContigResult, offlinePages } from "../mm/contig_range.ts";
import { folioAlloc, folioGet, folioPut, folioTrylock } from "../mm/folio.ts";
import { MIGRATE, PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { filemapFdatawrite } from "../mm/writeback.ts";
import { type FuseInode, FuseMount, fuseReadahead, fuseWriteIter } from "../fs/fuse.ts";

/**
 * What holds the folios: FUSE writeback or a FUSE readahead READ.
 *
 * @example
 * ```ts
 * import { type IoKind, unmovableModeRow } from "@mmsim/mmsim";
 * const L = { kind: "fixed", ns: 5_000_000 } as const;
 * // MIGRATE_SYNC_LIGHT gives up on a folio under writeback and on a locked, !uptodate one alike.
 * for (const kind of ["writeback", "readahead"] as IoKind[]) {
 *   const row = unmovableModeRow(kind, "MIGRATE_SYNC_LIGHT", L);
 *   if (!row.returned || row.rc === "MIGRATEPAGE_SUCCESS") throw new Error(`${kind}: ${row.rc}`);
 * }
 * ```
 */
export type IoKind = "writeback" | "readahead";

/** A FUSE world: a 16 MiB zone, one file whose pages 0..511 fill pageblock 0. */
interface FuseWorld {
  env: Engine;
  mm: Mm;
  mount: FuseMount;
  fi: FuseInode;
  folios: number[];
  start: number;
}

function fuseWorld(latency: Latency, seed: number, pages = 512): FuseWorld {
  const env = new Engine({ seed });
  const mm = new Mm(env, {
    memory: { nrFrames: 4096 },
    zone: { minFreeKbytes: 0 },
    version: "6.16",
  });
  const mount = new FuseMount(mm, { server: { threads: 1, latency } });
  const contents = new Map<number, number>();
  for (let i = 0; i < pages; i++) contents.set(i, 10_000 + i);
  const fi = mount.createInode(contents);
  const folios: number[] = [];
  for (let i = 0; i < pages; i++) {
    const f = folioAlloc(mm, 0, MIGRATE.MOVABLE);
    filemapAddFolio(mm, fi.mapping, f, i);
    mm.mem.setFlag(f, PG.uptodate);
    mm.mem.data[f] = 10_000 + i;
    folioPut(mm, f);
    folios.push(f);
  }
  const start = Math.min(...folios);
  if (start % 512 !== 0 || Math.max(...folios) !== start + pages - 1) {
    throw new Error(`C4.5: the file's folios do not fill one pageblock (${start}…)`);
  }
  return { env, mm, mount, fi, folios, start };
}

/**
 * Put the pages of `chunks` (32-page runs, by chunk number) under FUSE I/O: writeback (a
 * write, then WB_SYNC_NONE writeback: WRITE requests the server holds for its latency) or
 * readahead (the folios locked and not uptodate, READ requests sent in the background).
 */
function startIo(w: FuseWorld, kind: IoKind, chunks: readonly number[]): void {
  const { env, mm, mount, fi, folios } = w;
  if (chunks.length === 0) return;
  if (kind === "readahead") {
    for (const c of chunks) {
      const run = folios.slice(c * 32, c * 32 + 32);
      for (const f of run) {
        if (!folioTrylock(mm, f)) throw new Error("C4.5: folio already locked");
        mm.mem.clearFlag(f, PG.uptodate);
        folioGet(mm, f); // the readahead batch's reference (readahead_folio() drops it)
      }
    }
  }
  env.spawn(kind === "readahead" ? "readahead" : "writer", function* () {
    for (const c of chunks) {
      if (kind === "writeback") {
        for (let i = c * 32; i < c * 32 + 32; i++) yield* fuseWriteIter(mm, fi, i, 20_000 + i);
      } else {
        const rac: ReadaheadControl = {
          mapping: fi.mapping,
          folios: folios.slice(c * 32, c * 32 + 32),
          index: c * 32,
          nrPages: 32,
        };
        yield* fuseReadahead(mm, mount, rac);
      }
    }
    if (kind === "writeback") yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
  });
}

/**
 * One row of the C4.5 mode table.
 *
 * @example
 * ```ts
 * import { unmovableModeRow, type UnmovableModeRow } from "@mmsim/mmsim";
 * const row: UnmovableModeRow = unmovableModeRow("readahead", "MIGRATE_SYNC", { kind: "never" });
 * // A hung server: MIGRATE_SYNC sleeps on the folio lock for ever, and the report says why.
 * if (row.returned || row.rc !== "never returned" || row.timeNs !== -1) throw new Error(row.rc);
 * if (!row.waits.includes("FUSE_READ")) throw new Error(row.waits);
 * ```
 */
export interface UnmovableModeRow {
  /** What holds the folio. */
  kind: IoKind;
  /** Migration mode. */
  mode: MigrateMode;
  /** Isolated by async compaction's migrate scanner (ISOLATE_ASYNC_MIGRATE). */
  isolatedByAsyncCompaction: boolean;
  /** The folio's rc from `migrate_pages` (or "never returned"). */
  rc: string;
  /** `migrate_pages` returned. */
  returned: boolean;
  /** Simulated time until it returned (ns), or -1. */
  timeNs: number;
  /** The run's wait-for report when it did not return. */
  waits: string;
}

/**
 * C4.5: one FUSE folio under writeback (or under a readahead READ) and one migration of it in
 * `mode`, with the server answering after `latency` (`{ kind: "never" }`: a hung server).
 *
 * @example
 * ```ts
 * import { unmovableModeRow } from "@mmsim/mmsim";
 * const L = { kind: "fixed", ns: 5_000_000 } as const;
 * const light = unmovableModeRow("writeback", "MIGRATE_SYNC_LIGHT", L);
 * const sync = unmovableModeRow("writeback", "MIGRATE_SYNC", L);
 * if (light.rc !== "EBUSY" || sync.rc !== "MIGRATEPAGE_SUCCESS" || sync.timeNs < 5_000_000) throw new Error();
 * if (light.isolatedByAsyncCompaction) throw new Error("async compaction skips writeback");
 * ```
 */
export function unmovableModeRow(
  kind: IoKind,
  mode: MigrateMode,
  latency: Latency,
  seed = 1,
): UnmovableModeRow {
  const w = fuseWorld(latency, seed, 32);
  startIo(w, kind, [0]);
  w.env.run({ maxTimeNs: 0 });
  const f = w.folios[5]!;
  // Would async compaction isolate it?
  const cc = new CompactControl(w.mm, { order: 9, mode: "MIGRATE_ASYNC", ignoreSkipHint: true });
  isolateMigratepagesBlock(cc, w.start, w.start + 512, ISOLATE_MODE.ASYNC_MIGRATE);
  const isolated = cc.migratepages.includes(f);
  putbackMovablePages(w.mm, cc.migratepages);
  cc.migratepages = [];
  let rc = "never returned", returned = false, t1 = -1;
  const t0 = w.env.nowNs;
  w.env.spawn("migrate", function* () {
    if (!isolateFolioForMigration(w.mm, f)) throw new Error("C4.5: cannot isolate");
    const r = yield* migratePages(w.mm, [f], allocMigrationTarget, mode, "MR_CONTIG_RANGE");
    rc = r.outcomes.find((o) => o.folio === f)?.rc ?? "none";
    putbackMovablePages(w.mm, r.failed);
    returned = true;
    t1 = w.env.nowNs - t0;
  });
  const res = w.env.run({ maxTimeNs: t0 + 10e9 });
  return {
    kind,
    mode,
    isolatedByAsyncCompaction: isolated,
    rc,
    returned,
    timeNs: t1,
    waits: returned ? "" : res.waits?.text ?? `run ended: ${res.reason}`,
  };
}

/**
 * Configuration of {@link contigUnderIoTrial}.
 *
 * @example
 * ```ts
 * import { type ContigUnderIoOptions, contigUnderIoTrial } from "@mmsim/mmsim";
 * const opts: ContigUnderIoOptions = {
 *   driver: "cma",
 *   kind: "writeback",
 *   share: 1 / 16, // one 32-page WRITE
 *   latency: { kind: "fixed", ns: 5e6 },
 *   deadlineNs: 50e6,
 *   seed: 1,
 * };
 * const r = contigUnderIoTrial(opts);
 * // alloc_contig_range waits for the writeback, so it takes at least the server's latency.
 * if (!r.success || r.timeNs < 5e6) throw new Error(`${r.timeNs}`);
 * ```
 */
export interface ContigUnderIoOptions {
  /** `alloc_contig_range` (CMA) or `offline_pages` (memory hot-unplug). */
  driver: "cma" | "offline";
  /** What holds the folios. */
  kind: IoKind;
  /** Share of the pageblock's 512 pages under I/O (rounded to 32-page requests). */
  share: number;
  /** The FUSE server's latency per request. */
  latency: Latency;
  /** Deadline T (ns): success means done within T. */
  deadlineNs: number;
  /** Seed (which pages, latency draws). */
  seed: number;
}

/**
 * What {@link contigUnderIoTrial} measured.
 *
 * @example
 * ```ts
 * import { contigUnderIoTrial, type ContigUnderIoResult } from "@mmsim/mmsim";
 * const r: ContigUnderIoResult = contigUnderIoTrial({
 *   driver: "offline",
 *   kind: "readahead",
 *   share: 1 / 16,
 *   latency: { kind: "fixed", ns: 5e6 },
 *   deadlineNs: 50e6,
 *   seed: 1,
 * });
 * if (!r.returned || r.result?.ok !== true || r.runEnd !== "done") throw new Error(r.waits);
 * if (r.report !== null || r.waits !== "" || r.success !== r.timeNs <= 50e6) throw new Error();
 * ```
 */
export interface ContigUnderIoResult {
  /** The driver returned success within the deadline. */
  success: boolean;
  /** The driver returned at all (within 20 T, or before the run stopped). */
  returned: boolean;
  /** Its result when it returned. */
  result: ContigResult | null;
  /** Time it took (ns), or -1. */
  timeNs: number;
  /** How the run ended ("done", "stuck" …). */
  runEnd: RunResult["reason"];
  /** The wait-for report's kind when the driver did not return ("hung", "cycle", …). */
  waitKind: string;
  /** The wait-for report's text when the driver did not return. */
  waits: string;
  /** The wait-for report itself (for `waitForFigure`), or null. */
  report: WaitReport | null;
}

/**
 * C4.5: allocate or offline one pageblock with a share of it under FUSE I/O (see the module
 * doc). The driver starts together with the I/O.
 *
 * @example A hung server: offline_pages never returns; the report names the FUSE request
 * ```ts
 * import { contigUnderIoTrial } from "@mmsim/mmsim";
 * const r = contigUnderIoTrial({ driver: "offline", kind: "writeback", share: 0.0625, latency: { kind: "never" }, deadlineNs: 50e6, seed: 1 });
 * if (r.returned || r.waitKind !== "hung" || !/FUSE_WRITE/.test(r.waits)) throw new Error(r.waits);
 * ```
 */
export function contigUnderIoTrial(o: ContigUnderIoOptions): ContigUnderIoResult {
  const w = fuseWorld(o.latency, o.seed);
  const nChunks = Math.round(o.share * 16);
  const chunks = new Rng(o.seed * 31 + 7).shuffle([...Array(16).keys()]).slice(0, nChunks);
  startIo(w, o.kind, chunks.sort((a, b) => a - b));
  w.env.run({ maxTimeNs: 0 });
  const t0 = w.env.nowNs;
  let result: ContigResult | null = null, t1 = -1;
  w.env.spawn(o.driver === "cma" ? "cma_alloc" : "offline_pages", function* () {
    result = o.driver === "cma"
      ? yield* allocContigRange(w.mm, w.start, w.start + 512, MIGRATE.MOVABLE)
      : yield* offlinePages(w.mm, w.start, w.start + 512, { timeoutNs: o.deadlineNs });
    t1 = w.env.nowNs - t0;
  });
  const res = w.env.run({ maxTimeNs: t0 + 20 * o.deadlineNs });
  const r = result as ContigResult | null;
  const returned = r !== null;
  return {
    success: returned && r!.ok && t1 <= o.deadlineNs,
    returned,
    result: r,
    timeNs: t1,
    runEnd: res.reason,
    waitKind: returned ? "" : res.waits?.kind ?? "",
    waits: returned ? "" : res.waits?.text ?? "",
    report: returned ? null : res.waits,
  };
}

/**
 * One row of {@link contigUnderIoSweep}.
 *
 * @example
 * ```ts
 * import { contigUnderIoSweep, type ContigSweepRow } from "@mmsim/mmsim";
 * const [row]: ContigSweepRow[] = contigUnderIoSweep({
 *   drivers: ["offline"],
 *   kinds: ["writeback"],
 *   latencies: [{ label: "5 ms", latency: { kind: "fixed", ns: 5e6 } }],
 *   shares: [0.125],
 *   seeds: [1, 2],
 *   deadlineNs: 50e6,
 * });
 * if (row?.n !== 2 || row.latency !== "5 ms" || row.pSuccess + row.pHung > 1) throw new Error();
 * if (row.pHung === 0 && !(row.meanMs >= 5)) throw new Error("waits for the WRITE replies");
 * ```
 */
export interface ContigSweepRow {
  /** Driver. */
  driver: "cma" | "offline";
  /** What holds the folios. */
  kind: IoKind;
  /** Label of the latency ("exp 5 ms", "∞"). */
  latency: string;
  /** Share of the range under I/O. */
  share: number;
  /** Trials. */
  n: number;
  /** Share of trials that succeeded within the deadline. */
  pSuccess: number;
  /** Share of trials in which the driver never returned (hung). */
  pHung: number;
  /** Mean time of the trials that returned (ms). */
  meanMs: number;
}

/**
 * Options of {@link contigUnderIoSweep}.
 *
 * @example
 * ```ts
 * import { contigUnderIoSweep, type ContigSweepOptions } from "@mmsim/mmsim";
 * const opts: ContigSweepOptions = {
 *   drivers: ["cma", "offline"],
 *   kinds: ["readahead"],
 *   latencies: [{ label: "1 ms", latency: { kind: "fixed", ns: 1e6 } }],
 *   shares: [0, 0.0625],
 *   seeds: [1],
 *   deadlineNs: 50e6,
 * };
 * const rows = contigUnderIoSweep(opts);
 * if (rows.length !== 2 * 1 * 1 * 2) throw new Error("drivers × kinds × latencies × shares");
 * if (rows.some((r) => r.share === 0 && r.pSuccess !== 1)) throw new Error("no I/O: free at once");
 * ```
 */
export interface ContigSweepOptions {
  /** Drivers (default both). */
  drivers?: readonly ("cma" | "offline")[];
  /** Kinds (default both). */
  kinds?: readonly IoKind[];
  /** Latencies with labels. */
  latencies: readonly { label: string; latency: Latency }[];
  /** Shares of the range under I/O. */
  shares: readonly number[];
  /** Seeds per point. */
  seeds: readonly number[];
  /** Deadline T (ns). */
  deadlineNs: number;
}

/**
 * Plot C of C4.5: P(success within T) of CMA allocation and offlining of one pageblock against
 * the share of it under FUSE writeback or readahead, for each server latency.
 *
 * @example
 * ```ts
 * import { contigUnderIoSweep } from "@mmsim/mmsim";
 * const rows = contigUnderIoSweep({
 *   drivers: ["cma"], kinds: ["readahead"], shares: [0, 0.25], seeds: [1], deadlineNs: 50e6,
 *   latencies: [{ label: "∞", latency: { kind: "never" } }],
 * });
 * if (rows[0]!.pSuccess !== 1 || rows[1]!.pSuccess !== 0 || rows[1]!.pHung !== 1) throw new Error();
 * ```
 */
export function contigUnderIoSweep(o: ContigSweepOptions): ContigSweepRow[] {
  const rows: ContigSweepRow[] = [];
  for (const driver of o.drivers ?? ["cma", "offline"] as const) {
    for (const kind of o.kinds ?? ["writeback", "readahead"] as const) {
      for (const l of o.latencies) {
        for (const share of o.shares) {
          let ok = 0, hung = 0, time = 0, returned = 0;
          for (const seed of o.seeds) {
            const t = contigUnderIoTrial({
              driver,
              kind,
              share,
              latency: l.latency,
              deadlineNs: o.deadlineNs,
              seed,
            });
            if (t.success) ok++;
            if (!t.returned) hung++;
            else {
              returned++;
              time += t.timeNs;
            }
          }
          const n = o.seeds.length;
          rows.push({
            driver,
            kind,
            latency: l.label,
            share,
            n,
            pSuccess: ok / n,
            pHung: hung / n,
            meanMs: returned ? time / returned / 1e6 : NaN,
          });
        }
      }
    }
  }
  return rows;
}
