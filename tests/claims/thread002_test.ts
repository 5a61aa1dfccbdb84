import assert from "node:assert/strict";
import { claims } from "../../lib/claims/thread002.ts";
import { allClaims } from "../../lib/claims/all.ts";
import { runClaim } from "../../lib/claims/registry.ts";
import { exploreHmm } from "../../lib/claims/thread002_world.ts";
import { dioSequence } from "../../lib/claims/thread002_dio.ts";
import { runHmmCostWorkload } from "../../lib/claims/thread002_cost.ts";
import { replay } from "../../lib/sim/explore.ts";
import { emptyTally, hmmScenario } from "../../lib/claims/thread002_world.ts";

const claim = (id: string) => claims.find((c) => c.id === id)!;

Deno.test("thread 002 claims are registered", () => {
  assert.deepEqual(allClaims().list("002").map((c) => c.id), [
    "C2.1",
    "C2.2",
    "C2.3",
    "C2.4",
    "C2.5",
  ]);
});

Deno.test("C2.1 single writer and freshness under Jan Kara's protocol: Never", async () => {
  const r = await runClaim(claim("C2.1"), { seed: 1, quick: true });
  assert.equal(r.verdict, "Never");
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.staleReads, 0);
  assert.equal(r.figures.staleWritebacks, 0);
  assert.equal(r.figures.twoWriters, 0);
  assert.ok((r.figures.ops as number) > 1000);
});

Deno.test("C2.2 the write notification is necessary", async (t) => {
  const r = await runClaim(claim("C2.2"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.staleWithout, "Sometimes");
  assert.equal(r.figures.staleWith, 0);
  assert.equal(r.figures.mkwritePerEpisode, 1);
  assert.equal(r.figures.episodesWith0Mkwrite, 0);
  assert.equal(r.figures.episodesWith2PlusMkwrite, 0);
  assert.match(r.verdict, /^Sometimes without notification; 1\.00 mkwrite\/episode and 0 stale/);
  await t.step("a stale execution without the notification replays exactly", () => {
    const cfg = { variant: "no write notification", staleAsViolations: true } as const;
    const x = exploreHmm(cfg, { seed: 3, executions: 20 });
    const m = x.replay?.match(/seed: (\d+), schedule: "([^"]*)"/);
    assert.ok(m, "a failing execution was recorded");
    const setup = hmmScenario(cfg, emptyTally());
    const a = replay(setup, { seed: Number(m[1]), schedule: m[2]! });
    const b = replay(setup, { seed: Number(m[1]), schedule: m[2]! });
    assert.match(a.violations[0]!.name, /^hmm: (read|writeback|lost write|uptodate not latest)$/);
    assert.equal(a.trace!.toJsonl(), b.trace!.toJsonl());
  });
});

Deno.test("C2.3 no universal winner: each strategy cheapest somewhere", async (t) => {
  const r = await runClaim(claim("C2.3"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.verdict, "each strategy cheapest somewhere (at 64 KiB)");
  assert.ok((r.figures.migrateCells64K as number) > 0);
  assert.equal(r.figures.migrateCells4K, 0, "at 4 KiB bounce dominates migrate");
  await t.step("the counts come from the protocols: device reads share one copy under copy", () => {
    const copy = runHmmCostWorkload("copy", 0, 0, 4096, { ops: 100, seed: 1 });
    const migrate = runHmmCostWorkload("migrate", 0, 0, 4096, { ops: 100, seed: 1 });
    assert.equal(copy.copies, 1);
    assert.equal(migrate.copies, 1);
    const ping = (s: "copy" | "migrate" | "bounce") =>
      runHmmCostWorkload(s, 0.5, 1, 4096, { ops: 200, seed: 1 });
    assert.ok(ping("bounce").faults < ping("copy").faults, "bounce avoids faults on syscalls");
  });
});

Deno.test("C2.4 direct I/O through the invalidation pass", async (t) => {
  const r = await runClaim(claim("C2.4"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.fullDioReadFresh, true);
  assert.equal(r.figures.fullDioWriteSeen, true);
  assert.equal(r.figures.noHookDioReadFresh, false);
  assert.equal(r.figures.noInvalidationDioReadFresh, false);
  assert.equal(r.figures.copyFailures, 0);
  assert.ok((r.figures.migrateFailures as number) > 0);
  await t.step("migrate and bounce pass the sequential check too", () => {
    for (const s of ["migrate", "bounce"] as const) {
      const d = dioSequence(s, "full");
      assert.ok(d.dioReadFresh && d.dioWriteSeen, JSON.stringify(d));
    }
  });
});

Deno.test("C2.5 the illegal-state checker flags unintercepted generic paths", async () => {
  const r = await runClaim(claim("C2.5"), { seed: 1, quick: true });
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.interceptedFlagged, "Never");
  assert.equal(r.figures.spliceFlagged, "Sometimes");
  assert.equal(r.figures.genericWritebackFlagged, "Sometimes");
  assert.equal(r.figures.genericReadFolioFlagged, "Sometimes");
  assert.ok((r.figures.spliceEio as number) > 0);
});

Deno.test("thread 002 runs are deterministic per seed", async () => {
  const a = await runClaim(claim("C2.2"), { seed: 7, quick: true });
  const b = await runClaim(claim("C2.2"), { seed: 7, quick: true });
  assert.deepEqual(a.figures, b.figures);
});
