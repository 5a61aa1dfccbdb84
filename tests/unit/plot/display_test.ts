import assert from "node:assert/strict";
import * as Plot from "npm:@observablehq/plot@^0.6";
import {
  figure,
  JUPYTER_DISPLAY,
  MIGRATE,
  pageblockMap,
  pageblockRows,
  PhysMem,
  plot,
  plotDocument,
  table,
} from "../../../mod.ts";

Deno.test("figure wraps Plot output as an HTML + SVG display bundle", async (t) => {
  await t.step("plain svg element", () => {
    const fig = figure(Plot.barY([1, 2, 3]).plot({ document: plotDocument() }));
    const bundle = fig[JUPYTER_DISPLAY]();
    assert.deepEqual(Object.keys(bundle).sort(), ["image/svg+xml", "text/html"]);
    assert.match(fig.svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(fig.svg.endsWith("</svg>"));
    assert.equal((fig.svg.match(/<rect/g) ?? []).length, 3);
    assert.equal(bundle["text/html"], fig.svg);
    assert.equal(String(fig), fig.svg);
  });
  await t.step("a figure with a legend keeps the legend in HTML and the plot in SVG", () => {
    const fig = plot({
      color: { legend: true },
      marks: [Plot.barY([{ k: "a", v: 1 }, { k: "b", v: 2 }], { x: "k", y: "v", fill: "k" })],
    });
    assert.ok(fig.html.startsWith("<figure"), fig.html.slice(0, 40));
    assert.ok(fig.svg.startsWith("<svg xmlns="));
    assert.equal((fig.svg.match(/<rect/g) ?? []).length, 2);
  });
  await t.step("title goes to a caption and an svg <title>, escaped", () => {
    const fig = figure("<svg><g/></svg>", { title: "a < b" });
    assert.ok(fig.svg.includes("<title>a &#60; b</title>"));
    assert.ok(fig.html.includes("<figcaption") && fig.html.includes("a &#60; b"));
  });
  await t.step("markup without svg is an error naming the input", () => {
    assert.throws(() => figure("<div></div>"), /no <svg> element in "<div><\/div>"/);
  });
  await t.step("nested and self-closing svgs pick the outermost", () => {
    const fig = figure('<div><svg a="1"><svg b="2"/></svg><svg c="3"/></div>');
    assert.equal(fig.svg, '<svg xmlns="http://www.w3.org/2000/svg" a="1"><svg b="2"/></svg>');
  });
});

Deno.test("table formats numbers, aligns columns and escapes HTML", () => {
  const t = table([{ name: "<a>", n: 1.5 }, { name: "b", n: 10 }, { name: "c" }]);
  assert.deepEqual(t.text.split("\n"), [
    "name    n",
    "----  ---",
    "<a>   1.5",
    "b      10",
    "c",
  ]);
  const bundle = t[JUPYTER_DISPLAY]();
  assert.ok(bundle["text/html"].includes("<td>&#60;a&#62;</td>"));
  assert.equal(bundle["text/plain"], t.text);
});

Deno.test("pageblockMap draws one cell per pageblock coloured by migratetype", () => {
  const mem = new PhysMem({ nrFrames: 10 * 512 + 100 });
  mem.pageblockMigratetype[2] = MIGRATE.UNMOVABLE;
  for (let pfn = 0; pfn < 256; pfn++) mem.refcount[pfn] = 1;
  const rows = pageblockRows(mem, 4);
  assert.equal(rows.length, 11);
  assert.deepEqual(rows[0], {
    pageblock: 0,
    migratetype: "MOVABLE",
    usedFrames: 256,
    pinnedFrames: 0,
    frames: 512,
    col: 0,
    row: 0,
  });
  assert.equal(rows[2]?.migratetype, "UNMOVABLE");
  assert.equal(rows[10]?.frames, 100);
  const fig = pageblockMap(mem, { columns: 4 });
  assert.ok((fig.svg.match(/<rect/g) ?? []).length >= 11);
  assert.throws(() => pageblockRows(mem, 0), /columns must be a positive integer, got 0/);
});
