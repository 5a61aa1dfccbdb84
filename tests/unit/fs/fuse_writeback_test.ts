import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  Engine,
  filemapFdatawrite,
  filemapGetEntry,
  folioAlloc,
  FUSE_NOWRITE,
  fuseFsync,
  FuseMount,
  type FuseMountConfigInput,
  fuseReleaseNowrite,
  fuseSetNowrite,
  fuseSyncWrites,
  fuseWaitOnPageWriteback,
  fuseWriteIter,
  fuseWritepages,
  MIGRATE,
  Mm,
  PG,
  writebackControl,
} from "../../../mod.ts";

const fixed = (ns: number) => ({ kind: "fixed" as const, ns });

function world(version: string, mount: FuseMountConfigInput = {}, nrFrames = 1024) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames }, version });
  const fm = new FuseMount(mm, mount);
  const fi = fm.createInode();
  return { env, mm, fm, fi };
}

/** Contiguous runs of sorted distinct indices, each cut into chunks of at most `max` pages. */
function expectedRequests(indices: number[], max: number): number {
  const s = [...new Set(indices)].sort((a, b) => a - b);
  let n = 0, run = 0;
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && s[i] === s[i - 1]! + 1 && run < max) run++;
    else {
      n++;
      run = 1;
    }
  }
  return n;
}

Deno.test("fuseWritepages: one WRITE per contiguous run, at most maxPagesPerReq pages", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("6.12", "6.16"),
      fc.uniqueArray(fc.nat(40), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 6 }),
      (version, indices, maxPagesPerReq) => {
        const { env, mm, fm, fi } = world(version, {
          server: { maxPagesPerReq, latency: fixed(1000) },
        });
        env.spawn("app", function* () {
          for (const i of indices) yield* fuseWriteIter(mm, fi, i, 100 + i);
          yield* fuseWritepages(mm, fm, fi, writebackControl({ syncMode: "WB_SYNC_ALL" }));
          yield* fuseFsync(mm, fi);
        });
        assert.equal(env.run().reason, "done");
        assert.equal(fm.conn.stats.sent.WRITE, expectedRequests(indices, maxPagesPerReq));
        for (const i of indices) assert.equal(fm.conn.storageOf(fi.ino).get(i), 100 + i);
        assert.equal(mm.vmstat.get("nr_writeback_temp"), 0);
        assert.equal(mm.vmstat.get("nr_writeback"), 0);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("fuse_set_nowrite holds back new WRITEs until fuse_release_nowrite", () => {
  const { env, mm, fm, fi } = world("6.12", { server: { latency: fixed(1000) } });
  const log: string[] = [];
  env.spawn("writeback", function* (e) {
    yield* fuseWriteIter(mm, fi, 0, 1);
    yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // WRITE #1 in flight
    yield e.sleep(500);
    yield* fuseWriteIter(mm, fi, 1, 2);
    yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE"); // queued behind NOWRITE
    log.push(`queued ${fi.queuedWrites.length} sent ${fm.conn.stats.sent.WRITE} @${e.nowNs}`);
  });
  env.spawn("setattr", function* (e) {
    yield e.sleep(100);
    yield* fuseSetNowrite(mm, fi);
    log.push(`nowrite @${e.nowNs}`);
    yield e.sleep(200);
    assert.equal(fi.queuedWrites.length, 1);
    fuseReleaseNowrite(mm, fi);
    log.push(`released @${e.nowNs}: queued ${fi.queuedWrites.length}`);
  });
  env.spawn("clock", function* (e) {
    yield e.sleep(5000);
  });
  env.run();
  assert.deepEqual(log, ["queued 1 sent 1 @500", "nowrite @1000", "released @1200: queued 0"]);
  assert.equal(fm.conn.stats.replied.WRITE, 2);
  assert.equal(fi.writectr, 0);
});

Deno.test("fuse_set_nowrite / fuse_release_nowrite misuse is a model bug", () => {
  const { env, mm, fi } = world("6.12");
  assert.throws(
    () => fuseReleaseNowrite(mm, fi),
    /fuse_release_nowrite: fuse ino \d+ writectr is 0, expected FUSE_NOWRITE/,
  );
  fi.writectr = FUSE_NOWRITE;
  env.spawn("nested", function* () {
    yield* fuseSetNowrite(mm, fi);
  });
  assert.throws(
    () => env.run(),
    /fuse_set_nowrite: fuse ino \d+ writectr is -2147483648, expected ≥ 0/,
  );
});

Deno.test("fuseSyncWrites waits for every WRITE sent so far (the temp-page fsync wait)", () => {
  const { env, mm, fi } = world("6.12", { server: { threads: 2, latency: fixed(3000) } });
  let doneAt = -1;
  env.spawn("fsync", function* (e) {
    for (const i of [0, 5]) yield* fuseWriteIter(mm, fi, i, i);
    yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
    assert.equal(mm.vmstat.get("nr_writeback"), 0, "temp pages: PG_writeback already ended");
    yield* fuseSyncWrites(mm, fi);
    doneAt = e.nowNs;
  });
  env.run();
  assert.equal(doneAt, 3000);
});

Deno.test("fuseWaitOnPageWriteback: only a page with a WRITE in flight waits", () => {
  const { env, mm, fi } = world("6.12", { server: { latency: fixed(700) } });
  const at: number[] = [];
  env.spawn("app", function* (e) {
    yield* fuseWriteIter(mm, fi, 2, 1);
    yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_NONE");
    yield* fuseWaitOnPageWriteback(mm, fi, 3);
    at.push(e.nowNs);
    yield* fuseWaitOnPageWriteback(mm, fi, 2);
    at.push(e.nowNs);
  });
  env.run();
  assert.deepEqual(at, [0, 700]);
  assert.deepEqual(env.trace!.ofKind("fuse_wait_on_page_writeback").map((e) => e.obj), [
    `ino ${fi.ino} index 2`,
  ]);
});

Deno.test("a WRITE replied with an error sets AS_EIO on the mapping (both designs)", () => {
  for (const version of ["6.12", "6.16"]) {
    const { env, mm, fm, fi } = world(version, { server: { latency: fixed(100) } });
    fm.conn.handlers.set("WRITE", function* (req) {
      req.error = -5;
    });
    env.spawn("app", function* () {
      yield* fuseWriteIter(mm, fi, 0, 1);
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
      yield* fuseSyncWrites(mm, fi);
    });
    env.run();
    assert.equal(fi.mapping.wbErr, "EIO", version);
    assert.equal(mm.vmstat.get("nr_writeback"), 0, version);
  }
});

Deno.test("temp-page writeback without memory for the temp page redirties the folio", () => {
  const { env, mm, fm, fi } = world("6.12", {}, 256);
  let rc = 0, skipped = 0;
  env.spawn("app", function* () {
    yield* fuseWriteIter(mm, fi, 0, 1);
    while (folioAlloc(mm, 0, MIGRATE.UNMOVABLE) >= 0); // no free frame left
    const wbc = writebackControl({ syncMode: "WB_SYNC_NONE" });
    rc = yield* fuseWritepages(mm, fm, fi, wbc);
    skipped = wbc.pagesSkipped;
  });
  env.run({ maxTimeNs: 1e9 });
  const f = filemapGetEntry(fi.mapping, 0);
  assert.ok(rc < 0, `rc ${rc}`);
  assert.equal(skipped, 1);
  assert.deepEqual([mm.mem.testFlag(f, PG.dirty), mm.mem.testFlag(f, PG.writeback)], [true, false]);
  assert.equal(fm.conn.stats.sent.WRITE ?? 0, 0);
});
