import assert from "node:assert/strict";
import { claims } from "../../lib/claims/thread003.ts";
import { allClaims } from "../../lib/claims/all.ts";
import { runClaim } from "../../lib/claims/registry.ts";
import { c31Evidence, c33Evidence } from "../../lib/claims/thread003.ts";
import { thread003Eras, thread003RefCost } from "../../lib/claims/thread003_eras.ts";
import { raceSwimLanes } from "../../lib/claims/thread003_figures.ts";

const claim = (id: string) => claims.find((c) => c.id === id)!;

Deno.test("thread 003 claims are registered", () => {
  const r = allClaims();
  assert.deepEqual(r.list("003").map((c) => c.id), ["C3.1", "C3.2", "C3.3", "C3.4"]);
});

Deno.test("C3.1 Hugh's reuse race: BUG_ON without the reference, never with it + the loop", async (t) => {
  const r = await runClaim(claim("C3.1"), { seed: 1, quick: true });
  assert.equal(r.verdict, "Sometimes → Never");
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures["frame freed in δ (no ref)"], "Sometimes");
  assert.equal(r.figures["frame freed in δ (ref)"], "Never");
  assert.equal(r.figures["ref+while per 1e6 (max)"], 0);
  assert.ok((r.figures["no ref+if per 1e6 at δ=10µs"] as number) > 1000);
  await t.step(
    "the counterexample: freed and reused inside the window, then the stale wake",
    () => {
      const cx = c31Evidence({ seed: 1, size: "quick" }).explorations["no ref + if"]!
        .counterexample!;
      assert.equal(cx.violations[0]!.name, "BUG_ON(PageWriteback)");
      const kinds = cx.trace.kinds((e) =>
        ["folio_end_writeback", "mm_page_free", "mm_page_alloc", "folio_wake_stale"].includes(
          e.kind,
        )
      );
      const i = kinds.indexOf("folio_end_writeback");
      assert.deepEqual(kinds.slice(i, i + 4), [
        "folio_end_writeback",
        "mm_page_free",
        "mm_page_alloc",
        "folio_wake_stale",
      ]);
      assert.ok(raceSwimLanes(cx).svg.includes("<rect"));
    },
  );
  await t.step("stress: the rate grows with δ without the reference", () => {
    const pts = c31Evidence({ seed: 1, size: "quick" }).points.filter((p) =>
      p.variant === "no ref + while"
    );
    for (let i = 1; i < pts.length; i++) {
      assert.ok(pts[i]!.violationsPerMillion > pts[i - 1]!.violationsPerMillion);
    }
  });
});

Deno.test("C3.2 restart in δ: each fix alone leaves a non-zero rate", async () => {
  const r = await runClaim(claim("C3.2"), { seed: 1, quick: true });
  assert.equal(r.verdict, "ref + if: Sometimes; ref + while: Never; each fix alone > 0");
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures.restartedInDelay, "Sometimes");
  assert.ok((r.figures["ref only per 1e6 (max)"] as number) > 0);
  assert.ok((r.figures["loop only per 1e6 (max)"] as number) > 0);
  assert.equal(r.figures["both per 1e6 (max)"], 0);
});

Deno.test("C3.3 PG_private_2: use-after-free only without the reference", async (t) => {
  const r = await runClaim(claim("C3.3"), { seed: 1, quick: true });
  assert.equal(r.verdict, "use-after-free — no ref: Sometimes; ref: Never");
  assert.equal(r.agrees, true, r.detail);
  assert.equal(r.figures["ref UAF per 1e6 (max)"], 0);
  assert.equal(r.figures["ref+while violations per 1e6"], 0);
  assert.ok((r.figures["no ref, waits skipped: UAF per 1e6"] as number) > 100_000);
  assert.equal(r.figures["extra refcount ops per cache write"], 2);
  await t.step("finding: with the reference but the waits skipped, waits are lost", () => {
    assert.ok((r.figures["ref, waits skipped: lost waits per 1e6"] as number) > 0);
  });
  await t.step("every design without the reference reaches a use-after-free", () => {
    const ex = c33Evidence({ seed: 1, size: "quick" }).explorations;
    assert.equal(ex["no ref + if"]!.verdicts["violation:use-after-free"], "Sometimes");
    assert.equal(ex["no ref + while"]!.verdicts["violation:use-after-free"], "Sometimes");
    assert.equal(
      ex["no ref + while, waits skipped"]!.verdicts["violation:use-after-free"],
      "Always",
    );
    assert.equal(
      ex["no ref + if"]!.verdicts["violation:VM_BUG_ON_FOLIO(folio_test_private_2)"],
      "Sometimes",
    );
    for (const l of ["ref + if", "ref + while", "ref + while, waits skipped"]) {
      assert.equal(ex[l]!.verdicts["violation:use-after-free"] ?? "Never", "Never", l);
    }
  });
});

Deno.test("C3.4 migration during a cache write: -EAGAIN now, lost wait when counted", async () => {
  const r = await runClaim(claim("C3.4"), { seed: 1, quick: true });
  assert.equal(
    r.verdict,
    "current rule: -EAGAIN Always; counted: migrated Always, lost wait Always",
  );
  assert.equal(r.agrees, true, r.detail);
  assert.ok((r.figures["EAGAIN rate at longest write"] as number) > 0.95);
  assert.ok((r.figures["EAGAIN rate at shortest write"] as number) < 0.2);
  assert.ok((r.figures["lost waits per attempt (counted, longest)"] as number) > 0.5);
});

Deno.test("thread 003 eras side by side and the refcount cost", () => {
  const rows = thread003Eras({ seed: 1, size: "quick" });
  const get = (scenario: string, era: string, metric: string) =>
    rows.find((r) => r.scenario === scenario && r.era === era && r.metric === metric)!
      .perMillion;
  assert.ok(get("PG_writeback", "5.9", "violations") > 0);
  assert.ok(get("PG_writeback", "5.10", "violations") > 0);
  assert.equal(get("PG_writeback", "5.11", "violations"), 0);
  assert.equal(get("PG_writeback", "6.12", "violations"), 0);
  assert.ok(get("PG_private_2", "Feb 2021 posting", "violations + use-after-free") > 0);
  assert.equal(get("PG_private_2", "6.12", "violations + use-after-free"), 0);
  assert.ok(get("PG_private_2", "6.10 [U]", "lost waits") > 0);
  assert.equal(get("migration", "5.15", "-EAGAIN per 10⁶ attempts"), 0);
  assert.ok(get("migration", "6.12", "-EAGAIN per 10⁶ attempts") > 0);
  assert.deepEqual(thread003RefCost().map((r) => r.extraRefOpsPerIo), [0, 2, 0, 2]);
});
