/**
 * Thread 000's evidence functions: what each claim C0.1–C0.5 rests on (sweep points, mode
 * table, explorations, counts), with the verdict and whether it agrees. The claims' `run()`
 * (thread000.ts) and the notebook call them; results are memoised per size and seed.
 *
 * Not a kernel model; scenarios are in thread000_world.ts, thread000_explore.ts,
 * thread000_stream.ts and thread000_copy.ts.
 *
 * @module
 */

import { exhaustive } from "../sim/exhaustive.ts";
import { explore, type ExploreResult, randomSearch, type Verdict } from "../sim/explore.ts";
import type { MigrateMode } from "../mm/address_space.ts";
import {
  type MigrateModeRow,
  migrateModeRow,
  pageblockTrial,
  PLOT_A_MODES,
  type PlotAPoint,
  plotASweep,
  READ_DESIGNS,
} from "./thread000_world.ts";
import {
  ABANDON_VARIANTS,
  abandonRaceWorld,
  abandonVariantLabel,
  spliceAbortWorld,
} from "./thread000_explore.ts";
import {
  fitThroughOrigin,
  type GrowthPoint000,
  lockedGrowthSweep,
  type PipeHoldResult,
  pipeHoldTrial,
  streamingRead,
  type StreamResult,
} from "./thread000_stream.ts";
import {
  calibrateCopyCost,
  COPY_VARIANTS,
  type CopyCostModel,
  type CopyVariantResult,
  copyVariantTrial,
} from "./thread000_copy.ts";
import {
  cached,
  MS,
  seedsOf,
  SIZES,
  type Thread000Evidence,
  type Thread000Options,
  verdictOf,
} from "./_thread000_common.ts";

// ------------------------------------------------------------------ C0.1

/**
 * C0.1's data: the mode table, Plot A, and the hung-server deadlines.
 *
 * @example
 * ```ts
 * import { type C01Data, migrateModeRow, pageblockTrial, plotASweep } from "@mmsim/mmsim";
 * // One entry of each part, for a hung server and MIGRATE_SYNC (c01Evidence builds them all).
 * const never = { kind: "never" } as const;
 * const trial = pageblockTrial({ mode: "MIGRATE_SYNC", latency: never, blocks: 2 });
 * const data: C01Data = {
 *   modeTable: [migrateModeRow("locked placeholder", "MIGRATE_SYNC", never)],
 *   plotA: plotASweep({
 *     p99sNs: [Infinity],
 *     seeds: [1],
 *     designs: ["locked placeholder"],
 *     modes: ["MIGRATE_SYNC"],
 *     blocks: 2,
 *   }),
 *   hung: [{ mode: "MIGRATE_SYNC", deadlineNs: 100e6, freed: trial.freed, blocks: trial.blocks }],
 * };
 * if (data.modeTable[0]!.returned || data.hung[0]!.freed !== 0 || data.plotA[0]!.fraction !== 0) {
 *   throw new Error("a hung READ pins its placeholder and its pageblock");
 * }
 * ```
 */
export interface C01Data {
  /** One folio, every design × mode, at L = 5 ms and L = ∞. */
  modeTable: MigrateModeRow[];
  /** Plot A's points. */
  plotA: PlotAPoint[];
  /** Placeholder pageblocks freed with a hung server, per mode and deadline. */
  hung: Array<{ mode: MigrateMode; deadlineNs: number; freed: number; blocks: number }>;
}

/**
 * Plot A's points for a size and seed (memoised).
 *
 * @example
 * ```ts
 * import { thread000PlotA } from "@mmsim/mmsim";
 * if (thread000PlotA({ seed: 1, size: "quick" }).length !== 4 * 3 * 4) throw new Error();
 * ```
 */
export function thread000PlotA(o: Thread000Options): PlotAPoint[] {
  const s = SIZES[o.size ?? "full"];
  return cached(
    `plotA:${o.size}:${o.seed}`,
    () => plotASweep({ p99sNs: [...s.p99s, Infinity], seeds: seedsOf(o) }),
  );
}

/**
 * C0.1's evidence (see the claim).
 *
 * @example
 * ```ts
 * import { c01Evidence } from "@mmsim/mmsim";
 * const ev = c01Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c01Evidence(o: Thread000Options): Thread000Evidence<C01Data> {
  const s = SIZES[o.size ?? "full"];
  const data = cached(`c01:${o.size}:${o.seed}`, (): C01Data => {
    const modeTable: MigrateModeRow[] = [];
    for (const d of READ_DESIGNS) {
      for (const m of PLOT_A_MODES) {
        modeTable.push(migrateModeRow(d, m, { kind: "fixed", ns: 5 * MS }, o.seed));
        modeTable.push(migrateModeRow(d, m, { kind: "never" }, o.seed));
      }
    }
    const hung: C01Data["hung"] = [];
    for (const mode of PLOT_A_MODES) {
      for (const deadlineNs of s.deadlines) {
        const r = pageblockTrial({
          design: "locked placeholder",
          mode,
          latency: { kind: "never" },
          deadlineNs,
          seed: o.seed,
        });
        hung.push({ mode, deadlineNs, freed: r.freed, blocks: r.blocks });
      }
    }
    return { modeTable, plotA: thread000PlotA(o), hung };
  });
  const row = (m: MigrateMode, finite: boolean) =>
    data.modeTable.find((r) =>
      r.design === "locked placeholder" && r.mode === m && (r.latency === "∞") !== finite
    )!;
  const a = row("MIGRATE_ASYNC", true), l = row("MIGRATE_SYNC_LIGHT", true);
  const sy = row("MIGRATE_SYNC", true), syHung = row("MIGRATE_SYNC", false);
  const atOnce = (r: MigrateModeRow) =>
    r.returned && r.rc !== "MIGRATEPAGE_SUCCESS" && r.timeNs < MS;
  const hungFreed = data.hung.reduce((x, h) => x + h.freed, 0);
  const plotAHung = data.plotA.filter((p) =>
    (p.design === "locked placeholder" || p.design === "splice") && !Number.isFinite(p.p99Ns)
  );
  const plotAHungMax = Math.max(...plotAHung.map((p) => p.fraction));
  const syncWaits = sy.returned && sy.rc === "MIGRATEPAGE_SUCCESS" && sy.timeNs >= 5 * MS - 1000;
  const agrees = atOnce(a) && atOnce(l) && syncWaits && !syHung.returned &&
    /FUSE_READ/.test(syHung.waits) && hungFreed === 0 && plotAHungMax === 0;
  const ms = (ns: number) => `${(ns / MS).toFixed(2)} ms`;
  const verdict =
    `ASYNC: ${a.rc} after ${ms(a.timeNs)}; SYNC_LIGHT: ${l.rc} after ${ms(l.timeNs)}; ` +
    `SYNC: ${sy.rc} after ${ms(sy.timeNs)} (L = 5 ms), never returns at L = ∞; L = ∞: ` +
    `${hungFreed} of ${data.hung.reduce((x, h) => x + h.blocks, 0)} pageblocks freed within ` +
    `${s.deadlines.map((d) => `${d / 1e9} s`).join(", ")}`;
  return {
    verdict,
    agrees,
    figures: {
      asyncRc: a.rc,
      asyncMs: a.timeNs / MS,
      syncLightRc: l.rc,
      syncLightMs: l.timeNs / MS,
      syncRc: sy.rc,
      syncMs: sy.timeNs / MS,
      syncHungReturned: syHung.returned,
      hungBlocksFreed: hungFreed,
      plotAHungMaxFraction: plotAHungMax,
    },
    detail:
      `The MIGRATE_SYNC migration at L = ∞ ends in a hung wait: ${
        syHung.waits.split("\n").slice(0, 3).join(" / ")
      }. With the abandon hook or late allocation every pageblock is freed at every latency ` +
      `(Plot A).`,
    data,
  };
}

// ------------------------------------------------------------------ C0.2

/**
 * C0.2's data: one exploration per variant.
 *
 * @example
 * ```ts
 * import {
 *   ABANDON_VARIANTS,
 *   abandonRaceWorld,
 *   abandonVariantLabel,
 *   type C02Data,
 *   explore,
 *   randomSearch,
 * } from "@mmsim/mmsim";
 * // c02Evidence explores every variant; here the proposal's first variant, 20 random runs.
 * const v = ABANDON_VARIANTS[0]!;
 * const data: C02Data = {
 *   explorations: {
 *     [abandonVariantLabel(v)]: explore(abandonRaceWorld(v), {
 *       search: randomSearch({ executions: 20, seed: 1 }),
 *       stopOnViolation: false,
 *     }),
 *   },
 * };
 * const r = data.explorations["unlock, late reply dropped, ASYNC"]!;
 * if (r.executions !== 20 || r.verdicts["stale read"] !== "Never") throw new Error(r.search);
 * ```
 */
export interface C02Data {
  /** Exploration per variant label. */
  explorations: Record<string, ExploreResult>;
}

function exploreVariant(o: Thread000Options, label: string, setup: Parameters<typeof explore>[0]) {
  const s = SIZES[o.size ?? "full"];
  return cached(`ex:${o.size}:${o.seed}:${label}`, () =>
    explore(setup, {
      search: s.explore === "exhaustive"
        ? exhaustive({ maxPreemptions: 0 })
        : randomSearch({ executions: s.executions, seed: o.seed }),
      seed: o.seed,
      stopOnViolation: false,
    }));
}

/**
 * C0.2's evidence: explorations of the abandonment race with the late reply dropped (the
 * proposal) and copied (the negative control).
 *
 * @example
 * ```ts
 * import { c02Evidence } from "@mmsim/mmsim";
 * const ev = c02Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c02Evidence(o: Thread000Options): Thread000Evidence<C02Data> {
  const explorations: Record<string, ExploreResult> = {};
  for (const v of ABANDON_VARIANTS) {
    const label = abandonVariantLabel(v);
    explorations[label] = exploreVariant(o, label, abandonRaceWorld(v));
  }
  const hook = ABANDON_VARIANTS.filter((v) => v.lateReply === "drop" && !v.failRetry).map((v) =>
    explorations[abandonVariantLabel(v)]!
  );
  const failing = ABANDON_VARIANTS.filter((v) => v.failRetry).map((v) =>
    explorations[abandonVariantLabel(v)]!
  );
  const neg = ABANDON_VARIANTS.filter((v) => v.lateReply === "copy").map((v) =>
    explorations[abandonVariantLabel(v)]!
  );
  const any = (rs: ExploreResult[], l: string): Verdict =>
    rs.some((r) => verdictOf(r, l) !== "Never") ? "Sometimes" : "Never";
  const hookStale = any(hook, "stale read"), hookViol = any(hook, "violation");
  const hookErr = any(hook, "read error"), hookAbandoned = any(hook, "abandoned");
  const negStale = any(neg, "stale read"), negUaf = any(neg, "violation:use-after-free");
  const negFlagged = negStale === "Sometimes" || negUaf === "Sometimes" ? "Sometimes" : "Never";
  const executions = Object.values(explorations).reduce((a, r) => a + r.executions, 0);
  const failStale = any(failing, "stale read"), failErr = any(failing, "read error");
  const failViol = any(failing, "violation");
  const agrees = hookStale === "Never" && hookViol === "Never" && hookAbandoned === "Sometimes" &&
    failStale === "Never" && failViol === "Never" && failErr === "Sometimes" &&
    negFlagged === "Sometimes";
  const count = (rs: ExploreResult[], l: string) => rs.reduce((a, r) => a + (r.counts[l] ?? 0), 0);
  return {
    verdict: `with the hook: stale reads ${hookStale}, violations ${hookViol}, read errors ` +
      `${hookErr}; retried read failing: stale reads ${failStale}, read errors ${failErr}; ` +
      `negative control: stale reads ${negStale}, use-after-free ${negUaf}`,
    agrees,
    figures: {
      executions,
      search: Object.values(explorations)[0]!.search,
      hookAbandonedRuns: count(hook, "abandoned"),
      hookStaleRuns: count(hook, "stale read"),
      hookViolationRuns: count(hook, "violation"),
      retryFailsErrorRuns: count(failing, "read error"),
      retryFailsStaleRuns: count(failing, "stale read"),
      negativeStaleRuns: count(neg, "stale read"),
      negativeUafRuns: count(neg, "violation:use-after-free"),
    },
    detail: `Every execution in which the hook abandoned the readahead folio ended with the ` +
      `reader retrying through ->read_folio (unlock) or a new readahead (remove) and getting ` +
      `the server's data. Copying the late reply instead: ${
        neg[0]!.counterexample?.why ?? "no failure found"
      } (replay: ${neg[0]!.counterexample?.replay ?? "-"}).`,
    data: { explorations },
  };
}

// ------------------------------------------------------------------ C0.3

/**
 * C0.3's data: the growth sweep and its fit.
 *
 * @example
 * ```ts
 * import { type C03Data, c03Evidence } from "@mmsim/mmsim";
 * const data: C03Data = c03Evidence({ seed: 1, size: "quick" }).data;
 * const late = data.points.filter((p) => p.design === "late allocation");
 * if (late.length === 0 || late.some((p) => p.maxLocked !== 0)) throw new Error("tracker: none");
 * if (!(data.fit.slope > 0) || !(data.fit.r2 <= 1)) throw new Error(JSON.stringify(data.fit));
 * ```
 */
export interface C03Data {
  /** Sweep points. */
  points: GrowthPoint000[];
  /** Fit of mean locked folios against L × rate (placeholders). */
  fit: { slope: number; r2: number };
}

/**
 * C0.3's evidence.
 *
 * @example
 * ```ts
 * import { c03Evidence } from "@mmsim/mmsim";
 * const ev = c03Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c03Evidence(o: Thread000Options): Thread000Evidence<C03Data> {
  const s = SIZES[o.size ?? "full"];
  const points = cached(`c03:${o.size}`, () =>
    lockedGrowthSweep({
      latenciesNs: s.latencies,
      streams: s.streams,
      durationNs: s.streamNs,
    }));
  const ph = points.filter((p) => p.design === "locked placeholder");
  const tr = points.filter((p) => p.design === "late allocation");
  const fit = fitThroughOrigin(ph.map((p) => p.lTimesRate), ph.map((p) => p.meanLocked));
  const trackerMax = Math.max(...tr.map((p) => p.maxLocked));
  const phDiff = Math.max(...ph.map((p) => p.maxLockedMinusOutstanding));
  const trackerUc = Math.min(...tr.map((p) => p.meanUnderConstruction));
  const agrees = trackerMax === 0 && trackerUc > 0 && phDiff === 0 && fit.r2 >= 0.95 &&
    fit.slope >= 0.8 && fit.slope <= 1.5;
  return {
    verdict: `tracker: at most ${trackerMax} locked folios; placeholders: locked − outstanding ` +
      `readahead pages at most ${phDiff}; mean locked = ${fit.slope.toFixed(2)} × L × rate ` +
      `(R² ${fit.r2.toFixed(3)})`,
    agrees,
    figures: {
      trackerMaxLocked: trackerMax,
      trackerMinMeanUnderConstruction: trackerUc,
      placeholderMaxLockedMinusOutstanding: phDiff,
      slope: fit.slope,
      r2: fit.r2,
      points: points.length,
    },
    detail: `Little's law: each readahead page stays locked for L, so the mean number locked is ` +
      `the rate of pages read ahead times L (a slope above 1 is readahead running ahead of the ` +
      `reader); the tracker holds the same pages as under-construction ranges ` +
      `(mean ${trackerUc.toFixed(2)}+ pages) with no folio at all.`,
    data: { points, fit },
  };
}

// ------------------------------------------------------------------ C0.4

/**
 * C0.4's data.
 *
 * @example
 * ```ts
 * import {
 *   type C04Data,
 *   explore,
 *   pipeHoldTrial,
 *   randomSearch,
 *   spliceAbortWorld,
 *   streamingRead,
 * } from "@mmsim/mmsim";
 * // The parts of c04Evidence's data, each in a small configuration.
 * const L = { kind: "fixed", ns: 5e6 } as const, short = 20e6;
 * const pipe = (splice: boolean) => pipeHoldTrial({ splice, latencyNs: 2e6, holdNs: 10e6 });
 * const abort = (fix: boolean) =>
 *   explore(spliceAbortWorld(fix), {
 *     search: randomSearch({ executions: 10, seed: 1 }),
 *     stopOnViolation: false,
 *   });
 * const data: C04Data = {
 *   splice: streamingRead({ design: "splice", latency: L, durationNs: short }),
 *   spliceLate: streamingRead({
 *     design: "late allocation",
 *     spliceReply: true,
 *     latency: L,
 *     durationNs: short,
 *   }),
 *   pipe: { splice: pipe(true), copy: pipe(false) },
 *   abort: { unfixed: abort(false), fixed: abort(true) },
 * };
 * // Every moved page replaced a placeholder locked for at least L.
 * if (data.splice.movedPages === 0 || data.splice.minPlaceholderLockedNs < 5e6) throw new Error();
 * if (data.pipe.splice.eagainAfterReplyNs < 10e6) throw new Error("pinned while in the pipe");
 * if (data.abort.fixed.verdicts.violation !== "Never") throw new Error("the fix closes the race");
 * ```
 */
export interface C04Data {
  /** Streaming read with splice-move replies. */
  splice: StreamResult;
  /** Streaming read with splice replies into construct ranges (the stolen page inserted). */
  spliceLate: StreamResult;
  /** The written page and the server's pipe: splice read vs read(2). */
  pipe: { splice: PipeHoldResult; copy: PipeHoldResult };
  /** The fuse_abort_conn race, without and with lock_request() before the replace. */
  abort: { unfixed: ExploreResult; fixed: ExploreResult };
}

/**
 * C0.4's evidence: splice-move needs a placeholder locked for ≥ L; pipe-held pages stay
 * -EAGAIN for the hold time; and the lock_request fix of the move path.
 *
 * @example
 * ```ts
 * import { c04Evidence } from "@mmsim/mmsim";
 * const ev = c04Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c04Evidence(o: Thread000Options): Thread000Evidence<C04Data> {
  const L = 5 * MS, H = 20 * MS;
  const data = cached(`c04:${o.size}:${o.seed}`, (): C04Data => ({
    splice: streamingRead({ design: "splice", latency: { kind: "fixed", ns: L }, seed: o.seed }),
    spliceLate: streamingReadSpliceLate(L, o.seed),
    pipe: {
      splice: pipeHoldTrial({ splice: true, latencyNs: 2 * MS, holdNs: H, seed: o.seed }),
      copy: pipeHoldTrial({ splice: false, latencyNs: 2 * MS, holdNs: H, seed: o.seed }),
    },
    abort: {
      unfixed: explore(spliceAbortWorld(false), {
        search: exhaustive({ maxPreemptions: 2 }),
        stopOnViolation: false,
      }),
      fixed: explore(spliceAbortWorld(true), {
        search: exhaustive({ maxPreemptions: 2 }),
        stopOnViolation: false,
      }),
    },
  }));
  const sp = data.splice;
  const moveOk = sp.movedPages > 0 && sp.minPlaceholderLockedNs >= L && sp.staleReads === 0;
  const ps = data.pipe.splice, pc = data.pipe.copy;
  const pinOk = ps.eagainAfterReplyNs >= H && ps.failuresAfterReplyUnlockedClean &&
    pc.eagainAfterReplyNs >= 0 && pc.eagainAfterReplyNs < 2 * MS;
  const unfixed = verdictOf(data.abort.unfixed, "violation");
  const fixed = verdictOf(data.abort.fixed, "violation");
  const agrees = moveOk && pinOk && unfixed === "Sometimes" && fixed === "Never";
  return {
    verdict: `splice-move: ${sp.movedPages} pages moved, each replacing a placeholder locked ≥ ` +
      `${(sp.minPlaceholderLockedNs / MS).toFixed(1)} ms (L = ${L / MS} ms); pipe-held page: ` +
      `-EAGAIN for ${(ps.eagainAfterReplyNs / MS).toFixed(1)} ms after the reply (hold ${
        H / MS
      } ms; read(2) control ${(pc.eagainAfterReplyNs / MS).toFixed(1)} ms); abort race: ` +
      `${unfixed} without lock_request, ${fixed} with`,
    agrees,
    figures: {
      movedPages: sp.movedPages,
      minPlaceholderLockedMs: sp.minPlaceholderLockedNs / MS,
      meanPipeFramesSplice: sp.meanPipeFrames,
      spliceLateMaxLocked: data.spliceLate.maxLocked,
      eagainAfterReplyMs: ps.eagainAfterReplyNs / MS,
      controlEagainAfterReplyMs: pc.eagainAfterReplyNs / MS,
      unlockedCleanWhileEagain: ps.failuresAfterReplyUnlockedClean,
      abortRaceUnfixed: unfixed,
      abortRaceFixed: fixed,
    },
    detail: `fuse_try_move_folio replaces a page-cache folio: the placeholder must exist and ` +
      `stays locked from readahead until the reply. A variant that inserts the stolen page into ` +
      `an under-construction range instead (not in any kernel) holds ${data.spliceLate.maxLocked} ` +
      `locked folios: the placeholder comes from replace_page_cache_folio's interface, not from ` +
      `splice. Without lock_request() before the replace: ${
        data.abort.unfixed.counterexample?.why ?? "-"
      }.`,
    data,
  };
}

function streamingReadSpliceLate(L: number, seed: number): StreamResult {
  return streamingRead({
    design: "late allocation",
    spliceReply: true,
    latency: { kind: "fixed", ns: L },
    seed,
  });
}

// ------------------------------------------------------------------ C0.5

/**
 * C0.5's data.
 *
 * @example
 * ```ts
 * import { type C05Data, c05Evidence, COPY_VARIANTS } from "@mmsim/mmsim";
 * const data: C05Data = c05Evidence({ seed: 1, size: "quick" }).data;
 * if (data.variants.map((v) => v.variant).join() !== COPY_VARIANTS.join()) throw new Error();
 * if (data.model.rows.length !== 6) throw new Error("3 write sizes × before/after");
 * ```
 */
export interface C05Data {
  /** Counts per variant. */
  variants: CopyVariantResult[];
  /** The calibrated cost model. */
  model: CopyCostModel;
}

/**
 * C0.5's evidence.
 *
 * @example
 * ```ts
 * import { c05Evidence } from "@mmsim/mmsim";
 * const ev = c05Evidence({ seed: 1, size: "quick" });
 * if (!ev.agrees) throw new Error(ev.detail);
 * ```
 */
export function c05Evidence(o: Thread000Options): Thread000Evidence<C05Data> {
  const data = cached(`c05`, (): C05Data => ({
    variants: COPY_VARIANTS.map((v) => copyVariantTrial(v, 8)),
    model: calibrateCopyCost(),
  }));
  void o;
  const [temp, dev, upstream] = data.variants as [
    CopyVariantResult,
    CopyVariantResult,
    CopyVariantResult,
  ];
  const free = (r: CopyVariantResult) =>
    r.lockedAfterCopy === 0 && r.extraRefAfterCopy === 0 && r.migratedAfterCopy === r.pages;
  const agrees = temp.memcpyFromFolioPerPage === 1 && dev.memcpyFromFolioPerPage === 1 &&
    free(temp) && free(dev) && temp.allocsPerPage === 1 && dev.allocsPerPage === 0;
  const maxErr = Math.max(
    ...data.model.rows.map((r) => Math.abs(r.modelMiBs - r.tableMiBs) / r.tableMiBs),
  );
  return {
    verdict: `copies out of the folio per page: temp ${temp.memcpyFromFolioPerPage}, /dev/fuse ` +
      `${dev.memcpyFromFolioPerPage}; migratable after the copy: temp ${temp.migratedAfterCopy}/` +
      `${temp.pages}, /dev/fuse ${dev.migratedAfterCopy}/${dev.pages}; allocations per page: ` +
      `temp ${temp.allocsPerPage}, /dev/fuse ${dev.allocsPerPage}`,
    agrees,
    figures: {
      tempMemcpyTotalPerPage: temp.memcpyTotalPerPage,
      devMemcpyTotalPerPage: dev.memcpyTotalPerPage,
      upstreamMigratedAfterCopy: upstream.migratedAfterCopy,
      upstreamWritebackAfterCopy: upstream.writebackAfterCopy,
      tempPageNs: data.model.tempPageNs,
      calibrationMaxRelError: maxErr,
    },
    detail: `The temp-page path copies twice in all (folio → temp page, temp page → server) and ` +
      `allocates once per page; the /dev/fuse path copies once. Upstream v6.16 removed temp pages ` +
      `but keeps PG_writeback until the reply, so its folios are not migratable while the server ` +
      `holds the WRITE (${upstream.migratedAfterCopy}/${upstream.pages} moved). Cost model ` +
      `calibrated to Joanne Koong's table: ${data.model.tempPageNs.toFixed(0)} ns of temp-page ` +
      `work per page, fit within ${(maxErr * 100).toFixed(1)} %.`,
    data,
  };
}
