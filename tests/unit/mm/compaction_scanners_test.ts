import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  checkBuddy,
  COMPACT_CLUSTER_MAX,
  CompactControl,
  type CompactControlOptions,
  Engine,
  filemapAddFolio,
  filemapMigrateFolio,
  folioAlloc,
  folioPut,
  FRAGMENT_MAPPING,
  GFP_HIGHUSER_MOVABLE,
  GFP_NOFS,
  ISOLATE_MODE,
  isolateFreepagesBlock,
  isolateMigratepagesBlock,
  lruAddFragmentFolios,
  MIGRATE,
  Mm,
  PG,
  putbackMovablePages,
  zoneCompactState,
} from "../../../mod.ts";
import {
  compactionAlloc,
  compactionFree,
  isolateMigratepages,
  releaseFreepages,
} from "../../../lib/mm/compaction_scanners.ts";

const SYNC = ISOLATE_MODE.UNEVICTABLE;
const ASYNC = ISOLATE_MODE.ASYNC_MIGRATE | ISOLATE_MODE.UNEVICTABLE;

/** 4096 frames, a file with ->migrate_folio; `orders` folios cached from pfn 0 up. */
function world(orders: number[] = []) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 4096 }, zone: { minFreeKbytes: 0 } });
  const file = AddressSpace.create(mm, {
    name: "f",
    aops: { migrateFolio: filemapMigrateFolio },
    maxOrder: 9,
  });
  const folios: number[] = [];
  let index = 0;
  for (const order of orders) {
    index = (index + (1 << order) - 1) & ~((1 << order) - 1);
    const f = folioAlloc(mm, order);
    filemapAddFolio(mm, file, f, index);
    folioPut(mm, f);
    mm.mem.setFlag(f, PG.uptodate);
    folios.push(f);
    index += 1 << order;
  }
  const cc = (o: Partial<CompactControlOptions> = {}) =>
    new CompactControl(mm, { order: 9, mode: "MIGRATE_SYNC", ignoreSkipHint: true, ...o });
  return { env, mm, file, folios, cc };
}

/**
 * Take every free frame, then free the last pageblock except one frame: the free scanner then
 * finds blocks below pageblock order there (larger free blocks are no migration targets).
 */
function fragmentTop(mm: Mm): void {
  const taken: number[] = [];
  for (let f; (f = folioAlloc(mm, 0)) >= 0;) taken.push(f);
  for (const f of taken) {
    if (f >= 4096 - 512 && f !== 4096 - 256) folioPut(mm, f);
  }
}

const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b);

/** The last mm_compaction_isolate_migratepages event's counters. */
function lastScan(env: Engine) {
  return env.trace!.ofKind("mm_compaction_isolate_migratepages").at(-1)!.after as {
    nrScanned: number;
    nrIsolated: number;
  };
}

Deno.test("isolateMigratepagesBlock isolates in batches of COMPACT_CLUSTER_MAX", async (t) => {
  await t.step("40 folios: 32 isolated, the scanner stops after the 32nd", () => {
    const { mm, folios, cc } = world(new Array(40).fill(0));
    const c = cc();
    isolateMigratepagesBlock(c, 0, 512, SYNC);
    assert.equal(c.migratepages.length, COMPACT_CLUSTER_MAX);
    assert.deepEqual(sorted(c.migratepages), sorted(folios).slice(0, 32));
    assert.equal(c.migratePfn, sorted(folios)[31]! + 1);
    assert.equal(mm.vmstat.get("nr_isolated_file"), 32);
    putbackMovablePages(mm, c.migratepages);
    assert.equal(mm.vmstat.get("nr_isolated_file"), 0);
  });
  await t.step("finish_pageblock: the whole block", () => {
    const { mm, cc } = world(new Array(40).fill(0));
    const c = cc();
    c.finishPageblock = true;
    isolateMigratepagesBlock(c, 0, 512, SYNC);
    assert.equal(c.migratepages.length, 40);
    putbackMovablePages(mm, c.migratepages);
  });
});

Deno.test("isolateMigratepagesBlock: what it will not isolate", async (t) => {
  await t.step("unevictable folios without ISOLATE_UNEVICTABLE", () => {
    const { mm, folios, cc } = world([0, 0]);
    mm.mem.setFlag(folios[1]!, PG.unevictable);
    const without = cc();
    isolateMigratepagesBlock(without, 0, 512, 0);
    assert.deepEqual(without.migratepages, [folios[0]]);
    putbackMovablePages(mm, without.migratepages);
    const withIt = cc();
    isolateMigratepagesBlock(withIt, 0, 512, SYNC);
    assert.deepEqual(sorted(withIt.migratepages), sorted(folios));
    putbackMovablePages(mm, withIt.migratepages);
  });
  await t.step("GFP_NOFS compaction: anonymous folios only, no page cache", () => {
    const { mm, folios, cc } = world([0]);
    const anon = folioAlloc(mm, 0);
    mm.mem.mapping[anon] = FRAGMENT_MAPPING;
    lruAddFragmentFolios(mm);
    const c = cc({ gfpMask: GFP_NOFS });
    isolateMigratepagesBlock(c, 0, 512, SYNC);
    assert.deepEqual(c.migratepages, [anon]);
    assert.equal(mm.mem.refcount[folios[0]!], 1, "the probe reference was dropped");
    putbackMovablePages(mm, c.migratepages);
  });
  await t.step("large folios of the target order or above are stepped over whole", () => {
    const { env, mm, folios, cc } = world([2, 3, 4]);
    const c = cc({ order: 3 });
    isolateMigratepagesBlock(c, 0, 512, SYNC);
    assert.deepEqual(c.migratepages, [folios[0]]);
    // 4 pages isolated, 8 + 16 stepped over, the rest of the block is one free run per order.
    assert.ok(lastScan(env).nrScanned <= 512);
    putbackMovablePages(mm, c.migratepages);
    const contig = cc({ order: -1, allocContig: true });
    isolateMigratepagesBlock(contig, 0, 512, SYNC);
    assert.deepEqual(sorted(contig.migratepages), sorted(folios), "alloc_contig takes any order");
    putbackMovablePages(mm, contig.migratepages);
  });
  await t.step("a pageblock marked skip is not scanned; ignore_skip_hint scans it", () => {
    const { env, mm, cc } = world([0, 0]);
    zoneCompactState(mm.zone).skip[0] = 1;
    const c = cc({ ignoreSkipHint: false, mode: "MIGRATE_ASYNC" });
    isolateMigratepagesBlock(c, 0, 512, ASYNC);
    assert.deepEqual([c.migratepages.length, lastScan(env).nrScanned], [0, 1]);
    const i = cc({ mode: "MIGRATE_ASYNC" });
    isolateMigratepagesBlock(i, 0, 512, ASYNC);
    assert.equal(i.migratepages.length, 2);
    putbackMovablePages(mm, i.migratepages);
  });
  await t.step(
    "direct async compaction gives up an order-aligned block at its first failure",
    () => {
      // isolate_migratepages_block's skip_on_failure: folio 1 is under writeback, so the
      // order-2 block [0, 4) cannot become free; what was isolated there goes back.
      const { mm, folios, cc } = world(new Array(8).fill(0));
      assert.deepEqual(sorted(folios), [0, 1, 2, 3, 4, 5, 6, 7]);
      mm.mem.setFlag(1, PG.writeback);
      const c = cc({ order: 2, mode: "MIGRATE_ASYNC", directCompaction: true });
      isolateMigratepagesBlock(c, 0, 512, ASYNC);
      assert.deepEqual(sorted(c.migratepages), [4, 5, 6, 7]);
      assert.equal(c.migratePfn, 8, "stops once a whole aligned block is isolated");
      assert.ok(mm.mem.testFlag(0, PG.lru), "folio 0 was put back");
      putbackMovablePages(mm, c.migratepages);
    },
  );
});

Deno.test("isolateMigratepages: direct async compaction scans only suitable pageblocks", () => {
  const { env, mm, cc } = world();
  // Folios in pageblocks 0 and 1; pageblock 0 is marked UNMOVABLE.
  const f0 = folioAlloc(mm, 0);
  const f1 = mm.zone.allocPages(0, MIGRATE.MOVABLE, true);
  for (const f of [f0, f1]) mm.mem.mapping[f] = FRAGMENT_MAPPING;
  lruAddFragmentFolios(mm);
  const other = (() => {
    // Put one folio in pageblock 1 by taking frames until one lands there.
    const taken: number[] = [];
    let f = -1;
    while ((f = folioAlloc(mm, 0)) < 512) taken.push(f);
    for (const t of taken) folioPut(mm, t);
    mm.mem.mapping[f] = FRAGMENT_MAPPING;
    lruAddFragmentFolios(mm);
    return f;
  })();
  mm.zone.setPageblockMigratetype(0, MIGRATE.UNMOVABLE);
  const c = cc({
    order: 9,
    mode: "MIGRATE_ASYNC",
    directCompaction: true,
    gfpMask: GFP_HIGHUSER_MOVABLE,
  });
  c.migratePfn = 0;
  c.freePfn = 4096 - 512;
  let rc = "";
  env.spawn("kcompactd", function* () {
    rc = yield* isolateMigratepages(c);
  });
  env.run();
  assert.equal(rc, "ISOLATE_SUCCESS");
  assert.ok(
    c.migratepages.length > 0 && c.migratepages.every((p) => p >= 512),
    `${c.migratepages}`,
  );
  assert.ok(c.migratepages.includes(other));
  putbackMovablePages(mm, c.migratepages);
});

Deno.test("isolateFreepagesBlock", async (t) => {
  await t.step("strict: stops at the first page in use and reports nothing isolated", () => {
    const { mm, cc } = world([0]); // pfn 0 in use, the rest of block 0 free
    const c = cc();
    c.nrMigratepages = 1 << 20;
    assert.equal(isolateFreepagesBlock(c, 0, 512, 1, true), 0);
    assert.equal(c.blockPfn, 0);
    assert.equal(mm.zone.nrFreePages, 4095, "nothing taken");
  });
  await t.step("not strict: isolates free blocks whole until there are enough", () => {
    const { mm, cc } = world([0]);
    const c = cc();
    c.nrMigratepages = 3;
    const n = isolateFreepagesBlock(c, 0, 512, 1, false);
    // Free blocks after pfn 0: 1 (order 0), 2 (order 1): 3 pages are enough.
    assert.equal(n, 3);
    assert.deepEqual([c.freepages[0], c.freepages[1]], [[1], [2]]);
    assert.equal(mm.zone.nrFreePages, 4095 - 3);
    assert.equal(releaseFreepages(c), 2, "the highest pfn given back");
    assert.equal(mm.zone.nrFreePages, 4095);
    assert.deepEqual(checkBuddy(mm.zone), []);
  });
});

Deno.test("compactionAlloc splits the smallest isolated block; compactionFree takes a target back", () => {
  const { env, mm, folios, cc } = world([0, 2]);
  fragmentTop(mm);
  const free0 = mm.zone.nrFreePages;
  const c = cc();
  c.nrMigratepages = 5;
  c.migratePfn = 0;
  c.freePfn = 4096 - 512;
  const got: number[] = [];
  env.spawn("migrate", function* () {
    const alloc = compactionAlloc(c);
    got.push(yield* alloc(mm, folios[0]!)); // order 0: isolates free blocks first
    got.push(yield* alloc(mm, folios[1]!)); // order 2
  });
  env.run();
  for (const [i, dst] of got.entries()) {
    assert.ok(dst >= 0);
    assert.equal(mm.mem.refcount[dst], 1);
    assert.equal(mm.mem.order[dst], [0, 2][i]);
    assert.equal(dst & ((1 << [0, 2][i]!) - 1), 0, "aligned");
    assert.ok(!mm.mem.testFlag(dst, PG.buddy));
  }
  const held = c.nrFreepages;
  compactionFree(c)(mm, got[1]!);
  assert.equal(c.nrFreepages, held + 4, "an unused target goes back on the run's lists");
  releaseFreepages(c);
  assert.equal(c.nrFreepages, 0);
  mm.mem.refcount[got[0]!] = 0;
  mm.zone.freePages(got[0]!, 0);
  assert.equal(mm.zone.nrFreePages, free0, "every isolated page given back");
  assert.deepEqual(checkBuddy(mm.zone), []);
});

Deno.test("compaction free-list property: alloc / free / release give back every isolated page", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ order: fc.nat(3), keep: fc.boolean() }), {
        minLength: 1,
        maxLength: 12,
      }),
      (reqs) => {
        const { env, mm, cc } = world();
        const srcs = reqs.map((r) => folioAlloc(mm, r.order));
        fragmentTop(mm);
        const before = mm.zone.nrFreePages;
        const c = cc({ mode: "MIGRATE_SYNC" });
        c.migratePfn = 0;
        c.freePfn = 4096 - 512;
        const inUse = reqs.reduce((a, r) => a + (1 << r.order), 0);
        c.nrMigratepages = inUse;
        const kept: number[] = [];
        env.spawn("migrate", function* () {
          const alloc = compactionAlloc(c);
          const free = compactionFree(c);
          for (const [i, r] of reqs.entries()) {
            const dst = yield* alloc(mm, srcs[i]!);
            assert.ok(dst >= 0);
            assert.equal(mm.mem.order[dst], r.order);
            if (r.keep) kept.push(dst);
            else free(mm, dst);
          }
        });
        env.run();
        releaseFreepages(c);
        const keptPages = kept.reduce((a, d) => a + (1 << mm.mem.order[d]!), 0);
        assert.equal(mm.zone.nrFreePages, before - keptPages);
        for (const d of kept) {
          mm.mem.refcount[d] = 0;
          mm.mem.flags[d] = 0;
          for (let p = d; p < d + (1 << mm.mem.order[d]!); p++) mm.mem.head[p] = -1;
          mm.zone.freePages(d, mm.mem.order[d]!);
        }
        assert.equal(mm.zone.nrFreePages, before);
        assert.deepEqual(checkBuddy(mm.zone), []);
      },
    ),
    { numRuns: 50 },
  );
});
