/**
 * LRU lists: the kernel's per-lruvec active/inactive lists as intrusive lists over the frames'
 * one `list_head` (`PhysMem.next`/`prev`), and a pure LRU policy over the same links.
 *
 * Follows include/linux/mmzone.h (`enum lru_list`), include/linux/mm_inline.h
 * (`folio_is_file_lru`, `folio_lru_list`, `lruvec_add_folio`, `lruvec_add_folio_tail`,
 * `lruvec_del_folio`, `__folio_clear_lru_flags`), mm/swap.c (`folio_add_lru` + `lru_add`,
 * `folio_activate` + `lru_activate`, `folio_mark_accessed`, `folio_rotate_reclaimable` +
 * `lru_move_tail`, `lru_note_cost`), mm/vmscan.c (`isolate_lru_folios`, `folio_isolate_lru`,
 * `folio_putback_lru`, `move_folios_to_lru`, `shrink_active_list`, `inactive_is_low`) and
 * mm/workingset.c (`workingset_activation`, `workingset_age_nonresident`), Linux v6.12; read in
 * the v6.6–v6.18 sources, whose functions here are unchanged in substance.
 *
 * The API is synchronous: nothing here waits. `shrink_folio_list` (writeback, dirty folios,
 * the three reclaim waits) is NOT here; vmscan.ts builds it on these lists with the engine.
 *
 * Left out: the per-CPU folio batches (`cpu_fbatches`: every add/activate/rotate is applied at
 * once, as the !CONFIG_SMP `folio_activate` does and as if `lru_add_drain()` ran after every
 * call), MGLRU (`lru_gen_*`, the kernel runs classic LRU when `lru_gen_enabled()` is false),
 * memcg (one lruvec per `Lruvec` object; the caller picks the lruvec `folio_lruvec()` would
 * return), zones in the LRU sizes (`lru_zone_size`, `reclaim_idx` skipping), CMA skipping, the
 * lru_lock, `buffer_heads_over_limit`, and PTE young bits (see `LruvecConfig.folioReferenced`).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import { NIL, PG, type PhysMem } from "./memory.ts";

/**
 * `LRU_BASE` (include/linux/mmzone.h).
 *
 * @example
 * ```ts
 * import { folioLruList, LRU_BASE, LRU_INACTIVE_ANON, PG, PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * mem.setFlag(0, PG.swapbacked); // an inactive anonymous folio
 * if (LRU_INACTIVE_ANON !== LRU_BASE || folioLruList(mem, 0) !== LRU_BASE) throw new Error("the first list");
 * ```
 */
export const LRU_BASE = 0;
/**
 * `LRU_ACTIVE`: added to an inactive list number to name its active list.
 *
 * @example
 * ```ts
 * import { folioActivate, folioAddLru, folioLruList, LRU_ACTIVE, Lruvec, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[1] = 1;
 * folioAddLru(lruvec, 1);
 * const inactive = folioLruList(lruvec.mem, 1);
 * folioActivate(lruvec, 1);
 * if (folioLruList(lruvec.mem, 1) !== inactive + LRU_ACTIVE) throw new Error("active = inactive + LRU_ACTIVE");
 * ```
 */
export const LRU_ACTIVE = 1;
/**
 * `LRU_FILE`: added to an anon list number to name the file list.
 *
 * @example
 * ```ts
 * import { folioLruList, LRU_FILE, PG, PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * mem.setFlag(0, PG.swapbacked); // anonymous
 * // frame 1 is page cache (PG_swapbacked clear)
 * if (folioLruList(mem, 1) - folioLruList(mem, 0) !== LRU_FILE) throw new Error("file = anon + LRU_FILE");
 * ```
 */
export const LRU_FILE = 2;
/**
 * `LRU_INACTIVE_ANON` (enum lru_list).
 *
 * @example
 * ```ts
 * import { LRU_INACTIVE_ANON, LRU_ACTIVE, LRU_ACTIVE_ANON } from "@mmsim/mmsim";
 * if (LRU_INACTIVE_ANON + LRU_ACTIVE !== LRU_ACTIVE_ANON) throw new Error("enum lru_list");
 * ```
 */
export const LRU_INACTIVE_ANON = 0;
/**
 * `LRU_ACTIVE_ANON` (enum lru_list).
 *
 * @example
 * ```ts
 * import { folioLruList, LRU_ACTIVE_ANON, PG, PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * mem.setFlag(2, PG.swapbacked);
 * mem.setFlag(2, PG.active);
 * if (folioLruList(mem, 2) !== LRU_ACTIVE_ANON) throw new Error("swap-backed and active");
 * ```
 */
export const LRU_ACTIVE_ANON = 1;
/**
 * `LRU_INACTIVE_FILE` (enum lru_list).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, filemapAddFolio, folioAlloc, LRU_INACTIVE_FILE, Mm, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, AddressSpace.create(mm, { name: "file" }), f, 0);
 * // New page cache starts on the inactive file list (folio_add_lru).
 * if (!mm.mem.testFlag(f, PG.lru) || mm.lruvec.lists[LRU_INACTIVE_FILE]!.first !== f) throw new Error("inactive file");
 * ```
 */
export const LRU_INACTIVE_FILE = 2;
/**
 * `LRU_ACTIVE_FILE` (enum lru_list).
 *
 * @example
 * ```ts
 * import { folioAddLru, folioMarkAccessed, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, Lruvec, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[0] = 1;
 * folioAddLru(lruvec, 0);
 * folioMarkAccessed(lruvec, 0); // first access: referenced
 * if (lruvec.nrPages[LRU_INACTIVE_FILE] !== 1) throw new Error("still inactive");
 * folioMarkAccessed(lruvec, 0); // second access: promoted
 * if (lruvec.nrPages[LRU_ACTIVE_FILE] !== 1 || lruvec.lists[LRU_ACTIVE_FILE]!.first !== 0) throw new Error("active");
 * ```
 */
export const LRU_ACTIVE_FILE = 3;
/**
 * `LRU_UNEVICTABLE` (enum lru_list): counted in the sizes, but no list is kept (v6.12).
 *
 * @example
 * ```ts
 * import { folioAddLru, LRU_UNEVICTABLE, Lruvec, PG, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[3] = 1;
 * lruvec.mem.setFlag(3, PG.mlocked);
 * folioAddLru(lruvec, 3);
 * // Counted on LRU_UNEVICTABLE, but v6.12 keeps no list for it.
 * if (lruvec.nrPages[LRU_UNEVICTABLE] !== 1 || !lruvec.lists[LRU_UNEVICTABLE]!.isEmpty()) throw new Error("unevictable");
 * if (!lruvec.mem.testFlag(3, PG.unevictable) || lruvec.events.unevictablePgculled !== 1) throw new Error("culled");
 * ```
 */
export const LRU_UNEVICTABLE = 4;
/**
 * `NR_LRU_LISTS`.
 *
 * @example
 * ```ts
 * import { LRU_UNEVICTABLE, Lruvec, NR_LRU_LISTS, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * if (lruvec.lists.length !== NR_LRU_LISTS || lruvec.nrPages.length !== NR_LRU_LISTS) throw new Error("one per list");
 * if (LRU_UNEVICTABLE !== NR_LRU_LISTS - 1) throw new Error("unevictable is the last");
 * ```
 */
export const NR_LRU_LISTS = 5;
/**
 * `SWAP_CLUSTER_MAX` (include/linux/swap.h): reclaim's batch size.
 *
 * @example Reclaim isolates a batch of 32 pages at a time
 * ```ts
 * import { FolioList, folioAddLru, isolateLruFolios, LRU_INACTIVE_FILE, Lruvec, PhysMem, SWAP_CLUSTER_MAX } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 100 });
 * const lruvec = new Lruvec(mem);
 * for (let p = 0; p < 100; p++) {
 *   mem.refcount[p] = 1;
 *   folioAddLru(lruvec, p);
 * }
 * const batch = new FolioList(mem);
 * const taken = isolateLruFolios(lruvec, SWAP_CLUSTER_MAX, batch, LRU_INACTIVE_FILE);
 * if (taken !== 32 || batch.toArray().length !== 32 || lruvec.nrPages[LRU_INACTIVE_FILE] !== 68) throw new Error(`${taken}`);
 * ```
 */
export const SWAP_CLUSTER_MAX = 32;

/**
 * A list number of `enum lru_list`.
 *
 * @example
 * ```ts
 * import { folioAddLru, folioLruList, type LruList, Lruvec, PG, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[2] = 1;
 * lruvec.mem.setFlag(2, PG.swapbacked);
 * folioAddLru(lruvec, 2);
 * const lru: LruList = folioLruList(lruvec.mem, 2); // an index into lists and nrPages
 * if (lruvec.nrPages[lru] !== 1 || lruvec.lists[lru]!.first !== 2) throw new Error(`list ${lru}`);
 * ```
 */
export type LruList = 0 | 1 | 2 | 3 | 4;

/**
 * Configuration of an `Lruvec`.
 *
 * @example
 * ```ts
 * import { LruvecConfig } from "@mmsim/mmsim";
 * if (LruvecConfig.parse({}).folioReferenced !== "no_ptes") throw new Error("default");
 * ```
 */
export interface LruvecConfig {
  /**
   * What `folio_referenced()` (mm/rmap.c) returns in `shrink_active_list`. The kernel counts
   * young PTEs of the folio's mappings; this model has no page tables.
   * - `"no_ptes"`: it returns 0, exactly what the kernel computes for a folio that is not
   *   mapped (page cache reached through read/write). Every scanned active folio is
   *   deactivated and PG_referenced is left as it is (folio_mark_accessed and
   *   folio_check_references read it later).
   * - `"pg_referenced"`: approximate young PTEs by test-and-clear of PG_referenced, and rotate
   *   a referenced folio back to the active list as the kernel does only for VM_EXEC file
   *   folios. // Divergence: an approximation, for comparing with older second-chance policies.
   */
  folioReferenced: "no_ptes" | "pg_referenced";
}

/**
 * Input of `LruvecConfig` (what the `Lruvec` constructor accepts).
 *
 * @example The two models of folio_referenced() in shrink_active_list
 * ```ts
 * import { folioActivate, folioAddLru, LRU_ACTIVE_FILE, Lruvec, type LruvecOptions, PG, PhysMem, shrinkActiveList } from "@mmsim/mmsim";
 * const deactivated: number[] = [];
 * for (const folioReferenced of ["no_ptes", "pg_referenced"] as const) {
 *   const opts: LruvecOptions = { folioReferenced };
 *   const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }), opts);
 *   lruvec.mem.refcount[0] = 1;
 *   folioAddLru(lruvec, 0);
 *   folioActivate(lruvec, 0);
 *   lruvec.mem.setFlag(0, PG.referenced);
 *   deactivated.push(shrinkActiveList(lruvec, 32, LRU_ACTIVE_FILE));
 * }
 * // An unmapped folio has no young PTEs: deactivated; the PG_referenced approximation keeps it.
 * if (deactivated.join() !== "1,0") throw new Error(`${deactivated}`);
 * ```
 */
export interface LruvecOptions {
  /** How `shrink_active_list` models `folio_referenced()` (default `"no_ptes"`). */
  folioReferenced?: "no_ptes" | "pg_referenced";
}

const lruvecSchema = z.object({
  folioReferenced: z.enum(["no_ptes", "pg_referenced"]).default("no_ptes"),
});
const _lruvecTypes: Same<z.output<typeof lruvecSchema>, LruvecConfig> = true;
void _lruvecTypes;

/** The {@link LruvecConfig} schema. */
export const LruvecConfig: ConfigSchema<LruvecConfig, LruvecOptions> = defineConfig(
  "LruvecConfig",
  lruvecSchema,
);

/**
 * A list head over frames (`struct list_head`, e.g. vmscan's private `l_hold`): `first` is
 * `head->next` (most recently added), `last` is `head->prev` (`lru_to_folio()`, the oldest).
 * A frame is on at most one list at a time, since all lists share `mem.next`/`mem.prev`.
 *
 * @example
 * ```ts
 * import { FolioList, PhysMem } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 8 });
 * const l = new FolioList(mem);
 * l.add(1);
 * l.add(2);
 * if (l.popTail() !== 1 || l.popTail() !== 2 || !l.isEmpty()) throw new Error("FIFO from tail");
 * ```
 */
export class FolioList {
  /** `head->next`: the most recently added frame, NIL if empty. */
  first: number = NIL;
  /** `head->prev`: the oldest frame, NIL if empty. */
  last: number = NIL;
  /** The frames whose `next`/`prev` this list uses. */
  readonly mem: PhysMem;

  /** An empty list over `mem`'s frames. */
  constructor(mem: PhysMem) {
    this.mem = mem;
  }

  /** list_empty(). */
  isEmpty(): boolean {
    return this.first === NIL;
  }

  /** list_add(): insert at the head. */
  add(pfn: number): void {
    const next = this.mem.next, prev = this.mem.prev;
    const f = this.first;
    next[pfn] = f;
    prev[pfn] = NIL;
    if (f === NIL) this.last = pfn;
    else prev[f] = pfn;
    this.first = pfn;
  }

  /** list_add_tail(): insert at the tail. */
  addTail(pfn: number): void {
    const next = this.mem.next, prev = this.mem.prev;
    const l = this.last;
    prev[pfn] = l;
    next[pfn] = NIL;
    if (l === NIL) this.first = pfn;
    else next[l] = pfn;
    this.last = pfn;
  }

  /** list_del(): unlink `pfn`, which must be on this list. */
  del(pfn: number): void {
    const next = this.mem.next, prev = this.mem.prev;
    const n = next[pfn]!, p = prev[pfn]!;
    if (p === NIL) this.first = n;
    else next[p] = n;
    if (n === NIL) this.last = p;
    else prev[n] = p;
    next[pfn] = NIL;
    prev[pfn] = NIL;
  }

  /** `lru_to_folio()` + list_del(): unlink and return the tail, or NIL if empty. */
  popTail(): number {
    const pfn = this.last;
    if (pfn !== NIL) this.del(pfn);
    return pfn;
  }

  /** Frames from head to tail (for tests and figures; allocates). */
  toArray(): number[] {
    const out: number[] = [];
    for (let p = this.first; p !== NIL; p = this.mem.next[p]!) out.push(p);
    return out;
  }
}

/**
 * VM event counters kept by an `Lruvec`, named after /proc/vmstat.
 *
 * @example
 * ```ts
 * import { folioActivate, folioAddLru, folioRotateReclaimable, Lruvec, type LruVmEvents, PhysMem } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.order[0] = 2; // an order-2 folio: events count pages
 * lruvec.mem.refcount[0] = 1;
 * folioAddLru(lruvec, 0);
 * folioActivate(lruvec, 0); // PGACTIVATE
 * folioRotateReclaimable(lruvec, 0); // PGROTATED: writeback of a PG_reclaim folio ended
 * const ev: LruVmEvents = lruvec.events;
 * if (ev.pgactivate !== 4 || ev.pgrotated !== 4) throw new Error(JSON.stringify(ev));
 * ```
 */
export interface LruVmEvents {
  /** PGACTIVATE: pages moved to an active list. */
  pgactivate: number;
  /** PGDEACTIVATE: pages moved from an active to an inactive list by shrink_active_list. */
  pgdeactivate: number;
  /** PGREFILL: pages scanned on active lists by shrink_active_list. */
  pgrefill: number;
  /** PGROTATED: pages moved to the inactive tail by folio_rotate_reclaimable. */
  pgrotated: number;
  /** UNEVICTABLE_PGCULLED: pages put on the unevictable list by lru_add. */
  unevictablePgculled: number;
  /** UNEVICTABLE_PGRESCUED: pages moved off the unevictable list by lru_add. */
  unevictablePgrescued: number;
}

/** Default `Lruvec.freeFolio`: freeing is the allocator's job, so say who should have done it. */
function noFreeHook(pfn: number): void {
  throw new Error(
    `Cannot free folio ${pfn}: its refcount dropped to 0 on an LRU path and this Lruvec has ` +
      `no freeFolio hook (pass one to free to the allocator)`,
  );
}

/**
 * One lruvec (`struct lruvec`): the five LRU lists of one node (and memcg), their sizes in
 * pages (`lruvec_page_state(lruvec, NR_LRU_BASE + lru)`), `anon_cost`/`file_cost`,
 * `nonresident_age` and VM event counters.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 8 });
 * const lruvec = new Lruvec(mem);
 * mem.refcount[3] = 1;
 * folioAddLru(lruvec, 3);
 * if (!mem.testFlag(3, PG.lru) || lruvec.nrPages[LRU_INACTIVE_FILE] !== 1) throw new Error();
 * ```
 */
export class Lruvec {
  /** The frames. */
  readonly mem: PhysMem;
  /** Parsed configuration. */
  readonly config: LruvecConfig;
  /** `lruvec->lists[lru]`; the LRU_UNEVICTABLE entry stays empty (v6.12 keeps no list). */
  readonly lists: readonly FolioList[];
  /** Size of each list in pages (`lruvec_page_state(lruvec, NR_LRU_BASE + lru)`). */
  readonly nrPages: Float64Array;
  /** `lruvec->anon_cost` (lru_note_cost). */
  anonCost = 0;
  /** `lruvec->file_cost` (lru_note_cost). */
  fileCost = 0;
  /** `lruvec->nonresident_age` (mm/workingset.c), in pages. */
  nonresidentAge = 0;
  /** `*nr_scanned` of the last `isolateLruFolios` call, in pages. */
  nrScanned = 0;
  /** VM event counters. */
  readonly events: LruVmEvents = {
    pgactivate: 0,
    pgdeactivate: 0,
    pgrefill: 0,
    pgrotated: 0,
    unevictablePgculled: 0,
    unevictablePgrescued: 0,
  };
  /**
   * Called when a folio's last reference is dropped on an LRU path (`folio_putback_lru`,
   * `move_folios_to_lru`), after it is off the LRU with its LRU flags cleared: the kernel frees
   * it there (`free_unref_folios`). Default: throw.
   */
  freeFolio: (pfn: number) => void = noFreeHook;
  /**
   * `mapping_unevictable()` (AS_UNEVICTABLE, e.g. ramfs, SHM_LOCK): null means no mapping is
   * unevictable. `folio_evictable()` is `!mappingUnevictable(mapping) && !PG_mlocked`.
   */
  mappingUnevictable: ((mapping: number) => boolean) | null = null;
  /** Scratch list for shrink_active_list's `l_hold`. */
  readonly lHold: FolioList;
  /** Scratch list for shrink_active_list's `l_active`. */
  readonly lActive: FolioList;
  /** Scratch list for shrink_active_list's `l_inactive`. */
  readonly lInactive: FolioList;
  /** Page shift of the base page (PAGE_SHIFT). */
  readonly pageShift: number;

  /** Empty lists over `mem`'s frames. */
  constructor(mem: PhysMem, config: LruvecOptions = {}) {
    this.mem = mem;
    this.config = LruvecConfig.parse(config);
    this.lists = Array.from({ length: NR_LRU_LISTS }, () => new FolioList(mem));
    this.nrPages = new Float64Array(NR_LRU_LISTS);
    this.lHold = new FolioList(mem);
    this.lActive = new FolioList(mem);
    this.lInactive = new FolioList(mem);
    this.pageShift = Math.log2(mem.pageSizeBytes);
  }
}

const BIT_LRU = 1 << PG.lru;
const BIT_ACTIVE = 1 << PG.active;
const BIT_REFERENCED = 1 << PG.referenced;
const BIT_UNEVICTABLE = 1 << PG.unevictable;
const BIT_SWAPBACKED = 1 << PG.swapbacked;
const BIT_WORKINGSET = 1 << PG.workingset;
const BIT_MLOCKED = 1 << PG.mlocked;
const BIT_LOCKED = 1 << PG.locked;
const BIT_DIRTY = 1 << PG.dirty;

/**
 * folio_nr_pages(): pages in the folio headed at `pfn`.
 *
 * @example
 * ```ts
 * import { PhysMem, folioNrPages } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 8 });
 * mem.order[0] = 2;
 * if (folioNrPages(mem, 0) !== 4) throw new Error();
 * ```
 */
export function folioNrPages(mem: PhysMem, pfn: number): number {
  return 1 << mem.order[pfn]!;
}

/**
 * folio_is_file_lru() (mm_inline.h): a folio goes on the file lists unless PG_swapbacked.
 *
 * @example
 * ```ts
 * import { PhysMem, PG, folioIsFileLru } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 8 });
 * mem.setFlag(1, PG.swapbacked);
 * if (folioIsFileLru(mem, 1) || !folioIsFileLru(mem, 2)) throw new Error();
 * ```
 */
export function folioIsFileLru(mem: PhysMem, pfn: number): boolean {
  return (mem.flags[pfn]! & BIT_SWAPBACKED) === 0;
}

/**
 * folio_lru_list() (mm_inline.h): which list the folio's flags put it on.
 *
 * @example
 * ```ts
 * import { PhysMem, PG, folioLruList, LRU_ACTIVE_FILE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 8 });
 * mem.setFlag(1, PG.active);
 * if (folioLruList(mem, 1) !== LRU_ACTIVE_FILE) throw new Error();
 * ```
 */
export function folioLruList(mem: PhysMem, pfn: number): LruList {
  const f = mem.flags[pfn]!;
  if (f & BIT_UNEVICTABLE) {
    if (f & BIT_ACTIVE) {
      throw new Error(`folio_lru_list: folio ${pfn} is both PG_active and PG_unevictable`);
    }
    return LRU_UNEVICTABLE;
  }
  return (((f & BIT_SWAPBACKED) === 0 ? LRU_FILE : 0) +
    ((f & BIT_ACTIVE) !== 0 ? 1 : 0)) as LruList;
}

/**
 * lruvec_add_folio() (mm_inline.h): add at the head of the list the flags name and count its
 * pages. Does not touch PG_lru (the callers set it).
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, lruvecAddFolio, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvecAddFolio(lruvec, 0);
 * if (lruvec.lists[LRU_INACTIVE_FILE]!.first !== 0) throw new Error();
 * ```
 */
export function lruvecAddFolio(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const lru = folioLruList(mem, pfn);
  lruvec.nrPages[lru]! += 1 << mem.order[pfn]!;
  if (lru !== LRU_UNEVICTABLE) lruvec.lists[lru]!.add(pfn);
}

/**
 * lruvec_add_folio_tail() (mm_inline.h): add at the tail (next to be scanned).
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, lruvecAddFolio, lruvecAddFolioTail, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvecAddFolio(lruvec, 0);
 * lruvecAddFolioTail(lruvec, 1);
 * if (lruvec.lists[LRU_INACTIVE_FILE]!.last !== 1) throw new Error();
 * ```
 */
export function lruvecAddFolioTail(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const lru = folioLruList(mem, pfn);
  lruvec.nrPages[lru]! += 1 << mem.order[pfn]!;
  // As in the kernel: not expected to be used on LRU_UNEVICTABLE.
  if (lru !== LRU_UNEVICTABLE) lruvec.lists[lru]!.addTail(pfn);
}

/**
 * lruvec_del_folio() (mm_inline.h): unlink from the list the flags name and uncount its pages.
 * Does not touch PG_lru.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, lruvecAddFolio, lruvecDelFolio, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvecAddFolio(lruvec, 0);
 * lruvecDelFolio(lruvec, 0);
 * if (lruvec.nrPages[LRU_INACTIVE_FILE] !== 0) throw new Error();
 * ```
 */
export function lruvecDelFolio(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const lru = folioLruList(mem, pfn);
  if (lru !== LRU_UNEVICTABLE) lruvec.lists[lru]!.del(pfn);
  lruvec.nrPages[lru]! -= 1 << mem.order[pfn]!;
}

/**
 * folio_evictable() (mm/internal.h): `!mapping_unevictable(mapping) && !PG_mlocked`.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioEvictable } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.setFlag(1, PG.mlocked);
 * if (folioEvictable(lruvec, 1) || !folioEvictable(lruvec, 0)) throw new Error();
 * ```
 */
export function folioEvictable(lruvec: Lruvec, pfn: number): boolean {
  const mem = lruvec.mem;
  if ((mem.flags[pfn]! & BIT_MLOCKED) !== 0) return false;
  const mu = lruvec.mappingUnevictable;
  return mu === null || !mu(mem.mapping[pfn]!);
}

/**
 * folio_add_lru() (mm/swap.c) with its `lru_add()` applied at once. // Divergence: no per-CPU
 * folio batch, so PG_lru is set when this returns (the kernel sets it when the batch drains;
 * `folio_mark_accessed` on a folio still in the batch marks it active instead, with the same end
 * state). An unevictable folio is counted on LRU_UNEVICTABLE with PG_active cleared.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * folioAddLru(lruvec, 2);
 * if (!lruvec.mem.testFlag(2, PG.lru) || lruvec.lists[LRU_INACTIVE_FILE]!.first !== 2) {
 *   throw new Error();
 * }
 * ```
 */
export function folioAddLru(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const f = mem.flags[pfn]!;
  if ((f & BIT_LRU) !== 0) {
    throw new Error(`folio_add_lru: folio ${pfn} is already on an LRU list (PG_lru set)`);
  }
  if ((f & BIT_ACTIVE) !== 0 && (f & BIT_UNEVICTABLE) !== 0) {
    throw new Error(`folio_add_lru: folio ${pfn} is both PG_active and PG_unevictable`);
  }
  // lru_add(): was_unevictable = folio_test_clear_unevictable(folio).
  const wasUnevictable = (f & BIT_UNEVICTABLE) !== 0;
  mem.flags[pfn] = f & ~BIT_UNEVICTABLE;
  const nr = 1 << mem.order[pfn]!;
  if (folioEvictable(lruvec, pfn)) {
    if (wasUnevictable) lruvec.events.unevictablePgrescued += nr;
  } else {
    mem.flags[pfn] = (mem.flags[pfn]! & ~BIT_ACTIVE) | BIT_UNEVICTABLE;
    if (!wasUnevictable) lruvec.events.unevictablePgculled += nr;
  }
  lruvecAddFolio(lruvec, pfn);
  mem.flags[pfn]! |= BIT_LRU;
}

/**
 * folio_activate() + lru_activate() (mm/swap.c), applied at once as the !CONFIG_SMP variant
 * does: take PG_lru, move an inactive evictable folio to the head of its active list, give
 * PG_lru back.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, folioActivate, LRU_ACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * folioAddLru(lruvec, 1);
 * folioActivate(lruvec, 1);
 * if (!lruvec.mem.testFlag(1, PG.active) || lruvec.nrPages[LRU_ACTIVE_FILE] !== 1) throw new Error();
 * ```
 */
export function folioActivate(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const f = mem.flags[pfn]!;
  if ((f & BIT_LRU) === 0) return; // folio_test_clear_lru() failed
  if ((f & (BIT_ACTIVE | BIT_UNEVICTABLE)) !== 0) return;
  lruvecDelFolio(lruvec, pfn);
  mem.flags[pfn] = f | BIT_ACTIVE;
  lruvecAddFolio(lruvec, pfn);
  lruvec.events.pgactivate += 1 << mem.order[pfn]!;
}

/**
 * folio_mark_accessed() (mm/swap.c), classic LRU (`lru_gen_enabled()` false):
 * inactive,unreferenced → inactive,referenced; inactive,referenced → active,unreferenced
 * (with `workingset_activation`); active,unreferenced → active,referenced. The activation is
 * done at once instead of through `cpu_fbatches.lru_activate`. A folio off the LRU (isolated,
 * or being freed) is not activated, as the kernel finds it in no local batch; PG_referenced is
 * still cleared.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, folioMarkAccessed } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * folioAddLru(lruvec, 0);
 * folioMarkAccessed(lruvec, 0);
 * if (!lruvec.mem.testFlag(0, PG.referenced)) throw new Error("first access: referenced");
 * folioMarkAccessed(lruvec, 0);
 * if (!lruvec.mem.testFlag(0, PG.active) || lruvec.mem.testFlag(0, PG.referenced)) {
 *   throw new Error("second access: active, unreferenced");
 * }
 * ```
 */
export function folioMarkAccessed(lruvec: Lruvec, pfn: number): void {
  const mem = lruvec.mem;
  const f = mem.flags[pfn]!;
  if ((f & BIT_REFERENCED) === 0) {
    mem.flags[pfn] = f | BIT_REFERENCED;
  } else if ((f & BIT_UNEVICTABLE) !== 0) {
    // The unevictable list is never rotated: marking it accessed has no effect.
  } else if ((f & BIT_ACTIVE) === 0) {
    if ((f & BIT_LRU) !== 0) folioActivate(lruvec, pfn);
    mem.flags[pfn]! &= ~BIT_REFERENCED;
    // workingset_activation() -> workingset_age_nonresident().
    lruvec.nonresidentAge += 1 << mem.order[pfn]!;
  }
}

/**
 * folio_rotate_reclaimable() + lru_move_tail() (mm/swap.c), applied at once: at the end of
 * writeback of a folio marked PG_reclaim, move it to the tail of its inactive list unless it is
 * locked, dirty, unevictable or off the LRU. Returns true if it moved.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, folioAddLru, folioRotateReclaimable, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * folioAddLru(lruvec, 0);
 * folioAddLru(lruvec, 1);
 * folioRotateReclaimable(lruvec, 1);
 * if (lruvec.lists[LRU_INACTIVE_FILE]!.last !== 1) throw new Error();
 * ```
 */
export function folioRotateReclaimable(lruvec: Lruvec, pfn: number): boolean {
  const mem = lruvec.mem;
  const f = mem.flags[pfn]!;
  if ((f & (BIT_LOCKED | BIT_DIRTY | BIT_UNEVICTABLE)) !== 0 || (f & BIT_LRU) === 0) {
    return false;
  }
  lruvecDelFolio(lruvec, pfn);
  mem.flags[pfn] = f & ~BIT_ACTIVE;
  lruvecAddFolioTail(lruvec, pfn);
  lruvec.events.pgrotated += 1 << mem.order[pfn]!;
  return true;
}

/**
 * folio_isolate_lru() (mm/vmscan.c): if PG_lru was set, clear it, take a reference and unlink
 * the folio (keeping PG_active/PG_unevictable, so putback returns it to the same kind of list).
 * Returns false if the folio was not on an LRU list. The caller must hold a reference.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, folioAddLru, folioIsolateLru } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[0] = 1;
 * folioAddLru(lruvec, 0);
 * if (!folioIsolateLru(lruvec, 0) || lruvec.mem.refcount[0] !== 2) throw new Error();
 * if (folioIsolateLru(lruvec, 0)) throw new Error("already isolated");
 * ```
 */
export function folioIsolateLru(lruvec: Lruvec, pfn: number): boolean {
  const mem = lruvec.mem;
  if (mem.refcount[pfn]! <= 0) {
    throw new Error(
      `folio_isolate_lru: folio ${pfn} has refcount ${mem.refcount[pfn]}, expected > 0`,
    );
  }
  const f = mem.flags[pfn]!;
  if ((f & BIT_LRU) === 0) return false;
  mem.flags[pfn] = f & ~BIT_LRU;
  mem.refcount[pfn]!++;
  lruvecDelFolio(lruvec, pfn);
  return true;
}

/**
 * __folio_clear_lru_flags() (mm_inline.h): clear PG_lru, PG_active and PG_unevictable.
 *
 * @example
 * ```ts
 * import { PhysMem, PG, folioClearLruFlags } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * mem.setFlag(0, PG.active);
 * folioClearLruFlags(mem, 0);
 * if (mem.testFlag(0, PG.active)) throw new Error();
 * ```
 */
export function folioClearLruFlags(mem: PhysMem, pfn: number): void {
  mem.flags[pfn]! &= ~(BIT_LRU | BIT_ACTIVE | BIT_UNEVICTABLE);
}

/**
 * folio_putback_lru() (mm/vmscan.c): `folio_add_lru(folio); folio_put(folio)` — return an
 * isolated folio and drop the isolation reference. If that was the last reference the folio is
 * taken off the LRU again with its LRU flags cleared (`__folio_put` → `page_cache_release`) and
 * handed to `lruvec.freeFolio`; returns true then.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, folioIsolateLru, folioPutbackLru } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.mem.refcount[0] = 1;
 * folioAddLru(lruvec, 0);
 * folioIsolateLru(lruvec, 0);
 * if (folioPutbackLru(lruvec, 0) || !lruvec.mem.testFlag(0, PG.lru)) throw new Error();
 * if (lruvec.mem.refcount[0] !== 1) throw new Error("isolation reference dropped");
 * ```
 */
export function folioPutbackLru(lruvec: Lruvec, pfn: number): boolean {
  folioAddLru(lruvec, pfn);
  return folioPutOnLru(lruvec, pfn);
}

/** folio_put() of a folio on the LRU: on the last reference, __folio_put's LRU part + free. */
function folioPutOnLru(lruvec: Lruvec, pfn: number): boolean {
  const mem = lruvec.mem;
  const r = --mem.refcount[pfn]!;
  if (r > 0) return false;
  if (r < 0) throw new Error(`folio_put: folio ${pfn} refcount went to ${r}, expected >= 0`);
  if ((mem.flags[pfn]! & BIT_LRU) !== 0) lruvecDelFolio(lruvec, pfn);
  folioClearLruFlags(mem, pfn);
  lruvec.freeFolio(pfn);
  return true;
}

/**
 * isolate_lru_folios() (mm/vmscan.c): scan up to `nrToScan` pages from the tail of list `lru`;
 * each folio that is on the LRU (and unmapped, unless `mayUnmap`) and whose refcount is not zero
 * gets a reference, loses PG_lru and moves to the head of `dst`; the others are rotated to the
 * head of `lru`. Returns `nr_taken` in pages; `lruvec.nrScanned` gets `*nr_scanned`.
 *
 * @example
 * ```ts
 * import { FolioList, Lruvec, PhysMem, folioAddLru, isolateLruFolios, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * const lruvec = new Lruvec(mem);
 * for (let p = 0; p < 4; p++) { mem.refcount[p] = 1; folioAddLru(lruvec, p); }
 * const dst = new FolioList(mem);
 * if (isolateLruFolios(lruvec, 2, dst, LRU_INACTIVE_FILE) !== 2) throw new Error();
 * if (dst.popTail() !== 0 || dst.popTail() !== 1) throw new Error("oldest first");
 * ```
 */
export function isolateLruFolios(
  lruvec: Lruvec,
  nrToScan: number,
  dst: FolioList,
  lru: LruList,
  mayUnmap = true,
): number {
  const mem = lruvec.mem;
  const src = lruvec.lists[lru]!;
  let nrTaken = 0, scan = 0, totalScan = 0;
  while (scan < nrToScan && src.last !== NIL) {
    const pfn = src.last;
    const nr = 1 << mem.order[pfn]!;
    totalScan += nr;
    scan += nr;
    src.del(pfn);
    const f = mem.flags[pfn]!;
    if (
      (f & BIT_LRU) === 0 || (!mayUnmap && mem.mapcount[pfn]! > 0) || mem.refcount[pfn]! <= 0
    ) {
      src.add(pfn); // move: list_move(&folio->lru, src)
      continue;
    }
    mem.refcount[pfn]!++; // folio_try_get()
    mem.flags[pfn] = f & ~BIT_LRU; // folio_test_clear_lru()
    nrTaken += nr;
    dst.add(pfn);
  }
  lruvec.nrScanned = totalScan;
  lruvec.nrPages[lru]! -= nrTaken; // update_lru_sizes()
  return nrTaken;
}

/**
 * move_folios_to_lru() (mm/vmscan.c): put every folio of `list` (taken from its tail) back on
 * the LRU list its flags name, set PG_lru and drop the isolation reference. Unevictable folios
 * go through `folioPutbackLru`; a folio whose last reference this drops is freed through
 * `lruvec.freeFolio`. Returns the pages moved. Empties `list`.
 *
 * @example
 * ```ts
 * import { FolioList, Lruvec, PhysMem, folioAddLru, isolateLruFolios, moveFoliosToLru, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * const lruvec = new Lruvec(mem);
 * mem.refcount[0] = 1;
 * folioAddLru(lruvec, 0);
 * const l = new FolioList(mem);
 * isolateLruFolios(lruvec, 32, l, LRU_INACTIVE_FILE);
 * if (moveFoliosToLru(lruvec, l) !== 1 || mem.refcount[0] !== 1) throw new Error();
 * ```
 */
export function moveFoliosToLru(lruvec: Lruvec, list: FolioList): number {
  const mem = lruvec.mem;
  let nrMoved = 0;
  for (let pfn = list.popTail(); pfn !== NIL; pfn = list.popTail()) {
    if ((mem.flags[pfn]! & BIT_LRU) !== 0) {
      throw new Error(`move_folios_to_lru: folio ${pfn} already has PG_lru set`);
    }
    if (!folioEvictable(lruvec, pfn)) {
      folioPutbackLru(lruvec, pfn);
      continue;
    }
    mem.flags[pfn]! |= BIT_LRU;
    if (mem.refcount[pfn]! === 1) {
      mem.refcount[pfn] = 0;
      folioClearLruFlags(mem, pfn);
      lruvec.freeFolio(pfn);
      continue;
    }
    mem.refcount[pfn]!--;
    lruvecAddFolio(lruvec, pfn);
    const nr = 1 << mem.order[pfn]!;
    nrMoved += nr;
    if ((mem.flags[pfn]! & BIT_ACTIVE) !== 0) lruvec.nonresidentAge += nr;
  }
  return nrMoved;
}

/**
 * lru_note_cost() (mm/swap.c): record `nrIo * SWAP_CLUSTER_MAX + nrRotated` against the file or
 * anon cost, halving both when they exceed a quarter of the LRU size. // Divergence: no parent
 * (memcg) walk.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, lruNoteCost } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruNoteCost(lruvec, true, 0, 3);
 * // The lists are empty, so 3 > 0 / 4 and both costs are halved: 3 -> 1.
 * if (lruvec.fileCost !== 1) throw new Error();
 * ```
 */
export function lruNoteCost(lruvec: Lruvec, file: boolean, nrIo: number, nrRotated: number): void {
  const cost = nrIo * SWAP_CLUSTER_MAX + nrRotated;
  if (cost === 0) return;
  if (file) lruvec.fileCost += cost;
  else lruvec.anonCost += cost;
  const n = lruvec.nrPages;
  const lrusize = n[LRU_INACTIVE_ANON]! + n[LRU_ACTIVE_ANON]! + n[LRU_INACTIVE_FILE]! +
    n[LRU_ACTIVE_FILE]!;
  if (lruvec.fileCost + lruvec.anonCost > lrusize / 4) {
    lruvec.fileCost = Math.floor(lruvec.fileCost / 2);
    lruvec.anonCost = Math.floor(lruvec.anonCost / 2);
  }
}

/**
 * shrink_active_list() (mm/vmscan.c): isolate up to `nrToScan` pages from the tail of the
 * active list `lru`; put unevictable ones back; deactivate the rest (clear PG_active, set
 * PG_workingset) onto the head of the inactive list in their old order, except — in the
 * `"pg_referenced"` mode — referenced ones, which go back to the head of the active list
 * (see `LruvecConfig.folioReferenced` for how `folio_referenced()` is modelled). Counts
 * PGREFILL and PGDEACTIVATE and notes rotations with `lru_note_cost`. Returns the pages
 * deactivated.
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, PG, folioAddLru, folioActivate, shrinkActiveList, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE } from "@mmsim/mmsim";
 * const mem = new PhysMem({ nrFrames: 4 });
 * const lruvec = new Lruvec(mem);
 * for (let p = 0; p < 4; p++) { mem.refcount[p] = 1; folioAddLru(lruvec, p); folioActivate(lruvec, p); }
 * if (shrinkActiveList(lruvec, 2, LRU_ACTIVE_FILE) !== 2) throw new Error();
 * if (lruvec.nrPages[LRU_INACTIVE_FILE] !== 2 || !mem.testFlag(0, PG.workingset)) throw new Error();
 * ```
 */
export function shrinkActiveList(lruvec: Lruvec, nrToScan: number, lru: LruList): number {
  const mem = lruvec.mem;
  const lHold = lruvec.lHold, lActive = lruvec.lActive, lInactive = lruvec.lInactive;
  isolateLruFolios(lruvec, nrToScan, lHold, lru);
  lruvec.events.pgrefill += lruvec.nrScanned;
  const rotate = lruvec.config.folioReferenced === "pg_referenced";
  let nrRotated = 0;
  for (let pfn = lHold.popTail(); pfn !== NIL; pfn = lHold.popTail()) {
    if (!folioEvictable(lruvec, pfn)) {
      folioPutbackLru(lruvec, pfn);
      continue;
    }
    const f = mem.flags[pfn]!;
    if (rotate && (f & BIT_REFERENCED) !== 0) {
      // Divergence ("pg_referenced" mode): folio_referenced() approximated by
      // test-and-clear of PG_referenced, and every referenced folio treated as VM_EXEC file.
      mem.flags[pfn] = f & ~BIT_REFERENCED;
      nrRotated += 1 << mem.order[pfn]!;
      lActive.add(pfn);
      continue;
    }
    mem.flags[pfn] = (f & ~BIT_ACTIVE) | BIT_WORKINGSET; // we are de-activating
    lInactive.add(pfn);
  }
  moveFoliosToLru(lruvec, lActive);
  const nrDeactivate = moveFoliosToLru(lruvec, lInactive);
  lruvec.events.pgdeactivate += nrDeactivate;
  if (nrRotated > 0) lruNoteCost(lruvec, lru >= LRU_FILE && lru < LRU_UNEVICTABLE, 0, nrRotated);
  return nrDeactivate;
}

/**
 * inactive_is_low() (mm/vmscan.c): `inactive * inactive_ratio < active`, where
 * `inactive_ratio = int_sqrt(10 * gb)` for a list pair of `gb` GiB (1 below 1 GiB).
 *
 * @example
 * ```ts
 * import { Lruvec, PhysMem, inactiveIsLow, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE } from "@mmsim/mmsim";
 * const lruvec = new Lruvec(new PhysMem({ nrFrames: 4 }));
 * lruvec.nrPages[LRU_ACTIVE_FILE] = 3;
 * lruvec.nrPages[LRU_INACTIVE_FILE] = 2;
 * if (!inactiveIsLow(lruvec, LRU_INACTIVE_FILE)) throw new Error();
 * ```
 */
export function inactiveIsLow(lruvec: Lruvec, inactiveLru: LruList): boolean {
  const inactive = lruvec.nrPages[inactiveLru]!;
  const active = lruvec.nrPages[inactiveLru + LRU_ACTIVE]!;
  const gb = Math.floor((inactive + active) / 2 ** (30 - lruvec.pageShift));
  const inactiveRatio = gb > 0 ? Math.floor(Math.sqrt(10 * gb)) : 1;
  return inactive * inactiveRatio < active;
}

/**
 * A pure LRU policy over the frames' `next`/`prev` links: one list, a hit moves the frame to
 * the head, eviction takes the tail. Not a kernel structure (the kernel has no single-list
 * LRU); it exists to check a replay against an exact LRU such as libCacheSim's. Sets PG_lru
 * while a frame is on the list.
 *
 * @example
 * ```ts
 * import { PhysMem, PureLru } from "@mmsim/mmsim";
 * const lru = new PureLru(new PhysMem({ nrFrames: 4 }));
 * lru.add(0);
 * lru.add(1);
 * lru.access(0);
 * if (lru.evict() !== 1 || lru.evict() !== 0 || lru.evict() !== -1) throw new Error();
 * ```
 */
export class PureLru {
  /** The frames. */
  readonly mem: PhysMem;
  /** Most recently used frame, NIL if empty. */
  first: number = NIL;
  /** Least recently used frame, NIL if empty. */
  last: number = NIL;
  /** Pages on the list. */
  nrPages = 0;

  /** An empty list over `mem`'s frames. */
  constructor(mem: PhysMem) {
    this.mem = mem;
  }

  /** Insert a frame that is on no list at the head (most recently used). */
  add(pfn: number): void {
    const mem = this.mem, next = mem.next, prev = mem.prev;
    const f = this.first;
    next[pfn] = f;
    prev[pfn] = NIL;
    if (f === NIL) this.last = pfn;
    else prev[f] = pfn;
    this.first = pfn;
    mem.flags[pfn]! |= BIT_LRU;
    this.nrPages += 1 << mem.order[pfn]!;
  }

  /** A hit: move the frame to the head. */
  access(pfn: number): void {
    const f = this.first;
    if (f === pfn) return;
    const next = this.mem.next, prev = this.mem.prev;
    const n = next[pfn]!, p = prev[pfn]!;
    // pfn is not the head, so p !== NIL.
    next[p] = n;
    if (n === NIL) this.last = p;
    else prev[n] = p;
    next[pfn] = f;
    prev[pfn] = NIL;
    prev[f] = pfn;
    this.first = pfn;
  }

  /** Unlink a frame from the list. */
  del(pfn: number): void {
    const mem = this.mem, next = mem.next, prev = mem.prev;
    const n = next[pfn]!, p = prev[pfn]!;
    if (p === NIL) this.first = n;
    else next[p] = n;
    if (n === NIL) this.last = p;
    else prev[n] = p;
    next[pfn] = NIL;
    prev[pfn] = NIL;
    mem.flags[pfn]! &= ~BIT_LRU;
    this.nrPages -= 1 << mem.order[pfn]!;
  }

  /** Unlink and return the least recently used frame, or NIL (-1) if the list is empty. */
  evict(): number {
    const pfn = this.last;
    if (pfn !== NIL) this.del(pfn);
    return pfn;
  }
}
