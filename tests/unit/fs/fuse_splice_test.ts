import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  allocMigrationTarget,
  Engine,
  filemapAddFolioLocked,
  filemapFdatawrite,
  filemapGetEntry,
  filemapMigrateFolio,
  folioAlloc,
  folioAttachPrivate,
  folioPut,
  folioUnlock,
  FuseConn,
  type FuseIoArgs,
  FuseMount,
  fusePerformWrite,
  fuseRefFolio,
  FuseSpliceConfig,
  fuseSpliceReadInstall,
  fuseSyncWrites,
  fuseTryMoveFolio,
  fuseWriteIter,
  installMmChecker,
  isolateFolioForMigration,
  migratePages,
  Mm,
  PG,
  pipeBufRelease,
  pipeStats,
  putbackMovablePages,
  ServerPipe,
  serverPipeFill,
} from "../../../mod.ts";

/** A readahead placeholder at index 0 (locked, the request's reference), its args and a pipe. */
function placeholder(o: { nrFrames?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: o.nrFrames ?? 128 } });
  const m = AddressSpace.create(mm, { name: "fuse ino 1" });
  const old = folioAlloc(mm, 0);
  filemapAddFolioLocked(mm, m, old, 0);
  const req = new FuseConn(mm).newRequest("READ", 1, 0);
  const args: FuseIoArgs = {
    req,
    folios: [old],
    refs: [mm.ref(old)],
    abandoned: [false],
    background: true,
    range: null,
    nrPages: 1,
    locked: true,
    aborted: false,
    ended: false,
  };
  const pipe = new ServerPipe("fuse-server-0 pipe");
  return { env, mm, m, old, args, pipe };
}

/** fuse_abort_conn → end_requests for one request: a request nobody holds is ended at once. */
function abort(mm: Mm, args: FuseIoArgs): void {
  args.aborted = true;
  if (args.locked) return; // FR_LOCKED: the copier ends it
  args.ended = true; // args->end: unlock the placeholders, drop the request's references
  for (const f of args.folios) {
    folioUnlock(mm, f);
    folioPut(mm, f);
  }
}

function move(w: ReturnType<typeof placeholder>, fix = true, during?: () => void): number {
  let rc = 99;
  w.env.spawn("fuse_dev_splice_write", function* () {
    rc = yield* fuseTryMoveFolio(w.mm, w.args, 0, w.pipe, fix);
  });
  if (during) {
    w.env.spawn("fuse_abort_conn", function* () {
      during();
    });
  }
  w.env.run({ stopOnViolation: false });
  return rc;
}

Deno.test("FuseSpliceConfig defaults: PIPE_DEF_BUFFERS, the May 2026 fix on, stealable pages", () => {
  assert.deepEqual(FuseSpliceConfig.parse({}), {
    stealable: true,
    lockRequestFix: true,
    pipeMaxUsage: 16,
    fillPipeAtRead: true,
    holdNs: 0,
  });
  assert.equal(FuseSpliceConfig.safeParse({ pipeMaxUsage: 0 }).success, false);
});

Deno.test("serverPipeFill / pipeBufRelease", async (t) => {
  await t.step("one uptodate page per tag, counted live until released", () => {
    const { mm } = placeholder();
    const pipe = new ServerPipe("p", 4);
    assert.deepEqual(serverPipeFill(mm, pipe, [5, 6], false), { ok: true, value: 2 });
    assert.deepEqual(
      pipe.bufs.map((b) => [mm.mem.data[b.page], b.steal, mm.mem.testFlag(b.page, PG.uptodate)]),
      [
        [5, false, true],
        [6, false, true],
      ],
    );
    assert.deepEqual([pipeStats(mm).live, pipeStats(mm).maxLive], [2, 2]);
    for (const b of pipe.bufs.splice(0)) pipeBufRelease(mm, b);
    assert.equal(pipeStats(mm).live, 0);
  });
  await t.step("ENOMEM when no page can be allocated", () => {
    const { mm } = placeholder({ nrFrames: 64 });
    while (folioAlloc(mm, 0) >= 0);
    const r = serverPipeFill(mm, new ServerPipe("p"), [1]);
    assert.deepEqual(r, { ok: false, errno: "ENOMEM" });
  });
  await t.step(
    "releasing a buffer whose page was freed behind the pipe's back is a use-after-free",
    () => {
      const { env, mm } = placeholder();
      const pipe = new ServerPipe("p");
      serverPipeFill(mm, pipe, [1]);
      const b = pipe.bufs.shift()!;
      folioPut(mm, b.page); // someone dropped the pipe's reference
      pipeBufRelease(mm, b);
      assert.deepEqual(env.violations.map((v) => v.name), ["use-after-free"]);
    },
  );
});

Deno.test("fuseTryMoveFolio (fuse_try_move_folio)", async (t) => {
  await t.step("a stealable page replaces the placeholder; the old folio is freed", () => {
    const w = placeholder();
    serverPipeFill(w.mm, w.pipe, [9]);
    const page = w.pipe.bufs[0]!.page;
    const free = w.mm.zone.nrFreePages;
    assert.equal(move(w), 0);
    assert.equal(filemapGetEntry(w.m, 0), page);
    assert.deepEqual(w.args.folios, [page]);
    assert.deepEqual([w.mm.mem.testFlag(page, PG.locked), w.mm.mem.testFlag(page, PG.uptodate)], [
      true,
      false,
    ], "locked, not uptodate until the reply ends it");
    assert.equal(w.mm.mem.refcount[page], 2, "page cache + ap->folios");
    assert.equal(w.mm.zone.nrFreePages, free + 1, "the placeholder went back");
    assert.deepEqual([w.pipe.bufs.length, pipeStats(w.mm).moved, w.args.locked], [0, 1, true]);
    assert.deepEqual(w.env.trace!.kinds((e) => e.kind === "fuse_try_move_folio"), [
      "fuse_try_move_folio",
    ]);
  });
  const fallbacks: Array<[string, (w: ReturnType<typeof placeholder>) => void]> = [
    ["an unstealable buffer", (w) => serverPipeFill(w.mm, w.pipe, [9], false)],
    ["a buffer page with another reference", (w) => {
      serverPipeFill(w.mm, w.pipe, [9]);
      w.mm.mem.refcount[w.pipe.bufs[0]!.page]!++;
    }],
    ["a dirty placeholder", (w) => {
      serverPipeFill(w.mm, w.pipe, [9]);
      w.mm.mem.setFlag(w.old, PG.dirty);
    }],
    ["a placeholder with private data", (w) => {
      serverPipeFill(w.mm, w.pipe, [9]);
      folioAttachPrivate(w.mm, w.old, {});
    }],
    ["a mapped placeholder", (w) => {
      serverPipeFill(w.mm, w.pipe, [9]);
      w.mm.mem.mapcount[w.old] = 1;
    }],
  ];
  for (const [what, setup] of fallbacks) {
    await t.step(`falls back to a copy: ${what}`, () => {
      const w = placeholder();
      setup(w);
      assert.equal(move(w), 1);
      assert.equal(filemapGetEntry(w.m, 0), w.old, "nothing replaced");
      assert.equal(w.pipe.bufs.length, 1, "the caller copies from the buffer");
      assert.equal(w.args.locked, true, "lock_request() again");
      assert.equal(w.mm.mem.testFlag(w.pipe.bufs[0]!.page, PG.locked), false);
      assert.equal(pipeStats(w.mm).fallbacks, 1);
    });
  }
  await t.step("an aborted request: -ENOENT (-2) before anything is touched", () => {
    const w = placeholder();
    serverPipeFill(w.mm, w.pipe, [9]);
    w.args.aborted = true;
    assert.equal(move(w), -2);
    assert.equal(filemapGetEntry(w.m, 0), w.old);
  });
  await t.step("an abort in the unlocked window, with the fix: -2, nothing replaced", () => {
    const w = placeholder();
    serverPipeFill(w.mm, w.pipe, [9]);
    assert.equal(move(w, true, () => abort(w.mm, w.args)), -2);
    assert.deepEqual(w.env.violations, []);
    assert.equal(w.pipe.bufs.length, 1);
  });
  await t.step("…without the fix: replace_page_cache_folio on a folio the abort unlocked", () => {
    const w = placeholder();
    serverPipeFill(w.mm, w.pipe, [9]);
    assert.equal(move(w, false, () => abort(w.mm, w.args)), -5);
    assert.deepEqual(w.env.violations.map((v) => v.name), ["VM_BUG_ON_FOLIO"]);
    assert.match(w.env.violations[0]!.message, /was ended meanwhile/);
  });
});

Deno.test("fuseTryMoveFolio property: moved iff nothing stands in the way; the cache stays consistent", () => {
  fc.assert(
    fc.property(
      fc.record({
        steal: fc.boolean(),
        extraRef: fc.boolean(),
        dirty: fc.boolean(),
        mapped: fc.boolean(),
        aborted: fc.boolean(),
      }),
      (o) => {
        const w = placeholder();
        installMmChecker(w.mm);
        serverPipeFill(w.mm, w.pipe, [9], o.steal);
        const page = w.pipe.bufs[0]!.page;
        if (o.extraRef) w.mm.mem.refcount[page]!++;
        if (o.dirty) w.mm.mem.setFlag(w.old, PG.dirty);
        if (o.mapped) w.mm.mem.mapcount[w.old] = 1;
        w.args.aborted = o.aborted;
        const rc = move(w);
        const clear = o.steal && !o.extraRef && !o.dirty && !o.mapped;
        assert.equal(rc, o.aborted ? -2 : clear ? 0 : 1, JSON.stringify(o));
        assert.equal(filemapGetEntry(w.m, 0), rc === 0 ? page : w.old);
        assert.equal(w.mm.mem.testFlag(filemapGetEntry(w.m, 0), PG.locked), true);
      },
    ),
    { numRuns: 64 },
  );
});

Deno.test("fuseRefFolio: a folio in the server's pipe cannot migrate (-EAGAIN) until released", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const m = AddressSpace.create(mm, { name: "f", aops: { migrateFolio: filemapMigrateFolio } });
  const f = folioAlloc(mm, 0);
  filemapAddFolioLocked(mm, m, f, 0);
  mm.mem.setFlag(f, PG.uptodate);
  folioUnlock(mm, f);
  folioPut(mm, f);
  const pipe = new ServerPipe("server pipe", 1);
  assert.ok(fuseRefFolio(mm, pipe, f).ok);
  assert.deepEqual(fuseRefFolio(mm, pipe, f), { ok: false, errno: "EIO" }, "max_usage 1");
  const rcs: string[] = [];
  env.spawn("kcompactd", function* () {
    for (const held of [true, false]) {
      if (!held) pipeBufRelease(mm, pipe.bufs.shift()!);
      const src = filemapGetEntry(m, 0);
      assert.ok(isolateFolioForMigration(mm, src));
      const r = yield* migratePages(
        mm,
        [src],
        allocMigrationTarget,
        "MIGRATE_SYNC",
        "MR_COMPACTION",
      );
      putbackMovablePages(mm, r.failed);
      rcs.push(r.outcomes[0]!.rc);
    }
  });
  env.run();
  assert.deepEqual(rcs, ["EAGAIN", "MIGRATEPAGE_SUCCESS"], "unlocked, clean, not under writeback");
  assert.equal(pipeStats(mm).refFolios, 1);
});

Deno.test("fusePerformWrite (write-through) and a splice server", async (t) => {
  await t.step(
    "the folio is unlocked and clean while the request holds it; written through",
    () => {
      const env = new Engine();
      const mm = new Mm(env, { memory: { nrFrames: 256 } });
      const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 1000 } } });
      const fi = fm.createInode();
      const seen: unknown[] = [];
      env.spawn("w", function* () {
        const r = yield* fusePerformWrite(mm, fi, 2, 7);
        seen.push(r.ok);
      });
      env.spawn("observer", function* (e) {
        yield e.sleep(500);
        const f = filemapGetEntry(fi.mapping, 2);
        seen.push(mm.mem.refcount[f], mm.mem.testFlag(f, PG.locked), mm.mem.testFlag(f, PG.dirty));
      });
      env.run();
      assert.deepEqual(seen, [2, false, false, true]);
      assert.equal(fm.conn.storageOf(fi.ino).get(2), 7);
      assert.equal(mm.mem.refcount[filemapGetEntry(fi.mapping, 2)], 1);
    },
  );
  await t.step("a splice WRITE larger than the pipe fails: EIO on the mapping", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 256 }, version: "6.16" });
    const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 0 } } });
    fuseSpliceReadInstall(fm, { splice: { pipeMaxUsage: 2 } });
    const fi = fm.createInode();
    env.spawn("app", function* () {
      for (const i of [0, 1, 2]) yield* fuseWriteIter(mm, fi, i, 10 + i);
      yield* filemapFdatawrite(mm, fi.mapping, "WB_SYNC_ALL");
      yield* fuseSyncWrites(mm, fi);
    });
    env.run();
    assert.equal(fi.mapping.wbErr, "EIO");
    assert.equal(fm.conn.storageOf(fi.ino).size, 0, "nothing stored");
    assert.equal(pipeStats(mm).live, 0, "the two buffers taken were released");
  });
});
