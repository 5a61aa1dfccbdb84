import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  constructRangeFill,
  type ConstructRanges,
  Engine,
  filemapAddFolio,
  filemapGetEntry,
  filemapReadConstruct,
  folioAlloc,
  folioPut,
  iSizeWrite,
  mappingConstructRanges,
  Mm,
  PG,
} from "../../../mod.ts";

const tagOf = (i: number) => 1000 + i;

interface ServerOptions {
  /** Latency of one range read, ns. */
  latencyNs?: number;
  /** Indices whose async read fails (the range ends with an error at that page). */
  failAsync?: Set<number>;
  /** Indices whose synchronous re-read fails too. */
  failSync?: Set<number>;
  /** Largest range per read. */
  maxPages?: number;
}

/**
 * A filesystem whose reads of a range are served by a server task after a latency: each page
 * is filled (allocated + inserted uptodate at arrival) unless it is set to fail.
 */
function world(o: ServerOptions = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 512 } });
  const m = AddressSpace.create(mm, { name: "fuse ino 1" });
  const t = mappingConstructRanges(m);
  const lat = o.latencyNs ?? 1000;
  function* serve(
    mm: Mm,
    t: ConstructRanges,
    r: ReturnType<ConstructRanges["begin"]>[0],
    fail: Set<number>,
  ) {
    yield mm.env.sleep(lat);
    for (let i = r.start; i < r.end; i++) {
      if (fail.has(i)) {
        t.end(mm, r, false);
        return -5;
      }
      yield* constructRangeFill(mm, t, r, i, tagOf(i));
    }
    t.end(mm, r, true);
    return 0;
  }
  t.ops = {
    maxPagesPerRange: o.maxPages ?? 32,
    *readRange(mm, t, r, sync) {
      if (sync) return yield* serve(mm, t, r, o.failSync ?? new Set());
      const req = mm.env.spawn(
        `server[${r.start},${r.end})`,
        () => serve(mm, t, r, o.failAsync ?? new Set()),
      );
      r.owner = req;
      return 0;
    },
  };
  // The proposal's promise: no locked, not-uptodate folio in the page cache, ever.
  env.invariant("no locked !uptodate placeholder", () => {
    for (let i = 0; i < 128; i++) {
      const f = filemapGetEntry(m, i);
      if (f >= 0 && mm.mem.testFlag(f, PG.locked) && !mm.mem.testFlag(f, PG.uptodate)) {
        return `index ${i}: pfn ${f} locked and not uptodate`;
      }
    }
  });
  return { env, mm, m, t };
}

function read(env: Engine, mm: Mm, m: AddressSpace, index: number, count: number, delayNs = 0) {
  const out: { tags: number[] | null; errno: string | null; at: number } = {
    tags: null,
    errno: null,
    at: -1,
  };
  env.spawn(`reader@${index}`, function* (e) {
    if (delayNs) yield e.sleep(delayNs);
    const r = yield* filemapReadConstruct(mm, m, index, count);
    if (r.ok) out.tags = r.value;
    else out.errno = r.errno;
    out.at = e.nowNs;
  });
  return out;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => tagOf(a + k));

Deno.test("ConstructRanges.begin records only pages neither cached nor under construction", async (t) => {
  await t.step(
    "splits around cached pages and existing ranges, at most maxPagesPerRange each",
    () => {
      const { mm, m, t: tr } = world({ maxPages: 3 });
      filemapAddFolio(mm, m, folioAlloc(mm, 0), 2);
      tr.begin(mm, 5, 7, -1, null);
      const rs = tr.begin(mm, 0, 12, 9, null);
      assert.deepEqual(rs.map((r) => [r.start, r.end, r.markIndex]), [
        [0, 2, -1],
        [3, 5, -1],
        [7, 10, 9],
        [10, 12, -1],
      ]);
      assert.equal(tr.pagesUnderConstruction, 2 + 2 + 2 + 3 + 2);
      assert.equal(tr.find(6)!.start, 5);
      assert.equal(tr.find(2), undefined, "cached, not under construction");
      assert.deepEqual([tr.stats.begun, tr.stats.maxPages], [5, 11]);
    },
  );
  await t.step("end is once: a second end changes nothing; failed and unfilled are counted", () => {
    const { mm, t: tr } = world();
    const [r] = tr.begin(mm, 0, 4, -1, null);
    tr.end(mm, r!, false);
    tr.end(mm, r!, true);
    assert.deepEqual([r!.done, r!.error, tr.stats.failed, tr.stats.unfilled], [true, true, 1, 4]);
    assert.equal(tr.pagesUnderConstruction, 0);
    assert.equal(tr.find(1), undefined);
  });
});

Deno.test("constructRangeFill inserts a folio uptodate and unlocked in one step", async (t) => {
  await t.step("data, flags and references as a page-cache folio after folio_end_read", () => {
    const { env, mm, m, t: tr } = world();
    const [r] = tr.begin(mm, 0, 4, 2, null);
    const got: number[] = [];
    env.spawn("reply", function* () {
      for (const i of [1, 2]) got.push(yield* constructRangeFill(mm, tr, r!, i, tagOf(i)));
    });
    env.run();
    const [f1, f2] = got as [number, number];
    for (const f of [f1, f2]) {
      assert.equal(mm.mem.testFlag(f, PG.uptodate), true);
      assert.equal(mm.mem.testFlag(f, PG.locked), false);
      assert.equal(mm.mem.refcount[f], 1, "the page cache's reference only");
    }
    assert.deepEqual([mm.mem.data[f1], filemapGetEntry(m, 2)], [tagOf(1), f2]);
    assert.deepEqual([mm.mem.testFlag(f1, PG.readahead), mm.mem.testFlag(f2, PG.readahead)], [
      false,
      true,
    ]);
    assert.deepEqual([r!.filled, tr.stats.filled], [2, 2]);
  });
  await t.step("an index taken meanwhile: -1, the data is dropped, the folio freed", () => {
    const { env, mm, m, t: tr } = world();
    const [r] = tr.begin(mm, 0, 1, -1, null);
    const other = folioAlloc(mm, 0);
    filemapAddFolio(mm, m, other, 0);
    folioPut(mm, other);
    const free = mm.zone.nrFreePages;
    let got = 0;
    env.spawn("late reply", function* () {
      got = yield* constructRangeFill(mm, tr, r!, 0, 7);
    });
    env.run();
    assert.equal(got, -1);
    assert.equal(filemapGetEntry(m, 0), other);
    assert.equal(mm.zone.nrFreePages, free, "no leak");
    assert.equal(r!.filled, 0);
  });
  await t.step("a given folio (a page stolen from a pipe) is used instead of a new one", () => {
    const { env, mm, m, t: tr } = world();
    const [r] = tr.begin(mm, 3, 4, -1, null);
    const stolen = folioAlloc(mm, 0);
    env.spawn("splice reply", function* () {
      assert.equal(yield* constructRangeFill(mm, tr, r!, 3, 5, stolen), stolen);
    });
    env.run();
    assert.equal(filemapGetEntry(m, 3), stolen);
  });
});

Deno.test("filemapReadConstruct: readers wait on the range, not on a folio lock", async (t) => {
  await t.step("one reader: a readahead window, the data at arrival, no placeholder folios", () => {
    const { env, mm, m } = world();
    const a = read(env, mm, m, 0, 4);
    const r = env.run();
    assert.equal(r.reason, "done", JSON.stringify(r.violations));
    assert.deepEqual(a.tags, range(0, 4));
    assert.equal(a.at, 1000);
    const kinds = env.trace!.kinds((e) =>
      e.kind.startsWith("construct_") || e.kind.startsWith("folio_wait")
    );
    assert.deepEqual(kinds.slice(0, 3), [
      "construct_readahead",
      "construct_range_begin",
      "construct_range_wait",
    ]);
    assert.ok(!kinds.some((k) => k.startsWith("folio_wait")), "nobody waited on a folio bit");
  });
  await t.step("a second reader inside the range waits for it and gets the same data", () => {
    const { env, mm, m, t: tr } = world();
    const a = read(env, mm, m, 0, 2);
    const b = read(env, mm, m, 1, 1, 10);
    env.run();
    assert.deepEqual([a.tags, b.tags, a.at, b.at], [range(0, 2), range(1, 2), 1000, 1000]);
    assert.equal(tr.stats.begun, 1, "the second reader started no read of its own");
    assert.equal(tr.stats.waits, 2);
  });
  await t.step("a sequential reader reaching the async mark starts the next window", () => {
    const { env, mm, m } = world();
    const a = read(env, mm, m, 0, 40);
    env.run();
    assert.deepEqual(a.tags, range(0, 40));
    const ra = env.trace!.ofKind("construct_readahead").map((e) =>
      (e.after as { async: boolean }).async
    );
    assert.ok(ra.length >= 2 && ra[0] === false && ra.slice(1).every((x) => x), ra.join());
  });
  await t.step("a page the readahead failed is read once more synchronously", () => {
    const { env, mm, m, t: tr } = world({ failAsync: new Set([2]) });
    const a = read(env, mm, m, 0, 4);
    env.run();
    assert.deepEqual(a.tags, range(0, 4));
    assert.ok(tr.stats.failed >= 1);
  });
  await t.step("if the synchronous read fails too: EIO, after the pages that did arrive", () => {
    const { env, mm, m } = world({ failAsync: new Set([2]), failSync: new Set([2]) });
    const a = read(env, mm, m, 0, 4);
    const b = read(env, mm, m, 2, 1, 5000);
    env.run();
    assert.deepEqual(a.tags, range(0, 2), "a short read");
    assert.equal(b.errno, "EIO");
  });
  await t.step("the read stops at i_size", () => {
    const { env, mm, m, t: tr } = world();
    iSizeWrite(m, 3);
    const a = read(env, mm, m, 1, 10);
    env.run();
    assert.deepEqual(a.tags, range(1, 3));
    assert.equal(filemapGetEntry(m, 3), -1, "readahead stops at EOF too");
    assert.equal(tr.pagesUnderConstruction, 0);
  });
  await t.step("a range whose reply never comes: the reader's wait names who holds it", () => {
    const { env, mm, m, t: tr } = world();
    tr.ops!.readRange = function* (_mm, _t, r) {
      r.owner = { describe: () => "FUSE_READ #1", hung: true };
      return 0;
    };
    read(env, mm, m, 0, 1);
    const r = env.run();
    assert.equal(r.waits!.kind, "hung");
    assert.deepEqual(r.waits!.hung[0], [
      "reader@0#0",
      "construct ranges of fuse ino 1",
      "FUSE_READ #1",
    ]);
  });
});

Deno.test("filemapReadConstruct property: concurrent readers read the right data or EIO, never a placeholder", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ at: fc.nat(40), count: fc.integer({ min: 1, max: 12 }), delay: fc.nat(3000) }),
        {
          minLength: 1,
          maxLength: 5,
        },
      ),
      fc.uniqueArray(fc.nat(52), { maxLength: 4 }),
      fc.integer({ min: 1, max: 8 }),
      (readers, fails, maxPages) => {
        const { env, mm, m } = world({ failAsync: new Set(fails), maxPages });
        const outs = readers.map((r) => ({ r, out: read(env, mm, m, r.at, r.count, r.delay) }));
        const res = env.run();
        assert.equal(res.reason, "done", JSON.stringify(res.violations));
        for (const { r, out } of outs) {
          assert.deepEqual(out.tags, range(r.at, r.at + r.count), JSON.stringify(r));
        }
      },
    ),
    { numRuns: 60 },
  );
});
