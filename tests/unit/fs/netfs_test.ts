import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  type AddressSpace,
  allocMigrationTarget,
  Engine,
  exhaustive,
  explore,
  filemapAddFolio,
  filemapGetEntry,
  folioAlloc,
  folioEndPrivate2,
  folioIsolateLru,
  folioLock,
  folioPut,
  folioStartPrivate2,
  folioTrylock,
  folioUnlock,
  folioWaitPrivate2,
  GFP_KERNEL,
  isolateFolioForMigration,
  migratePages,
  Mm,
  Netfs,
  type NetfsConfigInput,
  PG,
  private2Stats,
  putbackMovablePages,
  scanControl,
  shrinkFolioList,
  truncateInodePagesRange,
} from "../../../mod.ts";

function world(version = "6.12", cfg: NetfsConfigInput = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 64 }, version });
  const fs = new Netfs(mm, {
    serverLatency: { kind: "fixed", ns: 1000 },
    cacheWriteLatency: { kind: "fixed", ns: 500 },
    ...cfg,
  });
  const file = fs.createFile({ name: "f", fillPages: 4 });
  return { env, mm, fs, file };
}

/** Add a locked folio at `index` held only by the page cache, as readahead does. */
function readaheadFolio(mm: Mm, file: AddressSpace, index: number): number {
  const f = folioAlloc(mm, 0);
  assert.ok(folioTrylock(mm, f));
  assert.ok(filemapAddFolio(mm, file, f, index).ok);
  folioPut(mm, f);
  return f;
}

Deno.test("folio_start_private_2 / folio_end_private_2", async (t) => {
  await t.step("v6.12: the bit is paired with a reference, dropped after the wake", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 }, version: "6.12" });
    const f = folioAlloc(mm, 0);
    const ref = mm.ref(f);
    assert.ok(folioStartPrivate2(mm, f));
    assert.equal(mm.mem.refcount[f], 2);
    let during = 0;
    env.spawn("end", function* () {
      yield* folioEndPrivate2(mm, ref, { delayNs: 10 });
    });
    env.spawn("probe", function* (e) {
      yield e.sleep(5);
      during = mm.mem.refcount[f]!;
    });
    env.run();
    assert.equal(during, 2, "held across δ");
    assert.equal(mm.mem.refcount[f], 1);
    assert.ok(!mm.mem.testFlag(f, PG.private_2));
    assert.deepEqual(private2Stats(mm), {
      started: 1,
      ended: 1,
      refOps: 2,
      staleCompletions: 0,
      staleWakes: 0,
      waits: 0,
      wokenWithBitSet: 0,
    });
  });
  await t.step("Feb 2021 posting (v5.12 era): no reference", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 16 }, version: "5.12" });
    const f = folioAlloc(mm, 0);
    folioStartPrivate2(mm, f);
    assert.equal(mm.mem.refcount[f], 1);
  });
  await t.step("a second start is VM_BUG_ON_FOLIO; an end without the bit too", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 } });
    const f = folioAlloc(mm, 0);
    env.spawn("buggy", function* () {
      assert.ok(folioStartPrivate2(mm, f));
      assert.equal(folioStartPrivate2(mm, f), false);
      mm.mem.clearFlag(f, PG.private_2);
      yield* folioEndPrivate2(mm, mm.ref(f));
    });
    env.run({ stopOnViolation: false });
    assert.deepEqual(env.violations.map((v) => v.name), [
      "VM_BUG_ON_FOLIO(folio_test_private_2)",
      "VM_BUG_ON_FOLIO(!folio_test_private_2)",
    ]);
  });
  await t.step("without the reference a completion into a freed frame is use-after-free", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 } });
    const f = folioAlloc(mm, 0);
    const ref = mm.ref(f);
    folioStartPrivate2(mm, f, { takeRef: false });
    mm.mem.clearFlag(f, PG.private_2); // (a path that cleared it) …
    folioPut(mm, f); // … and freed the folio
    env.spawn("cache write done", function* () {
      yield* folioEndPrivate2(mm, ref, { takeRef: false });
    });
    env.run();
    assert.equal(env.violations[0]?.name, "use-after-free");
    assert.equal(private2Stats(mm).staleCompletions, 1);
  });
  await t.step("a frame freed during δ: the wake is a use-after-free", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 } });
    const f = folioAlloc(mm, 0);
    const ref = mm.ref(f);
    folioStartPrivate2(mm, f, { takeRef: false });
    env.spawn("end", function* () {
      yield* folioEndPrivate2(mm, ref, { takeRef: false, delayNs: 100 });
    });
    env.spawn("free in δ", function* (e) {
      yield e.sleep(50);
      folioPut(mm, f);
    });
    env.run();
    assert.equal(env.violations[0]?.name, "use-after-free");
    assert.match(env.violations[0]!.message, /folio_wake_bit after δ/);
    assert.equal(private2Stats(mm).staleWakes, 1);
  });
});

Deno.test("folio_wait_private_2", async (t) => {
  /** A waiter queued on a second cache write gets the first write's wake. */
  function restart(loop: boolean) {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 }, version: "6.12" });
    const f = folioAlloc(mm, 0);
    const ref = mm.ref(f);
    folioStartPrivate2(mm, f);
    let returnedWithBit: boolean | null = null;
    env.spawn("end #1", function* (e) {
      yield e.sleep(10);
      yield* folioEndPrivate2(mm, ref, { delayNs: 100 });
    });
    env.spawn("start #2 in δ, end later", function* (e) {
      yield e.sleep(20);
      folioStartPrivate2(mm, f);
      yield e.sleep(1000);
      yield* folioEndPrivate2(mm, mm.ref(f));
    });
    env.spawn("waiter", function* (e) {
      yield e.sleep(30);
      yield* folioWaitPrivate2(mm, f, { loop });
      returnedWithBit = mm.mem.testFlag(f, PG.private_2);
    });
    env.run();
    return { returnedWithBit, stats: private2Stats(mm), now: env.nowNs };
  }
  await t.step("if-wait returns at the first wake with the bit set again", () => {
    const r = restart(false);
    assert.equal(r.returnedWithBit, true);
    assert.equal(r.stats.wokenWithBitSet, 1);
  });
  await t.step("while-wait waits for the second write", () => {
    const r = restart(true);
    assert.equal(r.returnedWithBit, false);
    assert.equal(r.stats.waits, 2);
  });
});

Deno.test("Netfs", async (t) => {
  await t.step("read → PG_private_2 set before unlock → cache write → clear (timeline)", () => {
    const { env, mm, fs, file } = world();
    const f = readaheadFolio(mm, file, 1);
    fs.submitRead(file, [f]);
    env.run();
    assert.equal(mm.mem.data[f], file.backing.get(1));
    assert.deepEqual(
      env.trace!.kinds((e) =>
        ["netfs_folio_start_private_2", "folio_end_read", "netfs_folio_end_private_2"].includes(
          e.kind,
        )
      ),
      ["netfs_folio_start_private_2", "folio_end_read", "netfs_folio_end_private_2"],
    );
    assert.equal(env.nowNs, 1500);
    assert.deepEqual([fs.stats.cacheWrites, fs.stats.cacheWritesDone], [1, 1]);
    assert.equal(mm.mem.refcount[f], 1, "only the page cache");
  });
  await t.step("truncate waits for the cache write in ->invalidate_folio", () => {
    const { env, mm, fs, file } = world();
    const f = readaheadFolio(mm, file, 0);
    fs.submitRead(file, [f]);
    let doneAt = -1;
    env.spawn("truncate", function* (e) {
      yield e.sleep(1100);
      yield* truncateInodePagesRange(mm, file, 0, Infinity);
      doneAt = e.nowNs;
    });
    env.run();
    assert.equal(doneAt, 1500);
    assert.equal(env.violations.length, 0);
    assert.equal(mm.mem.refcount[f], 0, "freed after the write");
  });
  await t.step("waits skipped + no ref: truncate frees it mid-write → bad page + UAF", () => {
    const { env, mm, fs, file } = world("6.12", { private2Ref: "noRef", releaseWaits: false });
    const f = readaheadFolio(mm, file, 0);
    fs.submitRead(file, [f]);
    env.spawn("truncate", function* (e) {
      yield e.sleep(1100);
      yield* truncateInodePagesRange(mm, file, 0, Infinity);
    });
    env.run({ stopOnViolation: false });
    assert.deepEqual(env.violations.map((v) => v.name), ["bad_page", "use-after-free"]);
  });
  await t.step("waits skipped + ref: the folio lives until the write ends; no violation", () => {
    const { env, mm, fs, file } = world("6.12", { releaseWaits: false });
    const f = readaheadFolio(mm, file, 0);
    fs.submitRead(file, [f]);
    let refDuring = 0;
    env.spawn("truncate", function* (e) {
      yield e.sleep(1100);
      yield* truncateInodePagesRange(mm, file, 0, Infinity);
      refDuring = mm.mem.refcount[f]!;
    });
    env.run();
    assert.equal(env.violations.length, 0);
    assert.equal(refDuring, 1, "the PG_private_2 reference");
    assert.equal(mm.mem.refcount[f], 0);
  });
  await t.step("reclaim: release refuses PG_private_2; with waits skipped the freeze fails", () => {
    for (const releaseWaits of [true, false]) {
      const { env, mm, fs, file } = world("6.12", { releaseWaits });
      const f = readaheadFolio(mm, file, 0);
      fs.submitRead(file, [f]);
      let reclaimed = -1;
      env.spawn("reclaim", function* (e) {
        yield e.sleep(1100);
        assert.ok(folioIsolateLru(mm.lruvec, f));
        const list = [f];
        const stat = yield* shrinkFolioList(mm, list, scanControl({ gfpMask: GFP_KERNEL }), true);
        reclaimed = stat.nrReclaimed;
        putbackMovablePages(mm, list);
      });
      env.run();
      assert.equal(reclaimed, 0, `releaseWaits ${releaseWaits}`);
      assert.equal(fs.stats.releaseRefused, releaseWaits ? 1 : 0);
      assert.equal(filemapGetEntry(file, 0), f);
    }
  });
  await t.step("writeToCache waits for the previous write under the folio lock", () => {
    const { env, mm, fs, file } = world();
    const f = readaheadFolio(mm, file, 0);
    fs.submitRead(file, [f]);
    env.spawn("writer", function* (e) {
      yield e.sleep(1100);
      yield* folioLock(mm, f);
      assert.ok(yield* fs.writeToCache(file, f));
      folioUnlock(mm, f);
    });
    env.run();
    assert.equal(env.nowNs, 2000, "second write after the first");
    assert.equal(fs.stats.cacheWritesDone, 2);
  });
  await t.step(
    "migration during a cache write: -EAGAIN (v6.12) / moved + lost wait (v5.15)",
    () => {
      for (const version of ["6.12", "5.15"]) {
        const { env, mm, fs, file } = world(version, {
          cacheWriteLatency: { kind: "fixed", ns: 5000 },
        });
        const f = readaheadFolio(mm, file, 0);
        fs.submitRead(file, [f]);
        let rc = "";
        env.spawn("migrate", function* (e) {
          yield e.sleep(2000);
          assert.ok(isolateFolioForMigration(mm, f));
          const r = yield* migratePages(
            mm,
            [f],
            allocMigrationTarget,
            "MIGRATE_SYNC",
            "MR_SYSCALL",
          );
          putbackMovablePages(mm, r.failed);
          rc = r.outcomes[0]!.rc;
        });
        env.spawn("writer", function* (e) {
          yield e.sleep(3000);
          const g = filemapGetEntry(file, 0);
          yield* folioLock(mm, g);
          yield* fs.writeToCache(file, g);
          folioUnlock(mm, g);
        });
        env.run({ stopOnViolation: false });
        if (version === "6.12") {
          assert.equal(rc, "EAGAIN");
          assert.equal(fs.stats.lostWaits, 0);
        } else {
          assert.equal(rc, "MIGRATEPAGE_SUCCESS");
          assert.equal(mm.vmstat.get("migrate_private_2_dropped"), 1);
          assert.equal(fs.stats.lostWaits, 1);
          assert.equal(env.violations[0]?.name, "lost wait");
        }
        assert.ok(!env.violations.some((v) => v.name === "use-after-free"));
      }
    },
  );
});

Deno.test("PG_private_2 reuse race, explored: use-after-free only without the reference", () => {
  // The one-folio reuse world: end of a cache write (δ) racing truncation + reallocation.
  function setup(ref: boolean) {
    return (env: Engine) => {
      const mm = new Mm(env, { memory: { nrFrames: 16 }, era: { private2TakesRef: ref } });
      const fs = new Netfs(mm, {
        serverLatency: { kind: "fixed", ns: 10 },
        cacheWriteLatency: { kind: "fixed", ns: 100 },
        endDelayNs: 20,
      });
      const file = fs.createFile({ name: "A", fillPages: 1 });
      const f = readaheadFolio(mm, file, 0);
      fs.submitRead(file, [f]);
      env.spawn("truncate", function* (e) {
        yield e.sleep(110);
        yield* truncateInodePagesRange(mm, file, 0, Infinity);
        folioAlloc(mm, 0); // the allocator hands the frame out again at once
      });
    };
  }
  const noRef = explore(setup(false), { search: exhaustive(), stopOnViolation: false });
  assert.equal(noRef.verdicts["violation:use-after-free"], "Sometimes");
  const ref = explore(setup(true), { search: exhaustive() });
  assert.equal(ref.verdicts["violation"], "Never");
  assert.ok(ref.complete);
});

Deno.test("PG_private_2 counters match start/end calls (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      (gaps, ref) => {
        const env = new Engine();
        const mm = new Mm(env, { memory: { nrFrames: 16 }, era: { private2TakesRef: ref } });
        const f = folioAlloc(mm, 0);
        env.spawn("writes", function* (e) {
          for (const g of gaps) {
            folioStartPrivate2(mm, f);
            yield e.sleep(g);
            yield* folioEndPrivate2(mm, mm.ref(f), { delayNs: g % 7 });
          }
        });
        env.run();
        const s = private2Stats(mm);
        return s.started === gaps.length && s.ended === gaps.length &&
          s.refOps === (ref ? 2 * gaps.length : 0) && mm.mem.refcount[f] === 1 &&
          env.violations.length === 0;
      },
    ),
    { numRuns: 50 },
  );
});
