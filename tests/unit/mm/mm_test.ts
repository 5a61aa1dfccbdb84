import assert from "node:assert/strict";
import {
  AddressSpace,
  bitName,
  Engine,
  folioAlloc,
  folioPut,
  folioStartWriteback,
  folioWaitWriteback,
  Mm,
  MmConfig,
  PG,
  type WaitTarget,
} from "../../../mod.ts";

Deno.test("MmConfig defaults and errors", async (t) => {
  await t.step("defaults: 16,384 frames, version 6.12, a 256-bucket folio wait table", () => {
    const mm = new Mm(new Engine());
    assert.equal(mm.mem.nrFrames, 16_384);
    assert.equal(mm.config.version, "6.12");
    assert.equal(mm.waitTable.buckets.length, 256);
    assert.equal(mm.zone.nrFreePages, 16_384, "every frame starts free in the zone");
  });
  await t.step("errors name the field, nested ones with their path", () => {
    const cases: Array<[unknown, string]> = [
      [{ version: "six" }, "version"],
      [{ waitTableBits: 17 }, "waitTableBits"],
      [{ memory: { nrFrames: -1 } }, "memory.nrFrames"],
      [{ era: { fuseTempPages: 1 } }, "era.fuseTempPages"],
    ];
    for (const [input, field] of cases) {
      assert.throws(
        () => new Mm(new Engine(), input as never),
        (e: Error) => e.message.startsWith(`Invalid MmConfig: ${field}:`),
        field,
      );
      const r = MmConfig.safeParse(input);
      assert.equal(r.success, false);
      if (!r.success) assert.equal(r.error.issues[0]!.path.join("."), field);
    }
  });
});

Deno.test("Mm mapping registry", async (t) => {
  await t.step("ids start at 1 (0 is NO_MAPPING) and are handed out in order", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
    const a = AddressSpace.create(mm, { name: "a" });
    const b = AddressSpace.create(mm, { name: "b" });
    assert.deepEqual([a.id, b.id], [1, 2]);
    assert.equal(mm.mappings[2], b);
  });
  await t.step("a mapping that picks its own id is refused", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
    assert.throws(
      () => mm.registerMapping(() => ({ id: 5, name: "x" })),
      /registerMapping: id must be 1, got 5/,
    );
  });
  await t.step("isFileMapping: address spaces yes; 0, anon owners, unregistered ids no", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
    const file = AddressSpace.create(mm, { name: "f" });
    const anon = mm.registerMapping((id) => ({ id, name: "anon_vma" }));
    assert.equal(mm.isFileMapping(file.id), true);
    assert.equal(mm.isFileMapping(anon.id), false);
    assert.equal(mm.isFileMapping(0), false);
    assert.equal(mm.isFileMapping(99), false);
  });
});

Deno.test("Mm FolioRefs tell a freed or reused frame (the simulated KASAN report)", async (t) => {
  await t.step("freed: not live; checkLive records use-after-free with refcount 0", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 16 } });
    const f = folioAlloc(mm, 0);
    const ref = mm.ref(f);
    assert.equal(mm.isLive(ref), true);
    assert.equal(mm.checkLive(ref, "read"), true);
    folioPut(mm, f);
    assert.equal(mm.isLive(ref), false);
    assert.equal(mm.checkLive(ref, "read"), false);
    assert.equal(env.violations.length, 1);
    assert.equal(env.violations[0]!.name, "use-after-free");
    assert.match(
      env.violations[0]!.message,
      new RegExp(`^read: pfn ${f} was freed \\(refcount 0\\)$`),
    );
  });
  await t.step("reused: the generation moved on and the message says so", () => {
    const env = new Engine();
    const mm = new Mm(env, { memory: { nrFrames: 4 } });
    const frames = [0, 1, 2, 3].map(() => folioAlloc(mm, 0));
    const f = frames[0]!;
    const ref = mm.ref(f);
    folioPut(mm, f);
    const again = folioAlloc(mm, 0);
    assert.equal(again, f, "the only free frame");
    assert.equal(mm.isLive(ref), false, "allocated again, but for a new use");
    mm.checkLive(ref, "end_io");
    assert.match(
      env.violations[0]!.message,
      new RegExp(
        `^end_io: pfn ${f} was freed and reused \\(generation ${ref.gen} → ${ref.gen + 1}\\)$`,
      ),
    );
  });
});

Deno.test("Mm names folios and bits as the kernel does", async (t) => {
  await t.step("bitName uses the kernel names; the shared bit is `reclaim`", () => {
    assert.equal(bitName(PG.writeback), "writeback");
    assert.equal(bitName(PG.private_2), "private_2");
    assert.equal(bitName(PG.readahead), "reclaim");
    assert.equal(bitName(30), "bit30");
  });
  await t.step("describeFolio / describeBit name generation, mapping and index", () => {
    const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
    const m = AddressSpace.create(mm, { name: "fuse inode 1" });
    const f = folioAlloc(mm, 0);
    const gen = mm.mem.generation[f];
    assert.equal(mm.describeFolio(f), `pfn ${f} (gen ${gen})`);
    mm.mem.mapping[f] = m.id;
    mm.mem.index[f] = 4;
    assert.equal(
      mm.describeBit(f, PG.writeback),
      `PG_writeback of pfn ${f} (gen ${gen}, fuse inode 1 index 4)`,
    );
  });
});

Deno.test("Mm bit holders make folio waits part of the wait-for graph", () => {
  const env = new Engine();
  const mm = new Mm(env, { memory: { nrFrames: 16 } });
  const f = folioAlloc(mm, 0);
  const request: WaitTarget = { describe: () => "WRITE request #3", hung: true };
  folioStartWriteback(mm, f, request);
  env.spawn("fsync", function* () {
    yield* folioWaitWriteback(mm, f);
  });
  const r = env.run();
  assert.equal(r.reason, "stuck");
  assert.equal(r.waits!.kind, "hung");
  assert.deepEqual(r.waits!.hung[0], [
    "fsync#0",
    mm.describeBit(f, PG.writeback),
    "WRITE request #3",
  ]);
  mm.setBitHolder(f, PG.writeback, null);
  assert.equal(mm.bitHolders.size, 0);
});

Deno.test("Mm.onFree callbacks see each freed folio with its order; storePrivate hands out handles", () => {
  const mm = new Mm(new Engine(), { memory: { nrFrames: 16 } });
  const freed: Array<[number, number]> = [];
  mm.onFree.push((pfn, order) => freed.push([pfn, order]));
  const f = folioAlloc(mm, 2);
  folioPut(mm, f);
  assert.deepEqual(freed, [[f, 2]]);
  const h1 = mm.storePrivate({ a: 1 }), h2 = mm.storePrivate("b");
  assert.notEqual(h1, 0, "0 means no private data");
  assert.notEqual(h1, h2);
  assert.equal(mm.privates.get(h2), "b");
});
