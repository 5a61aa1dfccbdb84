/**
 * The claims of seed thread 004 (CLAIMS.md): David Hildenbrand's LSF/MM/BPF 2025 topic on
 * GFP_MOVABLE memory that becomes unmovable (linux-mm, 29 Jan 2025) and Matthew Wilcox's
 * replies (30 Jan). David lists FUSE writeback, `->readahead` served by userspace, network
 * filesystems, and large folios that cannot be split (iomap refuses to split dirty folios, and
 * min-order and hugetlb folios cannot split below their order) as ways movable memory becomes
 * unmovable, the last "if memory is fragmented". Willy answers that migration needs no split —
 * iomap uses `filemap_migrate_folio`, which moves the per-folio state — and that the split
 * refusal eases with Zi Yan's non-uniform split.
 *
 * C4.1 decomposes the success of migrating a large folio; C4.2 tests when a split is allowed;
 * C4.3 is Willy's migrate-without-split; C4.4 the cost of a split; C4.5 writeback and readahead
 * folios. Scenarios: thread004_migrate.ts, thread004_split.ts, thread004_fallback.ts,
 * thread004_unmovable.ts; figures: thread004_figures.ts.
 *
 * Not a kernel model itself.
 *
 * @module
 */

import type { Claim, ClaimOutcome, ClaimRunOptions } from "./registry.ts";
import {
  largeFolioMigrationSweep,
  MIGRATION_LINES,
  type MigrationSweepOptions,
  type MigrationSweepRow,
} from "./thread004_migrate.ts";
import { minOrderSplitTrial, splitAllowedTrial, splitCostRows } from "./thread004_split.ts";
import { migrateWithoutSplitMatrix, predictMigrateCell } from "./thread004_fallback.ts";
import { contigUnderIoTrial, unmovableModeRow } from "./thread004_unmovable.ts";

const DAVID = "David Hildenbrand";
const WILLY = "Matthew Wilcox";

/**
 * The C4.1 sweeps (Plot A): both panels, every line, quick or full. The notebook draws the
 * same rows the claim checks.
 *
 * @example
 * ```ts
 * import { c41Sweeps } from "@mmsim/mmsim";
 * const s = c41Sweeps({ seed: 1, quick: true });
 * if (s.length !== 2 || s[0]!.pageSizeBytes !== 4096) throw new Error();
 * ```
 */
export function c41Sweeps(opts: ClaimRunOptions, version = "6.12"): MigrationSweepOptions[] {
  const q = opts.quick ?? false;
  return [
    {
      pageSizeBytes: 4096,
      levels: q ? [0, 0.5, 0.75, 1] : [0, 0.25, 0.5, 0.625, 0.75, 0.875, 1],
      seeds: q ? [opts.seed] : [opts.seed, opts.seed + 1],
      version,
    },
    {
      pageSizeBytes: 65536,
      levels: q ? [0, 0.75, 1] : [0, 0.25, 0.5, 0.75, 1],
      seeds: [opts.seed],
      version,
      trial: { zonePageblocks: 8, folios: 2, freePageblocks: 4 },
    },
  ];
}

function c41(opts: ClaimRunOptions): ClaimOutcome {
  const rows: MigrationSweepRow[] = [];
  for (const s of c41Sweeps(opts)) {
    opts.progress?.(`${s.pageSizeBytes / 1024} KiB pages`);
    rows.push(...largeFolioMigrationSweep(s));
  }
  const dev = Math.max(...rows.map((r) => Math.abs(r.pSuccess - r.formula)));
  const of = (line: string) => rows.filter((r) => r.line === line);
  const onlyWithBlock = ["dirty iomap", "never-split (hugetlb-like)"].every((l) =>
    of(l).every((r) => Math.abs(r.pSuccess - r.pBlock) < 1e-9)
  );
  const cleanAlways = of("clean (splittable)").every((r) => r.pSuccess === 1);
  const worst = (line: string, k: number) => {
    const r = rows.filter((x) => x.line === line && x.order === k);
    return r[r.length - 1]!;
  };
  const agrees = dev <= 0.02 && onlyWithBlock && cleanAlways;
  const figures: Record<string, number> = { maxDeviation: dev };
  for (const k of [9, 13]) {
    for (const l of MIGRATION_LINES) {
      const key = l.line.split(" ")[0]!.replace(/[^a-z0-9-]/gi, "");
      figures[`k${k}_${key}${l.minOrder ?? ""}_pSuccessAtX1`] = worst(l.line, k).pSuccess;
    }
  }
  figures.k9_minorder4_pPiecesAtX1 = worst("min-order 4", 9).pPieces;
  figures.k9_minorder2_pPiecesAtX1 = worst("min-order 2", 9).pPieces;
  return {
    verdict: `formula holds: max |measured − formula| = ${dev.toFixed(3)}; dirty-iomap and ` +
      `never-split succeed only with a free order-k block`,
    figures,
    agrees,
    detail: `${rows.length} (panel, line, level) points over fragmented zones (k = 9 at 4 KiB ` +
      `pages, k = 13 at 64 KiB pages), era 6.12. With every free block below order k, the ` +
      `clean folios still leave (split, pieces move), dirty iomap and hugetlb-like folios stay ` +
      `(split refused: ${worst("dirty iomap", 9).splitFailures}), and min-order folios split ` +
      `to order m but their pieces need order-m blocks (P(pieces) at x = 1: m = 2 ` +
      `${worst("min-order 2", 9).pPieces.toFixed(2)}, m = 4 ` +
      `${worst("min-order 4", 9).pPieces.toFixed(2)}).`,
  };
}

function c42(opts: ClaimRunOptions): ClaimOutcome {
  const q = opts.quick ?? false;
  const fractions = q ? [0, 0.5, 1] : [0, 0.25, 0.5, 0.75, 1];
  const n = q ? 16 : 32;
  const sweep = fractions.map((d) =>
    splitAllowedTrial({ folios: n, dirtyFraction: d, seed: opts.seed })
  );
  const dev = Math.max(...sweep.map((r, i) => Math.abs(r.unsplittableFraction - fractions[i]!)));
  const byRelease = sweep.every((r) => r.reasons.release === r.dirty && r.unexpected === 0);
  const mixed = splitAllowedTrial({
    folios: n,
    dirtyFraction: 0.25,
    pinnedFraction: 0.25,
    writebackFraction: 0.25,
    seed: opts.seed,
  });
  const mixedOk = mixed.reasons.release === mixed.dirty && mixed.reasons.refs === mixed.pinned &&
    mixed.reasons.writeback === mixed.writeback && mixed.errnos.EAGAIN === mixed.pinned &&
    mixed.unexpected === 0;
  const mins = ["6.12", "6.19"].flatMap((v) => [2, 4].map((m) => minOrderSplitTrial(v, m)));
  const below = mins.every((m) => m.smallestOrder >= m.minOrder);
  const byEra = mins.every((m) =>
    m.version === "6.12" ? m.ok && m.smallestOrder === m.minOrder : !m.ok && m.errno === "EINVAL"
  );
  const agrees = dev === 0 && byRelease && mixedOk && below && byEra;
  return {
    verdict: `unsplittable fraction = dirty fraction (max |Δ| ${dev}); 100 % below min order ` +
      `(6.12: raised to m, 6.19: -EINVAL); pins -EAGAIN, writeback -EBUSY`,
    figures: {
      maxDeviation: dev,
      folios: n,
      mixedReleaseRefusals: mixed.reasons.release ?? 0,
      mixedRefs: mixed.reasons.refs ?? 0,
      mixedWriteback: mixed.reasons.writeback ?? 0,
      minOrderBelowMin: mins.filter((m) => m.smallestOrder < m.minOrder).length,
      minOrder612Raised: mins.filter((m) => m.version === "6.12" && m.ok).length,
      minOrder619Einval: mins.filter((m) => m.version === "6.19" && m.errno === "EINVAL").length,
    },
    agrees,
    detail: `split_folio on ${n} order-9 iomap folios (4 KiB blocks) per dirty fraction ` +
      `${fractions.join(", ")}: failures ${sweep.map((r) => r.failed).join(", ")}, all ` +
      `"release" (iomap_release_folio refuses dirty folios). Mixed: ${mixed.dirty} dirty → ` +
      `-EBUSY (release), ${mixed.pinned} pinned → -EAGAIN (refs), ${mixed.writeback} under ` +
      `writeback → -EBUSY (writeback). Min order: ` +
      mins.map((m) =>
        `${m.version} m=${m.minOrder}: ${m.ok ? `ok, order ${m.smallestOrder}` : m.errno}`
      ).join("; ") + ".",
  };
}

function c43(opts: ClaimRunOptions): ClaimOutcome {
  const cells = migrateWithoutSplitMatrix(["6.12", "6.16"], opts.quick ? 4 : 9);
  const match = cells.filter((c) =>
    predictMigrateCell(c.fs, c.state, c.version, c.mode) === c.outcome
  );
  const iomap = cells.filter((c) => c.fs === "filemap_migrate_folio");
  const stateMoved = iomap.every((c) => c.stateMoved && !c.split);
  const dirtyIomap = iomap.filter((c) => c.state === "dirty");
  const agrees = match.length === cells.length && stateMoved;
  const fallbackDirty = cells.filter((c) => c.fs === "no ->migrate_folio" && c.state === "dirty");
  return {
    verdict: `as predicted in ${match.length}/${cells.length} cells: dirty iomap folios migrate ` +
      `in every mode and era (state moved); without ->migrate_folio dirty folios get -EBUSY ` +
      `(6.16: every mode; 6.12: written out in MIGRATE_SYNC)`,
    figures: {
      cells: cells.length,
      asPredicted: match.length,
      dirtyIomapMigrated: dirtyIomap.filter((c) => c.outcome === "migrated").length,
      dirtyIomapCells: dirtyIomap.length,
      fallbackDirtyEbusy: fallbackDirty.filter((c) => c.outcome === "EBUSY").length,
      fallbackDirtyWrittenOut: fallbackDirty.filter((c) => c.writtenOut).length,
    },
    agrees,
    detail: cells.filter((c) => c.fs === "no ->migrate_folio" && c.state === "dirty")
      .map((c) => `${c.version} ${c.mode}: ${c.outcome} (${c.calls} call(s))`).join("; ") +
      ". A clean folio without ->migrate_folio migrates after release frees its block state.",
  };
}

function c44(_opts: ClaimRunOptions): ClaimOutcome {
  const rows = splitCostRows();
  const get = (k: number, bs: number, split: string) =>
    rows.find((r) => r.order === k && r.blockSizeBytes === bs && r.split === split)!;
  let ok = true;
  const figures: Record<string, number | string> = {};
  for (const r of rows) {
    const tag = `k${r.order}_bs${r.blockSizeBytes}_${r.split === "uniform" ? "u" : "nu"}`;
    figures[`${tag}_folios`] = r.folios;
    figures[`${tag}_blockStates`] = r.ifsAllocs;
    const folios = r.split === "uniform" ? 1 << r.order : r.order + 1;
    if (r.folios !== folios) ok = false;
    if (r.blockSizeBytes < r.pageSizeBytes && r.ifsAllocs !== folios) ok = false;
    if (r.kernel !== "EBUSY") ok = false;
  }
  const eq = get(9, 4096, "uniform"), eqn = get(9, 4096, "non-uniform");
  return {
    verdict: `k=9: ${get(9, 1024, "uniform").folios} vs ${get(9, 1024, "non-uniform").folios} ` +
      `folios and block states (1 KiB blocks); k=13 (64 KiB pages): ` +
      `${get(13, 4096, "uniform").ifsAllocs} vs ${get(13, 4096, "non-uniform").ifsAllocs}; ` +
      `with 4 KiB blocks on 4 KiB pages ${eq.ifsAllocs} vs ${eqn.ifsAllocs} block states`,
    figures,
    agrees: ok,
    detail: `Measured from real splits (split.ts) of an order-k folio with every other block ` +
      `dirty, isolating page 5, keeping the block state (iomap_split.ts; today's kernel refuses: ` +
      `split_folio → ${eq.kernel}). Refinement: a single-block folio needs no ` +
      `iomap_folio_state (ifs_alloc returns early when nr_blocks ≤ 1), so with block size = ` +
      `page size the uniform split costs ${eq.folios} folios but ${eq.ifsAllocs} block states, ` +
      `the non-uniform one ${eqn.folios} folios and ${eqn.ifsAllocs} block states (orders 8…1).`,
  };
}

function c45(opts: ClaimRunOptions): ClaimOutcome {
  const L = { kind: "fixed", ns: 5_000_000 } as const;
  const modes = ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"] as const;
  const wb = modes.map((m) => unmovableModeRow("writeback", m, L, opts.seed));
  const ra = modes.map((m) => unmovableModeRow("readahead", m, L, opts.seed));
  const wbOk = !wb[0]!.isolatedByAsyncCompaction && wb[0]!.rc === "EBUSY" &&
    wb[1]!.rc === "EBUSY" && wb[2]!.rc === "MIGRATEPAGE_SUCCESS" && wb[2]!.timeNs >= L.ns;
  const raOk = ra[1]!.rc === "EAGAIN" && ra[0]!.rc === "EAGAIN" &&
    ra[2]!.rc === "MIGRATEPAGE_SUCCESS" && ra[2]!.timeNs >= L.ns;
  const never = { kind: "never" } as const;
  const hung = (["cma", "offline"] as const).flatMap((driver) =>
    (["writeback", "readahead"] as const).map((kind) =>
      contigUnderIoTrial({
        driver,
        kind,
        share: 1 / 16,
        latency: never,
        deadlineNs: 50_000_000,
        seed: opts.seed,
      })
    )
  );
  const free = contigUnderIoTrial({
    driver: "offline",
    kind: "writeback",
    share: 0,
    latency: never,
    deadlineNs: 50_000_000,
    seed: opts.seed,
  });
  const hungOk =
    hung.every((h) => !h.returned && h.waitKind === "hung" && /FUSE_(WRITE|READ)/.test(h.waits)) &&
    free.success;
  const agrees = wbOk && raOk && hungOk;
  return {
    verdict: `writeback: async compaction skips, ASYNC/SYNC_LIGHT -EBUSY, SYNC waits; locked ` +
      `!uptodate: SYNC_LIGHT gives up, SYNC waits; L = ∞: CMA and offlining never return ` +
      `(${hung.filter((h) => !h.returned).length}/${hung.length} hung with a wait-for report)`,
    figures: {
      wbAsyncCompactionIsolates: wb[0]!.isolatedByAsyncCompaction,
      wbAsync: wb[0]!.rc,
      wbSyncLight: wb[1]!.rc,
      wbSync: wb[2]!.rc,
      wbSyncWaitMs: wb[2]!.timeNs / 1e6,
      raAsync: ra[0]!.rc,
      raSyncLight: ra[1]!.rc,
      raSync: ra[2]!.rc,
      hungNeverReturned: hung.filter((h) => !h.returned).length,
      hungTrials: hung.length,
      freeRangeOk: free.success,
    },
    agrees,
    detail: `FUSE server latency 5 ms for the mode table; L = ∞ with 1/16 of the pageblock ` +
      `under I/O: ${hung[0]!.waits.split("\n").slice(0, 3).join(" ")}`,
  };
}

/**
 * The claims of thread 004, C4.1–C4.5.
 *
 * @example
 * ```ts
 * import { thread004Claims } from "@mmsim/mmsim";
 * if (thread004Claims.map((c) => c.id).join() !== "C4.1,C4.2,C4.3,C4.4,C4.5") throw new Error();
 * ```
 */
export const claims: Claim[] = [
  {
    id: "C4.1",
    thread: "004",
    by: DAVID,
    statement: "Migrating an order-k folio needs an order-k destination; if that allocation " +
      "fails (-ENOMEM), the kernel splits the folio and migrates the pieces (not for NUMA " +
      "hinting). So P(success) = P(free order-k block) + P(no block) · P(split allowed) · " +
      'P(all pieces move): "failing to split large folios can prevent migration if memory is ' +
      'fragmented."',
    assumptions: [
      "a zone of pageblocks of order k (k = 9 at 4 KiB pages: 32 × 2 MiB; k = 13 at 64 KiB: " +
      "8 × 512 MiB); R = 4 (k = 9) or 2 (k = 13) order-k folios of one iomap file at the " +
      "bottom; the rest filled and fragmented by fragment.ts, leaving 8 (resp. 4) pageblocks " +
      "of free memory, a share x of it in blocks below order k",
      "the folios' pageblocks isolated and migrated out offline_pages-style (MIGRATE_SYNC, " +
      "MR_MEMORY_HOTPLUG) in passes 10 ms apart until done or the 100 ms deadline",
      "lines: clean; dirty (a 12 KiB write: block state, PG_dirty); min order 2 / 4 (block " +
      "size 16 / 64 KiB at 4 KiB pages, 256 KiB / 1 MiB at 64 KiB — beyond XFS's limit, shown " +
      "for the mechanism); hugetlbfs-like (min = max order)",
      "terms measured per folio: its first order-k destination request found a block; it was " +
      "split; every page left the block",
    ],
    era: "v6.12 (min order silently raised; no non-uniform split in migration)",
    expected: "measured P(success) = formula within 0.02 on every line; dirty iomap and " +
      "never-split succeed only with a free order-k block; clean folios always",
    run: c41,
  },
  {
    id: "C4.2",
    thread: "004",
    by: DAVID,
    statement: '"XFS (IOMAP in general) refuses to split folios that are dirty": a split ' +
      "releases the folio's private data first and iomap_release_folio refuses dirty folios " +
      "(-EBUSY); a split below the mapping's minimum order fails (-EINVAL); extra references " +
      "(-EAGAIN) and writeback (-EBUSY) block it too. Predict: unsplittable fraction = dirty " +
      "fraction on iomap; 100 % below the minimum order.",
    assumptions: [
      "order-9 folios of an iomap file with 4 KiB blocks, written whole and written back " +
      "(clean, block state attached), then a share dirtied by a one-block write",
      "split_folio (to order 0, what try_split_folio calls) with the caller's reference held",
      "min order: block size page << m, split_folio in v6.12 (target raised silently) and " +
      "v6.19 (model switch for Zi Yan's late-2025 fix: -EINVAL)",
    ],
    era: "v6.12 and the late-2025 min-order change",
    expected: "unsplittable fraction = dirty fraction exactly; no folio below min order in " +
      "either era (6.12 raised, 6.19 -EINVAL); pins -EAGAIN, writeback -EBUSY",
    run: c42,
  },
  {
    id: "C4.3",
    thread: "004",
    by: WILLY,
    statement: "\"That problem doesn't arise for migration. filemap_release_folio() is only " +
      "called by fallback_migrate_folio(), which is only called if the filesystem doesn't " +
      "provide a ->migrate_folio callback. All iomap users should use filemap_migrate_folio() " +
      'which just has to move the data structure from the old folio to the new." Without ' +
      '->migrate_folio, dirty folios get -EBUSY in every mode since "migrate: Remove call to ' +
      '->writepage" (2025); before, MIGRATE_SYNC wrote them out.',
    assumptions: [
      "one order-9 iomap folio (1 KiB blocks, so it carries an iomap_folio_state), clean or " +
      "dirty, a free order-9 destination; the same filesystem with and without " +
      "->migrate_folio = filemap_migrate_folio",
      "migrate_pages(MR_COMPACTION) in each mode, retried once by the caller after -EAGAIN",
      "v6.12 (writeout) and v6.16 (-EBUSY); block device latency 100 µs",
      "the model's writeout() writes through ->writepages (migrate_folio.ts divergence): a " +
      "v6.12 filesystem with neither ->migrate_folio nor ->writepage would get -EINVAL instead",
    ],
    era: "v6.12 vs v6.16",
    expected: "every cell as predicted: iomap migrates (state moved) always; no ->migrate_folio " +
      "+ dirty: -EBUSY, except 6.12 MIGRATE_SYNC: written out, then migrated",
    run: c43,
  },
  {
    id: "C4.4",
    thread: "004",
    by: WILLY,
    statement: '"If we split the folio, we have to allocate an extra data structure for each ' +
      "new folio that we create. It's not impossible, but it's a big ask for slab. It'll be " +
      "a lot better once Zi Yan's patch is in to only split folios as needed rather than all " +
      'the way." Isolating one page: uniform 2^k folios vs non-uniform k+1 (k = 9: 512 vs ' +
      "10; k = 13 at 64 KiB pages: 8192 vs 14).",
    assumptions: [
      "an order-k iomap folio with every other block dirty, split around page 5 to order 0, " +
      "its block state carried to the new folios (what iomap would need to split dirty folios)",
      "a new folio needs a block state if it has more than one block and mixed bits",
      "cases: k = 4 and 9 at 4 KiB pages with 1 KiB blocks, k = 9 with 4 KiB blocks, k = 13 " +
      "at 64 KiB pages with 4 KiB blocks",
    ],
    era: "v6.15+ (folio_split) vs uniform split",
    expected: "folios 2^k vs k+1; block states 2^k vs k+1 when blocks are smaller than pages",
    run: c44,
  },
  {
    id: "C4.5",
    thread: "004",
    by: DAVID,
    statement: '"in context of FUSE we recently discovered that folios that are under ' +
      "writeback cannot be migrated, and user space in control of when writeback will end. " +
      "Something similar can happen ->readahead() where user space is in charge of supplying " +
      'page content." Async compaction skips writeback folios; SYNC_LIGHT -EBUSY; only SYNC ' +
      "waits; locked !uptodate folios: SYNC_LIGHT gives up; with L = ∞ CMA allocation and " +
      "offlining never finish.",
    assumptions: [
      "one FUSE file (v6.16 design: PG_writeback held until the WRITE reply), one server " +
      "thread; readahead folios locked and !uptodate until the READ reply",
      "mode table with a 5 ms server latency; CMA (alloc_contig_range) and offline_pages of " +
      "the pageblock holding the file, 1/16 of it under I/O, server latency ∞",
    ],
    era: "v6.16",
    expected: "Always: skip/-EBUSY/-EBUSY/waits for writeback; gives up/waits for locked " +
      "!uptodate; L = ∞ → never returns, reported as hung with a wait-for chain",
    run: c45,
  },
];

/**
 * The claims of thread 004 under a name of their own (`claims` is the name all.ts imports).
 *
 * @example
 * ```ts
 * import { thread004Claims } from "@mmsim/mmsim";
 * if (thread004Claims.length !== 5) throw new Error();
 * ```
 */
export const thread004Claims: readonly Claim[] = claims;
