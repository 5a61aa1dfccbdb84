import assert from "node:assert/strict";
import { analyseWaits, Engine, Mutex, WaitQueue, type WaitTarget } from "../../../mod.ts";

/** `n` tasks in a lock ring: task i holds lock i and then wants lock i+1. */
function ring(e: Engine, n: number): Mutex[] {
  const locks = Array.from({ length: n }, (_, i) => new Mutex(`L${i}`));
  for (let i = 0; i < n; i++) {
    e.spawn(`t${i}`, function* (env) {
      yield* locks[i]!.lock(env);
      yield env.sleep(1);
      yield* locks[(i + 1) % n]!.lock(env);
    });
  }
  return locks;
}

Deno.test("analyseWaits finds wait-for cycles", async (t) => {
  await t.step("a three-lock ring is one cycle, printed task → lock → task … back", () => {
    const e = new Engine();
    ring(e, 3);
    const r = e.run();
    assert.equal(r.reason, "stuck");
    const w = r.waits!;
    assert.equal(w.kind, "cycle");
    assert.equal(w.cycles.length, 1, "the same ring found from each task is reported once");
    const c = w.cycles[0]!;
    assert.equal(c.length, 7);
    assert.equal(c[0], c.at(-1));
    assert.equal(c.join(" → "), "t0#0 → mutex L1 → t1#1 → mutex L2 → t2#2 → mutex L0 → t0#0");
    assert.deepEqual(w.blocked.map((b) => [b.task, b.waitsFor, b.heldBy]), [
      ["t0#0", "mutex L1", ["t1#1"]],
      ["t1#1", "mutex L2", ["t2#2"]],
      ["t2#2", "mutex L0", ["t0#0"]],
    ]);
    assert.match(w.text, /^deadlock: 1 wait-for cycle\(s\)\n {2}cycle: t0#0 → /);
    assert.match(w.text, /t2#2 waits for mutex L0 held by t0#0/);
  });
  await t.step("a task blocked behind the ring is listed but adds no cycle", () => {
    const e = new Engine();
    const locks = ring(e, 2);
    e.spawn("bystander", function* (env) {
      yield env.sleep(2);
      yield* locks[0]!.lock(env);
    });
    const w = e.run().waits!;
    assert.equal(w.kind, "cycle");
    assert.equal(w.cycles.length, 1);
    assert.deepEqual(w.blocked.map((b) => b.task), ["t0#0", "t1#1", "bystander#2"]);
  });
  await t.step("a cycle through a non-task node (a request held by a server thread)", () => {
    const e = new Engine();
    const folioLock = new Mutex("folio lock");
    const request: WaitTarget = { describe: () => "FUSE_READ #5", holders: () => [server] };
    const reply = new WaitQueue("reply");
    reply.owners = () => [request];
    e.spawn("reader", function* (env, self) {
      yield* folioLock.lock(env);
      yield env.waitOn(reply.prepare(self, false));
    });
    const server = e.spawn("server", function* (env) {
      yield env.sleep(1);
      yield* folioLock.lock(env); // the server needs the folio the reader holds locked
    });
    const w = e.run().waits!;
    assert.equal(w.kind, "cycle");
    assert.deepEqual(w.cycles[0], [
      "reader#0",
      "reply",
      "FUSE_READ #5",
      "server#1",
      "mutex folio lock",
      "reader#0",
    ]);
  });
});

Deno.test("analyseWaits tells hung waits and plain blocked tasks from cycles", async (t) => {
  await t.step("a chain ending in a hung wait is `hung`", () => {
    const e = new Engine();
    const m = new Mutex("inode lock");
    e.spawn("server", function* (env) {
      yield* m.lock(env);
      yield env.hang("reply that never comes");
    });
    e.spawn("client", function* (env) {
      yield env.sleep(1);
      yield* m.lock(env);
    });
    const w = e.run().waits!;
    assert.equal(w.kind, "hung");
    assert.deepEqual(w.cycles, []);
    // One chain per blocked task, each ending in the hung wait.
    assert.deepEqual(w.hung, [
      ["server#0", "reply that never comes"],
      ["client#1", "mutex inode lock", "server#0", "reply that never comes"],
    ]);
    assert.match(w.text, /^hung: blocked on waits that nothing will satisfy/);
  });
  await t.step("a cycle outranks a hung wait in the same run", () => {
    const e = new Engine();
    ring(e, 2);
    e.spawn("hanger", function* (env) {
      yield env.hang("never");
    });
    const w = e.run().waits!;
    assert.equal(w.kind, "cycle");
    assert.equal(w.hung.length, 1);
  });
  await t.step("no known holder and nothing hung: `blocked`", () => {
    const e = new Engine();
    const q = new WaitQueue("someone's event");
    e.spawn("waiter", function* (env, self) {
      yield env.waitOn(q.prepare(self, false));
    });
    const w = e.run().waits!;
    assert.equal(w.kind, "blocked");
    assert.deepEqual(w.blocked, [{ task: "waiter#0", waitsFor: "someone's event", heldBy: [] }]);
    assert.match(
      w.text,
      /^blocked tasks \(no cycle, no hung wait found\)\n {2}waiter#0 waits for someone's event$/,
    );
  });
  await t.step("no blocked tasks: an empty `blocked` report", () => {
    const w = analyseWaits([]);
    assert.deepEqual([w.kind, w.blocked, w.cycles, w.hung], ["blocked", [], [], []]);
  });
});
