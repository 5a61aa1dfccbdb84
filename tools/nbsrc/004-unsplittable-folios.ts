/**
 * Source of `notebooks/004-unsplittable-folios.ipynb` (thread 004: unsplittable dirty folios,
 * large-folio migration under fragmentation, min-order folios). Regenerate the notebook with
 * `deno run --allow-read --allow-write=notebooks tools/nbgen.ts` after editing.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

/** The notebook's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # Thread 004: unsplittable dirty folios, large-folio migration under fragmentation, min-order folios (2025)

    On 29 January 2025 David Hildenbrand proposed an LSF/MM/BPF topic on \`__GFP_MOVABLE\`
    allocations that become unmigratable
    ([linux-fsdevel copy](http://mail.spinics.net/lists/linux-fsdevel/msg292536.html)): CMA
    allocations fail, memory hot-unplug makes no progress, compaction does not work. His cases:
    folios under FUSE writeback (userspace decides when writeback ends), \`->readahead\` served by
    userspace, network filesystems in general — and large folios that cannot be split, which
    block migration "if memory is fragmented"; XFS (iomap) refuses to split dirty folios.

    Matthew Wilcox answered the next day
    ([linux-mm copy](http://mail.spinics.net/lists/linux-mm/msg421858.html)): a misbehaving
    server is an asterisk the kernel may have to accept; iomap refuses to split a dirty folio
    because every new folio would need its own per-block state ("a big ask for slab", better
    with Zi Yan's split-as-needed); and migration needs no split — \`filemap_release_folio()\` is
    reached only from \`fallback_migrate_folio()\`, while iomap filesystems use
    \`filemap_migrate_folio()\`, which moves the state to the new folio. David's reply (the seed
    of this notebook) sharpens it: the problem is fragmentation — a 512 MiB folio (arm64, 64 KiB
    pages) that cannot be split cannot move without a free 512 MiB block; min-order folios
    cannot split below their order, and hugetlb never splits.

    Each section below states a claim, runs its scenario from \`lib/claims/thread004*.ts\`, draws
    the figure and checks the verdict against the claims registry. Every number comes from the
    simulation; the seed fixes all of it.
  `),
  code(`
    import * as mm from "../mod.ts";
    const SEED = 1;
    const registry = mm.allClaims();
    async function check(id: string) {
      const r = await mm.runClaim(registry.get(id)!, { seed: SEED });
      if (!r.agrees) throw new Error(\`\${id} no longer agrees: \${r.verdict}\\n\${r.detail}\`);
      await mm.show(mm.table([{ claim: id, verdict: r.verdict, expected: r.expected }]));
      return r;
    }
  `),
  md(`
    ## C4.1 — migration of large folios (David Hildenbrand)

    > "As another example, failing to split large folios can prevent migration if memory is
    > fragmented." Migrating an order-k folio needs an order-k destination; when that allocation
    > fails (-ENOMEM) \`migrate_pages\` splits the folio and moves the pieces (except NUMA-hinting
    > migration). So P(success) = P(free order-k block) + P(no block) · P(split allowed) ·
    > P(all pieces move).

    Setup: a zone whose pageblocks are order k (k = 9 with 4 KiB pages, k = 13 with 64 KiB
    pages), R order-k folios of one iomap file at the bottom, the rest filled and fragmented so
    that a share x of the free memory lies in blocks below order k. The folios' pageblocks are
    then isolated and migrated out as \`offline_pages\` does (MIGRATE_SYNC, retries every 10 ms,
    100 ms deadline). Lines: clean folios, dirty iomap folios, folios of a min-order-2 / 4
    mapping (large blocks), hugetlbfs-like folios (never split). Era: v6.12.
  `),
  code(`
    const sweeps = mm.c41Sweeps({ seed: SEED });
    const rows41 = sweeps.flatMap((s) => mm.largeFolioMigrationSweep(s));
    await mm.show(mm.migrationFigure(rows41));
  `),
  md(`
    The terms of the formula, measured per folio (the first order-k destination request found a
    block; the folio was split; every page left the block), and the formula rebuilt from them:
  `),
  code(`
    await mm.show(mm.table(
      rows41.filter((r) => r.level === 0.75 || r.level === 1).map((r) => ({
        k: r.order, line: r.line, x: r.fragmentation, "P(block)": r.pBlock,
        "P(split|no block)": r.pSplit, "P(pieces|split)": r.pPieces, measured: r.pSuccess,
        formula: r.formula, "-ENOMEM → split attempts": r.splitAttempts, "split failures": r.splitFailures,
      })),
      { digits: 2, title: "C4.1 terms at x = 0.75 and x = 1" },
    ));
  `),
  md(`
    Where the free order-9 blocks come from: compaction. The map below is a 128 MiB zone (one
    cell per 2 MiB pageblock, colour = migratetype, shade = frames in use) holding two dirty
    order-9 iomap folios (the first two cells), before and after
    \`echo 1 > /proc/sys/vm/compact_memory\`. Compaction makes free order-9 blocks out of small
    movable folios; it never moves the pageblock-sized folios themselves.
  `),
  code(`
    const maps = mm.compactionMaps(SEED);
    await mm.show(maps.before, maps.after);
  `),
  code(`
    const r41 = await check("C4.1");
  `),
  md(`
    ## C4.2 — when a split is allowed (David Hildenbrand)

    > "XFS (IOMAP in general) refuses to split folios that are dirty." A split asks the
    > filesystem to release the folio's private data first; \`iomap_release_folio\` refuses a
    > dirty folio, so the split fails (-EBUSY). A split below the mapping's minimum order fails
    > (-EINVAL); extra references (-EAGAIN) and writeback (-EBUSY) block it too. Predict: the
    > unsplittable fraction equals the dirty fraction on iomap, and is 100 % below the minimum
    > order.

    Setup: 32 order-9 folios of an iomap file (4 KiB blocks), written and written back, then a
    share of them dirtied by a 4 KiB write; \`split_folio\` on each, as \`try_split_folio\` does.
  `),
  code(`
    const fractions = [0, 0.125, 0.25, 0.5, 0.75, 0.875, 1];
    const points42 = fractions.map((d) => ({ d, r: mm.splitAllowedTrial({ dirtyFraction: d, seed: SEED }) }));
    await mm.show(mm.splitAllowedFigure(points42));
  `),
  code(`
    const mixed = mm.splitAllowedTrial({ dirtyFraction: 0.25, pinnedFraction: 0.25, writebackFraction: 0.25, seed: SEED });
    const mins = ["6.12", "6.19"].flatMap((v) => [2, 4].map((m) => mm.minOrderSplitTrial(v, m)));
    await mm.show(
      mm.table([{ dirty: mixed.dirty, pinned: mixed.pinned, "under writeback": mixed.writeback,
        failed: mixed.failed, ...Object.fromEntries(Object.entries(mixed.reasons).map(([k, v]) => [\`split_failed_\${k}\`, v])) }],
        { title: "Split failures by reason (8 of 32 folios in each state)" }),
      mm.table(mins.map((m) => ({ kernel: m.version, "min order": m.minOrder, "split_folio": m.ok ? "ok" : \`-\${m.errno}\`,
        "smallest order after": m.smallestOrder, folios: m.orders.length })),
        { title: "split_folio of an order-9 folio of a min-order mapping" }),
    );
  `),
  code(`
    const r42 = await check("C4.2");
  `),
  md(`
    ## C4.3 — migrate without split (Matthew Wilcox)

    > "That problem doesn't arise for migration. filemap_release_folio() is only called by
    > fallback_migrate_folio(), which is only called if the filesystem doesn't provide a
    > ->migrate_folio callback. All iomap users should use filemap_migrate_folio() which just
    > has to move the data structure from the old folio to the new."

    Setup: one order-9 iomap folio (1 KiB blocks, so it carries block state), clean or dirty, a
    free order-9 destination; the same filesystem with and without \`->migrate_folio\`; each
    migration mode; v6.12 (\`fallback_migrate_folio\` writes dirty folios out in MIGRATE_SYNC) and
    v6.16 ("migrate: Remove call to ->writepage": -EBUSY). The caller retries once after
    -EAGAIN, as \`alloc_contig_range\` does.
  `),
  code(`
    const cells43 = mm.migrateWithoutSplitMatrix(["6.12", "6.16"]);
    await mm.show(mm.migrateMatrixFigure(cells43));
  `),
  code(`
    const r43 = await check("C4.3");
  `),
  md(`
    ## C4.4 — the cost of a split (Matthew Wilcox)

    > "If we split the folio, we have to allocate an extra data structure for each new folio
    > that we create. It's not impossible, but it's a big ask for slab. It'll be a lot better
    > once Zi Yan's patch is in to only split folios as needed rather than all the way."

    Setup: an order-k iomap folio with every other block dirty, split so that page 5 ends in an
    order-0 folio, uniformly (\`split_huge_page_to_list_to_order\`) or non-uniformly
    (\`folio_split\`, v6.15+), with the block state carried to the new folios — what iomap would
    have to do to split a dirty folio. Counted from the actual splits: new folios, and new
    folios that need an \`iomap_folio_state\` (more than one block, mixed bits).
  `),
  code(`
    const cost = mm.splitCostRows();
    await mm.show(mm.splitCostFigure(cost), mm.table(cost.map((r) => ({ case: r.case, split: r.split,
      folios: r.folios, "block states": r.ifsAllocs, "sizes (pages)": r.sizes, "kernel today": \`split_folio → -\${r.kernel}\` }))));
  `),
  md(`
    With 4 KiB blocks on 4 KiB pages the order-0 pieces have one block each and need no state
    (\`ifs_alloc\` returns early when \`nr_blocks <= 1\`): there the uniform split costs 512 folios
    but no block state, and the non-uniform one 10 folios and 8 block states. Willy's count holds
    when blocks are smaller than pages — 1 KiB blocks on x86, or 4 KiB blocks on arm64 with
    64 KiB pages, David's 512 MiB example.
  `),
  code(`
    const r44 = await check("C4.4");
  `),
  md(`
    ## C4.5 — writeback and readahead are unmovable in practice (David Hildenbrand)

    > "in context of FUSE we recently discovered that folios that are under writeback cannot be
    > migrated, and user space in control of when writeback will end. Something similar can
    > happen ->readahead() where user space is in charge of supplying page content."

    Setup: one FUSE file (v6.16: PG_writeback is held until the WRITE reply), one server thread
    answering each request after L. First one folio per migration mode with L = 5 ms:
  `),
  code(`
    const L5 = { kind: "fixed", ns: 5_000_000 } as const;
    const modeRows = (["writeback", "readahead"] as const).flatMap((kind) =>
      (["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"] as const).map((mode) => mm.unmovableModeRow(kind, mode, L5, SEED)));
    await mm.show(mm.table(modeRows.map((r) => ({ folio: r.kind, mode: r.mode,
      "async compaction isolates": r.isolatedByAsyncCompaction, rc: r.rc, "time (ms)": r.timeNs / 1e6 }))));
  `),
  md(`
    With a server that never answers (L = ∞), CMA allocation of the pageblock holding the file
    never returns. The run does not spin: every task ends up blocked, and the wait-for report
    names the chain.
  `),
  code(`
    const hung = mm.contigUnderIoTrial({ driver: "cma", kind: "writeback", share: 1 / 16,
      latency: { kind: "never" }, deadlineNs: 50e6, seed: SEED });
    await mm.show(mm.waitForFigure(hung.report!, "alloc_contig_range with a hung FUSE server"), hung.waits);
  `),
  md(`
    Plot C: P(CMA allocation / offlining of one pageblock succeeds within T = 50 ms) against the
    share of it under FUSE writeback or readahead, server latency exponential (mean 2 ms,
    10 ms) or ∞.
  `),
  code(`
    const rows45 = mm.contigUnderIoSweep({
      latencies: [
        { label: "exp 2 ms", latency: { kind: "exponential", meanNs: 2e6 } },
        { label: "exp 10 ms", latency: { kind: "exponential", meanNs: 10e6 } },
        { label: "∞", latency: { kind: "never" } },
      ],
      shares: [0, 0.125, 0.25, 0.5, 0.75, 1],
      seeds: [1, 2, 3, 4],
      deadlineNs: 50e6,
    });
    await mm.show(mm.contigFigure(rows45));
  `),
  code(`
    const r45 = await check("C4.5");
  `),
  md(`
    ## The real kernel

    Split a 2 MiB tmpfs folio to isolate page 5: 512 single pages (uniform split) or 10 folios (non-uniform \`folio_split\`, 6.15+)? The real-kernel cross-check (\`deno task crosscheck\`, issue 11) boots Debian's 6.1,
    6.12 and 7.x kernels under QEMU and runs the same experiment; the table puts the
    observation recorded on 2026-11-26 next to the model's prediction, computed now for each
    kernel's era. Only what the claim is about is compared.
  `),
  code(`
    const crossRows = mm.crosscheckRows("split-at-page");
    await mm.show(mm.crosscheckTable("split-at-page"));
    const crossDisagree = crossRows.filter((r) => !r.agree);
    if (crossDisagree.length > 0) {
      throw new Error(\`model and real kernel disagree: \${JSON.stringify(crossDisagree)}\`);
    }
  `),
  md(`
    ## What happened upstream

    - **Non-uniform split (Zi Yan):** "Buddy allocator like (or non-uniform) folio split" (v10,
      March 2025) went into mm-stable for v6.15; truncating part of a large folio now uses it.
      Migration's \`try_split_folio\` still calls \`split_folio_to_list\` (uniform), so C4.1's pieces
      are unchanged; C4.4's cost is what a split around one page would save.
    - **Large block sizes:** min-order folios in the page cache, with XFS block size > page
      size, merged in v6.12.
    - **"mm/huge_memory: do not change split_huge_page*() target order silently"** (Zi Yan,
      October 2025): a split below the minimum order now fails (-EINVAL) instead of silently
      splitting to the minimum. It went through mm-hotfixes in November 2025 (mainline v6.18)
      and was backported to stable (6.12.59, 6.17.9). The model's era switch puts it at 6.19;
      the notebook calls that era "6.19". Since \`try_split_folio\` asks for order 0, min-order
      folios that need a split to migrate can no longer be split at all (below).
    - **Writeout removal:** Matthew Wilcox, "migrate: Remove call to ->writepage" (2025):
      filesystems without \`->migrate_folio\` no longer migrate dirty folios (C4.3).
    - **Reliable huge page allocator** (Johannes Weiner), in the v6.15 mm pull, attacks
      fragmentation itself: fewer mixed pageblocks, more free order-9 blocks — the first term of
      C4.1.
    - **Still true:** \`iomap_release_folio\` refuses dirty folios.
    - **FUSE on iomap:** FUSE gained \`.migrate_folio = filemap_migrate_folio\` when its temp-page
      writeback was removed, and "fuse: use iomap for buffered writes" (Joanne Koong, July 2025)
      gave it \`iomap_release_folio\` and per-block dirty tracking — so large dirty FUSE folios
      now meet the same split refusal (C4.2), while their migration (C4.3) works.
    - **Verdict:** Willy's "better with Zi Yan's patch" is partly confirmed (non-uniform split
      merged, but migration still splits uniformly); David's point stands for dirty iomap folios
      and min-order folios under fragmentation.

    ## The same scenarios, era by era

    C4.1's min-order lines under v6.12 (split silently raised to the minimum order) and under
    the late-2025 change (split fails):
  `),
  code(`
    const minLines = [
      { line: "min-order 2", kind: "min-order" as const, minOrder: 2 },
      { line: "min-order 4", kind: "min-order" as const, minOrder: 4 },
    ];
    const eraRows = ["6.12", "6.19"].flatMap((version) =>
      mm.largeFolioMigrationSweep({ ...sweeps[0]!, version, lines: minLines })
        .map((r) => ({ ...r, line: \`\${r.line} (\${version})\` })));
    await mm.show(mm.migrationFigure(eraRows, "C4.1, min-order folios: v6.12 vs the late-2025 change"));
  `),
  md(`
    The split at one page the real-kernel cross-check runs (a 2 MiB tmpfs folio split at page 5
    through debugfs): uniform before v6.15, non-uniform after — the model's prediction, in folio
    sizes (pages, file order):
  `),
  code(`
    await mm.show(mm.table(["6.1", "6.12", "6.16", "7.0"].map((v) => {
      const sizes = mm.predictSplitFolioSizes(v);
      return { kernel: v, folios: sizes.length, sizes: sizes.length > 12 ? \`\${sizes.length} × 1\` : sizes.join(", ") };
    })));
  `),
  code(`
    const eraMin = eraRows.filter((r) => r.level === 1);
    const after = eraMin.filter((r) => r.line.endsWith("(6.19)"));
    if (after.some((r) => r.pSplit !== 0)) throw new Error("6.19: min-order folios must not split in migration");
    if (mm.predictSplitFolioSizes("6.16").join() !== "4,1,1,2,8,16,32,64,128,256") throw new Error("non-uniform split");
    for (const r of [r41, r42, r43, r44, r45]) if (!r.agrees) throw new Error(r.id);
    await mm.show("thread 004 checks passed");
  `),
];
