/**
 * get_user_pages / pin_user_pages: kernel references to user pages found through the page
 * tables, for I/O that reaches user memory without going through the MMU (direct I/O, RDMA,
 * vfio). FOLL_GET takes a plain reference; FOLL_PIN adds GUP_PIN_COUNTING_BIAS (1024) to a
 * small folio's refcount, or one reference plus one `_pincount` to a large folio, so
 * `folio_maybe_dma_pinned` can tell. Either way migration sees references it cannot account
 * for and fails with -EAGAIN. FOLL_LONGTERM first moves folios out of ZONE_MOVABLE and CMA
 * (`check_and_migrate_movable_pages`).
 *
 * Follows mm/gup.c (`try_grab_folio`, `gup_put_folio`, `unpin_user_page(s)`,
 * `unpin_user_pages_dirty_lock`, `__get_user_pages` / `follow_page_pte` with FOLL_TOUCH,
 * `faultin_page`, `check_vma_flags`, `__gup_longterm_locked`,
 * `collect_longterm_unpinnable_folios`, `migrate_longterm_unpinnable_folios`) at a v6.14-era
 * revision, and include/linux/mm.h (`folio_maybe_dma_pinned`, `folio_is_longterm_pinnable`).
 *
 * A reference handed out here is remembered as a stale-safe {@link FolioRef}; releasing it
 * checks the reference first, so a release after the folio was freed and reused is recorded
 * as a use-after-free (the simulated KASAN report) instead of corrupting the new use.
 *
 * Left out: the lockless fast path as a separate walk (a present PTE that allows the access is
 * taken without faulting, which is what `gup_fast` does), FOLL_FORCE, FOLL_NOWAIT, hugetlb,
 * device memory, the zero page, the NR_FOLL_PIN_* counters.
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import type { KResult } from "./address_space.ts";
import { folioLock, folioUnlock } from "./folio.ts";
import { folioMarkAccessed } from "./lru.ts";
import { MIGRATE, PG } from "./memory.ts";
import { isolateFolioForMigration, migratePages, putbackMovablePages } from "./migrate.ts";
import type { Mm } from "./mm.ts";
import { handleMmFault, mmapState, PTE, VM, type Vma } from "./mmap.ts";
import { __GFP_NOWARN, folioAllocGfp, GFP_USER, PF_MEMALLOC_PIN } from "./page_alloc.ts";
import { folioMarkDirtyAny, folioPutRefsAny } from "./_anon.ts";

/**
 * GUP_PIN_COUNTING_BIAS (include/linux/mm.h): what one FOLL_PIN adds to a small folio's
 * refcount.
 *
 * @example
 * ```ts
 * import { GUP_PIN_COUNTING_BIAS } from "@mmsim/mmsim";
 * if (GUP_PIN_COUNTING_BIAS !== 1024) throw new Error("1U << 10");
 * ```
 */
export const GUP_PIN_COUNTING_BIAS = 1024;

/**
 * Options of {@link pinUserPages} and {@link getUserPages}.
 *
 * @example FOLL_LONGTERM migrates a page out of CMA before pinning it
 * ```ts
 * import { Engine, folioIsLongtermPinnable, type GupOptions, Mm, mmapRegion, pinUserPages, unpinUserPages, userStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * // Two thirds CMA: movable allocations prefer CMA while it holds most of the free memory.
 * const mm = new Mm(env, { memory: { nrFrames: 1536, pageblockOrder: 9 }, zone: { cma: [{ startPfn: 0, endPfn: 1024 }] } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * const seen: number[] = [];
 * env.spawn("rdma", function* () {
 *   yield* userStore(mm, vma, 0);
 *   seen.push(vma.pteOf(0)); // in CMA
 *   const opts: GupOptions = { write: true, longterm: true };
 *   const r = yield* pinUserPages(mm, vma, 0, 1, opts);
 *   if (!r.ok) throw new Error(r.errno);
 *   seen.push(r.value[0]!);
 *   if (!folioIsLongtermPinnable(mm, r.value[0]!) || vma.pteOf(0) !== r.value[0]) throw new Error("pinnable and remapped");
 *   unpinUserPages(mm, r.value);
 * });
 * env.run();
 * if (!(seen[0]! < 1024 && seen[1]! >= 1024)) throw new Error(`${seen}`);
 * ```
 */
export interface GupOptions {
  /** FOLL_WRITE: the kernel will write to the pages (a write fault makes the PTE writable). */
  write?: boolean;
  /** FOLL_LONGTERM (pin only): migrate the pages out of ZONE_MOVABLE / CMA first. */
  longterm?: boolean;
}

type GupKind = "FOLL_GET" | "FOLL_PIN";

/**
 * try_grab_folio (mm/gup.c): FOLL_GET adds `refs`; FOLL_PIN adds `refs` ×
 * GUP_PIN_COUNTING_BIAS to a small folio, or `refs` to both the refcount and `_pincount` of a
 * large folio. Returns false (-ENOMEM) on a folio whose refcount is not positive.
 */
function tryGrabFolio(mm: Mm, folio: number, refs: number, kind: GupKind): boolean {
  const rc = mm.mem.refcount;
  if (rc[folio]! <= 0) return false;
  if (kind === "FOLL_GET") rc[folio]! += refs;
  else if (mm.mem.order[folio]! > 0) {
    rc[folio]! += refs;
    const st = mmapState(mm);
    st.pincount.set(folio, (st.pincount.get(folio) ?? 0) + refs);
  } else rc[folio]! += refs * GUP_PIN_COUNTING_BIAS;
  return true;
}

/** gup_put_folio (mm/gup.c): undo one {@link tryGrabFolio}. */
function gupPutFolio(mm: Mm, folio: number, refs: number, kind: GupKind): void {
  let n = refs;
  if (kind === "FOLL_PIN") {
    if (mm.mem.order[folio]! > 0) {
      const st = mmapState(mm);
      const pc = (st.pincount.get(folio) ?? 0) - refs;
      if (pc < 0) {
        mm.env.violation(
          "pincount underflow",
          `unpin_user_page: ${mm.describeFolio(folio)} _pincount would be ${pc}`,
        );
        return;
      }
      if (pc === 0) st.pincount.delete(folio);
      else st.pincount.set(folio, pc);
    } else n = refs * GUP_PIN_COUNTING_BIAS;
  }
  folioPutRefsAny(mm, folio, n);
}

/**
 * folio_maybe_dma_pinned (include/linux/mm.h): a large folio with `_pincount` > 0, or a small
 * folio whose refcount reached GUP_PIN_COUNTING_BIAS (which many plain references also do:
 * "maybe").
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioMaybeDmaPinned } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (folioMaybeDmaPinned(mm, folioAlloc(mm, 0))) throw new Error("not pinned");
 * ```
 */
export function folioMaybeDmaPinned(mm: Mm, folio: number): boolean {
  if (mm.mem.order[folio]! > 0) return (mmapState(mm).pincount.get(folio) ?? 0) > 0;
  return mm.mem.refcount[folio]! >= GUP_PIN_COUNTING_BIAS;
}

/**
 * `folio->_pincount` of a large folio (0 for small folios, whose pins are in the refcount).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioPincount } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (folioPincount(mm, folioAlloc(mm, 2)) !== 0) throw new Error("no pins");
 * ```
 */
export function folioPincount(mm: Mm, folio: number): number {
  return mmapState(mm).pincount.get(folio) ?? 0;
}

/**
 * folio_is_longterm_pinnable (include/linux/mm.h, v6.12): false for folios in a CMA pageblock
 * or in ZONE_MOVABLE, which a long-term pin would keep from being migrated.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, folioIsLongtermPinnable } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 1024 } });
 * if (!folioIsLongtermPinnable(mm, folioAlloc(mm, 0))) throw new Error("normal zone");
 * ```
 */
export function folioIsLongtermPinnable(mm: Mm, folio: number): boolean {
  if (mm.mem.pageblockMigratetype[mm.mem.pageblockOf(folio)] === MIGRATE.CMA) return false;
  return !mm.zone.movable;
}

function rememberRef(mm: Mm, page: number): void {
  const st = mmapState(mm);
  const ref = mm.ref(mm.mem.compoundHead(page));
  const list = st.gupRefs.get(page);
  if (list) list.push(ref);
  else st.gupRefs.set(page, [ref]);
}

/** Take back the reference recorded for `page`; false (and a violation) if it went stale. */
function forgetRef(mm: Mm, page: number, action: string): boolean {
  const st = mmapState(mm);
  const list = st.gupRefs.get(page);
  const ref = list?.pop();
  if (list && list.length === 0) st.gupRefs.delete(page);
  if (!ref) {
    mm.env.violation(
      "release of a page GUP did not hand out",
      `${action}: page ${page} has no outstanding GUP reference`,
    );
    return false;
  }
  return mm.checkLive(ref, action);
}

/**
 * __get_user_pages (mm/gup.c): for each page, take the page the PTE maps if the PTE allows
 * the access (`follow_page_pte`), else fault it in (`faultin_page` → `handle_mm_fault`) and
 * look again. With FOLL_WRITE a read-only PTE takes a write fault — so `->page_mkwrite` runs
 * at pin time for a write-notified page — and FOLL_TOUCH marks a clean folio dirty
 * (`folio_mark_dirty`) if its PTE is not dirty. Returns the pages grabbed (possibly fewer than
 * asked) or the errno of the first page.
 */
function* getUserPagesLocked(
  mm: Mm,
  vma: Vma,
  index: number,
  n: number,
  write: boolean,
  kind: GupKind,
): Process<KResult<number[]>> {
  // check_vma_flags()
  if (write && (vma.vmFlags & VM.WRITE) === 0) return { ok: false, errno: "EFAULT" };
  const pages: number[] = [];
  for (let k = 0; k < n; k++) {
    const idx = index + k;
    for (let tries = 0;; tries++) {
      if (tries > 1000) throw new Error(`__get_user_pages: ${vma.name} index ${idx} livelock`);
      if (!vma.live || !vma.contains(idx)) {
        return pages.length > 0 ? { ok: true, value: pages } : { ok: false, errno: "EFAULT" };
      }
      const i = idx - vma.pgoff;
      const b = vma.pteBits[i]!;
      if ((b & PTE.present) !== 0 && (!write || (b & PTE.write) !== 0)) {
        const page = vma.ptePfn[i]!;
        const folio = mm.mem.compoundHead(page);
        if (!tryGrabFolio(mm, folio, 1, kind)) {
          return pages.length > 0 ? { ok: true, value: pages } : { ok: false, errno: "ENOMEM" };
        }
        // FOLL_TOUCH (the slow path; gup_fast needs a writable PTE and skips this).
        if (tries > 0) {
          if (write && (b & PTE.dirty) === 0 && !mm.mem.testFlag(folio, PG.dirty)) {
            folioMarkDirtyAny(mm, folio);
          }
          folioMarkAccessed(mm.lruvec, folio);
        }
        rememberRef(mm, page);
        pages.push(page);
        break;
      }
      const r = yield* handleMmFault(mm, vma, idx, write);
      if (!r.ok) return pages.length > 0 ? { ok: true, value: pages } : r;
    }
  }
  mm.env.emit(kind === "FOLL_PIN" ? "pin_user_pages" : "get_user_pages", vma.name, null, {
    index,
    nr: pages.length,
    write,
  });
  return { ok: true, value: pages };
}

/**
 * get_user_pages (mm/gup.c, FOLL_GET): one plain reference per page; release with
 * {@link putUserPage}. This is what fs/direct-io.c (2013) used through
 * `get_user_pages_fast`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, getUserPages, putUserPage } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 2 });
 * env.spawn("dio", function* () {
 *   const r = yield* getUserPages(mm, vma, 0, 2, { write: true });
 *   if (!r.ok || r.value.length !== 2) throw new Error("two pages");
 *   if (mm.mem.refcount[r.value[0]!] !== 2) throw new Error("PTE + FOLL_GET");
 *   for (const p of r.value) putUserPage(mm, p);
 * });
 * env.run();
 * ```
 */
export function* getUserPages(
  mm: Mm,
  vma: Vma,
  index: number,
  n: number,
  opts: GupOptions = {},
): Process<KResult<number[]>> {
  if (opts.longterm) throw new Error("get_user_pages: FOLL_LONGTERM needs FOLL_PIN");
  return yield* getUserPagesLocked(mm, vma, index, n, opts.write ?? false, "FOLL_GET");
}

/**
 * put_page for a page from {@link getUserPages}: check the remembered reference (stale →
 * use-after-free violation, nothing touched) and drop it.
 *
 * @example
 * ```ts
 * import { Engine, getUserPages, Mm, mmapRegion, putUserPage } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("dio", function* () {
 *   const r = yield* getUserPages(mm, vma, 0, 1, { write: true });
 *   if (!r.ok) throw new Error(r.errno);
 *   const page = r.value[0]!;
 *   putUserPage(mm, page);
 *   if (mm.mem.refcount[page] !== 1) throw new Error("only the PTE's reference is left");
 * });
 * env.run();
 * ```
 */
export function putUserPage(mm: Mm, page: number): void {
  if (!forgetRef(mm, page, "put_page")) return;
  gupPutFolio(mm, mm.mem.compoundHead(page), 1, "FOLL_GET");
}

/**
 * pin_user_pages (mm/gup.c, FOLL_PIN): like {@link getUserPages} but each page is pinned
 * (GUP_PIN_COUNTING_BIAS or `_pincount`); release with {@link unpinUserPage(s)} or
 * {@link unpinUserPagesDirtyLock}. With `longterm` (FOLL_LONGTERM, `__gup_longterm_locked`):
 * after pinning, folios that are not long-term pinnable are isolated, all pins dropped, the
 * folios migrated (MIGRATE_SYNC, MR_LONGTERM_PIN) and the whole range pinned again, until
 * every folio is pinnable; a migration failure returns ENOMEM with nothing pinned.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, pinUserPages, unpinUserPages, GUP_PIN_COUNTING_BIAS } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("rdma", function* () {
 *   const r = yield* pinUserPages(mm, vma, 0, 1, { write: true, longterm: true });
 *   if (!r.ok) throw new Error(r.errno);
 *   if (mm.mem.refcount[r.value[0]!] !== 1 + GUP_PIN_COUNTING_BIAS) throw new Error("biased");
 *   unpinUserPages(mm, r.value);
 * });
 * env.run();
 * ```
 */
export function* pinUserPages(
  mm: Mm,
  vma: Vma,
  index: number,
  n: number,
  opts: GupOptions = {},
): Process<KResult<number[]>> {
  const write = opts.write ?? false;
  if (!opts.longterm) return yield* getUserPagesLocked(mm, vma, index, n, write, "FOLL_PIN");
  // memalloc_pin_save(): pages faulted in meanwhile avoid ZONE_MOVABLE and CMA.
  const task = mm.env.current;
  const saved = task ? ~task.flags & PF_MEMALLOC_PIN : 0;
  if (task) task.flags |= PF_MEMALLOC_PIN;
  try {
    for (let round = 0;; round++) {
      if (round > 100) throw new Error(`pin_user_pages(FOLL_LONGTERM): ${vma.name} livelock`);
      const r = yield* getUserPagesLocked(mm, vma, index, n, write, "FOLL_PIN");
      if (!r.ok || r.value.length === 0) return r;
      const rc = yield* checkAndMigrateMovablePages(mm, r.value);
      if (rc === 0) return r;
      if (rc !== "EAGAIN") return { ok: false, errno: rc };
    }
  } finally {
    if (task) task.flags &= ~saved; // memalloc_pin_restore()
  }
}

/** alloc_migration_target() with GFP_USER | __GFP_NOWARN: never movable, never CMA. */
function* allocPinnableTarget(mm: Mm, src: number): Process<number> {
  return yield* folioAllocGfp(mm, mm.mem.order[src]!, GFP_USER | __GFP_NOWARN);
}

/**
 * check_and_migrate_movable_pages (mm/gup.c): 0 if every folio may be pinned long-term;
 * otherwise isolate the others from the LRU, drop every pin, migrate the isolated folios and
 * return EAGAIN (pin again), or ENOMEM if migration failed.
 */
function* checkAndMigrateMovablePages(
  mm: Mm,
  pages: number[],
): Process<0 | "EAGAIN" | "ENOMEM" | "EBUSY"> {
  // collect_longterm_unpinnable_folios()
  const movable: number[] = [];
  let prev = -1;
  for (const page of pages) {
    const folio = mm.mem.compoundHead(page);
    if (folio === prev) continue;
    prev = folio;
    if (folioIsLongtermPinnable(mm, folio)) continue;
    if (movable.includes(folio)) continue;
    if (!isolateFolioForMigration(mm, folio)) continue;
    movable.push(folio);
  }
  if (movable.length === 0) return 0;
  // migrate_longterm_unpinnable_folios(): "We can't migrate folios with unexpected
  // references, so drop the reference obtained by __get_user_pages_locked()".
  unpinUserPages(mm, pages);
  const r = yield* migratePages(
    mm,
    movable,
    allocPinnableTarget,
    "MIGRATE_SYNC",
    "MR_LONGTERM_PIN",
  );
  putbackMovablePages(mm, r.failed);
  return r.nrFailed > 0 || r.errno ? "ENOMEM" : "EAGAIN";
}

/**
 * unpin_user_page (mm/gup.c): release one pin (stale reference → use-after-free violation).
 *
 * @example
 * ```ts
 * import { Engine, folioMaybeDmaPinned, Mm, mmapRegion, pinUserPages, unpinUserPage } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("dma", function* () {
 *   const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
 *   if (!r.ok) throw new Error(r.errno);
 *   const page = r.value[0]!;
 *   if (!folioMaybeDmaPinned(mm, page)) throw new Error("pinned");
 *   unpinUserPage(mm, page);
 *   if (folioMaybeDmaPinned(mm, page)) throw new Error("unpinned");
 * });
 * env.run();
 * ```
 */
export function unpinUserPage(mm: Mm, page: number): void {
  if (!forgetRef(mm, page, "unpin_user_page")) return;
  gupPutFolio(mm, mm.mem.compoundHead(page), 1, "FOLL_PIN");
}

/**
 * unpin_user_pages (mm/gup.c): release the pins of `pages`.
 *
 * @example
 * ```ts
 * import { Engine, folioMaybeDmaPinned, Mm, mmapRegion, pinUserPages, unpinUserPages } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 3 });
 * env.spawn("dma", function* () {
 *   const r = yield* pinUserPages(mm, vma, 0, 3, { write: true });
 *   if (!r.ok) throw new Error(r.errno);
 *   unpinUserPages(mm, r.value);
 *   if (r.value.some((p) => folioMaybeDmaPinned(mm, p))) throw new Error("all unpinned");
 * });
 * env.run();
 * ```
 */
export function unpinUserPages(mm: Mm, pages: readonly number[]): void {
  for (const p of pages) unpinUserPage(mm, p);
}

/**
 * unpin_user_pages_dirty_lock (mm/gup.c, v6.12): with `makeDirty`, mark every clean folio
 * dirty under its folio lock (`folio_lock; folio_mark_dirty; folio_unlock` — the
 * `set_page_dirty_lock` pattern, no `->page_mkwrite`), then release the pins. The race with
 * `folio_clear_dirty_for_io` the kernel comment describes is harmless either way.
 *
 * @example
 * ```ts
 * import { Engine, Mm, mmapRegion, pinUserPages, unpinUserPagesDirtyLock } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const vma = mmapRegion(mm, { nrPages: 1 });
 * env.spawn("driver", function* () {
 *   const r = yield* pinUserPages(mm, vma, 0, 1, { write: true });
 *   if (!r.ok) throw new Error(r.errno);
 *   yield* unpinUserPagesDirtyLock(mm, r.value, true);
 *   if (mm.mem.refcount[r.value[0]!] !== 1) throw new Error("pin released");
 * });
 * env.run();
 * ```
 */
export function* unpinUserPagesDirtyLock(
  mm: Mm,
  pages: readonly number[],
  makeDirty: boolean,
): Process<void> {
  if (!makeDirty) {
    unpinUserPages(mm, pages);
    return;
  }
  for (const page of pages) {
    const list = mmapState(mm).gupRefs.get(page);
    const ref = list?.[list.length - 1];
    const folio = mm.mem.compoundHead(page);
    if (ref && mm.isLive(ref) && !mm.mem.testFlag(folio, PG.dirty)) {
      yield* folioLock(mm, folio);
      folioMarkDirtyAny(mm, folio);
      folioUnlock(mm, folio);
    }
    unpinUserPage(mm, page);
  }
}
