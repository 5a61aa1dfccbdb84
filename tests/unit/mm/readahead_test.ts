import assert from "node:assert/strict";
import {
  AddressSpace,
  Engine,
  filemapGetEntry,
  filemapRead,
  type FileRaState,
  fileRaStateInit,
  folioEndRead,
  iSizeWrite,
  Mm,
  pageCacheAsyncRa,
  pageCacheRaOrder,
  PF_MEMALLOC_NOFS,
  PG,
  readaheadControl,
  readaheadFolio,
  SimpleFs,
} from "../../../mod.ts";

function setup(opts: { minOrder?: number; maxOrder?: number; raPages?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 2048 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 10_000 } });
  const file = fs.createFile({
    name: "f",
    sizePages: 512,
    fillPages: 512,
    minOrder: opts.minOrder,
    maxOrder: opts.maxOrder,
  });
  const ra = fileRaStateInit(mm, opts.raPages);
  return { env, mm, fs, file, ra };
}

/** Indices of the cached pages whose folio carries PG_readahead. */
function marks(mm: Mm, file: AddressSpace): number[] {
  const out: number[] = [];
  file.pages.forEach((i, f) => {
    if (mm.mem.index[f] === i && mm.mem.testFlag(f, PG.readahead)) out.push(i);
  });
  return out.sort((a, b) => a - b);
}

function cached(file: AddressSpace): number[] {
  const out: number[] = [];
  file.pages.forEach((i) => out.push(i));
  return out.sort((a, b) => a - b);
}

function readSeq(env: Engine, mm: Mm, file: AddressSpace, ra: FileRaState, ranges: number[][]) {
  const got: number[][] = [];
  env.spawn("reader", function* () {
    for (const [index, count] of ranges) {
      const r = yield* filemapRead(mm, file, index!, count!, { ra });
      got.push(r.ok ? r.value : []);
    }
  });
  env.run();
  return got;
}

Deno.test("page_cache_sync_ra / ondemand_readahead", async (t) => {
  await t.step("a first read of one page at 0 reads a window of 4, marked at 1", () => {
    const { env, mm, file, ra, fs } = setup();
    readSeq(env, mm, file, ra, [[0, 1]]);
    assert.deepEqual({ start: ra.start, size: ra.size, asyncSize: ra.asyncSize }, {
      start: 0,
      size: 4,
      asyncSize: 3,
    });
    assert.deepEqual(cached(file), [0, 1, 2, 3]);
    assert.deepEqual(marks(mm, file), [1]);
    assert.equal(fs.stats.readBios, 1, "one bio for the batch (->readahead)");
  });

  await t.step("reading the marked page starts the next window asynchronously", () => {
    const { env, mm, file, ra } = setup();
    readSeq(env, mm, file, ra, [[0, 1], [1, 1]]);
    // expected index = start + size - async = 1 → the window moves to 4 and ramps to 8.
    assert.deepEqual({ start: ra.start, size: ra.size, asyncSize: ra.asyncSize }, {
      start: 4,
      size: 8,
      asyncSize: 8,
    });
    assert.deepEqual(cached(file), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(marks(mm, file), [4], "the mark was consumed and set on the new window");
    const kinds = env.trace!.kinds((e) => e.kind.startsWith("page_cache_"));
    assert.deepEqual(kinds, [
      "page_cache_sync_ra",
      "page_cache_ra_unbounded",
      "page_cache_async_ra",
      "page_cache_ra_unbounded",
    ]);
  });

  await t.step("a sequential stream ramps the window up to ra_pages", () => {
    const { env, mm, file, ra } = setup();
    const ranges: number[][] = [];
    for (let i = 0; i < 100; i++) ranges.push([i, 1]);
    const got = readSeq(env, mm, file, ra, ranges);
    assert.deepEqual(got.map((g) => g[0]), ranges.map(([i]) => file.backing.get(i!)));
    assert.equal(ra.size, 32, "VM_READAHEAD_PAGES at 4 KiB");
    assert.equal(env.violations.length, 0);
  });

  await t.step("a small random read reads only the request and keeps the state", () => {
    const { env, mm, file, ra } = setup();
    readSeq(env, mm, file, ra, [[0, 1]]);
    const before = { ...ra };
    readSeq(env, mm, file, ra, [[300, 1]]);
    assert.ok(filemapGetEntry(file, 300) >= 0);
    assert.equal(filemapGetEntry(file, 301), -1);
    assert.deepEqual(
      { start: ra.start, size: ra.size, asyncSize: ra.asyncSize },
      { start: before.start, size: before.size, asyncSize: before.asyncSize },
    );
  });

  await t.step("ra_pages 0 (readahead off) reads one page, unmarked", () => {
    const { env, mm, file, ra } = setup({ raPages: 0 });
    readSeq(env, mm, file, ra, [[10, 4]]);
    assert.deepEqual(cached(file), [10, 11, 12, 13], "then one miss at a time");
    assert.deepEqual(marks(mm, file), []);
  });

  await t.step("a read with no history reads the request, clamped to i_size", () => {
    const { env, mm, file, ra } = setup();
    const got = readSeq(env, mm, file, ra, [[500, 20]]);
    assert.equal(got[0]!.length, 12, "a short read at EOF");
    assert.deepEqual(cached(file), [500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511]);
  });
});

Deno.test("readahead with large and minimum-order folios", async (t) => {
  await t.step("a mapping with large folios reads in aligned large folios", () => {
    const { env, mm, file, ra } = setup({ maxOrder: 2 });
    readSeq(env, mm, file, ra, [[0, 1]]);
    // The first window (4 pages, async 3) is one order-2 folio; the mark (page 1) is rounded
    // down to the folio (ra_alloc_folio, v6.8+), so folio 0 is marked — and the read itself
    // meets the mark at once: page_cache_async_ra clears it and, at index 0, starts an
    // initial window over the folios already there. No PG_readahead is left.
    assert.equal(mm.mem.order[filemapGetEntry(file, 0)], 2);
    assert.deepEqual(marks(mm, file), []);
    readSeq(env, mm, file, ra, [[1, 3], [4, 1]]);
    // The sequential miss at 4 (= start + size) pushes the window (8 pages, all async); the
    // read starts at the window's start, so it would hit its own marker at once: the next
    // window is merged in (size 8 + 16, async 16), marked at 4 + 24 - 16 = 12.
    assert.deepEqual({ start: ra.start, size: ra.size, asyncSize: ra.asyncSize }, {
      start: 4,
      size: 24,
      asyncSize: 16,
    });
    for (let i = 4; i < 28; i += 4) {
      const f = filemapGetEntry(file, i);
      assert.equal(mm.mem.order[f], 2);
      assert.equal(mm.mem.index[f], i);
    }
    assert.deepEqual(marks(mm, file), [12]);
  });

  await t.step("ra_alloc_folio marks only the folio containing the mark (round_down, v6.8)", () => {
    // Jan Kara's example in "readahead: avoid multiple marked readahead pages": window from 1
    // with mark 1; folios of order 0 at 1, 1 at 2, 2 at 4 and 0 at 8. round_up marked 1, 2
    // and 4; round_down marks 1 only.
    const { env, mm, file } = setup({ maxOrder: 2 });
    const ra = { ...fileRaStateInit(mm), start: 1, size: 8, asyncSize: 8 };
    env.spawn("ra", function* () {
      yield* pageCacheRaOrder(mm, readaheadControl(file, ra, 1), 0);
    });
    env.run();
    assert.deepEqual(cached(file), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(mm.mem.order[filemapGetEntry(file, 2)], 1);
    assert.equal(mm.mem.order[filemapGetEntry(file, 4)], 2);
    assert.deepEqual(marks(mm, file), [1]);
  });

  await t.step("a min-order mapping aligns the window and the mark to the minimum folio", () => {
    const { env, mm, file, ra } = setup({ minOrder: 2, maxOrder: 2 });
    const got = readSeq(env, mm, file, ra, [[5, 1]]);
    assert.deepEqual(got, [[file.backing.get(5)]]);
    file.pages.forEach((_i, f) => assert.equal(mm.mem.order[f], 2));
    for (const i of cached(file)) assert.equal(mm.mem.index[filemapGetEntry(file, i)]! % 4, 0);
  });
});

Deno.test("page_cache_async_ra", async (t) => {
  await t.step("a marked folio under writeback means PG_reclaim: no readahead", () => {
    const { env, mm, file, ra } = setup();
    readSeq(env, mm, file, ra, [[0, 1]]);
    const f1 = filemapGetEntry(file, 1);
    mm.mem.setFlag(f1, PG.writeback);
    const n = file.nrpages;
    env.spawn("async", function* () {
      yield* pageCacheAsyncRa(mm, readaheadControl(file, ra, 1), f1, 1);
    });
    env.run();
    assert.equal(file.nrpages, n);
    assert.ok(mm.mem.testFlag(f1, PG.readahead), "the bit is left alone");
    mm.mem.clearFlag(f1, PG.writeback);
  });
});

Deno.test("readahead runs in a NOFS scope", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const scopes: boolean[] = [];
  const file = AddressSpace.create(mm, {
    name: "scope",
    aops: {
      *readahead(mm, rac) {
        scopes.push((mm.env.current!.flags & PF_MEMALLOC_NOFS) !== 0);
        for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) {
          mm.mem.data[f] = 0;
          mm.mem.setFlag(f, PG.uptodate);
          mm.mem.clearFlag(f, PG.locked);
        }
        yield mm.env.point();
      },
    },
  });
  let flagsAfter = -1;
  env.spawn("reader", function* (e) {
    yield* filemapRead(mm, file, 0, 1);
    flagsAfter = e.current!.flags;
  });
  env.run();
  assert.deepEqual(scopes, [true], "->readahead called inside memalloc_nofs_save()");
  assert.equal(flagsAfter & PF_MEMALLOC_NOFS, 0, "scope restored");
  void SimpleFs;
});

Deno.test("read_pages cleans up the folios ->readahead left in the batch", () => {
  // A ->readahead that reads only the first folio and leaves the rest (as fuse_readahead does
  // with the asynchronous part of a congested connection).
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const file = AddressSpace.create(mm, {
    name: "lazy",
    aops: {
      *readahead(mm, rac) {
        const f = readaheadFolio(mm, rac);
        if (f >= 0) folioEndRead(mm, f, true);
        yield mm.env.point();
      },
      *readFolio(mm, _m, folio) {
        folioEndRead(mm, folio, true);
        yield mm.env.point();
        return 0;
      },
    },
  });
  iSizeWrite(file, 64);
  const ra = fileRaStateInit(mm);
  const got: number[][] = [];
  env.spawn("reader", function* () {
    const r = yield* filemapRead(mm, file, 0, 1, { ra });
    got.push(r.ok ? r.value : []);
  });
  const run = env.run();
  assert.equal(run.reason, "done", "no reader is left waiting on a folio lock");
  // The window was 4 pages with a 3-page asynchronous tail: all three left over were in the
  // tail, so each shrank size and async_size and was removed from the page cache, unlocked.
  assert.deepEqual(cached(file), [0]);
  assert.equal(ra.size, 1);
  assert.equal(ra.asyncSize, 0);
  for (let f = 0; f < 256; f++) {
    if (mm.mem.refcount[f] === 0) continue;
    assert.ok(!mm.mem.testFlag(f, PG.locked), `frame ${f} left locked`);
  }
});
