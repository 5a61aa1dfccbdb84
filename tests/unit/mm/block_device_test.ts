import assert from "node:assert/strict";
import {
  AddressSpace,
  BlockDevice,
  Engine,
  filemapAddFolio,
  filemapFdatawaitKeepErrors,
  folioAlloc,
  folioMarkDirty,
  folioPut,
  folioWaitWriteback,
  Mm,
  mpageWritepages,
  PG,
  writebackControl,
} from "../../../mod.ts";

function world() {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const mapping = AddressSpace.create(mm, { name: "file" });
  const folios: number[] = [];
  for (let i = 0; i < 4; i++) {
    const f = folioAlloc(mm, 0);
    filemapAddFolio(mm, mapping, f, i);
    mm.mem.setFlag(f, PG.uptodate);
    folioPut(mm, f);
    mm.mem.data[f] = 10 + i;
    folioMarkDirty(mm, f);
    folios.push(f);
  }
  return { env, mm, mapping, folios };
}

/** Write every dirty folio, then wait for the I/O (the device's tasks are daemons). */
function writeAll(env: Engine, mm: Mm, mapping: AddressSpace): void {
  env.spawn("writepages", function* () {
    yield* mpageWritepages(mm, mapping, writebackControl({ syncMode: "WB_SYNC_NONE" }));
    yield* filemapFdatawaitKeepErrors(mm, mapping);
  });
}

Deno.test("BlockDevice", async (t) => {
  await t.step("queues serve bios in parallel: 4 bios, 2 queues, 1 µs each → 2 µs", () => {
    const { env, mm, mapping } = world();
    const dev = new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 }, nrQueues: 2 });
    dev.attach(mapping);
    writeAll(env, mm, mapping);
    const r = env.run();
    assert.equal(r.nowNs, 2000);
    assert.deepEqual(dev.stats, {
      bios: 4,
      pagesWritten: 4,
      errors: 0,
      inflight: 0,
      maxInflight: 4,
    });
    assert.equal(mm.vmstat.get("nr_writeback"), 0);
  });
  await t.step("end of I/O wakes waiters δ after clearing PG_writeback", () => {
    const { env, mm, mapping, folios } = world();
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 }, endIoDelayNs: 300 })
      .attach(mapping);
    writeAll(env, mm, mapping);
    let woke = -1;
    env.spawn("waiter", function* (env) {
      yield env.sleep(1);
      yield* folioWaitWriteback(mm, folios[0]!);
      woke = env.nowNs;
    });
    env.run();
    assert.equal(woke, 1300);
  });
  await t.step("the data written is what the folio held at submission", () => {
    const { env, mm, mapping, folios } = world();
    new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 } }).attach(mapping);
    writeAll(env, mm, mapping);
    env.spawn("store during I/O", function* (env) {
      yield env.sleep(500);
      mm.mem.data[folios[0]!] = 99; // no stable pages: the store races the DMA
    });
    env.run();
    assert.equal(mapping.backing.get(0), 10);
  });
  await t.step("a failed write sets the mapping's error and writes nothing", () => {
    const { env, mm, mapping } = world();
    new BlockDevice(mm, { errorProbability: 1 }).attach(mapping);
    writeAll(env, mm, mapping);
    env.run();
    assert.equal(mapping.wbErr, "EIO");
    assert.equal(mapping.backing.size, 0);
    assert.equal(mm.vmstat.get("nr_writeback"), 0, "writeback still ends");
  });
  await t.step("a hung device: its bio is a hung wait-for node held by the queue task", () => {
    const { env, mm, mapping, folios } = world();
    const dev = new BlockDevice(mm, { latency: { kind: "never" } }).attach(mapping);
    writeAll(env, mm, mapping);
    env.spawn("waiter", function* (env) {
      yield env.sleep(1);
      yield* folioWaitWriteback(mm, folios[1]!);
    });
    const r = env.run();
    assert.equal(r.waits?.kind, "hung");
    assert.ok(dev.queue.length === 3, "the others wait behind the hung one");
    assert.ok(
      r.waits!.hung.some((h) => /waiter.*PG_writeback.*bio #2 to sda/.test(h.join(" → "))),
      r.waits!.text,
    );
  });
});
