import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine, type Process, type Task } from "../../../lib/sim/engine.ts";
import { random } from "../../../lib/sim/random.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { AddressSpace, filemapGetEntry } from "../../../lib/mm/address_space.ts";
import { folioGet } from "../../../lib/mm/folio.ts";
import { PG } from "../../../lib/mm/memory.ts";
import { mmapRegion, userLoad, userStore } from "../../../lib/mm/mmap.ts";
import {
  filemapFdatawait,
  filemapFdatawrite,
  setPageDirtyLock,
  syncFilesystem,
  writebackControl,
} from "../../../lib/mm/writeback.ts";
import { FuseConn } from "../../../lib/fs/fuse_conn.ts";
import {
  fuseFsync,
  FuseMount,
  type FuseMountConfigInput,
  type FuseWritebackDesign,
  fuseWriteIter,
} from "../../../lib/fs/fuse.ts";
import {
  FUSE_NOWRITE,
  fusePageIsWriteback,
  fuseSetNowrite,
  fuseWritepages,
} from "../../../lib/fs/fuse_writeback.ts";

function world(version = "6.12", mount: FuseMountConfigInput = {}, seed = 1, trace = false) {
  const env = new Engine({ seed, trace });
  const mm = new Mm(env, { memory: { nrFrames: 1024 }, version });
  const fm = new FuseMount(mm, mount);
  const fi = fm.createInode();
  return { env, mm, fm, fi };
}

const fixed = (ns: number) => ({ kind: "fixed" as const, ns });

/** Re-dirty a pinned page with new contents the way bio_dirty_fn does (no ->page_mkwrite). */
function* dioRedirty(mm: Mm, folio: number, tag: number): Process<void> {
  mm.mem.data[folio] = tag;
  AddressSpace.of(mm, folio)!.latest.set(mm.mem.index[folio]!, tag);
  yield* setPageDirtyLock(mm, folio);
}

Deno.test("FuseConn requests", async (t) => {
  await t.step("a synchronous request waits for the reply; sent and replied are counted", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const conn = new FuseConn(mm, { latency: fixed(700) });
    let state = "";
    env.spawn("getattr", function* () {
      const req = conn.newRequest("GETATTR", 1, 0);
      const err = yield* conn.sendSync(req);
      state = `${req.state} ${err} ${req.times.repliedNs}`;
    });
    assert.equal(env.run().reason, "done");
    assert.equal(state, "FINISHED 0 700");
    assert.deepEqual(conn.stats, { sent: { GETATTR: 1 }, replied: { GETATTR: 1 } });
  });

  await t.step("background requests beyond max_background wait on fc->bg_queue", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const conn = new FuseConn(mm, { threads: 8, latency: fixed(100), maxBackground: 3 });
    let peakActive = 0;
    env.onStep(() => {
      peakActive = Math.max(peakActive, conn.activeBackground);
    });
    env.spawn("writeback", function* () {
      for (let i = 0; i < 10; i++) conn.sendBackground(conn.newRequest("WRITE", 1, i));
      assert.equal(conn.bgQueue.length, 7);
      assert.equal(conn.numBackground, 10);
      assert.ok(conn.congested, "num_background ≥ congestion_threshold");
      yield env.point();
    });
    env.spawn("clock", function* (e) {
      yield e.sleep(1000);
    });
    env.run();
    assert.equal(peakActive, 3);
    assert.equal(conn.stats.replied.WRITE, 10);
    assert.equal(conn.numBackground, 0);
  });

  await t.step("several threads with random latency reply out of order; one thread never", () => {
    const order = (threads: number) => {
      const env = new Engine({ seed: 3 });
      const mm = new Mm(env, { memory: { nrFrames: 64 } });
      const conn = new FuseConn(mm, { threads, latency: { kind: "exponential", meanNs: 1000 } });
      const replied: number[] = [];
      env.spawn("client", function* () {
        for (let i = 0; i < 12; i++) {
          const r = conn.newRequest("WRITE", 1, i);
          r.tags.push(i);
          r.end = function* (req) {
            replied.push(req.index);
          };
          conn.sendBackground(r);
        }
        yield env.point();
      });
      env.spawn("clock", function* (e) {
        yield e.sleep(1e6);
      });
      env.run();
      return replied;
    };
    const one = order(1);
    assert.deepEqual(one, [...one].sort((a, b) => a - b), "a single thread is FIFO");
    const four = order(4);
    assert.equal(four.length, 12);
    assert.notDeepEqual(four, [...four].sort((a, b) => a - b), "four threads reorder");
  });

  await t.step("a hung server: the waiter's wait-for chain ends in 'never replies'", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const conn = new FuseConn(mm, { latency: { kind: "never" } });
    env.spawn("stat", function* () {
      yield* conn.sendSync(conn.newRequest("GETATTR", 1, 0));
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.kind, "hung");
    const chain = r.waits!.hung.find((h) => h[0]!.startsWith("stat#"))!.join(" → ");
    assert.match(chain, /^stat#\d+ → reply to FUSE_GETATTR #1 .* never replies/);
  });

  await t.step(
    "request holders: creator while filled, server threads while queued, handler once read",
    () => {
      const env = new Engine();
      const mm = new Mm(env, { memory: { nrFrames: 64 } });
      const conn = new FuseConn(mm, { threads: 2, latency: fixed(100) });
      const seen: string[] = [];
      env.spawn("filler", function* (_e, self: Task) {
        const r = conn.newRequest("WRITE", 1, 0);
        seen.push(r.holders().map(String).join());
        assert.equal(r.holders()[0], self);
        conn.sendBackground(r);
        seen.push(r.holders().map(String).join());
        yield env.sleep(50);
        seen.push(r.holders().map(String).join());
        yield env.sleep(100);
        seen.push(String(r.holders().length));
      });
      env.run();
      assert.deepEqual(seen, [
        "filler#2",
        "fuse-server-0#0,fuse-server-1#1",
        "fuse-server-0#0",
        "0",
      ]);
    },
  );

  await t.step(
    "memcg: every allocating thread's charge runs memcg reclaim first; others do not",
    () => {
      const env = new Engine({ trace: true });
      const mm = new Mm(env, { memory: { nrFrames: 128 } });
      const conn = new FuseConn(mm, {
        threads: 2,
        latency: fixed(10),
        allocPagesPerRequest: 1,
        allocatingThreads: 1,
        memcg: "v1",
      });
      env.spawn("client", function* () {
        const a = conn.newRequest("GETATTR", 1, 0), b = conn.newRequest("GETATTR", 1, 1);
        conn.queueRequest(a);
        conn.queueRequest(b);
        yield* a.done.wait(env);
        yield* b.done.wait(env);
      });
      env.run();
      const charges = env.trace!.ofKind("mem_cgroup_charge");
      assert.equal(charges.length, 1, "only thread 0 allocates");
      assert.equal(charges[0]!.obj, "fuse-server-0");
      assert.ok(env.trace!.ofKind("mm_vmscan_memcg_reclaim_begin").length >= 1);
      assert.equal(mm.vmstat.get("allocstall"), 0, "memcg reclaim is not an allocation stall");
    },
  );
});

Deno.test("FUSE writeback, temp pages (2013 … v6.15)", async (t) => {
  await t.step(
    "writeback ends at once; the data lives in NR_WRITEBACK_TEMP until the reply",
    () => {
      const { env, mm, fm, fi } = world("6.12", { server: { latency: fixed(10_000) } });
      assert.equal(fm.design, "chained");
      const free0 = mm.zone.nrFreePages;
      const seen: Record<string, number> = {};
      env.spawn("app", function* (e) {
        for (let i = 0; i < 4; i++) yield* fuseWriteIter(mm, fi, i, 100 + i);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
        seen.wb = mm.vmstat.get("nr_writeback");
        seen.tmp = mm.vmstat.get("nr_writeback_temp");
        seen.inflight = fusePageIsWriteback(fi, 2) ? 1 : 0;
        yield e.sleep(20_000);
        seen.tmpAfter = mm.vmstat.get("nr_writeback_temp");
      });
      env.run();
      assert.deepEqual(seen, { wb: 0, tmp: 4, inflight: 1, tmpAfter: 0 });
      assert.deepEqual([...fm.conn.storageOf(fi.ino)], [[0, 100], [1, 101], [2, 102], [3, 103]]);
      assert.equal(fi.stats.tempPagesAllocated, 4);
      assert.equal(fm.conn.stats.sent.WRITE, 1, "contiguous pages: one request");
      assert.equal(mm.zone.nrFreePages, free0 - 4, "temp pages freed; the 4 cache pages stay");
    },
  );

  await t.step("fuse_page_mkwrite and write(2) wait for the in-flight WRITE", () => {
    const { env, mm, fi } = world("6.12", { server: { latency: fixed(5000) } }, 1, true);
    const buf = mmapRegion(mm, { mapping: fi.mapping, nrPages: 1 });
    let storedAt = -1;
    env.spawn("app", function* (e) {
      yield* userStore(mm, buf, 0, 1); // faults the page in: a FUSE READ
      const sentAt = e.nowNs;
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // PTE write-protected
      yield* userStore(mm, buf, 0, 2); // write fault → fuse_page_mkwrite waits
      storedAt = e.nowNs - sentAt;
      yield* fuseWriteIter(mm, fi, 0, 3);
    });
    env.run();
    assert.equal(storedAt, 5000, "the store waited for the reply");
    assert.ok(env.trace!.ofKind("fuse_wait_on_page_writeback").length >= 1);
  });

  await t.step(
    "no-check: a re-dirty behind FUSE's back makes a second WRITE for the offset",
    () => {
      const { env, mm, fm, fi } = world("6.12", {
        writeback: "no-check",
        server: { latency: fixed(10_000) },
      });
      env.spawn("app", function* () {
        yield* fuseWriteIter(mm, fi, 0, 1);
        const f = filemapGetEntry(fi.mapping, 0);
        folioGet(mm, f);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        yield* dioRedirty(mm, f, 2);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        yield* dioRedirty(mm, f, 3);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        yield* fuseFsync(mm, fi);
      });
      env.run();
      assert.equal(fi.stats.maxOutstanding, 3);
      assert.equal(fi.stats.writesPerIndex.get(0), 3);
      assert.deepEqual(fm.conn.applied.map((a) => a[2]), [1, 2, 3], "one thread: in order");
    },
  );

  await t.step("wait: WB_SYNC_NONE redirties an in-flight page, WB_SYNC_ALL waits for it", () => {
    const { env, mm, fi } = world("6.12", { writeback: "wait", server: { latency: fixed(8000) } });
    const marks: number[] = [];
    env.spawn("app", function* (e) {
      yield* fuseWriteIter(mm, fi, 0, 1);
      const f = filemapGetEntry(fi.mapping, 0);
      folioGet(mm, f);
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
      yield* dioRedirty(mm, f, 2);
      const wbc = writebackControl({ syncMode: "WB_SYNC_NONE" });
      yield* fuseWritepages(mm, fi.mount, fi, wbc);
      marks.push(wbc.pagesSkipped, mm.mem.testFlag(f, PG.dirty) ? 1 : 0, e.nowNs);
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
      marks.push(e.nowNs);
    });
    env.run();
    assert.deepEqual(marks, [1, 1, 0, 8000]);
    assert.equal(fi.stats.maxOutstanding, 1);
  });

  await t.step(
    "chained: a secondary behind the in-flight WRITE, later re-dirties merged into it",
    () => {
      const { env, mm, fm, fi } = world("6.12", {
        writeback: "chained",
        server: { threads: 4, latency: fixed(10_000) },
      });
      env.spawn("app", function* () {
        yield* fuseWriteIter(mm, fi, 0, 1);
        const f = filemapGetEntry(fi.mapping, 0);
        folioGet(mm, f);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // #1 to the server
        for (const tag of [2, 3, 4]) {
          yield* dioRedirty(mm, f, tag);
          yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        }
        yield* fuseFsync(mm, fi);
      });
      env.run();
      assert.equal(fi.stats.chained, 1);
      assert.equal(fi.stats.mergedIntoQueued, 2);
      assert.equal(fi.stats.maxOutstanding, 2);
      assert.equal(fi.stats.maxInFlight, 1);
      assert.equal(fi.stats.maxSecondaries, 1);
      assert.deepEqual(fm.conn.applied.map((a) => a[2]), [1, 4], "version 4 replaced 2 and 3");
      assert.equal(mm.vmstat.get("nr_writeback_temp"), 0);
    },
  );

  await t.step("sync(2) returns with the WRITE still unanswered; fsync(2) waits for it", () => {
    const { env, mm, fm, fi } = world("6.12", { server: { latency: fixed(50_000) } });
    const at: Record<string, number> = {};
    env.spawn("app", function* (e) {
      yield* fuseWriteIter(mm, fi, 0, 9);
      yield* syncFilesystem(mm);
      at.sync = e.nowNs;
      at.storedAfterSync = fm.conn.storageOf(fi.ino).get(0) ?? 0;
      yield* fuseWriteIter(mm, fi, 1, 10);
      yield* fuseFsync(mm, fi);
      at.fsync = e.nowNs;
    });
    env.run();
    // WRITE #1 (sent by sync) replies at 50 µs, WRITE #2 at 100 µs, then FUSE_FSYNC at 150 µs.
    assert.deepEqual(at, { sync: 0, storedAfterSync: 0, fsync: 150_000 });
  });
});

Deno.test("FUSE writeback without temp pages (v6.16)", async (t) => {
  await t.step("PG_writeback held until the reply, AS flag set, NR_WRITEBACK_TEMP zero", () => {
    const { env, mm, fm, fi } = world("6.16", { server: { latency: fixed(10_000) } });
    assert.equal(fm.design, "no-temp");
    assert.ok(fi.mapping.writebackMayDeadlockOnReclaim);
    const seen: number[] = [];
    env.spawn("app", function* (e) {
      yield* fuseWriteIter(mm, fi, 0, 5);
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
      const f = filemapGetEntry(fi.mapping, 0);
      seen.push(mm.vmstat.get("nr_writeback"), mm.vmstat.get("nr_writeback_temp"));
      yield* filemapFdatawait(mm, fi.mapping);
      seen.push(e.nowNs, mm.mem.testFlag(f, PG.writeback) ? 1 : 0);
    });
    env.run();
    assert.deepEqual(seen, [1, 0, 10_000, 0]);
  });

  await t.step("the server sees the folio's contents when it reads the request", () => {
    const { env, mm, fm, fi } = world("6.16", { server: { latency: fixed(10_000) } });
    env.spawn("app", function* () {
      yield* fuseWriteIter(mm, fi, 0, 5);
      const f = filemapGetEntry(fi.mapping, 0);
      folioGet(mm, f);
      // Queue the WRITE with the server busy, then change the page under writeback (a DMA).
      fm.conn.queueRequest(fm.conn.newRequest("GETATTR", fi.ino, 0));
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
      mm.mem.data[f] = 6;
      yield* fuseFsync(mm, fi);
    });
    env.run();
    assert.equal(fm.conn.storageOf(fi.ino).get(0), 6, "no stable copy: the newer bytes went out");
  });

  await t.step(
    "re-dirty under writeback: WB_SYNC_NONE skips, WB_SYNC_ALL waits; one WRITE at a time",
    () => {
      const { env, mm, fm, fi } = world("6.16", { server: { threads: 4, latency: fixed(10_000) } });
      env.spawn("app", function* () {
        yield* fuseWriteIter(mm, fi, 0, 1);
        const f = filemapGetEntry(fi.mapping, 0);
        folioGet(mm, f);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        yield env.sleep(1); // the server has read WRITE #1 (version 1)
        yield* dioRedirty(mm, f, 2);
        yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
        assert.equal(fm.conn.stats.sent.WRITE ?? 0, 1);
        yield* fuseFsync(mm, fi);
      });
      env.run();
      assert.equal(fi.stats.maxOutstanding, 1);
      assert.deepEqual(fm.conn.applied.map((a) => a[2]), [1, 2]);
    },
  );

  await t.step(
    "a hung server hangs sync(2) on PG_writeback and fuse_set_nowrite on the request",
    () => {
      for (const which of ["sync", "nowrite"] as const) {
        const { env, mm, fi } = world("6.16", { server: { latency: { kind: "never" } } });
        env.spawn(which, function* () {
          yield* fuseWriteIter(mm, fi, 0, 1);
          yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
          if (which === "sync") yield* syncFilesystem(mm);
          else yield* fuseSetNowrite(mm, fi);
        });
        const r = env.run();
        assert.equal(r.waits?.kind, "hung", which);
        const chain = r.waits!.hung.find((h) => h[0]!.startsWith(which))!.join(" → ");
        assert.match(chain, which === "sync" ? /PG_writeback of pfn/ : /fi->page_waitq/);
        assert.match(chain, /FUSE_WRITE #1 .* never replies/);
        if (which === "nowrite") assert.equal(fi.writectr, FUSE_NOWRITE + 1);
      }
    },
  );
});

Deno.test("FUSE read side: a fault on an mmap'ed page reads it from the server", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fm = new FuseMount(mm, { server: { latency: fixed(300) } });
  const fi = fm.createInode(new Map([[0, 41], [1, 42]]));
  const buf = mmapRegion(mm, { mapping: fi.mapping, nrPages: 2 });
  const got: number[] = [];
  env.spawn("app", function* () {
    for (const i of [0, 1]) {
      const r = yield* userLoad(mm, buf, i);
      if (r.ok) got.push(r.value);
    }
  });
  env.run();
  assert.deepEqual(got, [41, 42]);
  assert.ok((fm.conn.stats.replied.READ ?? 0) >= 1);
});

Deno.test("FUSE writeback property: per design, bounded WRITEs per offset and no lost update where promised", () => {
  const designs: FuseWritebackDesign[] = ["chained", "no-temp", "no-check", "wait"];
  fc.assert(
    fc.property(
      fc.constantFrom(...designs),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 1 << 30 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })), {
        minLength: 1,
        maxLength: 25,
      }),
      (design, threads, seed, ops) => {
        const version = design === "no-temp" ? "6.16" : "6.12";
        const env = new Engine({ seed, strategy: random(seed) });
        const mm = new Mm(env, { memory: { nrFrames: 1024 }, version });
        const fm = new FuseMount(mm, {
          writeback: design,
          server: { threads, latency: { kind: "exponential", meanNs: 5000 } },
        });
        const fi = fm.createInode();
        let tag = 0;
        env.spawn("app", function* (e) {
          const pinned: number[] = [];
          for (let i = 0; i < 3; i++) {
            yield* fuseWriteIter(mm, fi, i, ++tag);
            const f = filemapGetEntry(fi.mapping, i);
            folioGet(mm, f);
            pinned.push(f);
          }
          for (const [op, i] of ops) {
            if (op === 0) yield* fuseWriteIter(mm, fi, i, ++tag);
            else if (op === 1) yield* dioRedirty(mm, pinned[i]!, ++tag);
            else {yield* filemapFdatawrite(
                mm,
                fi.mapping,
                op === 2 ? "WB_SYNC_NONE" : "WB_SYNC_ALL",
              );}
            yield e.sleep(1000);
          }
          yield* fuseFsync(mm, fi);
        });
        const r = env.run({ maxSteps: 1_000_000 });
        assert.equal(r.reason, "done");
        assert.deepEqual(r.violations, []);
        const s = fi.stats;
        if (design === "no-temp" || design === "wait") assert.ok(s.maxOutstanding <= 1);
        if (design === "chained") {
          assert.ok(s.maxOutstanding <= 2 && s.maxInFlight <= 1 && s.maxSecondaries <= 1);
        }
        assert.equal(mm.vmstat.get("nr_writeback_temp"), 0, "every temp page freed");
        if (design === "no-temp") assert.equal(s.tempPagesAllocated, 0);
        if (design !== "no-check" || threads === 1) {
          for (const [i, v] of fi.mapping.latest) {
            assert.equal(fm.conn.storageOf(fi.ino).get(i), v, `${design}: index ${i}`);
          }
        }
      },
    ),
    { numRuns: 60, seed: 42 },
  );
});
