import assert from "node:assert/strict";
import { Engine, type Task } from "../../../lib/sim/engine.ts";
import { Rng } from "../../../lib/sim/rng.ts";
import type { WaitTarget } from "../../../lib/sim/wait_queue.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  filemapAddFolio,
  filemapGetEntry,
} from "../../../lib/mm/address_space.ts";
import { checkBuddy } from "../../../lib/mm/buddy_check.ts";
import { folioAlloc, folioEndRead, folioGet, folioPut } from "../../../lib/mm/folio.ts";
import {
  buddyinfo,
  FRAGMENT_MAPPING,
  fragmentZone,
  unusableFreeIndex,
} from "../../../lib/mm/fragment.ts";
import { MIGRATE, NIL, PG } from "../../../lib/mm/memory.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { filemapMigrateFolio, putbackMovablePages } from "../../../lib/mm/migrate.ts";
import {
  COMPACT_PRIO,
  folioAllocGfp,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOIO,
} from "../../../lib/mm/page_alloc.ts";
import { CompactControl, zoneCompactState } from "../../../lib/mm/compact_control.ts";
import { ISOLATE_MODE, isolateMigratepagesBlock } from "../../../lib/mm/compaction_scanners.ts";
import {
  compactMemory,
  compactZone,
  lruAddFragmentFolios,
  tryToCompactPages,
} from "../../../lib/mm/compaction.ts";
import {
  allocContigRange,
  type ContigResult,
  offlinePages,
  type OfflineResult,
} from "../../../lib/mm/contig_range.ts";
import {
  folioEndWriteback,
  folioMarkDirty,
  folioStartWriteback,
} from "../../../lib/mm/writeback.ts";

const MS = 1_000_000;
const BUDDY = 1 << PG.buddy;

/** A 64 MiB zone (32 pageblocks) fragmented by fragment.ts, movable folios mapped on the LRU. */
function fragmented(
  o: { seed?: number; frames?: number; movableOnly?: boolean; cma?: boolean } = {},
) {
  const env = new Engine({ trace: false });
  const frames = o.frames ?? 1 << 14;
  const mm = new Mm(env, {
    memory: { nrFrames: frames },
    zone: { minFreeKbytes: 0, cma: o.cma ? [{ startPfn: 0, endPfn: 2048 }] : [] },
  });
  fragmentZone(mm.zone, new Rng(o.seed ?? 5), {
    utilisation: 0.5,
    fragmentation: 1,
    migratetypeWeights: o.movableOnly ?? true
      ? { unmovable: 0, movable: 1, reclaimable: 0 }
      : { unmovable: 0.15, movable: 0.8, reclaimable: 0.05 },
  });
  const n = lruAddFragmentFolios(mm);
  // Content tags: a unique tag per in-use movable frame.
  let tag = 1;
  for (let p = 0; p < frames; p++) {
    const h = mm.mem.compoundHead(p);
    if (mm.mem.refcount[h]! > 0 && mm.mem.mapping[h] === FRAGMENT_MAPPING) {
      mm.mem.data[p] = tag++;
    }
  }
  return { env, mm, n };
}

/** The sorted content tags of every live anonymous frame. */
function liveTags(mm: Mm): number[] {
  const out: number[] = [];
  for (let p = 0; p < mm.mem.nrFrames; p++) {
    const h = mm.mem.compoundHead(p);
    if (
      (mm.mem.flags[h]! & BUDDY) === 0 && mm.mem.refcount[h]! > 0 &&
      mm.mem.mapping[h] === FRAGMENT_MAPPING
    ) out.push(mm.mem.data[p]!);
  }
  return out.sort((a, b) => a - b);
}

function blocksAtLeast(mm: Mm, order: number): number {
  return buddyinfo(mm.zone).slice(order).reduce((a, b) => a + b, 0);
}

function request(name: string, server: Task | null): WaitTarget {
  return server
    ? { describe: () => name, holders: () => [server] }
    : { describe: () => name, holders: () => [], hung: true };
}

Deno.test("compactZone frees a block of the requested order in a fragmented zone", async (t) => {
  await t.step("order 9, MIGRATE_SYNC_LIGHT: COMPACT_SUCCESS, contents preserved", () => {
    const { env, mm, n } = fragmented();
    assert.ok(n > 1000);
    const before = buddyinfo(mm.zone);
    assert.equal(blocksAtLeast(mm, 9), 0, "no free order-9 block to begin with");
    const tags = liveTags(mm);
    let result = "";
    env.spawn("kcompactd", function* () {
      const cc = new CompactControl(mm, {
        order: 9,
        mode: "MIGRATE_SYNC_LIGHT",
        gfpMask: GFP_HIGHUSER_MOVABLE,
      });
      result = yield* compactZone(mm, cc);
    });
    assert.equal(env.run().reason, "done");
    assert.equal(result, "COMPACT_SUCCESS");
    const after = buddyinfo(mm.zone);
    assert.ok(blocksAtLeast(mm, 9) >= 1, `before ${before} after ${after}`);
    assert.deepEqual(liveTags(mm), tags, "every page's contents survive, somewhere");
    assert.deepEqual(checkBuddy(mm.zone), []);
    assert.ok(mm.vmstat.get("pgmigrate_success") > 0);
    assert.ok(mm.vmstat.get("compact_migrate_scanned") > 0);
    assert.ok(mm.vmstat.get("compact_free_scanned") > 0);
    assert.equal(mm.vmstat.get("nr_isolated_anon"), 0);
    assert.deepEqual(env.violations, []);
  });
  await t.step("compact_memory compacts the whole zone", () => {
    const { env, mm } = fragmented({ seed: 8 });
    const unusableBefore = unusableFreeIndex(mm.zone, 9);
    const tags = liveTags(mm);
    let cc: CompactControl | null = null;
    env.spawn("sysctl", function* () {
      cc = yield* compactMemory(mm);
    });
    env.run();
    const unusableAfter = unusableFreeIndex(mm.zone, 9);
    assert.equal(unusableBefore, 1000);
    assert.ok(unusableAfter < 500, `unusable free index ${unusableAfter}`);
    assert.ok(cc!.nrMigrated > 0);
    assert.deepEqual(liveTags(mm), tags);
    assert.deepEqual(checkBuddy(mm.zone), []);
  });
  await t.step("direct compaction through the page allocator serves an order-9 request", () => {
    const { env, mm } = fragmented({ seed: 11 });
    let f = NIL;
    env.spawn("thp-fault", function* () {
      f = yield* folioAllocGfp(mm, 9, GFP_HIGHUSER_MOVABLE);
    });
    env.run();
    assert.ok(f >= 0, "allocated");
    assert.equal(mm.mem.order[f], 9);
    assert.ok(mm.vmstat.get("compact_stall") >= 1);
    assert.equal(mm.vmstat.get("compact_success"), 1);
  });
});

Deno.test("isolateMigratepagesBlock: what async compaction will not isolate", async (t) => {
  function fourFolios() {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 2048 }, zone: { minFreeKbytes: 0 } });
    const withMigrate = AddressSpace.create(mm, {
      name: "xfs",
      aops: { migrateFolio: filemapMigrateFolio },
    });
    const without = AddressSpace.create(mm, { name: "nomigrate" });
    const add = (m: AddressSpace, i: number) => {
      const f = folioAlloc(mm, 0);
      filemapAddFolio(mm, m, f, i);
      folioPut(mm, f);
      mm.mem.setFlag(f, PG.uptodate);
      return f;
    };
    const clean = add(withMigrate, 0);
    const wb = add(withMigrate, 1);
    folioStartWriteback(mm, wb);
    const dirtyNoMigrate = add(without, 0);
    folioMarkDirty(mm, dirtyNoMigrate);
    const dirtyMigrate = add(withMigrate, 2);
    folioMarkDirty(mm, dirtyMigrate);
    return { mm, clean, wb, dirtyNoMigrate, dirtyMigrate };
  }
  for (const mode of ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT"] as const) {
    await t.step(`${mode}: skips writeback and dirty folios without ->migrate_folio`, () => {
      const { mm, clean, dirtyMigrate } = fourFolios();
      const cc = new CompactControl(mm, { order: 9, mode, ignoreSkipHint: true });
      isolateMigratepagesBlock(
        cc,
        0,
        512,
        ISOLATE_MODE.ASYNC_MIGRATE | ISOLATE_MODE.UNEVICTABLE,
      );
      assert.deepEqual(cc.migratepages.sort((a, b) => a - b), [clean, dirtyMigrate]);
      putbackMovablePages(mm, cc.migratepages);
    });
  }
  await t.step("MIGRATE_SYNC isolates all four", () => {
    const { mm } = fourFolios();
    const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_SYNC", ignoreSkipHint: true });
    isolateMigratepagesBlock(cc, 0, 512, ISOLATE_MODE.UNEVICTABLE);
    assert.equal(cc.migratepages.length, 4);
    putbackMovablePages(mm, cc.migratepages);
    assert.equal(mm.vmstat.get("nr_isolated_file"), 0);
  });
  await t.step("a pinned anonymous folio (refcount − 1 > mapcount) is not isolated", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 2048 }, zone: { minFreeKbytes: 0 } });
    const a = folioAlloc(mm, 0), b = folioAlloc(mm, 0);
    mm.mem.mapping[a] = FRAGMENT_MAPPING;
    mm.mem.mapping[b] = FRAGMENT_MAPPING;
    lruAddFragmentFolios(mm);
    folioGet(mm, b); // GUP pin
    const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_SYNC", ignoreSkipHint: true });
    isolateMigratepagesBlock(cc, 0, 512, ISOLATE_MODE.UNEVICTABLE);
    assert.deepEqual(cc.migratepages, [a]);
    assert.equal(mm.mem.refcount[b], 2, "the probe's reference was dropped");
    putbackMovablePages(mm, cc.migratepages);
  });
  await t.step("the pageblock is marked skip once scanned without isolating anything", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 2048 }, zone: { minFreeKbytes: 0 } });
    const cc = new CompactControl(mm, { order: 9, mode: "MIGRATE_ASYNC" });
    isolateMigratepagesBlock(cc, 0, 512, ISOLATE_MODE.ASYNC_MIGRATE);
    assert.equal(zoneCompactState(mm.zone).skip[0], 1);
  });
});

Deno.test("tryToCompactPages: skipped without __GFP_IO, deferred after failures", () => {
  const { env, mm } = fragmented({ movableOnly: false, seed: 3 });
  // Make compaction fail: pin every movable folio.
  for (let p = 0; p < mm.mem.nrFrames; p++) {
    if (mm.mem.mapping[p] === FRAGMENT_MAPPING && mm.mem.refcount[p]! > 0) folioGet(mm, p);
  }
  const results: string[] = [];
  env.spawn("alloc", function* () {
    results.push(yield* tryToCompactPages(mm, 9, GFP_NOIO, 0, COMPACT_PRIO.ASYNC));
    results.push(yield* tryToCompactPages(mm, 9, GFP_KERNEL, 0, COMPACT_PRIO.SYNC_LIGHT));
    results.push(yield* tryToCompactPages(mm, 9, GFP_KERNEL, 0, COMPACT_PRIO.SYNC_LIGHT));
  });
  env.run();
  assert.equal(results[0], "COMPACT_SKIPPED");
  assert.ok(
    results[1] === "COMPACT_COMPLETE" || results[1] === "COMPACT_PARTIAL_SKIPPED",
    results[1],
  );
  assert.equal(results[2], "COMPACT_DEFERRED");
});

Deno.test("allocContigRange (CMA / alloc_contig_pages)", async (t) => {
  function fileSetup() {
    const env = new Engine({ trace: true });
    const mm = new Mm(env, { memory: { nrFrames: 4096 }, zone: { minFreeKbytes: 0 } });
    const mapping = AddressSpace.create(mm, {
      name: "file",
      aops: { migrateFolio: filemapMigrateFolio },
      maxOrder: 9,
    });
    // Four folios in the first pageblock: order 0, 0, 2, 3.
    const folios: number[] = [];
    let index = 0;
    for (const order of [0, 0, 2, 3]) {
      index = (index + (1 << order) - 1) & ~((1 << order) - 1);
      const f = folioAlloc(mm, order);
      assert.ok(f < 512);
      filemapAddFolio(mm, mapping, f, index);
      folioPut(mm, f);
      mm.mem.setFlag(f, PG.uptodate);
      for (let i = 0; i < 1 << order; i++) mm.mem.data[f + i] = 500 + index + i;
      folios.push(f);
      index += 1 << order;
    }
    return { env, mm, mapping, folios };
  }
  function run(env: Engine, mm: Mm, start = 0, end = 512, maxTimeNs?: number) {
    const out = { r: null as ContigResult | null, doneNs: -1, task: null as unknown as Task };
    out.task = env.spawn("cma_alloc", function* () {
      out.r = yield* allocContigRange(mm, start, end, MIGRATE.MOVABLE);
      out.doneNs = env.nowNs;
    });
    const result = env.run(maxTimeNs === undefined ? {} : { maxTimeNs });
    return { ...out, result };
  }
  await t.step("migrates every folio out of the range and takes it", () => {
    const { env, mm, mapping } = fileSetup();
    const { r } = run(env, mm);
    assert.ok(r!.ok);
    for (let p = 0; p < 512; p++) assert.equal(mm.mem.refcount[p], 1, `frame ${p} allocated`);
    for (let i = 0; i < 14; i++) {
      const f = filemapGetEntry(mapping, i);
      if (f < 0) continue;
      assert.ok(f >= 512, "moved out");
      assert.equal(mm.mem.data[f + i - mm.mem.index[f]!], 500 + i, "contents moved");
      assert.ok(mm.mem.order[f]! <= 3);
    }
    assert.equal(mm.zone.nrIsolatePageblock, 0);
    assert.deepEqual(env.violations, []);
  });
  await t.step("a pinned folio: -EBUSY naming it, isolation undone", () => {
    const { env, mm, folios } = fileSetup();
    folioGet(mm, folios[2]!);
    const { r } = run(env, mm);
    assert.ok(!r!.ok);
    assert.equal(r!.errno, "EBUSY");
    assert.equal(r!.failedPfn, folios[2]);
    assert.equal(mm.zone.nrIsolatePageblock, 0);
    assert.equal(mm.zone.getPageblockMigratetype(0), MIGRATE.MOVABLE);
    assert.ok(mm.mem.testFlag(folios[2]!, PG.lru), "put back on the LRU");
  });
  await t.step("a folio under writeback: MIGRATE_SYNC waits, then the range is taken", () => {
    const { env, mm, folios } = fileSetup();
    const f = folios[1]!;
    const dev = env.spawn("bdev", function* (env) {
      yield env.sleep(3 * MS);
      yield* folioEndWriteback(mm, f);
    });
    folioStartWriteback(mm, f, request("WRITE request #1", dev));
    const { r, doneNs } = run(env, mm);
    assert.ok(r!.ok);
    assert.ok(doneNs >= 3 * MS);
  });
  await t.step("C4.5: writeback that never ends — never finishes within T", () => {
    const { env, mm, folios } = fileSetup();
    folioStartWriteback(mm, folios[0]!, request("FUSE writeback request #9 (server hung)", null));
    const { r, task, result } = run(env, mm, 0, 512, 1000 * MS);
    assert.equal(r, null);
    assert.ok(!task.done);
    assert.equal(result.waits?.kind, "hung");
    assert.match(result.waits!.text, /cma_alloc#\d+ waits for PG_writeback of pfn 0/);
    assert.match(result.waits!.text, /FUSE writeback request #9/);
  });
  await t.step("MIGRATE_CMA range full of movable folios", () => {
    const env = new Engine();
    const mm = new Mm(env, {
      memory: { nrFrames: 4096 },
      zone: { minFreeKbytes: 0, cma: [{ startPfn: 0, endPfn: 2560 }] },
    });
    // Movable allocations prefer CMA while more than half the free memory is CMA.
    const folios: number[] = [];
    for (let i = 0; i < 700; i++) {
      const f = folioAlloc(mm, 0);
      mm.mem.mapping[f] = FRAGMENT_MAPPING;
      folios.push(f);
    }
    lruAddFragmentFolios(mm);
    const inCma = folios.filter((f) => f < 1024).length;
    assert.ok(inCma > 100, `${inCma} folios in the CMA area`);
    let r: ContigResult | null = null;
    env.spawn("cma_alloc", function* () {
      r = yield* allocContigRange(mm, 0, 1024, MIGRATE.CMA);
    });
    env.run();
    assert.ok(r!.ok);
    assert.equal(mm.vmstat.get("pgmigrate_success"), inCma);
  });
});

Deno.test("offlinePages (memory hot-unplug)", async (t) => {
  function setup() {
    const env = new Engine({ trace: true });
    const mm = new Mm(env, { memory: { nrFrames: 4096 }, zone: { minFreeKbytes: 0 } });
    const mapping = AddressSpace.create(mm, {
      name: "fuse",
      aops: { migrateFolio: filemapMigrateFolio },
    });
    const folios: number[] = [];
    for (let i = 0; i < 8; i++) {
      const f = folioAlloc(mm, 0);
      filemapAddFolio(mm, mapping, f, i);
      folioPut(mm, f);
      mm.mem.setFlag(f, PG.uptodate);
      folios.push(f);
    }
    return { env, mm, mapping, folios };
  }
  function run(env: Engine, mm: Mm, timeoutNs?: number, maxTimeNs?: number) {
    const out = { r: null as OfflineResult | null, doneNs: -1, task: null as unknown as Task };
    out.task = env.spawn("offline", function* () {
      out.r = yield* offlinePages(mm, 0, 512, timeoutNs === undefined ? {} : { timeoutNs });
      out.doneNs = env.nowNs;
    });
    const result = env.run(maxTimeNs === undefined ? {} : { maxTimeNs });
    return { ...out, result };
  }
  await t.step("migrates the block's folios away and takes its frames offline", () => {
    const { env, mm, mapping } = setup();
    const { r } = run(env, mm);
    assert.ok(r!.ok);
    for (let i = 0; i < 8; i++) assert.ok(filemapGetEntry(mapping, i) >= 512);
    for (let p = 0; p < 512; p++) assert.ok(mm.mem.testFlag(p, PG.reserved));
    assert.equal(mm.zone.nrIsolatePageblock, 0);
  });
  await t.step("C4.5: a read the FUSE server never answers — never finishes within T", () => {
    const { env, mm, folios } = setup();
    const f = folios[3]!;
    // A readahead folio: locked, not uptodate, the lock held by the outstanding FUSE_READ.
    mm.mem.clearFlag(f, PG.uptodate);
    mm.mem.setFlag(f, PG.locked);
    mm.setBitHolder(f, PG.locked, request("FUSE_READ request #4 (server hung)", null));
    const { r, task, result } = run(env, mm, undefined, 1000 * MS);
    assert.equal(r, null, "offline_pages did not return");
    assert.ok(!task.done);
    assert.equal(result.waits?.kind, "hung");
    assert.match(result.waits!.text, new RegExp(`offline#\\d+ waits for PG_locked of pfn ${f}`));
    assert.match(result.waits!.text, /FUSE_READ request #4/);
  });
  await t.step("…and a finite server latency lets it finish after the reply", () => {
    const { env, mm, folios } = setup();
    const f = folios[3]!;
    mm.mem.clearFlag(f, PG.uptodate);
    mm.mem.setFlag(f, PG.locked);
    const server = env.spawn("fuse-server", function* (env) {
      yield env.sleep(50 * MS);
      folioEndRead(mm, f, true);
    });
    mm.setBitHolder(f, PG.locked, request("FUSE_READ request #4", server));
    const { r, doneNs } = run(env, mm);
    assert.ok(r!.ok);
    assert.ok(doneNs >= 50 * MS);
  });
  await t.step("a pinned folio: retries until the signal (timeout), then -EINTR", () => {
    const { env, mm, folios } = setup();
    folioGet(mm, folios[5]!);
    const { r, doneNs } = run(env, mm, 10 * MS);
    assert.ok(!r!.ok);
    assert.equal(r!.errno, "EINTR");
    if (!r!.ok) assert.equal(r!.reason, "signal backoff");
    assert.ok(r!.passes > 10, `${r!.passes} passes`);
    assert.ok(doneNs >= 10 * MS);
    assert.equal(mm.zone.nrIsolatePageblock, 0);
    assert.ok(mm.mem.testFlag(folios[5]!, PG.lru));
  });
});

Deno.test("dirty folios of a mapping with ->migrate_folio are not unmigratable", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 4096 }, zone: { minFreeKbytes: 0 } });
  const aops: AddressSpaceOperations = {
    migrateFolio: filemapMigrateFolio,
    releaseFolio: (mm, _m, f) => !mm.mem.testFlag(f, PG.dirty), // iomap
  };
  const mapping = AddressSpace.create(mm, { name: "xfs", aops, maxOrder: 4 });
  const f = folioAlloc(mm, 4);
  filemapAddFolio(mm, mapping, f, 0);
  folioPut(mm, f);
  mm.mem.setFlag(f, PG.uptodate);
  folioMarkDirty(mm, f);
  let r: ContigResult | null = null;
  env.spawn("cma_alloc", function* () {
    r = yield* allocContigRange(mm, 0, 512, MIGRATE.MOVABLE);
  });
  env.run();
  assert.ok(r!.ok, "the dirty order-4 folio moved whole");
  const now = filemapGetEntry(mapping, 0);
  assert.equal(mm.mem.order[now], 4);
  assert.ok(mm.mem.testFlag(now, PG.dirty));
  assert.equal(mm.vmstat.get("thp_split_page") + mm.vmstat.get("mthp_split_order_4"), 0);
});
