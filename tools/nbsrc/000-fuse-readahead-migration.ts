/**
 * Source of `notebooks/000-fuse-readahead-migration.ipynb` (thread 000, claims C0.1–C0.5).
 * Regenerate with `deno run --allow-read --allow-write=notebooks tools/nbgen.ts`.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

/** The notebook's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # Thread 000 — FUSE readahead folios, migration, late allocation and splice (Jan 2025)

    In the review of Joanne Koong's series "[PATCH v6 4/5] mm/migrate: skip migrating folios
    under writeback with AS_WRITEBACK_INDETERMINATE mappings" (linux-fsdevel, 14 January 2025;
    [the thread on lore](https://lore.kernel.org/linux-fsdevel/?q=s%3A%22skip+migrating+folios+under+writeback%22))
    Miklos Szeredi suggested that migration call back into "problematic" filesystems such as
    FUSE, and argued that this is safe for reads: readahead folios start out locked and not
    uptodate, and a reader that finds such a folio unlocked but still not uptodate retries the
    read, so an unfilled folio could be migrated or thrown away. Better still, the page could be
    allocated only when the data arrives, if the page cache could track "under construction"
    ranges without a locked placeholder folio.

    Bernd Schubert answered that late allocation is easy when the server replies by writing to
    /dev/fuse, but that splice needs a real page with a defined state, and asked what a
    temporary-page copy gains over a /dev/fuse buffer copy. Miklos called splice a dead end that
    has to stay for compatibility, and added later the same day that splice already leaves
    page-cache pages referenced for an unbounded time, which blocks migration too. This notebook
    reproduces the five claims of CLAIMS.md (C0.1–C0.5) with the FUSE read side of mmsim
    (\`lib/fs/fuse_read.ts\`, \`lib/fs/fuse_splice.ts\`) and the two proposals as options:
    the migration hook (\`->abandonFolio\`, \`lib/mm/abandon_read.ts\`) and the
    under-construction tracker (\`lib/mm/construct_range.ts\`). Every number below is computed
    by simulation from seed 1.
  `),
  code(`
    import * as mm from "../mod.ts";
    const seed = 1;
    const size = "notebook" as const;
    const claim = (id: string) => mm.allClaims().get(id)!;
    const check = (id: string, ev: { agrees: boolean; verdict: string; detail: string }) => {
      if (!ev.agrees) throw new Error(\`\${id} no longer agrees with "\${claim(id).expected}": \${ev.verdict} — \${ev.detail}\`);
      return \`\${id}: \${ev.verdict} — agrees with "\${claim(id).expected}"\`;
    };
  `),
  md(`
    ## C0.1 — the lock blocks migration

    > A page-cache folio that is locked and not uptodate while a FUSE_READ is outstanding cannot
    > be migrated: MIGRATE_ASYNC returns at once with a failure; MIGRATE_SYNC_LIGHT also gives up,
    > because it will not wait on a locked folio that is not uptodate; MIGRATE_SYNC blocks until
    > the server replies. With L = ∞, the probability that a pageblock holding such a folio is
    > freed within any deadline is 0.

    Setup: one readahead folio per design, one \`migrate_pages\` call per mode (server latency
    5 ms and ∞). Then Plot A: 8 target pageblocks, each holding a FUSE file with a 16-page
    readahead READ outstanding; each block is isolated and a driver migrates its folios (again
    every 10 ms in ASYNC/SYNC_LIGHT; SYNC sleeps on the lock) until the 100 ms deadline.
  `),
  code(`
    const ev01 = mm.c01Evidence({ seed, size });
    await mm.show(mm.modeTableFigure(ev01.data.modeTable));
  `),
  code(`
    await mm.show(mm.plotAFigure(ev01.data.plotA));
    const hungSync = ev01.data.modeTable.find((r) => r.design === "locked placeholder" && r.mode === "MIGRATE_SYNC" && r.latency === "∞")!;
    console.log(hungSync.waits);
  `),
  code(`
    await mm.show(mm.table(ev01.data.hung.map((h) => ({ mode: h.mode, "deadline (s)": h.deadlineNs / 1e9, freed: h.freed, blocks: h.blocks })), { title: "L = ∞: placeholder pageblocks freed" }));
    await mm.show(check("C0.1", ev01));
  `),
  md(`
    ## C0.2 — retry semantics make abandonment safe

    > "If a page is unlocked but not set uptodate, then caller is supposed to retry the reading
    > … This means that it's fine to migrate the page before it's actually filled with data,
    > since the caller will retry." (Miklos Szeredi)

    The hook abandons an unfilled readahead folio — unlocks it without PG_uptodate, or removes it
    from the page cache — drops the request's reference and marks the slot so that the late
    reply is dropped. The world: a reader brings page 0 of file A in by readahead; a migrator
    isolates and migrates the placeholder; a reader of file B (another mount) allocates in nearly
    full memory and so tends to reuse the abandoned frame. Every schedule the search reaches is
    checked: a reader result that differs from the server's storage is a stale read. Two more
    variants make the server fail the retried read (the reader must then get -EIO, never zeros),
    and the negative control copies the late reply into the frame anyway. (The full run, \`deno task
    reproduce\`, explores every schedule without preemptions exhaustively; the notebook samples
    600 random schedules per variant.)
  `),
  code(`
    const ev02 = mm.c02Evidence({ seed, size });
    await mm.show(mm.staleReadsFigure(ev02.data.explorations));
  `),
  md(`
    The first failing schedule of the negative control, shrunk: the late reply of the abandoned
    READ lands in a frame that was freed and reused.
  `),
  code(`
    const neg = Object.entries(ev02.data.explorations).find(([k]) => k.includes("copied"))![1];
    const cx = neg.counterexample!;
    console.log(cx.why);
    await mm.show(mm.swimLanes(cx.trace, { title: "negative control: the late reply writes into a reused frame" }));
    await mm.show(check("C0.2", ev02));
  `),
  md(`
    One finding on the way: the hook can only abandon *readahead* folios. A folio read through
    \`->read_folio\` (\`fuse_read_folio\`) is locked by the reading task, which marks it
    uptodate and unlocks it itself after the synchronous reply; there is no request to take the
    folio from, and unlocking it under the reader would make its own \`folio_unlock\` hit an
    unlocked folio. So a migration that meets such a folio still follows the mode rules of C0.1
    (tests/unit/fs/fuse_read_test.ts checks this).

    ## C0.3 — late allocation

    > "It would be sufficient to allocate the page itself just before filling it in, if there
    > was a mechanism to keep track of these 'not yet filled' pages."

    Streaming readers (1000 pages/s each) with a fixed server latency L; sampled every 1 ms:
    page-cache folios locked and not uptodate whose lock a READ holds, pages of outstanding
    readahead READs, pages under construction.
  `),
  code(`
    const ev03 = mm.c03Evidence({ seed, size });
    await mm.show(mm.growthFigure000(ev03.data.points, ev03.data.fit));
  `),
  code(`
    const streams = (["locked placeholder", "late allocation", "splice"] as const).map((design) =>
      mm.streamingRead({ design, streams: 2, latency: { kind: "fixed", ns: 5e6 }, durationNs: 100e6, seed }));
    await mm.show(mm.plotBFigure(streams));
    await mm.show(mm.table(streams.map((r) => ({ design: r.config.design, "mean locked": r.meanLocked, "mean outstanding RA pages": r.meanOutstanding, "mean under construction": r.meanUnderConstruction, "mean pipe frames": r.meanPipeFrames, "stale reads": r.staleReads }))));
    await mm.show(check("C0.3", ev03));
  `),
  md(`
    ## C0.4 — splice pins

    > "With splice you really need a page state." (Bernd Schubert) — and, later the same day,
    > splice leaves page-cache pages referenced for an unbounded time (Miklos Szeredi).

    Two paths: \`fuse_dev_splice_write\` → \`fuse_try_move_folio\` replaces the locked
    placeholder by the server's page (so the placeholder exists and stays locked until the reply,
    Plot B's splice panel), and \`fuse_dev_splice_read\` → \`fuse_ref_folio\` hands a WRITE's
    page-cache pages to the server by reference. Below: a page written through to a server that
    reads the WRITE with splice and keeps its pipe 20 ms after replying, and the same with
    read(2); MIGRATE_ASYNC is tried every millisecond.
  `),
  code(`
    const ev04 = mm.c04Evidence({ seed, size });
    await mm.show(mm.pipeHoldFigure([ev04.data.pipe.splice, ev04.data.pipe.copy]));
    console.log(\`splice-move: \${ev04.data.splice.movedPages} pages moved; shortest placeholder lock \${ev04.data.splice.minPlaceholderLockedNs / 1e6} ms\`);
    console.log(\`splice into construct ranges (not in any kernel): max locked \${ev04.data.spliceLate.maxLocked}, stolen pages inserted \${ev04.data.spliceLate.stolenInserted}\`);
  `),
  md(`
    The placeholder requirement comes from \`replace_page_cache_folio()\`, which replaces a
    page-cache folio rather than inserting one: a variant that inserts the stolen page into an
    under-construction range holds no locked folio at all. Bernd's "page state" remark also fits
    the other direction: \`page_cache_pipe_buf_confirm\` rejects a page that is not uptodate.

    The move path also had a use-after-free: \`fuse_try_move_folio()\` unlocks the request on
    entry and did not lock it again before \`replace_page_cache_folio()\`, so
    \`fuse_abort_conn()\` could end the request (freeing its \`fuse_io_args\`) while the copy
    went on. The fix (Joanne Koong, "fuse: re-lock request before replacing page cache folio",
    [posted 19 May 2026](https://lore.kernel.org/all/20260519052807.1924269-1-joannelkoong@gmail.com/),
    Fixes: ce534fb05292) takes \`lock_request()\` first. Both versions, explored exhaustively
    within two preemptions:
  `),
  code(`
    await mm.show(
      mm.explorationSummary(ev04.data.abort.unfixed, "splice-move vs fuse_abort_conn, before the fix"),
      mm.explorationSummary(ev04.data.abort.fixed, "… with lock_request() before replace_page_cache_folio()"),
    );
    console.log(ev04.data.abort.unfixed.counterexample?.why);
    await mm.show(check("C0.4", ev04));
  `),
  md(`
    ## C0.5 — copy variants

    > "What is the advantage of a tmp page copy over /dev/fuse buffer copy?" (Bernd Schubert)

    Eight dirty folios written back through three WRITE paths to a server that copies each WRITE
    out when it reads it and then never replies. The temp-page path (v3.11–v6.15) copies the
    folio into a temp page and ends writeback at once; the "/dev/fuse copy" path (the
    alternative the question implies) lets the server's read of /dev/fuse be the one copy and ends
    writeback there; v6.16 (0c58a97f919c) has the single copy too but keeps PG_writeback until the
    reply. The throughput figure is a cost model calibrated to Joanne Koong's benchmark of
    removing temp pages; its absolute values are not claims.
  `),
  code(`
    const ev05 = mm.c05Evidence({ seed, size });
    await mm.show(mm.copyCountsTable(ev05.data.variants));
    await mm.show(mm.copyThroughputFigure(ev05.data.model));
    await mm.show(check("C0.5", ev05));
  `),
  md(`
    ## Cross-check prediction

    The model's prediction for the real-kernel experiment "hung-read-compaction"
    (\`crosscheck/\`): READs that never complete, then \`echo 1 > /proc/sys/vm/compact_memory\`.
    The sysctl runs \`compact_nodes()\` → \`compact_node()\` in MIGRATE_SYNC (mm/compaction.c;
    only kcompactd's proactive compaction uses MIGRATE_SYNC_LIGHT), so it sleeps on the folio
    lock of the first hung folio it isolates.
  `),
  code(`
    await mm.show(mm.table(["6.1", "6.12", "7.3"].map((v) => {
      const p = mm.predictHungReadCompaction(v);
      return { kernel: v, mode: p.mode, hungPageMoved: p.hungPageMoved, compactionBlocked: p.compactionBlocked };
    }), { title: "predictHungReadCompaction(version)" }));
  `),
  md(`
    ## The real kernel

    Does a page whose FUSE READ hangs ever move under \`compact_memory\`? The real-kernel cross-check (\`deno task crosscheck\`, issue 11) boots Debian's 6.1,
    6.12 and 7.x kernels under QEMU and runs the same experiment; the table puts the
    observation recorded on 2026-11-26 next to the model's prediction, computed now for each
    kernel's era. Only what the claim is about is compared.
  `),
  code(`
    const crossRows = mm.crosscheckRows("hung-read-compaction");
    await mm.show(mm.crosscheckTable("hung-read-compaction"));
    const crossDisagree = crossRows.filter((r) => !r.agree);
    if (crossDisagree.length > 0) {
      throw new Error(\`model and real kernel disagree: \${JSON.stringify(crossDisagree)}\`);
    }
  `),
  md(`
    ## What happened upstream

    - **The series.** v7 of Joanne Koong's series (4 Apr 2025) dropped the migration and sync
      patches "as they are useless if a server is determined to be malicious"; the v8 cover
      letter (14 Apr 2025) says a malicious server can already stall migration in easier ways by
      holding the folio lock, and defers a full fix for migrating FUSE pages. Joanne noted in the
      thread that synchronous migration sleeps on the folio lock, which a hung server can hold
      (C0.1's MIGRATE_SYNC row; the cross-check's \`compact_memory\`). What landed in v6.16 is
      0c58a97f919c, which removed temp pages but keeps PG_writeback until the reply (C0.5's third
      row).
    - **Hildenbrand's list.** David Hildenbrand's LSF/MM/BPF 2025 topic proposal (linux-mm,
      29 Jan 2025) lists FUSE writeback and \`->readahead\` folios among allocations that become
      unmigratable.
    - **The "under construction" tracker.** No generic tracker was found upstream (absence not
      proven); neither is there a migration callback that abandons reads.
    - **Splice.** Still maintained. Readahead requests hold their folio references again since
      0c67c37e1710 ("fuse: revert back to __readahead_folio() for readahead", Feb 2025, after a
      use-after-free with splice replies), and a078484921052 ("fuse: re-lock request before
      replacing page cache folio", posted 19 May 2026 — CLAIMS.md dates this fix 2025; the
      archive shows 2026) takes \`lock_request()\` before \`replace_page_cache_folio()\`.
    - **Verdict.** The problem Miklos and Bernd describe is confirmed as real and unsolved
      upstream; the remedies they proposed are not implemented. In the model both remedies work
      — the hook and late allocation free every pageblock at every latency, with no stale read —
      provided the hook is limited to readahead folios and late replies are dropped.

    Where the kernel changed, side by side: the splice move path before and after the
    lock_request fix (C0.4's explorations above), and writeback with temp pages (≤ v6.15) against
    v6.16 without them (C0.5's table): the same single copy out of the folio, but v6.16's folios
    stay under writeback, and unmigratable, until the server replies.
  `),
  code(`
    const all = [ev01, ev02, ev03, ev04, ev05];
    if (all.some((e) => !e.agrees)) throw new Error("a thread 000 claim no longer agrees");
    await mm.show("thread 000 checks passed");
  `),
];
