import assert from "node:assert/strict";
import {
  AddressSpace,
  balanceDirtyPages,
  BlockDevice,
  dirtyLimits,
  Engine,
  filemapAddFolio,
  folioAlloc,
  folioMarkDirty,
  folioPut,
  Mm,
  PG,
  spawnFlusher,
  syncFilesystem,
  wakeupFlusherThreads,
} from "../../../mod.ts";

function world(nrFrames = 1024) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames } });
  const mapping = AddressSpace.create(mm, { name: "file" });
  return { env, mm, mapping };
}

function dirtyFolio(mm: Mm, mapping: AddressSpace, index: number, tag: number): number {
  const f = folioAlloc(mm, 0);
  filemapAddFolio(mm, mapping, f, index);
  mm.mem.setFlag(f, PG.uptodate);
  folioPut(mm, f);
  mm.mem.data[f] = tag;
  folioMarkDirty(mm, f);
  return f;
}

const SEC = 1_000_000_000;

Deno.test("flusher (wb_workfn)", async (t) => {
  await t.step("kupdate writes only data older than dirty_expire", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm).attach(mapping);
    const other = AddressSpace.create(mm, { name: "young" });
    new BlockDevice(mm, { name: "sdb" }).attach(other);
    dirtyFolio(mm, mapping, 0, 1);
    spawnFlusher(mm, { dirtyWritebackCentisecs: 500, dirtyExpireCentisecs: 3000 });
    let at29 = -1;
    env.spawn("writer", function* (env) {
      yield env.sleep(28 * SEC);
      dirtyFolio(mm, other, 0, 2); // dirtied at 28 s
      yield env.sleep(1 * SEC);
      at29 = mapping.backing.size;
      yield env.sleep(6 * SEC);
    });
    env.run();
    assert.equal(at29, 0, "25 s kupdate: not yet expired");
    assert.equal(mapping.backing.get(0), 1, "30 s kupdate wrote the 0 s data");
    assert.equal(other.backing.size, 0, "the 28 s data is not 30 s old by 35 s");
    const written = env.trace!.ofKind("writeback_written").map((e) => e.after) as {
      reason: string;
      pages: number;
    }[];
    assert.deepEqual(written.filter((w) => w.pages > 0), [{
      reason: "WB_REASON_PERIODIC",
      pages: 1,
    }]);
  });
  await t.step("wakeup_flusher_threads writes everything dirty now", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm).attach(mapping);
    for (let i = 0; i < 10; i++) dirtyFolio(mm, mapping, i, 100 + i);
    spawnFlusher(mm, { dirtyWritebackCentisecs: 0 });
    env.spawn("reclaim", function* (env) {
      yield env.sleep(1);
      wakeupFlusherThreads(mm, "WB_REASON_VMSCAN");
      yield env.sleep(SEC);
    });
    env.run();
    assert.equal(mapping.backing.size, 10);
    assert.equal(mm.vmstat.get("nr_dirty"), 0);
  });
  await t.step("background writeback runs until below the background threshold", () => {
    const { env, mm, mapping } = world(4096);
    new BlockDevice(mm).attach(mapping);
    const l = dirtyLimits(mm, null);
    const n = Math.floor((l.thresh + l.bgThresh) / 2) + 50; // above freerun
    for (let i = 0; i < n; i++) dirtyFolio(mm, mapping, i, i + 1);
    spawnFlusher(mm, { dirtyWritebackCentisecs: 0 });
    env.spawn("writer", function* (env) {
      yield* balanceDirtyPages(mm, mapping, 1); // kicks background writeback
      yield env.sleep(SEC);
    });
    env.run();
    const after = dirtyLimits(mm, null);
    assert.ok(after.nrReclaimable <= after.bgThresh, JSON.stringify(after));
    assert.ok(env.trace!.ofKind("writeback_wake_background").length >= 1);
  });
});

Deno.test("sync(2)", async (t) => {
  await t.step("returns after the data is on the device", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 5000 } }).attach(mapping);
    for (let i = 0; i < 4; i++) dirtyFolio(mm, mapping, i, 10 + i);
    spawnFlusher(mm);
    let done = -1;
    env.spawn("sync", function* (env) {
      yield* syncFilesystem(mm);
      done = env.nowNs;
    });
    env.run();
    assert.equal(done, 20_000, "four 5 µs writes on one queue");
    assert.equal(mapping.backing.size, 4);
  });
  await t.step("without a flusher the caller writes", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm).attach(mapping);
    dirtyFolio(mm, mapping, 0, 5);
    env.spawn("sync", function* () {
      yield* syncFilesystem(mm);
    });
    env.run();
    assert.equal(mapping.backing.get(0), 5);
  });
  await t.step("hangs in wait_sb_inodes on writeback that never completes (C1.4)", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { latency: { kind: "never" } }).attach(mapping);
    dirtyFolio(mm, mapping, 0, 5);
    spawnFlusher(mm, { dirtyWritebackCentisecs: 0 });
    env.spawn("sync", function* () {
      yield* syncFilesystem(mm);
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.kind, "hung");
    assert.ok(
      r.waits!.hung.some((h) => /^sync#\d+ → PG_writeback of pfn/.test(h.join(" → "))),
      r.waits!.text,
    );
  });
});
