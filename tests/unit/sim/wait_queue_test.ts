import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine, Mutex, type Task, type Waiter, WaitQueue, wakeWaiter } from "../../../mod.ts";

/** `n` tasks that are never run: prepare() only needs their identity. */
function tasks(n: number): { engine: Engine; ts: Task[] } {
  const engine = new Engine();
  const ts: Task[] = [];
  for (let i = 0; i < n; i++) ts.push(engine.spawn(`t${i}`, function* () {}));
  return { engine, ts };
}

const names = (ws: readonly Waiter[]) => ws.map((w) => w.task.name);

Deno.test("WaitQueue.prepare adds non-exclusive waiters at the head, exclusive at the tail", async (t) => {
  await t.step("as prepare_to_wait / prepare_to_wait_exclusive in kernel/sched/wait.c", () => {
    const { ts } = tasks(5);
    const q = new WaitQueue("q");
    q.prepare(ts[0]!, false); // s
    q.prepare(ts[1]!, true); // x
    q.prepare(ts[2]!, false); // s
    q.prepare(ts[3]!, true); // x
    q.prepare(ts[4]!, false); // s
    assert.deepEqual(names(q.waiters), ["t4", "t2", "t0", "t1", "t3"]);
    assert.deepEqual(q.waiters.map((w) => w.exclusive), [false, false, false, true, true]);
    assert.ok(q.waiters.every((w) => w.queued && !w.woken));
    assert.equal(q.active, true);
  });
  await t.step("the key is stored on the waiter", () => {
    const { ts } = tasks(1);
    const q = new WaitQueue("q");
    const key = { pfn: 3 };
    assert.equal(q.prepare(ts[0]!, false, key).key, key);
    assert.equal(q.prepare(ts[0]!, false).key, null);
  });
});

Deno.test("WaitQueue.wakeUp walks from the head as __wake_up_common", async (t) => {
  await t.step("wakeUp(1) wakes every non-exclusive waiter and the first exclusive one", () => {
    const { ts } = tasks(4);
    const q = new WaitQueue("q");
    const x1 = q.prepare(ts[0]!, true);
    const s1 = q.prepare(ts[1]!, false);
    const x2 = q.prepare(ts[2]!, true);
    const s2 = q.prepare(ts[3]!, false);
    const order: string[] = [];
    q.wakeFunction = (w) => (order.push(w.task.name), 1);
    assert.equal(q.wakeUp(1), 3);
    assert.deepEqual(order, ["t3", "t1", "t0"], "head first: non-exclusive, then exclusive");
    assert.ok(s1.woken && s2.woken && x1.woken);
    assert.equal(x2.woken, false);
    assert.deepEqual(names(q.waiters), ["t2"], "autoremove: woken waiters are off the list");
    assert.equal(x2.queued, true);
    assert.equal(s1.queued, false);
  });
  await t.step("wakeUp(n) wakes n exclusive waiters in arrival order; wakeUp(0) wakes all", () => {
    const { ts } = tasks(4);
    const q = new WaitQueue("q");
    for (const t of ts) q.prepare(t, true);
    assert.equal(q.wakeUp(2), 2);
    assert.deepEqual(names(q.waiters), ["t2", "t3"]);
    assert.equal(q.wakeUp(0), 2);
    assert.equal(q.active, false);
  });
  await t.step("an empty queue wakes nobody", () => {
    assert.equal(new WaitQueue("q").wakeUp(0), 0);
  });
  await t.step("the value given to wakeUp is handed to each woken waiter", () => {
    const { ts } = tasks(2);
    const q = new WaitQueue("q");
    const a = q.prepare(ts[0]!, false), b = q.prepare(ts[1]!, false);
    q.wakeUp(1, null, "reply");
    assert.equal(a.value, "reply");
    assert.equal(b.value, "reply");
  });
});

Deno.test("WaitQueue wake function return codes: 1 wakes, 0 skips, -1 stops the walk", async (t) => {
  await t.step("0 leaves the waiter queued and does not count against nrExclusive", () => {
    const { ts } = tasks(3);
    const q = new WaitQueue("q");
    const ws = ts.map((t) => q.prepare(t, true, t.id));
    // Only odd keys match; the first exclusive waiter (key 0) is skipped.
    q.wakeFunction = (w, key) => (w.key === key || (w.key as number) % 2 === 1 ? 1 : 0);
    assert.equal(q.wakeUp(1, -1), 1);
    assert.deepEqual(ws.map((w) => w.woken), [false, true, false]);
    assert.deepEqual(names(q.waiters), ["t0", "t2"]);
  });
  await t.step("-1 stops: waiters after it are not even looked at", () => {
    const { ts } = tasks(4);
    const q = new WaitQueue("q");
    const ws = ts.map((t) => q.prepare(t, true));
    const seen: string[] = [];
    q.wakeFunction = (w) => {
      seen.push(w.task.name);
      return w.task.name === "t1" ? -1 : w.task.name === "t0" ? 0 : 1;
    };
    assert.equal(q.wakeUp(0), 0);
    assert.deepEqual(seen, ["t0", "t1"]);
    assert.ok(ws.every((w) => w.queued && !w.woken));
  });
  await t.step("the key given to wakeUp reaches the wake function", () => {
    const { ts } = tasks(1);
    const q = new WaitQueue("q");
    q.prepare(ts[0]!, false);
    let got: unknown = null;
    q.wakeFunction = (_w, key) => ((got = key), 0);
    q.wakeUp(1, "key");
    assert.equal(got, "key");
  });
});

Deno.test("WaitQueue.finish is finish_wait: removes a queued waiter, idempotent", async (t) => {
  await t.step("removes only that waiter, from any position", () => {
    const { ts } = tasks(3);
    const q = new WaitQueue("q");
    const ws = ts.map((t) => q.prepare(t, true));
    q.finish(ws[1]!);
    assert.deepEqual(names(q.waiters), ["t0", "t2"]);
    assert.equal(ws[1]!.queued, false);
    q.finish(ws[1]!);
    assert.deepEqual(names(q.waiters), ["t0", "t2"], "a second finish changes nothing");
    q.finish(ws[0]!);
    q.finish(ws[2]!);
    assert.equal(q.active, false);
  });
  await t.step("after a wake removed the waiter, finish is a no-op", () => {
    const { ts } = tasks(2);
    const q = new WaitQueue("q");
    const a = q.prepare(ts[0]!, true), b = q.prepare(ts[1]!, true);
    q.wakeUp(1);
    q.finish(a);
    assert.deepEqual(q.waiters, [b]);
    assert.equal(a.woken, true);
  });
});

Deno.test("wakeWaiter wakes once: the first value wins and the task resumes with it", () => {
  const e = new Engine();
  const q = new WaitQueue("reply");
  let w: Waiter | null = null;
  let got: unknown;
  e.spawn("waiter", function* (env, self) {
    w = q.prepare(self, false);
    got = yield env.waitOn(w);
  });
  e.spawn("waker", function* (env) {
    yield env.sleep(1);
    q.finish(w!);
    wakeWaiter(w!, "first");
    wakeWaiter(w!, "second");
  });
  const r = e.run();
  assert.equal(r.reason, "done");
  assert.equal(got, "first");
  assert.equal(w!.value, "first");
});

Deno.test("WaitQueue as a wait-for node", async (t) => {
  await t.step("target() uses describeWaiter, owners and hung", () => {
    const { ts } = tasks(2);
    const q = new WaitQueue("bucket");
    const w = q.prepare(ts[0]!, false, 7);
    assert.equal(q.target(w).describe(), "bucket");
    assert.deepEqual(q.target(w).holders!(), []);
    q.describeWaiter = (w) => `bit of ${w.key}`;
    q.owners = () => [ts[1]!];
    q.hung = true;
    const tg = q.target(w);
    assert.equal(tg.describe(), "bit of 7");
    assert.deepEqual(tg.holders!(), [ts[1]!]);
    assert.equal(tg.hung, true);
  });
  await t.step("a waiter on an idle queue is left out; who waits on its lock is not", () => {
    const e = new Engine();
    const work = new WaitQueue("work list");
    work.idle = true;
    const m = new Mutex("i_rwsem");
    e.spawn("worker", function* (env, self) {
      yield* m.lock(env);
      yield env.waitOn(work.prepare(self, true));
    });
    e.spawn("client", function* (env) {
      yield env.sleep(1);
      yield* m.lock(env);
    });
    const r = e.run();
    assert.equal(r.reason, "stuck");
    assert.deepEqual(r.waits!.blocked.map((b) => [b.task, b.heldBy]), [
      ["client#1", ["worker#0"]],
    ]);
    assert.equal(r.waits!.kind, "blocked");
  });
  await t.step("a run whose only blocked task waits on an idle queue has no wait report", () => {
    const e = new Engine();
    const work = new WaitQueue("work list");
    work.idle = true;
    e.spawn("worker", function* (env, self) {
      yield env.waitOn(work.prepare(self, true));
    });
    const r = e.run();
    assert.equal(r.reason, "stuck");
    assert.equal(r.waits, null);
  });
});

Deno.test("WaitQueue property: the list stays [non-exclusive newest first, exclusive oldest first]", () => {
  type Op = { op: "prep"; ex: boolean } | { op: "finish"; at: number } | { op: "wake"; n: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("prep" as const), ex: fc.boolean() }),
    fc.record({ op: fc.constant("finish" as const), at: fc.nat(20) }),
    fc.record({ op: fc.constant("wake" as const), n: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const { ts } = tasks(1);
      const q = new WaitQueue("q");
      // Reference: two lists, per the kernel's head/tail insertion.
      let shared: Waiter[] = [];
      let excl: Waiter[] = [];
      for (const o of ops) {
        if (o.op === "prep") {
          const w = q.prepare(ts[0]!, o.ex);
          if (o.ex) excl.push(w);
          else shared.unshift(w);
        } else if (o.op === "finish") {
          const w = q.waiters[o.at % Math.max(1, q.waiters.length)];
          if (!w) continue;
          q.finish(w);
          shared = shared.filter((x) => x !== w);
          excl = excl.filter((x) => x !== w);
        } else {
          const nEx = o.n === 0 ? excl.length : Math.min(o.n, excl.length);
          const expected = [...shared, ...excl.slice(0, nEx)];
          const woken = q.wakeUp(o.n);
          assert.equal(woken, expected.length);
          assert.ok(expected.every((w) => w.woken && !w.queued));
          shared = [];
          excl = excl.slice(nEx);
        }
        assert.deepEqual(q.waiters, [...shared, ...excl]);
        assert.ok(q.waiters.every((w) => w.queued && !w.woken));
      }
    }),
    { numRuns: 200 },
  );
});
