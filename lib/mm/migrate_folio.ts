/**
 * Moving one locked, unmapped folio to its destination: the `->migrate_folio` operations
 * (`migrate_folio`, `filemap_migrate_folio`, the default `fallback_migrate_folio`) and what they
 * share — the refcount freeze at the expected count and the page-cache switch
 * (`folio_migrate_mapping`), the copy of contents and flags (`folio_migrate_copy`,
 * `folio_migrate_flags`) — and `move_to_new_folio`, which picks one.
 *
 * Follows mm/migrate.c, read at torvalds/linux 0003e2a4 (a v6.7 tree), with the later changes
 * the era switches name: `folio_migrate_mapping` checks `folio_expected_ref_count() + extra + 1`
 * for every folio (v6.16); `fallback_migrate_folio` refuses dirty folios in every mode since
 * "migrate: Remove call to ->writepage" (Matthew Wilcox, era switch
 * `fallbackMigrateRefusesDirty`) and wrote them out in MIGRATE_SYNC only before (`writeout`).
 * `folio_migrate_flags` does not carry PG_private_2 (nor ever did, Hugh Dickins, Sep 2025).
 *
 * Split ≠ migrate: `filemap_migrate_folio` moves a folio's private data (iomap's per-block
 * state) to the destination, so a dirty iomap folio migrates whenever a destination exists;
 * only release (`filemap_release_folio`, used by `fallback_migrate_folio` and by split) is
 * refused for dirty folios.
 *
 * Anonymous folios are those whose mapping is not an {@link AddressSpace} (e.g. fragment.ts's
 * `FRAGMENT_MAPPING`) or that are PG_swapbacked without a mapping (mmap.ts's anonymous pages).
 *
 * Left out: buffer-head migration (`buffer_migrate_folio`), swap cache, memcg, KSM, zone
 * statistics when the zone changes (one zone), `flush_dcache_folio`, AS_UNMOVABLE mappings
 * (`move_to_new_folio`'s `mapping_unmovable()` → -EOPNOTSUPP, v6.7: secretmem, guest_memfd).
 *
 * @module
 */

import type { Process } from "../sim/engine.ts";
import {
  AddressSpace,
  type Errno,
  filemapReplaceEntry,
  type KResult,
  type MigrateMode,
} from "./address_space.ts";
import {
  folioExpectedRefCount,
  folioGet,
  folioLock,
  folioMovePrivate,
  folioPut,
  folioRefAdd,
  folioRefFreeze,
  folioRefUnfreeze,
  folioUnlock,
} from "./folio.ts";
import { filemapReleaseFolio } from "./filemap.ts";
import { PG } from "./memory.ts";
import type { Mm } from "./mm.ts";
import { folioTestAnon } from "./folio.ts";
import { GFP_KERNEL } from "./page_alloc.ts";
import { doWritepages, writebackControl } from "./writeback.ts";
import { removeMigrationPtes } from "./_migrate_rmap.ts";

const OK: KResult = Object.freeze({ ok: true, value: undefined }) as KResult;
const ERR = new Map<Errno, KResult>();
function err(e: Errno): KResult {
  let r = ERR.get(e);
  if (!r) ERR.set(e, r = Object.freeze({ ok: false, errno: e }) as KResult);
  return r;
}

// ------------------------------------------------------------------ helpers

export { folioTestAnon } from "./folio.ts";

/**
 * `folio_mapping()`: the folio's address space, or null for an anonymous or truncated folio.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (folioMapping(mm, folioAlloc(mm, 0)) !== null) throw new Error("no mapping");
 * ```
 */
export function folioMapping(mm: Mm, folio: number): AddressSpace | null {
  const m = mm.mappings[mm.mem.mapping[folio]!];
  return m instanceof AddressSpace ? m : null;
}

/**
 * `folio_expected_ref_count()` (include/linux/mm.h, v6.16) including its anonymous branch:
 * an anonymous folio (not in a swap cache) expects one reference per mapping; a file folio
 * also one per page from the page cache and one for PG_private (see `folioExpectedRefCount`).
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, FRAGMENT_MAPPING } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const f = folioAlloc(mm, 2);
 * mm.mem.mapping[f] = FRAGMENT_MAPPING;
 * mm.mem.mapcount[f] = 1;
 * if (expectedRefCount(mm, f) !== 1) throw new Error("one mapping");
 * ```
 */
export function expectedRefCount(mm: Mm, folio: number): number {
  if (folioTestAnon(mm, folio)) return mm.mem.mapcount[folio]!;
  return folioExpectedRefCount(mm, folio);
}

// ------------------------------------------------------------------ flags and mapping

const MOVE_FLAGS = (1 << PG.referenced) | (1 << PG.uptodate) | (1 << PG.workingset) |
  (1 << PG.owner_priv_1) /* PG_checked */ | (1 << PG.owner_2) /* PG_mappedtodisk */ |
  (1 << PG.dirty);

/**
 * `folio_migrate_flags()` (mm/migrate.c): carry PG_referenced, PG_uptodate, PG_active (taken
 * from the source) or else PG_unevictable (taken), PG_workingset, PG_checked, PG_mappedtodisk,
 * PG_dirty and PG_readahead to `dst`; clear the source's PG_private and folio->private.
 * PG_private_2 is not carried (nor ever was, Hugh Dickins 2025): a source with it set yields a
 * `mm_migrate_flag_dropped` event and the model counter `migrate_private_2_dropped`, so a
 * checker can flag the lost wait.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * mm.mem.setFlag(src, PG.uptodate);
 * mm.mem.setFlag(src, PG.private_2);
 * folioMigrateFlags(mm, dst, src);
 * if (!mm.mem.testFlag(dst, PG.uptodate) || mm.mem.testFlag(dst, PG.private_2)) throw new Error();
 * ```
 */
export function folioMigrateFlags(mm: Mm, dst: number, src: number): void {
  const mem = mm.mem;
  const f = mem.flags[src]!;
  let d = mem.flags[dst]! | (f & MOVE_FLAGS);
  let s = f;
  if (f & (1 << PG.active)) {
    d |= 1 << PG.active;
    s &= ~(1 << PG.active);
  } else if (f & (1 << PG.unevictable)) {
    d |= 1 << PG.unevictable;
    s &= ~(1 << PG.unevictable);
  }
  // folio_clear_private(folio); folio->private = NULL.
  s &= ~(1 << PG.private);
  mem.private[src] = 0;
  // PG_readahead shares PG_reclaim; set after the (never needed) end of writeback on dst.
  if (f & (1 << PG.readahead)) d |= 1 << PG.readahead;
  mem.flags[src] = s;
  mem.flags[dst] = d;
  if (f & (1 << PG.private_2)) {
    mm.vmstat.inc("migrate_private_2_dropped");
    mm.env.emit("mm_migrate_flag_dropped", src, "PG_private_2", dst);
  }
}

/**
 * `folio_migrate_copy()`: copy the contents (the `mem.data` tag of every page) and the flags.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const src = folioAlloc(mm, 1), dst = folioAlloc(mm, 1);
 * mm.mem.data[src + 1] = 42;
 * folioMigrateCopy(mm, dst, src);
 * if (mm.mem.data[dst + 1] !== 42) throw new Error("copied");
 * ```
 */
export function folioMigrateCopy(mm: Mm, dst: number, src: number): void {
  const data = mm.mem.data;
  const nr = 1 << mm.mem.order[src]!;
  data.copyWithin(dst, src, src + nr);
  folioMigrateFlags(mm, dst, src);
}

/**
 * `folio_migrate_mapping()` (mm/migrate.c, v6.16): the source must hold exactly
 * `folio_expected_ref_count() + extraCount + 1` references (the +1 is the caller's isolation
 * reference), else -EAGAIN. For a file folio the refcount is frozen, `dst` takes over mapping,
 * index, the page-cache references and PG_dirty, the cache entries point at `dst`, and the
 * source is unfrozen without the cache references. Not sleeping.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, filemapGetEntry, folioGet } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f" });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, src, 7);        // refcount 2: ours + the page cache
 * const pin = folioGet(mm, src);               // a GUP-like extra reference: 3
 * if (folioMigrateMapping(mm, mapping, dst, src, 0).ok) throw new Error("must be EAGAIN");
 * mm.mem.refcount[src]!--;                     // unpin
 * if (!folioMigrateMapping(mm, mapping, dst, src, 0).ok) throw new Error("moves");
 * if (filemapGetEntry(mapping, 7) !== dst) throw new Error("cache points at dst");
 * ```
 */
export function folioMigrateMapping(
  mm: Mm,
  mapping: AddressSpace | null,
  dst: number,
  src: number,
  extraCount: number,
): KResult {
  const mem = mm.mem;
  const expected = expectedRefCount(mm, src) + extraCount + 1;
  if (mem.refcount[src] !== expected) return err("EAGAIN");
  if (!mapping) {
    // Anonymous folio without a mapping: no turning back from here.
    mem.index[dst] = mem.index[src]!;
    mem.mapping[dst] = mem.mapping[src]!;
    if (mem.testFlag(src, PG.swapbacked)) mem.setFlag(dst, PG.swapbacked);
    return OK;
  }
  if (!folioRefFreeze(mm, src, expected)) return err("EAGAIN");
  const nr = 1 << mem.order[src]!;
  folioRefAdd(mm, dst, nr); // add cache reference
  if (mem.testFlag(src, PG.swapbacked)) mem.setFlag(dst, PG.swapbacked);
  // Move dirty while page refs frozen and newpage not yet exposed.
  if (mem.testFlag(src, PG.dirty)) {
    mem.clearFlag(src, PG.dirty);
    mem.setFlag(dst, PG.dirty);
  }
  filemapReplaceEntry(mm, src, dst); // index, mapping, xas_store
  folioRefUnfreeze(mm, src, expected - nr);
  return OK;
}

// ------------------------------------------------------------------ ->migrate_folio

/**
 * `migrate_folio()` (mm/migrate.c): `folio_migrate_mapping` with no extra references, then copy
 * contents and flags. For folios without private data. A source under writeback here is the
 * kernel's BUG_ON(folio_test_writeback(src)), recorded as a violation (-EBUSY returned).
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, folioPut, filemapAddFolio, filemapGetEntry } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f" });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, src, 0); // cache + our reference, which stands for isolation
 * env.spawn("m", function* () {
 *   const rc = yield* migrateFolio(mm, mapping, dst, src, "MIGRATE_ASYNC");
 *   if (!rc.ok || filemapGetEntry(mapping, 0) !== dst) throw new Error("moved");
 * });
 * env.run();
 * ```
 */
// deno-lint-ignore require-yield
export function* migrateFolio(
  mm: Mm,
  mapping: AddressSpace | null,
  dst: number,
  src: number,
  _mode: MigrateMode,
): Process<KResult> {
  if (mm.mem.testFlag(src, PG.writeback)) {
    mm.env.violation(
      "migrate_folio under writeback",
      `migrate_folio: ${mm.describeFolio(src)} is under writeback ` +
        `(BUG_ON(folio_test_writeback(src)))`,
    );
    return err("EBUSY");
  }
  const rc = folioMigrateMapping(mm, mapping, dst, src, 0);
  if (!rc.ok) return rc;
  folioMigrateCopy(mm, dst, src);
  return OK;
}

/**
 * `filemap_migrate_folio()` (mm/migrate.c): like `migrate_folio`, and the folio's private data
 * moves to `dst` with PG_private and its reference (the kernel's
 * `folio_attach_private(dst, folio_detach_private(src))`, here `folioMovePrivate`). This is
 * what iomap filesystems use: a dirty folio with per-block state migrates without a split.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, folioAttachPrivate, folioGetPrivate, folioLock, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "xfs" });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, src, 0);
 * folioAttachPrivate(mm, src, { dirtyBlocks: 1 });
 * mm.mem.setFlag(src, PG.dirty);
 * env.spawn("m", function* () {
 *   const rc = yield* filemapMigrateFolio(mm, mapping, dst, src, "MIGRATE_ASYNC");
 *   if (!rc.ok) throw new Error(rc.errno);
 * });
 * env.run();
 * if (folioGetPrivate<{ dirtyBlocks: number }>(mm, dst)?.dirtyBlocks !== 1) throw new Error();
 * if (!mm.mem.testFlag(dst, PG.dirty) || !mm.mem.testFlag(dst, PG.private)) throw new Error();
 * ```
 */
// deno-lint-ignore require-yield
export function* filemapMigrateFolio(
  mm: Mm,
  mapping: AddressSpace,
  dst: number,
  src: number,
  _mode: MigrateMode,
): Process<KResult> {
  const rc = folioMigrateMapping(mm, mapping, dst, src, 0);
  if (!rc.ok) return rc;
  const mem = mm.mem;
  if (mem.testFlag(src, PG.private)) {
    folioMovePrivate(mm, dst, src);
    mem.clearFlag(src, PG.private);
    mem.setFlag(dst, PG.private);
    folioGet(mm, dst);
    folioPut(mm, src);
  }
  folioMigrateCopy(mm, dst, src);
  return OK;
}

/**
 * `writeout()` (mm/migrate.c, before v6.16): write a dirty folio out so that a later attempt
 * finds it clean; always fails this attempt (-EAGAIN, or -EIO if the write failed at once).
 * Divergence: the model's aops have no `->writepage`; `do_writepages` is called for the
 * folio's range with `nr_to_write = 1`, after unlocking the folio (it clears the dirty bit for
 * I/O and starts writeback as `->writepage` would); the kernel's -EINVAL for a mapping without
 * `->writepage` does not arise (`do_writepages` falls back to the generic writer).
 */
function* writeout(mm: Mm, mapping: AddressSpace, folio: number): Process<KResult> {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.dirty)) return err("EAGAIN"); // someone else triggered a write
  // The folio must be clean for migration; writeout means the attempt cannot succeed.
  removeMigrationPtes(mm, folio, folio);
  const index = mem.index[folio]!;
  const wbc = writebackControl({
    syncMode: "WB_SYNC_NONE",
    nrToWrite: 1,
    rangeStart: index,
    rangeEnd: index + (1 << mem.order[folio]!) - 1,
    reason: "migrate",
  });
  folioUnlock(mm, folio);
  const rc = yield* doWritepages(mm, mapping, wbc);
  yield* folioLock(mm, folio);
  return err(rc < 0 ? "EIO" : "EAGAIN");
}

/**
 * `fallback_migrate_folio()` (mm/migrate.c): the default for mappings without
 * `->migrate_folio`. A dirty folio: -EBUSY in every mode when `mm.era.fallbackMigrateRefusesDirty`
 * (v6.16, "migrate: Remove call to ->writepage"); before, MIGRATE_SYNC wrote it out
 * (`writeout`, then -EAGAIN) and the other modes got -EBUSY. A clean folio with private data
 * must be released (`filemap_release_folio`), else -EAGAIN in MIGRATE_SYNC, -EBUSY otherwise;
 * then `migrate_folio`.
 *
 * @example A dirty folio is refused in v6.16
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 }, version: "6.16" });
 * const mapping = AddressSpace.create(mm, { name: "f" });
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, src, 0);
 * mm.mem.setFlag(src, PG.dirty);
 * env.spawn("m", function* () {
 *   const rc = yield* fallbackMigrateFolio(mm, mapping, dst, src, "MIGRATE_SYNC");
 *   if (rc.ok || rc.errno !== "EBUSY") throw new Error("EBUSY");
 * });
 * env.run();
 * ```
 */
export function* fallbackMigrateFolio(
  mm: Mm,
  mapping: AddressSpace,
  dst: number,
  src: number,
  mode: MigrateMode,
): Process<KResult> {
  if (mm.mem.testFlag(src, PG.dirty)) {
    if (mm.era.fallbackMigrateRefusesDirty || mode !== "MIGRATE_SYNC") return err("EBUSY");
    return yield* writeout(mm, mapping, src);
  }
  if (!filemapReleaseFolio(mm, src, GFP_KERNEL)) {
    return err(mode === "MIGRATE_SYNC" ? "EAGAIN" : "EBUSY");
  }
  return yield* migrateFolio(mm, mapping, dst, src, mode);
}

/**
 * `move_to_new_folio()` (mm/migrate.c): both folios locked, the source unmapped; call
 * `migrate_folio` (anonymous or truncated), the mapping's `->migrate_folio`, or
 * `fallback_migrate_folio`. On success the source's mapping is cleared.
 *
 * @example
 * ```ts
 * import { Engine, Mm, AddressSpace, folioAlloc, filemapAddFolio, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const mapping = AddressSpace.create(mm, { name: "f" }); // no ->migrate_folio: fallback
 * const src = folioAlloc(mm, 0), dst = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, src, 0);
 * mm.mem.setFlag(src, PG.locked);
 * mm.mem.setFlag(dst, PG.locked);
 * env.spawn("m", function* () {
 *   const rc = yield* moveToNewFolio(mm, dst, src, "MIGRATE_SYNC");
 *   if (!rc.ok || filemapGetEntry(mapping, 0) !== dst || mm.mem.mapping[src] !== 0) throw new Error();
 * });
 * env.run();
 * ```
 */
export function* moveToNewFolio(
  mm: Mm,
  dst: number,
  src: number,
  mode: MigrateMode,
): Process<KResult> {
  const mem = mm.mem;
  if (!mem.testFlag(src, PG.locked) || !mem.testFlag(dst, PG.locked)) {
    throw new Error(
      `move_to_new_folio: ${mm.describeFolio(src)} and ${mm.describeFolio(dst)} must be ` +
        `locked (VM_BUG_ON_FOLIO(!folio_test_locked))`,
    );
  }
  const mapping = folioMapping(mm, src);
  let rc: KResult;
  if (!mapping) rc = yield* migrateFolio(mm, null, dst, src, mode);
  else if (mapping.aops.migrateFolio) {
    rc = yield* mapping.aops.migrateFolio.call(mapping.aops, mm, mapping, dst, src, mode);
  } else rc = yield* fallbackMigrateFolio(mm, mapping, dst, src, mode);
  // The old page-cache folio's mapping is cleared; an anonymous one keeps it until freed.
  if (rc.ok && mapping) mem.mapping[src] = 0;
  return rc;
}
