import assert from "node:assert/strict";
import {
  AddressSpace,
  BlockDevice,
  Engine,
  filemapAddFolio,
  filemapFdatawrite,
  filemapGetEntry,
  filemapInvalidateLock,
  filemapInvalidateUnlock,
  folioAlloc,
  folioPut,
  genericPerformWrite,
  invalidateInodePages2Range,
  kiocbInvalidatePages,
  Mm,
  newContentTag,
  PG,
  truncateInodePagesRange,
  truncatePagecacheRange,
} from "../../../mod.ts";
import { LAT, READ_KINDS, reader, setup, timeline } from "./_filemap_fixture.ts";

Deno.test("truncateInodePagesRange", async (t) => {
  await t.step("a reader waiting on a locked folio that is truncated reads a new folio", () => {
    const { env, mm, file, fs } = setup();
    const a = reader(env, mm, file, 0);
    const gen0 = () => mm.mem.generation[filemapGetEntry(file, 0)];
    let oldGen = -1;
    const trunc = env.spawn("punch", function* (e) {
      yield e.sleep(10_000);
      oldGen = gen0()!;
      yield* filemapInvalidateLock(mm, file);
      yield* truncatePagecacheRange(mm, file, 0, Infinity);
      filemapInvalidateUnlock(mm, file);
    });
    let b!: ReturnType<typeof reader>;
    env.spawn("later", function* (e) {
      yield e.sleep(20_000);
      b = reader(env, mm, file, 0);
    });
    env.run();
    assert.ok(trunc.done);
    assert.deepEqual(a.out.tags, [file.backing.get(0)]);
    assert.deepEqual(b.out.tags, [file.backing.get(0)]);
    // Truncate waited for the read to finish (it needs the folio lock).
    const tEnd = env.trace!.events.filter((e) => e.task === trunc.id).at(-1)!.tNs;
    assert.ok(tEnd >= LAT);
    // B looked the folio up while it was still cached, then blocked on the invalidate lock
    // the hole punch held; it found the folio truncated and retried with a fresh readahead.
    assert.deepEqual(timeline(env, b.task, READ_KINDS), [
      "filemap_update_page", // truncated → AOP_TRUNCATED_PAGE
      "aop_truncated_page",
      "page_cache_sync_ra",
      "filemap_update_page", // the new folio is locked for its read: wait
      "folio_put_wait_locked",
      "aop_truncated_page",
      "mm_filemap_get_pages",
      "filemap_read",
    ]);
    const bUpdates = env.trace!.ofKind("filemap_update_page").filter((e) => e.task === b.task.id);
    assert.deepEqual(bUpdates.map((e) => e.before), ["truncated", "locked"]);
    assert.equal(fs.stats.readBios, 2);
    assert.notEqual(gen0(), oldGen);
  });

  await t.step("truncate waits for writeback before removing the folio", () => {
    const env = new Engine({ trace: true });
    const mm = new Mm(env, { memory: { nrFrames: 256 } });
    const file = AddressSpace.create(mm, { name: "wb" });
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 50_000 } }).attach(file);
    const tag = newContentTag(mm);
    const trunc = env.spawn("truncate", function* (e) {
      yield* genericPerformWrite(mm, file, 0, tag);
      yield* filemapFdatawrite(mm, file, "WB_SYNC_ALL"); // returns with the write in flight
      assert.ok(mm.mem.testFlag(filemapGetEntry(file, 0), PG.writeback));
      yield* truncateInodePagesRange(mm, file, 0, Infinity);
      assert.equal(e.nowNs, 50_000, "truncate returned only when the write completed");
    });
    const r = env.run();
    assert.equal(r.reason, "done");
    assert.ok(trunc.done);
    assert.equal(file.nrpages, 0);
    assert.equal(file.backing.get(0), tag, "the write reached the disk first");
    const kinds = env.trace!.kinds((e) =>
      e.task === trunc.id &&
      ["truncate_inode_pages_range", "folio_wait_writeback", "mm_filemap_delete_from_page_cache"]
        .includes(e.kind)
    );
    assert.deepEqual(kinds, [
      "truncate_inode_pages_range",
      "folio_wait_writeback",
      "mm_filemap_delete_from_page_cache",
    ]);
  });

  await t.step("->invalidate_folio runs for folios with private data, not for others", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const invalidated: number[] = [];
    const file = AddressSpace.create(mm, {
      name: "p",
      aops: {
        *invalidateFolio(mm, _m, folio) {
          invalidated.push(mm.mem.index[folio]!);
          mm.mem.clearFlag(folio, PG.private_2);
          if (mm.mem.testFlag(folio, PG.private)) mm.mem.clearFlag(folio, PG.private);
          yield env.sleep(1);
        },
      },
    });
    const fs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const f = folioAlloc(mm, 0);
      filemapAddFolio(mm, file, f, i);
      folioPut(mm, f);
      fs.push(f);
    }
    mm.mem.setFlag(fs[1]!, PG.private_2);
    env.spawn("t", function* () {
      yield* truncateInodePagesRange(mm, file, 0, 2);
    });
    env.run();
    assert.deepEqual(invalidated, [1], "PG_private_2 counts as private for invalidation");
    assert.equal(file.nrpages, 0);
  });

  /** Two order-2 folios at 0..3 (dirty) and 4..7 (clean); truncate pages [2, 5]. */
  function straddle(version: string, pinBoth = false) {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 }, version });
    const file = AddressSpace.create(mm, { name: "large", maxOrder: 2 });
    const a = folioAlloc(mm, 2);
    const b = folioAlloc(mm, 2);
    filemapAddFolio(mm, file, a, 0);
    filemapAddFolio(mm, file, b, 4);
    folioPut(mm, a);
    folioPut(mm, b);
    mm.mem.setFlag(a, PG.dirty);
    if (pinBoth) {
      // An extra reference (a pipe buffer, a GUP pin) makes every split fail with -EAGAIN.
      mm.mem.refcount[a]!++;
      mm.mem.refcount[b]!++;
    }
    env.spawn("t", function* () {
      yield* truncateInodePagesRange(mm, file, 2, 5);
    });
    const r = env.run();
    assert.deepEqual(r.violations, []);
    const left = [];
    for (let i = 0; i < 8; i++) {
      const f = filemapGetEntry(file, i);
      if (f !== -1) left.push(`${i}:${mm.mem.index[f]}/${mm.mem.order[f]}`);
    }
    return { mm, file, a, b, left };
  }

  await t.step("v6.12: straddling large folios are split (split_folio) and the inside goes", () => {
    const { left, file } = straddle("6.12");
    // index:head-index/order for each page left
    assert.deepEqual(left, ["0:0/0", "1:1/0", "6:6/0", "7:7/0"]);
    assert.equal(file.nrpages, 4);
  });

  await t.step("v6.16: try_folio_split around the range's ends keeps the outside large", () => {
    const { left, file } = straddle("6.16");
    // a: split around page 2 → [0,1] order 1, 2, 3; b: around page 4 → 4, 5, [6,7] order 1,
    // then the second try around page 6 splits [6,7].
    assert.deepEqual(left, ["0:0/1", "1:0/1", "6:6/0", "7:7/0"]);
    assert.equal(file.nrpages, 4);
  });

  await t.step("when the split fails: a dirty straddling folio is kept, a clean one goes", () => {
    for (const version of ["6.12", "6.16"]) {
      const { left, mm, a } = straddle(version, true);
      assert.deepEqual(left, ["0:0/2", "1:0/2", "2:0/2", "3:0/2"], version);
      assert.ok(mm.mem.testFlag(a, PG.dirty), `${version}: still dirty`);
    }
  });
});

Deno.test("invalidateInodePages2Range and kiocbInvalidatePages", async (t) => {
  function dirtyFile(aops = {}) {
    const env = new Engine({ trace: true });
    const mm = new Mm(env, { memory: { nrFrames: 128 } });
    const file = AddressSpace.create(mm, { name: "dio", aops });
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 10_000 } }).attach(file);
    const tags = [newContentTag(mm), newContentTag(mm)];
    return { env, mm, file, tags };
  }

  await t.step("a dirty folio without ->launder_folio makes it fail with -EBUSY", () => {
    const { env, mm, file, tags } = dirtyFile();
    let r = 0;
    env.spawn("dio", function* () {
      yield* genericPerformWrite(mm, file, 0, tags[0]!);
      yield* genericPerformWrite(mm, file, 1, tags[1]!);
      // Only page 1 becomes clean; page 0 stays dirty.
      const f1 = filemapGetEntry(file, 1);
      mm.mem.clearFlag(f1, PG.dirty);
      mm.vmstat.dec("nr_dirty");
      r = yield* kiocbInvalidatePages(mm, file, 0, 1, { nowait: true });
      assert.equal(r, -11, "IOCB_NOWAIT with cached pages: -EAGAIN");
      r = yield* invalidateInodePages2Range(mm, file, 0, 1);
    });
    env.run();
    assert.equal(r, -16);
    assert.ok(filemapGetEntry(file, 0) >= 0, "dirty folio kept");
    assert.equal(filemapGetEntry(file, 1), -1, "clean folio invalidated");
  });

  await t.step("->launder_folio writes a dirty folio, which is then invalidated", () => {
    let laundered = 0;
    const { env, mm, file, tags } = dirtyFile({
      *launderFolio(mm: Mm, mapping: AddressSpace, folio: number) {
        laundered++;
        mapping.backing.set(mm.mem.index[folio]!, mm.mem.data[folio]!);
        mm.mem.clearFlag(folio, PG.dirty);
        mm.vmstat.dec("nr_dirty");
        yield mm.env.sleep(5_000);
        return 0;
      },
    });
    let r = -1;
    env.spawn("dio", function* () {
      yield* genericPerformWrite(mm, file, 0, tags[0]!);
      r = yield* invalidateInodePages2Range(mm, file, 0, 0);
    });
    env.run();
    assert.equal(r, 0);
    assert.equal(laundered, 1);
    assert.equal(file.nrpages, 0);
    assert.equal(file.backing.get(0), tags[0]);
  });

  await t.step("kiocbInvalidatePages writes back and waits, then invalidates", () => {
    const { env, mm, file, tags } = dirtyFile();
    let r = -1;
    const dio = env.spawn("dio", function* () {
      yield* genericPerformWrite(mm, file, 0, tags[0]!);
      yield* genericPerformWrite(mm, file, 1, tags[1]!);
      r = yield* kiocbInvalidatePages(mm, file, 0, 1);
    });
    env.run();
    assert.equal(r, 0);
    assert.equal(file.nrpages, 0);
    assert.deepEqual([file.backing.get(0), file.backing.get(1)], tags);
    const kinds = env.trace!.kinds((e) =>
      e.task === dio.id &&
      ["folio_wait_writeback", "invalidate_inode_pages2_range"].includes(e.kind)
    );
    assert.equal(kinds.at(-1), "invalidate_inode_pages2_range");
  });
});
