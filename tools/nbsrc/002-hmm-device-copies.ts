/**
 * Source of `notebooks/002-hmm-device-copies.ipynb` (thread 002: page-cache pages on a device —
 * Jan Kara's A/A' copy protocol vs Jérôme Glisse's migrate and bounce, December 2016).
 * Regenerate the notebook with `deno run --allow-read --allow-write=notebooks tools/nbgen.ts`.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

const LORE = "https://lore.kernel.org/linux-fsdevel/?q=";

/** The notebook's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # Thread 002 — page-cache pages on a device: the A/A' copy protocol vs migrate vs bounce (2016)

    In December 2016 Jérôme Glisse's HMM work (heterogeneous memory management: a device such
    as a GPU that mirrors a process's address space and has memory of its own) reached the
    question of file-backed pages: what happens when the device uses a page-cache page? Jan
    Kara (linux-fsdevel, 14 Dec 2016; [search lore for his message](${LORE}%22Possibly+if+we+just+give+it+the+page+read-only%22))
    proposed to leave page A in the page cache and give the device a copy A': the device's
    first touch faults, the CPU write-protects all CPU mappings of A, copies A to A' and maps
    A' read-only; a device write faults again, and the CPU removes all mappings of A and marks
    it not uptodate and dirty; any CPU access caught in \`->readpage(s)\`, \`->writepage(s)\`,
    mmap faults and kmap users write-protects A', copies it back and marks A uptodate. "It is
    so transparent that even direct IO works with this since the page cache invalidation pass
    we do before actually doing the direct IO will make sure to pull all the pages from the
    device."

    Jérôme agreed that devices obey the CPU's rules — a write to a read-only file page faults
    and reaches \`page_mkwrite()\` — but "once a page has write permission there is no way to be
    notify by hardware on every write", with up to 10,000 device threads. He wants device
    pages to behave like regular pages, handling the file read/write paths "either by migrating
    back or by using bounce page", and to "provide the choice between the two solutions as one
    will be better for some workload and the other for different workload". Upstream
    device-private migration is still **anonymous-only** (mm/migrate_device.c: "For now only
    support anonymous memory migrating to device private or coherent memory"), so this notebook
    checks designs — Jan's protocol and file-backed migration — not today's kernel.

    The model (lib/dev): a device with its own memory and page table, many device threads
    whose loads and stores fault on missing or read-only entries, invalidations that wait for
    accesses in flight; the protocols as wrappers around a simple block filesystem's
    \`address_space_operations\`; an oracle that follows the latest version of the page and
    counts stale reads and stale writebacks; a checker for the state A dirty && !uptodate.
    Every cell imports only \`../mod.ts\`.
  `),
  code(`
    import * as mm from "../mod.ts";
    const SEED = 1;
    const EXECUTIONS = 300; // per search (random and PCT) for the explorations below
    const registry = mm.allClaims();
    /** Run a claim as the registry does (full size) and throw unless it agrees. */
    async function check(id: string) {
      const r = await mm.runClaim(registry.get(id)!, { seed: SEED });
      const exact = r.expected === "Never" || r.expected === "Always" || r.expected === "Sometimes";
      if (!r.agrees || (exact && r.verdict !== r.expected)) {
        throw new Error(\`\${id}: computed "\${r.verdict}", registry expects "\${r.expected}" — \${r.detail ?? ""}\`);
      }
      return mm.table([{ claim: id, verdict: r.verdict, expected: r.expected, agrees: r.agrees }]);
    }
  `),
  md(`
    ## C2.1 — single writer and freshness under Jan's protocol

    > "When the device wants to access A', it notifies the CPU, that writeprotects all mappings
    > of A, copy A to A' and map A' read-only for the device. When the device wants to write to
    > A', it notifies CPU, that will clear all mappings of A and mark A as not-uptodate & dirty.
    > When the CPU will then want to access the data in A again … it will writeprotect A' in
    > the device, copy data to A, mark A as uptodate & dirty" — Jan Kara

    Claim: A is never writable on the CPU while A' is writable on the device; whenever A is
    uptodate it holds the last value written by either side; no read is stale, across all
    schedules, including writeback and direct I/O. The world: one file page; four device
    threads storing, one loading; a CPU task loading then storing through a shared mapping, a
    reader doing read(2), a writer doing write(2), fsync, a direct read; a final sync checks
    that storage holds the latest version. Explored under random and PCT schedules with random
    think times, with the mm checker (A's mapping exempt from dirty-not-uptodate) and the C2.5
    checker installed. First one execution, traced:
  `),
  code(`
    const traced = mm.replay(mm.hmmScenario({ deviceWriters: 2 }, mm.emptyTally()), { seed: SEED, schedule: "fifo" });
    const shown = new Set(["hmm_device_fault", "hmm_mkwrite", "hmm_take_back", "hmm_device_invalidate",
      "hmm_device_store", "hmm_device_load", "page_fault_user", "folio_start_writeback", "generic_perform_write",
      "user_store", "filemap_read", "iomap_dio_rw_begin"]);
    await mm.show(mm.swimLanes(traced.trace!, { kinds: (k) => shown.has(k), lanes: (l) => !l.startsWith("sda") && !l.startsWith("simplefs") && !l.startsWith("blk"),
      title: "Jan's protocol in one execution (fifo): device faults, write notifications, copies back" }));
  `),
  code(`
    const c21 = mm.exploreHmm({ variant: "full", illegalStateChecker: true, deviceWriters: 4 }, { seed: SEED, executions: EXECUTIONS });
    await mm.show(mm.hmmExplorationFigure(c21, "C2.1: Jan's full protocol — what happened, in how many executions"));
    await mm.show(mm.table([c21.tally].map((t) => ({ executions: t.executions, operations: t.ops,
      "two writers": t.twoWriters, "uptodate, not latest": t.uptodateNotLatest, "stale reads": t.staleReads,
      "stale writebacks": t.staleWritebacks, "device write episodes": t.writeEpisodes }))));
  `),
  code(`
    await mm.show(await check("C2.1"));
  `),
  md(`
    ## C2.2 — the write notification is necessary

    > "Can the device notify us *before* it is going to modify a page, not just after it has
    > modified it?" — Jan Kara. "But once a page has write permission there is no way to be
    > notify by hardware on every write." — Jérôme Glisse

    Claim: without the notification (the device gets A' writable while A stays mapped and
    uptodate) some schedules persist stale A or return stale data; with it, exactly one mkwrite
    event per device write episode (the stores between two write-protects of A') and no stale
    event. Figure B: stale reads and stale writebacks per 10⁶ operations for the four protocol
    variants, under the same exploration — only "full" may be at zero. "No DIO invalidation" is
    a direct I/O path without the flush/invalidate pass; "no writeback hook" is the generic
    \`mpage_writepages\` without the copy back (and no \`->launder_folio\`).
  `),
  code(`
    const variants = mm.HMM_VARIANTS.map((variant) =>
      variant === "full" ? c21 : mm.exploreHmm({ variant, deviceWriters: 4 }, { seed: SEED, executions: EXECUTIONS }));
    await mm.show(mm.hmmStaleFigure(mm.hmmStaleRows(variants)));
  `),
  md(`
    Per device write episode: faults, copies and write notifications. With the notification
    every episode has exactly one mkwrite event (the dashed line); without it, none.
  `),
  code(`
    await mm.show(mm.hmmEpisodeFigure(mm.hmmEpisodeRows(variants.slice(0, 2))));
    await mm.show(mm.table(variants.map((x) => ({ variant: x.config.variant, episodes: x.tally.writeEpisodes,
      "0 mkwrite": x.tally.episodesByMkwrite[0], "1 mkwrite": x.tally.episodesByMkwrite[1],
      "≥2 mkwrite": x.tally.episodesByMkwrite[2], "stale reads": x.tally.staleReads,
      "stale writebacks": x.tally.staleWritebacks }))));
  `),
  code(`
    await mm.show(await check("C2.2"));
  `),
  md(`
    ## C2.3 — no universal winner

    > "I want to provide the choice between the two solutions as one will be better for some
    > workload and the other for different workload." — Jérôme Glisse

    Each strategy runs the same sequence of operations on one page: a CPU touch with
    probability r (read(2) 40%, write(2) 10%, mmap load 30%, mmap store 20% — a modelling
    choice), otherwise a device access, a store with probability w. The runs count copies and
    faults (CPU page faults, device faults, device invalidations); cost = bytes copied / copy
    bandwidth + faults × 5 µs per operation. Copy (A') keeps both copies, so read sharing is
    free, but pays a write notification per episode and two invalidations on a CPU store;
    migrate moves the page back and forth on every alternation; bounce copies syscall data
    through a bounce buffer without moving the page, and migrates for mmap. Grey cells: ties
    (r = 0 or 1, where nothing alternates).
  `),
  code(`
    const runs = mm.hmmCostSweep({ gridSteps: 11, ops: 600, seed: SEED });
    const cells = [4, 16, 64].flatMap((bw) => mm.hmmCheapest(runs, { faultCostNs: 5_000, copyBandwidthGBps: bw }));
    await mm.show(mm.hmmCostFigure(cells));
  `),
  code(`
    const winRows = [4, 16, 64].flatMap((bw) => Object.entries(mm.hmmWins(cells.filter((c) => c.copyBandwidthGBps === bw)))
      .map(([ps, w]) => ({ "copy GB/s": bw, page: \`\${Number(ps) / 1024} KiB\`, ...w })));
    await mm.show(mm.table(winRows, { title: "grid cells won outright (of 121), per bandwidth and page size" }));
  `),
  md(`
    Bounce wins where device writes alternate with CPU syscalls (no fault, one copy, the page
    stays on the device); copy wins where the device mostly reads (A' stays valid) or copies are
    expensive (64 KiB pages, slow links); migrate wins only a thin band at high r and high w —
    long CPU runs after a device write, where one migration back makes the next CPU touches
    free while bounce pays a copy per read(2) and copy pays a notification per episode. At
    4 KiB with the claim's model (16 GB/s, 5 µs per fault) migrate never wins outright: bounce
    dominates it there, so "each is cheapest somewhere" holds at 64 KiB.
  `),
  code(`
    await mm.show(await check("C2.3"));
  `),
  md(`
    ## C2.4 — direct I/O through the invalidation pass

    > "It is so transparent that even direct IO works with this since the page cache
    > invalidation pass we do before actually doing the direct IO will make sure to pull all the
    > pages from the device and write them to disk if needed." — Jan Kara

    First the sequence: the device stores, then a direct read (iomap: \`kiocb_write_and_wait\`);
    a direct write (\`kiocb_invalidate_pages\` before, invalidation after), then a device load
    and a read(2). Then device threads store (each store pinning the device page for 2 µs)
    while a direct write runs: how often must the pass take the page back from the device,
    and how often can it not?
  `),
  code(`
    const seqs = (["copy", "migrate", "bounce"] as const).flatMap((s) =>
      (["full", "no writeback hook", "no DIO invalidation"] as const).map((v) => mm.dioSequence(s, v)));
    await mm.show(mm.table(seqs.map((d) => ({ strategy: d.strategy, variant: d.variant, "device stored": d.deviceTag,
      "direct read got": d.dioReadTag, "read fresh": d.dioReadFresh, "direct write seen": d.dioWriteSeen,
      "fell back to buffered": d.fellBack }))));
  `),
  code(`
    const inval = (["copy", "migrate", "bounce"] as const).map((s) => mm.exploreDioInvalidation(s, { seed: SEED, executions: 300 }));
    await mm.show(mm.hmmDioFigure(inval));
  `),
  md(`
    Jan's copy never fails the pass: write-protecting A' waits for stores in flight, and a copy
    can always be dropped. Migration cannot move a device page that is pinned by an access in
    flight (\`migrate_vma\` skips pages with extra references): the invalidation fails with
    -EBUSY and the direct write falls back to buffered I/O (the kernel's -ENOTBLK). Without the
    copy-back hook, or without the pass, the direct read returns storage's old data.
  `),
  code(`
    await mm.show(await check("C2.4"));
  `),
  md(`
    ## C2.5 — the illegal state A dirty && !uptodate

    > "When the CPU will then want to access the data in A again - we need to catch ->readpage,
    > ->readpages, ->writepage, ->writepages" — Jan Kara

    Claim: while A is dirty and not uptodate, any generic path other than the intercepted ones
    that reads A or writes it back — splice read, generic writeback, a fault that maps A — is a
    violation, and the checker flags it. Four explorations with the checker: the full protocol;
    the full protocol plus a task that splices A into a pipe and reads the pipe later; no
    writeback hook; no read hook (the filesystem's own \`->read_folio\` is what a fault or
    read(2) of a !uptodate page calls).
  `),
  code(`
    const ill = [
      ["full", c21],
      ["full + splice", mm.exploreHmm({ splice: true, illegalStateChecker: true }, { seed: SEED, executions: 150 })],
      ["no writeback hook", mm.exploreHmm({ variant: "no writeback hook", illegalStateChecker: true }, { seed: SEED, executions: 150 })],
      ["no read hook", mm.exploreHmm({ variant: "no read hook", illegalStateChecker: true }, { seed: SEED, executions: 150 })],
    ] as const;
    await mm.show(mm.hmmIllegalStateFigure(mm.hmmIllegalRows(ill)));
    await mm.show(mm.table([{ "splice reads that got -EIO": ill[1][1].tally.spliceErrors, "of executions": ill[1][1].tally.executions }]));
  `),
  md(`
    A finding: splice is flagged **under the full protocol**. A pipe buffer takes a reference
    to A while it is uptodate; when the device's write notification makes A !uptodate before
    the pipe is read, \`page_cache_pipe_buf_confirm\` returns -EIO to the reader. No
    address-space wrapper sees it — the protocol would need a hook in the pipe buffer
    operations too. A fault never maps A directly: \`filemap_fault\` and fault-around skip
    !uptodate folios, so a fault reaches A through \`->read_folio\`, which is what the "no read
    hook" control flags (storage's data would replace the device's).
  `),
  code(`
    await mm.show(await check("C2.5"));
  `),
  md(`
    ## What happened upstream

    - **2017:** HMM merged (v4.14): \`hmm_range_fault()\`-style mirroring of CPU page tables,
      un-addressable device memory as a ZONE_DEVICE type (MEMORY_DEVICE_PRIVATE, with
      \`dev_pagemap_ops->migrate_to_ram\` on a CPU touch), and a coherent "device public" type
      that was later removed.
    - **2022:** the \`migrate_vma_*\` code moved to mm/migrate_device.c (Christoph Hellwig,
      February); MEMORY_DEVICE_COHERENT added (Alex Sierra, July; v6.0).
    - **Still today:** device-private and device-coherent migration support **anonymous memory
      only** — a page with a mapping is skipped ("For now only support anonymous memory
      migrating to device private or coherent memory"); a 2025 patch (Mika Penttilä) only adds
      dropping the swap cache of anonymous folios.
    - **Device-exclusive entries** (\`make_device_exclusive\`, for device atomics) are the
      closest thing to "the device asks the CPU first"; David Hildenbrand's "mm: fixes for
      device-exclusive entries (hmm)" (v1 29 January 2025, in mm-stable for 6.15) found they
      broke migration, swap-out, split and hwpoison while present.
    - **Direct I/O:** the invalidation helper \`kiocb_invalidate_pages()\` was added in 2023
      (Christoph Hellwig).
    - **Verdict:** neither Jan's transparent copy scheme nor file-backed device migration was
      merged. The kernel keeps page-cache pages in system memory and lets devices mirror them
      (\`hmm_range_fault\` + MMU notifiers). That follows Jérôme's caution about file paths more
      than it tests Jan's design, so C2.1/C2.2 above are a design check: the protocol is sound
      in this model with the write notification and the wrappers, and the model finds one
      path the wrappers miss (splice pipe buffers).

    The same world under upstream's design, side by side with the 2016 proposals: "mirror"
    maps A itself on the device (no copy), read-only until a device write faults through the
    write-notify path (\`->page_mkwrite\`), and writeback's \`folio_mkclean\` write-protects the
    device mapping through its MMU notifier. No device memory is used, no page is copied; the
    cost it moves elsewhere — every device access crosses the interconnect — is not in this
    model, which is why it is not in the C2.3 heatmap.
  `),
  code(`
    const designs = [
      ["2016: copy A/A' (Jan Kara)", c21],
      ["2016: migrate (Jérôme Glisse)", mm.exploreHmm({ strategy: "migrate", deviceWriters: 4 }, { seed: SEED, executions: 150 })],
      ["2016: bounce (Jérôme Glisse)", mm.exploreHmm({ strategy: "bounce", deviceWriters: 4 }, { seed: SEED, executions: 150 })],
      ["upstream: mirror (hmm_range_fault)", mm.exploreHmm({ strategy: "mirror", deviceWriters: 4, illegalStateChecker: true, splice: true }, { seed: SEED, executions: 150 })],
    ] as const;
    await mm.show(mm.table(mm.hmmSummaryRows(designs), { digits: 2, title: "the C2.1 world under each design" }));
    await mm.show(mm.hmmEpisodeFigure(mm.hmmEpisodeRows(designs.map(([, x]) => x), (x) => x.config.strategy),
      "Per device write episode, by design (mirror: upstream)"));
  `),
  code(`
    const all = await mm.runClaims(registry, { seed: SEED, ids: ["C2.1", "C2.2", "C2.3", "C2.4", "C2.5"] });
    await mm.show(mm.table(all.map((r) => ({ claim: r.id, by: r.by, verdict: r.verdict, agrees: r.agrees }))));
    if (all.some((r) => !r.agrees)) throw new Error("a thread 002 claim disagrees");
  `),
];
