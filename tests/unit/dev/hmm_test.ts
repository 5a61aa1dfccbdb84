import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine, type Process } from "../../../lib/sim/engine.ts";
import { BlockDevice } from "../../../lib/mm/block_device.ts";
import { PG } from "../../../lib/mm/memory.ts";
import { Mm } from "../../../lib/mm/mm.ts";
import { mmapRegion, PTE, userLoad, userStore } from "../../../lib/mm/mmap.ts";
import { invalidateInodePages2Range, truncatePagecache } from "../../../lib/mm/truncate.ts";
import { SimpleFs } from "../../../lib/fs/simple_fs.ts";
import { deviceLoad, deviceStore, HmmDevice } from "../../../lib/dev/hmm.ts";
import { HmmFile, type HmmProtocolConfigInput } from "../../../lib/dev/hmm_file.ts";
import { HmmOracle, installHmmChecker } from "../../../lib/dev/hmm_check.ts";
import { filemapSpliceRead, Pipe, pipeRead, spliceStats } from "../../../lib/dev/splice.ts";

function world(config: HmmProtocolConfigInput = {}, accessNs = 0) {
  const env = new Engine({ seed: 1, trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 1_000 } });
  const file = fs.createFile({ name: "f", sizePages: 2, fillPages: 2 });
  new BlockDevice(mm, { latency: { kind: "fixed", ns: 1_000 } }).attach(file);
  const dev = new HmmDevice(mm, { nrFrames: 8, accessNs });
  const hf = new HmmFile(dev, file, config);
  const vma = mmapRegion(mm, { mapping: file, nrPages: 2 });
  return { env, mm, file, dev, hf, vma };
}

/**
 * Two device stores to page 0 of `w.file` (each in flight `accessNs`) from t = 0, and
 * invalidate_inode_pages2_range of that page at t = 15 µs. Runs the world; returns the
 * invalidation's result and the run's end reason.
 */
function storesThenInvalidate(w: ReturnType<typeof world>): { ret: number; reason: string } {
  const { env, mm, file, dev } = w;
  let ret = 1;
  env.spawn("gpu", function* () {
    for (let k = 0; k < 2; k++) yield* deviceStore(dev, file, 0, 900 + k);
  });
  env.spawn("invalidate", function* (e) {
    yield e.sleep(15_000);
    ret = yield* invalidateInodePages2Range(mm, file, 0, 0);
  });
  const reason = env.run().reason;
  return { ret, reason };
}

const flags = (mm: Mm, f: number) => ({
  uptodate: mm.mem.testFlag(f, PG.uptodate),
  dirty: mm.mem.testFlag(f, PG.dirty),
});

Deno.test("HmmDevice", async (t) => {
  await t.step("an invalidation waits for the access in flight, which completes", () => {
    const { env, mm, file, dev } = world({}, 5_000);
    const order: string[] = [];
    env.spawn("gpu", function* () {
      yield* deviceStore(dev, file, 0, 77); // faults in (copy + notify), then stores
      order.push(`store done at ${env.nowNs}`);
    });
    env.spawn("cpu", function* (e) {
      yield e.sleep(3_000); // the store is in flight (pinned) from 1 µs (after its fault) to 6 µs
      const pte = yield* dev.invalidate(file, 0, "write-protect");
      order.push(`invalidated at ${env.nowNs}, pins ${pte?.pins}`);
    });
    assert.equal(env.run().reason, "done");
    assert.equal(order.length, 2);
    assert.match(order[0]!, /^store done/, "the store completed before the invalidation returned");
    assert.equal(dev.stats.invalidationWaits, 1);
    assert.equal(dev.data[dev.pte(file, 0)!.frame], 77);
    assert.equal(mm.mem.data[0] === undefined, false);
  });

  await t.step("dropEntry frees the frame when the last access in flight completes", () => {
    const { env, file, dev } = world({}, 5_000);
    env.spawn("gpu", function* () {
      yield* deviceLoad(dev, file, 0);
    });
    env.spawn("cpu", function* (e) {
      yield e.sleep(2_500);
      assert.equal(dev.stats.framesInUse, 1);
      assert.ok(dev.dropEntry(file, 0));
      assert.equal(dev.stats.framesInUse, 1, "a load is still in flight");
    });
    env.run();
    assert.equal(dev.stats.framesInUse, 0);
    assert.equal(dev.pte(file, 0), undefined);
  });

  await t.step(
    "a thousand device threads: one write notification per episode, nothing stale",
    () => {
      const { env, mm, file, dev, hf } = world();
      const oracle = new HmmOracle(hf, 2);
      for (let k = 0; k < 1000; k++) {
        env.spawn(`gpu-${k}`, function* (e) {
          yield e.sleep(e.current!.rng.int(50_000));
          if (k % 10 === 0) {
            const start = oracle.readStart();
            const r = yield* deviceLoad(dev, file, k % 2);
            if (r.ok) oracle.checkRead("device load", k % 2, r.value, start);
          } else yield* deviceStore(dev, file, k % 2, ++mm.contentTag);
        });
      }
      env.spawn("cpu", function* (e) {
        for (let j = 0; j < 20; j++) {
          yield e.sleep(2_500);
          const start = oracle.readStart();
          const r = yield* hf.read(j % 2);
          if (r.ok) oracle.checkRead("read(2)", j % 2, r.value, start);
        }
        yield e.sleep(60_000);
        yield* hf.fsync();
        oracle.finalCheck();
      });
      assert.equal(env.run().reason, "done");
      assert.equal(dev.stats.stores, 900);
      assert.ok(dev.stats.writeEpisodes >= 2);
      assert.equal(hf.stats.mkwrite, dev.stats.writeEpisodes);
      assert.deepEqual(dev.stats.episodesByMkwrite, [0, dev.stats.writeEpisodes, 0]);
      assert.equal(oracle.events.staleReads + oracle.events.lostWrites, 0);
    },
  );

  await t.step("device memory exhaustion is a scenario bug (throws, naming the device)", () => {
    const { dev } = world();
    for (let i = 0; i < 8; i++) dev.allocFrame();
    assert.throws(() => dev.allocFrame(), /gpu0: cannot allocate a device frame: all 8 in use/);
  });
});

Deno.test("Jan Kara's copy protocol", async (t) => {
  await t.step("first touch write-protects the CPU mapping, copies A→A', maps A' read-only", () => {
    const { env, mm, file, dev, hf, vma } = world();
    env.spawn("t", function* () {
      yield* userStore(mm, vma, 0, 5); // CPU maps A writable and dirties it
      assert.ok((vma.pteBits[0]! & PTE.write) !== 0);
      const r = yield* deviceLoad(dev, file, 0);
      assert.deepEqual(r, { ok: true, value: 5 });
      assert.equal(vma.pteBits[0]! & PTE.write, 0, "folio_mkclean write-protected A's PTE");
      assert.equal(dev.pte(file, 0)!.write, false, "A' is read-only");
      assert.ok(mm.mem.testFlag(hf.folioAt(0), PG.dirty), "the PTE's dirty bit moved to A");
    });
    assert.equal(env.run().reason, "done");
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("hmm_")), [
      "hmm_device_fault",
      "hmm_device_map",
      "hmm_device_load",
    ]);
  });

  await t.step("the write notification unmaps A and marks it !uptodate and dirty", () => {
    const { env, mm, file, dev, hf, vma } = world();
    env.spawn("t", function* () {
      yield* userLoad(mm, vma, 0);
      const a = hf.folioAt(0);
      yield* deviceLoad(dev, file, 0);
      yield* deviceStore(dev, file, 0, 900);
      assert.equal(mm.mem.mapcount[a], 0, "no CPU mapping of A");
      assert.deepEqual(flags(mm, a), { uptodate: false, dirty: true });
      assert.equal(dev.pte(file, 0)!.write, true);
      yield* deviceStore(dev, file, 0, 901); // no fault, no notification
      // A CPU load faults, ->read_folio copies back and A' becomes read-only.
      const r = yield* userLoad(mm, vma, 0);
      assert.deepEqual(r, { ok: true, value: 901 });
      assert.deepEqual(flags(mm, a), { uptodate: true, dirty: true });
      assert.equal(dev.pte(file, 0)!.write, false);
      yield* deviceStore(dev, file, 0, 902); // a new episode: one more notification
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.mkwrite, 2);
    assert.equal(dev.stats.writeEpisodes, 2);
    assert.deepEqual(dev.stats.episodesByMkwrite, [0, 2, 0]);
    assert.deepEqual(
      env.trace!.kinds((e) =>
        ["hmm_mkwrite", "zap_pte", "hmm_take_back", "page_fault_user"]
          .includes(e.kind)
      ),
      [
        "page_fault_user",
        "zap_pte",
        "hmm_mkwrite",
        "page_fault_user",
        "hmm_take_back",
        "zap_pte",
        "hmm_mkwrite",
      ],
    );
  });

  await t.step("an mmap store removes A' from the device (->page_mkwrite wrapper)", () => {
    const { env, mm, file, dev, hf, vma } = world();
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      yield* userStore(mm, vma, 0, 1000);
      assert.equal(dev.pte(file, 0), undefined, "A' is gone");
      assert.equal(mm.mem.data[hf.folioAt(0)], 1000);
      const r = yield* deviceLoad(dev, file, 0); // a fresh copy
      assert.deepEqual(r, { ok: true, value: 1000 });
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.copiesToHost, 1, "the store's fault copied the device's data back");
    assert.equal(dev.stats.framesInUse, 1);
  });

  await t.step("write(2) removes A' without copying it back (->write_begin wrapper)", () => {
    const { env, mm, file, dev, hf } = world();
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      yield* hf.write(0, 1000);
      assert.deepEqual(flags(mm, hf.folioAt(0)), { uptodate: true, dirty: true });
      const r = yield* hf.read(0);
      assert.deepEqual(r, { ok: true, value: 1000 });
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.copiesToHost, 0);
    assert.equal(dev.pte(file, 0), undefined);
  });

  await t.step("fsync copies back before writing (->writepages wrapper)", () => {
    const { env, file, dev, hf } = world();
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 1, 900);
      assert.equal(yield* hf.fsync(), 0);
    });
    assert.equal(env.run().reason, "done");
    assert.equal(file.backing.get(1), 900);
    assert.equal(hf.stats.writebackTakeBacks, 1);
    assert.equal(dev.pte(file, 1)!.write, false, "A' stays, read-only");
  });

  await t.step("truncation drops A' (->invalidate_folio wrapper)", () => {
    const { env, mm, file, dev, hf } = world();
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 1, 900);
      yield* truncatePagecache(mm, file, 1);
    });
    assert.equal(env.run().reason, "done");
    assert.equal(dev.pte(file, 1), undefined);
    assert.equal(dev.stats.framesInUse, 0);
    assert.equal(hf.folioAt(1), -1);
  });

  await t.step("without the notification the device writes while A stays uptodate", () => {
    const { env, mm, file, dev, hf } = world({ writeNotify: false });
    const oracle = new HmmOracle(hf, 2);
    env.spawn("t", function* (e) {
      yield* deviceStore(dev, file, 0, ++mm.contentTag);
      yield e.point();
      const start = oracle.readStart();
      const r = yield* hf.read(0);
      assert.ok(r.ok);
      assert.ok(oracle.checkRead("read(2)", 0, r.value, start), "read(2) returned A's old data");
      yield* hf.fsync();
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.mkwrite, 0);
    assert.deepEqual(dev.stats.episodesByMkwrite, [1, 0, 0]);
    assert.equal(oracle.finalCheck(), 1, "the device's write never reached storage");
    assert.equal(oracle.events.uptodateNotLatest, 1);
  });
});

Deno.test("Jérôme Glisse's migrate and bounce", async (t) => {
  await t.step("migrate: any device touch migrates, any CPU touch migrates back", () => {
    const { env, mm, file, dev, hf, vma } = world({ strategy: "migrate" });
    env.spawn("t", function* () {
      yield* userLoad(mm, vma, 0);
      yield* deviceLoad(dev, file, 0); // a read migrates too
      const a = hf.folioAt(0);
      assert.equal(mm.mem.mapcount[a], 0);
      assert.deepEqual(flags(mm, a), { uptodate: false, dirty: true });
      assert.equal(dev.pte(file, 0)!.write, true, "the device owns it: no write notification");
      const r = yield* hf.read(0);
      assert.ok(r.ok && r.value === file.backing.get(0));
      assert.equal(dev.pte(file, 0), undefined, "migrated back");
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.migrations, 1);
    assert.equal(hf.stats.migrationsBack, 1);
    assert.equal(dev.stats.framesInUse, 0);
  });

  await t.step("migrate: a page with an extra reference is not migrated (EBUSY)", () => {
    const { env, mm, file, dev, hf } = world({ strategy: "migrate" });
    env.spawn("pin", function* () {
      const pipe = new Pipe();
      yield* filemapSpliceRead(mm, file, 0, 1, pipe); // a pipe buffer holds A
      const r = yield* hf.deviceFault(dev, file, 0, false);
      assert.deepEqual(r, { ok: false, errno: "EBUSY" });
      pipeRead(mm, pipe);
      assert.deepEqual(yield* hf.deviceFault(dev, file, 0, false), { ok: true, value: undefined });
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.migrateFailures, 1);
  });

  await t.step("bounce: read(2) and write(2) leave the page on the device", () => {
    const { env, file, dev, hf } = world({ strategy: "bounce" });
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      assert.deepEqual(yield* hf.read(0), { ok: true, value: 900 });
      yield* hf.write(0, 901);
      assert.deepEqual(yield* deviceLoad(dev, file, 0), { ok: true, value: 901 });
    });
    assert.equal(env.run().reason, "done");
    assert.equal(hf.stats.bounceCopies, 2);
    assert.equal(hf.stats.copiesToHost, 0);
    assert.equal(dev.stats.faults, 1);
  });

  await t.step("migrate: invalidating a page with a store in flight fails (-EBUSY)", () => {
    const w = world({ strategy: "migrate" }, 10_000);
    const { file, dev, hf } = w;
    // Migrated at 1 µs; each store is in flight 10 µs: 1–11 µs and 11–21 µs.
    const { ret, reason } = storesThenInvalidate(w);
    assert.equal(reason, "done");
    assert.equal(ret, -16, "-EBUSY: ->launder_folio could not migrate the pinned page back");
    assert.equal(hf.stats.invalidateFailures, 1);
    assert.ok(dev.pte(file, 0), "the page stays on the device");
    assert.equal(hf.folioAt(0) >= 0, true, "and A stays in the page cache");
  });

  await t.step("copy: the same invalidation waits for the store and succeeds", () => {
    const w = world({}, 10_000);
    const { file, dev, hf } = w;
    const { ret, reason } = storesThenInvalidate(w);
    assert.equal(reason, "done");
    assert.equal(ret, 0);
    assert.equal(file.backing.get(0), 901, "laundered with the device's last store");
    assert.equal(hf.stats.invalidateFallbacks, 1);
    assert.equal(dev.pte(file, 0), undefined);
  });
});

Deno.test("upstream's mirror: the device maps A itself", async (t) => {
  await t.step(
    "no copies; writeback write-protects the device, the next store re-dirties A",
    () => {
      const { env, mm, file, dev, hf } = world({ strategy: "mirror" });
      env.spawn("t", function* () {
        yield* deviceStore(dev, file, 0, 900);
        const a = hf.folioAt(0);
        assert.equal(mm.mem.data[a], 900, "the store went to the page-cache page");
        assert.deepEqual(flags(mm, a), { uptodate: true, dirty: true });
        yield* hf.fsync();
        assert.equal(file.backing.get(0), 900);
        assert.equal(dev.pte(file, 0)!.write, false, "folio_mkclean's notifier write-protected it");
        assert.equal(mm.mem.testFlag(a, PG.dirty), false);
        yield* deviceStore(dev, file, 0, 901); // faults: ->page_mkwrite again
        assert.equal(mm.mem.testFlag(a, PG.dirty), true);
        yield* hf.fsync();
      });
      assert.equal(env.run().reason, "done");
      assert.equal(file.backing.get(0), 901);
      assert.equal(hf.stats.bytesCopied, 0);
      assert.equal(hf.stats.mkwrite, 2);
      assert.deepEqual(dev.stats.episodesByMkwrite, [0, 2, 0]);
      assert.equal(dev.stats.framesInUse, 0, "no device memory used");
    },
  );
});

Deno.test("installHmmChecker and splice", async (t) => {
  await t.step("a pipe buffer confirmed after the device's write: -EIO, flagged", () => {
    const { env, mm, file, dev, hf } = world();
    const checker = installHmmChecker(hf, 2);
    let read: unknown;
    env.spawn("t", function* () {
      const pipe = new Pipe();
      yield* filemapSpliceRead(mm, file, 0, 1, pipe);
      yield* deviceStore(dev, file, 0, 900);
      read = pipeRead(mm, pipe);
    });
    const r = env.run();
    assert.deepEqual(read, { ok: false, errno: "EIO" });
    assert.equal(r.violations[0]?.name, "hmm: splice read");
    assert.equal(checker.counts["splice read"], 1);
    assert.equal(spliceStats(mm).confirmFailures[0]?.dirty, true);
  });

  await t.step("a CPU mapping of a dirty, !uptodate A is flagged", () => {
    const { env, mm, hf, vma } = world();
    installHmmChecker(hf, 2);
    env.spawn("t", function* (e) {
      yield* userLoad(mm, vma, 0);
      const a = hf.folioAt(0);
      mm.mem.setFlag(a, PG.dirty); // as if a protocol forgot to unmap A
      mm.mem.clearFlag(a, PG.uptodate);
      yield e.point();
    });
    assert.equal(env.run().violations[0]?.name, "hmm: fault maps A");
  });

  await t.step("the filesystem's own ->read_folio on A is flagged (no read hook)", () => {
    const { env, mm, file, dev, hf } = world({ readHook: false });
    installHmmChecker(hf, 2);
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      yield* hf.read(0);
    });
    assert.equal(env.run().violations[0]?.name, "hmm: generic read_folio");
    void mm;
  });

  await t.step("the full protocol passes the mm checker with A's exemption", () => {
    const { env, mm, file, dev, hf, vma } = world();
    const c = installHmmChecker(hf, 2);
    env.spawn("t", function* () {
      yield* deviceStore(dev, file, 0, 900);
      yield* userStore(mm, vma, 1, 5);
      yield* deviceStore(dev, file, 1, 901);
      yield* userLoad(mm, vma, 0);
      yield* hf.fsync();
    });
    const r = env.run();
    assert.deepEqual(r.violations, []);
    assert.deepEqual(c.mm.checkNow(), []);
  });
});

type Op =
  | {
    k: "cpu-read" | "cpu-write" | "mmap-load" | "mmap-store" | "dev-load" | "dev-store";
    i: number;
  }
  | { k: "fsync" | "dio-read"; i: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  k: fc.constantFrom(
    "cpu-read",
    "cpu-write",
    "mmap-load",
    "mmap-store",
    "dev-load",
    "dev-store",
    "fsync",
    "dio-read",
  ),
  i: fc.integer({ min: 0, max: 1 }),
});

Deno.test("copy, migrate, bounce and mirror: every read fresh, storage holds the latest after sync (property)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("copy" as const, "migrate" as const, "bounce" as const, "mirror" as const),
      fc.array(opArb, { maxLength: 25 }),
      fc.array(opArb, { maxLength: 25 }),
      (strategy, a, b) => {
        const { env, mm, file, dev, hf, vma } = world({ strategy });
        const buf = mmapRegion(mm, { nrPages: 1 });
        const oracle = new HmmOracle(hf, 2);
        installHmmChecker(hf, 2);
        const run = function* (ops: Op[]): Process<void> {
          for (const op of ops) {
            const start = oracle.readStart();
            let v: number | null = null;
            switch (op.k) {
              case "cpu-read": {
                const r = yield* hf.read(op.i);
                if (r.ok) v = r.value;
                break;
              }
              case "cpu-write":
                yield* hf.write(op.i, ++mm.contentTag);
                break;
              case "mmap-load": {
                const r = yield* userLoad(mm, vma, op.i);
                if (r.ok) v = r.value;
                break;
              }
              case "mmap-store":
                yield* userStore(mm, vma, op.i);
                break;
              case "dev-load": {
                const r = yield* deviceLoad(dev, file, op.i);
                if (r.ok) v = r.value;
                break;
              }
              case "dev-store":
                yield* deviceStore(dev, file, op.i, ++mm.contentTag);
                break;
              case "fsync":
                yield* hf.fsync();
                break;
              case "dio-read": {
                const r = yield* hf.directIo("READ", op.i, buf, 0);
                if (r.ok) v = r.value.tag;
                break;
              }
            }
            if (v !== null) oracle.checkRead(op.k, op.i, v, start);
          }
        };
        const ta = env.spawn("a", () => run(a));
        const tb = env.spawn("b", () => run(b));
        env.spawn("final", function* (e) {
          yield* e.join(ta);
          yield* e.join(tb);
          yield* hf.fsync();
          oracle.finalCheck();
        });
        const r = env.run();
        assert.equal(r.reason, "done", `${r.reason}: ${r.violations[0]?.message ?? ""}`);
        assert.deepEqual(oracle.events.staleReads, 0, JSON.stringify(oracle.examples));
        assert.equal(oracle.events.staleWritebacks + oracle.events.lostWrites, 0);
        assert.equal(oracle.events.twoWriters + oracle.events.uptodateNotLatest, 0);
      },
    ),
    { numRuns: 60, seed: 2016 },
  );
});
