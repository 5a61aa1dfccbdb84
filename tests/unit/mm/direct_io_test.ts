import assert from "node:assert/strict";
import { filemapGetEntry } from "../../../lib/mm/address_space.ts";
import {
  aioDirectRead,
  dioStats,
  doBlockdevDirectIO,
  iomapDioRw,
} from "../../../lib/mm/direct_io.ts";
import { genericPerformWrite } from "../../../lib/mm/filemap.ts";
import { folioPutRefs } from "../../../lib/mm/folio.ts";
import {
  allocMigrationTarget,
  filemapMigrateFolio,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../../../lib/mm/migrate.ts";
import { doMunmap, mmapRegion, PTE, userLoad, userStore } from "../../../lib/mm/mmap.ts";
import { isDirty, kinds, world, writebackFolio } from "./_mmap_fixture.ts";

const TIMELINE = [
  "page_mkwrite",
  "bio_set_pages_dirty",
  "folio_mkclean",
  "block_bio_complete",
  "bio_check_pages_dirty",
  "bio_dirty_fn",
];

Deno.test("async DIO read into an mmap'ed file page (thread 001, C1.1)", async (t) => {
  await t.step(
    "dirtied at submit, cleaned by writeback, re-dirtied at completion: no page_mkwrite",
    () => {
      const { env, mm, file, disk } = world();
      disk.backing.set(0, 500);
      const buf = mmapRegion(mm, { mapping: file, nrPages: 1 });
      let page = -1;
      env.spawn("app", function* (e) {
        yield* userStore(mm, buf, 0, 1); // the buffer page is mapped writable: one page_mkwrite
        page = buf.pteOf(0);
        const r = yield* aioDirectRead(mm, disk, buf, {
          nrPages: 1,
          device: { latency: { kind: "fixed", ns: 1_000_000 } },
        });
        assert.deepEqual(r, { ok: true, value: 1 });
        yield e.sleep(10);
      });
      env.spawn("flusher", function* (e) {
        yield e.sleep(100_000); // while the device fills the page
        assert.ok(yield* writebackFolio(mm, page), "the flusher finds the page dirty");
      });
      assert.equal(env.run().reason, "done");
      assert.deepEqual(kinds(env, TIMELINE), TIMELINE);
      assert.equal(env.trace!.ofKind("page_mkwrite").length, 1, "only the user's first store");
      assert.ok(isDirty(mm, page), "re-dirtied behind the filesystem's back");
      assert.equal(buf.pteBits[0]! & PTE.write, 0, "and its PTE is still write-protected");
      assert.equal(mm.mem.data[page], 500, "the DMA filled the page");
      assert.equal(file.backing.get(0), 1, "writeback wrote the old contents");
      assert.equal(file.latest.get(0), 500);
      assert.equal(mm.mem.refcount[page], 2, "page cache + PTE: the bio let go");
      const s = dioStats(mm);
      assert.equal(s.deferredRedirty, 1);
      assert.equal(s.redirtiedPages, 1);
    },
  );

  await t.step("no writeback meanwhile: the page is still dirty, nothing is deferred", () => {
    const { env, mm, file, disk } = world();
    const buf = mmapRegion(mm, { mapping: file, nrPages: 2 });
    env.spawn("app", function* () {
      yield* userStore(mm, buf, 0, 1);
      yield* userStore(mm, buf, 1, 2);
      yield* aioDirectRead(mm, disk, buf, { nrPages: 2 });
    });
    env.run();
    assert.deepEqual(kinds(env, ["bio_set_pages_dirty", "bio_check_pages_dirty", "bio_dirty_fn"]), [
      "bio_set_pages_dirty",
      "bio_set_pages_dirty",
      "bio_check_pages_dirty",
    ]);
    assert.equal(dioStats(mm).deferredRedirty, 0);
  });

  await t.step("bio_dirty_fn runs dirtyWorkDelayNs after the completion", () => {
    const { env, mm, file, disk } = world();
    const buf = mmapRegion(mm, { mapping: file, nrPages: 1 });
    let redirtiedAt = -1;
    env.spawn("app", function* () {
      yield* userStore(mm, buf, 0, 1);
      const page = buf.pteOf(0);
      env.spawn("flusher", function* (e) {
        yield e.sleep(10);
        yield* writebackFolio(mm, page);
      });
      yield* aioDirectRead(mm, disk, buf, {
        device: { latency: { kind: "fixed", ns: 1000 }, dirtyWorkDelayNs: 5000 },
      });
    });
    env.run();
    redirtiedAt = env.trace!.ofKind("bio_dirty_fn")[0]!.tNs;
    const completedAt = env.trace!.ofKind("block_bio_complete")[0]!.tNs;
    assert.equal(redirtiedAt - completedAt, 5000);
  });

  await t.step("a sync DIO read (2013) dirties the pages at completion, not at submit", () => {
    const { env, mm, file, disk } = world();
    disk.backing.set(3, 42);
    const buf = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("app", function* () {
      yield* userStore(mm, buf, 0, 1);
      const page = buf.pteOf(0);
      env.spawn("flusher", function* (e) {
        yield e.sleep(500_000);
        yield* writebackFolio(mm, page);
      });
      const r = yield* doBlockdevDirectIO(
        mm,
        "READ",
        { mapping: disk, index: 3, async: false },
        { vma: buf, index: 0, nrPages: 1 },
        { latency: { kind: "fixed", ns: 1_000_000 } },
      );
      assert.ok(r.ok && r.value.size === 1);
      assert.ok(isDirty(mm, page), "set_page_dirty_lock in dio_bio_complete");
      assert.equal(mm.mem.data[page], 42);
    });
    assert.equal(env.run().reason, "done");
    assert.deepEqual(
      kinds(env, [
        "page_mkwrite",
        "writeback_dirty_folio",
        "bio_set_pages_dirty",
        "folio_mkclean",
        "block_bio_complete",
        "dio_bio_complete",
      ]),
      [
        "page_mkwrite",
        "writeback_dirty_folio", // the user's store
        "folio_mkclean", // the flusher, during the I/O
        "block_bio_complete",
        "dio_bio_complete",
        "writeback_dirty_folio", // set_page_dirty_lock: no page_mkwrite
      ],
    );
  });

  await t.step("the anonymous-buffer case is the common one and needs no filesystem", () => {
    const { env, mm, disk } = world();
    disk.backing.set(0, 9);
    const buf = mmapRegion(mm, { nrPages: 1 });
    env.spawn("app", function* () {
      const r = yield* aioDirectRead(mm, disk, buf, {});
      assert.deepEqual(r, { ok: true, value: 1 });
      assert.deepEqual(yield* userLoad(mm, buf, 0), { ok: true, value: 9 });
    });
    assert.equal(env.run().reason, "done");
  });
});

Deno.test("iomap_dio_rw flushes and invalidates the page cache around the I/O", async (t) => {
  await t.step(
    "a read first writes back dirty cached pages of the file (kiocb_write_and_wait)",
    () => {
      const { env, mm, disk } = world();
      disk.backing.set(0, 1);
      const buf = mmapRegion(mm, { nrPages: 1 });
      env.spawn("app", function* () {
        yield* genericPerformWrite(mm, disk, 0, 600); // buffered write: cached, dirty
        const r = yield* iomapDioRw(
          mm,
          "READ",
          { mapping: disk, index: 0, async: false },
          { vma: buf, index: 0, nrPages: 1 },
        );
        assert.ok(r.ok);
        assert.deepEqual(yield* userLoad(mm, buf, 0), { ok: true, value: 600 }, "fresh, not stale");
      });
      assert.equal(env.run().reason, "done");
      assert.ok(!isDirty(mm, filemapGetEntry(disk, 0)));
    },
  );

  await t.step("without the page-cache pass (pageCacheSync: false) the read is stale", () => {
    const { env, mm, disk } = world();
    disk.backing.set(0, 1);
    const buf = mmapRegion(mm, { nrPages: 1 });
    env.spawn("app", function* () {
      yield* genericPerformWrite(mm, disk, 0, 600);
      yield* iomapDioRw(
        mm,
        "READ",
        { mapping: disk, index: 0, async: false },
        { vma: buf, index: 0, nrPages: 1 },
        { pageCacheSync: false },
      );
      assert.deepEqual(yield* userLoad(mm, buf, 0), { ok: true, value: 1 }, "the disk's old data");
    });
    assert.equal(env.run().reason, "done");
  });

  await t.step("a write invalidates the cached pages so later reads see the new data", () => {
    const { env, mm, disk } = world();
    const buf = mmapRegion(mm, { nrPages: 1 });
    env.spawn("app", function* () {
      yield* genericPerformWrite(mm, disk, 0, 600);
      yield* userStore(mm, buf, 0, 700);
      const r = yield* iomapDioRw(
        mm,
        "WRITE",
        { mapping: disk, index: 0, async: false },
        { vma: buf, index: 0, nrPages: 1 },
      );
      assert.ok(r.ok);
    });
    assert.equal(env.run().reason, "done");
    assert.equal(disk.backing.get(0), 700);
    assert.equal(filemapGetEntry(disk, 0), -1, "no stale cached copy");
  });

  await t.step("iomap reads dirty the pages at submission even when synchronous", () => {
    const { env, mm, file, disk } = world();
    const buf = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("app", function* () {
      yield* userStore(mm, buf, 0, 1);
      yield* iomapDioRw(
        mm,
        "READ",
        { mapping: disk, index: 0, async: false },
        { vma: buf, index: 0, nrPages: 1 },
      );
    });
    env.run();
    assert.deepEqual(
      kinds(env, ["bio_set_pages_dirty", "bio_check_pages_dirty", "pin_user_pages"]),
      [
        "pin_user_pages",
        "bio_set_pages_dirty",
        "bio_check_pages_dirty",
      ],
    );
  });
});

Deno.test("DIO page references: migration, hangs, use-after-free", async (t) => {
  await t.step("a page under DIO cannot be migrated (EAGAIN); after completion it can", () => {
    const { env, mm, file, disk } = world();
    file.aops.migrateFolio = filemapMigrateFolio;
    const buf = mmapRegion(mm, { mapping: file, nrPages: 1 });
    const rcs: string[] = [];
    env.spawn("app", function* () {
      yield* userStore(mm, buf, 0, 1);
      yield* aioDirectRead(mm, disk, buf, {
        device: { latency: { kind: "fixed", ns: 1_000_000 }, gup: "FOLL_PIN" },
      });
    });
    env.spawn("kcompactd", function* (e) {
      for (const at of [500_000, 1_500_000]) {
        yield e.sleep(at - e.nowNs);
        const f = buf.pteOf(0);
        assert.ok(isolateFolioForMigration(mm, f));
        const r = yield* migratePages(
          mm,
          [f],
          allocMigrationTarget,
          "MIGRATE_SYNC",
          "MR_COMPACTION",
        );
        rcs.push(r.outcomes[0]!.rc);
        putbackMovablePages(mm, r.failed);
      }
    });
    assert.equal(env.run().reason, "done");
    assert.deepEqual(rcs, ["EAGAIN", "MIGRATEPAGE_SUCCESS"]);
  });

  await t.step("a device that never completes leaves the reader hung and the page pinned", () => {
    const { env, mm, disk } = world();
    const buf = mmapRegion(mm, { nrPages: 1 });
    env.spawn("app", function* () {
      yield* aioDirectRead(mm, disk, buf, {
        device: { latency: { kind: "never" }, gup: "FOLL_PIN" },
      });
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.ok(mm.mem.refcount[buf.pteOf(0)]! > 1024, "still pinned");
    assert.ok(r.waits!.hung.length > 0, "the bio is a hung wait");
  });

  await t.step("a page freed under the I/O is a use-after-free at DMA time", () => {
    const { env, mm, disk } = world();
    const buf = mmapRegion(mm, { nrPages: 1 });
    env.spawn("buggy", function* () {
      const p = (yield* userLoad(mm, buf, 0), buf.pteOf(0));
      env.spawn("over-put", function* (e) {
        yield e.sleep(10);
        doMunmap(mm, buf); // the PTE's reference
        // A refcount bug drops the DIO's reference: freed (free_pages_prepare clears an
        // anonymous folio's mapping; folio.ts does not know anon_vma ids yet).
        mm.mem.mapping[p] = 0;
        folioPutRefs(mm, p, 1);
      });
      yield* aioDirectRead(mm, disk, buf, { device: { latency: { kind: "fixed", ns: 1000 } } });
    });
    const r = env.run({ stopOnViolation: false });
    assert.ok(r.violations.length > 0);
    assert.ok(r.violations.every((v) => v.name === "use-after-free"), JSON.stringify(r.violations));
    assert.match(r.violations[0]!.message, /DMA of bio#1: pfn \d+ was freed/);
  });
});
