import assert from "node:assert/strict";
import { allClaims } from "../../lib/claims/all.ts";
import { runClaim } from "../../lib/claims/registry.ts";
import {
  c01Evidence,
  c02Evidence,
  c04Evidence,
  c05Evidence,
  claims,
} from "../../lib/claims/thread000.ts";
import { predictHungReadCompaction } from "../../lib/claims/thread000_crosscheck.ts";
import {
  copyThroughputFigure,
  modeTableFigure,
  pipeHoldFigure,
  plotAFigure,
  plotBFigure,
  staleReadsFigure,
} from "../../lib/claims/thread000_figures.ts";

const claim = (id: string) => claims.find((c) => c.id === id)!;
const opts = { seed: 1, quick: true };

Deno.test("thread 000 claims are registered", () => {
  assert.deepEqual(allClaims().list("000").map((c) => c.id), [
    "C0.1",
    "C0.2",
    "C0.3",
    "C0.4",
    "C0.5",
  ]);
});

Deno.test("C0.1 the lock blocks migration: ASYNC and SYNC_LIGHT give up, SYNC waits", async (t) => {
  const r = await runClaim(claim("C0.1"), opts);
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.asyncRc, "EAGAIN");
  assert.equal(r.figures.syncLightRc, "EAGAIN");
  assert.equal(r.figures.syncRc, "MIGRATEPAGE_SUCCESS");
  assert.ok((r.figures.syncMs as number) >= 5 - 1e-3);
  assert.equal(r.figures.syncHungReturned, false);
  assert.equal(r.figures.hungBlocksFreed, 0);
  await t.step("Plot A: the proposals free every block at every latency, ∞ included", () => {
    const pts = c01Evidence({ seed: 1, size: "quick" }).data.plotA;
    for (const p of pts) {
      if (p.design === "abandon hook" || p.design === "late allocation") {
        assert.equal(p.fraction, 1);
      }
      if (
        !Number.isFinite(p.p99Ns) && (p.design === "locked placeholder" || p.design === "splice")
      ) {
        assert.equal(p.fraction, 0);
      }
    }
    assert.ok(plotAFigure(pts).svg.includes("<path"));
  });
  await t.step("mode table", () => {
    const rows = c01Evidence({ seed: 1, size: "quick" }).data.modeTable;
    assert.ok(modeTableFigure(rows).text.includes("never (hung wait)"));
  });
});

Deno.test("C0.2 retry semantics: never stale with the hook, caught without dropping", async (t) => {
  const r = await runClaim(claim("C0.2"), opts);
  assert.equal(r.agrees, true, r.detail);
  assert.equal(
    r.verdict,
    "with the hook: stale reads Never, violations Never, read errors Never; retried read " +
      "failing: stale reads Never, read errors Sometimes; negative control: stale reads " +
      "Sometimes, use-after-free Sometimes",
  );
  assert.ok((r.figures.hookAbandonedRuns as number) > 0);
  await t.step("figure", () => {
    const ex = c02Evidence({ seed: 1, size: "quick" }).data.explorations;
    assert.ok(staleReadsFigure(ex).svg.includes("<rect"));
  });
});

Deno.test("C0.3 late allocation: 0 locked; placeholders = outstanding pages, linear", async () => {
  const r = await runClaim(claim("C0.3"), opts);
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.trackerMaxLocked, 0);
  assert.equal(r.figures.placeholderMaxLockedMinusOutstanding, 0);
  assert.ok((r.figures.r2 as number) > 0.95);
});

Deno.test("C0.4 splice: placeholder locked ≥ L; pipe-held pages -EAGAIN; lock_request fix", async (t) => {
  const r = await runClaim(claim("C0.4"), opts);
  assert.equal(r.agrees, true, r.detail);
  assert.ok((r.figures.minPlaceholderLockedMs as number) >= 5);
  assert.ok((r.figures.eagainAfterReplyMs as number) >= 20);
  assert.equal(r.figures.abortRaceUnfixed, "Sometimes");
  assert.equal(r.figures.abortRaceFixed, "Never");
  assert.equal(r.figures.spliceLateMaxLocked, 0);
  await t.step("figures", () => {
    const d = c04Evidence({ seed: 1, size: "quick" }).data;
    assert.ok(plotBFigure([d.splice]).svg.includes("<path"));
    assert.ok(pipeHoldFigure([d.pipe.splice, d.pipe.copy]).svg.includes("<circle"));
  });
});

Deno.test("C0.5 copy variants: one memcpy per page each, temp page allocates", async () => {
  const r = await runClaim(claim("C0.5"), opts);
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.tempMemcpyTotalPerPage, 2);
  assert.equal(r.figures.devMemcpyTotalPerPage, 1);
  assert.equal(r.figures.upstreamMigratedAfterCopy, 0);
  assert.ok((r.figures.calibrationMaxRelError as number) < 0.1);
  assert.ok(copyThroughputFigure(c05Evidence({ seed: 1 }).data.model).svg.includes("<rect"));
});

Deno.test("predictHungReadCompaction: no hung page moves, compact_memory blocks", () => {
  for (const v of ["6.1", "6.12", "7.3"]) {
    const p = predictHungReadCompaction(v);
    assert.equal(p.hungPageMoved, false);
    assert.equal(p.compactionBlocked, true);
    assert.equal(p.mode, "MIGRATE_SYNC");
    assert.match(p.waits, /compact_memory.*PG_locked.*FUSE_READ/);
  }
});
