import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine } from "../../../lib/sim/engine.ts";
import { explore, randomSearch } from "../../../lib/sim/explore.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { filemapGetEntry, type MigrateMode } from "../../../lib/mm/address_space.ts";
import { PG } from "../../../lib/mm/memory.ts";
import { folioAlloc } from "../../../lib/mm/folio.ts";
import { filemapAddFolioLocked, filemapReadFolio } from "../../../lib/mm/filemap.ts";
import {
  allocMigrationTarget,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../../../lib/mm/migrate.ts";
import { mappingConstructRanges } from "../../../lib/mm/construct_range.ts";
import { FuseMount } from "../../../lib/fs/fuse.ts";
import { type FuseReadConfigInput, FuseReadSide } from "../../../lib/fs/fuse_read.ts";
import {
  fusePerformWrite,
  fuseRefFolio,
  fuseSpliceReadInstall,
  pipeStats,
  ServerPipe,
} from "../../../lib/fs/fuse_splice.ts";
import { abandonRaceWorld } from "../../../lib/claims/thread000_explore.ts";
import { streamingRead } from "../../../lib/claims/thread000_stream.ts";

const L = 1_000_000;

function world(cfg: FuseReadConfigInput = {}, pages = 64) {
  const env = new Engine({ seed: 1 });
  const mm = new Mm(env, { memory: { nrFrames: 2048 }, zone: { minFreeKbytes: 0 } });
  const mount = new FuseMount(mm, { server: { threads: 4, latency: { kind: "fixed", ns: 0 } } });
  const rs = new FuseReadSide(mount, { latency: { kind: "fixed", ns: L }, ...cfg });
  const contents = new Map<number, number>();
  for (let i = 0; i < pages; i++) contents.set(i, 100 + i);
  const fi = rs.createInode(contents);
  return { env, mm, mount, rs, fi, contents };
}

function readAll(w: ReturnType<typeof world>, index: number, count: number) {
  const out: { tags: number[] | null } = { tags: null };
  w.env.spawn("reader", function* () {
    const r = yield* w.rs.read(w.fi, index, count);
    out.tags = r.ok ? r.value : null;
  });
  return out;
}

function migrateAt(w: ReturnType<typeof world>, atNs: number, index: number, mode: MigrateMode) {
  const out = { rc: "", tNs: -1 };
  w.env.spawn("migrate", function* (e) {
    yield e.sleep(atNs);
    const f = filemapGetEntry(w.fi.mapping, index);
    if (!isolateFolioForMigration(w.mm, f)) throw new Error("cannot isolate");
    const r = yield* migratePages(w.mm, [f], allocMigrationTarget, mode, "MR_COMPACTION");
    out.rc = r.outcomes[0]!.rc;
    out.tNs = e.nowNs;
    putbackMovablePages(w.mm, r.failed);
  });
  return out;
}

Deno.test("FuseReadSide readahead and replies", async (t) => {
  await t.step("a /dev/fuse copy fills each folio once; the request's reference is dropped", () => {
    const w = world();
    const got = readAll(w, 0, 8);
    w.env.run();
    assert.deepEqual(got.tags, [...Array(8).keys()].map((i) => 100 + i));
    assert.equal(w.rs.stats.memcpyPages, w.rs.stats.pagesRequested);
    const f = filemapGetEntry(w.fi.mapping, 3);
    assert.equal(w.mm.mem.refcount[f], 1, "only the page cache holds it");
    assert.equal(w.rs.outstanding.size, 0);
  });
  await t.step(
    "the placeholder's lock is the READ's: a hung server shows in the wait-for graph",
    () => {
      const w = world({ latency: { kind: "never" } });
      readAll(w, 0, 1);
      const r = w.env.run();
      assert.equal(r.waits?.kind, "hung");
      assert.match(r.waits!.text, /reader.*PG_locked.*FUSE_READ/);
      assert.equal(w.rs.lockedReadFolios(), w.rs.outstandingReadaheadPages());
    },
  );
  await t.step("splice-move replaces each placeholder by the server's page", () => {
    const w = world({ reply: "splice", splice: { pipeMaxUsage: 64 } });
    const got = readAll(w, 0, 4);
    let placeholder = -1;
    w.env.spawn("peek", function* (e) {
      yield e.sleep(L / 2);
      placeholder = filemapGetEntry(w.fi.mapping, 0);
    });
    w.env.run();
    assert.deepEqual(got.tags, [100, 101, 102, 103]);
    assert.ok(w.rs.stats.movedPages > 0);
    assert.notEqual(filemapGetEntry(w.fi.mapping, 0), placeholder);
    assert.equal(w.mm.mem.refcount[placeholder], 0, "the placeholder was freed");
    assert.equal(pipeStats(w.mm).live, 0);
  });
  await t.step("unstealable server pages fall back to one copy into the placeholder", () => {
    const w = world({ reply: "splice", splice: { stealable: false, pipeMaxUsage: 64 } });
    const got = readAll(w, 0, 4);
    w.env.run();
    assert.deepEqual(got.tags, [100, 101, 102, 103]);
    assert.equal(w.rs.stats.movedPages, 0);
    assert.equal(w.rs.stats.memcpyPages, w.rs.stats.pagesRequested);
  });
  await t.step("a READ that does not fit the pipe goes through write(2)", () => {
    const w = world({ reply: "splice", splice: { pipeMaxUsage: 2 } });
    const got = readAll(w, 0, 4);
    w.env.run();
    assert.deepEqual(got.tags, [100, 101, 102, 103]);
    assert.ok(w.rs.stats.spliceTooBig > 0);
  });
  await t.step("after fuse_abort_conn reads fail with -EIO", () => {
    const w = world();
    w.rs.abortConn();
    const got = readAll(w, 0, 1);
    w.env.run();
    assert.equal(got.tags, null);
  });
});

Deno.test("migration of readahead folios by mode", async (t) => {
  for (const mode of ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"] as const) {
    await t.step(`${mode} without the hook`, () => {
      const w = world();
      readAll(w, 0, 4);
      const m = migrateAt(w, 10, 2, mode);
      w.env.run();
      if (mode === "MIGRATE_SYNC") {
        assert.equal(m.rc, "MIGRATEPAGE_SUCCESS");
        assert.ok(m.tNs >= L, "waited for the reply");
      } else {
        assert.equal(m.rc, "EAGAIN");
        assert.equal(m.tNs, 10, "gave up at once");
      }
    });
  }
  for (const abandon of ["unlock", "remove"] as const) {
    await t.step(`the hook (${abandon}): migrated at once, late reply dropped, data intact`, () => {
      const w = world({ abandon });
      const got = readAll(w, 0, 4);
      const m = migrateAt(w, 10, 0, "MIGRATE_ASYNC");
      const r = w.env.run();
      assert.equal(m.rc, "MIGRATEPAGE_SUCCESS");
      assert.ok(m.tNs < L);
      assert.equal(w.rs.stats.abandoned, 1);
      assert.equal(w.rs.stats.lateRepliesDropped, 1);
      assert.deepEqual(got.tags, [100, 101, 102, 103]);
      assert.equal(r.violations.length, 0);
    });
  }
  await t.step("the hook leaves ->read_folio folios alone (their reader owns the lock)", () => {
    const w = world({ abandon: "unlock" });
    let f = -1;
    w.env.spawn("read_folio", function* () {
      f = folioAlloc(w.mm, 0);
      filemapAddFolioLocked(w.mm, w.fi.mapping, f, 0);
      yield* filemapReadFolio(w.mm, w.fi.mapping, f);
    });
    const m = migrateAt(w, 10, 0, "MIGRATE_ASYNC");
    w.env.run();
    assert.equal(m.rc, "EAGAIN");
    assert.equal(w.rs.stats.abandoned, 0);
    assert.equal(w.mm.mem.testFlag(f, PG.uptodate), true);
  });
  await t.step("negative control: a late reply copied into the abandoned frame is caught", () => {
    const w = world({ abandon: "remove", lateReply: "copy" });
    readAll(w, 0, 1);
    migrateAt(w, 10, 0, "MIGRATE_ASYNC");
    const r = w.env.run({ stopOnViolation: false });
    assert.ok(r.violations.some((v) => v.name === "use-after-free"));
  });
});

Deno.test("late allocation over under-construction ranges", async (t) => {
  await t.step("no locked folio while the READs are outstanding; folios arrive uptodate", () => {
    const w = world({ lateAllocation: true });
    const got = readAll(w, 0, 8);
    let locked = -1, underConstruction = -1;
    w.env.spawn("peek", function* (e) {
      yield e.sleep(L / 2);
      locked = w.rs.lockedReadFolios();
      underConstruction = mappingConstructRanges(w.fi.mapping).pagesUnderConstruction;
    });
    w.env.run();
    assert.deepEqual(got.tags, [...Array(8).keys()].map((i) => 100 + i));
    assert.equal(locked, 0);
    assert.ok(underConstruction > 0);
    assert.ok(w.rs.stats.lateAllocated >= 8);
  });
  await t.step("a reader waits on the range, and the wait-for graph names the READ", () => {
    const w = world({ lateAllocation: true, latency: { kind: "never" } });
    readAll(w, 0, 1);
    const r = w.env.run();
    assert.equal(r.waits?.kind, "hung");
    assert.match(r.waits!.text, /construct ranges.*FUSE_READ/);
  });
  await t.step("with splice the stolen server page itself is inserted", () => {
    const w = world({ lateAllocation: true, reply: "splice", splice: { pipeMaxUsage: 64 } });
    const got = readAll(w, 0, 4);
    w.env.run();
    assert.deepEqual(got.tags, [100, 101, 102, 103]);
    assert.ok(w.rs.stats.stolenInserted > 0);
    assert.equal(w.rs.stats.lateAllocated, 0);
  });
  await t.step("a failed range and a failed retry give -EIO", () => {
    const w = world({ lateAllocation: true });
    w.rs.abortConn();
    const got = readAll(w, 0, 2);
    w.env.run();
    assert.equal(got.tags, null);
  });
});

Deno.test("splice pins: fuse_ref_folio", async (t) => {
  await t.step("-EIO beyond pipe->max_usage", () => {
    const w = world();
    const pipe = new ServerPipe("p", 1);
    const f = w.mm.zone.allocPages(0, 1, true);
    assert.equal(fuseRefFolio(w.mm, pipe, f).ok, true);
    const r = fuseRefFolio(w.mm, pipe, f);
    assert.equal(r.ok ? "" : r.errno, "EIO");
  });
  await t.step("a WRITE's page stays referenced for the hold time after the reply", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 256 } });
    const fm = new FuseMount(mm, { server: { latency: { kind: "fixed", ns: 0 } } });
    fuseSpliceReadInstall(fm, { latencyNs: 100, splice: { holdNs: 10_000 } });
    const fi = fm.createInode();
    env.spawn("w", function* () {
      yield* fusePerformWrite(mm, fi, 0, 9);
    });
    env.run({ maxTimeNs: 5_000 });
    const f = filemapGetEntry(fi.mapping, 0);
    const refs = () => mm.mem.refcount[f];
    assert.equal(refs(), 2);
    assert.equal(mm.mem.testFlag(f, PG.locked) || mm.mem.testFlag(f, PG.dirty), false);
    env.run();
    assert.equal(refs(), 1);
  });
});

Deno.test("property: streaming reads never return stale data; placeholders = outstanding pages", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("locked placeholder", "late allocation", "splice"),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 1000 }),
      (design, streams, lMs, seed) => {
        const r = streamingRead({
          design: design as "locked placeholder" | "late allocation" | "splice",
          streams,
          latency: { kind: "fixed", ns: lMs * 1e6 },
          durationNs: 30e6,
          seed,
        });
        assert.equal(r.staleReads, 0);
        assert.equal(r.violations, 0);
        if (design === "late allocation") assert.equal(r.maxLocked, 0);
        else assert.equal(r.maxLockedMinusOutstanding, 0);
      },
    ),
    { numRuns: 25, seed: 7 },
  );
});

Deno.test("property: abandoning with the late reply dropped never yields a stale read", () => {
  for (const abandon of ["unlock", "remove"] as const) {
    const r = explore(abandonRaceWorld({ abandon, lateReply: "drop", mode: "MIGRATE_ASYNC" }), {
      search: randomSearch({ executions: 150, seed: 3 }),
    });
    assert.equal(r.verdicts["stale read"], "Never");
    assert.equal(r.verdicts.violation, "Never");
    assert.equal(r.verdicts.abandoned, "Sometimes");
  }
});
