import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  __GFP_RECLAIMABLE,
  COMPACT_RESULTS,
  CompactControl,
  CompactionConfig,
  compactionDeferred,
  compactionDeferReset,
  deferCompaction,
  Engine,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  MIGRATE,
  Mm,
  PhysMem,
  resetIsolationSuitable,
  Zone,
  zoneCompactState,
} from "../../../mod.ts";
import {
  compactionRestarting,
  maxResult,
  testAndSetSkip,
  updateCachedMigrate,
  updatePageblockSkip,
} from "../../../lib/mm/compact_control.ts";

const newZone = (nrFrames = 4096, startPfn = 0) =>
  new Zone(new PhysMem({ nrFrames }), { startPfn });

/** How many compaction_deferred() calls in a row say "skip" before one lets compaction run. */
function skipped(zone: Zone, order: number): number {
  let n = 0;
  while (compactionDeferred(zone, order)) {
    n++;
    if (n > 1000) throw new Error("never undeferred");
  }
  return n;
}

Deno.test("compaction deferral as defer_compaction / compaction_deferred", async (t) => {
  await t.step("never failed: never deferred", () => {
    assert.equal(skipped(newZone(), 9), 0);
  });
  await t.step("after k failures in a row, 2^k − 1 attempts are skipped (k capped at 6)", () => {
    const z = newZone();
    const seen: number[] = [];
    for (let k = 1; k <= 8; k++) {
      deferCompaction(z, 9);
      seen.push(skipped(z, 9));
    }
    assert.deepEqual(seen, [1, 3, 7, 15, 31, 63, 63, 63]);
  });
  await t.step("compaction_restarting once the maximum backoff has run out", () => {
    const z = newZone();
    for (let k = 0; k < 6; k++) deferCompaction(z, 9);
    assert.equal(compactionRestarting(z, 9), false);
    skipped(z, 9);
    assert.equal(compactionRestarting(z, 9), true);
  });
  await t.step("a success resets the backoff and raises compact_order_failed", () => {
    const z = newZone();
    deferCompaction(z, 9);
    deferCompaction(z, 9);
    compactionDeferReset(z, 4, false); // order 4 succeeded, the allocation did not
    assert.equal(skipped(z, 3), 0, "orders below the failed one are not deferred");
    assert.equal(skipped(z, 9), 3, "the backoff of order 9 is unchanged");
    compactionDeferReset(z, 9, true);
    deferCompaction(z, 9);
    assert.equal(skipped(z, 9), 1, "reset: the backoff starts again at one");
  });
  await t.step("a failure at a lower order lowers compact_order_failed", () => {
    const z = newZone();
    compactionDeferReset(z, 9, true); // order_failed = 10
    deferCompaction(z, 9);
    assert.equal(skipped(z, 8), 0);
    deferCompaction(z, 6);
    assert.ok(skipped(z, 8) > 0, "order 8 ≥ the new order_failed 6");
  });
  await t.step(
    "property: compaction_deferred says 'run' within 2^6 calls, whatever happened",
    () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              op: fc.constantFrom("defer", "reset", "ask"),
              order: fc.nat(10),
              ok: fc.boolean(),
            }),
          ),
          (ops) => {
            const z = newZone();
            for (const o of ops) {
              if (o.op === "defer") deferCompaction(z, o.order);
              else if (o.op === "reset") compactionDeferReset(z, o.order, o.ok);
              else compactionDeferred(z, o.order);
            }
            assert.ok(skipped(z, 10) <= 63);
            const s = zoneCompactState(z);
            assert.ok(s.deferShift >= 0 && s.deferShift <= 6);
          },
        ),
        { numRuns: 200 },
      );
    },
  );
});

Deno.test("ZoneCompactState starts at the zone's edges", () => {
  const z = newZone(4096, 1024);
  const s = zoneCompactState(z);
  assert.equal(zoneCompactState(z), s, "one per zone");
  assert.deepEqual(s.cachedMigratePfn, [1024, 1024]);
  assert.equal(s.cachedFreePfn, 4096 - 512, "the last pageblock");
  assert.equal(s.skip.length, 6, "one skip bit per pageblock of [1024, 4096)");
  assert.equal(s.firstPageblock, 2);
});

Deno.test("resetIsolationSuitable clears skip hints only when a flush was requested", () => {
  const z = newZone();
  const s = zoneCompactState(z);
  s.skip[2] = 1;
  s.cachedMigratePfn[0] = 2048;
  resetIsolationSuitable(z);
  assert.equal(s.skip[2], 1, "no compact_blockskip_flush: untouched");
  s.blockskipFlush = true;
  resetIsolationSuitable(z);
  assert.deepEqual([s.skip[2], s.cachedMigratePfn[0], s.blockskipFlush], [0, 0, false]);
});

Deno.test("CompactControl derives its allocation context from the gfp mask", () => {
  const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 } });
  const k = new CompactControl(mm, { order: 3, mode: "MIGRATE_ASYNC" });
  assert.deepEqual([k.gfpMask, k.migratetype], [GFP_KERNEL, MIGRATE.UNMOVABLE]);
  const mv = new CompactControl(mm, {
    order: 3,
    mode: "MIGRATE_ASYNC",
    gfpMask: GFP_HIGHUSER_MOVABLE,
  });
  assert.equal(mv.migratetype, MIGRATE.MOVABLE);
  assert.notEqual(mv.allocFlags, k.allocFlags, "movable requests may use CMA (ALLOC_CMA)");
  const r = new CompactControl(mm, {
    order: 3,
    mode: "MIGRATE_SYNC",
    gfpMask: GFP_KERNEL | __GFP_RECLAIMABLE,
  });
  assert.equal(r.migratetype, MIGRATE.RECLAIMABLE);
  assert.equal(k.freepages.length, mm.zone.maxOrder + 1, "one isolated-free list per order");
  assert.throws(
    () =>
      new CompactControl(mm, {
        order: 3,
        mode: "MIGRATE_SYNC",
        config: { extfragThreshold: 2000 },
      }),
    /Invalid CompactionConfig: extfragThreshold/,
  );
  assert.deepEqual(CompactionConfig.parse({}), {
    extfragThreshold: 500, // vm.extfrag_threshold
    compactUnevictableAllowed: true, // vm.compact_unevictable_allowed
    scanNsPerPage: 2,
    skipExtraRefs: false,
  });
});

Deno.test("skip hints and cached scanner positions", async (t) => {
  const cc = (o: Partial<ConstructorParameters<typeof CompactControl>[1]> = {}) => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 4096 } });
    return new CompactControl(mm, { order: 9, mode: "MIGRATE_ASYNC", ...o });
  };
  await t.step("test_and_set_skip: first caller gets the block, the next is told to skip", () => {
    const c = cc();
    assert.equal(testAndSetSkip(c, 512), false);
    assert.equal(testAndSetSkip(c, 700), true, "same pageblock");
    assert.equal(testAndSetSkip(c, 1024), false, "another pageblock");
  });
  await t.step("ignore_skip_hint never skips; no_set_skip_hint never sets", () => {
    const ign = cc({ ignoreSkipHint: true });
    assert.equal(testAndSetSkip(ign, 0), false);
    assert.equal(testAndSetSkip(ign, 0), false);
    const noset = cc({ noSetSkipHint: true });
    assert.equal(testAndSetSkip(noset, 0), false);
    assert.equal(testAndSetSkip(noset, 0), false);
    assert.equal(noset.state.skip[0], 0);
  });
  await t.step(
    "update_cached_migrate: async moves only the async position, never backwards",
    () => {
      const a = cc();
      updateCachedMigrate(a, 1000);
      assert.deepEqual(a.state.cachedMigratePfn, [1024, 0]);
      updateCachedMigrate(a, 10);
      assert.deepEqual(a.state.cachedMigratePfn, [1024, 0]);
      const s = cc({ mode: "MIGRATE_SYNC_LIGHT" });
      updateCachedMigrate(s, 1536);
      assert.deepEqual(s.state.cachedMigratePfn, [2048, 2048]);
    },
  );
  await t.step("update_pageblock_skip marks the block and pulls the cached free pfn down", () => {
    const c = cc();
    updatePageblockSkip(c, 3584, 3072);
    assert.deepEqual([c.state.skip[7], c.state.cachedFreePfn], [1, 3072]);
    updatePageblockSkip(c, 3584, 3500);
    assert.equal(c.state.cachedFreePfn, 3072, "never pushed back up");
  });
});

Deno.test("compact_result order: max() picks the later result", () => {
  assert.equal(COMPACT_RESULTS.at(-1), "COMPACT_SUCCESS");
  assert.equal(maxResult("COMPACT_SKIPPED", "COMPACT_COMPLETE"), "COMPACT_COMPLETE");
  assert.equal(maxResult("COMPACT_SUCCESS", "COMPACT_DEFERRED"), "COMPACT_SUCCESS");
  assert.equal(maxResult("COMPACT_PARTIAL_SKIPPED", "COMPACT_COMPLETE"), "COMPACT_PARTIAL_SKIPPED");
});
