/**
 * Thread 000, C0.3, C0.4 and Plot B: streaming reads of FUSE files at a fixed server latency,
 * sampled over time — locked, not-uptodate page-cache folios held by READs, pages of readahead
 * READs outstanding, pages under construction (late allocation), frames referenced by pipes
 * (splice) — and the splice-read pin of C0.4.
 *
 * {@link streamingRead}: `streams` readers, each reading its own FUSE file one page at a time
 * at `ratePagesPerSec` (a reader that has to wait for data falls behind and catches up without
 * pausing), through the kernel's readahead and `filemap_read` (placeholders) or through
 * `filemapReadConstruct` (late allocation). Every page read is checked against the server's
 * storage.
 *
 * {@link pipeHoldTrial}: one page written through (`fuse_perform_write`) to a server that reads
 * the WRITE with `fuse_dev_splice_read` (or with read(2) as the control) and keeps the pipe
 * buffers `holdNs` after replying; MIGRATE_ASYNC migration is tried every `attemptEveryNs`.
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
import { filemapGetEntry } from "../mm/address_space.ts";
import { folioExpectedRefCount } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../mm/migrate.ts";
import { Mm } from "../mm/mm.ts";
import { mappingConstructRanges } from "../mm/construct_range.ts";
import { type FuseInode, FuseMount } from "../fs/fuse.ts";
import { FuseReadSide } from "../fs/fuse_read.ts";
import { fusePerformWrite, fuseSpliceReadInstall, pipeStats } from "../fs/fuse_splice.ts";

/**
 * The designs of Plot B.
 *
 * @example
 * ```ts
 * import { type StreamDesign, streamingRead } from "@mmsim/mmsim";
 * const maxLocked = (design: StreamDesign) =>
 *   streamingRead({ design, durationNs: 20e6 }).maxLocked;
 * // Placeholders (also splice's) stay locked while their READ is out; late allocation has none.
 * if (maxLocked("late allocation") !== 0) throw new Error("late allocation");
 * if (maxLocked("locked placeholder") === 0) throw new Error("placeholders");
 * if (maxLocked("splice") === 0) throw new Error("splice-move replaces a locked placeholder");
 * ```
 */
export type StreamDesign = "locked placeholder" | "late allocation" | "splice";

/**
 * Configuration of {@link streamingRead}.
 *
 * @example
 * ```ts
 * import { StreamConfig } from "@mmsim/mmsim";
 * const c = StreamConfig.parse({});
 * if (c.ratePagesPerSec !== 1000 || c.latency.kind !== "fixed") throw new Error();
 * ```
 */
export interface StreamConfig {
  /** Read design. */
  design: StreamDesign;
  /** Server latency per READ (default fixed 5 ms). */
  latency: Latency;
  /** Readers, each on its own file (default 1). */
  streams: number;
  /** Pages per second each reader wants (default 1000, 4 MB/s at 4 KiB). */
  ratePagesPerSec: number;
  /** Length of the run (ns), default 200 ms. */
  durationNs: number;
  /** Sampling interval (ns), default 1 ms. */
  sampleNs: number;
  /** Seed. */
  seed: number;
  /** Answer READs by splice-move also with late allocation (the stolen page is inserted). */
  spliceReply: boolean;
}

/**
 * Input of {@link StreamConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { type StreamConfigInput, streamingRead } from "@mmsim/mmsim";
 * const input: StreamConfigInput = {
 *   design: "locked placeholder",
 *   latency: { kind: "fixed", ns: 2e6 },
 *   streams: 2,
 *   durationNs: 20e6,
 * };
 * const r = streamingRead(input);
 * if (r.config.ratePagesPerSec !== 1000 || r.config.streams !== 2) throw new Error("defaults");
 * if (r.pagesRead === 0 || r.staleReads !== 0 || r.readErrors !== 0) throw new Error();
 * ```
 */
export type StreamConfigInput = Partial<StreamConfig>;

const streamSchema = z.object({
  design: z.enum(["locked placeholder", "late allocation", "splice"]).default("locked placeholder"),
  latency: zodOf(Latency).default({ kind: "fixed", ns: 5e6 }),
  streams: z.number().int().min(1).max(64).default(1),
  ratePagesPerSec: z.number().positive().default(1000),
  durationNs: z.number().positive().default(200e6),
  sampleNs: z.number().positive().default(1e6),
  seed: z.number().int().default(1),
  spliceReply: z.boolean().default(false),
});

/** The {@link StreamConfig} schema. */
export const StreamConfig: ConfigSchema<StreamConfig, StreamConfigInput> = defineConfig(
  "StreamConfig",
  streamSchema as unknown as z.ZodType<StreamConfig, StreamConfigInput>,
);

/**
 * One sample of {@link streamingRead}.
 *
 * @example
 * ```ts
 * import { type StreamSample, streamingRead } from "@mmsim/mmsim";
 * const r = streamingRead({ design: "late allocation", durationNs: 20e6 });
 * const samples: StreamSample[] = r.samples;
 * if (samples[0]!.tNs !== 0 || samples[1]!.tNs !== 1e6) throw new Error("every sampleNs (1 ms)");
 * if (samples.some((s) => s.lockedReadFolios !== 0)) throw new Error("no locked folio");
 * if (!samples.some((s) => s.underConstruction > 0)) throw new Error("pages under construction");
 * ```
 */
export interface StreamSample {
  /** Time (ns). */
  tNs: number;
  /** Page-cache folios locked and not uptodate whose lock a READ holds. */
  lockedReadFolios: number;
  /** Pages of readahead READs not yet replied. */
  outstandingReadaheadPages: number;
  /** Pages under construction (late allocation). */
  underConstruction: number;
  /** Frames referenced by pipe buffers. */
  pipeFrames: number;
}

/**
 * What {@link streamingRead} measured.
 *
 * @example
 * ```ts
 * import { type StreamResult, streamingRead } from "@mmsim/mmsim";
 * const L = 5e6; // the default: a fixed 5 ms per READ
 * const r: StreamResult = streamingRead({ design: "locked placeholder", durationNs: 20e6 });
 * // Each locked placeholder belongs to an outstanding readahead READ, and stays locked ≥ L.
 * if (r.maxLockedMinusOutstanding !== 0 || r.minPlaceholderLockedNs < L) {
 *   throw new Error(JSON.stringify(r));
 * }
 * if (r.staleReads !== 0 || r.violations !== 0 || !(r.meanLocked > 0)) throw new Error();
 * ```
 */
export interface StreamResult {
  /** The configuration. */
  config: StreamConfig;
  /** Samples over time. */
  samples: StreamSample[];
  /** Mean of `lockedReadFolios`. */
  meanLocked: number;
  /** Highest `lockedReadFolios`. */
  maxLocked: number;
  /** Mean of `outstandingReadaheadPages`. */
  meanOutstanding: number;
  /** Highest |lockedReadFolios − outstandingReadaheadPages| over the samples. */
  maxLockedMinusOutstanding: number;
  /** Mean of `underConstruction`. */
  meanUnderConstruction: number;
  /** Mean of `pipeFrames`. */
  meanPipeFrames: number;
  /** Pages read by all readers. */
  pagesRead: number;
  /** Pages whose content differed from the server's storage. */
  staleReads: number;
  /** Reads that returned an error. */
  readErrors: number;
  /** Achieved read rate, pages per second over all streams. */
  pagesPerSec: number;
  /** Shortest time a readahead placeholder stayed locked (ns; Infinity with none). */
  minPlaceholderLockedNs: number;
  /** Server pages moved into the page cache (splice). */
  movedPages: number;
  /** Server pages inserted directly into under-construction ranges (splice, late allocation). */
  stolenInserted: number;
  /** Readahead folios ended (placeholders). */
  placeholdersEnded: number;
  /** Invariant violations of the run. */
  violations: number;
}

/**
 * Plot B's run (see the module doc).
 *
 * @example With late allocation no READ holds a locked folio
 * ```ts
 * import { streamingRead } from "@mmsim/mmsim";
 * const r = streamingRead({ design: "late allocation", durationNs: 50e6 });
 * if (r.maxLocked !== 0 || r.meanUnderConstruction <= 0 || r.staleReads !== 0) throw new Error();
 * ```
 */
export function streamingRead(config: StreamConfigInput = {}): StreamResult {
  const c = StreamConfig.parse(config);
  const env = new Engine({ seed: c.seed });
  const perStream = Math.ceil((c.durationNs / 1e9) * c.ratePagesPerSec) + 64;
  const mm = new Mm(env, {
    memory: { nrFrames: Math.max(4096, 4 * c.streams * perStream) },
    zone: { minFreeKbytes: 0 },
    version: "6.16",
  });
  const mount = new FuseMount(mm, {
    server: {
      threads: 4 * c.streams,
      latency: { kind: "fixed", ns: 0 },
      maxBackground: 1024,
      congestionThreshold: 768,
    },
  });
  const rs = new FuseReadSide(mount, {
    latency: c.latency,
    reply: c.design === "splice" || c.spliceReply ? "splice" : "copy",
    lateAllocation: c.design === "late allocation",
    splice: { pipeMaxUsage: 256 },
  });
  const files: FuseInode[] = [];
  let pagesRead = 0, stale = 0, errors = 0;
  const gap = 1e9 / c.ratePagesPerSec;
  for (let s = 0; s < c.streams; s++) {
    const contents = new Map<number, number>();
    for (let i = 0; i < perStream + 64; i++) contents.set(i, 1_000_000 * (s + 1) + i);
    const fi = rs.createInode(contents);
    files.push(fi);
    env.spawn(`reader ${s}`, function* (e) {
      const start = e.nowNs;
      for (let i = 0; e.nowNs < c.durationNs; i++) {
        const due = start + Math.round(i * gap);
        if (due > e.nowNs) yield e.sleep(due - e.nowNs);
        const r = yield* rs.read(fi, i, 1);
        if (!r.ok) {
          errors++;
          continue;
        }
        pagesRead++;
        if (r.value[0] !== contents.get(i)) stale++;
      }
    });
  }
  const samples: StreamSample[] = [];
  env.spawn("sampler", function* (e) {
    for (;;) {
      let uc = 0;
      for (const fi of files) uc += mappingConstructRanges(fi.mapping).pagesUnderConstruction;
      samples.push({
        tNs: e.nowNs,
        lockedReadFolios: rs.lockedReadFolios(),
        outstandingReadaheadPages: rs.outstandingReadaheadPages(),
        underConstruction: uc,
        pipeFrames: pipeStats(mm).live,
      });
      yield e.sleep(c.sampleNs);
    }
  }, { daemon: true });
  const res = env.run({ maxTimeNs: c.durationNs + 2 * Math.min(latencyP99(c.latency), 1e9) });
  const inRun = samples.filter((s) => s.tNs <= c.durationNs);
  const mean = (f: (s: StreamSample) => number) =>
    inRun.length ? inRun.reduce((a, s) => a + f(s), 0) / inRun.length : 0;
  return {
    config: c,
    samples: inRun,
    meanLocked: mean((s) => s.lockedReadFolios),
    maxLocked: Math.max(0, ...inRun.map((s) => s.lockedReadFolios)),
    meanOutstanding: mean((s) => s.outstandingReadaheadPages),
    maxLockedMinusOutstanding: Math.max(
      0,
      ...inRun.map((s) => Math.abs(s.lockedReadFolios - s.outstandingReadaheadPages)),
    ),
    meanUnderConstruction: mean((s) => s.underConstruction),
    meanPipeFrames: mean((s) => s.pipeFrames),
    pagesRead,
    staleReads: stale,
    readErrors: errors,
    pagesPerSec: pagesRead / (c.durationNs / 1e9),
    minPlaceholderLockedNs: rs.stats.minPlaceholderLockedNs,
    movedPages: rs.stats.movedPages,
    stolenInserted: rs.stats.stolenInserted,
    placeholdersEnded: rs.stats.placeholdersEnded,
    violations: res.violations.length,
  };
}

/**
 * One point of the C0.3 growth sweep.
 *
 * @example
 * ```ts
 * import { type GrowthPoint000, lockedGrowthSweep } from "@mmsim/mmsim";
 * const pts: GrowthPoint000[] = lockedGrowthSweep({
 *   latenciesNs: [2e6],
 *   streams: [1],
 *   durationNs: 20e6,
 * });
 * const ph = pts.find((p) => p.design === "locked placeholder")!;
 * if (ph.lTimesRate !== (ph.latencyNs / 1e9) * ph.pagesPerSec) throw new Error("L × rate");
 * if (ph.maxLockedMinusOutstanding !== 0 || !(ph.meanLocked > 0)) throw new Error();
 * ```
 */
export interface GrowthPoint000 {
  /** Read design. */
  design: StreamDesign;
  /** Server latency (ns, fixed). */
  latencyNs: number;
  /** Readers. */
  streams: number;
  /** Read rate over all readers (pages/s) achieved. */
  pagesPerSec: number;
  /** L × achieved rate (pages). */
  lTimesRate: number;
  /** Mean locked READ folios. */
  meanLocked: number;
  /** Mean pages under construction. */
  meanUnderConstruction: number;
  /** Highest locked READ folios. */
  maxLocked: number;
  /** Highest |locked − outstanding readahead pages|. */
  maxLockedMinusOutstanding: number;
}

/**
 * C0.3's sweep: mean locked READ folios against L × read rate, for placeholders and late
 * allocation.
 *
 * @example
 * ```ts
 * import { lockedGrowthSweep } from "@mmsim/mmsim";
 * const pts = lockedGrowthSweep({ latenciesNs: [2e6], streams: [1], durationNs: 50e6 });
 * if (pts.length !== 2 || pts.find((p) => p.design === "late allocation")!.maxLocked !== 0) throw new Error();
 * ```
 */
export function lockedGrowthSweep(o: {
  latenciesNs: readonly number[];
  streams: readonly number[];
  durationNs?: number;
  designs?: readonly StreamDesign[];
}): GrowthPoint000[] {
  const out: GrowthPoint000[] = [];
  for (const design of o.designs ?? ["locked placeholder", "late allocation"] as const) {
    for (const L of o.latenciesNs) {
      for (const streams of o.streams) {
        const r = streamingRead({
          design,
          latency: { kind: "fixed", ns: L },
          streams,
          durationNs: o.durationNs,
        });
        out.push({
          design,
          latencyNs: L,
          streams,
          pagesPerSec: r.pagesPerSec,
          lTimesRate: (L / 1e9) * r.pagesPerSec,
          meanLocked: r.meanLocked,
          meanUnderConstruction: r.meanUnderConstruction,
          maxLocked: r.maxLocked,
          maxLockedMinusOutstanding: r.maxLockedMinusOutstanding,
        });
      }
    }
  }
  return out;
}

/**
 * Least-squares fit y = slope·x through the origin, with R² (1 − SSres/SStot, SStot about the
 * mean of y).
 *
 * @example
 * ```ts
 * import { fitThroughOrigin } from "@mmsim/mmsim";
 * const f = fitThroughOrigin([1, 2, 3], [2, 4, 6]);
 * if (Math.abs(f.slope - 2) > 1e-9 || Math.abs(f.r2 - 1) > 1e-9) throw new Error();
 * ```
 */
export function fitThroughOrigin(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; r2: number } {
  let sxy = 0, sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += xs[i]! * ys[i]!;
    sxx += xs[i]! * xs[i]!;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const my = ys.reduce((a, b) => a + b, 0) / Math.max(1, ys.length);
  let res = 0, tot = 0;
  for (let i = 0; i < xs.length; i++) {
    res += (ys[i]! - slope * xs[i]!) ** 2;
    tot += (ys[i]! - my) ** 2;
  }
  return { slope, r2: tot > 0 ? 1 - res / tot : 1 };
}

/**
 * One migration attempt of {@link pipeHoldTrial}.
 *
 * @example
 * ```ts
 * import { type PipeHoldAttempt, pipeHoldTrial } from "@mmsim/mmsim";
 * const r = pipeHoldTrial({ splice: true, latencyNs: 2e6, holdNs: 10e6 });
 * const afterReply: PipeHoldAttempt[] = r.attempts.filter((a) => a.replied);
 * const failed = afterReply.filter((a) => a.rc === "EAGAIN");
 * // Replied, unlocked, clean and not under writeback: only the pipe's reference is left.
 * if (failed.length === 0 || failed.some((a) => a.locked || a.dirty || a.writeback)) {
 *   throw new Error(JSON.stringify(failed));
 * }
 * if (failed.some((a) => a.extraRefs !== 1)) throw new Error(JSON.stringify(failed));
 * ```
 */
export interface PipeHoldAttempt {
  /** Time of the attempt (ns). */
  tNs: number;
  /** The folio's rc. */
  rc: string;
  /** PG_locked, PG_dirty, PG_writeback at the time. */
  locked: boolean;
  /** PG_dirty. */
  dirty: boolean;
  /** PG_writeback. */
  writeback: boolean;
  /** References beyond folio_expected_ref_count (before isolation). */
  extraRefs: number;
  /** The WRITE had been replied. */
  replied: boolean;
}

/**
 * What {@link pipeHoldTrial} measured.
 *
 * @example
 * ```ts
 * import { type PipeHoldResult, pipeHoldTrial } from "@mmsim/mmsim";
 * const splice: PipeHoldResult = pipeHoldTrial({ splice: true, latencyNs: 2e6, holdNs: 10e6 });
 * const copy: PipeHoldResult = pipeHoldTrial({ splice: false, latencyNs: 2e6, holdNs: 10e6 });
 * if (splice.maxPipeBufs !== 1 || copy.maxPipeBufs !== 0) throw new Error("splice read pins");
 * if (splice.eagainAfterReplyNs < splice.holdNs) throw new Error("pinned for the hold time");
 * if (copy.eagainAfterReplyNs >= 2e6) throw new Error("read(2): migratable after the reply");
 * ```
 */
export interface PipeHoldResult {
  /** The server read the WRITE with splice. */
  splice: boolean;
  /** Server latency and pipe hold time (ns). */
  latencyNs: number;
  /** Pipe hold after the reply (ns). */
  holdNs: number;
  /** Every attempt. */
  attempts: PipeHoldAttempt[];
  /** Time from the reply to the first successful migration (ns), or -1. */
  eagainAfterReplyNs: number;
  /** Every failure after the reply was -EAGAIN on a folio unlocked, clean, not under writeback. */
  failuresAfterReplyUnlockedClean: boolean;
  /** Highest number of live pipe buffers. */
  maxPipeBufs: number;
}

/**
 * C0.4's pipe pin (see the module doc): when does the written folio become migratable?
 *
 * @example
 * ```ts
 * import { pipeHoldTrial } from "@mmsim/mmsim";
 * const r = pipeHoldTrial({ splice: true, latencyNs: 2e6, holdNs: 10e6 });
 * if (r.eagainAfterReplyNs < 10e6 || !r.failuresAfterReplyUnlockedClean) throw new Error();
 * const c = pipeHoldTrial({ splice: false, latencyNs: 2e6, holdNs: 10e6 });
 * if (c.eagainAfterReplyNs > 1e6) throw new Error("read(2): free after the reply");
 * ```
 */
export function pipeHoldTrial(o: {
  splice: boolean;
  latencyNs: number;
  holdNs: number;
  attemptEveryNs?: number;
  seed?: number;
}): PipeHoldResult {
  const env = new Engine({ seed: o.seed ?? 1 });
  const mm = new Mm(env, {
    memory: { nrFrames: 1024 },
    zone: { minFreeKbytes: 0 },
    version: "6.16",
  });
  const mount = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 0 } } });
  if (o.splice) {
    fuseSpliceReadInstall(mount, { latencyNs: o.latencyNs, splice: { holdNs: o.holdNs } });
  } else {
    mount.conn.handlers.set("WRITE", function* (req) {
      if (o.latencyNs > 0) yield env.sleep(o.latencyNs);
      const s = mount.conn.storageOf(req.ino);
      req.tags.forEach((t, k) => s.set(req.index + k, t));
    });
  }
  const fi = mount.createInode();
  let repliedAt = -1;
  env.spawn("writer", function* (e) {
    yield* fusePerformWrite(mm, fi, 0, 77);
    repliedAt = e.nowNs;
  });
  const every = o.attemptEveryNs ?? 1e6;
  const attempts: PipeHoldAttempt[] = [];
  const horizon = o.latencyNs + o.holdNs + 5 * every;
  env.spawn("migrate", function* (e) {
    yield e.sleep(every / 2);
    while (e.nowNs <= horizon) {
      const f = filemapGetEntry(fi.mapping, 0);
      if (f >= 0) {
        const mem = mm.mem;
        const a: PipeHoldAttempt = {
          tNs: e.nowNs,
          rc: "not isolated",
          locked: mem.testFlag(f, PG.locked),
          dirty: mem.testFlag(f, PG.dirty),
          writeback: mem.testFlag(f, PG.writeback),
          extraRefs: mem.refcount[f]! - folioExpectedRefCount(mm, f),
          replied: repliedAt >= 0,
        };
        if (isolateFolioForMigration(mm, f)) {
          const r = yield* migratePages(
            mm,
            [f],
            allocMigrationTarget,
            "MIGRATE_ASYNC",
            "MR_COMPACTION",
          );
          a.rc = r.outcomes[0]?.rc ?? "none";
          putbackMovablePages(mm, r.failed);
        }
        attempts.push(a);
        if (a.rc === "MIGRATEPAGE_SUCCESS") break;
      }
      yield e.sleep(every);
    }
  });
  env.run({ maxTimeNs: horizon + every });
  const ok = attempts.find((a) => a.rc === "MIGRATEPAGE_SUCCESS");
  const after = attempts.filter((a) => a.replied && a.rc !== "MIGRATEPAGE_SUCCESS");
  return {
    splice: o.splice,
    latencyNs: o.latencyNs,
    holdNs: o.holdNs,
    attempts,
    eagainAfterReplyNs: ok && repliedAt >= 0 ? Math.max(0, ok.tNs - repliedAt) : -1,
    failuresAfterReplyUnlockedClean: after.every((a) =>
      a.rc === "EAGAIN" && !a.locked && !a.dirty && !a.writeback
    ),
    maxPipeBufs: pipeStats(mm).maxLive,
  };
}
