import assert from "node:assert/strict";
import { filemapAddFolio, filemapGetEntry } from "../../../lib/mm/address_space.ts";
import { installMmChecker, MmChecker } from "../../../lib/mm/check.ts";
import { aioDirectRead } from "../../../lib/mm/direct_io.ts";
import { folioAlloc, folioPut } from "../../../lib/mm/folio.ts";
import { PG } from "../../../lib/mm/memory.ts";
import {
  doMunmap,
  mmapRegion,
  pinUserPages,
  unpinUserPages,
  userStore,
} from "../../../lib/mm/mmap.ts";
import { world, writebackFolio } from "./_mmap_fixture.ts";

Deno.test("installMmChecker on a correct scenario reports nothing", () => {
  const { env, mm, file, disk } = world();
  const checker = installMmChecker(mm, { fullEvery: 8 });
  const buf = mmapRegion(mm, { mapping: file, nrPages: 4 });
  const anon = mmapRegion(mm, { nrPages: 2 });
  env.spawn("app", function* () {
    for (let i = 0; i < 4; i++) yield* userStore(mm, buf, i, 10 + i);
    yield* aioDirectRead(mm, disk, buf, { nrPages: 4 });
    const r = yield* pinUserPages(mm, anon, 0, 2, { write: true });
    assert.ok(r.ok);
    unpinUserPages(mm, r.value);
  });
  env.spawn("flusher", function* (e) {
    yield e.sleep(50_000);
    for (let i = 0; i < 4; i++) {
      const f = filemapGetEntry(file, i);
      if (f >= 0) yield* writebackFolio(mm, f, 1000);
    }
  });
  const r = env.run();
  assert.equal(r.reason, "done", JSON.stringify(r.violations));
  doMunmap(mm, buf);
  doMunmap(mm, anon);
  assert.deepEqual(checker.checkNow(), []);
  assert.ok(checker.stats.checks > 10 && checker.stats.fullScans >= 2);
});

/** A checker over a small machine with one cached, mapped page. */
function setup() {
  const { env, mm, file } = world({ pageMkwrite: false });
  const vma = mmapRegion(mm, { mapping: file, nrPages: 2 });
  env.spawn("app", function* () {
    yield* userStore(mm, vma, 0, 1);
  });
  env.run();
  const f = filemapGetEntry(file, 0);
  return { env, mm, file, vma, f, checker: new MmChecker(mm, { fullEvery: 0 }) };
}

Deno.test("MmChecker catches broken invariants", async (t) => {
  await t.step("refcount: a negative refcount", () => {
    const { mm, checker } = setup();
    const g = folioAlloc(mm, 0);
    mm.mem.refcount[g] = -1;
    assert.deepEqual(checker.check().map((v) => v.rule), ["refcount"]);
    assert.deepEqual(checker.check(), [], "reported once");
  });

  await t.step("page-cache-refs: a page-cache folio lost a reference", () => {
    const { mm, f, checker } = setup();
    assert.equal(mm.mem.refcount[f], 2, "page cache + PTE");
    mm.mem.refcount[f] = 1;
    const v = checker.check();
    assert.deepEqual(v.map((x) => x.rule), ["page-cache-refs"]);
    assert.match(v[0]!.message, /refcount 1, expected ≥ 2 \(1 page cache \+ 1 mapped\)/);
  });

  await t.step("mapping: folio->mapping cleared but the xarray still points at it", () => {
    const { mm, file, f, checker } = setup();
    mm.mem.mapping[f] = 0;
    const v = checker.check();
    assert.ok(v.some((x) => x.rule === "mapping" && /xarray still maps index 0/.test(x.message)));
    void file;
  });

  await t.step("mapping: an xarray entry erased behind the folio's back (full scan)", () => {
    const { mm, file, f, checker } = setup();
    file.pages.erase(0);
    assert.deepEqual(checker.check(), [], "no frame changed: the diff sees nothing");
    const v = checker.checkNow();
    assert.ok(v.some((x) => x.rule === "mapping" && x.pfn === f), JSON.stringify(v));
    void mm;
  });

  await t.step("rmap: mapcount disagrees with the PTEs", () => {
    const { mm, f, checker } = setup();
    mm.mem.mapcount[f]! += 1;
    mm.mem.refcount[f]! += 1;
    assert.deepEqual(checker.check().map((v) => v.rule), ["rmap"]);
  });

  await t.step("dirty-not-uptodate: flagged unless the mapping is allow-listed", () => {
    const { mm, file, f } = setup();
    mm.mem.clearFlag(f, PG.uptodate);
    const strict = new MmChecker(mm, { fullEvery: 0 });
    assert.deepEqual(strict.checkNow().map((v) => v.rule), ["dirty-not-uptodate"]);
    const lax = new MmChecker(mm, { fullEvery: 0, allowDirtyNotUptodate: [file] });
    assert.deepEqual(lax.checkNow(), []);
    const byId = new MmChecker(mm, { fullEvery: 0, allowDirtyNotUptodate: [file.id] });
    assert.deepEqual(byId.checkNow(), []);
  });

  await t.step("free-frame: PG_writeback on a free frame", () => {
    const { mm, checker } = setup();
    const g = folioAlloc(mm, 0);
    folioPut(mm, g);
    mm.mem.setFlag(g, PG.writeback);
    const rules = checker.check().map((v) => v.rule);
    assert.ok(rules.includes("free-frame"), rules.join());
  });

  await t.step("buddy: a corrupted free list (full scan)", () => {
    const { mm, checker } = setup();
    mm.zone.nrFreePages += 1;
    assert.ok(checker.checkNow().some((v) => v.rule === "buddy"));
  });
});

Deno.test("installMmChecker records violations as engine violations", async (t) => {
  await t.step("after the step that broke the invariant", () => {
    const { env, mm, file } = world();
    installMmChecker(mm);
    env.spawn("buggy", function* (e) {
      const g = folioAlloc(mm, 0);
      filemapAddFolio(mm, file, g, 7);
      yield e.point();
      folioPut(mm, g); // the caller's reference: the page cache keeps one
      yield e.point();
      mm.mem.setFlag(g, PG.private); // private data attached without its reference
      yield e.point();
      yield e.point();
    });
    const r = env.run();
    assert.equal(r.reason, "violation");
    assert.equal(r.violations[0]!.name, "mm: page-cache-refs");
    assert.equal(r.violations[0]!.step, 3);
    assert.match(r.violations[0]!.message, /refcount 1, expected ≥ 2 \(1 page cache \+ 1 private/);
  });

  await t.step("every: n checks only every n-th step (changes accumulate)", () => {
    const { env, mm } = world();
    installMmChecker(mm, { every: 3 });
    env.spawn("buggy", function* (e) {
      const g = folioAlloc(mm, 0);
      mm.mem.refcount[g] = -5;
      for (let i = 0; i < 5; i++) yield e.point();
    });
    const r = env.run();
    assert.equal(r.violations[0]!.name, "mm: refcount");
    assert.equal(r.violations[0]!.step, 3);
  });

  await t.step("a dirty, not uptodate folio of an allow-listed mapping is no violation", () => {
    const { env, mm, file } = world();
    installMmChecker(mm, { allowDirtyNotUptodate: [file] });
    env.spawn("netfs streaming write", function* (e) {
      const g = folioAlloc(mm, 0);
      filemapAddFolio(mm, file, g, 0);
      folioPut(mm, g);
      mm.mem.setFlag(g, PG.dirty);
      yield e.point();
    });
    assert.equal(env.run().reason, "done");
  });
});
