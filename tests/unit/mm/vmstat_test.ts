import assert from "node:assert/strict";
import {
  AddressSpace,
  Engine,
  filemapAddFolio,
  filemapRemoveFolio,
  folioAlloc,
  folioClearDirtyForIo,
  folioEndWriteback,
  folioMarkDirty,
  folioPut,
  folioStartWriteback,
  folioTrylock,
  folioUnlock,
  Mm,
  PG,
  VmStat,
} from "../../../mod.ts";

Deno.test("VmStat counters", async (t) => {
  await t.step("untouched counters read 0; inc/dec by 1 or n", () => {
    const s = new VmStat();
    assert.equal(s.get("nr_dirty"), 0);
    s.inc("nr_dirty");
    s.inc("nr_dirty", 8);
    s.dec("nr_dirty", 2);
    assert.equal(s.get("nr_dirty"), 7);
    s.dec("nr_writeback");
    assert.equal(s.get("nr_writeback"), -1, "a counter can go negative (it is not clamped)");
  });
  await t.step("snapshot lists every touched counter sorted by name", () => {
    const s = new VmStat();
    s.inc("pgfree");
    s.inc("compact_stall");
    s.inc("nr_dirty");
    s.dec("nr_dirty");
    assert.deepEqual(Object.keys(s.snapshot()), ["compact_stall", "nr_dirty", "pgfree"]);
    assert.deepEqual(s.snapshot(), { compact_stall: 1, nr_dirty: 0, pgfree: 1 });
  });
});

Deno.test("vmstat counts pages, not folios, through a page-cache folio's life", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 64 } });
  const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
  const s = mm.vmstat;
  const f = folioAlloc(mm, 2);
  assert.equal(s.get("pgalloc"), 4);
  assert.ok(filemapAddFolio(mm, m, f, 0).ok);
  assert.equal(s.get("nr_file_pages"), 4);
  mm.mem.setFlag(f, PG.uptodate);
  folioMarkDirty(mm, f);
  assert.equal(s.get("nr_dirty"), 4, "NR_FILE_DIRTY");
  env.spawn("writeback", function* () {
    assert.ok(folioTrylock(mm, f));
    assert.ok(folioClearDirtyForIo(mm, f));
    assert.equal(s.get("nr_dirty"), 0);
    folioStartWriteback(mm, f);
    assert.equal(s.get("nr_writeback"), 4, "NR_WRITEBACK");
    folioUnlock(mm, f);
    yield* folioEndWriteback(mm, f);
  });
  assert.equal(env.run().reason, "done");
  assert.equal(s.get("nr_writeback"), 0);
  assert.equal(s.get("nr_written"), 4);
  assert.ok(folioTrylock(mm, f));
  filemapRemoveFolio(mm, f);
  folioUnlock(mm, f);
  assert.equal(s.get("nr_file_pages"), 0);
  folioPut(mm, f);
  assert.equal(s.get("pgfree"), 4);
  assert.equal(mm.zone.nrFreePages, 64);
});

Deno.test("vmstat: a dirty folio removed without writeback is accounted cleaned", () => {
  const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
  const m = AddressSpace.create(mm, { name: "f", maxOrder: 1 });
  const f = folioAlloc(mm, 1);
  filemapAddFolio(mm, m, f, 2);
  mm.mem.setFlag(f, PG.uptodate);
  folioMarkDirty(mm, f);
  assert.equal(mm.vmstat.get("nr_dirty"), 2);
  folioTrylock(mm, f);
  filemapRemoveFolio(mm, f);
  assert.equal(mm.vmstat.get("nr_dirty"), 0);
  assert.equal(mm.vmstat.get("nr_file_pages"), 0);
});
