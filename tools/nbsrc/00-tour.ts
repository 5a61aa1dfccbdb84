/**
 * Source of `notebooks/00-tour.ipynb`, the guided tour. Regenerate the notebook with
 * `deno run --allow-read --allow-write=notebooks tools/nbgen.ts` after editing.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

/** The tour's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # mmsim: a guided tour

    mmsim is a set of deterministic simulation primitives for Linux memory management: a
    discrete-event engine, a model of the kernel's page frames, folios and allocators named as in
    the kernel, and the claims of five kernel mailing-list threads, each reproduced by a scenario
    whose verdict is computed from what it measures.

    This notebook imports the library as \`../mod.ts\` and uses nothing else but Observable Plot
    for drawing. Run it under the Deno kernel (\`deno task kernel\` registers it); every run gives
    the same numbers, because every random choice flows from one seed. Cells end in
    \`await mm.show(x)\` rather than a bare \`x\`: the Deno kernel may publish a bare result after
    the cell has finished, and \`jupyter nbconvert --execute\` then drops it.
  `),
  code(`
    import * as mm from "../mod.ts";
    import * as Plot from "npm:@observablehq/plot@^0.6";
  `),
  md(`
    ## Engine

    *(The engine section of the tour: virtual time, processes as generators, strategies and
    replay. To be written with \`lib/sim/\`.)*
  `),
  md(`
    ## Memory model

    Physical memory is a \`PhysMem\`: one typed array per \`struct page\` field (flags, refcount,
    mapcount, order, mapping, index, private, generation, list links), indexed by pfn, plus a
    migratetype per pageblock. Holding per-frame state in typed arrays is what lets a scenario
    simulate a large machine: the cost is a fixed number of bytes per frame, so the state for a
    given amount of simulated RAM shrinks as the base page grows.
  `),
  code(`
    const GiB = 2 ** 30;
    const footprint = ([4096, 16384, 65536] as const).map((pageSizeBytes) => {
      const mem = new mm.PhysMem({ nrFrames: 1 << 16, pageSizeBytes });
      const framesPer64GiB = (64 * GiB) / pageSizeBytes;
      return {
        basePage: \`\${pageSizeBytes / 1024} KiB\`,
        bytesPerFrame: mem.bytesPerFrame(),
        pageblockOrder: mem.pageblockOrder,
        stateMiBFor64GiB: (framesPer64GiB * mem.bytesPerFrame()) / 2 ** 20,
      };
    });
    await mm.show(mm.table(footprint, { digits: 1, title: "Model state for a 64 GiB machine" }));
  `),
  code(`
    const footprintFigure = mm.plot({
      height: 200,
      marginLeft: 70,
      marginRight: 70,
      x: { label: "model state for 64 GiB of simulated RAM (MiB)", grid: true },
      y: { label: "base page", domain: footprint.map((d) => d.basePage) },
      marks: [
        Plot.barX(footprint, { x: "stateMiBFor64GiB", y: "basePage", fill: "steelblue" }),
        Plot.text(footprint, {
          x: "stateMiBFor64GiB",
          y: "basePage",
          text: (d: { stateMiBFor64GiB: number }) => \`\${d.stateMiBFor64GiB.toFixed(0)} MiB\`,
          textAnchor: "start",
          dx: 4,
        }),
        Plot.ruleX([0]),
      ],
    }, { title: "Per-frame state of PhysMem, by base page size" });
    await mm.show(footprintFigure);
  `),
  md(`
    A pageblock map draws one cell per pageblock (2 MiB with 4 KiB pages), coloured by
    migratetype and shaded by the share of its frames in use. Here a few pageblocks are marked
    by hand to show the encoding; once the buddy allocator is in, this map is drawn from a
    fragmentation run.
  `),
  code(`
    const mem = new mm.PhysMem({ nrFrames: 128 * 512 });
    for (const pb of [3, 17, 18, 64, 101]) mem.pageblockMigratetype[pb] = mm.MIGRATE.UNMOVABLE;
    for (const pb of [40, 41]) mem.pageblockMigratetype[pb] = mm.MIGRATE.RECLAIMABLE;
    for (let pfn = 0; pfn < 20 * 512; pfn += 3) mem.refcount[pfn] = 1;
    await mm.show(mm.pageblockMap(mem, { title: "128 pageblocks of a 256 MiB zone" }));
  `),
  md(`
    ## Claims

    Each seed thread's claims are registered in \`lib/claims/\`; \`deno task reproduce\` runs
    them all. The same run, from a notebook:
  `),
  code(`
    const results = await mm.runClaims(mm.allClaims(), { seed: 1, quick: true });
    await mm.show(mm.claimTable(results));
  `),
  md(`
    ## Checks

    The last cell throws if what this notebook shows stopped being true (the Deno kernel does not
    fail a notebook on a failed \`Deno.test\`, so notebooks assert by throwing).
  `),
  code(`
    const fourK = footprint[0]!;
    if (fourK.stateMiBFor64GiB >= 1024) {
      throw new Error(\`64 GiB of 4 KiB frames needs \${fourK.stateMiBFor64GiB} MiB of state, expected < 1 GiB\`);
    }
    if (!footprintFigure.svg.includes("<rect")) throw new Error("footprint figure has no bars");
    if (results.some((r) => typeof r.agrees !== "boolean")) throw new Error("claim without verdict");
    await mm.show("tour checks passed");
  `),
];
