import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  __GFP_COMP,
  __GFP_FS,
  __GFP_MOVABLE,
  __GFP_WRITE,
  AddressSpace,
  BlockDevice,
  Engine,
  fgfGetOrder,
  fgfSetOrder,
  FGP,
  filemapAddFolio,
  filemapGetFolioErr,
  filemapInvalidateLock,
  filemapInvalidateLockShared,
  filemapInvalidateTrylockShared,
  filemapInvalidateUnlock,
  filemapInvalidateUnlockShared,
  folioAlloc,
  folioEndWriteback,
  folioStartWriteback,
  folioTestLocked,
  GFP_HIGHUSER_MOVABLE,
  GFP_NOFS,
  gfpToString,
  iSizeRead,
  iSizeWrite,
  mappingGfpMask,
  mappingInvalidateLock,
  mappingMinFolioOrder,
  mappingSetGfpMask,
  MIGRATE,
  Mm,
  PG,
} from "../../../mod.ts";

function world(opts: { minOrder?: number; maxOrder?: number } = {}) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const m = AddressSpace.create(mm, { name: "f", ...opts });
  return { env, mm, m };
}

/** Run one __filemap_get_folio in a task; the result and the gfp of its allocation. */
function getFolio(fgp: number, setup?: (w: ReturnType<typeof world>) => void) {
  const w = world({ maxOrder: 2 });
  setup?.(w);
  let res: { ok: boolean; folio: number; errno: string | null } = {
    ok: false,
    folio: -1,
    errno: null,
  };
  w.env.spawn("lookup", function* () {
    const r = yield* filemapGetFolioErr(w.mm, w.m, 0, fgp);
    res = r.ok
      ? { ok: true, folio: r.value, errno: null }
      : { ok: false, folio: -1, errno: r.errno };
  });
  w.env.run();
  const alloc = w.env.trace!.ofKind("mm_page_alloc")[0]?.after as
    | { gfp: string; migratetype: number }
    | undefined;
  return { ...w, res, alloc };
}

Deno.test("FGP flags of __filemap_get_folio", async (t) => {
  await t.step("no FGP_CREAT on a miss: ENOENT, nothing allocated", () => {
    const { res, alloc } = getFolio(FGP.LOCK);
    assert.deepEqual([res.ok, res.errno, alloc], [false, "ENOENT", undefined]);
  });
  await t.step("a hit takes a reference; without FGP_LOCK it comes back unlocked", () => {
    let f = -1;
    const { mm, res } = getFolio(0, ({ mm, m }) => {
      f = folioAlloc(mm, 0);
      filemapAddFolio(mm, m, f, 0);
    });
    assert.equal(res.folio, f);
    assert.equal(mm.mem.refcount[f], 3, "allocation + page cache + lookup");
    assert.equal(folioTestLocked(mm, f), false);
  });
  await t.step("FGP_CREAT without FGP_LOCK or FGP_FOR_MMAP still returns it locked", () => {
    const { mm, res } = getFolio(FGP.CREAT);
    assert.ok(res.ok && folioTestLocked(mm, res.folio));
  });
  await t.step("FGP_ACCESSED: a new folio starts referenced, a cached one is marked", () => {
    const a = getFolio(FGP.CREAT | FGP.LOCK | FGP.ACCESSED);
    assert.equal(a.mm.mem.testFlag(a.res.folio, PG.referenced), true);
    const b = getFolio(FGP.CREAT | FGP.LOCK);
    assert.equal(b.mm.mem.testFlag(b.res.folio, PG.referenced), false);
    const c = getFolio(FGP.ACCESSED, ({ mm, m }) => filemapAddFolio(mm, m, folioAlloc(mm, 0), 0));
    assert.equal(c.mm.mem.testFlag(c.res.folio, PG.referenced), true);
  });
  await t.step(
    "FGP_WRITE adds __GFP_WRITE, FGP_NOFS drops __GFP_FS from the mapping's mask",
    () => {
      const w = getFolio(FGP.CREAT | FGP.LOCK | FGP.WRITE);
      assert.equal(w.alloc!.gfp, gfpToString(GFP_HIGHUSER_MOVABLE | __GFP_WRITE | __GFP_COMP));
      const n = getFolio(FGP.CREAT | FGP.LOCK | FGP.NOFS);
      assert.equal(n.alloc!.gfp, gfpToString((GFP_HIGHUSER_MOVABLE & ~__GFP_FS) | __GFP_COMP));
      assert.equal(n.alloc!.migratetype, MIGRATE.MOVABLE);
    },
  );
  await t.step("the mapping's gfp mask decides the folio's migratetype", () => {
    const u = getFolio(FGP.CREAT | FGP.LOCK, ({ m }) => mappingSetGfpMask(m, GFP_NOFS));
    assert.equal(u.alloc!.gfp, gfpToString(GFP_NOFS | __GFP_COMP));
    assert.equal(u.alloc!.migratetype, MIGRATE.UNMOVABLE);
  });
  await t.step("FGP_STABLE waits for writeback only on a stable-writes device", () => {
    // folio_wait_stable(): only if mapping_stable_writes() (a bdi that needs stable pages).
    for (
      const [stableWrites, fgp, expect] of [[true, FGP.STABLE, 50], [true, 0, 0], [
        false,
        FGP.STABLE,
        0,
      ]] as const
    ) {
      const w = world();
      new BlockDevice(w.mm, { stableWrites }).attach(w.m);
      const f = folioAlloc(w.mm, 0);
      filemapAddFolio(w.mm, w.m, f, 0);
      folioStartWriteback(w.mm, f);
      let at = -1;
      w.env.spawn("lookup", function* (env) {
        yield* filemapGetFolioErr(w.mm, w.m, 0, fgp);
        at = env.nowNs;
      });
      w.env.spawn("end_io", function* (env) {
        yield env.sleep(50);
        yield* folioEndWriteback(w.mm, f);
      });
      w.env.run();
      assert.equal(at, expect, `stableWrites ${stableWrites}, fgp ${fgp}`);
    }
  });
  await t.step("FGP_WRITEBEGIN is LOCK|WRITE|CREAT|STABLE", () => {
    for (const f of [FGP.LOCK, FGP.WRITE, FGP.CREAT, FGP.STABLE]) {
      assert.equal(FGP.WRITEBEGIN & f, f);
    }
    assert.equal(FGP.WRITEBEGIN & (FGP.NOWAIT | FGP.FOR_MMAP | FGP.ACCESSED | FGP.NOFS), 0);
  });
});

Deno.test("fgfSetOrder / fgfGetOrder round-trip without touching the FGP bits", () => {
  const all = FGP.ACCESSED | FGP.LOCK | FGP.CREAT | FGP.WRITE | FGP.NOFS | FGP.NOWAIT |
    FGP.FOR_MMAP | FGP.STABLE;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 63 }), fc.nat(all), (order, fgp) => {
      const f = (fgp & all) | fgfSetOrder(order);
      assert.equal(fgfGetOrder(f), order);
      assert.equal(f & all, fgp & all);
    }),
  );
  assert.equal(fgfGetOrder(FGP.LOCK | FGP.CREAT), 0, "no order encoded: order 0");
});

Deno.test("mapping_gfp_mask and mapping_min_folio_order are per mapping", () => {
  const { mm, m } = world({ minOrder: 2 });
  const other = AddressSpace.create(mm, { name: "g" });
  assert.equal(mappingGfpMask(m), GFP_HIGHUSER_MOVABLE);
  mappingSetGfpMask(m, GFP_HIGHUSER_MOVABLE & ~__GFP_MOVABLE);
  assert.equal(mappingGfpMask(other), GFP_HIGHUSER_MOVABLE, "the other mapping is untouched");
  assert.deepEqual([mappingMinFolioOrder(m), mappingMinFolioOrder(other)], [2, 0]);
});

Deno.test("i_size in pages", async (t) => {
  await t.step(
    "unset: no end of file; set: read back; negative: RangeError naming the file",
    () => {
      const { m } = world();
      assert.equal(iSizeRead(m), Infinity);
      iSizeWrite(m, 3);
      assert.equal(iSizeRead(m), 3);
      iSizeWrite(m, 0);
      assert.equal(iSizeRead(m), 0);
      assert.throws(
        () => iSizeWrite(m, -1),
        (e: Error) => e instanceof RangeError && /f size -1/.test(e.message),
      );
    },
  );
});

Deno.test("invalidate_lock: shared instantiation vs exclusive invalidation", async (t) => {
  await t.step("readers share it; truncate waits for them and then excludes new readers", () => {
    const { env, mm, m } = world();
    const log: string[] = [];
    const reader = (name: string, startNs: number, holdNs: number) =>
      env.spawn(name, function* (e) {
        yield e.sleep(startNs);
        yield* filemapInvalidateLockShared(mm, m);
        log.push(`${name} in @${e.nowNs}`);
        yield e.sleep(holdNs);
        filemapInvalidateUnlockShared(mm, m);
      });
    reader("r1", 0, 10);
    reader("r2", 1, 10);
    env.spawn("truncate", function* (e) {
      yield e.sleep(2);
      yield* filemapInvalidateLock(mm, m);
      log.push(`truncate in @${e.nowNs}`);
      yield e.sleep(5);
      filemapInvalidateUnlock(mm, m);
    });
    reader("r3", 3, 1); // arrives while truncate waits: queued behind the writer
    assert.equal(env.run().reason, "done");
    assert.deepEqual(log, ["r1 in @0", "r2 in @1", "truncate in @11", "r3 in @16"]);
  });
  await t.step("trylock_shared fails while a writer holds it or waits for it", () => {
    const { env, mm, m } = world();
    const got: string[] = [];
    env.spawn("reader", function* (e) {
      yield* filemapInvalidateLockShared(mm, m);
      yield e.sleep(10);
      filemapInvalidateUnlockShared(mm, m);
    });
    env.spawn("truncate", function* (e) {
      yield e.sleep(1);
      yield* filemapInvalidateLock(mm, m); // waits for the reader until t=10
      yield e.sleep(10);
      filemapInvalidateUnlock(mm, m);
    });
    env.spawn("nowait reader", function* (e) {
      for (const at of [5, 15, 25]) {
        yield e.sleep(at - e.nowNs);
        const ok = yield* filemapInvalidateTrylockShared(mm, m);
        got.push(`${at}:${ok}`);
        if (ok) filemapInvalidateUnlockShared(mm, m);
      }
    });
    env.run();
    assert.deepEqual(got, ["5:false", "15:false", "25:true"]);
  });
  await t.step("one lock per mapping, named after it in wait-for reports", () => {
    const { env, mm, m } = world();
    assert.equal(mappingInvalidateLock(m), mappingInvalidateLock(m));
    env.spawn("truncate", function* () {
      yield* filemapInvalidateLock(mm, m);
    });
    env.spawn("fault", function* (e) {
      yield e.sleep(1);
      yield* filemapInvalidateLockShared(mm, m);
    });
    const r = env.run();
    assert.equal(r.reason, "stuck");
    assert.deepEqual(r.waits!.blocked.map((b) => [b.task, b.heldBy]), [["fault#1", [
      "truncate#0",
    ]]]);
    assert.match(r.waits!.blocked[0]!.waitsFor, /invalidate_lock of f/);
  });
});
