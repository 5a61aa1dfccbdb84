import assert from "node:assert/strict";
import {
  allClaims,
  type Claim,
  ClaimRegistry,
  claimTable,
  claimToJson,
  DISAGREES,
  runClaim,
  runClaims,
  summarizeClaims,
} from "../../mod.ts";

function demo(id: string, over: Partial<Claim> = {}): Claim {
  return {
    id,
    thread: "009",
    by: "Example Author",
    statement: `statement of ${id}`,
    assumptions: ["one zone"],
    era: "2025 (v6.13)",
    expected: "Sometimes",
    run: ({ seed }) => {
      const hits = seed % 3;
      const verdict = hits > 0 ? "Sometimes" : "Never";
      return { verdict, figures: { hits, runs: 10 }, agrees: verdict === "Sometimes" };
    },
    ...over,
  };
}

Deno.test("ClaimRegistry rejects duplicate ids and invalid metadata", async (t) => {
  await t.step("duplicate id names the id and both threads", () => {
    const registry = new ClaimRegistry().register(demo("C9.1"));
    assert.throws(
      () => registry.register(demo("C9.1", { thread: "010" })),
      /Cannot register claim C9\.1 \(thread 010\): id already registered by thread 009/,
    );
    assert.equal(registry.size, 1);
  });
  await t.step("zod errors name the field", () => {
    const registry = new ClaimRegistry();
    assert.throws(() => registry.register(demo("C9.1", { thread: "9" })), /thread: threads are/);
    assert.throws(() => registry.register(demo("one")), /Cannot register claim one: id:/);
    assert.throws(() => registry.register(demo("C9.1", { by: "" })), /by:/);
    const noRun = { ...demo("C9.2"), run: undefined } as unknown as Claim;
    assert.throws(() => registry.register(noRun), /run: run must be a function/);
    assert.equal(registry.size, 0);
  });
  await t.step("get, has, list, ids keep registration order", () => {
    const registry = new ClaimRegistry().registerAll([
      demo("C9.2"),
      demo("C9.1"),
      demo("C8.1", { thread: "008" }),
    ]);
    assert.deepEqual(registry.ids(), ["C9.2", "C9.1", "C8.1"]);
    assert.deepEqual(registry.list("008").map((c) => c.id), ["C8.1"]);
    assert.equal(registry.get("C9.1")?.by, "Example Author");
    assert.equal(registry.has("C7.7"), false);
  });
});

Deno.test("runClaims runs the selected claims with one seed", async (t) => {
  const registry = new ClaimRegistry().registerAll([demo("C9.1"), demo("C9.2")]);
  await t.step("every claim, in order, seed recorded", async () => {
    const results = await runClaims(registry, { seed: 4 });
    assert.deepEqual(results.map((r) => [r.id, r.seed, r.verdict]), [
      ["C9.1", 4, "Sometimes"],
      ["C9.2", 4, "Sometimes"],
    ]);
  });
  await t.step("a disagreement is a result, not an error", async () => {
    const [r] = await runClaims(registry, { seed: 3, ids: ["C9.2"] });
    assert.equal(r?.verdict, "Never");
    assert.equal(r?.agrees, false);
  });
  await t.step("unknown ids throw before anything runs", async () => {
    let ran = 0;
    const counting = new ClaimRegistry().register(demo("C9.1", {
      run: () => {
        ran++;
        return { verdict: "Sometimes", figures: {}, agrees: true };
      },
    }));
    await assert.rejects(
      runClaims(counting, { seed: 1, ids: ["C9.1", "C9.9"] }),
      /Cannot run claims C9\.9: not registered \(registered: C9\.1\)/,
    );
    assert.equal(ran, 0);
  });
  await t.step("invalid outcomes are rejected with the field named", async () => {
    const bad = demo("C9.3", {
      run: () => ({ verdict: "x", figures: { list: [1] as unknown as number }, agrees: true }),
    });
    await assert.rejects(runClaim(bad, { seed: 1 }), /C9\.3 returned an invalid outcome: figures/);
  });
  await t.step("progress gets one line per claim", async () => {
    const lines: string[] = [];
    await runClaims(registry, { seed: 1, progress: (m) => lines.push(m) });
    assert.deepEqual(lines, [
      "[1/2] C9.1 (thread 009, Example Author)",
      "[2/2] C9.2 (thread 009, Example Author)",
    ]);
  });
});

Deno.test("claimTable prints id, thread, by, verdict, expected, agrees, key figures", async () => {
  const registry = new ClaimRegistry().registerAll([demo("C9.1"), demo("C9.2")]);
  const results = await runClaims(registry, { seed: 3 });
  const text = claimTable(results).text;
  assert.deepEqual(text.split("\n"), [
    "id    thread  by              verdict  expected   agrees               key figures",
    "----  ------  --------------  -------  ---------  -------------------  ---------------",
    "C9.1  009     Example Author  Never    Sometimes  disagrees (finding)  hits=0, runs=10",
    "C9.2  009     Example Author  Never    Sometimes  disagrees (finding)  hits=0, runs=10",
  ]);
  assert.ok(claimTable(results).html.includes(`<td>${DISAGREES}</td>`));
  assert.equal(
    summarizeClaims(results).line,
    "2 claims: 0 agree, 2 disagree (findings, see table)",
  );
});

Deno.test("claimToJson has the documented shape and survives JSON", async () => {
  const registry = new ClaimRegistry().register(demo("C9.1", {
    run: () => ({ verdict: "Sometimes", figures: { hits: 2 }, agrees: true, detail: "replay" }),
  }));
  const [r] = await runClaims(registry, { seed: 11, quick: true });
  const json = JSON.parse(JSON.stringify(claimToJson(r!)));
  assert.deepEqual(json, {
    id: "C9.1",
    thread: "009",
    by: "Example Author",
    statement: "statement of C9.1",
    era: "2025 (v6.13)",
    verdict: "Sometimes",
    expected: "Sometimes",
    figures: { hits: 2 },
    seed: 11,
    agrees: true,
    quick: true,
    detail: "replay",
  });
});

Deno.test("allClaims builds a registry of unique, valid claims", () => {
  const registry = allClaims();
  assert.equal(new Set(registry.ids()).size, registry.size);
  for (const c of registry.list()) assert.match(c.id, /^C[0-4]\.\d+/);
});
