import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  Engine,
  filemapAddFolio,
  filemapGetEntry,
  filemapRemoveFolio,
  filemapReplaceEntry,
  folioAlloc,
  Mm,
  newContentTag,
  PG,
} from "../../../mod.ts";

function world(opts: { minOrder?: number; maxOrder?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const m = AddressSpace.create(mm, { name: "f", ...opts });
  return { env, mm, m };
}

Deno.test("filemapAddFolio as __filemap_add_folio", async (t) => {
  await t.step("a folio of order k fills 2^k indices, takes 2^k references, joins the LRU", () => {
    const { env, mm, m } = world({ maxOrder: 2 });
    const f = folioAlloc(mm, 2);
    assert.deepEqual(filemapAddFolio(mm, m, f, 8), { ok: true, value: undefined });
    assert.deepEqual([7, 8, 9, 10, 11, 12].map((i) => filemapGetEntry(m, i)), [-1, f, f, f, f, -1]);
    assert.equal(mm.mem.refcount[f], 1 + 4);
    assert.deepEqual([mm.mem.mapping[f], mm.mem.index[f], m.nrpages], [m.id, 8, 4]);
    assert.equal(mm.mem.testFlag(f, PG.lru), true);
    assert.equal(AddressSpace.of(mm, f), m);
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("mm_filemap")), [
      "mm_filemap_add_to_page_cache",
    ]);
  });
  await t.step("an index not aligned to the folio's order is EINVAL", () => {
    const { mm, m } = world({ maxOrder: 2 });
    const f = folioAlloc(mm, 2);
    assert.deepEqual(filemapAddFolio(mm, m, f, 6), { ok: false, errno: "EINVAL" });
    assert.equal(mm.mem.refcount[f], 1, "nothing taken on failure");
  });
  await t.step("orders outside the mapping's [min, max] are EINVAL", () => {
    const { mm, m } = world({ minOrder: 1, maxOrder: 2 });
    assert.deepEqual(filemapAddFolio(mm, m, folioAlloc(mm, 0), 0), { ok: false, errno: "EINVAL" });
    assert.deepEqual(filemapAddFolio(mm, m, folioAlloc(mm, 3), 0), { ok: false, errno: "EINVAL" });
    assert.ok(filemapAddFolio(mm, m, folioAlloc(mm, 1), 0).ok);
  });
  await t.step("maxOrder is raised to minOrder (mapping_set_folio_order_range)", () => {
    const { m } = world({ minOrder: 2 });
    assert.equal(m.maxOrder, 2);
  });
  await t.step("an occupied index anywhere in the range is -EEXIST (EBUSY)", () => {
    const { mm, m } = world({ maxOrder: 2 });
    const small = folioAlloc(mm, 0);
    assert.ok(filemapAddFolio(mm, m, small, 10).ok);
    const big = folioAlloc(mm, 2);
    assert.deepEqual(filemapAddFolio(mm, m, big, 8), { ok: false, errno: "EBUSY" });
    assert.equal(filemapGetEntry(m, 8), -1, "nothing half-inserted");
    assert.equal(mm.mem.refcount[big], 1);
  });
});

Deno.test("filemapRemoveFolio as filemap_remove_folio + filemap_free_folio", async (t) => {
  await t.step("clears every index and folio->mapping and drops the cache's references", () => {
    const { env, mm, m } = world({ maxOrder: 1 });
    const f = folioAlloc(mm, 1);
    filemapAddFolio(mm, m, f, 4);
    filemapRemoveFolio(mm, f);
    assert.deepEqual([filemapGetEntry(m, 4), filemapGetEntry(m, 5)], [-1, -1]);
    assert.deepEqual([mm.mem.mapping[f], mm.mem.refcount[f], m.nrpages], [0, 1, 0]);
    assert.equal(AddressSpace.of(mm, f), undefined);
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("mm_filemap")), [
      "mm_filemap_add_to_page_cache",
      "mm_filemap_delete_from_page_cache",
    ]);
  });
  await t.step("a folio that is in no page cache is a model bug", () => {
    const { mm } = world();
    const f = folioAlloc(mm, 0);
    assert.throws(
      () => filemapRemoveFolio(mm, f),
      /filemap_remove_folio: pfn \d+ .* has no mapping/,
    );
  });
});

Deno.test("filemapReplaceEntry moves the cache slot and folio->mapping/index, not references", () => {
  const { mm, m } = world({ maxOrder: 1 });
  const old = folioAlloc(mm, 1), nu = folioAlloc(mm, 1);
  filemapAddFolio(mm, m, old, 2);
  filemapReplaceEntry(mm, old, nu);
  assert.deepEqual([filemapGetEntry(m, 2), filemapGetEntry(m, 3)], [nu, nu]);
  assert.deepEqual([mm.mem.mapping[nu], mm.mem.index[nu], mm.mem.mapping[old]], [m.id, 2, 0]);
  assert.deepEqual([mm.mem.refcount[old], mm.mem.refcount[nu]], [3, 1]);
  assert.throws(() => filemapReplaceEntry(mm, old, nu), /replace entry: .* has no mapping/);
});

Deno.test("newContentTag hands out distinct increasing tags; 0 stays 'zeroes'", () => {
  const { mm } = world();
  const tags = [newContentTag(mm), newContentTag(mm), newContentTag(mm)];
  assert.ok(tags[0]! > 0 && tags[0]! < tags[1]! && tags[1]! < tags[2]!);
});

Deno.test("address_space property: the page cache agrees with a reference map", () => {
  type Op = { add: true; order: number; slot: number } | { add: false; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ add: fc.constant(true as const), order: fc.nat(2), slot: fc.nat(7) }),
    fc.record({ add: fc.constant(false as const), pick: fc.nat(20) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const { mm, m } = world({ maxOrder: 2 });
      const ref = new Map<number, number>(); // index → folio
      const cached: number[] = [];
      for (const o of ops) {
        if (o.add) {
          const f = folioAlloc(mm, o.order);
          const index = o.slot << o.order;
          const nr = 1 << o.order;
          const free = [...Array(nr).keys()].every((i) => !ref.has(index + i));
          const r = filemapAddFolio(mm, m, f, index);
          assert.equal(r.ok, free);
          if (r.ok) {
            for (let i = 0; i < nr; i++) ref.set(index + i, f);
            cached.push(f);
          }
        } else if (cached.length > 0) {
          const f = cached.splice(o.pick % cached.length, 1)[0]!;
          filemapRemoveFolio(mm, f);
          for (const [i, g] of ref) if (g === f) ref.delete(i);
        }
        for (let i = 0; i < 40; i++) assert.equal(filemapGetEntry(m, i), ref.get(i) ?? -1);
        assert.equal(m.nrpages, ref.size);
        assert.equal(mm.vmstat.get("nr_file_pages"), ref.size);
        for (const f of cached) assert.equal(mm.mem.refcount[f], 1 + (1 << mm.mem.order[f]!));
      }
    }),
    { numRuns: 100 },
  );
});
