import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  type AddressSpaceOperations,
  Engine,
  expectedRefCount,
  fallbackMigrateFolio,
  filemapAddFolio,
  filemapGetEntry,
  filemapMigrateFolio,
  folioAlloc,
  folioAttachPrivate,
  folioDetachPrivate,
  folioGet,
  folioGetPrivate,
  folioMapping,
  folioMigrateCopy,
  folioMigrateFlags,
  folioMigrateMapping,
  type KResult,
  migrateFolio,
  Mm,
  moveToNewFolio,
  PG,
  type Process,
} from "../../../mod.ts";

function world(aops: AddressSpaceOperations = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const mapping = AddressSpace.create(mm, { name: "f", maxOrder: 2, aops });
  return { env, mm, mapping };
}

/** A page-cache folio held once by the caller (its isolation reference), and a destination. */
function pair(mm: Mm, mapping: AddressSpace, order = 0, index = 0) {
  const src = folioAlloc(mm, order), dst = folioAlloc(mm, order);
  filemapAddFolio(mm, mapping, src, index);
  mm.mem.setFlag(src, PG.uptodate);
  for (let i = 0; i < 1 << order; i++) mm.mem.data[src + i] = 40 + i;
  return { src, dst };
}

/** Run a migration callback in a task and return its result. */
function run(env: Engine, fn: () => Process<KResult>): KResult {
  let rc: KResult | null = null;
  env.spawn("migrate", function* () {
    rc = yield* fn();
  });
  env.run({ stopOnViolation: false });
  return rc!;
}

Deno.test("expectedRefCount and folioMapping", () => {
  const { mm, mapping } = world();
  const f = folioAlloc(mm, 2);
  filemapAddFolio(mm, mapping, f, 0);
  assert.equal(expectedRefCount(mm, f), 4, "one per page from the page cache");
  folioAttachPrivate(mm, f, "state");
  assert.equal(expectedRefCount(mm, f), 5, "+1 for PG_private");
  mm.mem.mapcount[f] = 2;
  assert.equal(expectedRefCount(mm, f), 7, "+1 per mapping");
  assert.equal(folioMapping(mm, f), mapping);
  const anon = mm.registerMapping((id) => ({ id, name: "anon_vma" }));
  const a = folioAlloc(mm, 0);
  mm.mem.mapping[a] = anon.id;
  mm.mem.mapcount[a] = 3;
  assert.equal(expectedRefCount(mm, a), 3, "anonymous: mappings only");
  assert.equal(folioMapping(mm, a), null);
  assert.equal(folioMapping(mm, folioAlloc(mm, 0)), null, "no mapping (truncated)");
});

Deno.test("folioMigrateMapping freezes at expected + extra + 1", async (t) => {
  await t.step("exactly that many: the cache entries, references and PG_dirty move", () => {
    const { mm, mapping } = world();
    const { src, dst } = pair(mm, mapping, 2, 4);
    mm.mem.setFlag(src, PG.dirty);
    assert.deepEqual(folioMigrateMapping(mm, mapping, dst, src, 0), { ok: true, value: undefined });
    assert.deepEqual([4, 5, 6, 7].map((i) => filemapGetEntry(mapping, i)), [dst, dst, dst, dst]);
    assert.deepEqual([mm.mem.refcount[src], mm.mem.refcount[dst]], [1, 1 + 4]);
    assert.deepEqual([mm.mem.testFlag(src, PG.dirty), mm.mem.testFlag(dst, PG.dirty)], [
      false,
      true,
    ]);
    assert.deepEqual([mm.mem.mapping[dst], mm.mem.index[dst], mm.mem.mapping[src]], [
      mapping.id,
      4,
      0,
    ]);
  });
  await t.step("one reference more or fewer: EAGAIN and nothing changed", () => {
    for (const delta of [+1, -1]) {
      const { mm, mapping } = world();
      const { src, dst } = pair(mm, mapping);
      mm.mem.refcount[src]! += delta;
      const before = mm.mem.refcount[src];
      assert.deepEqual(folioMigrateMapping(mm, mapping, dst, src, 0), {
        ok: false,
        errno: "EAGAIN",
      });
      assert.equal(mm.mem.refcount[src], before, "not left frozen");
      assert.equal(filemapGetEntry(mapping, 0), src);
      assert.equal(mm.mem.refcount[dst], 1);
    }
  });
  await t.step("extraCount accounts for references the caller knows about", () => {
    const { mm, mapping } = world();
    const { src, dst } = pair(mm, mapping);
    folioGet(mm, src); // e.g. a buffer_head the caller accounts for
    assert.equal(folioMigrateMapping(mm, mapping, dst, src, 0).ok, false);
    assert.equal(folioMigrateMapping(mm, mapping, dst, src, 1).ok, true);
  });
  await t.step("anonymous: no freeze; mapping, index and PG_swapbacked carried", () => {
    const { mm } = world();
    const anon = mm.registerMapping((id) => ({ id, name: "anon_vma" }));
    const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
    mm.mem.mapping[src] = anon.id;
    mm.mem.index[src] = 9;
    mm.mem.setFlag(src, PG.swapbacked);
    assert.ok(folioMigrateMapping(mm, null, dst, src, 0).ok);
    assert.deepEqual(
      [mm.mem.mapping[dst], mm.mem.index[dst], mm.mem.testFlag(dst, PG.swapbacked)],
      [
        anon.id,
        9,
        true,
      ],
    );
    assert.deepEqual([mm.mem.refcount[src], mm.mem.refcount[dst]], [1, 1]);
  });
  await t.step("property: success iff refcount = expected + extra + 1", () => {
    fc.assert(
      fc.property(
        fc.nat(2),
        fc.boolean(),
        fc.integer({ min: -2, max: 3 }),
        fc.nat(2),
        (order, priv, delta, extra) => {
          const { mm, mapping } = world();
          const { src, dst } = pair(mm, mapping, order);
          if (priv) folioAttachPrivate(mm, src, {});
          mm.mem.refcount[src] = Math.max(1, expectedRefCount(mm, src) + extra + 1 + delta);
          const want = mm.mem.refcount[src] === expectedRefCount(mm, src) + extra + 1;
          assert.equal(folioMigrateMapping(mm, mapping, dst, src, extra).ok, want);
          assert.equal(filemapGetEntry(mapping, 0), want ? dst : src);
        },
      ),
      { numRuns: 100 },
    );
  });
});

Deno.test("folioMigrateFlags / folioMigrateCopy", async (t) => {
  await t.step(
    "PG_unevictable moves when PG_active is clear; private is cleared on the source",
    () => {
      const { mm } = world();
      const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
      mm.mem.setFlag(src, PG.unevictable);
      folioAttachPrivate(mm, src, "x");
      folioMigrateFlags(mm, dst, src);
      assert.deepEqual(
        [mm.mem.testFlag(dst, PG.unevictable), mm.mem.testFlag(src, PG.unevictable)],
        [true, false],
      );
      assert.deepEqual([mm.mem.testFlag(src, PG.private), mm.mem.private[src]], [false, 0]);
    },
  );
  await t.step("lock, writeback, LRU, mlocked and private_2 are not copied", () => {
    const { env, mm } = world();
    const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
    for (const b of [PG.locked, PG.writeback, PG.lru, PG.mlocked, PG.private_2]) {
      mm.mem.setFlag(src, b);
    }
    folioMigrateFlags(mm, dst, src);
    for (const b of [PG.locked, PG.writeback, PG.lru, PG.mlocked, PG.private_2]) {
      assert.equal(mm.mem.testFlag(dst, b), false, `bit ${b}`);
    }
    assert.equal(mm.vmstat.get("migrate_private_2_dropped"), 1);
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("mm_migrate")), [
      "mm_migrate_flag_dropped",
    ]);
  });
  await t.step("the contents of every page of a large folio are copied", () => {
    const { mm, mapping } = world();
    const { src, dst } = pair(mm, mapping, 2);
    folioMigrateCopy(mm, dst, src);
    assert.deepEqual([0, 1, 2, 3].map((i) => mm.mem.data[dst + i]), [40, 41, 42, 43]);
    assert.equal(mm.mem.testFlag(dst, PG.uptodate), true);
  });
});

Deno.test("->migrate_folio implementations", async (t) => {
  await t.step("migrate_folio on a folio under writeback: BUG_ON recorded, EBUSY", () => {
    const { env, mm, mapping } = world();
    const { src, dst } = pair(mm, mapping);
    mm.mem.setFlag(src, PG.writeback);
    const rc = run(env, () => migrateFolio(mm, mapping, dst, src, "MIGRATE_SYNC"));
    assert.deepEqual(rc, { ok: false, errno: "EBUSY" });
    assert.deepEqual(env.violations.map((v) => v.name), ["migrate_folio under writeback"]);
    assert.equal(filemapGetEntry(mapping, 0), src);
  });
  await t.step("filemap_migrate_folio moves the private data with its reference", () => {
    const { env, mm, mapping } = world();
    const { src, dst } = pair(mm, mapping);
    folioAttachPrivate(mm, src, { blocks: 3 });
    const rc = run(env, () => filemapMigrateFolio(mm, mapping, dst, src, "MIGRATE_ASYNC"));
    assert.ok(rc.ok);
    assert.deepEqual(folioGetPrivate(mm, dst), { blocks: 3 });
    assert.deepEqual([mm.mem.testFlag(dst, PG.private), mm.mem.testFlag(src, PG.private)], [
      true,
      false,
    ]);
    assert.deepEqual(
      [mm.mem.refcount[dst], mm.mem.refcount[src]],
      [1 + 1 + 1, 1],
      "alloc + cache + private",
    );
  });
  await t.step(
    "fallback_migrate_folio releases a clean folio's private data, then migrates",
    () => {
      const released: number[] = [];
      const { env, mm, mapping } = world({
        releaseFolio(mm, _m, folio) {
          released.push(folio);
          folioDetachPrivate(mm, folio);
          return true;
        },
      });
      const { src, dst } = pair(mm, mapping);
      folioAttachPrivate(mm, src, "buffers");
      mm.mem.setFlag(src, PG.locked);
      const rc = run(env, () => fallbackMigrateFolio(mm, mapping, dst, src, "MIGRATE_ASYNC"));
      assert.ok(rc.ok);
      assert.deepEqual(released, [src]);
      assert.equal(mm.mem.testFlag(dst, PG.private), false, "released, not moved");
      assert.equal(filemapGetEntry(mapping, 0), dst);
    },
  );
});

Deno.test("moveToNewFolio picks the operation", async (t) => {
  await t.step("the mapping's ->migrate_folio, called on its aops table with the mode", () => {
    const calls: string[] = [];
    const aops: AddressSpaceOperations = {
      *migrateFolio(mm, mapping, dst, src, mode) {
        calls.push(`${this === aops} ${mode}`);
        return yield* filemapMigrateFolio(mm, mapping, dst, src, mode);
      },
    };
    const { env, mm, mapping } = world(aops);
    const { src, dst } = pair(mm, mapping);
    mm.mem.setFlag(src, PG.locked);
    mm.mem.setFlag(dst, PG.locked);
    const rc = run(env, () => moveToNewFolio(mm, dst, src, "MIGRATE_SYNC_LIGHT"));
    assert.ok(rc.ok);
    assert.deepEqual(calls, ["true MIGRATE_SYNC_LIGHT"]);
    assert.equal(mm.mem.mapping[src], 0, "the old folio leaves the mapping");
  });
  await t.step("a failure leaves the source in its mapping", () => {
    const { env, mm, mapping } = world({
      // deno-lint-ignore require-yield
      *migrateFolio() {
        return { ok: false, errno: "EAGAIN" } as KResult;
      },
    });
    const { src, dst } = pair(mm, mapping);
    mm.mem.setFlag(src, PG.locked);
    mm.mem.setFlag(dst, PG.locked);
    assert.deepEqual(run(env, () => moveToNewFolio(mm, dst, src, "MIGRATE_SYNC")), {
      ok: false,
      errno: "EAGAIN",
    });
    assert.equal(mm.mem.mapping[src], mapping.id);
  });
  await t.step("both folios must be locked (VM_BUG_ON_FOLIO)", () => {
    const { env, mm, mapping } = world();
    const { src, dst } = pair(mm, mapping);
    mm.mem.setFlag(src, PG.locked);
    env.spawn("m", function* () {
      yield* moveToNewFolio(mm, dst, src, "MIGRATE_SYNC");
    });
    assert.throws(() => env.run(), /move_to_new_folio: .* must be locked/);
  });
});
