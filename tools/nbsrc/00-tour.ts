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

    The engine (\`lib/sim/\`) knows nothing about memory. Time is virtual (integer
    nanoseconds); a task is a generator that \`yield\`s effects — \`env.sleep(ns)\`,
    \`env.point()\` (a preemption point), waits on wait queues, locks and the hashed bit-wait table.
    A task runs atomically from one \`yield\` to the next, and a **strategy** decides which of the
    tasks ready at the same instant runs next: \`fifo\`, \`random(seed)\`, \`pct\` (probabilistic
    concurrency testing) or \`exhaustive\` (bounded depth-first search over every schedule).

    Here is the oldest bug in the book, an ABBA lock-order inversion, found by exhaustive search.
    The search explores every interleaving within its bounds, computes a verdict per label
    (\`Always\`, \`Sometimes\` or \`Never\`, as the kernel memory model's litmus tests do) and
    returns the first failing execution, shrunk to its fewest preemptions, with the call that
    replays it.
  `),
  code(`
    const abba = (env: mm.Engine) => {
      const a = new mm.Mutex("A"), b = new mm.Mutex("B");
      env.spawn("t1", function* (env) {
        yield* a.lock(env);
        yield env.point();
        yield* b.lock(env);
        b.unlock(env);
        a.unlock(env);
      });
      env.spawn("t2", function* (env) {
        yield* b.lock(env);
        yield env.point();
        yield* a.lock(env);
        a.unlock(env);
        b.unlock(env);
      });
    };
    const found = mm.explore(abba, { search: mm.exhaustive({ maxPreemptions: 2 }) });
    const cx = found.counterexample!;
    console.log(\`\${found.executions} executions, deadlock: \${found.verdicts.deadlock}\`);
    console.log(cx.waits!.text);
    console.log("replay:", cx.replay);
    await mm.show(mm.explorationSummary(found, "ABBA: every schedule within 2 preemptions"));
  `),
  md(`
    The counterexample carries its trace. A swim-lane figure draws one lane per task, the waits
    as bars (red: never woken) and events as dots; the wait-for graph closes the cycle.
  `),
  code(`
    const again = mm.replay(abba, { seed: cx.seed, schedule: cx.schedule });
    if (again.trace!.toJsonl() !== cx.trace.toJsonl()) throw new Error("replay must be exact");
    await mm.show(
      mm.swimLanes(cx.trace, { title: "ABBA deadlock: t1 holds A and waits for B; t2 the reverse" }),
      mm.waitForFigure(cx.waits!, "wait-for cycle of the counterexample"),
    );
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
    The buddy allocator (\`lib/mm/buddy.ts\`) keeps free lists per order and migratetype as the
    kernel does. Fragment a 64 MiB zone to half use with every free block below pageblock
    order, then compact it (\`compact_memory\`): the migrate scanner moves folios from the start
    of the zone to free pages the free scanner finds at its end. A pageblock map draws one cell
    per pageblock (2 MiB with 4 KiB pages), coloured by migratetype and shaded by the share of
    its frames in use; a black dot marks pageblocks holding pinned frames (refcount above what
    the kernel can account for), which compaction cannot empty.
  `),
  code(`
    const env = new mm.Engine({ seed: 1 });
    const m = new mm.Mm(env, { memory: { nrFrames: 1 << 14 }, zone: { minFreeKbytes: 0 } });
    mm.fragmentZone(m.zone, new mm.Rng(5), {
      utilisation: 0.5,
      fragmentation: 1,
      migratetypeWeights: { unmovable: 0.05, movable: 0.95, reclaimable: 0 },
    });
    mm.lruAddFragmentFolios(m);
    // Pin a few movable folios (as GUP with FOLL_PIN would): migration cannot move them.
    const pinned: number[] = [];
    for (let pfn = 0; pfn < m.mem.nrFrames && pinned.length < 6; pfn += 2111) {
      const head = m.mem.compoundHead(pfn);
      if (m.mem.refcount[head]! > 0 && !m.mem.testFlag(head, mm.PG.buddy)) {
        m.mem.refcount[head]! += mm.GUP_PIN_COUNTING_BIAS;
        pinned.push(head);
      }
    }
    const isPinned = (pfn: number) => pinned.includes(m.mem.compoundHead(pfn));
    const before = {
      map: mm.pageblockMap(m.mem, { title: "before compaction", pinned: isPinned }),
      unusable9: mm.unusableFreeIndex(m.zone, 9),
      freeOrder9Plus: mm.buddyinfo(m.zone).slice(9).reduce((a, b) => a + b, 0),
    };
    env.spawn("compact_memory", function* () {
      yield* mm.compactMemory(m);
    });
    env.run();
    const after = {
      map: mm.pageblockMap(m.mem, { title: "after compaction", pinned: isPinned }),
      unusable9: mm.unusableFreeIndex(m.zone, 9),
      freeOrder9Plus: mm.buddyinfo(m.zone).slice(9).reduce((a, b) => a + b, 0),
    };
    await mm.show(
      mm.table([
        { when: "before", unusableFreeIndexOrder9: before.unusable9, freeBlocksOrder9Plus: before.freeOrder9Plus },
        { when: "after", unusableFreeIndexOrder9: after.unusable9, freeBlocksOrder9Plus: after.freeOrder9Plus },
      ], { title: "Fragmentation of a 64 MiB zone before and after compact_memory" }),
      before.map,
      after.map,
    );
  `),
  md(`
    ## Scale

    \`deno task bench\` measures the engine, the page-cache replay and the buddy allocator and
    sweeps the machine size from 2^10 to 2^24 frames and the task count from 2 to 10^4 (one
    process per point). Its last recorded run (\`docs/bench/growth.json\`, see README
    "Benchmarks"): model memory grows linearly with frames (45 bytes of typed arrays per frame)
    and with tasks (about 1 KB each); throughput falls once the state leaves the CPU caches.
    The "minimal anchor" lines are the same workloads on a bare buddy allocator (free lists and a
    state byte) and a bare event loop (generators on the same heap): they fall as much or more,
    so the fall comes with the workload's random access on this machine, not with the model.
  `),
  code(`
    const growth = JSON.parse(await Deno.readTextFile("../docs/bench/growth.json"));
    await mm.show(mm.growthFigure(growth, { title: "Growth: throughput and memory vs size (recorded by deno task bench)" }));
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
    if (found.verdicts.deadlock !== "Sometimes" || cx.waits?.kind !== "cycle") {
      throw new Error("the ABBA deadlock was not found");
    }
    if (!(after.freeOrder9Plus > before.freeOrder9Plus)) {
      throw new Error(\`compaction made no order-9 block (\${before.freeOrder9Plus} → \${after.freeOrder9Plus})\`);
    }
    await mm.show("tour checks passed");
  `),
];
