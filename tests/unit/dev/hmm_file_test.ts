import assert from "node:assert/strict";
import {
  BlockDevice,
  deviceLoad,
  deviceStore,
  Engine,
  HmmDevice,
  HmmFile,
  HmmOracle,
  HmmProtocolConfig,
  type HmmProtocolConfigInput,
  type HmmStrategy,
  Mm,
  mmapRegion,
  SimpleFs,
  userStore,
} from "../../../mod.ts";

/** Run one more process on `env` to completion. */
function runAfter(env: Engine, body: () => Generator<unknown, unknown, unknown>): void {
  env.spawn("after", body as never);
  env.run();
}

function world(config: HmmProtocolConfigInput = {}, accessNs = 0) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 1_000 } });
  const file = fs.createFile({ name: "f", sizePages: 2, fillPages: 2 });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 1_000 } }).attach(file);
  const dev = new HmmDevice(mm, { nrFrames: 8, accessNs });
  const hf = new HmmFile(dev, file, config);
  const buf = mmapRegion(mm, { nrPages: 1 }); // the user buffer of direct I/O
  return { env, mm, file, dev, hf, buf };
}

Deno.test("HmmProtocolConfig: Jan Kara's protocol complete by default; errors name the field", () => {
  assert.deepEqual(HmmProtocolConfig.parse({}), {
    strategy: "copy",
    writeNotify: true,
    readHook: true,
    writebackHook: true,
    dioInvalidation: true,
    dioLatencyNs: 10_000,
  });
  const r = HmmProtocolConfig.safeParse({ strategy: "share" });
  assert.ok(!r.success && r.error.issues[0]!.path[0] === "strategy");
});

Deno.test("HmmFile wraps the mapping", async (t) => {
  await t.step("AS_RELEASE_ALWAYS is set and the generic operations are kept", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1 });
    const generic = file.aops;
    const hf = new HmmFile(new HmmDevice(mm), file);
    assert.equal(file.releaseAlways, true);
    assert.equal(hf.generic, generic);
    assert.notEqual(file.aops, generic);
  });
  await t.step("a filesystem with its own ->writepages is refused by the writeback wrapper", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
    const file = new SimpleFs(mm).createFile({ name: "own wb", sizePages: 1 });
    // deno-lint-ignore require-yield
    file.aops = {
      ...file.aops,
      *writepages() {
        return 0;
      },
    };
    assert.throws(
      () => new HmmFile(new HmmDevice(mm), file),
      /HmmFile: own wb has its own ->writepages/,
    );
    new HmmFile(new HmmDevice(mm), file, { writebackHook: false });
  });
});

Deno.test("HmmFile.deviceOwns: who holds the only fresh copy, per strategy", () => {
  const expect: Record<HmmStrategy, [boolean, boolean]> = {
    copy: [false, true], // A' read-only after a load; writable (owned) after a store
    migrate: [true, true], // migrated on first touch
    bounce: [true, true],
    mirror: [false, false], // the device works on A itself
  };
  for (const strategy of Object.keys(expect) as HmmStrategy[]) {
    const { env, file, dev, hf } = world({ strategy });
    const seen: boolean[] = [];
    env.spawn("gpu", function* () {
      yield* deviceLoad(dev, file, 0);
      seen.push(hf.deviceOwns(0));
      yield* deviceStore(dev, file, 0, 900);
      seen.push(hf.deviceOwns(0));
    });
    env.run();
    assert.deepEqual(seen, expect[strategy], strategy);
    assert.equal(hf.deviceOwns(1), false, "an untouched page");
  }
});

Deno.test("HmmFile.directIo", async (t) => {
  await t.step("a direct read after a device store sees the device's data (flush first)", () => {
    for (const strategy of ["copy", "migrate", "mirror"] as const) {
      const { env, file, dev, hf, buf } = world({ strategy });
      let tag = -1;
      env.spawn("t", function* () {
        yield* deviceStore(dev, file, 0, 900);
        const r = yield* hf.directIo("READ", 0, buf, 0);
        if (r.ok) tag = r.value.tag;
      });
      assert.equal(env.run().reason, "done");
      assert.equal(tag, 900, strategy);
      assert.equal(file.backing.get(0), 900, "written back before the read");
    }
  });
  await t.step(
    "without the DIO flush the read returns storage's stale data (the oracle says so)",
    () => {
      const { env, file, dev, hf, buf } = world({ dioInvalidation: false });
      const oracle = new HmmOracle(hf, 2);
      const old = file.backing.get(0);
      let stale = false, tag = -1;
      env.spawn("t", function* (e) {
        yield* deviceStore(dev, file, 0, 900);
        yield e.point();
        const start = oracle.readStart();
        const r = yield* hf.directIo("READ", 0, buf, 0);
        if (r.ok) {
          tag = r.value.tag;
          stale = oracle.checkRead("O_DIRECT read", 0, tag, start);
        }
      });
      env.run();
      assert.deepEqual([tag, stale], [old, true]);
    },
  );
  await t.step(
    "a direct write while the device stores: flushed, invalidated, the DIO data on storage",
    () => {
      // Copy: the flush copies A' back and the invalidation waits for the store in flight.
      // Migrate: the flush waits for the pin and migrates the page back; whether a later store
      // re-migrates it before the invalidation (then -EBUSY and a buffered fallback) depends on
      // the schedule (thread 002's exploration); under fifo it does not.
      for (const strategy of ["copy", "migrate"] as const) {
        const { env, mm, file, dev, hf, buf } = world({ strategy }, 20_000);
        const out: { res: { tag: number; fellBack: boolean } | null } = { res: null };
        env.spawn("gpu", function* () {
          for (let k = 0; k < 3; k++) yield* deviceStore(dev, file, 0, 900 + k);
        });
        env.spawn("dio", function* (e) {
          yield e.sleep(15_000);
          yield* userStore(mm, buf, 0, 4242);
          const r = yield* hf.directIo("WRITE", 0, buf, 0);
          if (r.ok) out.res = r.value;
        });
        assert.equal(env.run().reason, "done", strategy);
        assert.deepEqual(out.res, { tag: 4242, fellBack: false }, strategy);
        assert.ok(hf.stats.writebackTakeBacks >= 1, `${strategy}: the flush took the page back`);
        // The device went on storing after the direct write: storage ends with the last version.
        runAfter(env, () => hf.fsync());
        assert.equal(file.backing.get(0), file.latest.get(0), `${strategy}: no write lost`);
        assert.equal(hf.stats.dioFallbacks, 0);
      }
    },
  );
});

Deno.test("HmmFile stats: bytesCopied is one page per counted copy", () => {
  for (const strategy of ["copy", "migrate", "bounce"] as const) {
    const { env, mm, file, dev, hf } = world({ strategy });
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      yield* hf.read(0);
      yield* hf.write(1, 5);
      yield* deviceLoad(dev, file, 1);
      yield* hf.fsync();
    });
    env.run();
    const s = hf.stats;
    const copies = s.copiesToDevice + s.copiesToHost + s.bounceCopies;
    assert.ok(copies > 0, strategy);
    assert.equal(s.bytesCopied, copies * mm.mem.pageSizeBytes, strategy);
  }
});
