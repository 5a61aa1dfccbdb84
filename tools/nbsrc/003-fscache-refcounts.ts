/**
 * Source of `notebooks/003-fscache-refcounts.ipynb` (thread 003: PG_private_2 / fscache
 * lifetime and refcounts, the 073861ed77b6 wakeup leak). Regenerate the notebook with
 * `deno run --allow-read --allow-write=notebooks tools/nbgen.ts` after editing.
 *
 * @module
 */

import { type CellSpec, code, md } from "../_nb.ts";

const GIT = "https://git.kernel.org/torvalds/c";

/** The notebook's cells, in order. */
export const cells: CellSpec[] = [
  md(`
    # Thread 003 — PG_private_2 / PG_fscache lifetime, refcounts, and the 073861ed77b6 wakeup leak

    In February 2021 David Howells asked Linus to pull "fscache: I/O API modernisation and netfs
    helper library" ([thread on lore](https://lore.kernel.org/all/?q=s%3A%22fscache%3A+I%2FO+API+modernisation+and+netfs+helper+library%22),
    9 Feb 2021). Linus objected to a page bit that promises "don't free me" without holding a
    reference: PG_writeback works that way, and the end-of-writeback wakeup had just "leaked" from
    a page's previous use to a new allocation — Hugh Dickins' fix
    [073861ed77b6](${GIT}/073861ed77b6) "mm: fix VM_BUG_ON(PageTail) and BUG_ON(PageWriteback)".
    He wanted the fscache bit (PG_private_2) to hold a reference whenever it is set.

    David answered that Willy had asked him to rely on PG_locked during the new \`->readahead\`,
    so no reference is held when PG_fscache is set after a read from the server; the waits in
    releasepage/invalidatepage were meant to suffice, and the VM treats PG_private_2 like
    PG_private only for calling them. He added that 073861ed77b6 probably affects the fscache
    unlock too, so "both PG_fscache and PG_writeback need to hold a ref on the page".

    The model: physical frames that are freed and reused (each use has a generation), a hashed
    folio wait table keyed by frame (so a wake for a frame's previous use reaches its next use),
    an end-of-I/O path "clear the bit, δ, wake" with an injectable δ, \`if\` and \`while\`
    waiters, truncation, reclaim and an allocator under pressure. Verdicts come from exhaustive
    exploration of small worlds; rates from randomized stress runs. Every cell imports only
    \`../mod.ts\`.
  `),
  code(`
    import * as mm from "../mod.ts";
    const SEED = 1;
    const SIZE = "notebook" as const; // "quick" for a first look, "full" as deno task reproduce
    const registry = mm.allClaims();
    /** Throw unless a claim's computed verdict is the registry's expectation. */
    function check(id: string, ev: { verdict: string; agrees: boolean; detail: string }) {
      const claim = registry.get(id)!;
      if (ev.verdict !== claim.expected || !ev.agrees) {
        throw new Error(\`\${id}: computed "\${ev.verdict}", registry expects "\${claim.expected}" — \${ev.detail}\`);
      }
      return \`\${id} agrees: \${ev.verdict}\`;
    }
  `),
  md(`
    ## C3.1 — Hugh's reuse race (PG_writeback)

    > "the fact that writeback doesn't take a refcount, and then has magic 'if writeback is set,
    > don't free' code in other parts of the VM layer has been a problem already, when the
    > wakeup ended up 'leaking' from a previous page to a new allocation." — Linus Torvalds

    End of writeback is test-and-clear PG_writeback, then δ, then the wake. Without a reference,
    truncation can free the frame inside δ, the allocator hands it to another file, that file's
    writeback starts, fsync waits on it, and the stale wake makes write_cache_pages hit
    BUG_ON(PageWriteback). With a reference from before the clear to after the wake: 0.

    First the small world, explored exhaustively for the four designs {no ref, ref} ×
    {if-wait, while-wait} (v5.9 = no ref + if, v5.11+ = ref + while).
  `),
  code(`
    const c31 = mm.c31Evidence({ seed: SEED, size: SIZE });
    await mm.show(mm.table(Object.entries(c31.explorations).map(([variant, r]) => ({
      variant,
      executions: r.executions,
      complete: r.complete,
      "BUG_ON(PageWriteback)": r.verdicts["violation:BUG_ON(PageWriteback)"] ?? "Never",
      "frame freed during δ": r.verdicts["folio_end_writeback: frame freed during δ"] ?? "Never",
      "any violation": r.verdicts.violation,
    })), { title: "C3.1: exhaustive exploration of the reuse world" }));
  `),
  md(`
    The race found in the v5.9 design, shrunk to its fewest preemptions: \`end_io(A)\` clears
    PG_writeback, truncate(A) frees the frame inside δ, write(B) gets the same frame and starts
    its writeback, fsync(B) waits on it — and end_io(A)'s wake arrives (\`folio_wake_stale\`).
  `),
  code(`
    const cx31 = c31.explorations["no ref + if"]!.counterexample!;
    await mm.show(mm.raceSwimLanes(cx31, "C3.1: the reuse race in v5.9 (no reference, if-wait)"));
    await mm.show(cx31.replay);
  `),
  md(`
    Now the stress world: four one-page files written, flushed (WB_SYNC_NONE), fsync'ed and
    truncated by independent tasks with exponential think times; every frame but four is taken,
    so a frame freed by truncation is the next one handed out; each write bio ends on its own
    task with the window δ. Violations counted: BUG_ON(PageWriteback), bad page state, and ends
    that touched a frame freed during δ. Plot A, violations per 10⁶ completions vs δ:
  `),
  code(`
    await mm.show(mm.wbRaceFigure(c31.points));
    await mm.show(mm.table(c31.points.map((p) => ({
      variant: p.variant, "δ ns": p.delayNs, completions: p.completions, "BUG_ON": p.bugOn,
      "bad page": p.badPage, "freed in δ": p.freedDuringDelay, "stale wakes": p.staleWakes,
      "per 10⁶": Math.round(p.violationsPerMillion), "reuse µs": p.meanReuseNs / 1000,
    })), { digits: 1, title: "Plot A data" }));
  `),
  code(`
    await mm.show(check("C3.1", c31));
  `),
  md(`
    ## C3.2 — the second race: PG_writeback set again during δ

    > Even with the reference, another CPU can set PG_writeback again under the page lock during
    > δ. A waiter that waits with "if bit set, wait once" fails; one that loops "while bit set,
    > wait" never does. — c2407cf7d22d (Linus Torvalds), as CLAIMS.md condenses it

    The folio stays in the page cache, so the reference does not help: the flusher restarts
    writeback during δ, fsync queues on the new writeback and receives the old one's wake.
  `),
  code(`
    const c32 = mm.c32Evidence({ seed: SEED, size: SIZE });
    await mm.show(mm.explorationSummary(c32.explorations["ref + if"]!, "C3.2: ref + if-wait (v5.10)"));
    await mm.show(mm.explorationSummary(c32.explorations["ref + while"]!, "C3.2: ref + while-wait (v5.11+)"));
  `),
  md(`
    In Plot A above, each fix alone leaves a non-zero rate: "ref + if" (purple) through this
    second race, "no ref + while" (orange) through ends touching freed frames. Only "ref +
    while" stays at zero. The "ref + if" rate falls again at large δ: the restarted writeback
    must still be in flight when the stale wake lands, and a 20 µs write rarely outlives a
    100 µs–1 ms window.
  `),
  code(`
    await mm.show(mm.raceSwimLanes(c32.explorations["ref + if"]!.counterexample!, "C3.2: restart in δ, if-wait"));
    await mm.show(check("C3.2", c32));
  `),
  md(`
    ## C3.3 — the fscache bit (PG_private_2)

    > "So I think the fscache code needs to hold a refcount regardless, and that the fscache bit
    > is set the page has to have a reference." — Linus Torvalds
    >
    > "This may mean that both PG_fscache and PG_writeback need to hold a ref on the page." —
    > David Howells

    The netfs model (\`Netfs\` in lib/fs/netfs.ts) reads a folio from the server holding only
    the lock, sets PG_private_2 before unlocking, writes the data to the cache, and ends with
    clear–δ–wake (\`folio_end_private_2\`), with or without the reference
    (\`folio_start_private_2\` v5.13+ vs the posting's \`set_page_fscache\`). Truncation waits
    in \`netfs_invalidate_folio\`, reclaim is refused by \`netfs_release_folio\` — or, in the
    "waits skipped" designs, neither waits (as between ae678317b95e and the ceph revert [U]).
  `),
  code(`
    const c33 = mm.c33Evidence({ seed: SEED, size: SIZE });
    await mm.show(mm.table(Object.entries(c33.explorations).map(([variant, r]) => ({
      variant,
      executions: r.executions,
      "use-after-free": r.verdicts["violation:use-after-free"] ?? "Never",
      "VM_BUG_ON (start with bit set)": r.verdicts["violation:VM_BUG_ON_FOLIO(folio_test_private_2)"] ?? "Never",
      "bad page": r.verdicts["violation:bad_page"] ?? "Never",
    })), { title: "C3.3: exhaustive exploration of the PG_private_2 reuse world" }));
  `),
  md(`
    Plot B: the stress world for PG_private_2 (readers, writers to the cache under the folio
    lock, truncation, reclaim, reuse under pressure), per 10⁶ cache-write completions. Dashed:
    release/invalidate skip the waits.
  `),
  code(`
    await mm.show(mm.netfsRaceFigure(c33.points));
    await mm.show(mm.raceSwimLanes(c33.explorations["no ref + if"]!.counterexample!, "C3.3: no reference — the cache write's wake lands on the reused frame"));
  `),
  md(`
    Without the reference every design reaches a use-after-free — through the δ window, and at
    every δ once a freeing path skips the waits. With it, nothing is ever used after free, even
    when the waits are skipped. One thing the claim does not say: with the reference and the
    waits skipped, the folio is truncated while its cache write runs, and the next folio for
    that page starts a cache write that overlaps it ("lost waits" panel). The cost of the fix
    (Hugh's overhead concern), measured:
  `),
  code(`
    await mm.show(mm.table(mm.thread003RefCost(), { title: "Extra atomic refcount operations per I/O" }));
    await mm.show(check("C3.3", c33));
  `),
  md(`
    ## C3.4 — migration during a cache write

    > With PG_private_2 paired with +1 reference, and the expected-ref computation not counting
    > PG_private_2 (current behaviour), migrating a folio during a cache write fails the refcount
    > freeze (-EAGAIN). Counter-variant: if the expected count did include it, migration would
    > succeed while PG_private_2 is not carried to the destination, and the wait is lost. —
    > Hugh Dickins and Matthew Wilcox, Sep 2025, as CLAIMS.md condenses it

    Cache writes of a fixed duration on four folios of a file whose mapping uses
    \`filemap_migrate_folio\`, separated by exponential gaps (mean 100 µs); MIGRATE_SYNC
    attempts every 50 µs on average. "Counted" is v5.13–v5.19 (page_has_private() counted
    PG_private_2) and Hugh's dropped 2025 patch.
  `),
  code(`
    const c34 = mm.c34Evidence({ seed: SEED, size: SIZE });
    await mm.show(mm.migrateRaceFigure(c34.points));
    await mm.show(mm.raceSwimLanes(c34.explorations["counted"]!.counterexample!, "C3.4: counted — migrated mid-write, the next waiter does not wait"));
  `),
  code(`
    await mm.show(check("C3.4", c34));
  `),
  md(`
    ## What happened upstream

    - **Nov 2020** — [073861ed77b6](${GIT}/073861ed77b6) "mm: fix VM_BUG_ON(PageTail) and
      BUG_ON(PageWriteback)" (Hugh Dickins): end of writeback takes a page reference around
      clear + wake; Cc stable 5.8+, Fixes [2a9127fcf229](${GIT}/2a9127fcf229).
    - **Early 2021** — [c2407cf7d22d](${GIT}/c2407cf7d22d) (Linus): \`wait_on_page_writeback\`
      loops while the bit is set; its text notes that setting writeback under the page lock
      does not make clear + wake atomic.
    - **Feb 2021** — Johannes Weiner's cleanup of \`test_clear_page_writeback\` relies on the
      new reference.
    - **Mar 2021** — "mm: Add an unlock function for PG_private_2/PG_fscache" (v4 posted 23 Mar
      2021): the end function releases "the page ref held for PG_private_2 being set" — the bit
      is paired with a reference, as Linus asked (merged for v5.13). Linus also asked to drop
      PG_private_2 from the page_has_private() math.
    - **v6.10, 2024** — [2ff1e97587f4](${GIT}/2ff1e97587f4) "netfs: Replace PG_fscache by
      setting folio->private and marking dirty", [2e9d7e4b984a](${GIT}/2e9d7e4b984a) "mm:
      Remove the PG_fscache alias for PG_private_2", [ae678317b95e](${GIT}/ae678317b95e)
      "netfs: Remove deprecated use of PG_private_2 as a second writeback flag".
    - **Jul–Aug 2024, 6.11-rc** — reverts for ceph: "netfs, ceph: Revert 'netfs: Remove
      deprecated use of PG_private_2…'" and a partial revert of 2ff1e97587f4, restoring the
      PG_private_2 waits in release/invalidate.
    - **Sep 2025** — Hugh's "mm: fix folio_expected_ref_count() when PG_private_2" was dropped;
      Matthew Wilcox: only ceph and nfs still use it, "achingly close to getting rid of" it.
      Hugh notes that migration never copied PG_private_2.

    The reference rule was adopted for both bits; the long-term direction is to express cache
    writes through PG_writeback and remove the second flag. The same scenarios under each era's
    switches, side by side (δ = 10 µs; migration with 100 µs cache writes):
  `),
  code(`
    const eras = mm.thread003Eras({ seed: SEED, size: SIZE });
    await mm.show(mm.thread003EraFigure(eras, "Thread 003 scenarios by kernel era (5.9 … 6.12)"));
    await mm.show(mm.table(eras, { digits: 0, title: "per 10⁶ completions (migration: per 10⁶ attempts)" }));
  `),
  code(`
    const per = (s: string, e: string, m: string) =>
      eras.find((r) => r.scenario === s && r.era === e && r.metric === m)!.perMillion;
    if (!(per("PG_writeback", "5.9", "violations") > 0) || per("PG_writeback", "6.12", "violations") !== 0) {
      throw new Error("PG_writeback: expected violations in 5.9 and none in 6.12");
    }
    if (per("PG_private_2", "6.12", "violations + use-after-free") !== 0) {
      throw new Error("PG_private_2: expected none in 6.12");
    }
    await mm.show("thread 003 notebook checks passed");
  `),
];
