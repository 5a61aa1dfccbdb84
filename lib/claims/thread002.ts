/**
 * The claims of seed thread 002 (CLAIMS.md): page-cache pages used by a device, December 2016
 * (linux-fsdevel, Jan Kara replying to Jérôme Glisse on the HMM series). Jan proposes that page
 * A stay in the page cache while the device works on a copy A', with faults on first touch, a
 * write notification from the device, and copies back caught in the address-space operations;
 * Jérôme answers that devices fault like CPUs but cannot notify on every write, and wants both
 * migration and bounce buffers because neither wins everywhere.
 *
 * C2.1 and C2.2 are design checks of Jan's protocol (neither it nor file-backed device
 * migration was merged); C2.3 compares the three designs' counted copies and faults; C2.4 is
 * direct I/O through the invalidation pass; C2.5 is the checker for the illegal state
 * (dirty && !uptodate) that the protocol relies on.
 *
 * Not a kernel model itself; the scenarios are in thread002_world.ts, thread002_dio.ts and
 * thread002_cost.ts.
 *
 * @module
 */

import type { Claim, ClaimOutcome, ClaimRunOptions } from "./registry.ts";
import { exploreHmm, type HmmExploration } from "./thread002_world.ts";
import { dioSequence, exploreDioInvalidation } from "./thread002_dio.ts";
import { HMM_STRATEGIES, hmmCheapest, hmmCostSweep, hmmWins } from "./thread002_cost.ts";

const ERA = "2016 proposal (design check on the v6.12 mm model)";
const JAN = "Jan Kara";
const JEROME = "Jérôme Glisse";

/** Executions per search (random and PCT each) in quick and full runs. */
function executions(opts: ClaimRunOptions, quick: number, full: number): number {
  return opts.quick ? quick : full;
}

function verdictOf(x: HmmExploration, labels: readonly string[]): "Always" | "Sometimes" | "Never" {
  const vs = labels.map((l) => x.verdicts[l] ?? "Never");
  if (vs.includes("Always")) return "Always";
  return vs.includes("Sometimes") ? "Sometimes" : "Never";
}

/**
 * Default cost model of C2.3 (its figure sweeps the bandwidth).
 *
 * @example
 * ```ts
 * import { HMM_DEFAULT_COST_MODEL, hmmRunCost } from "@mmsim/mmsim";
 * // One 4 KiB copy at 16 GB/s (256 ns) and one fault (5 µs) in one operation.
 * const ns = hmmRunCost({ bytesCopied: 4096, faults: 1, ops: 1 }, HMM_DEFAULT_COST_MODEL);
 * if (ns !== 4096 / 16 + 5_000) throw new Error(`${ns}`);
 * ```
 */
export const HMM_DEFAULT_COST_MODEL: { faultCostNs: number; copyBandwidthGBps: number } = {
  faultCostNs: 5_000,
  copyBandwidthGBps: 16,
};

function c21(opts: ClaimRunOptions): ClaimOutcome {
  const x = exploreHmm(
    { variant: "full", illegalStateChecker: true, deviceWriters: opts.quick ? 2 : 4 },
    { seed: opts.seed, executions: executions(opts, 60, 400) },
  );
  const t = x.tally;
  const verdict = verdictOf(x, [
    "two writers",
    "stale read",
    "stale writeback",
    "uptodate not latest",
  ]);
  return {
    verdict,
    figures: {
      executions: t.executions,
      ops: t.ops,
      twoWriters: t.twoWriters,
      staleReads: t.staleReads,
      staleWritebacks: t.staleWritebacks,
      uptodateNotLatest: t.uptodateNotLatest,
      mmCheckerViolations: x.verdicts["violation"] === "Never" ? 0 : 1,
      deviceThreads: x.config.deviceWriters + x.config.deviceReaders,
    },
    agrees: verdict === "Never" && x.verdicts["violation"] === "Never",
    detail:
      `${t.executions} executions (random + PCT) of device writers/readers, mmap load/store, ` +
      `read(2), write(2), fsync, a direct read and a final sync: A writable on the CPU while A' ` +
      `writable on the device ${x.verdicts["two writers"]}; A uptodate without the latest ` +
      `version ${x.verdicts["uptodate not latest"]}; stale reads ${t.staleReads}, stale ` +
      `writebacks ${t.staleWritebacks}.`,
  };
}

function c22(opts: ClaimRunOptions): ClaimOutcome {
  const n = executions(opts, 60, 400);
  const without = exploreHmm({ variant: "no write notification", staleAsViolations: true }, {
    seed: opts.seed,
    executions: n,
  });
  const full = exploreHmm({ variant: "full" }, { seed: opts.seed, executions: n });
  const stale = verdictOf(without, ["stale read", "stale writeback"]);
  const ft = full.tally;
  const [zero, one, more] = ft.episodesByMkwrite;
  const exactlyOne = ft.writeEpisodes > 0 && zero === 0 && more === 0 && one === ft.writeEpisodes;
  const fullStale = ft.staleReads + ft.staleWritebacks;
  const perEpisode = ft.writeEpisodes > 0 ? ft.mkwrite / ft.writeEpisodes : 0;
  return {
    verdict: `${stale} without notification; ${perEpisode.toFixed(2)} mkwrite/episode and ` +
      `${fullStale} stale with it`,
    figures: {
      staleWithout: stale,
      staleReadsWithout: without.tally.staleReads,
      staleWritebacksWithout: without.tally.staleWritebacks,
      staleWith: fullStale,
      writeEpisodes: ft.writeEpisodes,
      episodesWith0Mkwrite: zero,
      episodesWith1Mkwrite: one,
      episodesWith2PlusMkwrite: more,
      mkwritePerEpisode: perEpisode,
    },
    agrees: stale !== "Never" && exactlyOne && fullStale === 0,
    detail: without.replay
      ? `A stale execution without the notification replays as ${without.replay}.`
      : undefined,
  };
}

function c23(opts: ClaimRunOptions): ClaimOutcome {
  const runs = hmmCostSweep(
    opts.quick
      ? { gridSteps: 6, ops: 200, seed: opts.seed }
      : { gridSteps: 11, ops: 1000, seed: opts.seed },
  );
  const wins = hmmWins(hmmCheapest(runs, HMM_DEFAULT_COST_MODEL));
  const figures: Record<string, number> = {};
  const allWinAt: number[] = [];
  for (const [ps, w] of Object.entries(wins)) {
    const kib = Number(ps) / 1024;
    for (const s of [...HMM_STRATEGIES, "tie"] as const) figures[`${s}Cells${kib}K`] = w[s];
    if (HMM_STRATEGIES.every((s) => w[s] > 0)) allWinAt.push(kib);
  }
  const missing = Object.entries(wins).flatMap(([ps, w]) =>
    HMM_STRATEGIES.filter((s) => w[s] === 0).map((s) => `${s} at ${Number(ps) / 1024} KiB`)
  );
  const agrees = allWinAt.length > 0;
  return {
    verdict: agrees
      ? `each strategy cheapest somewhere (at ${allWinAt.join(", ")} KiB)`
      : `no page size where all three win`,
    figures,
    agrees,
    detail: `Cost = bytes copied / ${HMM_DEFAULT_COST_MODEL.copyBandwidthGBps} GB/s + faults × ` +
      `${HMM_DEFAULT_COST_MODEL.faultCostNs / 1000} µs, counted from simulated runs.` +
      (missing.length > 0 ? ` Never cheapest: ${missing.join(", ")}.` : ""),
  };
}

function c24(opts: ClaimRunOptions): ClaimOutcome {
  const full = dioSequence("copy", "full");
  const noHook = dioSequence("copy", "no writeback hook");
  const noInval = dioSequence("copy", "no DIO invalidation");
  const n = executions(opts, 60, 300);
  const migrate = exploreDioInvalidation("migrate", { seed: opts.seed, executions: n });
  const copy = exploreDioInvalidation("copy", { seed: opts.seed, executions: n });
  const agrees = full.dioReadFresh && full.dioWriteSeen && !noHook.dioReadFresh &&
    migrate.failures + migrate.fallbacks > 0;
  return {
    verdict: `DIO read ${full.dioReadFresh ? "fresh" : "stale"} with the pass, ` +
      `${noHook.dioReadFresh ? "fresh" : "stale"} without the writeback hook; migrate: ` +
      `${migrate.failures} invalidation failures / ${migrate.dioWrites} DIO writes`,
    figures: {
      fullDioReadFresh: full.dioReadFresh,
      fullDioWriteSeen: full.dioWriteSeen,
      noHookDioReadFresh: noHook.dioReadFresh,
      noInvalidationDioReadFresh: noInval.dioReadFresh,
      noInvalidationDioWriteSeen: noInval.dioWriteSeen,
      migrateDioWrites: migrate.dioWrites,
      migrateFallbacks: migrate.fallbacks,
      migrateFailures: migrate.failures,
      migrateBufferedFallbacks: migrate.dioFallbacks,
      copyFailures: copy.failures,
    },
    agrees,
    detail: `Migrate: the page-cache pass took the page back from the device ` +
      `${migrate.fallbacks} times and failed ${migrate.failures} times (device page pinned by ` +
      `a store in flight; ${migrate.dioFallbacks} writes fell back to buffered I/O). Copy: ` +
      `${copy.failures} failures (write-protecting A' waits for stores in flight).`,
  };
}

function c25(opts: ClaimRunOptions): ClaimOutcome {
  const n = executions(opts, 40, 200);
  const seed = opts.seed;
  const intercepted = exploreHmm({ variant: "full", illegalStateChecker: true }, {
    seed,
    executions: n,
  });
  const splice = exploreHmm(
    { variant: "full", splice: true, illegalStateChecker: true },
    { seed, executions: n },
  );
  const wb = exploreHmm(
    { variant: "no writeback hook", illegalStateChecker: true },
    { seed, executions: n },
  );
  const rf = exploreHmm({ variant: "no read hook", illegalStateChecker: true }, {
    seed,
    executions: n,
  });
  const v = (x: HmmExploration, rule: string) => x.verdicts[`violation:hmm: ${rule}`] ?? "Never";
  const flags = {
    splice: v(splice, "splice read"),
    writeback: v(wb, "generic writeback"),
    readFolio: v(rf, "generic read_folio"),
    intercepted: intercepted.verdicts["illegal state"] ?? "Never",
  };
  const agrees = flags.splice !== "Never" && flags.writeback !== "Never" &&
    flags.readFolio !== "Never" && flags.intercepted === "Never";
  return {
    verdict: `flagged: splice ${flags.splice}, generic writeback ${flags.writeback}, ` +
      `generic read_folio (fault/read) ${flags.readFolio}; intercepted paths ${flags.intercepted}`,
    figures: {
      spliceFlagged: flags.splice,
      genericWritebackFlagged: flags.writeback,
      genericReadFolioFlagged: flags.readFolio,
      interceptedFlagged: flags.intercepted,
      spliceEio: splice.tally.spliceErrors,
    },
    agrees,
    detail: `Splice is flagged under the full protocol: a pipe buffer taken while A was uptodate ` +
      `is confirmed after the device's write notification made A !uptodate, and ` +
      `page_cache_pipe_buf_confirm returns -EIO (${splice.tally.spliceErrors} times) — no a_ops ` +
      `wrapper sees it. A fault reaches A only through ->read_folio (filemap_fault and ` +
      `fault-around skip !uptodate folios), so "a fault that maps A" shows up as the generic ` +
      `->read_folio when the read hook is missing.`,
  };
}

/**
 * The claims of thread 002 (C2.1 … C2.5), in the order of CLAIMS.md.
 *
 * @example
 * ```ts
 * import { thread002Claims } from "@mmsim/mmsim";
 * if (thread002Claims.map((c) => c.id).join() !== "C2.1,C2.2,C2.3,C2.4,C2.5") throw new Error();
 * ```
 */
export const claims: Claim[] = [
  {
    id: "C2.1",
    thread: "002",
    by: JAN,
    statement: "Single writer and freshness: under the A/A' protocol A is never writable on the " +
      "CPU while A' is writable on the device; whenever A is uptodate it holds the last value " +
      "written by either side; no read is stale across all schedules, including writeback and " +
      "direct I/O.",
    assumptions: [
      "one file page, 2–4 device store threads, a device load thread, CPU mmap load/store, " +
      "read(2), write(2), fsync, a direct read, a final sync",
      "random and PCT schedules with random think times (not exhaustive)",
      "wrappers around ->read_folio/->readahead/->writepages/->launder_folio/->release_folio, " +
      "->page_mkwrite and ->write_begin; an invalidation waits for device accesses in flight",
    ],
    era: ERA,
    expected: "Never",
    run: c21,
  },
  {
    id: "C2.2",
    thread: "002",
    by: `${JAN} / ${JEROME}`,
    statement: "The write notification is necessary: if the device gets A' writable without the " +
      "CPU unmapping A and clearing uptodate, some schedules persist stale A or return stale " +
      "data; with it there is exactly one mkwrite event per device write episode and no stale " +
      "event.",
    assumptions: [
      "the C2.1 world, explored with and without the notification",
      "a device write episode is the stores between two write-protects of A'",
    ],
    era: ERA,
    expected: "Sometimes without; exactly 1 mkwrite per episode and 0 stale with",
    run: c22,
  },
  {
    id: "C2.3",
    thread: "002",
    by: JEROME,
    statement: 'No universal winner: "I want to provide the choice between the two solutions as ' +
      'one will be better for some workload and the other for different workload." Over the ' +
      "CPU-touch fraction r and the device-write fraction w, each of copy (A'), migrate and " +
      "bounce is cheapest somewhere.",
    assumptions: [
      "one page; a CPU touch is read(2) 40%, write(2) 10%, mmap load 30%, mmap store 20%",
      "cost = bytes copied / 16 GB/s + (CPU faults + device faults + device invalidations) × 5 µs",
      "page sizes 4 KiB and 64 KiB; ties counted apart",
    ],
    era: ERA,
    expected: "each strategy cheapest in a non-empty region",
    run: c23,
  },
  {
    id: "C2.4",
    thread: "002",
    by: JAN,
    statement: "Direct I/O works through the page-cache flush and invalidation done before it: a " +
      "direct read after a device write returns the device's data; without the copy-back hook " +
      "in writeback/invalidation it returns stale data; with migration, invalidating a " +
      "mapped/pinned device page must fail or fall back.",
    assumptions: [
      "iomap_dio_rw: a read flushes (kiocb_write_and_wait), a write flushes and invalidates " +
      "(kiocb_invalidate_pages) and invalidates again after",
      "migrate: a device page with a store in flight cannot be migrated back (-EBUSY); the " +
      "direct write then falls back to buffered I/O",
    ],
    era: ERA,
    expected: "fresh with the pass; stale without the hook; migrate: failures or fallbacks > 0",
    run: c24,
  },
  {
    id: "C2.5",
    thread: "002",
    by: JAN,
    statement: "While A is dirty and not uptodate, any generic path other than the intercepted " +
      "ones that reads A or writes it back (splice read, generic writeback, a fault that maps A) " +
      "is a violation the checker flags — what catching ->readpage … ->writepages buys.",
    assumptions: [
      "the checker flags a pipe buffer confirmed against A, writeback started on A, a CPU " +
      "mapping of A, and the filesystem's own ->read_folio entered on A",
      "negative controls: no writeback hook, no read hook; splice under the full protocol",
    ],
    era: ERA,
    expected: "flagged for each unintercepted path; Never for the intercepted ones",
    run: c25,
  },
];

/**
 * Alias of {@link claims} for the public API (mod.ts).
 *
 * @example
 * ```ts
 * import { thread002Claims } from "@mmsim/mmsim";
 * const c24 = thread002Claims.find((c) => c.id === "C2.4")!;
 * if (c24.by !== "Jan Kara" || c24.thread !== "002") throw new Error(c24.by);
 * const outcome = await c24.run({ seed: 1, quick: true });
 * if (!outcome.agrees) throw new Error(outcome.verdict);
 * ```
 */
export const thread002Claims: Claim[] = claims;
