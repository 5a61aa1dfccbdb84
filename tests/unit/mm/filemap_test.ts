import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  AOP_TRUNCATED_PAGE,
  Engine,
  fgfSetOrder,
  FGP,
  filemapAddFolio,
  filemapAddFolioLocked,
  filemapGetEntry,
  filemapGetFolioErr,
  filemapGetPages,
  filemapInvalidateLock,
  filemapInvalidateUnlock,
  filemapRead,
  filemapReleaseFolio,
  folioAlloc,
  folioAttachPrivate,
  folioNeedsRelease,
  folioPut,
  folioTestLocked,
  folioTrylock,
  folioUnlock,
  genericPerformWrite,
  GFP_KERNEL,
  iSizeWrite,
  Mm,
  newContentTag,
  PG,
  random,
  SimpleFs,
  truncateInodeFolio,
  truncatePagecacheRange,
} from "../../../mod.ts";
import { LAT, READ_KINDS, reader, setup, timeline } from "./_filemap_fixture.ts";

Deno.test("filemapRead returns content tags", async (t) => {
  await t.step("a cache miss reads through readahead and returns the backing tag", () => {
    const { env, mm, file, fs } = setup();
    const a = reader(env, mm, file, 0);
    const r = env.run();
    assert.equal(r.reason, "done");
    assert.deepEqual(a.out.tags, [file.backing.get(0)]);
    assert.equal(a.out.at, LAT);
    assert.equal(fs.stats.readBios, 1);
    // The reader waited on the lock of the readahead folio, then looked it up again.
    assert.deepEqual(timeline(env, a.task, READ_KINDS), [
      "page_cache_sync_ra",
      "filemap_update_page",
      "folio_put_wait_locked",
      "aop_truncated_page",
      "mm_filemap_get_pages",
      "filemap_read",
    ]);
  });

  await t.step("a hole reads as tag 0; the read stops at i_size", () => {
    const { env, mm, file } = setup();
    file.backing.delete(2);
    iSizeWrite(file, 4);
    const a = reader(env, mm, file, 1, 10);
    env.run();
    assert.deepEqual(a.out.tags, [file.backing.get(1), 0, file.backing.get(3)]);
  });

  await t.step("IOCB_NOIO and IOCB_NOWAIT return EAGAIN on a miss without reading", () => {
    const { env, mm, file, fs } = setup();
    const res: string[] = [];
    env.spawn("nowait", function* () {
      const a = yield* filemapRead(mm, file, 0, 1, { noio: true });
      res.push(a.ok ? "ok" : a.errno);
      const b = yield* filemapGetPages(mm, file, 5, 1, { nowait: true, noio: true });
      res.push(b.ok ? "ok" : b.errno);
    });
    env.run();
    assert.deepEqual(res, ["EAGAIN", "EAGAIN"]);
    assert.equal(fs.stats.readBios, 0);
  });
});

Deno.test("filemap_update_page", async (t) => {
  await t.step(
    "a reader racing with a slow read I/O waits on the lock and returns the backing tag",
    () => {
      const { env, mm, file } = setup();
      const a = reader(env, mm, file, 0);
      let b!: ReturnType<typeof reader>;
      env.spawn("later", function* (e) {
        yield e.sleep(10_000);
        b = reader(env, mm, file, 0);
      });
      env.run();
      assert.deepEqual(a.out.tags, [file.backing.get(0)]);
      assert.deepEqual(b.out.tags, [file.backing.get(0)]);
      assert.equal(b.out.at, LAT, "B is released by the I/O completion, not before");
      // B found the folio locked and !uptodate: no readahead, wait, look up again.
      assert.deepEqual(timeline(env, b.task, READ_KINDS), [
        "filemap_update_page",
        "folio_put_wait_locked",
        "aop_truncated_page",
        "mm_filemap_get_pages",
        "filemap_read",
      ]);
      assert.equal(env.violations.length, 0);
    },
  );

  await t.step("a reader finding a folio unlocked but !uptodate reads it with ->read_folio", () => {
    const { env, mm, file, fs } = setup();
    let bios = 0;
    fs.failRead = () => bios++ === 0; // the readahead bio fails, later reads succeed
    const a = reader(env, mm, file, 0);
    env.run();
    assert.deepEqual(a.out.tags, [file.backing.get(0)]);
    assert.equal(fs.stats.readBios, 2);
    assert.equal(fs.stats.readErrors, 1);
    assert.deepEqual(timeline(env, a.task, READ_KINDS), [
      "page_cache_sync_ra",
      "filemap_update_page",
      "folio_put_wait_locked",
      "aop_truncated_page",
      "filemap_update_page", // trylock succeeds, !uptodate → read_folio
      "filemap_read_folio",
      "mm_filemap_get_pages",
      "filemap_read",
    ]);
    assert.equal(a.out.at, 2 * LAT);
  });

  await t.step("if the synchronous re-read fails too, the read returns EIO", () => {
    const { env, mm, file, fs } = setup();
    fs.failRead = () => true;
    const a = reader(env, mm, file, 0);
    env.run();
    assert.equal(a.out.errno, "EIO");
    assert.equal(a.out.tags, null);
    const f = filemapGetEntry(file, 0);
    assert.ok(f >= 0 && !mm.mem.testFlag(f, PG.uptodate) && !mm.mem.testFlag(f, PG.locked));
  });

  await t.step("a folio truncated between lookup and lock is looked up again", () => {
    // The readahead bio fails at t=LAT; truncation runs at the same instant, in the window
    // between the reader's lookup (it holds a reference) and its trylock.
    const { env, mm, file, fs } = setup();
    let bios = 0;
    fs.failRead = () => bios++ === 0;
    const trunc = env.spawn("punch", function* () {
      yield* filemapInvalidateLock(mm, file);
      yield* truncatePagecacheRange(mm, file, 0, Infinity);
      filemapInvalidateUnlock(mm, file);
    }, { delayNs: LAT });
    const a = reader(env, mm, file, 0);
    env.run();
    assert.deepEqual(a.out.tags, [file.backing.get(0)]);
    const updates = env.trace!.ofKind("filemap_update_page").filter((e) => e.task === a.task.id);
    // Wait for the failed read; find the folio truncated (mapping NULL) after taking its lock;
    // then wait for the read of the new folio.
    assert.deepEqual(updates.map((e) => e.before), ["locked", "truncated", "locked"]);
    assert.equal(updates[1]!.after, AOP_TRUNCATED_PAGE);
    assert.ok(trunc.done);
    assert.equal(fs.stats.readBios, 2, "the new folio was read again");
  });
});

Deno.test("filemapReleaseFolio", async (t) => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 64 } });
  const released: number[] = [];
  const file = AddressSpace.create(mm, {
    name: "r",
    aops: {
      releaseFolio(mm, _m, folio) {
        released.push(folio);
        return !mm.mem.testFlag(folio, PG.dirty);
      },
    },
  });
  const f = folioAlloc(mm, 0);
  filemapAddFolio(mm, file, f, 0);
  folioTrylock(mm, f);

  await t.step("nothing to release: true without calling ->release_folio", () => {
    assert.equal(folioNeedsRelease(mm, f), false);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), true);
    assert.deepEqual(released, []);
  });

  await t.step("PG_private_2 needs release; under writeback it is refused", () => {
    mm.mem.setFlag(f, PG.private_2);
    assert.equal(folioNeedsRelease(mm, f), true);
    mm.mem.setFlag(f, PG.writeback);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), false);
    assert.deepEqual(released, []);
    mm.mem.clearFlag(f, PG.writeback);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), true);
    assert.deepEqual(released, [f]);
    mm.mem.clearFlag(f, PG.private_2);
  });

  await t.step("->release_folio decides (an iomap-like refusal of dirty folios)", () => {
    folioAttachPrivate(mm, f, { blocks: 1 });
    mm.mem.setFlag(f, PG.dirty);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), false);
    mm.mem.clearFlag(f, PG.dirty);
    assert.equal(filemapReleaseFolio(mm, f, GFP_KERNEL), true);
  });

  await t.step("without ->release_folio, buffers go unless dirty (try_to_free_buffers)", () => {
    const plain = AddressSpace.create(mm, { name: "plain", releaseAlways: true });
    const g = folioAlloc(mm, 0);
    filemapAddFolio(mm, plain, g, 0);
    folioTrylock(mm, g);
    assert.equal(folioNeedsRelease(mm, g), true, "AS_RELEASE_ALWAYS");
    folioAttachPrivate(mm, g, { bh: 1 });
    mm.mem.setFlag(g, PG.dirty);
    assert.equal(filemapReleaseFolio(mm, g, GFP_KERNEL), false);
    mm.mem.clearFlag(g, PG.dirty);
    assert.equal(filemapReleaseFolio(mm, g, GFP_KERNEL), true);
    assert.equal(mm.mem.testFlag(g, PG.private), false);
  });

  await t.step("the folio must be locked", () => {
    const g = folioAlloc(mm, 0);
    assert.throws(() => filemapReleaseFolio(mm, g, GFP_KERNEL), /not locked/);
  });
});

Deno.test("filemapGetFolio (__filemap_get_folio)", async (t) => {
  await t.step("FGP_LOCK sleeps on a locked folio; FGP_NOWAIT returns EAGAIN", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "g" });
    const f = folioAlloc(mm, 0);
    filemapAddFolioLocked(mm, file, f, 0);
    const res: string[] = [];
    env.spawn("nowait", function* () {
      const r = yield* filemapGetFolioErr(mm, file, 0, FGP.LOCK | FGP.NOWAIT);
      res.push(r.ok ? "ok" : r.errno);
    });
    env.spawn("lock", function* (e) {
      const r = yield* filemapGetFolioErr(mm, file, 0, FGP.LOCK);
      res.push(r.ok ? `locked@${e.nowNs}` : r.errno);
    });
    env.spawn("owner", function* (e) {
      yield e.sleep(7);
      folioUnlock(mm, f);
    });
    env.run();
    assert.deepEqual(res, ["EAGAIN", "locked@7"]);
  });

  await t.step("a folio truncated while we waited for its lock is looked up again", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "g" });
    const f = folioAlloc(mm, 0);
    filemapAddFolioLocked(mm, file, f, 0);
    folioPut(mm, f);
    const oldRef = mm.ref(f);
    let got = -2;
    env.spawn("writer", function* () {
      const r = yield* filemapGetFolioErr(mm, file, 0, FGP.LOCK | FGP.CREAT);
      got = r.ok ? r.value : -1;
    });
    env.spawn("truncate", function* (e) {
      yield e.sleep(5);
      yield* truncateInodeFolio(mm, file, f); // we hold its lock
      folioUnlock(mm, f);
    });
    env.run();
    assert.ok(got >= 0);
    assert.ok(!mm.isLive(oldRef), "the truncated folio was freed");
    assert.equal(filemapGetEntry(file, 0), got);
    assert.ok(folioTestLocked(mm, got));
    assert.equal(mm.mem.mapping[got], file.id);
  });

  await t.step("FGP_CREAT honours the mapping's minimum order and aligns the index", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "lbs", minOrder: 2, maxOrder: 3 });
    let f = -1;
    let g = -1;
    env.spawn("w", function* () {
      const r = yield* filemapGetFolioErr(mm, file, 6, FGP.LOCK | FGP.CREAT);
      if (r.ok) f = r.value;
      const s = yield* filemapGetFolioErr(mm, file, 9, FGP.LOCK | FGP.CREAT | fgfSetOrder(3));
      if (s.ok) g = s.value;
    });
    env.run();
    assert.equal(mm.mem.order[f], 2);
    assert.equal(mm.mem.index[f], 4);
    assert.equal(mm.mem.order[g], 3, "order 3 requested, index 9 rounds down to 8");
    assert.equal(mm.mem.index[g], 8);
  });

  await t.step("FGP_FOR_MMAP returns the new folio unlocked", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "m" });
    let f = -1;
    env.spawn("fault", function* () {
      const r = yield* filemapGetFolioErr(mm, file, 1, FGP.CREAT | FGP.FOR_MMAP);
      if (r.ok) f = r.value;
    });
    env.run();
    assert.ok(f >= 0 && !folioTestLocked(mm, f));
  });

  await t.step("-EEXIST at a large order falls back to smaller orders (no livelock)", () => {
    // __filemap_get_folio (v6.10/v6.12): an order-2 folio at 0 collides with the folio at 1
    // (-EEXIST); the loop goes on with order 1 (collides again) and order 0, which fits.
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "m", maxOrder: 2 });
    const n = folioAlloc(mm, 0);
    filemapAddFolio(mm, file, n, 1);
    folioPut(mm, n);
    let f = -1;
    env.spawn("w", function* () {
      const r = yield* filemapGetFolioErr(mm, file, 0, FGP.LOCK | FGP.CREAT | fgfSetOrder(2));
      if (r.ok) f = r.value;
    });
    assert.equal(env.run().reason, "done");
    assert.equal(mm.mem.order[f], 0);
    assert.equal(mm.mem.index[f], 0);
    assert.equal(filemapGetEntry(file, 1), n, "the neighbour is untouched");
  });
});

Deno.test("genericPerformWrite", async (t) => {
  await t.step("copies the tag, marks the folio uptodate and dirty, extends i_size", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "w" });
    iSizeWrite(file, 1);
    const tag = newContentTag(mm);
    env.spawn("w", function* () {
      const r = yield* genericPerformWrite(mm, file, 3, tag);
      assert.ok(r.ok);
    });
    env.run();
    const f = filemapGetEntry(file, 3);
    assert.equal(mm.mem.data[f], tag);
    assert.ok(mm.mem.testFlag(f, PG.uptodate) && mm.mem.testFlag(f, PG.dirty));
    assert.ok(!folioTestLocked(mm, f));
    assert.equal(file.latest.get(3), tag);
    assert.equal(mm.mem.refcount[f], 1, "only the page cache's reference remains");
  });

  await t.step("a partial write to a large !uptodate folio reads the rest first", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = AddressSpace.create(mm, { name: "w", minOrder: 2, maxOrder: 2 });
    for (let i = 0; i < 4; i++) file.backing.set(i, 100 + i);
    const tag = newContentTag(mm);
    env.spawn("w", function* () {
      yield* genericPerformWrite(mm, file, 1, tag);
    });
    env.run();
    const f = filemapGetEntry(file, 0);
    assert.deepEqual([...mm.mem.data.subarray(f, f + 4)], [100, tag, 102, 103]);
  });
});

Deno.test("property: readers racing failed reads and hole punches see only backing data", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.array(
        fc.record({
          at: fc.nat(300_000),
          index: fc.nat(15),
          count: fc.integer({ min: 1, max: 6 }),
        }),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      fc.array(
        fc.record({ at: fc.nat(300_000), start: fc.nat(15), len: fc.integer({ min: 1, max: 8 }) }),
        {
          maxLength: 3,
        },
      ),
      fc.double({ min: 0, max: 0.5, noNaN: true }),
      (seed, reads, punches, errP) => {
        const env = new Engine({ seed, strategy: random(seed) });
        const mm = new Mm(env, { memory: { nrFrames: 512 } });
        const fs = new SimpleFs(mm, {
          readLatency: { kind: "uniform", minNs: 1_000, maxNs: 50_000 },
          readErrorProbability: errP,
        });
        const file = fs.createFile({ name: "p", sizePages: 16, fillPages: 16 });
        const results: { index: number; tags: number[] | null; errno: string | null }[] = [];
        for (const r of reads) {
          env.spawn("reader", function* () {
            const x = yield* filemapRead(mm, file, r.index, r.count);
            results.push({
              index: r.index,
              tags: x.ok ? x.value : null,
              errno: x.ok ? null : x.errno,
            });
          }, { delayNs: r.at });
        }
        for (const p of punches) {
          env.spawn("punch", function* () {
            yield* filemapInvalidateLock(mm, file);
            yield* truncatePagecacheRange(mm, file, p.start, p.start + p.len - 1);
            filemapInvalidateUnlock(mm, file);
          }, { delayNs: p.at });
        }
        const run = env.run({ maxSteps: 200_000 });
        assert.equal(run.reason, "done", `seed ${seed}: ${run.reason}`);
        assert.deepEqual(run.violations, []);
        for (const r of results) {
          if (r.tags === null) {
            assert.equal(r.errno, "EIO");
            continue;
          }
          // A read may be short only at EOF or when a later page failed.
          assert.ok(r.tags.length >= 1);
          r.tags.forEach((t, k) => assert.equal(t, file.backing.get(r.index + k)));
        }
      },
    ),
    { numRuns: 60 },
  );
});
