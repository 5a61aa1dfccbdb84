import assert from "node:assert/strict";
import {
  AddressSpace,
  Engine,
  filemapAddFolio,
  folioAlloc,
  folioExpectedRefCount,
  Mm,
  PG,
} from "../../../mod.ts";

Deno.test("folioExpectedRefCount (folio_expected_ref_count, include/linux/mm.h)", async (t) => {
  await t.step("v6.16: PG_private counts for a file folio that lost its mapping", () => {
    // `if (!folio_test_anon(folio)) { ref += !!folio->mapping << order; ref +=
    // folio_test_private(folio); }`: a truncated folio whose private data could not be
    // invalidated still holds the PG_private reference.
    const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.16" });
    const f = folioAlloc(mm, 2);
    mm.mem.setFlag(f, PG.private);
    assert.equal(folioExpectedRefCount(mm, f), 1);
    mm.mem.setFlag(f, PG.swapbacked); // an anonymous folio: PG_private is not counted
    assert.equal(folioExpectedRefCount(mm, f), 0);
  });

  await t.step("page-cache folio: nr pages + PG_private; PG_private_2 only before v6.0", () => {
    for (const [version, want] of [["6.16", 4], ["5.15", 5]] as const) {
      const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version });
      const m = AddressSpace.create(mm, { name: "f", maxOrder: 2 });
      const f = folioAlloc(mm, 2);
      filemapAddFolio(mm, m, f, 0);
      mm.mem.setFlag(f, PG.private_2);
      assert.equal(folioExpectedRefCount(mm, f), want, version);
      mm.mem.clearFlag(f, PG.private_2);
    }
  });

  await t.step("before v6.0 a folio without a mapping expects nothing for its private data", () => {
    // expected_page_refs() (v5.15): `if (mapping) expected_count += nr + page_has_private()`.
    const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "5.15" });
    const f = folioAlloc(mm, 0);
    mm.mem.setFlag(f, PG.private);
    assert.equal(folioExpectedRefCount(mm, f), 0);
    mm.mem.clearFlag(f, PG.private);
  });
});
