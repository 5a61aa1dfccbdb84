import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  allocMigrationTarget,
  Engine,
  filemapGetEntry,
  filemapMigrateFolio,
  filemapSpliceRead,
  installMmChecker,
  isolateFolioForMigration,
  migratePages,
  Mm,
  PG,
  Pipe,
  pipeRead,
  putbackMovablePages,
  SimpleFs,
  spliceStats,
  truncateInodePagesRange,
} from "../../../mod.ts";

function world(o: { maxOrder?: number; latencyNs?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: o.latencyNs ?? 1000 } });
  const file = fs.createFile({ name: "f", sizePages: 8, fillPages: 8, maxOrder: o.maxOrder });
  file.aops.migrateFolio = filemapMigrateFolio;
  return { env, mm, file };
}

Deno.test("filemapSpliceRead puts page-cache pages into the pipe by reference", async (t) => {
  await t.step("a miss reads through the page cache; one reference per buffer", () => {
    const { env, mm, file } = world();
    const pipe = new Pipe();
    let n = -1, at = -1;
    env.spawn("splice", function* (e) {
      const r = yield* filemapSpliceRead(mm, file, 2, 3, pipe);
      if (r.ok) n = r.value;
      at = e.nowNs;
    });
    env.run();
    assert.deepEqual([n, at], [3, 1000], "read from storage first");
    assert.deepEqual(pipe.bufs.map((b) => b.index), [2, 3, 4]);
    for (const b of pipe.bufs) {
      assert.equal(b.folio, filemapGetEntry(file, b.index), "the page-cache page itself");
      assert.equal(mm.mem.refcount[b.folio], 2, "page cache + pipe buffer");
    }
    assert.equal(spliceStats(mm).spliced, 3);
    assert.deepEqual(
      env.trace!.ofKind("filemap_splice_read").map((e) => [e.obj, e.before, e.after]),
      [
        ["f", 2, 3],
      ],
    );
  });
  await t.step("a large folio gets one buffer (and one reference) per page spliced", () => {
    const { env, mm, file } = world({ maxOrder: 2 });
    const pipe = new Pipe();
    env.spawn("splice", function* () {
      yield* filemapSpliceRead(mm, file, 0, 4, pipe);
    });
    env.run();
    const byFolio = new Map<number, number>();
    for (const b of pipe.bufs) byFolio.set(b.folio, (byFolio.get(b.folio) ?? 0) + 1);
    assert.ok([...byFolio.keys()].some((f) => mm.mem.order[f]! > 0), "readahead made large folios");
    for (const [f, n] of byFolio) assert.equal(mm.mem.refcount[f], (1 << mm.mem.order[f]!) + n);
  });
});

Deno.test("pipeRead confirms each buffer, copies it and drops its reference", async (t) => {
  const spliced = (count = 3) => {
    const w = world();
    const pipe = new Pipe("p");
    w.env.spawn("splice", function* () {
      yield* filemapSpliceRead(w.mm, w.file, 0, count, pipe);
    });
    w.env.run();
    return { ...w, pipe };
  };
  await t.step("all uptodate and cached: the contents, references back to the cache's", () => {
    const { mm, file, pipe } = spliced();
    const folios = pipe.bufs.map((b) => b.folio);
    assert.deepEqual(pipeRead(mm, pipe), {
      ok: true,
      value: [0, 1, 2].map((i) => file.backing.get(i)),
    });
    assert.ok(folios.every((f) => mm.mem.refcount[f] === 1));
    assert.deepEqual([pipe.bufs.length, spliceStats(mm).read], [0, 3]);
  });
  await t.step("a page truncated meanwhile: kept alive by the pipe, then ENODATA (ENOENT)", () => {
    const { env, mm, file, pipe } = spliced(1);
    const f = pipe.bufs[0]!.folio;
    const ref = mm.ref(f);
    env.spawn("truncate", function* () {
      yield* truncateInodePagesRange(mm, file, 0, Infinity);
    });
    env.run();
    assert.equal(mm.isLive(ref), true, "the pipe's reference keeps the frame");
    assert.equal(mm.mem.mapping[f], 0);
    assert.deepEqual(pipeRead(mm, pipe), { ok: false, errno: "ENOENT" });
    assert.equal(spliceStats(mm).confirmFailures[0]!.errno, "ENODATA");
    assert.equal(mm.isLive(ref), false, "freed with the last reference");
  });
  await t.step("a page no longer uptodate: EIO, recorded with its dirty bit", () => {
    const { env, mm, pipe } = spliced(1);
    const f = pipe.bufs[0]!.folio;
    mm.mem.clearFlag(f, PG.uptodate);
    mm.mem.setFlag(f, PG.dirty);
    assert.deepEqual(pipeRead(mm, pipe), { ok: false, errno: "EIO" });
    const fail = spliceStats(mm).confirmFailures[0]!;
    assert.deepEqual([fail.errno, fail.dirty, fail.index], ["EIO", true, 0]);
    assert.deepEqual(env.trace!.ofKind("page_cache_pipe_buf_confirm").map((e) => e.after), ["EIO"]);
  });
  await t.step("a failure after good buffers: a short read; the rest stays in the pipe", () => {
    const { mm, file, pipe } = spliced(3);
    mm.mem.clearFlag(pipe.bufs[1]!.folio, PG.uptodate);
    assert.deepEqual(pipeRead(mm, pipe), { ok: true, value: [file.backing.get(0)] });
    assert.deepEqual(pipe.bufs.map((b) => b.index), [2]);
  });
});

Deno.test("a page in a pipe cannot be migrated: the buffer's reference means -EAGAIN", () => {
  const { env, mm, file } = world();
  const pipe = new Pipe();
  const rcs: string[] = [];
  env.spawn("t", function* () {
    yield* filemapSpliceRead(mm, file, 0, 1, pipe);
    for (const inPipe of [true, false]) {
      if (!inPipe) pipeRead(mm, pipe);
      const f = filemapGetEntry(file, 0);
      assert.ok(isolateFolioForMigration(mm, f));
      const r = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_COMPACTION");
      putbackMovablePages(mm, r.failed);
      rcs.push(r.outcomes[0]!.rc);
    }
  });
  env.run();
  assert.deepEqual(rcs, ["EAGAIN", "MIGRATEPAGE_SUCCESS"]);
});

Deno.test("splice property: spliced data is what the file held; no frame leaks, checker silent", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ at: fc.nat(6), count: fc.integer({ min: 1, max: 3 }), truncate: fc.boolean() }),
        {
          minLength: 1,
          maxLength: 6,
        },
      ),
      (ops) => {
        const { env, mm, file } = world({ latencyNs: 100 });
        installMmChecker(mm);
        const free0 = mm.zone.nrFreePages;
        const pipes: Pipe[] = [];
        const reads: Array<{ r: ReturnType<typeof pipeRead>; at: number; count: number }> = [];
        env.spawn("t", function* () {
          for (const o of ops) {
            const p = new Pipe();
            yield* filemapSpliceRead(mm, file, o.at, o.count, p);
            pipes.push(p);
            if (o.truncate) yield* truncateInodePagesRange(mm, file, o.at, o.at);
          }
          for (const [k, p] of pipes.entries()) {
            reads.push({ r: pipeRead(mm, p), at: ops[k]!.at, count: ops[k]!.count });
            while (p.bufs.length > 0) pipeRead(mm, p); // drain what a failed confirm left
          }
          yield* truncateInodePagesRange(mm, file, 0, Infinity);
        });
        const res = env.run();
        assert.deepEqual(res.violations, []);
        for (const { r, at } of reads) {
          if (!r.ok) continue;
          r.value.forEach((tag, k) => assert.equal(tag, file.backing.get(at + k)));
        }
        assert.equal(mm.zone.nrFreePages, free0, "every frame came back");
      },
    ),
    { numRuns: 60 },
  );
});
