import assert from "node:assert/strict";
import {
  AddressSpace,
  BlockDevice,
  deviceLoad,
  deviceStore,
  Engine,
  filemapAddFolio,
  folioAlloc,
  folioMarkDirty,
  folioStartWriteback,
  HmmDevice,
  HmmFile,
  HmmOracle,
  type HmmOracleEvents,
  installHmmChecker,
  Mm,
  mmapRegion,
  PG,
  PTE,
  SimpleFs,
  userLoad,
  userStore,
} from "../../../mod.ts";

function world(strategy: "copy" | "mirror" = "copy") {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 1_000 } });
  const file = fs.createFile({ name: "f", sizePages: 2, fillPages: 2 });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 1_000 } }).attach(file);
  const dev = new HmmDevice(mm, { nrFrames: 8 });
  const hf = new HmmFile(dev, file, { strategy });
  const vma = mmapRegion(mm, { mapping: file, nrPages: 2 });
  return { env, mm, file, dev, hf, vma };
}

const ZERO: HmmOracleEvents = {
  reads: 0,
  staleReads: 0,
  writebacks: 0,
  staleWritebacks: 0,
  lostWrites: 0,
  twoWriters: 0,
  uptodateNotLatest: 0,
};

Deno.test("HmmOracle is silent on a clean run of the copy protocol", () => {
  const { env, mm, file, dev, hf, vma } = world();
  const oracle = new HmmOracle(hf, 2);
  env.spawn("t", function* () {
    yield* deviceStore(dev, file, 0, 900);
    for (const i of [0, 1]) {
      const start = oracle.readStart();
      const r = yield* hf.read(i);
      if (r.ok) oracle.checkRead("read(2)", i, r.value, start);
    }
    yield* userStore(mm, vma, 1, 77);
    yield* hf.fsync();
  });
  assert.equal(env.run().reason, "done");
  assert.equal(oracle.finalCheck(), 0);
  assert.deepEqual(oracle.events, { ...ZERO, reads: 2, writebacks: 2 });
  assert.deepEqual(oracle.examples, []);
});

Deno.test("HmmOracle: each rule fires on a constructed violation", async (t) => {
  await t.step(
    "stale read: a version superseded before the read began; not one superseded during it",
    () => {
      const { env, file, hf } = world();
      const oracle = new HmmOracle(hf, 2);
      const old = file.latest.get(0)!;
      const got: boolean[] = [];
      env.spawn("t", function* (e) {
        const early = oracle.readStart();
        file.latest.set(0, old + 1000); // a newer version is written
        yield e.point();
        got.push(oracle.checkRead("racing read", 0, old, early));
        got.push(oracle.checkRead("late read", 0, old, oracle.readStart()));
      });
      env.run();
      assert.deepEqual(got, [false, true]);
      assert.deepEqual([oracle.events.reads, oracle.events.staleReads], [2, 1]);
      assert.equal(oracle.examples[0]!.kind, "read");
      assert.match(
        oracle.examples[0]!.message,
        new RegExp(`late read of index 0 returned tag ${old}, superseded`),
      );
    },
  );
  await t.step("stale writeback: writeback starts with data other than the latest", () => {
    const { env, mm, file, hf } = world();
    const oracle = new HmmOracle(hf, 2);
    env.spawn("t", function* (e) {
      yield* userLoad(mm, mmapRegion(mm, { mapping: file, nrPages: 2 }), 0); // A cached
      const a = hf.folioAt(0);
      file.latest.set(0, 4242); // written somewhere A does not see
      folioMarkDirty(mm, a);
      folioStartWriteback(mm, a);
      yield e.point();
    });
    env.run();
    assert.deepEqual([oracle.events.writebacks, oracle.events.staleWritebacks], [1, 1]);
    assert.ok(oracle.examples.some((x) => x.kind === "writeback"));
  });
  await t.step("lost write: storage does not hold the latest version after the final sync", () => {
    const { file, hf } = world();
    const oracle = new HmmOracle(hf, 2);
    file.latest.set(1, 31337);
    assert.equal(oracle.finalCheck(), 1);
    assert.equal(oracle.events.lostWrites, 1);
    assert.equal(oracle.examples[0]!.kind, "lost write");
  });
  await t.step("uptodate not latest: counted once on entry, not every step", () => {
    const { env, mm, file, hf, vma } = world();
    const oracle = new HmmOracle(hf, 2);
    env.spawn("t", function* (e) {
      yield* userLoad(mm, vma, 0);
      file.latest.set(0, 555);
      for (let i = 0; i < 3; i++) yield e.point();
    });
    env.run();
    assert.equal(oracle.events.uptodateNotLatest, 1);
  });
  await t.step("two writers: A writable on the CPU and A' writable on the device", () => {
    for (const strategy of ["copy", "mirror"] as const) {
      const { env, mm, file, dev, hf, vma } = world(strategy);
      const oracle = new HmmOracle(hf, 2);
      env.spawn("t", function* (e) {
        yield* userLoad(mm, vma, 0);
        yield* deviceLoad(dev, file, 0); // the device maps A' (copy) or A (mirror) read-only
        vma.pteBits[0]! |= PTE.write; // a protocol bug: both get write access
        hf.devicePte(0)!.write = true;
        yield e.point();
      });
      env.run();
      // A mirror of A itself is one page written coherently: not two writers.
      assert.equal(oracle.events.twoWriters, strategy === "copy" ? 1 : 0, strategy);
    }
  });
  await t.step("asViolations: stale events are engine violations named after their kind", () => {
    const { env, file, hf } = world();
    const oracle = new HmmOracle(hf, 2, { asViolations: true });
    file.latest.set(1, 99);
    oracle.finalCheck();
    assert.deepEqual(env.violations.map((v) => v.name), ["hmm: lost write"]);
  });
});

Deno.test("installHmmChecker: the rules need A dirty AND not uptodate", async (t) => {
  await t.step("writeback and CPU mappings of an uptodate A are no violation", () => {
    const { env, mm, hf, vma } = world();
    const c = installHmmChecker(hf, 2);
    env.spawn("t", function* () {
      yield* userStore(mm, vma, 0, 5); // mapped, dirty, uptodate
      yield* hf.fsync(); // generic writeback of an uptodate page
    });
    assert.deepEqual(env.run().violations, []);
    assert.deepEqual(c.counts, {
      "splice read": 0,
      "generic writeback": 0,
      "fault maps A": 0,
      "generic read_folio": 0,
    });
  });
  await t.step("the mm checker exempts A's mapping from dirty-not-uptodate, and only it", () => {
    const { mm, hf } = world();
    const c = installHmmChecker(hf, 2);
    const other = AddressSpace.create(mm, { name: "other" });
    const g = folioAlloc(mm, 0);
    filemapAddFolio(mm, other, g, 0);
    mm.mem.setFlag(g, PG.dirty);
    const a = folioAlloc(mm, 0); // Jan's A state in the shared file: dirty, not uptodate
    filemapAddFolio(mm, hf.mapping, a, 0);
    mm.mem.setFlag(a, PG.dirty);
    const v = c.mm.checkNow();
    assert.equal(v.length, 1);
    assert.match(JSON.stringify(v[0]), /dirty-not-uptodate/);
    assert.match(JSON.stringify(v[0]), new RegExp(`pfn ${g}\\b`));
  });
});
