import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine } from "../../../lib/sim/engine.ts";
import { filemapAddFolio, filemapGetEntry } from "../../../lib/mm/address_space.ts";
import { BlockDevice } from "../../../lib/mm/block_device.ts";
import { filemapReleaseFolio } from "../../../lib/mm/filemap.ts";
import { folioAlloc, folioGetPrivate, folioPut } from "../../../lib/mm/folio.ts";
import { MIGRATE, PG } from "../../../lib/mm/memory.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../../../lib/mm/migrate.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { GFP_KERNEL } from "../../../lib/mm/page_alloc.ts";
import { splitFolio } from "../../../lib/mm/split.ts";
import { truncatePagecache } from "../../../lib/mm/truncate.ts";
import { filemapWriteAndWaitRange } from "../../../lib/mm/writeback.ts";
import {
  ifsAlloc,
  iomapFileBufferedWrite,
  iomapFolioState,
  IomapFs,
  type IomapFsConfigInput,
  iomapSetRangeDirty,
} from "../../../lib/fs/iomap.ts";
import { iomapSplitFolioKeepState } from "../../../lib/fs/iomap_split.ts";

function world(fsConfig: IomapFsConfigInput = {}, version = "6.16", nrFrames = 4096) {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames }, zone: { minFreeKbytes: 0 }, version });
  const fs = new IomapFs(mm, fsConfig);
  const file = fs.createFile({ name: "f", maxOrder: 9 });
  const dev = new BlockDevice(mm, { latency: { kind: "fixed", ns: 10_000 } }).attach(file);
  return { env, mm, fs, file, dev };
}

/** Run a process to completion on the world's engine. */
function run(env: Engine, body: () => Generator<unknown, void, unknown>): void {
  env.spawn("t", body as never);
  const r = env.run({ maxTimeNs: env.nowNs + 1e9 });
  assert.equal(r.reason, "done", r.waits?.text);
}

Deno.test("iomap buffered write: block state only for partial writes of multi-block folios", async (t) => {
  await t.step(
    "a whole-folio write needs no block state; a later partial write allocates one",
    () => {
      const { env, mm, fs, file } = world({ blockSizeBytes: 1024 });
      run(env, function* () {
        yield* iomapFileBufferedWrite(mm, file, 0, 16 * 4096, 1);
      });
      const f = filemapGetEntry(file, 0);
      assert.equal(mm.mem.order[f], 4, "fgf_set_order from the write length");
      assert.equal(fs.stats.ifsAllocs, 0);
      assert.ok(mm.mem.testFlag(f, PG.uptodate) && mm.mem.testFlag(f, PG.dirty));
      run(env, function* () {
        yield* iomapFileBufferedWrite(mm, file, 4096 + 512, 100, 2);
      });
      assert.equal(fs.stats.ifsAllocs, 1);
      const ifs = iomapFolioState(mm, f)!;
      assert.equal(ifs.nrBlocks, 64);
      // Created from a dirty, uptodate folio: every bit set.
      assert.ok(ifs.state.every((b) => b === 1));
      assert.equal(mm.mem.data[f + 1], 2, "page 1 holds the new version");
    },
  );
  await t.step("a partial write into a !uptodate folio reads the partly covered block", () => {
    const { env, mm, fs, file } = world({ blockSizeBytes: 1024 });
    file.backing.set(0, 77);
    const t0 = env.nowNs;
    run(env, function* () {
      yield* iomapFileBufferedWrite(mm, file, 100, 10, 5);
    });
    const f = filemapGetEntry(file, 0);
    const ifs = iomapFolioState(mm, f)!;
    assert.ok(env.nowNs - t0 >= 100_000, "one read latency");
    assert.equal(ifs.state[0], 1, "block 0 uptodate");
    assert.equal(ifs.state[1], 0, "block 1 not read");
    assert.equal(ifs.state[ifs.nrBlocks], 1, "block 0 dirty");
    assert.equal(ifs.state[ifs.nrBlocks + 1], 0);
    assert.ok(!mm.mem.testFlag(f, PG.uptodate), "the folio is partly uptodate");
    assert.equal(fs.stats.ifsAllocs, 1);
  });
  await t.step("single-block folios never get block state (ifs_alloc: nr_blocks ≤ 1)", () => {
    const { env, mm, fs, file } = world({ blockSizeBytes: 4096 });
    run(env, function* () {
      yield* iomapFileBufferedWrite(mm, file, 0, 100, 1);
    });
    const f = filemapGetEntry(file, 0);
    assert.equal(mm.mem.order[f], 0);
    assert.equal(iomapFolioState(mm, f), undefined);
    assert.equal(fs.stats.ifsAllocs, 0);
  });
});

Deno.test("iomap writeback, release and invalidate", async (t) => {
  await t.step("writepages attaches state to a multi-block folio and writes only if dirty", () => {
    const { env, mm, fs, file, dev } = world({ blockSizeBytes: 1024 });
    run(env, function* () {
      yield* iomapFileBufferedWrite(mm, file, 0, 4 * 4096, 9);
      yield* filemapWriteAndWaitRange(mm, file, 0, 3);
    });
    const f = filemapGetEntry(file, 0);
    const ifs = iomapFolioState(mm, f)!;
    assert.equal(ifs.nrBlocks, 16);
    assert.ok(ifs.state.subarray(16).every((b) => b === 0), "dirty bits cleared");
    assert.ok(!mm.mem.testFlag(f, PG.dirty) && !mm.mem.testFlag(f, PG.writeback));
    assert.equal(file.backing.get(3), 9);
    assert.equal(dev.stats.bios, 1);
    assert.equal(fs.stats.foliosWritten, 1);
  });
  await t.step("release: refused while dirty (counted), frees the state once clean", () => {
    const { env, mm, fs, file } = world({ blockSizeBytes: 1024 });
    run(env, function* () {
      yield* iomapFileBufferedWrite(mm, file, 0, 4 * 4096, 1);
      yield* iomapFileBufferedWrite(mm, file, 0, 1024, 2);
    });
    const f = filemapGetEntry(file, 0);
    mm.mem.setFlag(f, PG.locked);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), false);
    assert.equal(fs.stats.releaseRefusedDirty, 1);
    mm.mem.clearFlag(f, PG.locked);
    run(env, function* () {
      yield* filemapWriteAndWaitRange(mm, file, 0, 3);
    });
    mm.mem.setFlag(f, PG.locked);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), true);
    assert.ok(!mm.mem.testFlag(f, PG.private));
    assert.equal(fs.stats.ifsFrees, 1);
    mm.mem.clearFlag(f, PG.locked);
  });
  await t.step("truncation invalidates the whole folio: dirty cancelled, state freed", () => {
    const { env, mm, fs, file } = world({ blockSizeBytes: 1024 });
    run(env, function* () {
      yield* iomapFileBufferedWrite(mm, file, 0, 4 * 4096, 1);
      yield* iomapFileBufferedWrite(mm, file, 0, 1024, 2);
      yield* truncatePagecache(mm, file, 0);
    });
    assert.equal(filemapGetEntry(file, 0), -1);
    assert.equal(fs.stats.ifsFrees, 1);
    assert.equal(mm.vmstat.get("nr_dirty"), 0);
  });
});

/** An order-k folio of `file`, uptodate, every other block dirty, in the page cache only. */
function stripedDirtyFolio(mm: Mm, file: ReturnType<typeof world>["file"], order: number) {
  const f = folioAlloc(mm, order, MIGRATE.MOVABLE);
  filemapAddFolio(mm, file, f, 0);
  folioPut(mm, f);
  mm.mem.setFlag(f, PG.uptodate);
  const ifs = ifsAlloc(mm, f)!;
  const bs = (file.host as IomapFs).config.blockSizeBytes;
  for (let b = 0; b < ifs.nrBlocks; b += 2) iomapSetRangeDirty(mm, f, b * bs, bs);
  mm.mem.setFlag(f, PG.dirty);
  mm.vmstat.inc("nr_dirty", 1 << order);
  return { f, ifs };
}

Deno.test("split refused, migration not (C4.2 / C4.3 mechanics)", async (t) => {
  await t.step("split_folio of a dirty iomap folio: -EBUSY (release refused)", () => {
    const { mm, file } = world({ blockSizeBytes: 1024 });
    const { f } = stripedDirtyFolio(mm, file, 4);
    mm.mem.refcount[f]!++;
    mm.mem.setFlag(f, PG.locked);
    const r = splitFolio(mm, f);
    assert.ok(!r.ok && r.errno === "EBUSY");
    assert.equal(mm.vmstat.get("split_failed_release"), 1);
  });
  await t.step("filemap_migrate_folio moves the very same block state to the new folio", () => {
    const { env, mm, file } = world({ blockSizeBytes: 1024 });
    const { f, ifs } = stripedDirtyFolio(mm, file, 4);
    run(env, function* () {
      assert.ok(isolateFolioForMigration(mm, f));
      const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_ASYNC", "MR_SYSCALL");
      assert.equal(r.nrFailed, 0);
    });
    const now = filemapGetEntry(file, 0);
    assert.notEqual(now, f);
    assert.equal(folioGetPrivate(mm, now), ifs);
    assert.ok(mm.mem.testFlag(now, PG.dirty) && mm.mem.testFlag(now, PG.private));
  });
  await t.step("without ->migrate_folio a dirty folio is refused (-EBUSY, v6.16)", () => {
    const { env, mm, file } = world({ blockSizeBytes: 1024, migrateFolio: false });
    const { f } = stripedDirtyFolio(mm, file, 4);
    run(env, function* () {
      assert.ok(isolateFolioForMigration(mm, f));
      const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
      assert.equal(r.outcomes[0]!.rc, "EBUSY");
      putbackMovablePages(mm, r.failed);
    });
    assert.equal(filemapGetEntry(file, 0), f);
  });
  await t.step("a hugetlbfs-like file: order fixed, never split, migrates whole", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 4096 }, version: "6.12" });
    const fs = new IomapFs(mm);
    const file = fs.createFile({ name: "huge", neverSplitOrder: 9 });
    assert.equal(file.minOrder, 9);
    assert.equal(file.maxOrder, 9);
    const f = folioAlloc(mm, 9, MIGRATE.MOVABLE);
    assert.ok(filemapAddFolio(mm, file, f, 0).ok);
    mm.mem.setFlag(f, PG.uptodate);
    mm.mem.setFlag(f, PG.locked);
    const r = splitFolio(mm, f); // the caller's reference is the allocation's
    assert.ok(!r.ok && r.errno === "EINVAL");
    mm.mem.clearFlag(f, PG.locked);
    folioPut(mm, f);
    run(env, function* () {
      assert.ok(isolateFolioForMigration(mm, f));
      const m = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
      assert.equal(m.nrThpSucceeded, 1);
    });
  });
  await t.step("block size above the page size sets the mapping's minimum order", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 256 } });
    const fs = new IomapFs(mm, { blockSizeBytes: 16384 });
    assert.equal(fs.blockOrder, 2);
    assert.equal(fs.createFile({ name: "lbs" }).minOrder, 2);
    assert.equal(fs.blocksPerFolio(2), 1);
    assert.equal(fs.blocksPerFolio(4), 4);
  });
});

Deno.test("iomapSplitFolioKeepState: uniform 2^k vs non-uniform k+1 (C4.4)", async (t) => {
  for (
    const [order, bs, uniform, folios, allocs] of [
      [4, 1024, true, 16, 16],
      [4, 1024, false, 5, 5],
      [9, 1024, true, 512, 512],
      [9, 1024, false, 10, 10],
      [9, 4096, true, 512, 0],
      [9, 4096, false, 10, 8],
    ] as const
  ) {
    await t.step(`order ${order}, ${bs} B blocks, ${uniform ? "uniform" : "non-uniform"}`, () => {
      const { mm, file } = world({ blockSizeBytes: bs });
      const { f } = stripedDirtyFolio(mm, file, order);
      mm.mem.setFlag(f, PG.locked);
      mm.mem.refcount[f]!++; // the caller's reference
      const r = iomapSplitFolioKeepState(mm, f, f + 5, { uniform });
      assert.ok(r.ok);
      assert.equal(r.value.folios.length, folios);
      assert.equal(r.value.ifsAllocs, allocs);
      // Page 5 ends in its own order-0 folio.
      assert.equal(mm.mem.order[filemapGetEntry(file, 5)], 0);
      // NR_FILE_DIRTY counts the pages of the new folios that hold a dirty block (with 4 KiB
      // blocks the odd pages are clean, so their order-0 folios are cleaned).
      let dirtyPages = 0;
      for (const p of r.value.folios) {
        if (mm.mem.testFlag(p, PG.dirty)) dirtyPages += 1 << mm.mem.order[p]!;
        const even = (p - f) % 2 === 0 || mm.mem.order[p]! > 0 || bs < 4096;
        assert.equal(mm.mem.testFlag(p, PG.dirty), even, `pfn ${p}`);
      }
      assert.equal(mm.vmstat.get("nr_dirty"), dirtyPages);
    });
  }
  await t.step("order 13 at 64 KiB pages with 4 KiB blocks: 8192 vs 14", () => {
    for (const [uniform, n] of [[true, 8192], [false, 14]] as const) {
      const mm = new Mm(new Engine(), {
        memory: { nrFrames: 16384, pageSizeBytes: 65536 },
        version: "6.16",
      });
      const fs = new IomapFs(mm, { blockSizeBytes: 4096 });
      const file = fs.createFile({ name: "f" });
      assert.equal(file.maxOrder, 13);
      const { f } = stripedDirtyFolio(mm, file, 13);
      mm.mem.setFlag(f, PG.locked);
      mm.mem.refcount[f]!++;
      const r = iomapSplitFolioKeepState(mm, f, f + 5, { uniform });
      assert.ok(r.ok && r.value.folios.length === n && r.value.ifsAllocs === n);
    }
  });
});

Deno.test("iomapSplitFolioKeepState property: the per-block state survives the split", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.boolean(), { minLength: 256, maxLength: 256 }),
      fc.integer({ min: 0, max: 63 }),
      fc.boolean(),
      (order, bits, at, uniform) => {
        const { mm, file, fs } = world({ blockSizeBytes: 1024 }, "6.16", 1024);
        const f = folioAlloc(mm, order, MIGRATE.MOVABLE);
        filemapAddFolio(mm, file, f, 0);
        mm.mem.setFlag(f, PG.uptodate);
        const ifs = ifsAlloc(mm, f)!;
        const n = ifs.nrBlocks;
        let anyDirty = false;
        for (let b = 0; b < n; b++) {
          if (bits[b]) {
            ifs.state[n + b] = 1;
            anyDirty = true;
          }
        }
        if (anyDirty) mm.mem.setFlag(f, PG.dirty);
        mm.mem.setFlag(f, PG.locked);
        const splitAt = f + (at % (1 << order));
        const r = iomapSplitFolioKeepState(mm, f, splitAt, { uniform });
        if (!r.ok) return false;
        let expectAllocs = 0;
        for (let idx = 0; idx < 1 << order;) {
          const p = filemapGetEntry(file, idx);
          const pn = fs.blocksPerFolio(mm.mem.order[p]!);
          const st = iomapFolioState(mm, p);
          let dirty = 0;
          for (let b = 0; b < pn; b++) {
            const want = bits[idx * 4 + b] ? 1 : 0;
            dirty += want;
            if (st && st.state[pn + b] !== want) return false;
          }
          if (dirty > 0 !== mm.mem.testFlag(p, PG.dirty)) return false;
          if (dirty > 0 && dirty < pn) {
            expectAllocs++;
            if (!st) return false;
          }
          idx += 1 << mm.mem.order[p]!;
        }
        return r.value.ifsAllocs === expectAllocs;
      },
    ),
    { numRuns: 60, seed: 4 },
  );
});
