import assert from "node:assert/strict";
import { Engine, type Task, TaskFlag } from "../../../lib/sim/engine.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { MIGRATE, NIL } from "../../../lib/mm/memory.ts";
import { folioAddLru } from "../../../lib/mm/lru.ts";
import {
  __GFP_DIRECT_RECLAIM,
  __GFP_FS,
  __GFP_IO,
  __GFP_MOVABLE,
  __GFP_NOFAIL,
  __GFP_RETRY_MAYFAIL,
  allocPagesGfp,
  type CompactResultName,
  currentGfpContext,
  folioAllocGfp,
  GFP_ATOMIC,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOFS,
  GFP_NOIO,
  GFP_NOWAIT,
  memallocNofsRestore,
  memallocNofsSave,
  memallocNoioRestore,
  memallocNoioSave,
  memallocNoreclaimRestore,
  memallocNoreclaimSave,
  PF_MEMALLOC,
  PF_MEMALLOC_NOFS,
  PF_MEMALLOC_PIN,
  setPageAllocConfig,
  setPageAllocHooks,
} from "../../../lib/mm/page_alloc.ts";
// The whole model: vmscan.ts registers try_to_free_pages as the default reclaim hook.
import { filemapRead, SimpleFs } from "../../../mod.ts";

/**
 * A 1024-frame zone (watermarks min 64, low 80, high 96 pages) whose free memory is brought
 * down to `free` pages by unmovable kernel allocations kept in `held`.
 */
function pressured(free: number, opts: { trace?: boolean } = {}) {
  const env = new Engine({ trace: opts.trace ?? true });
  const mm = new Mm(env, { memory: { nrFrames: 1024 } });
  const held: number[] = [];
  while (mm.zone.nrFreePages > free) {
    const pfn = mm.zone.allocPages(0, MIGRATE.UNMOVABLE);
    assert.ok(pfn !== NIL);
    held.push(pfn);
  }
  return { env, mm, held };
}

/** Give `n` held pages back to the buddy allocator (what a reclaimer would do). */
function freeHeld(mm: Mm, held: number[], n: number): number {
  let k = 0;
  for (; k < n && held.length > 0; k++) {
    const pfn = held.pop()!;
    mm.mem.refcount[pfn] = 0;
    mm.zone.freePages(pfn, 0);
  }
  return k;
}

/** Put `n` held pages on the file LRU so that reclaim has something to hope for. */
function makeReclaimable(mm: Mm, held: number[], n: number): void {
  for (let i = 0; i < n; i++) folioAddLru(mm.lruvec, held[i]!);
}

interface ReclaimCall {
  task: string;
  gfp: number;
  flags: number;
  order: number;
}

function stubReclaim(mm: Mm, free: (call: ReclaimCall) => number) {
  const calls: ReclaimCall[] = [];
  setPageAllocHooks(mm, {
    *tryToFreePages(mm, order, gfp) {
      // Stands in for try_to_free_pages(), which emits the direct-reclaim tracepoints.
      const t = mm.env.current!;
      const call = { task: t.name, gfp, flags: t.flags, order };
      calls.push(call);
      mm.env.emit("mm_vmscan_direct_reclaim_begin", t.name, order, gfp);
      yield mm.env.sleep(1_000); // reclaim takes time
      const n = free(call);
      mm.env.emit("mm_vmscan_direct_reclaim_end", t.name, null, n);
      return n;
    },
  });
  return calls;
}

function allocIn(env: Engine, mm: Mm, name: string, order: number, gfp: number, flags = 0) {
  const r = { pfn: -2 };
  const task: Task = env.spawn(name, function* () {
    r.pfn = yield* allocPagesGfp(mm, order, gfp);
  }, { flags });
  return { r, task };
}

Deno.test("allocPagesGfp fast path and watermarks", async (t) => {
  await t.step("above the low watermark: no kswapd, no reclaim", () => {
    const { env, mm } = pressured(200);
    let wakes = 0;
    setPageAllocHooks(mm, { wakeupKswapd: () => void wakes++ });
    const calls = stubReclaim(mm, () => 0);
    const a = allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.ok(a.r.pfn >= 0);
    assert.equal(wakes, 0);
    assert.equal(calls.length, 0);
  });

  await t.step("between min and low: kswapd is woken, the slow path succeeds at min", () => {
    const { env, mm } = pressured(70);
    let wakes = 0;
    setPageAllocHooks(mm, { wakeupKswapd: () => void wakes++ });
    const calls = stubReclaim(mm, () => 0);
    const a = allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.ok(a.r.pfn >= 0);
    assert.equal(wakes, 1);
    assert.equal(calls.length, 0, "no direct reclaim above the min watermark");
  });

  await t.step("below min: GFP_ATOMIC dips into the reserve, GFP_NOWAIT fails", () => {
    const { env, mm } = pressured(50);
    const calls = stubReclaim(mm, () => 0);
    const atomic = allocIn(env, mm, "irq", 0, GFP_ATOMIC);
    const nowait = allocIn(env, mm, "nowait", 0, GFP_NOWAIT);
    env.run();
    assert.ok(atomic.r.pfn >= 0, "min 64 → 32 (__GFP_HIGH) → 24 (non-blocking) < 50 free");
    assert.equal(nowait.r.pfn, -1);
    assert.equal(calls.length, 0, "neither may enter direct reclaim");
    assert.equal(mm.vmstat.get("alloc_failure"), 1);
  });

  await t.step("a PF_MEMALLOC task allocates below min and never recurses into reclaim", () => {
    const { env, mm } = pressured(10);
    const calls = stubReclaim(mm, () => 0);
    const inReclaim = allocIn(env, mm, "reclaimer", 0, GFP_KERNEL, PF_MEMALLOC);
    env.run();
    assert.ok(inReclaim.r.pfn >= 0, "ALLOC_NO_WATERMARKS");
    const empty = pressured(0);
    const stub = stubReclaim(empty.mm, () => 0);
    const x = allocIn(empty.env, empty.mm, "reclaimer", 0, GFP_KERNEL, PF_MEMALLOC);
    empty.env.run();
    assert.equal(x.r.pfn, -1);
    assert.equal(stub.length, 0, "PF_MEMALLOC: no reclaim recursion");
    assert.equal(calls.length, 0);
  });
});

Deno.test("direct reclaim", async (t) => {
  await t.step("GFP_KERNEL under pressure enters direct reclaim with the flags set", () => {
    const { env, mm, held } = pressured(20);
    const calls = stubReclaim(mm, () => freeHeld(mm, held, 64));
    const a = allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.ok(a.r.pfn >= 0);
    assert.equal(calls.length, 1);
    const c = calls[0]!;
    assert.ok(c.flags & TaskFlag.DIRECT_RECLAIM, "TaskFlag.DIRECT_RECLAIM inside reclaim");
    assert.ok(c.flags & PF_MEMALLOC, "PF_MEMALLOC inside reclaim (memalloc_noreclaim_save)");
    assert.ok(c.gfp & __GFP_FS, "GFP_KERNEL may enter the filesystem");
    assert.ok(!(a.task.flags & (TaskFlag.DIRECT_RECLAIM | PF_MEMALLOC)), "flags cleared after");
    assert.deepEqual(
      env.trace!.kinds((e) =>
        e.task === a.task.id && e.kind.startsWith("mm_") && e.kind !== "mm_page_alloc_fail"
      ),
      ["mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end", "mm_page_alloc"],
    );
  });

  await t.step("GFP_NOFS and the memalloc_nofs scope clear __GFP_FS (may_enter_fs false)", () => {
    const { env, mm, held } = pressured(20);
    // Reclaim frees too little for the allocations to succeed: each one reclaims once.
    const calls = stubReclaim(mm, () => freeHeld(mm, held, 8));
    allocIn(env, mm, "nofs", 0, GFP_NOFS);
    env.spawn("scoped", function* (e) {
      const s = memallocNofsSave(e);
      yield* allocPagesGfp(mm, 0, GFP_KERNEL);
      memallocNofsRestore(e, s);
      yield* allocPagesGfp(mm, 0, GFP_KERNEL);
    });
    env.run();
    const byTask = calls.map((c) => [c.task, (c.gfp & __GFP_FS) !== 0, (c.gfp & __GFP_IO) !== 0]);
    assert.deepEqual(byTask.slice(0, 2), [["nofs", false, true], ["scoped", false, true]]);
    assert.equal(calls.length, 3);
    assert.deepEqual(byTask[2], ["scoped", true, true], "after the scope: GFP_KERNEL again");
  });

  await t.step("GFP_NOIO / memalloc_noio clear __GFP_IO and __GFP_FS", () => {
    const env = new Engine();
    const out: number[] = [];
    env.spawn("blk", function* (e) {
      out.push(currentGfpContext(e, GFP_NOIO));
      const s = memallocNoioSave(e);
      const n = memallocNofsSave(e);
      out.push(currentGfpContext(e, GFP_KERNEL));
      memallocNofsRestore(e, n);
      memallocNoioRestore(e, s);
      e.current!.flags |= PF_MEMALLOC_PIN;
      out.push(currentGfpContext(e, GFP_HIGHUSER_MOVABLE));
      yield e.point();
    });
    env.run();
    assert.equal(out[0]! & (__GFP_IO | __GFP_FS), 0);
    assert.equal(out[1]! & (__GFP_IO | __GFP_FS), 0, "NOIO wins over NOFS");
    assert.equal(out[2]! & __GFP_MOVABLE, 0, "PF_MEMALLOC_PIN clears __GFP_MOVABLE");
  });

  await t.step("a FUSE server thread allocating with GFP_KERNEL enters direct reclaim", () => {
    const { env, mm, held } = pressured(20);
    const calls = stubReclaim(mm, () => freeHeld(mm, held, 64));
    const server = allocIn(env, mm, "fuse-server", 0, GFP_KERNEL, TaskFlag.USER_SERVER);
    env.run();
    assert.ok(server.r.pfn >= 0);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.task, "fuse-server");
    assert.ok(calls[0]!.flags & TaskFlag.USER_SERVER && calls[0]!.gfp & __GFP_FS);
  });

  await t.step("no progress: at most MAX_RECLAIM_RETRIES rounds, then failure (no OOM)", () => {
    const { env, mm, held } = pressured(20);
    makeReclaimable(mm, held, 200); // reclaim could help, so should_reclaim_retry says retry
    const calls = stubReclaim(mm, () => 0);
    const a = allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.equal(a.r.pfn, -1);
    assert.equal(calls.length, 17, "rounds 1..16 retry, round 17 exceeds MAX_RECLAIM_RETRIES");
    assert.equal(mm.vmstat.get("alloc_failure"), 1);
  });

  await t.step("no progress and nothing reclaimable: give up after one round", () => {
    const { env, mm } = pressured(20);
    const calls = stubReclaim(mm, () => 0);
    const a = allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.equal(a.r.pfn, -1);
    assert.equal(calls.length, 1);
  });

  await t.step("MAX_RECLAIM_RETRIES comes from the config", () => {
    const { env, mm, held } = pressured(20);
    makeReclaimable(mm, held, 200);
    setPageAllocConfig(mm, { maxReclaimRetries: 2 });
    const calls = stubReclaim(mm, () => 0);
    allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.equal(calls.length, 3);
  });

  await t.step("__GFP_NOFAIL keeps retrying until reclaim frees memory", () => {
    const { env, mm, held } = pressured(20);
    let round = 0;
    const calls = stubReclaim(mm, () => (++round === 5 ? freeHeld(mm, held, 64) : 0));
    const a = allocIn(env, mm, "nofail", 0, GFP_KERNEL | __GFP_NOFAIL);
    env.run();
    assert.ok(a.r.pfn >= 0);
    assert.equal(calls.length, 5);
  });
});

Deno.test("direct compaction", async (t) => {
  function withCompaction(free: number, result: CompactResultName, frees = 0) {
    const p = pressured(free);
    const calls: { order: number; prio: number; memalloc: boolean }[] = [];
    setPageAllocHooks(p.mm, {
      *tryToCompactPages(mm, order, _gfp, _flags, prio) {
        calls.push({ order, prio, memalloc: (mm.env.current!.flags & PF_MEMALLOC) !== 0 });
        yield mm.env.sleep(1);
        if (frees) freeHeld(mm, p.held, frees);
        return result;
      },
    });
    const reclaim = stubReclaim(p.mm, () => 0);
    return { ...p, calls, reclaim };
  }

  await t.step("order 0 never compacts", () => {
    const { env, mm, calls } = withCompaction(20, "COMPACT_SUCCESS");
    allocIn(env, mm, "user", 0, GFP_KERNEL);
    env.run();
    assert.equal(calls.length, 0);
  });

  await t.step("order 2 movable: reclaim first, then compaction with PF_MEMALLOC", () => {
    const { env, mm, calls, reclaim } = withCompaction(20, "COMPACT_SUCCESS", 64);
    const a = allocIn(env, mm, "user", 2, GFP_HIGHUSER_MOVABLE);
    env.run();
    assert.ok(a.r.pfn >= 0);
    assert.equal(reclaim.length, 1);
    assert.equal(calls.length, 1);
    assert.ok(calls[0]!.memalloc);
    assert.equal(mm.vmstat.get("compact_stall"), 1);
    assert.equal(mm.vmstat.get("compact_success"), 1);
  });

  await t.step("a costly order compacts first (async) and fails without RETRY_MAYFAIL", () => {
    const { env, mm, calls, reclaim } = withCompaction(20, "COMPACT_COMPLETE");
    const a = allocIn(env, mm, "thp", 4, GFP_HIGHUSER_MOVABLE);
    env.run();
    assert.equal(a.r.pfn, -1);
    assert.deepEqual(calls.map((c) => c.prio), [2, 1], "INIT (async), then DEF (sync light)");
    assert.equal(reclaim.length, 1);
    assert.equal(mm.vmstat.get("compact_fail"), 2);
  });

  await t.step("__GFP_RETRY_MAYFAIL lets a costly order retry", () => {
    const { env, mm, calls } = withCompaction(20, "COMPACT_COMPLETE");
    allocIn(env, mm, "thp", 4, GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL);
    env.run();
    assert.ok(calls.length >= 2);
  });
});

Deno.test("memalloc scopes and folio allocation", async (t) => {
  await t.step("scopes nest and restore only what they set", () => {
    const env = new Engine();
    const task = env.spawn("t", function* (e) {
      const a = memallocNoreclaimSave(e);
      const b = memallocNoreclaimSave(e);
      memallocNoreclaimRestore(e, b);
      assert.ok(e.current!.flags & PF_MEMALLOC);
      memallocNoreclaimRestore(e, a);
      const n = memallocNofsSave(e);
      assert.ok(e.current!.flags & PF_MEMALLOC_NOFS);
      memallocNofsRestore(e, n);
      yield e.point();
    });
    env.run();
    assert.equal(task.flags, 0);
  });

  await t.step("folioAllocGfp returns a compound folio of the gfp's migratetype", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 1024 } });
    let f = -1;
    let g = -1;
    env.spawn("t", function* () {
      f = yield* folioAllocGfp(mm, 2, GFP_HIGHUSER_MOVABLE);
      g = yield* folioAllocGfp(mm, 0, GFP_KERNEL, MIGRATE.UNMOVABLE);
    });
    env.run();
    assert.equal(mm.mem.head[f + 1], f);
    assert.equal(mm.zone.getPageblockMigratetype(f), MIGRATE.MOVABLE);
    assert.equal(mm.zone.getPageblockMigratetype(g), MIGRATE.UNMOVABLE);
    assert.ok(GFP_KERNEL & __GFP_DIRECT_RECLAIM);
  });
});

Deno.test("with vmscan.ts: direct reclaim frees clean page cache for the allocation", () => {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 1024 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 1_000 } });
  const file = fs.createFile({ name: "big", sizePages: 4096, fillPages: 4096 });
  const held: number[] = [];
  let pfn = -2;
  const user = env.spawn("user", function* () {
    // Fill memory with clean, uptodate page cache (reads), then pin the rest.
    const r = yield* filemapRead(mm, file, 0, 700);
    assert.ok(r.ok);
    while (mm.zone.nrFreePages > 20) held.push(mm.zone.allocPages(0, MIGRATE.UNMOVABLE));
    pfn = yield* allocPagesGfp(mm, 0, GFP_NOFS);
  });
  env.run();
  assert.ok(user.done);
  assert.ok(pfn >= 0, "clean file folios are reclaimable without __GFP_FS");
  assert.ok(file.nrpages < 700, "some page cache was reclaimed");
  assert.ok(
    env.trace!.kinds((e) => e.task === user.id).includes("mm_vmscan_direct_reclaim_begin"),
  );
});
