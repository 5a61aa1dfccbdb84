import assert from "node:assert/strict";
import { filemapGetEntry } from "../../../lib/mm/address_space.ts";
import { folioLock, folioPutRefs, folioUnlock } from "../../../lib/mm/folio.ts";
import { MIGRATE, PG } from "../../../lib/mm/memory.ts";
import {
  doMunmap,
  folioMaybeDmaPinned,
  folioMkclean,
  folioPincount,
  folioRmap,
  getUserPages,
  GUP_PIN_COUNTING_BIAS,
  handleMmFault,
  mmapRegion,
  mmapState,
  pinUserPages,
  PTE,
  putUserPage,
  removeMigrationPtes,
  tryToMigrate,
  tryToUnmap,
  unmapMappingRange,
  unpinUserPages,
  unpinUserPagesDirtyLock,
  userLoad,
  userStore,
} from "../../../lib/mm/mmap.ts";
import {
  allocMigrationTarget,
  filemapMigrateFolio,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../../../lib/mm/migrate.ts";
import { isDirty, kinds, world, writebackFolio } from "./_mmap_fixture.ts";

const MKWRITE = ["page_mkwrite", "folio_mkclean", "user_store"];

Deno.test("handleMmFault write notification on a shared file mapping", async (t) => {
  await t.step("read fault maps read-only; first store calls page_mkwrite once", () => {
    const { env, mm, file } = world();
    file.backing.set(0, 11);
    const vma = mmapRegion(mm, { mapping: file, nrPages: 4 });
    assert.equal(vma.writeNotify, true);
    env.spawn("user", function* () {
      const r = yield* userLoad(mm, vma, 0);
      assert.deepEqual(r, { ok: true, value: 11 });
      const i = 0;
      assert.equal(vma.pteBits[i]! & (PTE.present | PTE.write), PTE.present, "read-only PTE");
      assert.ok(!isDirty(mm, vma.pteOf(0)));
      yield* userStore(mm, vma, 0, 12);
      yield* userStore(mm, vma, 0, 13);
      yield* userStore(mm, vma, 0, 14);
    });
    assert.equal(env.run().reason, "done");
    assert.deepEqual(kinds(env, MKWRITE), [
      "page_mkwrite",
      "user_store",
      "user_store",
      "user_store",
    ]);
    const page = vma.pteOf(0);
    assert.ok(isDirty(mm, page));
    assert.equal(vma.pteBits[0]! & (PTE.write | PTE.dirty), PTE.write | PTE.dirty);
    assert.equal(mm.mem.data[page], 14);
    assert.equal(file.latest.get(0), 14);
  });

  await t.step("after folio_mkclean the next store calls page_mkwrite again", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    let cleaned = -1;
    env.spawn("user", function* () {
      yield* userStore(mm, vma, 0, 1);
      yield* userStore(mm, vma, 0, 2);
      const folio = vma.pteOf(0);
      yield* folioLock(mm, folio);
      cleaned = folioMkclean(mm, folio);
      folioUnlock(mm, folio);
      assert.equal(vma.pteBits[0]! & (PTE.write | PTE.dirty), 0, "write-protected and clean");
      yield* userStore(mm, vma, 0, 3);
      yield* userStore(mm, vma, 0, 4);
    });
    env.run();
    assert.equal(cleaned, 1);
    assert.deepEqual(kinds(env, MKWRITE), [
      "page_mkwrite",
      "user_store",
      "user_store",
      "folio_mkclean",
      "page_mkwrite",
      "user_store",
      "user_store",
    ]);
  });

  await t.step("a first access that is a store: do_shared_fault, one page_mkwrite", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 2 });
    env.spawn("user", function* () {
      yield* userStore(mm, vma, 1, 5);
    });
    env.run();
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1);
    assert.equal(env.trace!.ofKind("mm_filemap_fault").length, 1);
    assert.ok(isDirty(mm, vma.pteOf(1)));
    assert.equal(mmapState(mm).stats.wpFaults, 0, "no write-protect fault: mapped writable");
  });

  await t.step("without ->page_mkwrite the generic filemap_page_mkwrite dirties the folio", () => {
    const { env, mm, file } = world({ pageMkwrite: false });
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("user", function* () {
      yield* userLoad(mm, vma, 0);
      yield* userStore(mm, vma, 0, 9);
    });
    env.run();
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1);
    assert.ok(isDirty(mm, vma.pteOf(0)));
  });

  await t.step("vm_ops without page_mkwrite: still write-notified, no page_mkwrite", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1, pageMkwrite: null });
    assert.ok(vma.writeNotify, "mapping_can_writeback");
    env.spawn("user", function* () {
      yield* userLoad(mm, vma, 0);
      yield* userStore(mm, vma, 0, 9);
    });
    env.run();
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 0);
    assert.equal(mmapState(mm).stats.wpFaults, 1, "wp_page_reuse path");
    assert.ok(isDirty(mm, vma.pteOf(0)));
  });

  await t.step("a read-only mapping refuses stores with EFAULT (SIGSEGV)", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1, write: false });
    let r: unknown;
    env.spawn("user", function* () {
      r = yield* userStore(mm, vma, 0, 1);
    });
    env.run();
    assert.deepEqual(r, { ok: false, errno: "EFAULT" });
  });
});

Deno.test("handleMmFault private and anonymous mappings", async (t) => {
  await t.step("a store to MAP_PRIVATE copies the page; the file is untouched", () => {
    const { env, mm, file } = world();
    file.backing.set(0, 21);
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1, shared: false });
    env.spawn("user", function* () {
      assert.deepEqual(yield* userLoad(mm, vma, 0), { ok: true, value: 21 });
      yield* userStore(mm, vma, 0, 22);
    });
    env.run();
    const cached = filemapGetEntry(file, 0);
    const anon = vma.pteOf(0);
    assert.notEqual(anon, cached, "COW copy");
    assert.equal(mm.mem.mapping[anon], vma.anonVma!.id, "folio->mapping is the anon_vma");
    assert.equal(mm.mem.data[cached], 21);
    assert.equal(mm.mem.data[anon], 22);
    assert.ok(!isDirty(mm, cached));
    assert.equal(file.latest.get(0), undefined);
    assert.equal(mm.mem.mapcount[cached], 0, "the file page is no longer mapped");
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 0, "private: no write notify");
  });

  await t.step("anonymous memory: zero-filled, writable on first touch, freed on munmap", () => {
    const { env, mm } = world();
    const vma = mmapRegion(mm, { nrPages: 2 });
    const free0 = mm.zone.nrFreePages;
    env.spawn("user", function* () {
      assert.deepEqual(yield* userLoad(mm, vma, 0), { ok: true, value: 0 });
      yield* userStore(mm, vma, 1, 7);
    });
    env.run();
    assert.equal(mm.zone.nrFreePages, free0 - 2);
    assert.equal(mm.mem.data[vma.pteOf(1)], 7);
    doMunmap(mm, vma);
    assert.equal(mm.zone.nrFreePages, free0, "both pages freed");
  });

  await t.step("writes outside the VMA fail", () => {
    const { env, mm } = world();
    const vma = mmapRegion(mm, { nrPages: 1, pgoff: 4 });
    let r: unknown;
    env.spawn("user", function* () {
      r = yield* handleMmFault(mm, vma, 5, true);
    });
    env.run();
    assert.deepEqual(r, { ok: false, errno: "EFAULT" });
  });
});

Deno.test("rmap: mapcount, references and unmapping", async (t) => {
  await t.step("each PTE holds a reference and a mapcount; munmap drops them", () => {
    const { env, mm, file } = world();
    const a = mmapRegion(mm, { mapping: file, nrPages: 1 });
    const b = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("user", function* () {
      yield* userLoad(mm, a, 0);
      yield* userLoad(mm, b, 0);
    });
    env.run();
    const f = filemapGetEntry(file, 0);
    assert.equal(mm.mem.mapcount[f], 2);
    assert.equal(mm.mem.refcount[f], 1 + 2, "page cache + two PTEs");
    assert.deepEqual(folioRmap(mm, f).map((s) => s.vma), [a, b]);
    doMunmap(mm, a);
    assert.equal(mm.mem.mapcount[f], 1);
    assert.equal(mm.mem.refcount[f], 2);
  });

  await t.step("unmap_mapping_range zaps PTEs; a dirty PTE dirties the folio", () => {
    const { env, mm, file } = world({ pageMkwrite: false });
    const vma = mmapRegion(mm, { mapping: file, nrPages: 3, pageMkwrite: null });
    env.spawn("user", function* () {
      for (let i = 0; i < 3; i++) yield* userLoad(mm, vma, i);
      yield* userStore(mm, vma, 1, 5);
    });
    env.run();
    const f1 = filemapGetEntry(file, 1);
    // Clear PG_dirty behind the PTE's back: the PTE's dirty bit must carry it back.
    mm.mem.clearFlag(f1, PG.dirty);
    assert.equal(unmapMappingRange(mm, file, 1, 2), 2);
    assert.ok(vma.pteOf(0) >= 0 && vma.pteOf(1) < 0 && vma.pteOf(2) < 0);
    assert.ok(mm.mem.testFlag(f1, PG.dirty));
    assert.equal(mm.mem.refcount[f1], 1, "page cache only");
  });

  await t.step("folio_mkclean needs the folio lock and skips private VMAs", () => {
    const { env, mm, file } = world({ pageMkwrite: false });
    const shared = mmapRegion(mm, { mapping: file, nrPages: 1 });
    const priv = mmapRegion(mm, { mapping: file, nrPages: 1, shared: false });
    env.spawn("user", function* () {
      yield* userStore(mm, shared, 0, 1);
      yield* userLoad(mm, priv, 0);
    });
    env.run();
    const f = filemapGetEntry(file, 0);
    assert.throws(() => folioMkclean(mm, f), /not locked/);
    mm.mem.setFlag(f, PG.locked);
    assert.equal(folioMkclean(mm, f), 1);
    assert.equal(folioMkclean(mm, f), 0, "already clean and read-only");
    mm.mem.clearFlag(f, PG.locked);
  });

  await t.step("try_to_unmap removes file PTEs but not anonymous ones (no swap)", () => {
    const { env, mm, file } = world();
    const fv = mmapRegion(mm, { mapping: file, nrPages: 1 });
    const av = mmapRegion(mm, { nrPages: 1 });
    env.spawn("user", function* () {
      yield* userLoad(mm, fv, 0);
      yield* userStore(mm, av, 0, 3);
    });
    env.run();
    assert.equal(tryToUnmap(mm, filemapGetEntry(file, 0)), true);
    assert.equal(fv.pteOf(0), -1);
    assert.equal(tryToUnmap(mm, av.pteOf(0)), false);
  });
});

Deno.test("try_to_migrate and remove_migration_ptes", async (t) => {
  await t.step("a writable dirty PTE comes back writable on the new folio: no page_mkwrite", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    let dst = -1;
    env.spawn("user", function* () {
      yield* userStore(mm, vma, 0, 31);
      const src = vma.pteOf(0);
      yield* folioLock(mm, src);
      assert.equal(tryToMigrate(mm, src), true);
      assert.equal(mm.mem.mapcount[src], 0);
      assert.equal(vma.pteBits[0]! & (PTE.present | PTE.migration), PTE.migration);
      // Pretend to move: a second folio takes the page (migrate.ts does the real move).
      dst = 400;
      mm.mem.refcount[dst] = 1;
      mm.mem.setFlag(dst, PG.dirty);
      mm.mem.data[dst] = mm.mem.data[src]!;
      removeMigrationPtes(mm, src, dst);
      folioUnlock(mm, src);
      yield* userStore(mm, vma, 0, 32);
    });
    env.run();
    assert.equal(vma.pteOf(0), dst);
    assert.equal(mm.mem.mapcount[dst], 1);
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1, "only the first store");
  });

  await t.step("a task touching a migration entry waits for the folio lock", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    let loadedAt = -1;
    env.spawn("migrator", function* (e) {
      yield* userLoad(mm, vma, 0);
      const src = vma.pteOf(0);
      yield* folioLock(mm, src);
      tryToMigrate(mm, src);
      yield e.sleep(5000);
      removeMigrationPtes(mm, src, src); // migration failed: restore
      folioUnlock(mm, src);
    });
    env.spawn("reader", function* (e) {
      yield e.sleep(2000);
      yield* userLoad(mm, vma, 0);
      loadedAt = e.nowNs;
    });
    env.run();
    assert.equal(loadedAt, 1000 + 5000, "read fault (1 µs) + migration window");
    assert.equal(mmapState(mm).stats.migrationWaits, 1);
  });
});

Deno.test("GUP: FOLL_GET, FOLL_PIN, pincount, FOLL_LONGTERM", async (t) => {
  await t.step("FOLL_PIN adds GUP_PIN_COUNTING_BIAS to a small folio", () => {
    const { env, mm } = world();
    const vma = mmapRegion(mm, { nrPages: 1 });
    env.spawn("drv", function* () {
      const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
      assert.ok(r.ok);
      const p = r.value[0]!;
      assert.equal(mm.mem.refcount[p], 1 + GUP_PIN_COUNTING_BIAS);
      assert.ok(folioMaybeDmaPinned(mm, p));
      unpinUserPages(mm, r.value);
      assert.equal(mm.mem.refcount[p], 1);
      assert.ok(!folioMaybeDmaPinned(mm, p));
    });
    assert.equal(env.run().reason, "done");
  });

  await t.step("FOLL_PIN on a large folio counts _pincount and one reference", () => {
    const { env, mm, file } = world({ minOrder: 2 });
    const vma = mmapRegion(mm, { mapping: file, nrPages: 4 });
    env.spawn("drv", function* () {
      const r = yield* pinUserPages(mm, vma, 0, 4);
      assert.ok(r.ok);
      const head = mm.mem.compoundHead(r.value[0]!);
      assert.deepEqual(r.value, [head, head + 1, head + 2, head + 3]);
      assert.equal(folioPincount(mm, head), 4);
      assert.equal(mm.mem.refcount[head], 4 + 4 + 4, "page cache 4 + PTEs 4 + pins 4");
      assert.ok(folioMaybeDmaPinned(mm, head));
      unpinUserPages(mm, r.value);
      assert.equal(folioPincount(mm, head), 0);
    });
    assert.equal(env.run().reason, "done");
  });

  await t.step("FOLL_WRITE on a read-only write-notified PTE faults: page_mkwrite at pin", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("dio", function* () {
      yield* userLoad(mm, vma, 0);
      const r = yield* getUserPages(mm, vma, 0, 1, { write: true });
      assert.ok(r.ok);
      putUserPage(mm, r.value[0]!);
    });
    env.run();
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1);
    assert.ok(isDirty(mm, vma.pteOf(0)));
  });

  await t.step("unpin_user_pages_dirty_lock dirties a cleaned page with no page_mkwrite", () => {
    const { env, mm, file } = world();
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    env.spawn("rdma", function* () {
      const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
      assert.ok(r.ok);
      yield* writebackFolio(mm, mm.mem.compoundHead(r.value[0]!));
      assert.ok(!isDirty(mm, r.value[0]!));
      yield* unpinUserPagesDirtyLock(mm, r.value, true);
    });
    env.run();
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1, "only the pin's write fault");
    assert.ok(isDirty(mm, vma.pteOf(0)));
    assert.equal(vma.pteBits[0]! & PTE.write, 0, "the PTE stays write-protected");
  });

  await t.step("a pinned folio's migration fails with EAGAIN; unpinned, it migrates", () => {
    const { env, mm, file } = world();
    file.aops.migrateFolio = filemapMigrateFolio;
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    const rcs: string[] = [];
    env.spawn("rdma", function* () {
      yield* userStore(mm, vma, 0, 1);
      const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
      assert.ok(r.ok);
      for (const pinned of [true, false]) {
        if (!pinned) unpinUserPages(mm, r.value);
        const f = vma.pteOf(0);
        assert.ok(isolateFolioForMigration(mm, f));
        const m = yield* migratePages(mm, [f], allocMigrationTarget, "MIGRATE_SYNC", "MR_SYSCALL");
        rcs.push(m.outcomes[0]!.rc);
        putbackMovablePages(mm, m.failed);
      }
    });
    assert.equal(env.run().reason, "done");
    assert.deepEqual(rcs, ["EAGAIN", "MIGRATEPAGE_SUCCESS"]);
    assert.equal(env.trace!.ofKind("page_mkwrite").length, 1, "the PTE came back writable");
  });

  await t.step("releasing a pin after the folio was freed is a use-after-free", () => {
    const { env, mm } = world();
    const vma = mmapRegion(mm, { nrPages: 1 });
    env.spawn("buggy", function* () {
      const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
      assert.ok(r.ok);
      const p = r.value[0]!;
      doMunmap(mm, vma);
      mm.mem.mapping[p] = 0; // what free_pages_prepare does for an anonymous folio
      folioPutRefs(mm, p, GUP_PIN_COUNTING_BIAS); // someone drops the pin's references
      unpinUserPages(mm, r.value); // the real unpin comes later
    });
    const res = env.run({ stopOnViolation: false });
    assert.deepEqual(res.violations.map((v) => v.name), ["use-after-free"]);
  });

  await t.step("FOLL_LONGTERM migrates a page out of CMA before pinning it", () => {
    // Three of four pageblocks are CMA: movable allocations take CMA pages first (free CMA
    // is more than half of free memory, __rmqueue's balancing rule).
    const { env, mm, file } = world({ nrFrames: 2048, cma: [{ startPfn: 0, endPfn: 1536 }] });
    const vma = mmapRegion(mm, { mapping: file, nrPages: 1 });
    let before = -1, after = -1;
    env.spawn("vfio", function* () {
      yield* userLoad(mm, vma, 0);
      before = vma.pteOf(0);
      assert.equal(mm.mem.pageblockMigratetype[mm.mem.pageblockOf(before)], MIGRATE.CMA);
      const r = yield* pinUserPages(mm, vma, 0, 1, { longterm: true });
      assert.ok(r.ok, JSON.stringify(r));
      after = r.value[0]!;
      unpinUserPages(mm, r.value);
    });
    const res = env.run();
    assert.equal(res.reason, "done", JSON.stringify(res.violations));
    assert.notEqual(after, before, "migrated before the long-term pin");
    assert.notEqual(mm.mem.pageblockMigratetype[mm.mem.pageblockOf(after)], MIGRATE.CMA);
    assert.equal(vma.pteOf(0), after, "the PTE follows the migration");
    assert.equal(filemapGetEntry(file, 0), after);
  });
});
