import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  Engine,
  folioAlloc,
  FuseConn,
  type FuseReq,
  FuseServerConfig,
  type FuseServerConfigInput,
  Mm,
  TaskFlag,
} from "../../../mod.ts";

const fixed = (ns: number) => ({ kind: "fixed" as const, ns });

function world(cfg: FuseServerConfigInput = {}, seed = 1) {
  const env = new Engine({ seed, trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const conn = new FuseConn(mm, cfg);
  return { env, mm, conn };
}

Deno.test("FuseServerConfig: the kernel's connection defaults; errors name the field", () => {
  const c = FuseServerConfig.parse({});
  assert.deepEqual(
    [c.threads, c.maxBackground, c.congestionThreshold, c.maxPagesPerReq, c.memcg],
    [1, 12, 9, 32, "none"], // FUSE_DEFAULT_MAX_BACKGROUND, 3/4 of it, FUSE_MAX_PAGES_PER_REQ
  );
  for (
    const [input, field] of [[{ threads: 0 }, "threads"], [{ memcg: "v3" }, "memcg"], [{
      latency: { kind: "fixed", ns: -1 },
    }, "latency"]] as const
  ) {
    const r = FuseServerConfig.safeParse(input);
    assert.equal(r.success, false);
    if (!r.success) assert.equal(r.error.issues[0]!.path[0], field);
  }
});

Deno.test("FuseConn server threads", () => {
  const { env, conn } = world({ threads: 3 });
  assert.equal(conn.serverThreads.length, 3);
  assert.ok(conn.serverThreads.every((t) => t.daemon && t.hasFlag(TaskFlag.USER_SERVER)));
  const r = env.run();
  assert.equal(r.reason, "done", "idle server threads do not keep a run alive");
  assert.equal(r.waits, null, "threads waiting in read(/dev/fuse) are not blocked waits");
});

Deno.test("FuseConn request lifecycle: INIT → PENDING → SENT → FINISHED", () => {
  const { env, conn } = world({ latency: fixed(400) });
  const states: string[] = [];
  let req: FuseReq | null = null;
  env.spawn("stat", function* () {
    req = conn.newRequest("GETATTR", 7, 0);
    states.push(req.state);
    const err = yield* conn.sendSync(req);
    states.push(`${req.state} ${err}`);
  });
  env.spawn("observer", function* (e) {
    states.push(req!.state);
    yield e.sleep(100);
    states.push(req!.state);
  });
  env.run();
  assert.deepEqual(states, ["INIT", "PENDING", "SENT", "FINISHED 0"]);
  assert.deepEqual(req!.times, { createdNs: 0, queuedNs: 0, repliedNs: 400 });
  assert.deepEqual(env.trace!.kinds((e) => e.kind.startsWith("fuse_request")), [
    "fuse_request_send",
    "fuse_request_read",
    "fuse_request_end",
  ]);
  assert.equal(req!.describe(), "FUSE_GETATTR #1 (ino 7, index 0+0)");
});

Deno.test("FuseConn handlers and replies", async (t) => {
  await t.step(
    "a WRITE's data is copied from its pages when the server reads it, not when queued",
    () => {
      const { env, mm, conn } = world({ latency: fixed(100) });
      const tmp = folioAlloc(mm, 0);
      mm.mem.data[tmp] = 1;
      env.spawn("writeback", function* (e) {
        conn.queueRequest(conn.newRequest("GETATTR", 1, 0)); // keeps the only thread busy
        const w = conn.newRequest("WRITE", 1, 5);
        w.tempPages.push(tmp);
        w.tags.push(mm.mem.data[tmp]!);
        conn.queueRequest(w);
        mm.mem.data[tmp] = 2; // changed while still pending
        yield* w.done.wait(e);
      });
      env.run();
      assert.equal(conn.storageOf(1).get(5), 2);
      assert.deepEqual(conn.applied, [[1, 5, 2]]);
    },
  );
  await t.step("a handler replaces the default, runs in the server thread, sets the error", () => {
    const { env, conn } = world({ latency: fixed(10) });
    let ranIn = "";
    conn.handlers.set("WRITE", function* (req, server) {
      ranIn = server.name;
      req.error = -5;
    });
    let err = 0;
    env.spawn("w", function* () {
      const r = conn.newRequest("WRITE", 1, 0);
      r.tags.push(3);
      err = yield* conn.sendSync(r);
    });
    env.run();
    assert.deepEqual([err, ranIn, conn.storageOf(1).size], [-5, "fuse-server-0", 0]);
  });
  await t.step("req.end runs at the reply, before synchronous waiters wake", () => {
    const { env, conn } = world({ latency: fixed(10) });
    const log: string[] = [];
    env.spawn("w", function* () {
      const r = conn.newRequest("FSYNC", 1, 0);
      r.end = function* () {
        log.push("end");
      };
      yield* conn.sendSync(r);
      log.push("woken");
    });
    env.run();
    assert.deepEqual(log, ["end", "woken"]);
  });
});

Deno.test("FuseConn background accounting: congestion at the threshold", () => {
  const { env, conn } = world({ latency: fixed(10), maxBackground: 4, congestionThreshold: 3 });
  const seen: boolean[] = [];
  env.spawn("wb", function* () {
    for (let i = 0; i < 4; i++) {
      seen.push(conn.congested);
      conn.sendBackground(conn.newRequest("WRITE", 1, i));
    }
    seen.push(conn.congested);
    yield env.sleep(1000); // the server threads are daemons: keep the run alive for the replies
  });
  env.run();
  assert.deepEqual(seen, [false, false, false, true, true]);
  assert.equal(conn.congested, false);
});

Deno.test("FuseConn memcg: a charge reclaim cannot satisfy ends in mem_cgroup_oom, the request still replied", () => {
  const { env, mm, conn } = world({ latency: fixed(10), allocPagesPerRequest: 1, memcg: "v2" });
  env.spawn("client", function* () {
    yield* conn.sendSync(conn.newRequest("GETATTR", 1, 0));
  });
  assert.equal(env.run().reason, "done");
  const kinds = env.trace!.kinds((e) => e.kind.startsWith("mem_cgroup"));
  assert.deepEqual(kinds, ["mem_cgroup_charge", "mem_cgroup_oom"], "nothing to reclaim");
  assert.equal(conn.stats.replied.GETATTR, 1);
  assert.equal(mm.vmstat.get("pgalloc"), 0, "the failed charge allocated nothing");
});

Deno.test("FuseConn property: every request replied once, background never above max_background", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.record({ bg: fc.boolean(), at: fc.nat(2000) }), { minLength: 1, maxLength: 30 }),
      fc.nat(),
      (threads, maxBackground, reqs, seed) => {
        const { env, conn } = world({
          threads,
          maxBackground,
          congestionThreshold: maxBackground,
          latency: { kind: "exponential", meanNs: 500 },
        }, seed);
        let peak = 0;
        env.onStep(() => void (peak = Math.max(peak, conn.activeBackground)));
        const ends = new Map<number, number>();
        reqs.forEach((q, i) => {
          env.spawn(`client${i}`, function* (e) {
            yield e.sleep(q.at);
            const r = conn.newRequest(q.bg ? "WRITE" : "GETATTR", 1, i);
            r.end = function* (req) {
              ends.set(req.unique, (ends.get(req.unique) ?? 0) + 1);
            };
            if (q.bg) {
              conn.sendBackground(r);
              yield* r.done.wait(e);
            } else yield* conn.sendSync(r);
            assert.equal(r.state, "FINISHED");
          });
        });
        assert.equal(env.run().reason, "done");
        assert.equal(ends.size, reqs.length);
        assert.ok([...ends.values()].every((n) => n === 1));
        assert.ok(peak <= maxBackground, `${peak} active background > ${maxBackground}`);
        assert.deepEqual([conn.numBackground, conn.activeBackground, conn.pending.length], [
          0,
          0,
          0,
        ]);
        assert.deepEqual(conn.stats.sent, conn.stats.replied);
      },
    ),
    { numRuns: 60 },
  );
});
