import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  AddressSpace,
  Engine,
  folioAlloc,
  folioEndRead,
  folioIsLongtermPinnable,
  folioMaybeDmaPinned,
  folioPincount,
  folioRefCount,
  getUserPages,
  GUP_PIN_COUNTING_BIAS,
  installMmChecker,
  Mm,
  mmapRegion,
  PG,
  pinUserPages,
  putUserPage,
  unpinUserPage,
  unpinUserPages,
  unpinUserPagesDirtyLock,
} from "../../../mod.ts";

/** A machine with an anonymous VMA (small folios) and a file VMA of order-2 folios. */
function world(nrFrames = 256) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames } });
  const file = AddressSpace.create(mm, {
    name: "lbs",
    minOrder: 2,
    maxOrder: 2,
    aops: {
      *readFolio(mm, _m, folio) {
        folioEndRead(mm, folio, true);
        return 0;
      },
    },
  });
  const anon = mmapRegion(mm, { nrPages: 4 });
  const big = mmapRegion(mm, { mapping: file, nrPages: 8 });
  return { env, mm, file, anon, big };
}

/** Run `body` as one task; fail the test if the run does not finish cleanly. */
function run(env: Engine, body: () => Generator<unknown, void, unknown>) {
  env.spawn("gup user", function* () {
    yield* body() as Generator<never, void, unknown>;
  });
  const r = env.run({ stopOnViolation: false });
  return r;
}

Deno.test("FOLL_GET takes one plain reference: no pin, small or large", () => {
  const { env, mm, anon, big } = world();
  const r = run(env, function* () {
    const a = yield* getUserPages(mm, anon, 0, 1, { write: true });
    const b = yield* getUserPages(mm, big, 1, 1);
    assert.ok(a.ok && b.ok);
    const small = a.value[0]!, head = mm.mem.compoundHead(b.value[0]!);
    assert.equal(folioRefCount(mm, small), 1 + 1, "PTE + FOLL_GET");
    assert.equal(folioMaybeDmaPinned(mm, small), false);
    assert.equal(folioPincount(mm, head), 0);
    assert.equal(folioMaybeDmaPinned(mm, head), false);
    const before = folioRefCount(mm, head);
    putUserPage(mm, b.value[0]!);
    putUserPage(mm, small);
    assert.equal(folioRefCount(mm, head), before - 1);
    assert.equal(folioRefCount(mm, small), 1);
  });
  assert.deepEqual(r.violations, []);
});

Deno.test("FOLL_PIN accounting: bias per pin on small folios, _pincount on large ones", async (t) => {
  await t.step("two pins of one small page: 2 × GUP_PIN_COUNTING_BIAS, released one by one", () => {
    const { env, mm, anon } = world();
    run(env, function* () {
      const a = yield* pinUserPages(mm, anon, 0, 1, { write: true });
      const b = yield* pinUserPages(mm, anon, 0, 1, { write: true });
      assert.ok(a.ok && b.ok);
      const p = a.value[0]!;
      assert.equal(folioRefCount(mm, p), 1 + 2 * GUP_PIN_COUNTING_BIAS);
      unpinUserPage(mm, p);
      assert.equal(folioRefCount(mm, p), 1 + GUP_PIN_COUNTING_BIAS);
      assert.equal(folioMaybeDmaPinned(mm, p), true);
      unpinUserPage(mm, p);
      assert.equal(folioMaybeDmaPinned(mm, p), false);
    });
  });
  await t.step("pins of different pages of one large folio all count on the head", () => {
    const { env, mm, big } = world();
    run(env, function* () {
      const r = yield* pinUserPages(mm, big, 0, 8);
      assert.ok(r.ok);
      const heads = [...new Set(r.value.map((p) => mm.mem.compoundHead(p)))];
      assert.equal(heads.length, 2, "8 pages in two order-2 folios");
      for (const h of heads) {
        assert.equal(folioPincount(mm, h), 4);
        assert.equal(folioRefCount(mm, h), 4 + 4 + 4, "page cache + PTEs + one per pin");
      }
      unpinUserPages(mm, r.value.slice(0, 4));
      assert.deepEqual(heads.map((h) => folioMaybeDmaPinned(mm, h)), [false, true]);
      unpinUserPages(mm, r.value.slice(4));
    });
  });
  await t.step(
    "'maybe': 1024 plain references look pinned on a small folio, not on a large one",
    () => {
      const { mm } = world();
      const small = folioAlloc(mm, 0), large = folioAlloc(mm, 2);
      mm.mem.refcount[small]! += GUP_PIN_COUNTING_BIAS - 1;
      mm.mem.refcount[large]! += GUP_PIN_COUNTING_BIAS - 1;
      assert.equal(folioMaybeDmaPinned(mm, small), true);
      assert.equal(folioMaybeDmaPinned(mm, large), false);
    },
  );
});

Deno.test("GUP return values", async (t) => {
  await t.step("FOLL_WRITE on a read-only VMA: EFAULT (check_vma_flags)", () => {
    const { env, mm, file } = world();
    const ro = mmapRegion(mm, { mapping: file, nrPages: 4, write: false });
    run(env, function* () {
      const r = yield* pinUserPages(mm, ro, 0, 1, { write: true });
      assert.deepEqual(r, { ok: false, errno: "EFAULT" });
    });
  });
  await t.step("a range running past the VMA returns the pages grabbed so far", () => {
    const { env, mm, anon } = world();
    run(env, function* () {
      const r = yield* getUserPages(mm, anon, 2, 5, { write: true });
      assert.ok(r.ok);
      assert.equal(r.value.length, 2);
      for (const p of r.value) putUserPage(mm, p);
      const none = yield* getUserPages(mm, anon, 4, 1);
      assert.deepEqual(none, { ok: false, errno: "EFAULT" });
    });
  });
  await t.step("FOLL_LONGTERM without FOLL_PIN is a model bug", () => {
    const { env, mm, anon } = world();
    env.spawn("bad", function* () {
      yield* getUserPages(mm, anon, 0, 1, { longterm: true });
    });
    assert.throws(() => env.run(), /FOLL_LONGTERM needs FOLL_PIN/);
  });
  await t.step("GUP emits get_user_pages / pin_user_pages with the count", () => {
    const { env, mm, anon } = world();
    run(env, function* () {
      const g = yield* getUserPages(mm, anon, 0, 2, { write: true });
      const p = yield* pinUserPages(mm, anon, 0, 1);
      assert.ok(g.ok && p.ok);
    });
    const ev = env.trace!.events.filter((e) => e.kind.endsWith("_user_pages"));
    assert.deepEqual(ev.map((e) => [e.kind, (e.after as { nr: number }).nr]), [
      ["get_user_pages", 2],
      ["pin_user_pages", 1],
    ]);
  });
});

Deno.test("releasing what GUP did not hand out is recorded, and touches nothing", () => {
  const { env, mm, anon } = world();
  const r = run(env, function* () {
    const g = yield* getUserPages(mm, anon, 0, 1, { write: true });
    assert.ok(g.ok);
    const p = g.value[0]!;
    putUserPage(mm, p);
    putUserPage(mm, p); // a second release of the same reference
    assert.equal(folioRefCount(mm, p), 1, "only the PTE's reference is left");
  });
  assert.deepEqual(r.violations.map((v) => v.name), ["release of a page GUP did not hand out"]);
});

Deno.test("unpinUserPagesDirtyLock(makeDirty = false) only unpins", () => {
  const { env, mm, big } = world();
  run(env, function* () {
    const r = yield* pinUserPages(mm, big, 0, 1);
    assert.ok(r.ok);
    const head = mm.mem.compoundHead(r.value[0]!);
    yield* unpinUserPagesDirtyLock(mm, r.value, false);
    assert.equal(mm.mem.testFlag(head, PG.dirty), false);
    assert.equal(folioPincount(mm, head), 0);
  });
});

Deno.test("folioIsLongtermPinnable: not in ZONE_MOVABLE, not in CMA pageblocks", () => {
  const normal = new Mm(new Engine(), { memory: { nrFrames: 1024 } });
  assert.equal(folioIsLongtermPinnable(normal, folioAlloc(normal, 0)), true);
  const movable = new Mm(new Engine(), { memory: { nrFrames: 1024 }, zone: { movable: true } });
  assert.equal(folioIsLongtermPinnable(movable, folioAlloc(movable, 0)), false);
  const cma = new Mm(new Engine(), {
    memory: { nrFrames: 1024 },
    zone: { cma: [{ startPfn: 0, endPfn: 1024 }] },
  });
  assert.equal(folioIsLongtermPinnable(cma, folioAlloc(cma, 0)), false);
});

Deno.test("GUP property: references and pins balance; the checker stays silent", () => {
  type Op = { kind: "get" | "pin"; big: boolean; page: number } | { kind: "release"; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constantFrom("get" as const, "pin" as const),
      big: fc.boolean(),
      page: fc.nat(3),
    }),
    fc.record({ kind: fc.constant("release" as const), pick: fc.nat(50) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
      const { env, mm, anon, big } = world();
      installMmChecker(mm);
      const r = run(env, function* () {
        // Fault everything in first, so GUP only adds its own references.
        const pre = yield* getUserPages(mm, anon, 0, 4, { write: true });
        const pre2 = yield* getUserPages(mm, big, 0, 4);
        assert.ok(pre.ok && pre2.ok);
        for (const p of [...pre.value, ...pre2.value]) putUserPage(mm, p);
        const base = new Map<number, number>();
        const heads = [anon.pteOf(0), anon.pteOf(1), anon.pteOf(2), anon.pteOf(3), big.pteOf(0)]
          .map((p) => mm.mem.compoundHead(p));
        for (const h of heads) base.set(h, folioRefCount(mm, h));
        const held: Array<{ kind: "get" | "pin"; page: number }> = [];
        for (const o of ops) {
          if (o.kind === "release") {
            if (held.length === 0) continue;
            const h = held.splice(o.pick % held.length, 1)[0]!;
            if (h.kind === "get") putUserPage(mm, h.page);
            else unpinUserPage(mm, h.page);
          } else {
            const vma = o.big ? big : anon;
            const g = o.kind === "get"
              ? yield* getUserPages(mm, vma, o.page, 1)
              : yield* pinUserPages(mm, vma, o.page, 1);
            assert.ok(g.ok);
            held.push({ kind: o.kind, page: g.value[0]! });
          }
          for (const h of heads) {
            const mine = held.filter((x) => mm.mem.compoundHead(x.page) === h);
            const pins = mine.filter((x) => x.kind === "pin").length;
            const gets = mine.length - pins;
            const large = mm.mem.order[h]! > 0;
            assert.equal(
              folioRefCount(mm, h),
              base.get(h)! + gets + (large ? pins : pins * GUP_PIN_COUNTING_BIAS),
            );
            assert.equal(folioPincount(mm, h), large ? pins : 0);
            assert.equal(folioMaybeDmaPinned(mm, h), pins > 0);
          }
        }
        for (const h of held) {
          h.kind === "get" ? putUserPage(mm, h.page) : unpinUserPage(mm, h.page);
        }
        for (const h of heads) assert.equal(folioRefCount(mm, h), base.get(h));
      });
      assert.equal(r.reason, "done");
      assert.deepEqual(r.violations, []);
    }),
    { numRuns: 60 },
  );
});
