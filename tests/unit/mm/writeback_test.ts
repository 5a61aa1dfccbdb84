import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  balanceDirtyPages,
  BlockDevice,
  dirtyLimits,
  Engine,
  exhaustive,
  explore,
  filemapAddFolio,
  filemapDirtyFolio,
  filemapFdatawait,
  filemapRemoveFolio,
  filemapWriteAndWaitRange,
  folioAlloc,
  folioCancelDirty,
  folioClearDirtyForIo,
  folioEndWriteback,
  folioLock,
  folioMarkDirty,
  folioPut,
  folioStartWriteback,
  folioTryGet,
  folioUnlock,
  folioWaitWriteback,
  kernelEra,
  LRU_INACTIVE_FILE,
  Mm,
  PG,
  redirtyPageForWritepage,
  setPageDirtyLock,
  wbRestartRace,
  wbReuseRace,
  writebackControl,
  writebackStats,
  writeCachePages,
} from "../../../mod.ts";

type Version = "5.9" | "5.10" | "6.12";

/** A page-cache folio of `mapping` at `index`, uptodate, held only by the page cache. */
function cacheFolio(mm: Mm, mapping: AddressSpace, index: number): number {
  const f = folioAlloc(mm, 0);
  assert.ok(f >= 0, "allocation");
  assert.ok(filemapAddFolio(mm, mapping, f, index).ok);
  mm.mem.setFlag(f, PG.uptodate);
  folioPut(mm, f); // the allocation reference: the page cache keeps the folio
  return f;
}

/**
 * The era's PG_writeback design: {@link wbReuseRace} (C3.1 in miniature, CLAIMS.md thread 003,
 * 073861ed77b6: frame F of file A under writeback is truncated, freed and reused by file B
 * during end_io's window, and fsync of B gets end_io's stale wake) and {@link wbRestartRace}
 * (C3.2: the folio stays, but writeback restarts under the folio lock during the window) take
 * it as {ref, loop}.
 */
function variant(version: Version, era: { waitWritebackLoops?: boolean } = {}) {
  const e = kernelEra(version, era);
  return { ref: e.endWritebackTakesRef, loop: e.waitWritebackLoops };
}

const c31 = (version: Version, era: { waitWritebackLoops?: boolean } = {}) =>
  wbReuseRace(variant(version, era));
const c32 = (version: Version) => wbRestartRace(variant(version));

Deno.test("folio_end_writeback reuse race (C3.1)", async (t) => {
  await t.step("5.9 (no reference, wait once): BUG_ON(PageWriteback) in some schedule", () => {
    const r = explore(c31("5.9"), { search: exhaustive() });
    assert.equal(r.verdicts["violation:BUG_ON(PageWriteback)"], "Sometimes");
    assert.equal(r.verdicts["folio_end_writeback: frame freed during δ"], "Sometimes");
    assert.equal(r.cut.steps, false, "no execution hit the step bound");
    const cx = r.counterexample!;
    assert.equal(cx.violations[0]!.name, "BUG_ON(PageWriteback)");
    // The failing schedule: the frame is freed and reused inside end_io's window.
    const kinds = cx.trace.kinds((e) =>
      ["folio_end_writeback", "mm_page_free", "mm_page_alloc", "folio_wake_stale"].includes(
        e.kind,
      )
    );
    const start = kinds.indexOf("folio_end_writeback");
    assert.deepEqual(kinds.slice(start, start + 4), [
      "folio_end_writeback",
      "mm_page_free",
      "mm_page_alloc",
      "folio_wake_stale",
    ]);
  });
  await t.step("6.12 (reference + loop): never", () => {
    const r = explore(c31("6.12"), { search: exhaustive() });
    assert.equal(r.verdicts["violation"], "Never");
    assert.equal(r.verdicts["stuck"], "Never");
    assert.equal(r.verdicts["folio_end_writeback: frame freed during δ"], "Never");
    assert.ok(r.complete);
  });
  await t.step("5.10 (reference only, 073861ed77b6): the frame is never reused in δ", () => {
    const r = explore(c31("5.10"), { search: exhaustive() });
    assert.equal(r.verdicts["violation"], "Never");
    assert.equal(r.verdicts["folio_end_writeback: frame freed during δ"], "Never");
  });
  await t.step("loop only (c2407cf7d22d without 073861ed77b6): stale wakes, no BUG", () => {
    assert.equal(kernelEra("5.9", { waitWritebackLoops: true }).endWritebackTakesRef, false);
    const r = explore(c31("5.9", { waitWritebackLoops: true }), { search: exhaustive() });
    assert.equal(r.verdicts["violation"], "Never");
    assert.equal(r.verdicts["folio_end_writeback: frame freed during δ"], "Sometimes");
  });
});

Deno.test("folio_wait_writeback if-wait vs loop (C3.2)", async (t) => {
  await t.step("5.10 (reference, wait once): BUG_ON when writeback restarts in δ", () => {
    const r = explore(c32("5.10"), { search: exhaustive() });
    assert.equal(r.verdicts["violation:BUG_ON(PageWriteback)"], "Sometimes");
    assert.equal(r.verdicts["writeback restarted in δ"], "Sometimes");
  });
  await t.step("6.12 (loop): never", () => {
    const r = explore(c32("6.12"), { search: exhaustive() });
    assert.equal(r.verdicts["violation"], "Never");
    assert.equal(r.verdicts["stuck"], "Never");
  });
});

function world(version: Version | "6.16" = "6.12", nrFrames = 256) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames }, version });
  const mapping = AddressSpace.create(mm, { name: "file" });
  return { env, mm, mapping };
}

/** Count folios of `mapping` with `bit` set, in pages. */
function pagesWith(mm: Mm, bit: number): number {
  let n = 0;
  for (let p = 0; p < mm.mem.nrFrames; p++) {
    if (mm.mem.refcount[p]! > 0 && mm.mem.mapping[p] !== 0 && mm.mem.testFlag(p, bit)) {
      n += 1 << mm.mem.order[p]!;
    }
  }
  return n;
}

Deno.test("folio_mark_dirty", async (t) => {
  await t.step("accounts NR_FILE_DIRTY once and puts the inode on b_dirty", () => {
    const { mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    assert.equal(folioMarkDirty(mm, f), true);
    assert.equal(folioMarkDirty(mm, f), false);
    assert.equal(mm.vmstat.get("nr_dirty"), 1);
    assert.equal(mm.vmstat.get("nr_dirtied"), 1);
  });
  await t.step("calls ->dirty_folio (never ->page_mkwrite)", () => {
    const { mm } = world();
    let dirtied = 0, mkwrite = 0;
    const m = AddressSpace.create(mm, {
      name: "fs",
      aops: {
        dirtyFolio: (mm, mapping, folio) => {
          dirtied++;
          return filemapDirtyFolio(mm, mapping, folio);
        },
        // deno-lint-ignore require-yield
        pageMkwrite: function* () {
          mkwrite++;
          return { ok: true, value: undefined };
        },
      },
    });
    const f = cacheFolio(mm, m, 0);
    folioMarkDirty(mm, f);
    assert.deepEqual([dirtied, mkwrite], [1, 0]);
  });
  await t.step("clears PG_reclaim; a folio without a mapping only gets PG_dirty", () => {
    const { mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    mm.mem.setFlag(f, PG.reclaim);
    folioMarkDirty(mm, f);
    assert.ok(!mm.mem.testFlag(f, PG.reclaim));
    const anon = folioAlloc(mm, 0);
    assert.equal(folioMarkDirty(mm, anon), true);
    assert.equal(mm.vmstat.get("nr_dirty"), 1, "not accounted");
  });
  await t.step("a !uptodate folio is dirtied with a WARN, counted not failed", () => {
    const { mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    mm.mem.clearFlag(f, PG.uptodate);
    folioMarkDirty(mm, f);
    assert.equal(writebackStats(mm).dirtyNotUptodate, 1);
    assert.equal(mm.env.violations.length, 0);
  });
  await t.step("set_page_dirty_lock waits for the folio lock", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    let at = -1;
    env.spawn("holder", function* (env) {
      yield* folioLock(mm, f);
      yield env.sleep(30);
      folioUnlock(mm, f);
    });
    env.spawn("dio completion", function* (env) {
      yield* setPageDirtyLock(mm, f);
      at = env.nowNs;
    });
    env.run();
    assert.equal(at, 30);
    assert.ok(mm.mem.testFlag(f, PG.dirty));
  });
  await t.step("redirty_page_for_writepage and folio_cancel_dirty keep the counters", () => {
    const { mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioMarkDirty(mm, f);
    mm.mem.setFlag(f, PG.locked);
    assert.ok(folioClearDirtyForIo(mm, f));
    assert.equal(mm.vmstat.get("nr_dirty"), 0);
    const wbc = writebackControl({ syncMode: "WB_SYNC_NONE" });
    redirtyPageForWritepage(mm, wbc, f);
    assert.equal(wbc.pagesSkipped, 1);
    assert.equal(mm.vmstat.get("nr_dirty"), 1);
    assert.equal(mm.vmstat.get("nr_dirtied"), 1, "the redirty is not a new dirtying");
    folioCancelDirty(mm, f);
    assert.equal(mm.vmstat.get("nr_dirty"), 0);
  });
  await t.step("folio_clear_dirty_for_io without the lock is VM_BUG_ON", () => {
    const { mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioClearDirtyForIo(mm, f);
    assert.equal(mm.env.violations[0]?.name, "VM_BUG_ON_FOLIO(!folio_test_locked)");
  });
});

Deno.test("folio_end_writeback", async (t) => {
  await t.step("counts NR_WRITEBACK/NR_WRITTEN and rotates a PG_reclaim folio to the tail", () => {
    const { env, mm, mapping } = world();
    const g = cacheFolio(mm, mapping, 1);
    const f = cacheFolio(mm, mapping, 0);
    folioStartWriteback(mm, f);
    mm.mem.setFlag(f, PG.reclaim); // reclaim saw it under writeback (case 2)
    assert.equal(mm.vmstat.get("nr_writeback"), 1);
    const list = mm.lruvec.lists[LRU_INACTIVE_FILE]!;
    assert.equal(list.last, g, "g was added first: the oldest");
    env.spawn("end_io", function* () {
      yield* folioEndWriteback(mm, f);
    });
    env.run();
    assert.equal(mm.vmstat.get("nr_writeback"), 0);
    assert.equal(mm.vmstat.get("nr_written"), 1);
    assert.ok(!mm.mem.testFlag(f, PG.reclaim));
    assert.equal(list.last, f, "at the tail, next for reclaim");
    assert.equal(mm.lruvec.events.pgrotated, 1);
  });
  await t.step("holds a reference across δ only with endWritebackTakesRef", () => {
    for (const [version, extra] of [["5.9", 0], ["6.12", 1]] as const) {
      const { env, mm, mapping } = world(version);
      const f = cacheFolio(mm, mapping, 0);
      folioStartWriteback(mm, f);
      let during = -1;
      env.spawn("end_io", function* () {
        yield* folioEndWriteback(mm, f, { delayNs: 10 });
      });
      env.spawn("probe", function* (env) {
        yield env.sleep(5);
        during = mm.mem.refcount[f]!;
      });
      env.run();
      assert.equal(during, 1 + extra, version);
      assert.equal(mm.mem.refcount[f], 1, `${version}: the reference is dropped after the wake`);
    }
  });
  await t.step("wakes only if PG_waiters is set at wake time", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioStartWriteback(mm, f);
    env.spawn("end_io", function* () {
      yield* folioEndWriteback(mm, f);
    });
    env.run();
    assert.equal(mm.waitTable.stats.wakeCalls, 0);
  });
  await t.step("on a folio not under writeback is VM_BUG_ON", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    env.spawn("end_io", function* () {
      yield* folioEndWriteback(mm, f);
    });
    const r = env.run();
    assert.equal(r.violations[0]?.name, "VM_BUG_ON_FOLIO(!folio_test_writeback)");
  });
});

Deno.test("folio_wait_writeback", async (t) => {
  // The bit is cleared, a new writeback starts, then the first wake arrives.
  function run(version: Version) {
    const { env, mm, mapping } = world(version);
    const f = cacheFolio(mm, mapping, 0);
    folioStartWriteback(mm, f);
    let returnedWithBit = false, returnedAt = -1;
    env.spawn("waiter", function* (env) {
      yield* folioWaitWriteback(mm, f);
      returnedWithBit = mm.mem.testFlag(f, PG.writeback);
      returnedAt = env.nowNs;
    });
    env.spawn("end_io", function* (env) {
      yield env.sleep(10);
      yield* folioEndWriteback(mm, f, { delayNs: 10 });
    });
    env.spawn("restart", function* (env) {
      yield env.sleep(15);
      folioStartWriteback(mm, f);
      yield env.sleep(100);
      yield* folioEndWriteback(mm, f);
    });
    env.run();
    return { returnedWithBit, returnedAt, spurious: mm.waitTable.stats.spurious };
  }
  await t.step("5.9 waits once: returns at the first wake with the bit set", () => {
    assert.deepEqual(run("5.9"), { returnedWithBit: true, returnedAt: 20, spurious: 1 });
  });
  await t.step("6.12 loops until the bit is clear", () => {
    assert.deepEqual(run("6.12"), { returnedWithBit: false, returnedAt: 115, spurious: 1 });
  });
});

Deno.test("write_cache_pages", async (t) => {
  const startAndUnlock = (mm: Mm, log: number[]) =>
    // deno-lint-ignore require-yield
    function* (folio: number) {
      log.push(mm.mem.index[folio]!);
      folioStartWriteback(mm, folio);
      folioUnlock(mm, folio);
      return 0;
    };
  /** Spawn `name`: write_cache_pages of `mapping` with startAndUnlock; returns its log. */
  const spawnWalk = (
    env: Engine,
    mm: Mm,
    mapping: AddressSpace,
    name: string,
    syncMode: "WB_SYNC_NONE" | "WB_SYNC_ALL",
    nrToWrite?: number,
  ) => {
    const log: number[] = [];
    env.spawn(name, function* () {
      const wbc = writebackControl(
        nrToWrite === undefined ? { syncMode } : { syncMode, nrToWrite },
      );
      yield* writeCachePages(mm, mapping, wbc, startAndUnlock(mm, log));
    });
    return log;
  };
  await t.step("WB_SYNC_NONE skips a folio under writeback", () => {
    const { env, mm, mapping } = world();
    const fs = [0, 1, 2].map((i) => cacheFolio(mm, mapping, i));
    for (const f of fs) folioMarkDirty(mm, f);
    folioStartWriteback(mm, fs[1]!);
    const log = spawnWalk(env, mm, mapping, "flusher", "WB_SYNC_NONE");
    env.run();
    assert.deepEqual(log, [0, 2]);
    assert.ok(mm.mem.testFlag(fs[1]!, PG.dirty), "still dirty for next time");
  });
  await t.step("WB_SYNC_ALL waits for it, then writes it (timeline)", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioMarkDirty(mm, f);
    folioStartWriteback(mm, f);
    const log = spawnWalk(env, mm, mapping, "fsync", "WB_SYNC_ALL");
    env.spawn("end_io", function* (env) {
      yield env.sleep(50);
      yield* folioEndWriteback(mm, f);
    });
    env.run();
    assert.deepEqual(log, [0]);
    assert.deepEqual(
      env.trace!.kinds((e) =>
        ["folio_wait_writeback", "folio_end_writeback", "wbc_writepage", "folio_start_writeback"]
          .includes(e.kind) && e.tNs > 0
      ),
      ["folio_end_writeback", "wbc_writepage", "folio_start_writeback"],
    );
    assert.equal(
      env.trace!.kinds((e) => e.kind === "folio_wait_writeback").length,
      1,
      "waited once",
    );
  });
  await t.step("WB_SYNC_NONE stops at nr_to_write; WB_SYNC_ALL does not", () => {
    for (const [mode, expect] of [["WB_SYNC_NONE", 2], ["WB_SYNC_ALL", 5]] as const) {
      const { env, mm, mapping } = world();
      for (let i = 0; i < 5; i++) folioMarkDirty(mm, cacheFolio(mm, mapping, i));
      const log = spawnWalk(env, mm, mapping, "wb", mode, 2);
      env.run();
      assert.equal(log.length, expect, mode);
    }
  });
  await t.step("walks in index order across batches of 31", () => {
    const { env, mm, mapping } = world("6.12", 512);
    const idx = Array.from({ length: 70 }, (_, i) => (i * 37) % 101);
    for (const i of idx) folioMarkDirty(mm, cacheFolio(mm, mapping, i));
    const log = spawnWalk(env, mm, mapping, "wb", "WB_SYNC_NONE");
    env.run();
    assert.deepEqual(log, [...idx].sort((a, b) => a - b));
    assert.equal(mm.env.violations.length, 0);
  });
  await t.step("WB_SYNC_ALL writes only what was dirty when it started (TOWRITE)", () => {
    const { env, mm, mapping } = world();
    const a = cacheFolio(mm, mapping, 0);
    const b = cacheFolio(mm, mapping, 5);
    folioMarkDirty(mm, a);
    const log: number[] = [];
    env.spawn("fsync", function* () {
      yield* writeCachePages(
        mm,
        mapping,
        writebackControl({ syncMode: "WB_SYNC_ALL" }),
        function* (folio) {
          log.push(mm.mem.index[folio]!);
          folioMarkDirty(mm, b); // a writer dirties more while we write
          folioStartWriteback(mm, folio);
          folioUnlock(mm, folio);
          return 0;
        },
      );
    });
    env.run();
    assert.deepEqual(log, [0]);
    assert.ok(mm.mem.testFlag(b, PG.dirty));
  });
  await t.step("a folio truncated before it is locked is skipped", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioMarkDirty(mm, f);
    env.spawn("holder", function* (env) {
      yield* folioLock(mm, f);
      yield env.sleep(10);
      folioCancelDirty(mm, f);
      filemapRemoveFolio(mm, f); // the walk's reference keeps the frame
      folioUnlock(mm, f);
    });
    const log = spawnWalk(env, mm, mapping, "wb", "WB_SYNC_ALL");
    const r = env.run();
    assert.deepEqual(log, []);
    assert.equal(r.violations.length, 0);
    assert.equal(mm.mem.refcount[f], 0, "freed when the walk dropped its reference");
  });
  await t.step("errors: WB_SYNC_NONE stops at the first, WB_SYNC_ALL returns the first", () => {
    for (const [mode, calls] of [["WB_SYNC_NONE", 1], ["WB_SYNC_ALL", 3]] as const) {
      const { env, mm, mapping } = world();
      for (let i = 0; i < 3; i++) folioMarkDirty(mm, cacheFolio(mm, mapping, i));
      let n = 0, ret = 0;
      env.spawn("wb", function* () {
        ret = yield* writeCachePages(
          mm,
          mapping,
          writebackControl({ syncMode: mode }),
          function* (folio) {
            n++;
            redirtyPageForWritepage(mm, writebackControl({ syncMode: mode }), folio);
            folioUnlock(mm, folio);
            return -5 - n + 1; // -5, -6, -7
          },
        );
      });
      env.run();
      assert.deepEqual([n, ret], [calls, -5], mode);
    }
  });
});

Deno.test("filemap_write_and_wait_range and filemap_fdatawait", async (t) => {
  await t.step("writes the data tags to the backing store and waits for the I/O", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 2000 } }).attach(mapping);
    for (let i = 0; i < 3; i++) {
      const f = cacheFolio(mm, mapping, i);
      mm.mem.data[f] = 100 + i;
      folioMarkDirty(mm, f);
    }
    let ret = 1;
    env.spawn("fsync", function* () {
      ret = yield* filemapWriteAndWaitRange(mm, mapping, 0, 2);
    });
    const r = env.run();
    assert.equal(ret, 0);
    assert.equal(r.nowNs, 6000, "one queue: three 2 µs bios in a row");
    assert.deepEqual([...mapping.backing.entries()].sort(), [[0, 100], [1, 101], [2, 102]]);
    assert.equal(mm.vmstat.get("nr_dirty"), 0);
    assert.equal(mm.vmstat.get("nr_writeback"), 0);
  });
  await t.step("a write error is reported once (-EIO), then cleared", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { errorProbability: 1 }).attach(mapping);
    folioMarkDirty(mm, cacheFolio(mm, mapping, 0));
    const rets: number[] = [];
    env.spawn("fsync", function* () {
      rets.push(yield* filemapWriteAndWaitRange(mm, mapping, 0, 0));
      rets.push(yield* filemapFdatawait(mm, mapping));
    });
    env.run();
    assert.deepEqual(rets, [-5, 0]);
    assert.equal(mapping.backing.size, 0);
  });
  await t.step("waits on a device that never completes: a hung wait, not a deadlock", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { latency: { kind: "never" } }).attach(mapping);
    folioMarkDirty(mm, cacheFolio(mm, mapping, 0));
    env.spawn("fsync", function* () {
      yield* filemapWriteAndWaitRange(mm, mapping, 0, 0);
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.kind, "hung");
    assert.ok(
      r.waits!.hung.some((h) => /fsync.*PG_writeback.*bio #1 to sda/.test(h.join(" → "))),
      r.waits!.text,
    );
  });
});

Deno.test("balance_dirty_pages", async (t) => {
  function dirtyN(mm: Mm, mapping: AddressSpace, n: number): void {
    for (let i = 0; i < n; i++) folioMarkDirty(mm, cacheFolio(mm, mapping, i));
  }
  await t.step("free runs below (thresh + bg_thresh) / 2, pauses above it", () => {
    const { env, mm, mapping } = world("6.12", 4096);
    const l0 = dirtyLimits(mm, null);
    assert.ok(l0.bgThresh < l0.thresh);
    const freerun = Math.floor((l0.thresh + l0.bgThresh) / 2);
    dirtyN(mm, mapping, freerun - 10);
    let t1 = -1;
    env.spawn("writer", function* (env) {
      yield* balanceDirtyPages(mm, mapping, 1);
      t1 = env.nowNs;
      for (let i = 0; i < 40; i++) folioMarkDirty(mm, cacheFolio(mm, mapping, 10_000 + i));
      yield* balanceDirtyPages(mm, mapping, 32);
    });
    env.run();
    assert.equal(t1, 0);
    assert.ok(env.nowNs > 0, "throttled above freerun");
    assert.equal(writebackStats(mm).pauses, 1, "one pause below the limit");
  });
  await t.step("above the limit it sleeps MAX_PAUSE until writeback brings it down", () => {
    const { env, mm, mapping } = world("6.12", 1024);
    new BlockDevice(mm).attach(mapping);
    const l = dirtyLimits(mm, null);
    dirtyN(mm, mapping, l.thresh + 20);
    let done = -1;
    env.spawn("writer", function* (env) {
      yield* balanceDirtyPages(mm, mapping, 1);
      done = env.nowNs;
    });
    env.spawn("flusher", function* (env) {
      yield env.sleep(500_000_000);
      yield* filemapWriteAndWaitRange(mm, mapping, 0, 0xffff_ffff);
    });
    env.run();
    assert.ok(done >= 600_000_000, `slept in 200 ms pauses until clean, returned at ${done}`);
    assert.ok(writebackStats(mm).pauses >= 3);
  });
  await t.step(
    "BDI_CAP_STRICTLIMIT with max_ratio 1 throttles a bdi the global limit would not",
    () => {
      const { env, mm, mapping } = world("6.12", 4096);
      new BlockDevice(mm, { strictLimit: true, maxRatio: 1 }).attach(mapping);
      dirtyN(mm, mapping, 20);
      const l = dirtyLimits(mm, mapping);
      assert.ok(l.dirty < (l.thresh + l.bgThresh) / 2, "globally free running");
      assert.ok(l.wbDirty > (l.wbThresh + l.wbBgThresh) / 2, "but over the bdi's own ceiling");
      env.spawn("writer", function* () {
        yield* balanceDirtyPages(mm, mapping, 1);
      });
      env.run({ maxTimeNs: 1e9 });
      assert.ok(writebackStats(mm).pauses >= 1);
    },
  );
});

Deno.test("writeback counters match the folio flags (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 7 })), {
        maxLength: 60,
      }),
      (ops) => {
        const { env, mm, mapping } = world("6.12", 128);
        const fs = Array.from({ length: 8 }, (_, i) => cacheFolio(mm, mapping, i));
        env.spawn("ops", function* () {
          for (const [op, i] of ops) {
            const f = fs[i]!;
            const m = mm.mem;
            if (m.mapping[f] === 0) continue;
            if (op === 0) folioMarkDirty(mm, f);
            else if (op === 1 && !m.testFlag(f, PG.writeback) && m.testFlag(f, PG.dirty)) {
              yield* folioLock(mm, f);
              folioClearDirtyForIo(mm, f);
              folioStartWriteback(mm, f);
              folioUnlock(mm, f);
            } else if (op === 2 && m.testFlag(f, PG.writeback)) {
              yield* folioEndWriteback(mm, f);
            } else if (op === 3) {
              yield* setPageDirtyLock(mm, f);
            } else if (op === 4 && !m.testFlag(f, PG.writeback) && folioTryGet(mm, f)) {
              yield* folioLock(mm, f);
              folioCancelDirty(mm, f);
              filemapRemoveFolio(mm, f);
              folioUnlock(mm, f);
              folioPut(mm, f);
            } else if (op === 5) {
              yield* folioWaitWriteback(mm, f);
            }
          }
        });
        const r = env.run();
        assert.deepEqual(r.violations, []);
        assert.equal(mm.vmstat.get("nr_dirty"), pagesWith(mm, PG.dirty));
        assert.equal(mm.vmstat.get("nr_writeback"), pagesWith(mm, PG.writeback));
      },
    ),
    { numRuns: 200 },
  );
});
