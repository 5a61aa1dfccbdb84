import assert from "node:assert/strict";
import { claims } from "../../lib/claims/thread001.ts";
import { allClaims } from "../../lib/claims/all.ts";
import { runClaim } from "../../lib/claims/registry.ts";
import {
  C13_SELF_WAIT,
  C13_VIA_FSYNC,
  c13DeadlockSearch,
} from "../../lib/claims/thread001_deadlock.ts";
import { predictFuseWritebackCounters } from "../../lib/claims/thread001_hung.ts";

const claim = (id: string) => claims.find((c) => c.id === id)!;

Deno.test("thread 001 claims are registered", () => {
  const r = allClaims();
  for (const id of ["C1.1", "C1.2", "C1.3", "C1.4"]) assert.ok(r.has(id), id);
  assert.deepEqual(r.list("001").map((c) => c.id), ["C1.1", "C1.2", "C1.3", "C1.4"]);
});

Deno.test("C1.1 no in-flight check: WRITEs per offset grow with latency/redirty, updates are lost", async () => {
  const r = await runClaim(claim("C1.1"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.verdict);
  assert.equal(r.figures.maxOutstandingLowRatio, 1);
  assert.equal(r.figures.maxOutstandingHighRatio, 16, "16 reads in flight: up to 16 WRITEs");
  assert.equal(r.figures.maxOutstandingOneReadAtATime, 2, "page_mkwrite at GUP bounds one reader");
  assert.equal(r.figures.lostUpdateRateOneThread, 0);
  assert.ok((r.figures.lostUpdateRateMultiThreaded as number) > 0.2);
});

Deno.test("C1.2 chained secondary requests: ≤ 1 + 1 per page, in order, nothing lost", async () => {
  const r = await runClaim(claim("C1.2"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.verdict);
  assert.equal(r.figures.maxOutstanding, 2);
  assert.equal(r.figures.maxInFlight, 1);
  assert.equal(r.figures.maxSecondaries, 1);
  assert.equal(r.figures.lostUpdates, 0);
  assert.equal(r.figures.outOfOrderRuns, 0);
  assert.equal(r.figures.runsWithMoreWritesThanDirtyEpisodes, 0);
  assert.ok((r.figures.mergedIntoQueued as number) > 0);
});

Deno.test("C1.3 reclaim deadlock matrix: a finding in the multi-threaded column", async () => {
  const r = await runClaim(claim("C1.3"), { seed: 1, quick: true });
  // Finding: with N threads of which one allocates, the cycle still occurs (the allocating
  // thread holds the awaited request); the claim predicts none there.
  assert.equal(r.agrees, false, r.verdict);
  assert.equal(r.figures.cellsWhereReclaimWaits, 6);
  assert.equal(r.figures.cellsWithCycleWhereReclaimWaits, 6);
  assert.equal(r.figures.cellsWithCycleWhereItCannot, 0);
  assert.equal(r.figures.cellsDisagreeing, 2);
  assert.equal(r.figures.singleThreadedServerDeadlocks, true);
  assert.match(String(r.figures["2013-wait | 1 thread"]), /^Always/);
  assert.match(String(r.figures["2013-wait | 4 threads, 1 allocating"]), /^Sometimes/);
  assert.match(String(r.figures["2025 | 4 threads, all allocating"]), /^Never/);
  assert.ok((r.figures.cyclesServerWaitsOnOwnRequest as number) > 0);
  assert.match(
    r.detail!,
    /fuse-server-0#\d+ → PG_writeback of pfn \d+ .* → app#\d+ → fi->page_waitq/,
  );
});

Deno.test("C1.4 v6.16 without temp pages: no temp memory, reclaim never waits, sync/migration hang", async () => {
  const r = await runClaim(claim("C1.4"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.verdict);
  assert.equal(r.figures.maxWritesInFlightPerFolio, 1);
  assert.equal(r.figures.writebackTmpBytesNoTemp, 0);
  assert.equal(r.figures.writebackTmpBytesTempPages, 1 << 20);
  assert.equal(r.figures.reclaimCase3, 0);
  assert.ok((r.figures.reclaimCase2 as number) > 0);
  assert.equal(r.figures.syncReturnsNoTemp, false);
  assert.equal(r.figures.syncReturnsTempPages, true);
  assert.equal(r.figures.migrateSyncReturnsNoTemp, false);
});

Deno.test("c13DeadlockSearch finds the 2013 cycle and counts states; its counterexample replays", () => {
  const r = c13DeadlockSearch({ executions: 30 });
  assert.equal(r.verdicts.deadlock, "Always");
  assert.ok((r.distinctStates ?? 0) > 5);
  assert.equal(r.counts[C13_VIA_FSYNC], 30);
  assert.equal(r.counts[C13_SELF_WAIT], 0);
  assert.match(r.counterexample!.replay, /replay\(scenario, \{ seed: \d+, schedule: /);
  assert.ok(r.counterexample!.trace.ofKind("mm_vmscan_writeback_case").length > 0);
});

Deno.test("predictFuseWritebackCounters: WritebackTmp before v6.16, Writeback after", () => {
  for (
    const [v, holder] of [["6.1", "WritebackTmp"], ["6.12", "WritebackTmp"], ["7.0", "Writeback"]]
  ) {
    const p = predictFuseWritebackCounters(v!);
    assert.equal(p.holder, holder, v);
    assert.equal(holder === "Writeback" ? p.writebackBytes : p.writebackTmpBytes, 4 << 20);
    assert.equal(holder === "Writeback" ? p.writebackTmpBytes : p.writebackBytes, 0);
    assert.equal(p.syncReturned, holder === "WritebackTmp");
  }
});
