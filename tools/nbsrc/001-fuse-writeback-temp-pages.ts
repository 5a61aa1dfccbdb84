/**
 * Source of `notebooks/001-fuse-writeback-temp-pages.ipynb` (thread 001: FUSE writeback temp
 * pages, direct-I/O re-dirtying, the reclaim deadlock; 2013 → 2025). Regenerate the notebook
 * with `deno run --allow-read --allow-write=notebooks tools/nbgen.ts` after editing.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

const GIT = "https://git.kernel.org/torvalds/c";
const LORE = "https://lore.kernel.org/all/?q=";

/** The notebook's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # Thread 001 — FUSE writeback temp pages, direct-I/O re-dirtying, and the reclaim deadlock (2013 → 2025)

    In August 2013 Maxim Patlasov was getting a writeback cache for FUSE merged (the series
    with "fuse: Implement writepages callback", [search on lore](${LORE}s%3A%22fuse%3A+Implement+writepages+callback%22)).
    FUSE writes a dirty page back by copying it into a *temp page*, queueing a WRITE for the
    userspace server and ending PG_writeback at once, so that nothing in the kernel ever waits
    for the server. Miklos Szeredi (9 Aug 2013) held that no "is this page already being
    written?" check was needed in \`->writepages\`: a FUSE page can only become dirty through
    \`->page_mkwrite\` or write(2), and both wait for FUSE writeback. Maxim answered that an
    asynchronous direct-I/O read into a buffer that is an mmap of a FUSE file dirties the
    buffer pages twice behind FUSE's back — \`dio_bio_submit → bio_set_pages_dirty\` and
    \`dio_bio_complete → bio_check_pages_dirty → bio_dirty_fn\`, both through
    \`set_page_dirty_lock\` — so one page can have several temp-page WRITEs in flight.

    Miklos agreed, but refused the check Maxim proposed (wait in writepages for WB_SYNC_ALL):
    "that's where we can't have it because it would deadlock in reclaim". He sketched the
    alternative — update a still-queued request, or chain a new one behind the one the server
    has — which became [8b284dc47291](${GIT}/8b284dc47291) "fuse: writepages: handle same page
    rewrites", and named the real fix, dropping temp pages, blocked by reclaim and migration
    waiting on writeback ("AFAICS there's still a wait_on_page_writeback() in relation to memcg").
    That fix landed twelve years later in v6.16 (Joanne Koong's series,
    [0c58a97f919c](${GIT}/0c58a97f919c) with [0c4f8ed498ce](${GIT}/0c4f8ed498ce)), and brought
    the sync(2) hang with stuck servers back as an open issue.

    The model (all of it in \`lib/\`, imported here as \`../mod.ts\`): a FUSE connection and a
    userspace server with threads, latencies (∞ = hung), reordered replies and memory
    allocation while handling a request (\`lib/fs/fuse_conn.ts\`); the four writeback designs —
    \`no-check\`, \`wait\`, \`chained\` (8b284dc47291) and \`no-temp\` (v6.16)
    (\`lib/fs/fuse*.ts\`); direct I/O with the 2013 re-dirty paths, mmap with write faults and
    \`->page_mkwrite\`, the flusher, sync(2), memcg v1/v2 reclaim with the three writeback cases,
    MIGRATE_SYNC (\`lib/mm/\`). Every number below is recomputed from a seed.
  `),
  code(`
    import * as mm from "../mod.ts";
    const SEED = 1;
    const registry = mm.allClaims();
    /** Run a claim from the registry; throw unless its agreement is what this notebook expects. */
    async function check(id: string, expectAgrees: boolean) {
      const claim = registry.get(id)!;
      const r = await claim.run({ seed: SEED });
      if (r.agrees !== expectAgrees) {
        throw new Error(\`\${id}: agrees=\${r.agrees}, expected \${expectAgrees}: \${r.verdict} — \${r.detail ?? ""}\`);
      }
      return \`\${id} \${r.agrees ? "agrees" : "disagrees (finding)"} — expected: \${claim.expected}; computed: \${r.verdict}\`;
    }
  `),
  md(`
    ## C1.1 — without the in-flight check, several WRITEs per page offset and lost updates

    > "As soon as a page became dirty through a memory mapping (exactly as you explained),
    > nothing would prevent it to be written-back. And fuse will call end_page_writeback almost
    > immediately after copying the real page to a temporary one. Then dio_bio_submit may
    > re-dirty page speculatively w/o notifying fuse. […] Hence we can end up in more then one
    > temporary page in fuse write-back." — Maxim Patlasov

    CLAIMS.md makes it measurable: the WRITEs outstanding per page offset reach ≥ 2 and grow with
    server latency / redirty interval, and a server that reorders replies loses updates.

    The workload: one FUSE page mmap'ed MAP_SHARED is the buffer of AIO O_DIRECT reads of a disk
    file. Each round submits 16 reads at once (or 1), which the disk completes 10 ms apart, each
    with new data; the flusher runs every 10 ms; fsync(2) at the end. The server's latency is
    swept from 0.1× to 100× the redirty interval.
  `),
  code(`
    await mm.show(mm.table([mm.FuseRedirtyConfig.parse({ design: "no-check" })].map((c) => ({
      design: c.design, "server threads": c.serverThreads, "reads at once": c.queueDepth,
      "redirty interval ms": c.redirtyIntervalNs / 1e6, rounds: c.rounds,
      "flusher period cs": c.flushIntervalCentisecs,
    })), { title: "C1.1 scenario defaults (FuseRedirtyConfig)" }));
  `),
  code(`
    const outstanding = mm.fuseOutstandingSweep({ seed: SEED });
    await mm.show(mm.fuseOutstandingFigure(outstanding));
  `),
  md(`
    With 16 reads in flight the count climbs with latency / redirty interval up to the number of
    re-dirties (16). With **one read at a time it stays at 2**: each read's get_user_pages takes
    a write fault on the PTE that writeback write-protected, and \`fuse_page_mkwrite\` waits —
    holding the page lock — until the earlier WRITEs are answered. So Miklos was right about the
    fault, Maxim about the two \`set_page_dirty_lock\` calls: what is bounded is the number of
    re-dirties between two faults. Plot B, lost updates (stored ≠ last version after fsync) with
    exponential server latency (mean 30 ms), 4 reads per round, 100 seeds per bar:
  `),
  code(`
    const lost = mm.fuseLostUpdateSweep({ runs: 100, seed: SEED });
    await mm.show(mm.fuseLostUpdateFigure(lost));
    await mm.show(mm.table(lost.map((p) => ({
      design: p.design, threads: p.serverThreads, runs: p.runs, "lost updates": p.lost,
      "runs with out-of-order applies": p.reordered, "max outstanding": p.maxOutstanding,
    })), { title: "Plot B data" }));
  `),
  code(`
    await mm.show(await check("C1.1", true));
  `),
  md(`
    ## C1.2 — the chained secondary request (8b284dc47291)

    > "if the request is still in queue, just update it with the contents of the new page; if
    > the request already in userspace, create a new reqest, but only let userspace have it once
    > the previous request for the same page completes, so the ordering is not messed up" —
    > Miklos Szeredi

    Same runs, \`chained\` design (\`fuse_writepage_in_flight\`): Plot A's orange line stays at 2,
    Plot B's chained bars at 0. Per page: at most one WRITE in flight plus one queued secondary;
    later re-dirties are copied into the queued secondary; the server applies versions in order.
  `),
  code(`
    await mm.show(mm.table(lost.filter((p) => p.design === "chained").map((p) => ({
      threads: p.serverThreads, runs: p.runs, "max in flight": p.maxInFlight,
      "max queued secondaries": p.maxSecondaries, "merged into queued": p.merged,
      "out-of-order runs": p.reordered, "lost updates": p.lost,
      "runs with WRITEs > dirty episodes": p.moreWritesThanEpisodes,
    })), { title: "C1.2: chained design" }));
    await mm.show(await check("C1.2", true));
  `),
  md(`
    ## C1.3 — waiting for FUSE writeback deadlocks in reclaim

    > "And that's where we can't have it because it would deadlock in reclaim. […] The big
    > blocker has always been direct reclaim: allocation must not wait on fuse writebacks.
    > AFAICS there's still a wait_on_page_writeback() in relation to memcg." — Miklos Szeredi

    CLAIMS.md: server thread → page allocation → reclaim → wait on PG_writeback of a FUSE page →
    server thread; a cycle iff reclaim may wait on FUSE writeback and the server is
    single-threaded or all its threads are allocating.

    Which wait? Global and cgroup-v2 reclaim never wait on writeback. Legacy memcg v1 reclaim
    does — \`shrink_folio_list\` "case 3": a folio under writeback that already carries
    PG_reclaim is waited for. So the server runs in a v1 memory cgroup at its limit: every
    allocation while storing a WRITE first reclaims (\`try_charge_memcg\` retrying
    \`try_to_free_mem_cgroup_pages\`). The workload: page B is in flight, a DIO completion
    re-dirties it, write(2) dirties page A, fsync(2) writes both back. Each cell is an exploration
    of 200 schedules with PCT (probabilistic concurrency testing, depth 3); a deadlock is a run
    that ends with a cycle in its wait-for graph. Four kernel realities:
  `),
  code(`
    await mm.show(mm.table(mm.C13_ROWS.map((r) => ({
      row: r.label, "reclaim can wait on the server": r.reclaimWaits, kernel: r.kernel,
    })), { title: "C1.3 rows" }));
  `),
  code(`
    const matrix = mm.fuseReclaimDeadlockMatrix({ executions: 200, seed: SEED });
    await mm.show(mm.fuseReclaimDeadlockFigure(matrix));
  `),
  md(`
    The 2013 cycle, as the exploration found and shrank it (one server thread): fsync's
    \`fuse_writepages_fill\` set PG_writeback on A for a request it has not sent, then found B's
    WRITE in flight and waits for it; the server thread handling that WRITE stores it, charges
    its cgroup, reclaims, meets A (marked PG_reclaim on an earlier pass) and waits on its
    PG_writeback — held by fsync.
  `),
  code(`
    const cx2013 = mm.c13DeadlockSearch({ scenario: { design: "wait" }, executions: 50, seed: SEED }).counterexample!;
    const actors = (t: string) => t.startsWith("app") || t.startsWith("fuse-server");
    await mm.show(mm.waitForFigure(mm.waitReportOf(cx2013.waits!), "C1.3, 2013 wait proposal: wait-for graph"));
    const laneKinds = new Set(["fuse_request_send", "fuse_request_read", "fuse_request_end", "fuse_wait_on_page_writeback",
      "folio_start_writeback", "folio_end_writeback", "mem_cgroup_charge", "mm_vmscan_writeback_case", "folio_wait_writeback"]);
    await mm.show(mm.swimLanes(cx2013.trace, { x: "order", title: "C1.3, 2013 wait proposal: swim lanes (red: never woken)",
      kinds: (k) => laneKinds.has(k), lanes: actors }));
    await mm.show(cx2013.replay);
  `),
  md(`
    **Finding.** The outlined cells: four threads of which only one allocates still deadlock.
    A request is answered only by the thread that read it, so idle threads do not help when the
    allocating thread is the one holding the awaited request. Without temp pages it can even
    wait on a page of the WRITE it is itself handling — PG_writeback is held until its own
    reply:
  `),
  code(`
    const cxSelf = mm.c13DeadlockSearch({
      scenario: { design: "no-temp", reclaimHonoursFlag: false, serverThreads: 4, allocatingThreads: 1 },
      want: "self-wait", executions: 100, seed: SEED,
    }).counterexample!;
    await mm.show(mm.waitForFigure(mm.waitReportOf(cxSelf.waits!), "C1.3, no temp pages and the flag ignored: a server thread waits on itself"));
    await mm.show(mm.table(matrix.map((c) => ({
      row: c.rowLabel, column: c.column, verdict: c.verdict, deadlocks: c.deadlocks,
      "via fsync": c.viaFsync, "self-wait": c.selfWaits, claim: c.predicted, agrees: c.agrees,
    })), { title: "Plot C data (PCT exploration, depth 3)" }));
    await mm.show(await check("C1.3", false));
  `),
  md(`
    ## C1.4 — the 2025 design: no temp pages

    > "The best would be if we could get rid of the ugly temporary page requirement for fuse
    > writeback. The big blocker has always been direct reclaim […] And it interacts with page
    > migration which also has them. Those are the really difficult ones..." — Miklos Szeredi

    v6.16 holds PG_writeback until the reply: generic writeback (WB_SYNC_NONE skips, WB_SYNC_ALL
    waits) keeps one WRITE in flight per folio — Plot A's green line at 1 — with no temp memory,
    and reclaim takes case 2 for mappings with AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM (Plot C's
    last row). The price: sync(2) and MIGRATE_SYNC now wait for the server. With a hung server
    (1 MiB written, sync(2) and a MIGRATE_SYNC of the first folio 100 ms later):
  `),
  code(`
    const hung = ["3.11", "6.16"].map((version) => mm.runFuseHungServer({ version }, SEED));
    await mm.show(mm.fuseHungServerFigure(hung));
    await mm.show(mm.table(hung.map((r) => ({
      kernel: r.version, design: r.design, "WritebackTmp peak KiB": r.maxWritebackTmpBytes / 1024,
      "Writeback peak KiB": r.maxWritebackBytes / 1024, "sync(2)": r.sync.result,
      "MIGRATE_SYNC": r.migrate?.result ?? "-", "sync waits on": r.sync.waitChain || "-",
    })), { title: "Hung server, temp pages vs v6.16" }));
    const callers = (t: string) => t.startsWith("sync") || t.startsWith("migrate");
    await mm.show(mm.waitForFigure(mm.waitReportOf(hung[1]!.waitReport!, callers), "v6.16, hung server: sync(2) and migration wait on it"));
  `),
  md(`
    The model's prediction for the real-kernel crosscheck (4 MiB written, every WRITE reply
    delayed 5 s, counters read half-way): the pages sit in WritebackTmp up to v6.15 and in
    Writeback from v6.16 on, where sync(2) does not return before the replies.
  `),
  code(`
    await mm.show(mm.table(["6.1", "6.12", "6.16", "7.0"].map((v) => mm.predictFuseWritebackCounters(v)).map((p) => ({
      kernel: p.version, holder: p.holder, "WritebackTmp KiB": p.writebackTmpBytes / 1024,
      "Writeback KiB": p.writebackBytes / 1024, "sync(2) returned": p.syncReturned,
    })), { title: "predictFuseWritebackCounters" }));
    await mm.show(await check("C1.4", true));
  `),
  md(`
    ## The real kernel

    Which counter holds FUSE writeback pages while the server sits on 4 MiB of WRITEs for 5 s: NR_WRITEBACK_TEMP (temp pages) or NR_WRITEBACK (no temp pages)? The real-kernel cross-check (\`deno task crosscheck\`, issue 11) boots Debian's 6.1,
    6.12 and 7.x kernels under QEMU and runs the same experiment; the table puts the
    observation recorded on 2026-11-26 next to the model's prediction, computed now for each
    kernel's era. Only what the claim is about is compared.
  `),
  code(`
    const crossRows = mm.crosscheckRows("fuse-writeback");
    await mm.show(mm.crosscheckTable("fuse-writeback"));
    const crossDisagree = crossRows.filter((r) => !r.agree);
    if (crossDisagree.length > 0) {
      throw new Error(\`model and real kernel disagree: \${JSON.stringify(crossDisagree)}\`);
    }
  `),
  md(`
    ## What happened upstream

    - **2013.** [8b284dc47291](${GIT}/8b284dc47291) "fuse: writepages: handle same page rewrites"
      (Miklos, crediting Maxim) implemented the workaround: a rewrite of a page whose WRITE is in
      flight becomes a single-page secondary request chained to it and sent from
      \`fuse_writepage_end\`; a rewrite while the secondary is still queued is copied into it. At
      most two requests per page, ordering kept without waiting (C1.2).
    - **Later.** The \`fi->writepages\` list became an rb-tree ("fuse: optimize writepages
      search", Maxim Patlasov and Vasily Averin), and \`fuse_writepage_in_flight\` became
      \`fuse_writepage_add\` in a cleanup of the insertion ([2020 discussion on lore](${LORE}fuse_writepage_in_flight+tree_insert)).
    - **2024–2025.** Joanne Koong, "fuse: remove temp page copies in writeback"
      ([search on lore](${LORE}s%3A%22remove+temp+page+copies+in+writeback%22)). The mapping flag
      telling reclaim not to wait was renamed over the versions: AS_NO_WRITEBACK_RECLAIM (v2),
      AS_WRITEBACK_MAY_BLOCK (v3–v4), AS_WRITEBACK_INDETERMINATE (v5–v7),
      AS_WRITEBACK_MAY_DEADLOCK_ON_RECLAIM (v8, 14 Apr 2025); the migration and sync skips were
      dropped in v7. Landed: [0c4f8ed498ce](${GIT}/0c4f8ed498ce) "mm: skip folio reclaim in
      legacy memcg contexts for deadlockable mappings" (the flag test in reclaim's case 2 — the
      memcg wait Miklos named in 2013) and [0c58a97f919c](${GIT}/0c58a97f919c) "fuse: remove tmp
      folio for writebacks and internal rb tree", in v6.16 (release [U]).
    - **Regression.** Afterwards sync(2) and suspend hang with buggy or hung servers (reports by
      Athul Krishna and J. Neuschäfer, and a Debian bug). Proposed fixes: rename the flag to
      AS_WRITEBACK_MAY_HANG and skip such inodes in \`wait_sb_inodes\` (Nov 2025); an
      AS_NO_DATA_INTEGRITY / superblock-flag variant (Dec 2025 – Jan 2026), where Jan Kara
      warned that fsync, truncate and \`filemap_fdatawait\` also wait on the server now. Merge
      status: [U].

    The 2013 analysis holds up: the ordering problem was real and the chained request fixed it;
    temp pages could go only once reclaim stopped waiting on them — exactly the memcg case
    Miklos named; and the waits he called "really difficult" (migration) and the sync path came
    back as the open issue. The model adds one thing the thread did not say: a multi-threaded
    server is no protection by itself (C1.3's finding).

    ### 2013 and 2025 side by side

    The same scenarios under the temp-page kernel (v3.11 with 8b284dc47291's design, as through
    v6.15) and v6.16:
  `),
  code(`
    const dio = { queueDepth: 16, rounds: 3, serverLatency: { kind: "fixed" as const, ns: 300_000_000 } };
    const r13 = mm.runFuseRedirty({ ...dio, design: "chained" }, SEED);
    const r25 = mm.runFuseRedirty({ ...dio, design: "no-temp" }, SEED);
    const cell = (row: string, column: string) => {
      const c = matrix.find((x) => x.row === row && x.column === column)!;
      return \`\${c.verdict} (\${c.deadlocks}/\${c.executions})\`;
    };
    await mm.show(mm.table([
      { scenario: "DIO re-dirty (L/T = 30): max WRITEs outstanding per page", "2013 (temp pages, chained)": r13.maxOutstanding, "2025 (v6.16)": r25.maxOutstanding },
      { scenario: "DIO re-dirty: WRITEs sent / dirty episodes", "2013 (temp pages, chained)": \`\${r13.writes} / \${r13.dirtyEpisodes}\`, "2025 (v6.16)": \`\${r25.writes} / \${r25.dirtyEpisodes}\` },
      { scenario: "DIO re-dirty: peak temp pages (NR_WRITEBACK_TEMP)", "2013 (temp pages, chained)": r13.maxWritebackTemp, "2025 (v6.16)": r25.maxWritebackTemp },
      { scenario: "DIO re-dirty: update lost after fsync", "2013 (temp pages, chained)": r13.lost, "2025 (v6.16)": r25.lost },
      { scenario: "memcg v1 server, 1 thread: reclaim deadlock", "2013 (temp pages, chained)": cell("2013-chained", "1 thread"), "2025 (v6.16)": cell("2025", "1 thread") },
      { scenario: "hung server: sync(2)", "2013 (temp pages, chained)": hung[0]!.sync.result, "2025 (v6.16)": hung[1]!.sync.result },
      { scenario: "hung server: MIGRATE_SYNC of a written folio", "2013 (temp pages, chained)": hung[0]!.migrate?.result ?? "-", "2025 (v6.16)": hung[1]!.migrate?.result ?? "-" },
      { scenario: "hung server: peak WritebackTmp KiB", "2013 (temp pages, chained)": hung[0]!.maxWritebackTmpBytes / 1024, "2025 (v6.16)": hung[1]!.maxWritebackTmpBytes / 1024 },
    ], { title: "The same scenarios, 2013 vs 2025" }));
  `),
];
