import assert from "node:assert/strict";
import { type BitOps, Engine, type Task, WaitTable } from "../../../mod.ts";

const LOCKED = 0, WB = 1, WAITERS = 7;

/** Flag words per object and the BitOps the table needs. */
function world(n = 64, bits = 8) {
  const flags = new Uint32Array(n);
  const test = (o: number, b: number) => ((flags[o]! >> b) & 1) === 1;
  const set = (o: number, b: number) => void (flags[o]! |= 1 << b);
  const clear = (o: number, b: number) => void (flags[o]! &= ~(1 << b));
  const ops: BitOps = {
    testBit: test,
    testAndSetBit: (o, b) => {
      const old = test(o, b);
      set(o, b);
      return old;
    },
    setWaiters: (o) => set(o, WAITERS),
    clearWaiters: (o) => clear(o, WAITERS),
  };
  const table = new WaitTable("folio_wait_table", ops, bits);
  return { flags, test, set, clear, table };
}

/** Two different objects that hash to the same bucket. */
function collidingPair(table: WaitTable, n: number): [number, number] {
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) if (table.bucket(a) === table.bucket(b)) return [a, b];
  }
  throw new Error("no colliding pair");
}

/** A waiter task for (obj, bit); records when it returns. */
function waiter(
  e: Engine,
  table: WaitTable,
  name: string,
  obj: number,
  bit: number,
  behavior: "SHARED" | "EXCLUSIVE" | "DROP",
  log: string[],
): Task {
  return e.spawn(name, function* (env) {
    const slept = yield* table.waitBit(env, obj, bit, behavior);
    log.push(`${name} ${slept ? "slept" : "no-sleep"}`);
  });
}

Deno.test("WaitTable.bucket hashes objects into 2^bits shared buckets", () => {
  const { table } = world(64, 2);
  assert.equal(table.buckets.length, 4);
  const seen = new Set<unknown>();
  for (let o = 0; o < 64; o++) {
    assert.equal(table.bucket(o), table.bucket(o), "stable");
    seen.add(table.bucket(o));
  }
  assert.ok(seen.size > 1 && seen.size <= 4);
});

Deno.test("WaitTable.waitBit as folio_wait_bit_common", async (t) => {
  await t.step("a clear bit returns at once without sleeping, but sets PG_waiters", () => {
    const { table, test } = world();
    const e = new Engine({ trace: true });
    const log: string[] = [];
    waiter(e, table, "w", 3, WB, "SHARED", log);
    e.run();
    assert.deepEqual(log, ["w no-sleep"]);
    assert.equal(test(3, WAITERS), true);
    assert.deepEqual(e.trace!.kinds((ev) => ev.kind.startsWith("folio_")), []);
  });
  await t.step("EXCLUSIVE on a clear bit takes it", () => {
    const { table, test } = world();
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "locker", 3, LOCKED, "EXCLUSIVE", log);
    e.run();
    assert.deepEqual(log, ["locker no-sleep"]);
    assert.equal(test(3, LOCKED), true);
  });
  await t.step("SHARED and DROP return after the first wake without re-checking the bit", () => {
    for (const behavior of ["SHARED", "DROP"] as const) {
      const { table, set, test } = world();
      set(3, WB);
      const e = new Engine({ trace: true });
      const log: string[] = [];
      let sawSet = false;
      e.spawn("w", function* (env) {
        yield* table.waitBit(env, 3, WB, behavior);
        sawSet = test(3, WB);
        log.push("returned");
      });
      e.spawn("waker", function* (env) {
        yield env.sleep(5);
        table.wakeBit(3, WB); // PG_writeback still set: a spurious wake
      });
      e.run();
      assert.deepEqual(log, ["returned"]);
      assert.equal(sawSet, true);
      assert.equal(table.stats.spurious, 1);
      assert.deepEqual(e.trace!.kinds((ev) => ev.kind.startsWith("folio_")), [
        "folio_wait_bit",
        "folio_wake_bit_spurious",
      ]);
    }
  });
});

Deno.test("WaitTable.wakeBit clears PG_waiters as folio_wake_bit does", async (t) => {
  await t.step("empty bucket: cleared", () => {
    const { table, set, test } = world();
    set(5, WAITERS);
    assert.equal(table.wakeBit(5, WB), 0);
    assert.equal(test(5, WAITERS), false);
  });
  await t.step("only another folio's waiter in the bucket (no page match): cleared", () => {
    const { table, set, test } = world();
    const [a, b] = collidingPair(table, 64);
    set(b, WB);
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "b-waiter", b, WB, "SHARED", log);
    e.run();
    set(a, WAITERS);
    assert.equal(table.wakeBit(a, WB), 0);
    assert.equal(test(a, WAITERS), false);
    assert.equal(test(b, WAITERS), true, "the other folio's PG_waiters is not touched");
    assert.equal(table.stats.keyMismatches, 1);
    assert.equal(table.waitersOf(b), 1);
  });
  await t.step("own waiters woken, another folio still waits in the bucket: left set", () => {
    // The kernel's "rare case" (comment in folio_wake_bit): the queue is still active and the
    // page matched, so PG_waiters stays set; the next waker clears it.
    const { table, set, clear, test } = world();
    const [a, b] = collidingPair(table, 64);
    set(a, WB);
    set(b, WB);
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "a-waiter", a, WB, "SHARED", log);
    waiter(e, table, "b-waiter", b, WB, "SHARED", log);
    e.spawn("end_io(a)", function* (env) {
      yield env.sleep(1);
      clear(a, WB);
      assert.equal(table.wakeBit(a, WB), 1);
    });
    e.run();
    assert.deepEqual(log, ["a-waiter slept"]);
    assert.equal(table.waitersOf(a), 0);
    assert.equal(test(a, WAITERS), true, "left set although no waiter of a is left");
    // The next wake of a finds no page match and clears it.
    table.wakeBit(a, WB);
    assert.equal(test(a, WAITERS), false);
  });
  await t.step("a waiter of the same folio for another bit keeps PG_waiters set", () => {
    const { table, set, clear, test } = world();
    set(4, WB);
    set(4, LOCKED);
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "wb-waiter", 4, WB, "SHARED", log);
    waiter(e, table, "lock-waiter", 4, LOCKED, "SHARED", log);
    e.spawn("end_io", function* (env) {
      yield env.sleep(1);
      clear(4, WB);
      table.wakeBit(4, WB);
    });
    e.run();
    assert.deepEqual(log, ["wb-waiter slept"]);
    assert.equal(table.waitersOf(4), 1);
    assert.equal(test(4, WAITERS), true);
  });
  await t.step("all waiters of the only folio in the bucket woken: cleared", () => {
    const { table, set, clear, test } = world();
    set(4, WB);
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "w1", 4, WB, "SHARED", log);
    waiter(e, table, "w2", 4, WB, "SHARED", log);
    e.spawn("end_io", function* (env) {
      yield env.sleep(1);
      clear(4, WB);
      assert.equal(table.wakeBit(4, WB), 2);
    });
    e.run();
    assert.deepEqual(log, ["w1 slept", "w2 slept"]);
    assert.equal(test(4, WAITERS), false);
    assert.equal(table.stats.spurious, 0);
  });
});

Deno.test("WaitTable EXCLUSIVE waits (folio_lock)", async (t) => {
  await t.step("woken, but someone took the bit first: waits again, then gets it", () => {
    const { table, set, clear, test } = world();
    set(9, LOCKED);
    const e = new Engine({ trace: true });
    const log: string[] = [];
    e.spawn("locker", function* (env) {
      yield* table.waitBit(env, 9, LOCKED, "EXCLUSIVE");
      log.push(`locker holds the lock at t=${env.nowNs}`);
    });
    e.spawn("unlock+thief", function* (env) {
      yield env.sleep(10);
      clear(9, LOCKED); // folio_unlock…
      table.wakeBit(9, LOCKED);
      assert.equal(table.stats.woken, 1);
      set(9, LOCKED); // …and a trylock takes it before the woken locker runs
      log.push("thief holds the lock");
      yield env.sleep(10);
      clear(9, LOCKED);
      table.wakeBit(9, LOCKED);
    });
    e.run();
    assert.deepEqual(log, ["thief holds the lock", "locker holds the lock at t=20"]);
    assert.equal(test(9, LOCKED), true);
    assert.deepEqual(e.trace!.kinds((ev) => ev.kind.startsWith("folio_")), [
      "folio_wait_bit",
      "folio_wait_bit",
    ]);
  });
  await t.step("an exclusive waiter is not woken while the bit is set, and stops the walk", () => {
    const { table, set, clear, test } = world();
    set(9, LOCKED);
    const e = new Engine();
    const log: string[] = [];
    waiter(e, table, "locker", 9, LOCKED, "EXCLUSIVE", log);
    waiter(e, table, "waiter", 9, LOCKED, "SHARED", log);
    e.spawn("waker", function* (env) {
      yield env.sleep(1);
      assert.equal(table.wakeBit(9, LOCKED), 0, "bit still set: -1 from the first waiter");
      assert.equal(test(9, WAITERS), true);
      yield env.sleep(1);
      clear(9, LOCKED);
      assert.equal(table.wakeBit(9, LOCKED), 1, "one exclusive wake ends the walk");
      yield env.sleep(1);
      clear(9, LOCKED);
      assert.equal(table.wakeBit(9, LOCKED), 1, "the shared waiter behind it, at the unlock");
    });
    e.run();
    assert.deepEqual(log, ["locker slept", "waiter slept"]);
    assert.equal(table.waitersOf(9), 0);
  });
  await t.step(
    "page waiters, shared or exclusive, queue at the bucket's tail in arrival order",
    () => {
      const { table, set } = world();
      set(9, WB);
      set(9, LOCKED);
      const e = new Engine();
      const log: string[] = [];
      waiter(e, table, "s1", 9, WB, "SHARED", log);
      waiter(e, table, "locker", 9, LOCKED, "EXCLUSIVE", log);
      waiter(e, table, "s2", 9, WB, "SHARED", log);
      e.run();
      assert.deepEqual(table.bucket(9).waiters.map((w) => w.task.name), ["s1", "locker", "s2"]);
    },
  );
});

Deno.test("WaitTable: a wake for a frame's old use reaches a waiter of its new use", () => {
  // The frame, not the folio, is the key (073861ed77b6): stats count the spurious wake.
  const { table, set, clear } = world();
  set(2, WB);
  const e = new Engine();
  const log: string[] = [];
  waiter(e, table, "new-use waiter", 2, WB, "SHARED", log);
  e.spawn("old end_io", function* (env) {
    yield env.sleep(1);
    clear(2, WB);
    set(2, WB); // the frame is under writeback again for its new use
    table.wakeBit(2, WB);
  });
  e.run();
  assert.deepEqual(log, ["new-use waiter slept"]);
  assert.deepEqual(
    { ...table.stats },
    { wakeCalls: 1, woken: 1, spurious: 1, keyMismatches: 0 },
  );
});
