import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  Engine,
  filemapAddFolio,
  filemapGetEntry,
  filemapMigrateFolio,
  folioAlloc,
  folioGet,
  folioPut,
  installMmChecker,
  MIGRATE,
  Mm,
  PG,
} from "../../../mod.ts";
import {
  allocContigRange,
  type ContigResult,
  offlinePages,
  type OfflineResult,
} from "../../../lib/mm/contig_range.ts";

/** 4096 frames; folios of the given orders at the start of the zone, in a file's page cache. */
function world(orders: number[], nrFrames = 4096) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames }, zone: { minFreeKbytes: 0 } });
  const mapping = AddressSpace.create(mm, {
    name: "file",
    aops: { migrateFolio: filemapMigrateFolio },
    maxOrder: 9,
  });
  const folios: number[] = [];
  let index = 0;
  for (const order of orders) {
    index = (index + (1 << order) - 1) & ~((1 << order) - 1);
    const f = folioAlloc(mm, order);
    filemapAddFolio(mm, mapping, f, index);
    folioPut(mm, f);
    mm.mem.setFlag(f, PG.uptodate);
    for (let i = 0; i < 1 << order; i++) mm.mem.data[f + i] = 100 + index + i;
    folios.push(f);
    index += 1 << order;
  }
  return { env, mm, mapping, folios, pages: index };
}

function runContig(
  env: Engine,
  mm: Mm,
  start: number,
  end: number,
  opts: { compound?: boolean } = {},
) {
  const out = { r: null as ContigResult | null };
  env.spawn("cma_alloc", function* () {
    out.r = yield* allocContigRange(mm, start, end, MIGRATE.MOVABLE, opts);
  });
  const run = env.run({ stopOnViolation: false });
  return { r: out.r!, run };
}

Deno.test("allocContigRange return values", async (t) => {
  await t.step("success: a timeline of begin, migration, end with 0", () => {
    const { env, mm } = world([0, 2]);
    const { r } = runContig(env, mm, 0, 512);
    assert.ok(r.ok);
    const kinds = env.trace!.kinds((e) => e.kind.startsWith("alloc_contig_range"));
    assert.deepEqual(kinds, ["alloc_contig_range_begin", "alloc_contig_range_end"]);
    assert.equal(env.trace!.ofKind("alloc_contig_range_end")[0]!.after, 0);
    assert.equal(mm.vmstat.get("pgmigrate_success"), 1 + 4, "PGMIGRATE_SUCCESS counts base pages");
  });
  await t.step("an unmovable page in the range: EBUSY 'isolation failed' at its pfn", () => {
    const { env, mm } = world([]);
    const kernel = folioAlloc(mm, 0, MIGRATE.UNMOVABLE); // no LRU, no mapping: unmovable
    assert.ok(kernel < 512);
    const { r } = runContig(env, mm, 0, 512);
    assert.deepEqual(r, {
      ok: false,
      errno: "EBUSY",
      failedPfn: kernel,
      reason: "isolation failed",
    });
    assert.equal(mm.zone.nrIsolatePageblock, 0);
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("alloc_contig_range")), [
      "alloc_contig_range_begin",
    ]);
  });
  await t.step("no memory to migrate into: ENOMEM at once, isolation undone, contents kept", () => {
    // 1024 frames: the file's folio in block 0; every frame outside block 0 taken.
    const { env, mm, mapping, folios } = world([0], 1024);
    const taken: number[] = [];
    for (let f; (f = folioAlloc(mm, 0, MIGRATE.UNMOVABLE)) >= 0;) taken.push(f);
    for (const f of taken) if (f < 512) folioPut(mm, f);
    const { r } = runContig(env, mm, 0, 512);
    assert.ok(!r.ok);
    assert.equal(r.errno, "ENOMEM");
    assert.equal(filemapGetEntry(mapping, 0), folios[0]);
    assert.equal(mm.mem.data[folios[0]!], 100);
    assert.equal(mm.zone.nrIsolatePageblock, 0);
    assert.equal(mm.zone.getPageblockMigratetype(0), MIGRATE.MOVABLE);
  });
  await t.step("compound: the range becomes one folio of its order", () => {
    const { env, mm } = world([0, 1]);
    const { r } = runContig(env, mm, 0, 512, { compound: true });
    assert.ok(r.ok);
    assert.equal(mm.mem.order[0], 9);
    assert.equal(mm.mem.refcount[0], 1);
    assert.equal(mm.mem.compoundHead(511), 0);
  });
  await t.step("a range outside the zone or empty is a caller bug", () => {
    const { env, mm } = world([]);
    for (const [s, e] of [[0, 0], [4000, 5000], [-1, 10]]) {
      env.spawn("bad", function* () {
        yield* allocContigRange(mm, s!, e!, MIGRATE.MOVABLE);
      });
      assert.throws(
        () => env.run(),
        /Cannot alloc_contig_range \[.*\): not a non-empty range inside zone Normal/,
      );
    }
  });
});

Deno.test("offlinePages: an isolation failure and the trace of a success", async (t) => {
  const run = (env: Engine, mm: Mm) => {
    const out = { r: null as OfflineResult | null };
    env.spawn("offline", function* () {
      out.r = yield* offlinePages(mm, 0, 512, { timeoutNs: 1e8 });
    });
    env.run();
    return out.r!;
  };
  await t.step("an unmovable page: EBUSY 'failure to isolate range', no pass made", () => {
    const { env, mm } = world([]);
    const kernel = folioAlloc(mm, 0, MIGRATE.UNMOVABLE);
    const r = run(env, mm);
    assert.deepEqual(r, {
      ok: false,
      errno: "EBUSY",
      failedPfn: kernel,
      reason: "failure to isolate range",
      passes: 0,
    });
  });
  await t.step(
    "success: begin, end 0, one scan pass that found the folios and one that found none",
    () => {
      const { env, mm } = world([0, 0, 3]);
      const r = run(env, mm);
      assert.ok(r.ok);
      assert.equal(r.passes, 2);
      assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("offline_pages")), [
        "offline_pages_begin",
        "offline_pages_end",
      ]);
    },
  );
});

Deno.test("allocContigRange property: succeeds iff no folio in the range holds an extra reference", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ order: fc.nat(3), pinned: fc.boolean() }), {
        minLength: 1,
        maxLength: 10,
      }),
      (specs) => {
        const { env, mm, mapping, folios, pages } = world(specs.map((s) => s.order));
        installMmChecker(mm);
        const pinned = folios.filter((_, i) => specs[i]!.pinned);
        for (const f of pinned) folioGet(mm, f);
        const { r, run } = runContig(env, mm, 0, 512);
        assert.deepEqual(run.violations, []);
        assert.equal(r.ok, pinned.length === 0, JSON.stringify(r));
        if (!r.ok) {
          assert.equal(r.errno, "EBUSY");
          assert.ok(pinned.includes(r.failedPfn), `failedPfn ${r.failedPfn} is a pinned folio`);
          for (const f of pinned) assert.ok(mm.mem.testFlag(f, PG.lru), "pinned folios put back");
        } else {
          for (let p = 0; p < 512; p++) assert.equal(mm.mem.refcount[p], 1);
        }
        // Contents are where the page cache says, whatever happened.
        for (let i = 0; i < pages; i++) {
          const f = filemapGetEntry(mapping, i);
          if (f >= 0) assert.equal(mm.mem.data[f + i - mm.mem.index[f]!], 100 + i);
        }
        assert.equal(mm.zone.nrIsolatePageblock, 0);
      },
    ),
    { numRuns: 40 },
  );
});
