import assert from "node:assert/strict";
import { growthFigure, type GrowthPoint } from "../../../mod.ts";

function points(): GrowthPoint[] {
  const pts: GrowthPoint[] = [];
  for (let e = 10; e <= 16; e += 2) {
    const x = 2 ** e;
    pts.push({ sweep: "frames", x, opsPerSec: 1e7, modelBytes: 45 * x, rssBytes: 50 * x });
  }
  for (const x of [2, 10, 100]) {
    pts.push({ sweep: "processes", x, opsPerSec: 5e6, modelBytes: x === 2 ? 0 : 1000 * x });
  }
  return pts;
}

Deno.test("growthFigure draws four panels in one SVG", async (t) => {
  await t.step("one outer svg holding four Plot svgs, 2 × 2", () => {
    const fig = growthFigure(points(), { title: "growth" });
    assert.match(
      fig.svg,
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="680" height="460"/,
    );
    assert.equal((fig.svg.match(/<svg/g) ?? []).length, 5);
    assert.equal((fig.svg.match(/<g transform="translate\(\d+,\d+\)">/g) ?? []).length, 4);
    assert.ok(fig.svg.includes("<title>growth</title>"));
  });
  await t.step("series are labelled in the SVG (no HTML legend)", () => {
    const svg = growthFigure(points()).svg;
    for (const label of ["buddy alloc/free", "engine steps", "PhysMem arrays", "RSS growth"]) {
      assert.ok(svg.includes(label), label);
    }
  });
  await t.step("memory points that are not positive are left out of the log axes", () => {
    const svg = growthFigure(points()).svg;
    // 4 frame points × 3 series (throughput, PhysMem, RSS) + 3 task points + 2 positive heaps.
    assert.equal((svg.match(/<circle/g) ?? []).length, 4 * 3 + 3 + 2);
  });
});
