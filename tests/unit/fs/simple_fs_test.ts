import assert from "node:assert/strict";
import {
  Engine,
  filemapAddFolioLocked,
  filemapRead,
  filemapRemoveFolio,
  folioAlloc,
  folioPut,
  Mm,
  PG,
  SimpleFs,
} from "../../../mod.ts";

function setup(latency: { kind: "fixed"; ns: number } | { kind: "never" }, errors = 0) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const fs = new SimpleFs(mm, { readLatency: latency, readErrorProbability: errors });
  const file = fs.createFile({ name: "f", sizePages: 16, fillPages: 16, maxOrder: 2 });
  return { env, mm, fs, file };
}

/** A locked folio of `order` added to `file` at `index`, and a task running its ->read_folio. */
function spawnReadFolio(w: ReturnType<typeof setup>, order: number, index: number): number {
  const { env, mm, file } = w;
  const f = folioAlloc(mm, order);
  filemapAddFolioLocked(mm, file, f, index);
  env.spawn("read", function* () {
    yield* file.aops.readFolio!(mm, file, f);
  });
  return f;
}

Deno.test("SimpleFs read bios", async (t) => {
  await t.step("->read_folio fills every page of the folio from the backing store", () => {
    const w = setup({ kind: "fixed", ns: 3_000 });
    const { env, mm, fs, file } = w;
    const f = spawnReadFolio(w, 2, 4);
    env.run();
    assert.equal(env.nowNs, 3_000);
    assert.deepEqual(
      [...mm.mem.data.subarray(f, f + 4)],
      [4, 5, 6, 7].map((i) => file.backing.get(i)),
    );
    assert.ok(mm.mem.testFlag(f, PG.uptodate) && !mm.mem.testFlag(f, PG.locked));
    assert.equal(fs.stats.pagesRead, 4);
    assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("block_")), [
      "block_bio_queue",
      "block_bio_complete",
    ]);
  });

  await t.step("an I/O error unlocks the folio without marking it uptodate", () => {
    const { env, mm, file } = setup({ kind: "fixed", ns: 1_000 }, 1);
    const r = { errno: "" };
    env.spawn("reader", function* () {
      const x = yield* filemapRead(mm, file, 0, 1);
      r.errno = x.ok ? "ok" : x.errno;
    });
    env.run();
    assert.equal(r.errno, "EIO");
  });

  await t.step("a hung device: the reader waits on PG_locked held by the bio task", () => {
    const { env, mm, file } = setup({ kind: "never" });
    env.spawn("reader", function* () {
      yield* filemapRead(mm, file, 0, 1);
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits?.kind, "hung");
    const edge = r.waits!.blocked.find((e) => e.task.startsWith("reader"))!;
    assert.match(edge.waitsFor, /PG_locked/);
    assert.ok(edge.heldBy.some((h) => h.startsWith("simplefs-read")));
  });

  await t.step("a completion into a freed and reused frame is a use-after-free", () => {
    // The negative control of CLAIMS.md C0.2: a folio abandoned (removed and freed) while its
    // read is in flight, the frame reused, then the late reply arrives.
    const w = setup({ kind: "fixed", ns: 10_000 });
    const { env, mm, fs } = w;
    const f = spawnReadFolio(w, 0, 0);
    env.spawn("abandon", function* (e) {
      yield e.sleep(5_000);
      filemapRemoveFolio(mm, f);
      mm.mem.clearFlag(f, PG.locked); // unlock without a wake: the buggy hook
      folioPut(mm, f);
      folioAlloc(mm, 0); // the frame is reused
    });
    const r = env.run({ stopOnViolation: false });
    assert.equal(fs.stats.staleCompletions, 1);
    assert.deepEqual(r.violations.map((v) => v.name), ["use-after-free"]);
  });

  await t.step("a completion into a folio someone unlocked meanwhile is a VM_BUG_ON", () => {
    const w = setup({ kind: "fixed", ns: 10_000 });
    const { env, mm, fs } = w;
    const f = spawnReadFolio(w, 0, 0);
    env.spawn("abandon", function* (e) {
      yield e.sleep(5_000);
      mm.mem.clearFlag(f, PG.locked); // abandoned: unlocked, not uptodate, still cached
    });
    const r = env.run({ stopOnViolation: false });
    assert.equal(fs.stats.staleCompletions, 1);
    assert.deepEqual(r.violations.map((v) => v.name), ["VM_BUG_ON_FOLIO"]);
    assert.ok(!mm.mem.testFlag(f, PG.uptodate), "the late data is not copied in");
  });
});
