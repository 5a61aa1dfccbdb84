import assert from "node:assert/strict";
import { Rng, Zipf, zipfPmf } from "../../../mod.ts";
import { testRng } from "./_rng.ts";

/** Pearson chi-square of `samples` draws against the exact pmf. */
function chiSquare(n: number, alpha: number, samples: number, seed: number): number {
  const z = new Zipf(n, alpha, testRng(seed));
  const counts = new Float64Array(n);
  for (let i = 0; i < samples; i++) counts[z.sample() - 1]!++;
  const p = zipfPmf(n, alpha);
  let chi = 0;
  for (let k = 0; k < n; k++) {
    const e = p[k]! * samples;
    chi += (counts[k]! - e) ** 2 / e;
  }
  return chi;
}

Deno.test("Zipf rejection-inversion matches the exact pmf", async (t) => {
  // 49 degrees of freedom: the 99.9th percentile of chi-square(49) is about 85.4.
  for (const alpha of [0, 0.5, 0.99, 1.0, 1.01, 1.5, 3]) {
    await t.step(`alpha ${alpha}, n 50`, () => {
      const chi = chiSquare(50, alpha, 200_000, 12345);
      assert.ok(chi < 85.4, `chi-square ${chi.toFixed(1)} too large for alpha ${alpha}`);
    });
  }
  await t.step("alpha 1.0 over 1 M objects: top ranks get 1/(k H_n)", () => {
    const n = 1_000_000, samples = 400_000;
    const z = new Zipf(n, 1.0, testRng(7));
    let rank1 = 0, top10 = 0;
    for (let i = 0; i < samples; i++) {
      const k = z.sample();
      assert.ok(k >= 1 && k <= n);
      if (k === 1) rank1++;
      if (k <= 10) top10++;
    }
    const hn = Math.log(n) + 0.5772156649 + 1 / (2 * n);
    const h10 = 2.9289682539682538;
    const tol = (p: number) => 4 * Math.sqrt(p * (1 - p) / samples);
    assert.ok(Math.abs(rank1 / samples - 1 / hn) < tol(1 / hn));
    assert.ok(Math.abs(top10 / samples - h10 / hn) < tol(h10 / hn));
  });
});

Deno.test("Zipf is deterministic for a seed and takes the engine's Rng", () => {
  const draw = (seed: number) => {
    const z = new Zipf(1000, 1.0, new Rng(seed));
    return Array.from({ length: 100 }, () => z.sampleId());
  };
  assert.deepEqual(draw(3), draw(3));
  assert.notDeepEqual(draw(3), draw(4));
  assert.ok(draw(5).every((id) => id >= 0 && id < 1000));
});

Deno.test("Zipf rejects bad parameters and handles n = 1", () => {
  assert.throws(() => new Zipf(0, 1, testRng(1)), /n must be >= 1, got 0/);
  assert.throws(() => new Zipf(10, -1, testRng(1)), /alpha must be >= 0, got -1/);
  const z = new Zipf(1, 1, testRng(1));
  for (let i = 0; i < 100; i++) assert.equal(z.sample(), 1);
});
