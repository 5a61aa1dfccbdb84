/**
 * Thread 001 (Aug 2013, Maxim Patlasov and Miklos Szeredi, "fuse: writepages: … in-flight
 * check"): FUSE temp-page writeback, direct-I/O re-dirtying of an mmap'ed FUSE buffer behind
 * FUSE's back, and why waiting for FUSE writeback deadlocks in reclaim; the 2025 design without
 * temp pages. Claims C1.1–C1.4 of CLAIMS.md, each with a verdict computed from simulations:
 *
 * - C1.1 — thread001_redirty.ts: no in-flight check → several WRITEs per offset, lost updates;
 * - C1.2 — thread001_redirty.ts: the chained secondary request of 8b284dc47291;
 * - C1.3 — thread001_deadlock.ts: the reclaim wait-for cycle, found by exploration;
 * - C1.4 — thread001_hung.ts (+ the other two): v6.16 without temp pages.
 *
 * Not a kernel model; the kernel sources followed are named in the scenario files.
 *
 * @module
 */

import type { Claim, ClaimOutcome, ClaimRunOptions } from "./registry.ts";
import { replay } from "../sim/explore.ts";
import { fuseLostUpdateSweep, fuseOutstandingSweep } from "./thread001_redirty.ts";
import {
  C13_ROWS,
  fuseReclaimDeadlockMatrix,
  fuseReclaimDeadlockSetup,
} from "./thread001_deadlock.ts";
import { runFuseHungServer } from "./thread001_hung.ts";

const RATIOS_QUICK = [0.1, 1, 10, 100];
const RATIOS_FULL = [0.1, 0.3, 1, 3, 10, 30, 100];

function c11(o: ClaimRunOptions): ClaimOutcome {
  const ratios = o.quick ? RATIOS_QUICK : RATIOS_FULL;
  const a = fuseOutstandingSweep({
    ratios,
    lines: [{ design: "no-check", queueDepth: 16 }, { design: "no-check", queueDepth: 1 }],
    seed: o.seed,
  });
  const deep = a.filter((p) => p.queueDepth === 16).sort((x, y) => x.ratio - y.ratio);
  const one = a.filter((p) => p.queueDepth === 1);
  const first = deep[0]!, last = deep.at(-1)!;
  const monotone = deep.every((p, i) => i === 0 || p.maxOutstanding >= deep[i - 1]!.maxOutstanding);
  const reaches2 = Math.max(...a.map((p) => p.maxOutstanding)) >= 2;
  const grows = monotone && last.maxOutstanding > first.maxOutstanding;
  const b = fuseLostUpdateSweep({ designs: ["no-check"], runs: o.quick ? 20 : 100, seed: o.seed });
  const multi = b.filter((p) => p.serverThreads >= 2);
  const lost = multi.reduce((n, p) => n + p.lost, 0);
  const runs = multi.reduce((n, p) => n + p.runs, 0);
  const single = b.find((p) => p.serverThreads === 1)!;
  const oneMax = Math.max(...one.map((p) => p.maxOutstanding));
  const agrees = reaches2 && grows && lost > 0;
  return {
    verdict: `max outstanding per offset ${first.maxOutstanding} → ${last.maxOutstanding} ` +
      `(latency/redirty ${first.ratio} → ${last.ratio}, 16 reads in flight); lost update in ` +
      `${lost}/${runs} runs with 2–8 server threads, ${single.lost}/${single.runs} with 1`,
    figures: {
      maxOutstandingLowRatio: first.maxOutstanding,
      maxOutstandingHighRatio: last.maxOutstanding,
      maxOutstandingOneReadAtATime: oneMax,
      lostUpdateRateMultiThreaded: lost / runs,
      lostUpdateRateOneThread: single.rate,
      grows,
    },
    agrees,
    detail: `No in-flight check, temp pages, DIO re-dirtying (bio_set_pages_dirty at submit, ` +
      `bio_dirty_fn after completion: set_page_dirty_lock, no ->page_mkwrite). The count grows ` +
      `with server latency / redirty interval up to the number of re-dirties between two ` +
      `page_mkwrite calls: with one read at a time it stays at ${oneMax}, because each read's ` +
      `get_user_pages write-faults on the PTE writeback write-protected and fuse_page_mkwrite ` +
      `waits (page locked) until the earlier WRITEs are answered — Miklos's point holds for the ` +
      `fault, not for the two set_page_dirty_lock calls. A one-thread server applies WRITEs in ` +
      `order and loses nothing; with more threads replies reorder and an older copy lands last.`,
  };
}

function c12(o: ClaimRunOptions): ClaimOutcome {
  const a = fuseOutstandingSweep({
    ratios: o.quick ? RATIOS_QUICK : RATIOS_FULL,
    lines: [{ design: "chained", queueDepth: 16 }],
    seed: o.seed,
  });
  const b = fuseLostUpdateSweep({ designs: ["chained"], runs: o.quick ? 20 : 100, seed: o.seed });
  const maxOutstanding = Math.max(
    ...a.map((p) => p.maxOutstanding),
    ...b.map((p) => p.maxOutstanding),
  );
  const maxInFlight = Math.max(...b.map((p) => p.maxInFlight));
  const maxSecondaries = Math.max(...b.map((p) => p.maxSecondaries));
  const lost = b.reduce((n, p) => n + p.lost, 0);
  const reordered = b.reduce((n, p) => n + p.reordered, 0);
  const merged = b.reduce((n, p) => n + p.merged, 0);
  const tooMany = b.reduce((n, p) => n + p.moreWritesThanEpisodes, 0);
  const runs = b.reduce((n, p) => n + p.runs, 0);
  const agrees = maxOutstanding <= 2 && maxInFlight <= 1 && maxSecondaries <= 1 && lost === 0 &&
    reordered === 0 && tooMany === 0 && merged > 0;
  return {
    verdict: `≤ ${maxInFlight} in flight + ≤ ${maxSecondaries} queued secondary (max outstanding ` +
      `${maxOutstanding}); ${merged} re-dirties merged into a queued request; out-of-order ` +
      `applies ${reordered}, lost updates ${lost}, runs with more WRITEs than dirty episodes ` +
      `${tooMany} (of ${runs})`,
    figures: {
      maxOutstanding,
      maxInFlight,
      maxSecondaries,
      mergedIntoQueued: merged,
      outOfOrderRuns: reordered,
      lostUpdates: lost,
      runsWithMoreWritesThanDirtyEpisodes: tooMany,
      runs,
    },
    agrees,
    detail: `fuse_writepage_in_flight (8b284dc47291): a rewrite of a page whose WRITE is in ` +
      `flight becomes a single-page secondary sent from fuse_writepage_end; a rewrite while that ` +
      `secondary is still queued is copied into its temp page. Runs: 1/2/4/8 server threads with ` +
      `exponential latency (replies reorder), 4 DIO reads in flight per round.`,
  };
}

function c13(o: ClaimRunOptions): ClaimOutcome {
  const cells = fuseReclaimDeadlockMatrix({ executions: o.quick ? 60 : 200, seed: o.seed });
  const waits = cells.filter((c) => C13_ROWS.find((r) => r.id === c.row)!.reclaimWaits);
  const nowait = cells.filter((c) => !C13_ROWS.find((r) => r.id === c.row)!.reclaimWaits);
  const disagree = cells.filter((c) => !c.agrees);
  const singleOk = cells.filter((c) => c.serverThreads === 1).every((c) => c.agrees);
  const figures: Record<string, number | string | boolean> = {
    cellsWithCycleWhereReclaimWaits: waits.filter((c) => c.deadlocks > 0).length,
    cellsWhereReclaimWaits: waits.length,
    cellsWithCycleWhereItCannot: nowait.filter((c) => c.deadlocks > 0).length,
    cellsDisagreeing: disagree.length,
    singleThreadedServerDeadlocks: singleOk,
  };
  for (const c of cells) {
    figures[`${c.row} | ${c.column}`] = `${c.verdict} ${c.deadlocks}/${c.executions}`;
  }
  const example = cells.find((c) => c.row === "2013-wait" && c.serverThreads === 1)?.cycle ?? "";
  const selfWaits = cells.reduce((n, c) => n + c.selfWaits, 0);
  const viaFsync = cells.reduce((n, c) => n + c.viaFsync, 0);
  figures.cyclesServerWaitsOnOwnRequest = selfWaits;
  figures.cyclesThroughFsync = viaFsync;
  return {
    verdict: `cycle in ${waits.filter((c) => c.deadlocks > 0).length}/${waits.length} cells ` +
      `where reclaim can wait on the server, ${nowait.filter((c) => c.deadlocks > 0).length}/` +
      `${nowait.length} where it cannot; ${disagree.length} cell(s) differ from the claim's ` +
      `condition (${disagree.map((c) => `${c.row}, ${c.column}`).join("; ") || "none"})`,
    figures,
    agrees: disagree.length === 0,
    detail: `PCT exploration (depth 3), ${o.quick ? 60 : 200} executions per cell. ` +
      `2013 cycle: ${example}. Cycles through fsync's writeback wait: ${viaFsync}; a ` +
      `server thread waiting on its own request's page: ${selfWaits}. ` +
      (disagree.length > 0
        ? `Finding: the claim's "single-threaded or all threads allocating" is too weak. A ` +
          `request is answered only by the thread that read it, so a server with several ` +
          `threads of which one allocates still deadlocks whenever that thread is the one ` +
          `holding the awaited request — in the 2025 design even on the page of the very WRITE ` +
          `it is handling (its PG_writeback is held until its own reply). More threads make the ` +
          `cycle rarer, not impossible; only reclaim never waiting (temp pages, or the AS flag ` +
          `in v6.16) removes it.`
        : "Every cell matches the claim's condition."),
  };
}

function c14(o: ClaimRunOptions): ClaimOutcome {
  const a = fuseOutstandingSweep({
    ratios: o.quick ? RATIOS_QUICK : RATIOS_FULL,
    lines: [{ design: "no-temp", queueDepth: 16 }],
    seed: o.seed,
  });
  const maxInFlight = Math.max(...a.map((p) => p.maxOutstanding));
  const tempInDio = Math.max(...a.map((p) => p.maxWritebackTemp));
  const horizonNs = o.quick ? 500_000_000 : 2_000_000_000;
  const old = runFuseHungServer({ version: "3.11", horizonNs }, o.seed);
  const now = runFuseHungServer({ version: "6.16", horizonNs }, o.seed);
  // Reclaim on behalf of a legacy memcg v1 server: the v6.16 row of the C1.3 matrix, and one
  // traced run counting shrink_folio_list's writeback cases.
  const cells = fuseReclaimDeadlockMatrix({
    executions: o.quick ? 30 : 100,
    seed: o.seed,
    rows: C13_ROWS.filter((r) => r.id === "2025"),
  });
  const traced = replay(fuseReclaimDeadlockSetup({ design: "no-temp", version: "6.16" }), {
    seed: o.seed,
    schedule: "fifo",
  });
  const cases = traced.trace!.ofKind("mm_vmscan_writeback_case").map((e) => String(e.after));
  const case2 = cases.filter((c) => c === "case 2").length;
  const case3 = cases.filter((c) => c === "case 3").length;
  const reclaimNeverWaits = cells.every((c) => c.deadlocks === 0) && case3 === 0 && case2 > 0;
  const syncHangs = !now.sync.returned && now.sync.waitChain.includes("never replies");
  const migrateHangs = now.migrate !== null && !now.migrate.returned &&
    now.migrate.waitChain.includes("never replies");
  const agrees = maxInFlight <= 1 && tempInDio === 0 && now.maxWritebackTmpBytes === 0 &&
    reclaimNeverWaits && syncHangs && migrateHangs && old.sync.returned &&
    old.maxWritebackTmpBytes > 0;
  return {
    verdict: `v6.16: ≤ ${maxInFlight} WRITE in flight per folio, NR_WRITEBACK_TEMP peak ` +
      `${now.maxWritebackTmpBytes} B (temp pages: ${old.maxWritebackTmpBytes} B), reclaim ` +
      `${reclaimNeverWaits ? "never waits (case 2 only)" : "waits"}; with L = ∞ sync(2) ` +
      `${syncHangs ? "hangs" : "returns"} and MIGRATE_SYNC ${migrateHangs ? "hangs" : "returns"} ` +
      `(temp pages: sync ${old.sync.returned ? "returns" : "hangs"}, migration ` +
      `${old.migrate?.result ?? "-"})`,
    figures: {
      maxWritesInFlightPerFolio: maxInFlight,
      writebackTmpBytesNoTemp: now.maxWritebackTmpBytes,
      writebackTmpBytesTempPages: old.maxWritebackTmpBytes,
      writebackBytesNoTemp: now.maxWritebackBytes,
      reclaimCase2: case2,
      reclaimCase3: case3,
      syncReturnsNoTemp: now.sync.returned,
      syncReturnsTempPages: old.sync.returned,
      migrateSyncReturnsNoTemp: now.migrate?.returned ?? false,
    },
    agrees,
    detail: `Hung server (latency never), 1 MiB written, sync(2) and MIGRATE_SYNC of the first ` +
      `folio 100 ms later. v6.16 sync: ${now.sync.waitChain}. The same run under v3.11 (temp ` +
      `pages) returns from sync at once — its data is still only in temp pages.`,
  };
}

/**
 * The claims of thread 001 (C1.1–C1.4).
 *
 * @example
 * ```ts
 * import { allClaims } from "@mmsim/mmsim";
 * if (allClaims().list("001").length !== 4) throw new Error("C1.1–C1.4 registered");
 * ```
 */
export const claims: Claim[] = [
  {
    id: "C1.1",
    thread: "001",
    by: "Maxim Patlasov",
    statement: "Direct AIO reads into a buffer mmap'ed from a FUSE file re-dirty its pages " +
      "(dio_bio_submit → bio_set_pages_dirty, dio_bio_complete → bio_check_pages_dirty → " +
      "set_page_dirty_lock) without notifying FUSE; since FUSE ends writeback right after the " +
      'temp-page copy, "we can end up in more then one temporary page in fuse write-back": ' +
      "without an in-flight check, the WRITEs outstanding per page offset reach ≥ 2, grow with " +
      "server latency / redirty interval, and a reordering server loses updates.",
    assumptions: [
      "temp-page writeback without fuse_page_is_writeback in writepages (the v3.13 series " +
      "before 8b284dc47291), fs/direct-io.c AIO reads, v3.11 era",
      "one FUSE page mmap'ed MAP_SHARED as the DIO buffer; 16 (and 1) AIO reads in flight per " +
      "round, completing 10 ms apart, each with new data",
      "flusher every 10 ms (dirty_expire 0); fsync(2) at the end (fuse_sync_writes)",
      "lost update = stored content ≠ last version after fsync; server latency exponential " +
      "(30 ms) for the lost-update runs",
    ],
    era: "2013 (v3.11–v3.12 writeback-cache series)",
    expected:
      "max outstanding ≥ 2 and growing with latency/redirty; lost updates > 0 with ≥ 2 threads",
    run: c11,
  },
  {
    id: "C1.2",
    thread: "001",
    by: "Miklos Szeredi",
    statement: '"If the request is still in queue, just update it with the contents of the new ' +
      "page; if the request already in userspace, create a new request, but only let userspace " +
      "have it once the previous request for the same page completes, so the ordering is not " +
      'messed up" (8b284dc47291): ≤ 1 in flight + ≤ 1 queued secondary per page, writes reach ' +
      "the server in dirtying order, the final content is the last version, WRITEs ≤ dirty " +
      "episodes.",
    assumptions: [
      "fuse_writepage_in_flight of 8b284dc47291 (v3.13), temp pages, v3.11 era otherwise",
      "same DIO workload as C1.1; 1, 2, 4, 8 server threads with exponential latency",
    ],
    era: "2013–2025 (v3.13–v6.15)",
    expected: "≤ 1 in flight + ≤ 1 secondary; in order; no lost update; WRITEs ≤ dirty episodes",
    run: c12,
  },
  {
    id: "C1.3",
    thread: "001",
    by: "Miklos Szeredi",
    statement: 'Waiting for FUSE writeback "would deadlock in reclaim": server thread → page ' +
      "allocation → reclaim → wait on PG_writeback of a FUSE page → server thread. The wait-for " +
      "graph has a cycle iff reclaim may wait on FUSE writeback and the server is " +
      "single-threaded or all its threads are allocating.",
    assumptions: [
      "the server charges a memory cgroup at its limit on every request (legacy cgroup v1: " +
      "shrink_folio_list case 3 waits on PG_writeback of a PG_reclaim folio; try_charge_memcg " +
      "retries reclaim)",
      "workload: a page in flight, re-dirtied by a DIO completion, a second page written, " +
      "fsync(2)",
      "rows: the 2013 wait proposal and no-temp without the AS flag (reclaim can wait on the " +
      "server) vs temp pages + 8b284dc47291 and v6.16 (it cannot); columns: 1 thread, 4 threads " +
      "of which 1 allocates, 4 threads all allocating",
      "PCT exploration of schedules (depth 3); a deadlock is a run ending with a wait-for cycle",
    ],
    era: "2013 proposal and 2025 (v6.16 and its predecessor without 0c4f8ed498ce)",
    expected: "cycle iff reclaim waits and (1 thread or all allocating)",
    run: c13,
  },
  {
    id: "C1.4",
    thread: "001",
    by: "Miklos Szeredi",
    statement: '"The best would be if we could get rid of the ugly temporary page requirement" ' +
      "— done in v6.16: PG_writeback stays set until the reply, so generic writeback keeps ≤ 1 " +
      "write in flight per folio with no FUSE-private tree, NR_WRITEBACK_TEMP = 0, reclaim " +
      "must not wait on such folios (case 2 via AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM); in " +
      "exchange sync(2) and MIGRATE_SYNC wait on the server, so with L = ∞ they hang.",
    assumptions: [
      "v6.16: 0c58a97f919c (no temp folio) + 0c4f8ed498ce (reclaim honours the flag)",
      "compared with v3.11 temp pages (the 2013 design, same through v6.15)",
      "hung server = latency never; 1 MiB written; sync(2) and MIGRATE_SYNC 100 ms later",
    ],
    era: "2025 (v6.16) vs 2013",
    expected: "≤ 1 in flight, NR_WRITEBACK_TEMP = 0, reclaim never waits; sync(2)/MIGRATE_SYNC " +
      "hang with L = ∞ (2013: sync returns)",
    run: c14,
  },
];
