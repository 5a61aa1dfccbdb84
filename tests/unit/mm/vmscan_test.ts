import assert from "node:assert/strict";
import {
  AddressSpace,
  BlockDevice,
  Engine,
  filemapAddFolio,
  folioAlloc,
  folioAllocGfp,
  folioAttachPrivate,
  folioEndWriteback,
  folioGet,
  folioIsolateLru,
  folioMarkDirty,
  folioPut,
  folioStartWriteback,
  GFP_KERNEL,
  GFP_NOFS,
  memallocNofsRestore,
  memallocNofsSave,
  Mm,
  PG,
  pgdatFlags,
  type ReclaimStat,
  type ScanControl,
  scanControl,
  shrinkFolioList,
  spawnFlusher,
  spawnKswapd,
  TaskFlag,
  tryToFreeMemCgroupPages,
  tryToFreePages,
  type WaitTarget,
  wakeupKswapd,
} from "../../../mod.ts";

function world(version = "6.16", nrFrames = 256) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames }, version });
  const mapping = AddressSpace.create(mm, { name: "file" });
  return { env, mm, mapping };
}

/** A clean, uptodate page-cache folio held only by the page cache (on the inactive list). */
function cacheFolio(mm: Mm, mapping: AddressSpace, index: number): number {
  const f = folioAlloc(mm, 0);
  assert.ok(f >= 0);
  assert.ok(filemapAddFolio(mm, mapping, f, index).ok);
  mm.mem.setFlag(f, PG.uptodate);
  folioPut(mm, f);
  return f;
}

/** Dirty the folio and put it under writeback held by `holder` (PG_dirty cleared for I/O). */
function underWriteback(mm: Mm, folio: number, holder: WaitTarget | null = null): void {
  folioMarkDirty(mm, folio);
  mm.mem.setFlag(folio, PG.locked);
  mm.mem.clearFlag(folio, PG.dirty);
  mm.vmstat.dec("nr_dirty");
  folioStartWriteback(mm, folio, holder);
  mm.mem.clearFlag(folio, PG.locked);
}

/** Isolate and run shrink_folio_list on one folio in a task; returns the stat and the list. */
function shrinkOne(
  env: Engine,
  mm: Mm,
  folio: number,
  sc: ScanControl,
  opts: { flags?: number } = {},
) {
  assert.ok(folioIsolateLru(mm.lruvec, folio));
  const list = [folio];
  const out: { stat: ReclaimStat | null } = { stat: null };
  env.spawn("reclaimer", function* () {
    out.stat = yield* shrinkFolioList(mm, list, sc);
  }, { flags: opts.flags ?? 0 });
  return { list, out };
}

const hung: WaitTarget = { describe: () => "I/O that never completes", hung: true };

Deno.test("shrink_folio_list writeback cases (mm/vmscan.c v6.16)", async (t) => {
  await t.step("case 2, global reclaim: mark PG_reclaim, activate, never wait", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f, hung);
    mm.mem.setFlag(f, PG.reclaim); // even when already marked: sane throttling never waits
    const { list, out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    const r = env.run();
    assert.equal(r.reason, "done");
    assert.equal(out.stat!.nrWriteback, 1);
    assert.equal(out.stat!.nrActivate[1], 1);
    assert.deepEqual(list, [f]);
    assert.ok(mm.mem.testFlag(f, PG.active) && mm.mem.testFlag(f, PG.reclaim));
    assert.deepEqual(env.trace!.ofKind("mm_vmscan_writeback_case").map((e) => e.after), [
      "case 2",
    ]);
  });
  await t.step("case 2 then 3, memcg v1: the first pass marks, the second waits", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f);
    const sc = scanControl({ gfpMask: GFP_KERNEL, cgroupReclaim: true, targetMemcgV1: true });
    let first: number[] = [], waitedUntil = -1, reclaimed = -1;
    env.spawn("memcg reclaim", function* (env) {
      folioIsolateLru(mm.lruvec, f);
      const l1 = [f];
      const s1 = yield* shrinkFolioList(mm, l1, sc);
      first = [s1.nrWriteback, s1.nrWaited];
      mm.mem.clearFlag(f, PG.active); // as if deactivated and back at the inactive tail
      const s2 = yield* shrinkFolioList(mm, l1, sc);
      waitedUntil = env.nowNs;
      reclaimed = s2.nrReclaimed;
    });
    env.spawn("end_io", function* (env) {
      yield env.sleep(500);
      yield* folioEndWriteback(mm, f);
    });
    env.run();
    assert.deepEqual(first, [1, 0]);
    assert.equal(waitedUntil, 500, "waited for the I/O");
    assert.equal(reclaimed, 1, "then reclaimed the now clean folio");
    assert.deepEqual(env.trace!.ofKind("mm_vmscan_writeback_case").map((e) => e.after), [
      "case 2",
      "case 3",
    ]);
  });
  await t.step("case 3 needs __GFP_FS: a GFP_NOFS memcg v1 reclaim takes case 2", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f, hung);
    mm.mem.setFlag(f, PG.reclaim);
    const { out } = shrinkOne(
      env,
      mm,
      f,
      scanControl({ gfpMask: GFP_NOFS, cgroupReclaim: true, targetMemcgV1: true }),
    );
    assert.equal(env.run().reason, "done");
    assert.equal(out.stat!.nrWaited, 0);
  });
  await t.step("case 3 only for cgroup v1: cgroup v2 reclaim takes case 2", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f, hung);
    mm.mem.setFlag(f, PG.reclaim);
    shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL, cgroupReclaim: true }));
    assert.equal(env.run().reason, "done");
  });
  await t.step("case 1: kswapd, PG_reclaim and PGDAT_WRITEBACK → nr_immediate", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f, hung);
    mm.mem.setFlag(f, PG.reclaim);
    pgdatFlags(mm).PGDAT_WRITEBACK = true;
    const { out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }), {
      flags: TaskFlag.KSWAPD | TaskFlag.MEMALLOC,
    });
    env.run();
    assert.equal(out.stat!.nrImmediate, 1);
    assert.equal(out.stat!.nrWriteback, 0);
    assert.ok(mm.mem.testFlag(f, PG.active));
  });
  await t.step("AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM: 6.16 never waits, 6.12 does", () => {
    for (const [version, reason] of [["6.12", "stuck"], ["6.16", "done"]] as const) {
      const { env, mm } = world(version);
      const fuse = AddressSpace.create(mm, {
        name: "fuse inode",
        writebackMayDeadlockOnReclaim: true,
      });
      const f = cacheFolio(mm, fuse, 0);
      underWriteback(mm, f, hung);
      mm.mem.setFlag(f, PG.reclaim);
      shrinkOne(
        env,
        mm,
        f,
        scanControl({ gfpMask: GFP_KERNEL, cgroupReclaim: true, targetMemcgV1: true }),
      );
      const r = env.run();
      assert.equal(r.reason, reason, version);
      if (version === "6.12") assert.equal(r.waits?.kind, "hung");
    }
  });
});

/**
 * CLAIMS.md C1.3/C1.4 in miniature: a single-threaded filesystem server holds PG_writeback of
 * a folio through the request it has not answered yet; while handling it, it needs memory and
 * reclaims on behalf of its legacy memcg.
 */
function serverScenario(version: string, v1: boolean, mayDeadlockFlag: boolean) {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 256 }, version });
  const fuse = AddressSpace.create(mm, {
    name: "fuse inode",
    writebackMayDeadlockOnReclaim: mayDeadlockFlag,
  });
  const f = cacheFolio(mm, fuse, 0);
  let server: import("../../../mod.ts").Task | null = null;
  const request: WaitTarget = {
    describe: () => "WRITE request #1",
    holders: () => (server ? [server] : []),
  };
  underWriteback(mm, f, request);
  mm.mem.setFlag(f, PG.reclaim); // seen once by reclaim already
  server = env.spawn("fuse server", function* (env) {
    yield env.sleep(10);
    // Handling the WRITE needs memory: the charge hits the memcg limit.
    if (v1) yield* tryToFreeMemCgroupPages(mm, 1, GFP_KERNEL, { v1: true });
    else yield* tryToFreePages(mm, 0, GFP_KERNEL);
    yield* folioEndWriteback(mm, f); // the reply
  }, { flags: TaskFlag.USER_SERVER });
  return env.run();
}

Deno.test("reclaim waiting on FUSE writeback: wait-for graph (C1.3)", async (t) => {
  await t.step("6.12, memcg v1: server → PG_writeback → request → server", () => {
    const r = serverScenario("6.12", true, true);
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.kind, "cycle");
    const cycle = r.waits!.cycles[0]!.join(" → ");
    assert.match(cycle, /fuse server#0 → PG_writeback of pfn \d+.* → WRITE request #1 → fuse/);
  });
  await t.step("6.16 with the flag: case 2, no wait, the reply goes out", () => {
    assert.equal(serverScenario("6.16", true, true).reason, "done");
  });
  await t.step("6.16 without the flag (before FUSE sets it): still a cycle", () => {
    assert.equal(serverScenario("6.16", true, false).waits?.kind, "cycle");
  });
  await t.step("global or cgroup v2 reclaim never waits, in any era", () => {
    assert.equal(serverScenario("5.9", false, false).reason, "done");
    assert.equal(serverScenario("6.12", false, false).reason, "done");
  });
});

Deno.test("shrink_folio_list other folios", async (t) => {
  await t.step("a clean folio is removed from the page cache and freed", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 3);
    mm.mem.data[f] = 77;
    const free0 = mm.zone.nrFreePages;
    const { list, out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.equal(out.stat!.nrReclaimed, 1);
    assert.deepEqual(list, []);
    assert.equal(mapping.nrpages, 0);
    assert.equal(mm.zone.nrFreePages, free0 + 1);
  });
  await t.step("an extra reference makes the refcount freeze fail: kept", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioGet(mm, f); // e.g. a pipe buffer or a GUP reference
    const { list, out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.equal(out.stat!.nrReclaimed, 0);
    assert.deepEqual(list, [f]);
    assert.ok(!mm.mem.testFlag(f, PG.active), "kept, not activated");
  });
  await t.step("a dirty file folio is marked PG_reclaim and activated, not written", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioMarkDirty(mm, f);
    const { out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.equal(out.stat!.nrUnqueuedDirty, 1);
    assert.equal(out.stat!.nrPageout, 0);
    assert.ok(mm.mem.testFlag(f, PG.reclaim) && mm.mem.testFlag(f, PG.active));
    assert.equal(mm.vmstat.get("nr_vmscan_immediate_reclaim"), 1);
  });
  await t.step("private data goes through filemap_release_folio first", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    folioAttachPrivate(mm, f, { buffers: 1 });
    const { out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.equal(out.stat!.nrReclaimed, 1);
    assert.equal(mm.mem.refcount[f], 0);
  });
  await t.step("a referenced clean folio is still reclaimed (FOLIOREF_RECLAIM_CLEAN)", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    mm.mem.setFlag(f, PG.referenced);
    const { out } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.equal(out.stat!.nrReclaimed, 1);
  });
  await t.step("a locked folio is skipped (trylock)", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    mm.mem.setFlag(f, PG.locked);
    const { list } = shrinkOne(env, mm, f, scanControl({ gfpMask: GFP_KERNEL }));
    env.run();
    assert.deepEqual(list, [f]);
  });
});

Deno.test("try_to_free_pages", async (t) => {
  await t.step("reclaims clean page cache from the inactive tail, oldest first", () => {
    const { env, mm, mapping } = world("6.16", 512);
    const fs = Array.from({ length: 100 }, (_, i) => cacheFolio(mm, mapping, i));
    let n = 0;
    env.spawn("allocator", function* () {
      n = yield* tryToFreePages(mm, 0, GFP_KERNEL);
    });
    env.run();
    assert.ok(n >= 32, `reclaimed ${n}`);
    assert.equal(mapping.nrpages, 100 - n);
    assert.ok(fs.slice(0, n).every((f) => mm.mem.mapping[f] === 0), "the oldest went first");
    assert.equal(mm.vmstat.get("pgsteal_direct"), n);
    assert.equal(mm.vmstat.get("allocstall"), 1);
  });
  await t.step("sets DIRECT_RECLAIM and PF_MEMALLOC while it runs, then restores", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    let inside = 0;
    mapping.aops.releaseFolio = () => {
      inside = env.current!.flags;
      return true;
    };
    folioAttachPrivate(mm, f, {});
    const t = env.spawn("task", function* () {
      yield* tryToFreePages(mm, 0, GFP_KERNEL);
    });
    env.run();
    assert.equal(
      inside & (TaskFlag.DIRECT_RECLAIM | TaskFlag.MEMALLOC),
      TaskFlag.DIRECT_RECLAIM | TaskFlag.MEMALLOC,
    );
    assert.equal(t.flags, 0);
  });
  await t.step("a memalloc_nofs scope makes may_enter_fs false (case 3 impossible)", () => {
    const { env, mm, mapping } = world();
    const f = cacheFolio(mm, mapping, 0);
    underWriteback(mm, f, hung);
    mm.mem.setFlag(f, PG.reclaim);
    env.spawn("fs task", function* (env) {
      const nofs = memallocNofsSave(env);
      yield* tryToFreeMemCgroupPages(mm, 1, GFP_KERNEL, { v1: true });
      memallocNofsRestore(env, nofs);
    });
    assert.equal(env.run().reason, "done");
  });
  await t.step("dirty pages: wake the flusher, then reclaim them once written", () => {
    const { env, mm, mapping } = world("6.16", 512);
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 } }).attach(mapping);
    for (let i = 0; i < 40; i++) folioMarkDirty(mm, cacheFolio(mm, mapping, i));
    spawnFlusher(mm, { dirtyWritebackCentisecs: 0 });
    const got: number[] = [];
    env.spawn("allocator", function* (env) {
      got.push(yield* tryToFreePages(mm, 0, GFP_KERNEL));
      yield env.sleep(1_000_000); // the flusher writes them meanwhile
      got.push(yield* tryToFreePages(mm, 0, GFP_KERNEL));
    });
    env.run();
    assert.equal(got[0], 0, "nothing clean to reclaim");
    assert.ok(got[1]! >= 32, `after writeback: ${got[1]}`);
    assert.ok(env.trace!.ofKind("writeback_wake_all").length >= 1, "flusher woken (VMSCAN)");
    assert.ok(mm.lruvec.events.pgrotated > 0, "PG_reclaim folios rotated at end of writeback");
  });
});

Deno.test("page allocator → direct reclaim and kswapd", async (t) => {
  await t.step("with nothing reclaimable the allocation fails (no OOM killer)", () => {
    const { env, mm } = world("6.16", 1024);
    while (folioAlloc(mm, 0) >= 0) { /* unreclaimable: not on any LRU */ }
    let pfn = 0;
    env.spawn("alloc", function* () {
      pfn = yield* folioAllocGfp(mm, 0, GFP_KERNEL);
    });
    env.run();
    assert.equal(pfn, -1);
    assert.ok(mm.vmstat.get("allocstall") >= 1, "it tried direct reclaim");
  });
  await t.step("with clean page cache the allocation succeeds after reclaim", () => {
    const { env, mm, mapping } = world("6.16", 1024);
    for (let i = 0;; i++) {
      const f = folioAlloc(mm, 0);
      if (f < 0) break;
      filemapAddFolio(mm, mapping, f, i);
      mm.mem.setFlag(f, PG.uptodate);
      folioPut(mm, f);
    }
    let pfn = -1;
    env.spawn("alloc", function* () {
      pfn = yield* folioAllocGfp(mm, 0, GFP_KERNEL);
    });
    env.run();
    assert.ok(pfn >= 0);
    assert.ok(mm.vmstat.get("pgsteal_direct") >= 32);
  });
  await t.step("kswapd reclaims up to the high watermark", () => {
    const { env, mm, mapping } = world("6.16", 1024);
    for (let i = 0; mm.zone.nrFreePages > mm.zone.wmarkMin; i++) cacheFolio(mm, mapping, i);
    spawnKswapd(mm);
    env.spawn("alloc", function* (env) {
      yield env.sleep(1);
      wakeupKswapd(mm, 0, GFP_KERNEL);
      yield env.sleep(1e9);
    });
    env.run();
    assert.ok(mm.zone.nrFreePages > mm.zone.wmarkHigh);
    assert.ok(mm.vmstat.get("pgsteal_kswapd") > 0);
    assert.equal(mm.vmstat.get("pgsteal_direct"), 0);
  });
  await t.step(
    "kswapd flags the node PGDAT_WRITEBACK when everything it takes is in flight",
    () => {
      const { env, mm, mapping } = world("6.16", 1024);
      for (let i = 0; mm.zone.nrFreePages > mm.zone.wmarkMin; i++) {
        underWriteback(mm, cacheFolio(mm, mapping, i), hung);
      }
      spawnKswapd(mm);
      env.spawn("alloc", function* (env) {
        yield env.sleep(1);
        wakeupKswapd(mm, 0, GFP_KERNEL);
        yield env.sleep(60e9);
      });
      env.run();
      assert.ok(pgdatFlags(mm).PGDAT_WRITEBACK);
      assert.ok(pgdatFlags(mm).kswapdFailures >= 16, "hopeless: kswapd gives up and sleeps");
      assert.equal(env.trace!.ofKind("mm_vmscan_kswapd_sleep").length, 1);
    },
  );
});
