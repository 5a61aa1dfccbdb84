/**
 * Counters named after the kernel's vmstat items and vm events (`/proc/vmstat`), so a plot of a
 * simulation lines up with a real trace.
 *
 * Follows include/linux/mmzone.h (`enum node_stat_item`: NR_WRITEBACK, NR_WRITEBACK_TEMP,
 * NR_FILE_DIRTY, NR_FILE_PAGES …) and include/linux/vm_event_item.h (PGMIGRATE_SUCCESS,
 * COMPACTSTALL, THP_SPLIT_PAGE …), Linux v6.12, using their `/proc/vmstat` spellings.
 *
 * @module
 */

/**
 * Names of the counters (the `/proc/vmstat` spelling), plus model-only ones marked below.
 *
 * @example
 * ```ts
 * import { Engine, folioAlloc, folioStartWriteback, Mm, type VmStatItem } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const item: VmStatItem = "nr_writeback";
 * folioStartWriteback(mm, folioAlloc(mm, 2));
 * if (mm.vmstat.get(item) !== 4) throw new Error("NR_WRITEBACK counts pages, not folios");
 * ```
 */
export type VmStatItem =
  | "nr_free_pages"
  | "nr_file_pages"
  | "nr_dirty"
  | "nr_writeback"
  | "nr_writeback_temp"
  | "nr_isolated_file"
  | "nr_mlock"
  | "pgalloc"
  | "pgfree"
  | "pgscan_kswapd"
  | "pgscan_direct"
  | "pgsteal_kswapd"
  | "pgsteal_direct"
  | "pgactivate"
  | "pgrotated"
  | "allocstall"
  | "nr_vmscan_write"
  | "nr_vmscan_immediate_reclaim"
  | "pgmigrate_success"
  | "pgmigrate_fail"
  | "thp_migration_split"
  | "compact_migrate_scanned"
  | "compact_free_scanned"
  | "compact_isolated"
  | "compact_stall"
  | "compact_fail"
  | "compact_success"
  | "thp_split_page"
  | "thp_split_page_failed"
  | "workingset_refault_file"
  | "pgpgin"
  | "pgpgout";

/**
 * A set of counters.
 *
 * @example
 * ```ts
 * import { VmStat } from "@mmsim/mmsim";
 * const s = new VmStat();
 * s.inc("nr_writeback", 4);
 * s.dec("nr_writeback");
 * if (s.get("nr_writeback") !== 3) throw new Error("counter");
 * ```
 */
export class VmStat {
  #c = new Map<string, number>();

  /** Add `n` (default 1). */
  inc(item: VmStatItem | string, n = 1): void {
    this.#c.set(item, (this.#c.get(item) ?? 0) + n);
  }

  /** Subtract `n` (default 1). */
  dec(item: VmStatItem | string, n = 1): void {
    this.#c.set(item, (this.#c.get(item) ?? 0) - n);
  }

  /** Current value (0 if never touched). */
  get(item: VmStatItem | string): number {
    return this.#c.get(item) ?? 0;
  }

  /** All counters, sorted by name (for reports). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.#c.keys()].sort()) out[k] = this.#c.get(k)!;
    return out;
  }
}
