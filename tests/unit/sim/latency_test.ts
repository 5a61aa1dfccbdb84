import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Latency, latencyP99, Rng, sampleLatency } from "../../../mod.ts";

const DRAWS = 20_000;

function draws(l: Latency, seed = 7): number[] {
  const rng = new Rng(seed);
  const xs: number[] = [];
  for (let i = 0; i < DRAWS; i++) xs.push(sampleLatency(rng, l));
  return xs.sort((a, b) => a - b);
}

const quantile = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function near(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= rel * expected,
    `${what}: ${actual} not within ${rel * 100}% of ${expected}`,
  );
}

Deno.test("sampleLatency draws from the configured distribution", async (t) => {
  await t.step("fixed: every draw is ns (rounded to an integer)", () => {
    const xs = draws({ kind: "fixed", ns: 1234.4 });
    assert.ok(xs.every((x) => x === 1234));
    assert.equal(latencyP99({ kind: "fixed", ns: 1234 }), 1234);
  });
  await t.step("uniform: within [min, max], median and p99 as configured", () => {
    const l: Latency = { kind: "uniform", minNs: 1_000, maxNs: 9_000 };
    const xs = draws(l);
    assert.ok(xs[0]! >= 1_000 && xs.at(-1)! <= 9_000);
    near(quantile(xs, 0.5), 5_000, 0.03, "median");
    near(quantile(xs, 0.99), latencyP99(l), 0.01, "p99");
    near(latencyP99(l), 8_920, 1e-9, "p99 formula");
  });
  await t.step("exponential: mean, median = mean·ln 2, p99 = mean·ln 100", () => {
    const l: Latency = { kind: "exponential", meanNs: 50_000 };
    const xs = draws(l);
    assert.ok(xs[0]! >= 0);
    near(mean(xs), 50_000, 0.03, "mean");
    near(quantile(xs, 0.5), 50_000 * Math.LN2, 0.05, "median");
    near(quantile(xs, 0.99), 50_000 * Math.log(100), 0.1, "p99");
    near(latencyP99(l), 50_000 * Math.log(100), 1e-9, "latencyP99");
  });
  await t.step("lognormal: median and p99 of many draws match the configured ones", () => {
    const l: Latency = { kind: "lognormal", medianNs: 1_000_000, p99Ns: 10_000_000 };
    const xs = draws(l);
    assert.ok(xs[0]! > 0);
    near(quantile(xs, 0.5), 1_000_000, 0.05, "median");
    near(quantile(xs, 0.99), 10_000_000, 0.1, "p99");
    assert.equal(latencyP99(l), 10_000_000);
  });
  await t.step("lognormal with p99 = median is a point mass", () => {
    const xs = draws({ kind: "lognormal", medianNs: 500, p99Ns: 500 });
    assert.ok(xs.every((x) => x === 500));
  });
  await t.step("never: every draw and the p99 are ∞", () => {
    const rng = new Rng(1);
    for (let i = 0; i < 10; i++) assert.equal(sampleLatency(rng, { kind: "never" }), Infinity);
    assert.equal(latencyP99({ kind: "never" }), Infinity);
  });
  await t.step("the same seed gives the same draws; another seed different ones", () => {
    const l: Latency = { kind: "exponential", meanNs: 1_000 };
    assert.deepEqual(draws(l, 3), draws(l, 3));
    assert.notDeepEqual(draws(l, 3), draws(l, 4));
  });
});

Deno.test("Latency schema rejects bad configs with errors naming the field", async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ kind: "fixed", ns: -1 }, "ns"],
    [{ kind: "uniform", minNs: 5, maxNs: 1 }, "maxNs"],
    [{ kind: "uniform", minNs: -5, maxNs: 1 }, "minNs"],
    [{ kind: "exponential", meanNs: 0 }, "meanNs"],
    [{ kind: "lognormal", medianNs: 10, p99Ns: 5 }, "p99Ns"],
    [{ kind: "lognormal", medianNs: 0, p99Ns: 5 }, "medianNs"],
    [{ kind: "gamma", shape: 2 }, "kind"],
  ];
  for (const [input, field] of cases) {
    await t.step(`${JSON.stringify(input)} → ${field}`, () => {
      const r = Latency.safeParse(input);
      assert.equal(r.success, false);
      if (r.success) return;
      assert.equal(r.error.issues[0]!.path[0], field);
      assert.throws(
        () => Latency.parse(input as Latency),
        (e: Error) => e.message.startsWith("Invalid Latency: ") && e.message.includes(field),
      );
    });
  }
  await t.step("valid configs parse to themselves", () => {
    for (
      const l of [
        { kind: "fixed", ns: 0 },
        { kind: "uniform", minNs: 3, maxNs: 3 },
        { kind: "never" },
      ] as Latency[]
    ) assert.deepEqual(Latency.parse(l), l);
  });
});

Deno.test("sampleLatency property: uniform draws stay in range; lognormal draws are positive integers", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 1, max: 1e9 }),
      fc.double({ min: 1, max: 1000, noNaN: true }),
      fc.nat(),
      (a, b, med, ratio, seed) => {
        const rng = new Rng(seed);
        const lo = Math.min(a, b), hi = Math.max(a, b);
        for (let i = 0; i < 20; i++) {
          const u = sampleLatency(rng, { kind: "uniform", minNs: lo, maxNs: hi });
          assert.ok(Number.isInteger(u) && u >= lo && u <= hi, `${u} outside [${lo}, ${hi}]`);
          const g = sampleLatency(rng, { kind: "lognormal", medianNs: med, p99Ns: med * ratio });
          assert.ok(Number.isInteger(g) && g >= 0 && Number.isFinite(g), `lognormal ${g}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});
