import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { Engine, KernelEra, kernelEra, KernelEraOverrides, Mm } from "../../../mod.ts";

type Switch = Exclude<keyof KernelEra, "version">;

/** Each switch, the last version before it flips and the first after, as documented. */
const FLIPS: Array<[Switch, string, string, boolean]> = [
  // [switch, before, at, value from `at` on]
  ["endWritebackTakesRef", "5.9", "5.10", true], // 073861ed77b6
  ["waitWritebackLoops", "5.10", "5.11", true], // c2407cf7d22d
  ["private2TakesRef", "5.12", "5.13", true],
  ["migrateCountsPrivate2", "5.19", "6.0", false],
  ["minOrderMappings", "6.11", "6.12", true],
  ["nonUniformSplit", "6.14", "6.15", true],
  ["fuseTempPages", "6.15", "6.16", false], // 0c58a97f919c
  ["reclaimSkipsMayDeadlock", "6.15", "6.16", true], // 0c4f8ed498ce
  ["fallbackMigrateRefusesDirty", "6.15", "6.16", true],
  ["splitBelowMinOrderFails", "6.17", "6.18", true],
];

const VERSIONS = [
  "4.19",
  "5.4",
  "5.9",
  "5.10",
  "5.11",
  "5.13",
  "5.15",
  "6.0",
  "6.1",
  "6.6",
  "6.9",
  "6.10",
  "6.12",
  "6.15",
  "6.16",
  "6.18",
  "7.0",
];

Deno.test("kernelEra switches flip at the documented versions", async (t) => {
  for (const [sw, before, at, value] of FLIPS) {
    await t.step(`${sw}: ${before} → ${at}`, () => {
      assert.equal(kernelEra(before)[sw], !value);
      assert.equal(kernelEra(at)[sw], value);
    });
  }
  await t.step("each switch flips exactly once over the versions, in version order", () => {
    for (const [sw] of FLIPS) {
      const values = VERSIONS.map((v) => kernelEra(v)[sw]);
      const flips = values.filter((x, i) => i > 0 && x !== values[i - 1]).length;
      assert.equal(flips, 1, `${sw}: ${values.join()}`);
    }
  });
  await t.step("versions compare numerically: 6.9 is before 6.10 and 6.12", () => {
    assert.equal(kernelEra("6.9").minOrderMappings, false);
    assert.equal(kernelEra("6.10").minOrderMappings, false);
    assert.equal(kernelEra("5.9").endWritebackTakesRef, false);
  });
  await t.step("the era carries its version", () => {
    assert.equal(kernelEra("6.12").version, "6.12");
  });
});

Deno.test("kernelEra overrides ask 'what if' without touching the other switches", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...VERSIONS),
      fc.constantFrom(...FLIPS.map((f) => f[0])),
      fc.boolean(),
      (v, sw, value) => {
        const base = kernelEra(v);
        const what = kernelEra(v, { [sw]: value });
        assert.equal(what[sw], value);
        for (const [other] of FLIPS) if (other !== sw) assert.equal(what[other], base[other]);
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("kernelEra and its schemas reject malformed versions and fields", async (t) => {
  await t.step("a version that is not major.minor is a RangeError naming it", () => {
    for (const v of ["six", "6", "6.12.59", ""]) {
      assert.throws(
        () => kernelEra(v),
        (e: Error) => e instanceof RangeError && e.message.includes(`"${v}"`),
      );
    }
  });
  await t.step("KernelEraOverrides names the bad field", () => {
    const r = KernelEraOverrides.safeParse({ version: "six" });
    assert.equal(r.success, false);
    if (!r.success) assert.deepEqual(r.error.issues[0]!.path, ["version"]);
    const r2 = KernelEraOverrides.safeParse({ fuseTempPages: "yes" });
    assert.equal(r2.success, false);
    if (!r2.success) assert.deepEqual(r2.error.issues[0]!.path, ["fuseTempPages"]);
  });
  await t.step("KernelEra requires every switch", () => {
    const { fuseTempPages: _, ...partial } = kernelEra("6.12");
    assert.throws(() => KernelEra.parse(partial as KernelEra), /Invalid KernelEra: fuseTempPages/);
    assert.deepEqual(KernelEra.parse(kernelEra("6.12")), kernelEra("6.12"));
  });
});

Deno.test("Mm runs as the era of its configured version, with overrides", () => {
  const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "5.9" });
  assert.deepEqual(mm.era, kernelEra("5.9"));
  const def = new Mm(new Engine(), { memory: { nrFrames: 64 } });
  assert.equal(def.era.version, "6.12");
  const what = new Mm(new Engine(), {
    memory: { nrFrames: 64 },
    version: "6.16",
    era: { fuseTempPages: true },
  });
  assert.deepEqual(what.era, kernelEra("6.16", { fuseTempPages: true }));
});
