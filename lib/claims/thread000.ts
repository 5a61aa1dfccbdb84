/**
 * Thread 000 — "Re: [PATCH v6 4/5] mm/migrate: skip migrating folios under writeback with
 * AS_WRITEBACK_INDETERMINATE mappings" (linux-fsdevel, 14 Jan 2025; Miklos Szeredi, Bernd
 * Schubert): readahead folios are locked and not uptodate until FUSE's server replies, which
 * blocks migration; a migration hook could abandon them, or the page cache could allocate them
 * only when the data arrives; splice needs a real page, and pins pages for as long as a pipe
 * holds them. Claims C0.1–C0.5 of CLAIMS.md.
 *
 * The `c0xEvidence()` functions (thread000_evidence.ts, re-exported here) return what each claim
 * rests on with the verdict and whether it agrees; the claims' `run()` and the notebook
 * (notebooks/000-fuse-readahead-migration.ipynb) both call them.
 *
 * Not a kernel model; scenarios are in thread000_world.ts (C0.1, Plot A, the cross-check
 * prediction), thread000_explore.ts (C0.2, the splice abort race), thread000_stream.ts (C0.3,
 * C0.4, Plot B) and thread000_copy.ts (C0.5); figures in thread000_figures.ts.
 *
 * @module
 */

import type { Claim, ClaimRunOptions } from "./registry.ts";
import type { Thread000Evidence, Thread000Options } from "./_thread000_common.ts";
import {
  c01Evidence,
  c02Evidence,
  c03Evidence,
  c04Evidence,
  c05Evidence,
} from "./thread000_evidence.ts";

export type { Thread000Evidence, Thread000Options, Thread000Size } from "./_thread000_common.ts";
export {
  type C01Data,
  c01Evidence,
  type C02Data,
  c02Evidence,
  type C03Data,
  c03Evidence,
  type C04Data,
  c04Evidence,
  type C05Data,
  c05Evidence,
  thread000PlotA,
} from "./thread000_evidence.ts";

// ------------------------------------------------------------------ claims

const run = (ev: (o: Thread000Options) => Thread000Evidence<unknown>) => (r: ClaimRunOptions) => {
  const e = ev({ seed: r.seed, size: r.quick ? "quick" : "full" });
  return { verdict: e.verdict, figures: e.figures, agrees: e.agrees, detail: e.detail };
};

/**
 * Thread 000's claims (C0.1–C0.5), registered in lib/claims/all.ts.
 *
 * @example
 * ```ts
 * import { thread000Claims } from "@mmsim/mmsim";
 * if (thread000Claims.map((c) => c.id).join() !== "C0.1,C0.2,C0.3,C0.4,C0.5") throw new Error();
 * const c05 = thread000Claims.find((c) => c.id === "C0.5")!;
 * const outcome = await c05.run({ seed: 1, quick: true }); // a counting run, milliseconds
 * if (!outcome.agrees) throw new Error(outcome.verdict);
 * ```
 */
export const claims: Claim[] = [
  {
    id: "C0.1",
    thread: "000",
    by: "Miklos Szeredi, Joanne Koong",
    statement: "A page-cache folio that is locked and not uptodate while a FUSE_READ is " +
      "outstanding cannot be migrated: MIGRATE_ASYNC fails at once, MIGRATE_SYNC_LIGHT gives " +
      "up (it will not wait on a locked folio that is not uptodate), MIGRATE_SYNC blocks until " +
      "the server replies. With L = ∞ no pageblock holding such a folio is ever freed.",
    assumptions: [
      "FUSE readahead as of v6.16: the READ keeps a reference and owns the folio lock",
      "one driver per target pageblock, isolated as alloc_contig_range does; ASYNC/SYNC_LIGHT " +
      "drivers retry every 10 ms",
      "server latency lognormal (median p99/4) per READ, or never",
    ],
    era: "2025 (v6.13–v6.16)",
    expected: "ASYNC and SYNC_LIGHT -EAGAIN at once; SYNC waits for the reply; L = ∞: 0 freed",
    run: run(c01Evidence),
  },
  {
    id: "C0.2",
    thread: "000",
    by: "Miklos Szeredi",
    statement: '"If a page is unlocked but not set uptodate, then caller is supposed to retry ' +
      "the reading … This means that it's fine to migrate the page before it's actually filled " +
      'with data, since the caller will retry." With a hook that abandons the unfilled folio ' +
      "and drops the late reply, no reader ever sees zeros or stale data.",
    assumptions: [
      "the hook abandons readahead folios only (a ->read_folio folio is locked by its reader)",
      "abandon = unlock without PG_uptodate, or remove from the page cache; the request's " +
      "reference is dropped",
      "negative control: the late reply is copied into the abandoned (possibly reused) frame",
    ],
    era: "proposal (Jan 2025), on the v6.16 read path",
    expected: "stale reads Never with the hook (errors only if the retry fails); Sometimes " +
      "flagged in the negative control",
    run: run(c02Evidence),
  },
  {
    id: "C0.3",
    thread: "000",
    by: "Miklos Szeredi",
    statement: '"it would be sufficient to allocate the page itself just before filling it ' +
      "in, if there was a mechanism to keep track of these 'not yet filled' pages\": with an " +
      "under-construction tracker no locked page-cache page is held by outstanding reads; with " +
      "placeholders their number equals the pages of outstanding readahead, growing linearly " +
      "with L × read rate.",
    assumptions: [
      "streaming readers at 1000 pages/s each, fixed server latency",
      "the tracker's readahead window follows ondemand_readahead for sequential streams",
    ],
    era: "proposal (Jan 2025), on the v6.16 read path",
    expected:
      "0 locked with the tracker; = outstanding pages with placeholders; linear in L × rate",
    run: run(c03Evidence),
  },
  {
    id: "C0.4",
    thread: "000",
    by: "Bernd Schubert, Miklos Szeredi",
    statement: '"With splice you really need a page state." Moving a server page into the ' +
      "cache needs a stealable page and a placeholder to replace, so the placeholder stays " +
      "locked ≥ L; pages handed to the server through a pipe keep a reference, and migration " +
      "fails with -EAGAIN for as long as the pipe holds them, even unlocked and clean.",
    assumptions: [
      "fuse_try_move_folio and fuse_ref_folio as of v6.16 with a078484921052 (lock_request " +
      "before replace_page_cache_folio)",
      "the server's reply pages are stealable; the WRITE's pages are held 20 ms after the reply",
    ],
    era: "2025 (v6.16), fix of May 2026",
    expected: "placeholder locked ≥ L for every moved page; -EAGAIN while the pipe holds the page",
    run: run(c04Evidence),
  },
  {
    id: "C0.5",
    thread: "000",
    by: "Bernd Schubert",
    statement: '"what is the advantage of a tmp page copy over /dev/fuse buffer copy?" Both cost ' +
      "one memcpy per page and leave the page-cache folio unlocked, without an extra " +
      "reference and migratable; the temp page also costs one allocation per page.",
    assumptions: [
      "/dev/fuse copy variant: writeback ends when the server has copied the WRITE (no kernel " +
      "does this; v6.16 keeps PG_writeback until the reply)",
      "throughput model calibrated to Joanne Koong's benchmark; absolute values are not claims",
    ],
    era: "2013–2025 (temp pages) vs proposal; v6.16 for comparison",
    expected: "1 memcpy/page each; migratable after the copy; +1 allocation/page with temp pages",
    run: run(c05Evidence),
  },
];
