import assert from "node:assert/strict";
import { allClaims } from "../../lib/claims/all.ts";
import { runClaim } from "../../lib/claims/registry.ts";
import { claims } from "../../lib/claims/thread004.ts";
import { largeFolioMigrationSweep } from "../../lib/claims/thread004_migrate.ts";
import { predictSplitFolioSizes } from "../../lib/claims/thread004_split.ts";
import { contigUnderIoTrial } from "../../lib/claims/thread004_unmovable.ts";

const byId = (id: string) => claims.find((c) => c.id === id)!;

Deno.test("thread 004 claims are registered with computed verdicts", async (t) => {
  const registry = allClaims();
  for (const id of ["C4.1", "C4.2", "C4.3", "C4.4", "C4.5"]) {
    assert.ok(registry.has(id), `${id} registered`);
  }
  await t.step(
    "C4.1: the formula holds; unsplittable folios need a free order-k block",
    async () => {
      const r = await runClaim(byId("C4.1"), { seed: 1, quick: true });
      assert.equal(r.agrees, true, r.detail);
      assert.equal(r.figures.maxDeviation, 0);
      for (const k of [9, 13]) {
        assert.equal(r.figures[`k${k}_clean_pSuccessAtX1`], 1, "clean folios split and move");
        assert.equal(r.figures[`k${k}_dirty_pSuccessAtX1`], 0, "dirty iomap folios stay");
        assert.equal(r.figures[`k${k}_never-split_pSuccessAtX1`], 0);
        assert.equal(r.figures[`k${k}_min-order2_pSuccessAtX1`], 1, "order-2 pieces find blocks");
        assert.equal(r.figures[`k${k}_min-order4_pSuccessAtX1`], 0, "order-4 pieces do not");
      }
    },
  );
  await t.step(
    "C4.2: unsplittable = dirty; below min order never; pins and writeback",
    async () => {
      const r = await runClaim(byId("C4.2"), { seed: 1, quick: true });
      assert.equal(r.agrees, true, r.detail);
      assert.equal(r.figures.maxDeviation, 0);
      assert.equal(r.figures.minOrderBelowMin, 0);
      assert.equal(r.figures.minOrder612Raised, 2);
      assert.equal(r.figures.minOrder619Einval, 2);
      assert.equal(r.figures.mixedRefs, 4);
      assert.equal(r.figures.mixedWriteback, 4);
    },
  );
  await t.step("C4.3: migrate without split, fallback by era", async () => {
    const r = await runClaim(byId("C4.3"), { seed: 1, quick: true });
    assert.equal(r.agrees, true, r.detail);
    assert.equal(r.figures.asPredicted, 24);
    assert.equal(r.figures.dirtyIomapMigrated, 6);
    assert.equal(r.figures.fallbackDirtyEbusy, 5);
    assert.equal(r.figures.fallbackDirtyWrittenOut, 1);
  });
  await t.step("C4.4: 512 vs 10, 8192 vs 14 from real splits", async () => {
    const r = await runClaim(byId("C4.4"), { seed: 1, quick: true });
    assert.equal(r.agrees, true, r.detail);
    assert.equal(r.figures.k9_bs1024_u_folios, 512);
    assert.equal(r.figures.k9_bs1024_nu_folios, 10);
    assert.equal(r.figures.k9_bs1024_u_blockStates, 512);
    assert.equal(r.figures.k9_bs1024_nu_blockStates, 10);
    assert.equal(r.figures.k13_bs4096_u_blockStates, 8192);
    assert.equal(r.figures.k13_bs4096_nu_blockStates, 14);
    // The refinement: single-block folios need no block state.
    assert.equal(r.figures.k9_bs4096_u_blockStates, 0);
    assert.equal(r.figures.k9_bs4096_nu_blockStates, 8);
  });
  await t.step("C4.5: writeback and readahead folios, hung servers", async () => {
    const r = await runClaim(byId("C4.5"), { seed: 1, quick: true });
    assert.equal(r.agrees, true, r.detail);
    assert.equal(r.figures.wbAsyncCompactionIsolates, false);
    assert.equal(r.figures.wbSyncLight, "EBUSY");
    assert.equal(r.figures.raSyncLight, "EAGAIN");
    assert.equal(r.figures.wbSync, "MIGRATEPAGE_SUCCESS");
    assert.equal(r.figures.hungNeverReturned, 4);
    assert.match(r.detail ?? "", /PG_writeback of pfn \d+ .* FUSE_WRITE/);
  });
});

Deno.test("thread 004 scenarios", async (t) => {
  await t.step("C4.1 later era: min-order folios can no longer be split at all", () => {
    const rows = largeFolioMigrationSweep({
      pageSizeBytes: 4096,
      levels: [1],
      seeds: [1],
      version: "6.19",
      lines: [{ line: "min-order 2", kind: "min-order", minOrder: 2 }],
      trial: { zonePageblocks: 16, folios: 2, freePageblocks: 4 },
    });
    assert.equal(rows[0]!.pSplit, 0);
    assert.equal(rows[0]!.pSuccess, 0);
    assert.match(rows[0]!.splitFailures, /min_order [1-9]/);
  });
  await t.step("finite server latency: CMA finishes once the server has answered", () => {
    const r = contigUnderIoTrial({
      driver: "cma",
      kind: "writeback",
      share: 0.125,
      latency: { kind: "fixed", ns: 2_000_000 },
      deadlineNs: 50_000_000,
      seed: 1,
    });
    assert.ok(r.success && r.timeNs >= 2_000_000, JSON.stringify(r));
  });
  await t.step("predictSplitFolioSizes: uniform before v6.15, non-uniform after", () => {
    assert.deepEqual(predictSplitFolioSizes("6.1"), Array(512).fill(1));
    assert.deepEqual(predictSplitFolioSizes("6.12"), Array(512).fill(1));
    assert.deepEqual(predictSplitFolioSizes("7.0"), [4, 1, 1, 2, 8, 16, 32, 64, 128, 256]);
  });
});
