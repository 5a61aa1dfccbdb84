import assert from "node:assert/strict";
import {
  AddressSpace,
  Engine,
  filemapAddFolio,
  filemapDirtyFolio,
  filemapGetEntry,
  folioAlloc,
  folioGetPrivate,
  ifsAlloc,
  iomapFolioState,
  IomapFs,
  iomapSetRangeDirty,
  iomapSetRangeUptodate,
  iomapSplitFolioKeepState,
  Mm,
  PG,
} from "../../../mod.ts";

/** An order-`order` folio of an iomap file with `bs`-byte blocks, locked, held by the caller. */
function world(order: number, bs = 1024, fileOpts: { maxOrder?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 2048 }, version: "6.16" });
  const fs = new IomapFs(mm, { blockSizeBytes: bs });
  const file = fs.createFile({ name: "f", maxOrder: fileOpts.maxOrder ?? 9 });
  const f = folioAlloc(mm, order);
  filemapAddFolio(mm, file, f, 0);
  mm.mem.setFlag(f, PG.locked);
  return { env, mm, fs, file, f };
}

const flags = (mm: Mm, fs: number[]) =>
  fs.map((p) =>
    `${mm.mem.testFlag(p, PG.uptodate) ? "U" : "-"}${mm.mem.testFlag(p, PG.dirty) ? "D" : "-"}`
  );

Deno.test("iomapSplitFolioKeepState without block state follows the folio flags", async (t) => {
  await t.step(
    "a wholly dirty, uptodate folio: every new folio dirty and uptodate, no allocation",
    () => {
      const { env, mm, fs, f } = world(3);
      mm.mem.setFlag(f, PG.uptodate);
      mm.mem.setFlag(f, PG.dirty);
      const r = iomapSplitFolioKeepState(mm, f, f, { uniform: false });
      assert.ok(r.ok);
      assert.deepEqual(r.value.orders, [0, 0, 1, 2]);
      assert.deepEqual(flags(mm, r.value.folios), ["UD", "UD", "UD", "UD"]);
      assert.deepEqual([r.value.ifsAllocs, fs.stats.ifsFrees], [0, 0]);
      assert.deepEqual(
        env.trace!.ofKind("iomap_split_keep_state").map((e) => [e.before, e.after]),
        [
          [3, { folios: 4, ifsAllocs: 0 }],
        ],
      );
    },
  );
});

Deno.test("iomapSplitFolioKeepState with block state", async (t) => {
  await t.step("uptodate bits: new folios whose blocks are all uptodate get PG_uptodate", () => {
    // Order 2, 1 KiB blocks (16 blocks): pages 0 and 1 read, pages 2 and 3 not.
    const { mm, fs, f } = world(2);
    ifsAlloc(mm, f);
    iomapSetRangeUptodate(mm, f, 0, 8 * 1024);
    const r = iomapSplitFolioKeepState(mm, f, f + 3, { uniform: true });
    assert.ok(r.ok);
    assert.deepEqual(flags(mm, r.value.folios), ["U-", "U-", "--", "--"]);
    assert.equal(r.value.ifsAllocs, 0, "no page has mixed blocks");
    assert.equal(fs.stats.ifsFrees, 1, "the old state was freed");
  });
  await t.step("a page with some dirty blocks keeps exactly those in its own state", () => {
    const { mm, file, f } = world(2);
    mm.mem.setFlag(f, PG.uptodate);
    ifsAlloc(mm, f);
    iomapSetRangeDirty(mm, f, 4096 + 1024, 1024); // block 1 of page 1
    filemapDirtyFolio(mm, file, f); // __iomap_write_end: PG_dirty and NR_FILE_DIRTY (4 pages)
    const r = iomapSplitFolioKeepState(mm, f, f + 1, { uniform: true });
    assert.ok(r.ok);
    assert.deepEqual(flags(mm, r.value.folios), ["U-", "UD", "U-", "U-"], "clean pages cleaned");
    assert.equal(r.value.ifsAllocs, 1);
    const st = iomapFolioState(mm, f + 1)!;
    assert.deepEqual([...st.state.subarray(4)], [0, 1, 0, 0]);
    assert.equal(mm.vmstat.get("nr_dirty"), 1, "NR_FILE_DIRTY: one dirty page left");
  });
  await t.step(
    "the target order is raised to the mapping's minimum (block size > page size)",
    () => {
      const { mm, file, f } = world(3, 8192);
      assert.equal(file.minOrder, 1);
      mm.mem.setFlag(f, PG.uptodate);
      const r = iomapSplitFolioKeepState(mm, f, f, { uniform: true, newOrder: 0 });
      assert.ok(r.ok);
      assert.deepEqual(r.value.orders, [1, 1, 1, 1]);
      assert.equal(r.value.ifsAllocs, 0, "one block per new folio: never a state");
    },
  );
});

Deno.test("iomapSplitFolioKeepState when the split fails: the errno, and the state is back", () => {
  const { mm, f } = world(2);
  mm.mem.setFlag(f, PG.uptodate);
  const ifs = ifsAlloc(mm, f)!;
  iomapSetRangeDirty(mm, f, 0, 1024);
  mm.mem.setFlag(f, PG.dirty);
  mm.mem.refcount[f]!++; // an unexpected reference (a pin)
  const r = iomapSplitFolioKeepState(mm, f, f, { uniform: false });
  assert.equal(r.ok, false);
  assert.equal(mm.mem.order[f], 2, "not split");
  assert.equal(mm.mem.testFlag(f, PG.private), true);
  assert.deepEqual(folioGetPrivate(mm, f), ifs, "the same state, dirty bits and all");
  assert.equal(iomapFolioState(mm, f)!.state[ifs.nrBlocks], 1);
});

Deno.test("iomapSplitFolioKeepState refuses a folio outside an iomap file (model bug)", () => {
  const { mm } = world(0);
  const other = AddressSpace.create(mm, { name: "not iomap", maxOrder: 2 });
  const g = folioAlloc(mm, 2);
  filemapAddFolio(mm, other, g, 0);
  assert.throws(
    () => iomapSplitFolioKeepState(mm, g, g, { uniform: true }),
    /iomap split: pfn \d+ .* is not in an iomap file/,
  );
  assert.equal(filemapGetEntry(other, 0), g);
});
