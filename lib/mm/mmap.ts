/**
 * Memory mappings: VMAs with per-page PTEs (present / write / dirty / young bits), the fault
 * path with write notification (`->page_mkwrite`), the reverse map and what it is used for
 * (`folio_mkclean`, `try_to_unmap`, `try_to_migrate`, `remove_migration_ptes`,
 * `unmap_mapping_range`), and user loads and stores through the page tables.
 *
 * Follows mm/memory.c (`handle_mm_fault` → `handle_pte_fault` → `do_fault` → `do_read_fault` /
 * `do_cow_fault` / `do_shared_fault`, `do_page_mkwrite`, `finish_fault`, `set_pte_range`,
 * `fault_dirty_shared_page`, `do_wp_page` → `wp_page_shared` / `wp_page_reuse` /
 * `wp_page_copy`, `finish_mkwrite_fault`, `do_anonymous_page`, `unmap_mapping_range`,
 * `unmap_mapping_folio`, `zap_present_folio_ptes`) as of a v6.12/v6.13 revision;
 * mm/filemap.c (`filemap_fault`, `filemap_read_folio`, `filemap_page_mkwrite`,
 * `generic_file_vm_ops`); mm/rmap.c (`folio_mkclean` / `page_vma_mkclean_one` with
 * `invalid_mkclean_vma`, `try_to_unmap_one`, `try_to_migrate_one`) and mm/migrate.c
 * (`remove_migration_pte`, `migration_entry_wait`), Linux v6.12; mm/mmap.c
 * (`vma_wants_writenotify`).
 *
 * Write notification: a shared writable file mapping whose filesystem can write back
 * (`mapping_can_writeback`) or has `->page_mkwrite` gets read-only PTEs on read faults, so the
 * first store takes a write-protect fault that calls `->page_mkwrite` (the filesystem's, or
 * `filemap_page_mkwrite` of `generic_file_vm_ops`) and then maps the page writable and dirty;
 * later stores do not fault until `folio_mkclean` (called by `folio_clear_dirty_for_io`)
 * write-protects the PTEs again. Nothing here is called when a page is dirtied through a
 * kernel path that does not go through the page tables — direct-I/O completion
 * (`set_page_dirty_lock`, see direct_io.ts) is the case thread 001 turns on.
 *
 * The reverse map is a per-folio list of PTE slots `(vma, index)` (the kernel walks
 * `mapping->i_mmap` or the anon_vma instead); `mapcount[head]` equals its length and every PTE
 * holds one folio reference (`finish_fault` consumes the fault's reference). Migration entries
 * (non-present PTEs left by `try_to_migrate`) are listed per source folio.
 *
 * GUP (`pin_user_pages`, FOLL_PIN / FOLL_LONGTERM) lives in gup.ts and is re-exported here.
 *
 * Lock order (as mm/rmap.c draws it, the parts modelled):
 *   folio lock (PG_locked)
 *     → i_mmap / page-table lock (implicit: a step is atomic)
 *
 * Left out: addresses (a PTE is named by its VMA and the linear page index `vma.pgoff + page
 * offset`), page-table pages and PMD/PUD mappings (every PTE maps one base page), fault-around
 * (`filemap_map_pages`: only the faulting page is mapped), the zero page (an anonymous read
 * fault allocates a page), fork, KSM, swap (anonymous pages cannot be unmapped by reclaim),
 * mlock, userfaultfd, mmap_lock and VM_FAULT_RETRY (a fault sleeps where the kernel would drop
 * the mmap_lock and retry), TLB flushes.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import type { AddressSpace, Errno, KResult } from "./address_space.ts";
import { FGP, filemapGetFolioErr, filemapReadFolio, iSizeRead } from "./filemap.ts";
import { folioGet, folioLock, folioPut, folioUnlock, folioWaitBit } from "./folio.ts";
import { folioAddLru, folioMarkAccessed } from "./lru.ts";
import { NIL, PG } from "./memory.ts";
import type { FolioRef, MappingLike, Mm } from "./mm.ts";
import { folioFileMapping, folioMarkDirtyAny, folioPutRefsAny } from "./_anon.ts";
import { folioAllocGfp, GFP_HIGHUSER_MOVABLE } from "./page_alloc.ts";
import { balanceDirtyPages, folioMarkDirty, folioWaitStable } from "./writeback.ts";

// ------------------------------------------------------------------ flags

/**
 * `vm_flags` bits used by the model, with the kernel's values (include/linux/mm.h).
 *
 * @example
 * ```ts
 * import { VM } from "@mmsim/mmsim";
 * if (VM.SHARED !== 0x8) throw new Error("VM_SHARED");
 * ```
 */
export const VM = {
  READ: 0x1,
  WRITE: 0x2,
  EXEC: 0x4,
  SHARED: 0x8,
  MAYREAD: 0x10,
  MAYWRITE: 0x20,
  MAYSHARE: 0x80,
} as const;

/**
 * Bits of a model PTE (`Vma.pteBits`). `present`, `write`, `dirty`, `young` are the hardware
 * bits (pte_present, pte_write, pte_dirty, pte_young); `migration` marks a non-present
 * migration entry (a swap-type PTE, `is_migration_entry`) whose `write`/`dirty` bits are those
 * of the entry (`is_writable_migration_entry`, `is_migration_entry_dirty`).
 *
 * @example
 * ```ts
 * import { PTE } from "@mmsim/mmsim";
 * if ((PTE.present & PTE.migration) !== 0) throw new Error("distinct bits");
 * ```
 */
export const PTE = {
  present: 1,
  write: 2,
  dirty: 4,
  young: 8,
  migration: 16,
} as const;

// ------------------------------------------------------------------ VMAs and state

/**
 * `vm_operations_struct->page_mkwrite`: same shape as `AddressSpaceOperations.pageMkwrite`.
 *
 * @example The first store to a clean shared file page notifies the filesystem, later ones do not
 * ```ts
 * import { AddressSpace, Engine, filemapPageMkwrite, folioEndRead, Mm, mmapRegion, type PageMkwrite, PG, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * let calls = 0;
 * const mkwrite: PageMkwrite = function* (mm, mapping, folio) {
 *   calls++; // e.g. reserve blocks for the write
 *   return yield* filemapPageMkwrite(mm, mapping, folio);
 * };
 * const vma = mmapRegion(mm, { mapping: file, nrPages: 1, pageMkwrite: mkwrite });
 * env.spawn("user", function* () {
 *   yield* userStore(mm, vma, 0);
 *   yield* userStore(mm, vma, 0);
 * });
 * env.run();
 * const page = vma.pteOf(0);
 * if (calls !== 1 || !mm.mem.testFlag(page, PG.dirty) || mm.mem.testFlag(page, PG.locked)) throw new Error(`${calls} calls`);
 * ```
 */
export type PageMkwrite = (mm: Mm, mapping: AddressSpace, folio: number) => Process<KResult>;

/**
 * Options of {@link mmapRegion}.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, folioEndRead, Mm, mmapRegion, type MmapOptions, userLoad, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * const opts: MmapOptions = { mapping: file, nrPages: 4, write: false }; // PROT_READ, MAP_SHARED
 * const vma = mmapRegion(mm, opts);
 * const got: string[] = [];
 * env.spawn("user", function* () {
 *   const r = yield* userLoad(mm, vma, 2);
 *   const w = yield* userStore(mm, vma, 2);
 *   got.push(r.ok ? "read ok" : r.errno, w.ok ? "write ok" : w.errno);
 * });
 * env.run();
 * if (got.join() !== "read ok,EFAULT" || !vma.shared) throw new Error(`${got}`); // SIGSEGV on the store
 * ```
 */
export interface MmapOptions {
  /** The file mapped (`vm_file->f_mapping`); absent for anonymous memory. */
  mapping?: AddressSpace;
  /** First file page mapped (`vm_pgoff`), default 0. */
  pgoff?: number;
  /** Length in pages. */
  nrPages: number;
  /** MAP_SHARED (default true for a file, false for anonymous memory). */
  shared?: boolean;
  /** PROT_WRITE (default true). */
  write?: boolean;
  /**
   * `vm_ops->page_mkwrite` for a file mapping: default the filesystem's `aops.pageMkwrite`,
   * else `filemap_page_mkwrite` (`generic_file_vm_ops`); `null` for vm_ops without one.
   */
  pageMkwrite?: PageMkwrite | null;
  /** `mapping_can_writeback` of the file (default true: its dirty pages are accounted). */
  canWriteback?: boolean;
  /** Name for reports. */
  name?: string;
}

/**
 * A virtual memory area (`struct vm_area_struct`) and its page table: one PTE per page, as
 * typed arrays indexed by page offset in the VMA.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, PTE } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 4, pgoff: 10 });
 * if (!vma.contains(13) || vma.contains(14)) throw new Error("pages 10..13");
 * if (vma.pteOf(12) >= 0 || (vma.pteBits[2]! & PTE.present) !== 0) throw new Error("nothing mapped yet");
 * ```
 */
export class Vma {
  /** Small id, in creation order. */
  readonly id: number;
  /** Name for reports. */
  readonly name: string;
  /** The file mapped, or null for anonymous memory. */
  readonly mapping: AddressSpace | null;
  /** `vm_pgoff`: linear page index of the first page. */
  readonly pgoff: number;
  /** Length in pages. */
  readonly nrPages: number;
  /** `vm_flags` ({@link VM} bits). */
  vmFlags: number;
  /** `vm_ops->page_mkwrite`, or null. */
  readonly pageMkwrite: PageMkwrite | null;
  /** `vma_wants_writenotify()`: PTEs start read-only so the first store faults. */
  readonly writeNotify: boolean;
  /** Pfn of the page each PTE maps (or, for a migration entry, the source page); NIL if none. */
  readonly ptePfn: Int32Array;
  /** {@link PTE} bits per page. */
  readonly pteBits: Uint8Array;
  /** False once unmapped (`munmap`). */
  live = true;
  /**
   * `vma->anon_vma`, created on the first anonymous page (`anon_vma_prepare`): the mapping id
   * anonymous folios of this VMA carry in `folio->mapping`.
   */
  anonVma: MappingLike | null = null;

  /** @internal Use {@link mmapRegion}. */
  constructor(id: number, o: MmapOptions) {
    if (!(o.nrPages >= 1) || !Number.isInteger(o.nrPages)) {
      throw new RangeError(`mmap: nrPages must be an integer ≥ 1, got ${o.nrPages}`);
    }
    this.id = id;
    this.mapping = o.mapping ?? null;
    this.name = o.name ?? (this.mapping ? `vma ${id} (${this.mapping.name})` : `vma ${id} (anon)`);
    this.pgoff = o.pgoff ?? 0;
    this.nrPages = o.nrPages;
    const shared = o.shared ?? this.mapping !== null;
    const write = o.write ?? true;
    this.vmFlags = VM.READ | VM.MAYREAD | (write ? VM.WRITE | VM.MAYWRITE : 0) |
      (shared ? VM.SHARED | VM.MAYSHARE : 0);
    this.pageMkwrite = this.mapping === null
      ? null
      : o.pageMkwrite === undefined
      ? (this.mapping.aops.pageMkwrite?.bind(this.mapping.aops) ?? filemapPageMkwrite)
      : o.pageMkwrite;
    // vma_wants_writenotify(): shared and writable, and the backer wants to know
    // (vm_ops_needs_writenotify) or the mapping can track dirty pages (mapping_can_writeback).
    this.writeNotify = shared && write && this.mapping !== null &&
      (this.pageMkwrite !== null || (o.canWriteback ?? true));
    this.ptePfn = new Int32Array(o.nrPages).fill(NIL);
    this.pteBits = new Uint8Array(o.nrPages);
  }

  /** VM_SHARED. */
  get shared(): boolean {
    return (this.vmFlags & VM.SHARED) !== 0;
  }

  /** True if `index` (a linear page index) lies inside the VMA. */
  contains(index: number): boolean {
    return index >= this.pgoff && index < this.pgoff + this.nrPages;
  }

  /** The pfn mapped at linear index `index` by a present PTE, or NIL. */
  pteOf(index: number): number {
    const i = index - this.pgoff;
    if (i < 0 || i >= this.nrPages) return NIL;
    return (this.pteBits[i]! & PTE.present) !== 0 ? this.ptePfn[i]! : NIL;
  }
}

/**
 * One PTE slot in the reverse map: the VMA and the linear page index.
 *
 * @example Two mappings of one file page: two PTEs in its reverse map
 * ```ts
 * import { AddressSpace, Engine, folioEndRead, folioMapcount, folioRmap, Mm, mmapRegion, type PteSlot, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "f", aops: { *readFolio(mm, _m, f) { folioEndRead(mm, f, true); return 0; } } });
 * const a = mmapRegion(mm, { mapping: file, nrPages: 4 });
 * const b = mmapRegion(mm, { mapping: file, nrPages: 2, pgoff: 2 });
 * env.spawn("user", function* () {
 *   yield* userLoad(mm, a, 3);
 *   yield* userLoad(mm, b, 3);
 * });
 * env.run();
 * const page = a.pteOf(3);
 * const slots: readonly PteSlot[] = folioRmap(mm, page);
 * if (b.pteOf(3) !== page || slots.length !== 2 || folioMapcount(mm, page) !== 2) throw new Error("shared page");
 * if (!slots.every((s) => s.index === 3) || slots[0]!.vma === slots[1]!.vma) throw new Error("one slot per VMA");
 * ```
 */
export interface PteSlot {
  /** The VMA. */
  readonly vma: Vma;
  /** Linear page index (`vma.pgoff` + page offset). */
  readonly index: number;
}

/**
 * Per-Mm mapping state: VMAs, i_mmap, reverse map, migration entries, GUP bookkeeping.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, type MmapState, mmapState, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 2 });
 * env.spawn("user", function* () {
 *   yield* userStore(mm, vma, 0); // faults the page in
 *   yield* userStore(mm, vma, 0); // PTE present and writable: no fault
 * });
 * env.run();
 * const st: MmapState = mmapState(mm);
 * if (st.stats.faults !== 1 || st.vmas[0] !== vma || st.rmap.get(vma.pteOf(0))?.length !== 1) throw new Error(JSON.stringify(st.stats));
 * ```
 */
export class MmapState {
  /** Live VMAs in creation order. */
  readonly vmas: Vma[] = [];
  /** `mapping->i_mmap`: VMAs of each file, by mapping id. */
  readonly iMmap = new Map<number, Vma[]>();
  /** Reverse map: head pfn → present PTE slots mapping a page of the folio. */
  readonly rmap = new Map<number, PteSlot[]>();
  /** Migration entries: source head pfn → PTE slots holding a migration entry for it. */
  readonly migrationEntries = new Map<number, PteSlot[]>();
  /** `folio->_pincount` of large folios (small folios count pins in the refcount). */
  readonly pincount = new Map<number, number>();
  /** References handed out by GUP and not yet released, by page pfn (stale-safe). */
  readonly gupRefs = new Map<number, FolioRef[]>();
  /** Counters: faults by kind, page_mkwrite calls. */
  readonly stats = {
    faults: 0,
    majorFaults: 0,
    wpFaults: 0,
    pageMkwrite: 0,
    cow: 0,
    migrationWaits: 0,
  };
  /** Id of the next VMA. */
  nextVmaId = 1;
}

const STATES = new WeakMap<Mm, MmapState>();

/**
 * The mapping state of `mm` (created on first use).
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapState, mmapRegion } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * mmapRegion(mm, { nrPages: 1 });
 * if (mmapState(mm).vmas.length !== 1) throw new Error("one vma");
 * ```
 */
export function mmapState(mm: Mm): MmapState {
  let s = STATES.get(mm);
  if (!s) {
    s = new MmapState();
    STATES.set(mm, s);
    const st = s;
    // A freed folio must have no PTEs and no pins left (free_pages_prepare checks mapcount; a
    // PTE or pin that outlives the folio is a dangling mapping).
    mm.onFree.push((pfn) => {
      const slots = st.rmap.get(pfn);
      if (slots && slots.length > 0) {
        mm.env.violation(
          "freed while mapped",
          `free: ${mm.describeFolio(pfn)} is freed with ${slots.length} PTE(s) in its rmap`,
        );
        st.rmap.delete(pfn);
      }
      st.pincount.delete(pfn);
    });
  }
  return s;
}

/**
 * The PTE slots mapping folio `folio` (its reverse map). Empty when unmapped.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioRmap } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (folioRmap(mm, 3).length !== 0) throw new Error("nothing mapped");
 * ```
 */
export function folioRmap(mm: Mm, folio: number): readonly PteSlot[] {
  return mmapState(mm).rmap.get(folio) ?? [];
}

/**
 * mmap(2) / `mmap_region`: create a VMA over a file (`mapping`) or anonymous memory and link
 * it into the file's i_mmap. No page is mapped until it is touched.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, mmapRegion } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "file" });
 * const vma = mmapRegion(mm, { mapping: file, nrPages: 8 });
 * if (!vma.shared || !vma.writeNotify) throw new Error("MAP_SHARED file mappings write-notify");
 * ```
 */
export function mmapRegion(mm: Mm, options: MmapOptions): Vma {
  const st = mmapState(mm);
  const vma = new Vma(st.nextVmaId++, options);
  st.vmas.push(vma);
  if (vma.mapping) {
    const list = st.iMmap.get(vma.mapping.id);
    if (list) list.push(vma);
    else st.iMmap.set(vma.mapping.id, [vma]);
  }
  mm.env.emit("mmap", vma.name, null, {
    pgoff: vma.pgoff,
    nrPages: vma.nrPages,
    shared: vma.shared,
    writeNotify: vma.writeNotify,
  });
  return vma;
}

/**
 * munmap(2) / `do_vmi_munmap`: zap every PTE of `vma` (dirty PTEs dirty their folio, each
 * PTE's folio reference is dropped) and unlink it from i_mmap.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, doMunmap, mmapState } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 2 });
 * doMunmap(mm, vma);
 * if (vma.live || mmapState(mm).vmas.length !== 0) throw new Error("unmapped");
 * ```
 */
export function doMunmap(mm: Mm, vma: Vma): void {
  if (!vma.live) return;
  const st = mmapState(mm);
  for (let i = 0; i < vma.nrPages; i++) zapSlot(mm, st, vma, i, true);
  vma.live = false;
  removeFrom(st.vmas, vma);
  if (vma.mapping) {
    const list = st.iMmap.get(vma.mapping.id);
    if (list) {
      removeFrom(list, vma);
      if (list.length === 0) st.iMmap.delete(vma.mapping.id);
    }
  }
  mm.env.emit("munmap", vma.name);
}

function removeFrom<T>(list: T[], x: T): boolean {
  const i = list.indexOf(x);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

// ------------------------------------------------------------------ rmap primitives

function pageOf(mm: Mm, head: number, index: number): number {
  // folio_file_page(): the page of `index` inside a page-cache folio; anonymous folios here
  // are order 0.
  if (!folioFileMapping(mm, head)) return head;
  return head + (index - mm.mem.index[head]!);
}

/**
 * `set_pte_range` for one page: install a present PTE for `page` and add it to the folio's
 * reverse map (`folio_add_file_rmap_pte` / `folio_add_new_anon_rmap`). The caller hands over
 * one folio reference for the PTE.
 */
function setPte(mm: Mm, st: MmapState, vma: Vma, i: number, page: number, bits: number): void {
  const head = mm.mem.compoundHead(page);
  vma.ptePfn[i] = page;
  vma.pteBits[i] = bits | PTE.present;
  mm.mem.mapcount[head]!++;
  const slot: PteSlot = { vma, index: vma.pgoff + i };
  const list = st.rmap.get(head);
  if (list) list.push(slot);
  else st.rmap.set(head, [slot]);
}

/** `folio_remove_rmap_pte`: drop the slot from the folio's reverse map and its mapcount. */
function removeRmap(mm: Mm, st: MmapState, head: number, vma: Vma, index: number): void {
  const list = st.rmap.get(head);
  if (list) {
    const k = list.findIndex((s) => s.vma === vma && s.index === index);
    if (k >= 0) list.splice(k, 1);
    if (list.length === 0) st.rmap.delete(head);
  }
  mm.mem.mapcount[head]!--;
}

function removeMigrationSlot(st: MmapState, head: number, vma: Vma, index: number): void {
  const list = st.migrationEntries.get(head);
  if (!list) return;
  const k = list.findIndex((s) => s.vma === vma && s.index === index);
  if (k >= 0) list.splice(k, 1);
  if (list.length === 0) st.migrationEntries.delete(head);
}

/**
 * Zap one PTE slot (`zap_present_folio_ptes` / `zap_nonpresent_ptes`): a dirty PTE of a file
 * page dirties the folio (`folio_mark_dirty` without the folio lock, as the kernel does) and a
 * young one marks it accessed (not for `try_to_unmap`, `young` false), the mapcount and the
 * PTE's reference are dropped. A migration entry is cleared (it holds no reference).
 * `evenCows` false skips anonymous (COWed) pages, as `unmap_mapping_range` does for
 * invalidation.
 */
function zapSlot(
  mm: Mm,
  st: MmapState,
  vma: Vma,
  i: number,
  evenCows: boolean,
  young = true,
): boolean {
  const bits = vma.pteBits[i]!;
  const page = vma.ptePfn[i]!;
  if (page === NIL) return false;
  const mem = mm.mem;
  const head = mem.compoundHead(page);
  if ((bits & PTE.migration) !== 0) {
    if (!evenCows && !folioFileMapping(mm, head)) return false;
    vma.ptePfn[i] = NIL;
    vma.pteBits[i] = 0;
    removeMigrationSlot(st, head, vma, vma.pgoff + i);
    return true;
  }
  const file = folioFileMapping(mm, head) !== undefined;
  if (!evenCows && !file) return false;
  if (file && (bits & PTE.dirty) !== 0) folioMarkDirty(mm, head);
  if (file && young && (bits & PTE.young) !== 0) folioMarkAccessed(mm.lruvec, head);
  vma.ptePfn[i] = NIL;
  vma.pteBits[i] = 0;
  removeRmap(mm, st, head, vma, vma.pgoff + i);
  mm.env.emit("zap_pte", head, null, { vma: vma.name, index: vma.pgoff + i });
  folioPutRefsAny(mm, head, 1);
  return true;
}

// ------------------------------------------------------------------ rmap users

/**
 * folio_mkclean (mm/rmap.c, v6.12): write-protect and clean every PTE that maps the folio in a
 * shared VMA (`page_vma_mkclean_one`; private VMAs are skipped by `invalid_mkclean_vma`) and
 * return how many were dirty or writable. The caller transfers the result to the folio —
 * `folio_clear_dirty_for_io` does `if (folio_mkclean(folio)) folio_mark_dirty(folio)` — and the
 * next store through any of these PTEs takes a write-protect fault (→ `->page_mkwrite`).
 * The folio must be locked (BUG_ON in the kernel; here an Error).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioMkclean, folioAlloc, folioTrylock } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * folioTrylock(mm, f);
 * if (folioMkclean(mm, f) !== 0) throw new Error("an unmapped folio has nothing to clean");
 * ```
 */
export function folioMkclean(mm: Mm, folio: number): number {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked)) {
    throw new Error(`folio_mkclean: ${mm.describeFolio(folio)} is not locked`);
  }
  if (mem.mapcount[folio]! <= 0 || !folioFileMapping(mm, folio)) return 0;
  const st = mmapState(mm);
  let cleaned = 0;
  for (const s of st.rmap.get(folio) ?? []) {
    if (!s.vma.shared) continue; // invalid_mkclean_vma
    const i = s.index - s.vma.pgoff;
    const b = s.vma.pteBits[i]!;
    if ((b & (PTE.dirty | PTE.write)) === 0) continue;
    s.vma.pteBits[i] = b & ~(PTE.dirty | PTE.write);
    cleaned++;
  }
  mm.env.emit("folio_mkclean", folio, null, cleaned);
  return cleaned;
}

/**
 * try_to_unmap (mm/rmap.c `try_to_unmap_one`, v6.12): remove every PTE of a page-cache folio
 * (a dirty PTE dirties the folio first) and drop their references; returns true when the
 * folio is no longer mapped. Anonymous folios cannot be unmapped without swap (not modelled)
 * and stay mapped. Reclaim uses this; migration must use {@link tryToMigrate}, which leaves
 * migration entries that {@link removeMigrationPtes} turns back into PTEs.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, tryToUnmap } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (!tryToUnmap(mm, folioAlloc(mm, 0))) throw new Error("an unmapped folio is unmapped");
 * ```
 */
export function tryToUnmap(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  if (mem.mapcount[folio]! <= 0) return true;
  if (!folioFileMapping(mm, folio)) return false;
  const st = mmapState(mm);
  for (const s of [...(st.rmap.get(folio) ?? [])]) {
    zapSlot(mm, st, s.vma, s.index - s.vma.pgoff, true, false);
  }
  mm.env.emit("try_to_unmap", folio, null, mem.mapcount[folio]);
  return mem.mapcount[folio]! <= 0;
}

/**
 * try_to_migrate (mm/rmap.c `try_to_migrate_one`, v6.12; `try_to_unmap(TTU_MIGRATION)` before
 * v5.14): replace every PTE of the folio by a migration entry that remembers the page and the
 * PTE's write, dirty and young bits; a dirty PTE dirties the folio; the PTEs' references are
 * dropped.
 * Returns true when the folio is no longer mapped. A task touching the page meanwhile waits in
 * `migration_entry_wait` until the folio is unlocked.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, tryToMigrate } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (!tryToMigrate(mm, folioAlloc(mm, 0))) throw new Error("nothing to unmap");
 * ```
 */
export function tryToMigrate(mm: Mm, folio: number): boolean {
  const mem = mm.mem;
  if (mem.mapcount[folio]! <= 0) return true;
  const st = mmapState(mm);
  for (const s of [...(st.rmap.get(folio) ?? [])]) {
    const vma = s.vma, i = s.index - vma.pgoff;
    const bits = vma.pteBits[i]!;
    // "Set the dirty flag on the folio now the pte is gone."
    if ((bits & PTE.dirty) !== 0) folioMarkDirtyAny(mm, folio);
    vma.pteBits[i] = PTE.migration | (bits & (PTE.write | PTE.dirty | PTE.young));
    removeRmap(mm, st, folio, vma, s.index);
    const list = st.migrationEntries.get(folio);
    if (list) list.push(s);
    else st.migrationEntries.set(folio, [s]);
    folioPutRefsAny(mm, folio, 1);
  }
  mm.env.emit("set_migration_pte", folio, null, st.migrationEntries.get(folio)?.length ?? 0);
  return mem.mapcount[folio]! <= 0;
}

/**
 * remove_migration_ptes (mm/migrate.c `remove_migration_pte`, v6.12): turn every migration
 * entry for `src` into a present PTE for the same page of `dst` (`dst === src` after a failed
 * migration), writable if the entry was, young if it was, dirty if the entry was and the folio
 * is dirty, each taking a folio reference and a mapcount.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, removeMigrationPtes } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 0);
 * removeMigrationPtes(mm, f, f); // no entries: nothing happens
 * if (mm.mem.mapcount[f] !== 0) throw new Error("not mapped");
 * ```
 */
export function removeMigrationPtes(mm: Mm, src: number, dst: number): void {
  const st = mmapState(mm);
  const list = st.migrationEntries.get(src);
  if (!list) return;
  st.migrationEntries.delete(src);
  const mem = mm.mem;
  for (const s of list) {
    const vma = s.vma, i = s.index - vma.pgoff;
    const bits = vma.pteBits[i]!;
    const page = dst + (vma.ptePfn[i]! - src);
    // pte_mkold(mk_pte()), then the entry's young, write and dirty bits.
    let nb = bits & PTE.young;
    if ((bits & PTE.write) !== 0) nb |= PTE.write;
    if ((bits & PTE.dirty) !== 0 && mem.testFlag(dst, PG.dirty)) nb |= PTE.dirty;
    folioGet(mm, dst);
    setPte(mm, st, vma, i, page, nb);
  }
  mm.env.emit("remove_migration_pte", dst, src, list.length);
}

/**
 * unmap_mapping_range (mm/memory.c, v6.12) over page indices `[start, start + nr)` of
 * `mapping` (nr = 0: to the end): zap the PTEs of every VMA of the file that map pages in the
 * range. With `evenCows` false (invalidation) private COWed copies are kept; truncation passes
 * true. Divergence: page indices instead of byte offsets.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, unmapMappingRange } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "f" });
 * if (unmapMappingRange(mm, file, 0, 0) !== 0) throw new Error("no vma, nothing zapped");
 * ```
 */
export function unmapMappingRange(
  mm: Mm,
  mapping: AddressSpace,
  start: number,
  nr: number,
  evenCows = false,
): number {
  const st = mmapState(mm);
  const end = nr === 0 ? Infinity : start + nr;
  let zapped = 0;
  for (const vma of [...(st.iMmap.get(mapping.id) ?? [])]) {
    const from = Math.max(start, vma.pgoff) - vma.pgoff;
    const to = Math.min(end, vma.pgoff + vma.nrPages) - vma.pgoff;
    for (let i = from; i < to; i++) if (zapSlot(mm, st, vma, i, evenCows)) zapped++;
  }
  return zapped;
}

/**
 * unmap_mapping_folio (mm/memory.c, v6.12): zap the PTEs that map `folio` in its file's
 * VMAs (truncate and invalidate call it on a locked, mapped folio). Returns PTEs zapped.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, unmapMappingFolio } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (unmapMappingFolio(mm, folioAlloc(mm, 0)) !== 0) throw new Error("nothing mapped");
 * ```
 */
export function unmapMappingFolio(mm: Mm, folio: number): number {
  const mapping = folioFileMapping(mm, folio);
  if (!mapping) return 0;
  const nr = 1 << mm.mem.order[folio]!;
  return unmapMappingRange(mm, mapping, mm.mem.index[folio]!, nr, false);
}

// ------------------------------------------------------------------ faults

type Vmf = "ok" | "nopage" | Errno;

/** Convert a `->page_mkwrite` errno as `errno_to_vmfault` does (VM_FAULT_NOPAGE: retry). */
function vmfaultFromErrno(e: Errno): Vmf {
  if (e === "EFAULT" || e === "EAGAIN") return "nopage";
  if (e === "ENOMEM") return "ENOMEM";
  return "EFAULT"; // VM_FAULT_SIGBUS
}

/**
 * handle_mm_fault (mm/memory.c, v6.12) for the page at linear index `index` of `vma`, for a
 * read or a write: one pass of `handle_pte_fault`. Returns ok when the fault was handled or
 * raced (the access is retried by the caller), EFAULT for SIGSEGV/SIGBUS (write to a
 * read-only VMA, index outside the VMA, read error), ENOMEM for VM_FAULT_OOM.
 *
 * - no PTE: file → `do_read_fault` / `do_cow_fault` / `do_shared_fault`; anonymous →
 *   `do_anonymous_page`;
 * - migration entry: `migration_entry_wait` (sleep until the folio is unlocked);
 * - present, write to a read-only PTE: `do_wp_page` (`wp_page_shared` → `->page_mkwrite`, or
 *   COW in a private mapping);
 * - otherwise a spurious fault: mark the PTE young (and dirty for a write).
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, handleMmFault } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 2 });
 * env.spawn("user", function* () {
 *   const r = yield* handleMmFault(mm, vma, 1, true);
 *   if (!r.ok || vma.pteOf(1) < 0) throw new Error("anonymous page mapped");
 * });
 * env.run();
 * ```
 */
export function* handleMmFault(
  mm: Mm,
  vma: Vma,
  index: number,
  write: boolean,
): Process<KResult> {
  const r = yield* handlePteFault(mm, vma, index, write);
  if (r === "ok" || r === "nopage") return { ok: true, value: undefined };
  return { ok: false, errno: r };
}

function* handlePteFault(mm: Mm, vma: Vma, index: number, write: boolean): Process<Vmf> {
  const st = mmapState(mm);
  if (!vma.live || !vma.contains(index)) return "EFAULT";
  // access_error(): a write to a VMA without VM_WRITE is SIGSEGV.
  if (write && (vma.vmFlags & VM.WRITE) === 0) return "EFAULT";
  st.stats.faults++;
  mm.vmstat.inc("pgfault");
  mm.env.emit("page_fault_user", vma.name, null, { index, write });
  const i = index - vma.pgoff;
  const bits = vma.pteBits[i]!;
  if (vma.ptePfn[i] === NIL) {
    if (vma.mapping === null) return yield* doAnonymousPage(mm, st, vma, i, write);
    return yield* doFault(mm, st, vma, index, write);
  }
  if ((bits & PTE.migration) !== 0) {
    // migration_entry_wait(): wait for the migrating folio to be unlocked, then retry.
    const head = mm.mem.compoundHead(vma.ptePfn[i]!);
    st.stats.migrationWaits++;
    mm.env.emit("migration_entry_wait", head);
    if (mm.mem.testFlag(head, PG.locked)) yield* folioWaitBit(mm, head, PG.locked);
    return "nopage";
  }
  if (write && (bits & PTE.write) === 0) return yield* doWpPage(mm, st, vma, index);
  // Spurious / access-bit fault: pte_mkyoung, pte_mkdirty for a write.
  vma.pteBits[i] = bits | PTE.young | (write ? PTE.dirty : 0);
  return "ok";
}

function* doFault(
  mm: Mm,
  st: MmapState,
  vma: Vma,
  index: number,
  write: boolean,
): Process<Vmf> {
  if (!write) return yield* doReadFault(mm, st, vma, index);
  if (!vma.shared) return yield* doCowFault(mm, st, vma, index);
  return yield* doSharedFault(mm, st, vma, index);
}

/**
 * finish_fault / set_pte_range for one page: re-check the PTE (`vmf_pte_changed`) and map the
 * page. A write fault maps it writable and dirty (`maybe_mkwrite(pte_mkdirty())`); a read
 * fault maps it with `vm_page_prot`, which lacks write permission when the VMA write-notifies
 * or is private. Consumes the caller's folio reference on success.
 */
function finishFault(
  mm: Mm,
  st: MmapState,
  vma: Vma,
  index: number,
  page: number,
  write: boolean,
): Vmf {
  const i = index - vma.pgoff;
  if (!vma.live) return "EFAULT";
  if (vma.ptePfn[i] !== NIL) return "nopage"; // raced with another fault
  let bits = PTE.young;
  if (write) bits |= PTE.dirty | ((vma.vmFlags & VM.WRITE) !== 0 ? PTE.write : 0);
  else if ((vma.vmFlags & VM.WRITE) !== 0 && vma.shared && !vma.writeNotify) bits |= PTE.write;
  setPte(mm, st, vma, i, page, bits);
  return "ok";
}

/**
 * filemap_fault (mm/filemap.c, v6.12): find the folio in the page cache, or create one
 * (`__filemap_get_folio(FGP_CREAT | FGP_FOR_MMAP)`, a major fault); lock it; look again if it
 * was truncated meanwhile; read it (`filemap_read_folio`) and look again if it is not
 * uptodate; SIGBUS past i_size. Returns the locked folio with a reference (VM_FAULT_LOCKED),
 * or an errno (EFAULT = VM_FAULT_SIGBUS). Divergence: no read-around
 * (`do_sync_mmap_readahead` / `do_async_mmap_readahead`), no mmap_lock drop, and the mapping's
 * invalidate_lock is not taken: the kernel holds it shared from a page-cache miss
 * (`mapping_locked`) until the fault returns, so a major fault cannot instantiate a folio in
 * a range being truncated under the lock held exclusively; here truncation's unmap and
 * removal passes (truncate_pagecache) are what clean up after such a fault.
 */
function* filemapFault(
  mm: Mm,
  st: MmapState,
  mapping: AddressSpace,
  index: number,
): Process<KResult<number>> {
  for (let tries = 0;; tries++) {
    if (tries > 1000) {
      throw new Error(`filemap_fault: ${mapping.name} index ${index} retried 1000 times`);
    }
    if (index >= iSizeRead(mapping)) return { ok: false, errno: "EFAULT" };
    let r = yield* filemapGetFolioErr(mm, mapping, index, 0);
    if (!r.ok && r.errno === "ENOENT") {
      st.stats.majorFaults++;
      mm.vmstat.inc("pgmajfault");
      r = yield* filemapGetFolioErr(mm, mapping, index, FGP.CREAT | FGP.FOR_MMAP);
    }
    if (!r.ok) return r.errno === "ENOMEM" ? r : { ok: false, errno: "EFAULT" };
    const folio = r.value;
    yield* folioLock(mm, folio);
    if (mm.mem.mapping[folio] !== mapping.id) {
      // Did it get truncated?
      folioUnlock(mm, folio);
      folioPut(mm, folio);
      continue;
    }
    if (!mm.mem.testFlag(folio, PG.uptodate)) {
      // page_not_uptodate: the read unlocks the folio.
      const err = yield* filemapReadFolio(mm, mapping, folio);
      folioPut(mm, folio);
      if (err !== 0) return { ok: false, errno: "EFAULT" };
      continue; // goto retry_find
    }
    if (index >= iSizeRead(mapping)) {
      folioUnlock(mm, folio);
      folioPut(mm, folio);
      return { ok: false, errno: "EFAULT" };
    }
    mm.env.emit("mm_filemap_fault", folio, null, { mapping: mapping.name, index });
    return { ok: true, value: folio };
  }
}

function* doReadFault(mm: Mm, st: MmapState, vma: Vma, index: number): Process<Vmf> {
  const r = yield* filemapFault(mm, st, vma.mapping!, index);
  if (!r.ok) return r.errno === "ENOMEM" ? "ENOMEM" : "EFAULT";
  const folio = r.value;
  const ret = finishFault(mm, st, vma, index, pageOf(mm, folio, index), false);
  folioUnlock(mm, folio);
  if (ret !== "ok") folioPut(mm, folio);
  return ret;
}

function* doCowFault(mm: Mm, st: MmapState, vma: Vma, index: number): Process<Vmf> {
  const copy = yield* allocAnonFolio(mm, vma, index);
  if (copy < 0) return "ENOMEM";
  const r = yield* filemapFault(mm, st, vma.mapping!, index);
  if (!r.ok) {
    folioPutRefsAny(mm, copy, 1);
    return r.errno === "ENOMEM" ? "ENOMEM" : "EFAULT";
  }
  const folio = r.value;
  mm.mem.data[copy] = mm.mem.data[pageOf(mm, folio, index)]!; // copy_mc_user_highpage
  st.stats.cow++;
  const ret = finishFault(mm, st, vma, index, copy, true);
  folioUnlock(mm, folio);
  folioPut(mm, folio);
  if (ret !== "ok") folioPutRefsAny(mm, copy, 1);
  else folioAddLru(mm.lruvec, copy); // folio_add_lru_vma
  return ret;
}

/**
 * do_shared_fault (mm/memory.c): fault the folio in; if the VMA has `->page_mkwrite`, unlock
 * and call it (`do_page_mkwrite`, which returns with the folio locked); map it writable and
 * dirty (`finish_fault`); then `fault_dirty_shared_page`.
 */
function* doSharedFault(mm: Mm, st: MmapState, vma: Vma, index: number): Process<Vmf> {
  const r = yield* filemapFault(mm, st, vma.mapping!, index);
  if (!r.ok) return r.errno === "ENOMEM" ? "ENOMEM" : "EFAULT";
  const folio = r.value;
  if (vma.pageMkwrite) {
    folioUnlock(mm, folio);
    const tmp = yield* doPageMkwrite(mm, st, vma, folio);
    if (tmp !== "ok") {
      folioPut(mm, folio);
      return tmp;
    }
  }
  const ret = finishFault(mm, st, vma, index, pageOf(mm, folio, index), true);
  if (ret !== "ok") {
    folioUnlock(mm, folio);
    folioPut(mm, folio);
    return ret;
  }
  yield* faultDirtySharedPage(mm, vma, folio);
  return "ok";
}

/**
 * do_page_mkwrite (mm/memory.c, v6.12): call `vm_ops->page_mkwrite`; if it did not return
 * with the folio locked (VM_FAULT_LOCKED), lock it and retry the fault (return "nopage") if it
 * was truncated meanwhile. Returns "ok" with the folio locked.
 */
function* doPageMkwrite(mm: Mm, st: MmapState, vma: Vma, folio: number): Process<Vmf> {
  st.stats.pageMkwrite++;
  mm.env.emit("page_mkwrite", folio, null, { vma: vma.name, index: mm.mem.index[folio] });
  const r = yield* vma.pageMkwrite!(mm, vma.mapping!, folio);
  if (!r.ok) {
    const v = vmfaultFromErrno(r.errno);
    // VM_FAULT_NOPAGE / errors: ->page_mkwrite returned without the lock.
    return v === "ok" ? "nopage" : v;
  }
  const lockedByUs = mm.mem.testFlag(folio, PG.locked) &&
    mm.bitHolders.get(folio * 32 + PG.locked) === mm.env.current;
  if (!lockedByUs) {
    yield* folioLock(mm, folio);
    if (mm.mem.mapping[folio] === 0) {
      folioUnlock(mm, folio);
      return "nopage"; // retry
    }
  }
  return "ok";
}

/**
 * fault_dirty_shared_page (mm/memory.c, v6.12): `folio_mark_dirty` on the locked folio,
 * unlock, and throttle (`balance_dirty_pages_ratelimited`) if it was dirtied or the VMA has
 * `->page_mkwrite`.
 */
function* faultDirtySharedPage(mm: Mm, vma: Vma, folio: number): Process<void> {
  const dirtied = folioMarkDirty(mm, folio);
  const mapping = vma.mapping;
  folioUnlock(mm, folio);
  if ((dirtied || vma.pageMkwrite) && mapping) yield* balanceDirtyPages(mm, mapping, 1);
}

/**
 * do_wp_page (mm/memory.c): a write to a present read-only PTE. Shared: `wp_page_shared`
 * (→ `->page_mkwrite`, `finish_mkwrite_fault`, `fault_dirty_shared_page`, or `wp_page_reuse`
 * and the folio lock without one). Private: reuse an anonymous page (every anonymous page is
 * exclusive: no fork), else copy (`wp_page_copy`).
 */
function* doWpPage(mm: Mm, st: MmapState, vma: Vma, index: number): Process<Vmf> {
  st.stats.wpFaults++;
  const i = index - vma.pgoff;
  const page = vma.ptePfn[i]!;
  const origBits = vma.pteBits[i]!;
  const folio = mm.mem.compoundHead(page);
  if (vma.shared) {
    folioGet(mm, folio);
    if (vma.pageMkwrite) {
      const tmp = yield* doPageMkwrite(mm, st, vma, folio);
      if (tmp !== "ok") {
        folioPut(mm, folio);
        return tmp;
      }
      // finish_mkwrite_fault(): the PTE may have changed while ->page_mkwrite slept.
      if (vma.ptePfn[i] !== page || vma.pteBits[i] !== origBits) {
        folioUnlock(mm, folio);
        folioPut(mm, folio);
        return "nopage";
      }
      wpPageReuse(vma, i);
    } else {
      wpPageReuse(vma, i);
      yield* folioLock(mm, folio);
    }
    yield* faultDirtySharedPage(mm, vma, folio);
    folioPut(mm, folio);
    return "ok";
  }
  if (!folioFileMapping(mm, folio)) {
    wpPageReuse(vma, i);
    return "ok";
  }
  // wp_page_copy(): a private copy of a page-cache page.
  const copy = yield* allocAnonFolio(mm, vma, index);
  if (copy < 0) return "ENOMEM";
  mm.mem.data[copy] = mm.mem.data[page]!;
  st.stats.cow++;
  if (vma.ptePfn[i] !== page || vma.pteBits[i] !== origBits) {
    folioPutRefsAny(mm, copy, 1);
    return "nopage";
  }
  vma.ptePfn[i] = NIL;
  vma.pteBits[i] = 0;
  removeRmap(mm, st, folio, vma, index);
  setPte(mm, st, vma, i, copy, PTE.young | PTE.dirty | PTE.write);
  folioAddLru(mm.lruvec, copy);
  folioPut(mm, folio); // the old PTE's reference
  return "ok";
}

/** wp_page_reuse: make the PTE young, dirty and writable (`maybe_mkwrite(pte_mkdirty())`). */
function wpPageReuse(vma: Vma, i: number): void {
  vma.pteBits[i] = vma.pteBits[i]! | PTE.young | PTE.dirty | PTE.write;
}

/**
 * An anonymous folio for page `index` of `vma`: order 0, zeroed, uptodate
 * (`vma_alloc_zeroed_movable_folio`, `__folio_mark_uptodate`), PG_swapbacked, and
 * `folio->mapping` = the VMA's anon_vma (`anon_vma_prepare`, `__folio_set_anon`).
 */
function* allocAnonFolio(mm: Mm, vma: Vma, index: number): Process<number> {
  const f = yield* folioAllocGfp(mm, 0, GFP_HIGHUSER_MOVABLE);
  if (f < 0) return NIL;
  vma.anonVma ??= mm.registerMapping((id) => ({ id, name: `anon_vma of ${vma.name}` }));
  mm.mem.setFlag(f, PG.swapbacked);
  mm.mem.setFlag(f, PG.uptodate);
  mm.mem.data[f] = 0;
  mm.mem.mapping[f] = vma.anonVma.id;
  mm.mem.index[f] = index;
  return f;
}

/**
 * do_anonymous_page (mm/memory.c): allocate a zeroed folio and map it, writable and dirty if
 * the VMA is writable. Divergence: no zero page, so a read fault allocates too.
 */
function* doAnonymousPage(
  mm: Mm,
  st: MmapState,
  vma: Vma,
  i: number,
  _write: boolean,
): Process<Vmf> {
  const f = yield* allocAnonFolio(mm, vma, vma.pgoff + i);
  if (f < 0) return "ENOMEM";
  if (!vma.live || vma.ptePfn[i] !== NIL) {
    folioPutRefsAny(mm, f, 1);
    return vma.live ? "nopage" : "EFAULT";
  }
  const w = (vma.vmFlags & VM.WRITE) !== 0;
  setPte(mm, st, vma, i, f, PTE.young | (w ? PTE.write | PTE.dirty : 0));
  folioAddLru(mm.lruvec, f);
  return "ok";
}

/**
 * filemap_page_mkwrite (mm/filemap.c, v6.12), the `->page_mkwrite` of `generic_file_vm_ops`:
 * lock the folio; if it was truncated return VM_FAULT_NOPAGE (EAGAIN here); mark it dirty
 * (so a freeze-time writeback sees it and write-protects it again) and wait for stable pages
 * (`folio_wait_stable`); return with the folio locked (VM_FAULT_LOCKED).
 *
 * @example
 * ```ts
 * import { Engine, filemapGetEntry, filemapPageMkwrite, Mm, mmapRegion, PG, SimpleFs, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1 });
 * let calls = 0;
 * file.aops = {
 *   ...file.aops,
 *   *pageMkwrite(mm, mapping, folio) {
 *     calls++;
 *     return yield* filemapPageMkwrite(mm, mapping, folio);
 *   },
 * };
 * const vma = mmapRegion(mm, { mapping: file, nrPages: 1 }); // MAP_SHARED
 * env.spawn("app", function* () { yield* userStore(mm, vma, 0, 5); });
 * env.run();
 * const f = filemapGetEntry(file, 0);
 * // The first store's write fault called ->page_mkwrite, which dirtied the folio and unlocked it.
 * if (calls !== 1 || !mm.mem.testFlag(f, PG.dirty) || mm.mem.testFlag(f, PG.locked)) throw new Error();
 * ```
 */
export function* filemapPageMkwrite(
  mm: Mm,
  mapping: AddressSpace,
  folio: number,
): Process<KResult> {
  yield* folioLock(mm, folio);
  if (mm.mem.mapping[folio] !== mapping.id) {
    folioUnlock(mm, folio);
    return { ok: false, errno: "EAGAIN" };
  }
  folioMarkDirty(mm, folio);
  yield* folioWaitStable(mm, folio);
  return { ok: true, value: undefined };
}

// ------------------------------------------------------------------ user accesses

const MAX_FAULT_RETRIES = 1000;

/**
 * A user-space store to the page at linear index `index` of `vma` (model: the CPU's access,
 * no kernel function): fault until the PTE is present and writable, then set its dirty and
 * young bits (the MMU does) and write content tag `tag` (a new one if absent) into the page;
 * for a file page the tag becomes the file's latest version at that index. Returns the tag.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, userStore, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("user", function* () {
 *   const w = yield* userStore(mm, vma, 0, 42);
 *   const r = yield* userLoad(mm, vma, 0);
 *   if (!w.ok || !r.ok || r.value !== 42) throw new Error("store then load");
 * });
 * env.run();
 * ```
 */
export function* userStore(
  mm: Mm,
  vma: Vma,
  index: number,
  tag?: number,
): Process<KResult<number>> {
  for (let n = 0; n < MAX_FAULT_RETRIES; n++) {
    if (!vma.live || !vma.contains(index)) return { ok: false, errno: "EFAULT" };
    const i = index - vma.pgoff;
    const b = vma.pteBits[i]!;
    if ((b & (PTE.present | PTE.write)) === (PTE.present | PTE.write)) {
      const page = vma.ptePfn[i]!;
      vma.pteBits[i] = b | PTE.dirty | PTE.young;
      const t = tag ?? ++mm.contentTag;
      mm.mem.data[page] = t;
      const head = mm.mem.compoundHead(page);
      folioFileMapping(mm, head)?.latest.set(index, t);
      mm.env.emit("user_store", page, null, { vma: vma.name, index, tag: t });
      return { ok: true, value: t };
    }
    const r = yield* handleMmFault(mm, vma, index, true);
    if (!r.ok) return r;
  }
  throw new Error(`user store: ${vma.name} index ${index} still faults after 1000 retries`);
}

/**
 * A user-space load from the page at linear index `index` of `vma` (model: the CPU's
 * access): fault until the PTE is present, mark it young and return the page's content tag.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, userLoad } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("user", function* () {
 *   const r = yield* userLoad(mm, vma, 0);
 *   if (!r.ok || r.value !== 0) throw new Error("anonymous memory reads zeroes");
 * });
 * env.run();
 * ```
 */
export function* userLoad(mm: Mm, vma: Vma, index: number): Process<KResult<number>> {
  for (let n = 0; n < MAX_FAULT_RETRIES; n++) {
    if (!vma.live || !vma.contains(index)) return { ok: false, errno: "EFAULT" };
    const i = index - vma.pgoff;
    const b = vma.pteBits[i]!;
    if ((b & PTE.present) !== 0) {
      vma.pteBits[i] = b | PTE.young;
      return { ok: true, value: mm.mem.data[vma.ptePfn[i]!]! };
    }
    const r = yield* handleMmFault(mm, vma, index, false);
    if (!r.ok) return r;
  }
  throw new Error(`user load: ${vma.name} index ${index} still faults after 1000 retries`);
}

export * from "./gup.ts";
