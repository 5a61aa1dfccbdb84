/**
 * What splitting a dirty iomap folio would cost if iomap carried its per-block state through
 * the split instead of refusing it: every new folio that has more than one block and is partly
 * dirty or partly uptodate needs its own `iomap_folio_state` — Matthew Wilcox's "we have to
 * allocate an extra data structure for each new folio that we create … a big ask for slab"
 * (thread 004, C4.4) — and how many new folios a uniform split makes (2^k for an order-k folio
 * split to order 0) against the non-uniform "buddy-like" split (k + 1 when isolating one page).
 *
 * // Divergence: the kernel has no such path — `iomap_release_folio` refuses a dirty folio, so
 * `__folio_split` fails with -EBUSY (see iomap.ts and split.ts). This module detaches the block
 * state before the split (so `filemap_release_folio` has nothing to release), runs the model's
 * real split (`split_huge_page_to_list_to_order` or `folio_split`), then gives each new folio
 * the part of the old state it covers: a new state (`ifs_alloc`, counted) when it has several
 * blocks with mixed dirty or uptodate bits; PG_dirty cleared (`folio_cancel_dirty`) on a new
 * folio whose blocks are all clean; PG_uptodate set on one whose blocks are all uptodate.
 *
 * Follows fs/iomap/buffered-io.c (`ifs_alloc`, `ifs_free`, v6.11/v6.12 tree) and mm/huge_memory.c
 * through lib/mm/split.ts. Left out: the writeback and read byte counters of the state.
 *
 * @module
 */

import type { KResult } from "../mm/address_space.ts";
import { folioAttachPrivate, folioDetachPrivate } from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { folioSplit, splitHugePageToListToOrder } from "../mm/split.ts";
import { folioCancelDirty } from "../mm/writeback.ts";
import { ifsAlloc, type IomapFolioState, iomapFolioState, IomapFs } from "./iomap.ts";
import { AddressSpace } from "../mm/address_space.ts";

/**
 * What {@link iomapSplitFolioKeepState} made.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapAddFolio,
 *   folioAlloc,
 *   ifsAlloc,
 *   IomapFs,
 *   iomapSetRangeDirty,
 *   iomapSplitFolioKeepState,
 *   type IomapSplitResult,
 *   Mm,
 *   PG,
 * } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.16" });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const file = fs.createFile({ name: "a", maxOrder: 2 });
 * const f = folioAlloc(mm, 2); // 4 pages, 16 blocks of 1 KiB
 * filemapAddFolio(mm, file, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * ifsAlloc(mm, f);
 * iomapSetRangeDirty(mm, f, 0, 1024); // only block 0 (of page 0) is dirty
 * mm.mem.setFlag(f, PG.dirty);
 * mm.mem.setFlag(f, PG.locked);
 * const r = iomapSplitFolioKeepState(mm, f, f + 1, { uniform: false });
 * if (!r.ok) throw new Error(r.errno);
 * const res: IomapSplitResult = r.value;
 * // folio_split isolating page 1: pages 0 and 1 alone, pages 2–3 as an order-1 folio.
 * if (res.orders.join() !== "0,0,1" || res.folios[0] !== f) throw new Error(res.orders.join());
 * // Only page 0 keeps mixed (partly dirty) blocks and needs a new iomap_folio_state.
 * if (res.ifsAllocs !== 1 || mm.mem.testFlag(f + 2, PG.dirty)) throw new Error(`${res.ifsAllocs}`);
 * ```
 */
export interface IomapSplitResult {
  /** The new folios (head pfns), in pfn order. */
  folios: number[];
  /** Their orders, in the same order. */
  orders: number[];
  /** Block-state allocations the split needed (`ifs_alloc` for new folios). */
  ifsAllocs: number;
}

/**
 * Options of {@link iomapSplitFolioKeepState}.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapAddFolio,
 *   folioAlloc,
 *   IomapFs,
 *   iomapSplitFolioKeepState,
 *   type IomapSplitOptions,
 *   Mm,
 *   PG,
 * } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 }, version: "6.16" });
 * const fs = new IomapFs(mm);
 * const file = fs.createFile({ name: "a", minOrder: 1, maxOrder: 2 });
 * const f = folioAlloc(mm, 2);
 * filemapAddFolio(mm, file, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.setFlag(f, PG.locked);
 * // A uniform split to order 0, raised to the mapping's minimum order 1.
 * const opts: IomapSplitOptions = { uniform: true, newOrder: 0 };
 * const r = iomapSplitFolioKeepState(mm, f, f, opts);
 * if (!r.ok || r.value.orders.join() !== "1,1") throw new Error(JSON.stringify(r));
 * ```
 */
export interface IomapSplitOptions {
  /** Uniform split (`split_huge_page_to_list_to_order`) instead of `folio_split`. */
  uniform: boolean;
  /** Target order (default 0, raised to the mapping's minimum order). */
  newOrder?: number;
}

/**
 * Split the locked iomap folio `folio` so that page `splitAt` ends in a folio of `newOrder`,
 * keeping the per-block dirty and uptodate state on the new folios (see the module doc).
 * Returns the new folios and the block-state allocations, or the split's errno (the folio then
 * keeps its state).
 *
 * @example Isolating page 5 of a partly dirty order-9 folio with 1 KiB blocks
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapSetRangeDirty, folioMarkDirty, PG } from "@mmsim/mmsim";
 * const split = (uniform: boolean) => {
 *   const mm = new Mm(new Engine(), { memory: { nrFrames: 2048 }, version: "6.16" });
 *   const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 *   const file = fs.createFile({ name: "a", maxOrder: 9 });
 *   const f = folioAlloc(mm, 9);
 *   filemapAddFolio(mm, file, f, 0);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   const ifs = ifsAlloc(mm, f)!;
 *   for (let b = 0; b < ifs.nrBlocks; b += 2) iomapSetRangeDirty(mm, f, b * 1024, 1024);
 *   mm.mem.setFlag(f, PG.dirty);
 *   mm.mem.setFlag(f, PG.locked);
 *   const r = iomapSplitFolioKeepState(mm, f, f + 5, { uniform });
 *   if (!r.ok) throw new Error(r.errno);
 *   return [r.value.folios.length, r.value.ifsAllocs];
 * };
 * if (split(true).join() !== "512,512" || split(false).join() !== "10,10") throw new Error();
 * ```
 */
export function iomapSplitFolioKeepState(
  mm: Mm,
  folio: number,
  splitAt: number,
  opts: IomapSplitOptions,
): KResult<IomapSplitResult> {
  const mem = mm.mem;
  const mapping = AddressSpace.of(mm, folio);
  const fs = mapping?.host;
  if (!(mapping instanceof AddressSpace) || !(fs instanceof IomapFs)) {
    throw new Error(`iomap split: ${mm.describeFolio(folio)} is not in an iomap file`);
  }
  const order = mem.order[folio]!;
  const total = fs.blocksPerFolio(order);
  // The old state, or what the folio flags say when there is none.
  const old: IomapFolioState = iomapFolioState(mm, folio) ?? {
    nrBlocks: total,
    state: new Uint8Array(2 * total),
  };
  if (!iomapFolioState(mm, folio)) {
    if (mem.testFlag(folio, PG.uptodate)) old.state.fill(1, 0, total);
    if (mem.testFlag(folio, PG.dirty)) old.state.fill(1, total, 2 * total);
  }
  const hadState = mem.testFlag(folio, PG.private);
  if (hadState) folioDetachPrivate(mm, folio);
  const newOrder = Math.max(opts.newOrder ?? 0, mapping.minOrder);
  const r = opts.uniform
    ? splitHugePageToListToOrder(mm, folio, newOrder)
    : folioSplit(mm, folio, newOrder, splitAt);
  if (!r.ok) {
    if (hadState) folioAttachPrivate(mm, folio, old);
    return r;
  }
  if (hadState) fs.stats.ifsFrees++;
  const before = fs.stats.ifsAllocs;
  const folios = [...r.value].sort((a, b) => a - b);
  const orders = folios.map((p) => mem.order[p]!);
  const bpp = total / (1 << order); // blocks per page (fractional when bs > page size)
  for (const p of folios) {
    const n = fs.blocksPerFolio(mem.order[p]!);
    const first = Math.floor((p - folio) * bpp);
    let dirty = 0, uptodate = 0;
    for (let b = first; b < first + n; b++) {
      dirty += old.state[total + b]!;
      uptodate += old.state[b]!;
    }
    if (uptodate === n) mem.setFlag(p, PG.uptodate);
    if (dirty === 0 && mem.testFlag(p, PG.dirty)) folioCancelDirty(mm, p);
    const mixed = (dirty > 0 && dirty < n) || (uptodate > 0 && uptodate < n);
    if (n > 1 && mixed) {
      const ifs = ifsAlloc(mm, p)!;
      ifs.state.set(old.state.subarray(first, first + n), 0);
      ifs.state.set(old.state.subarray(total + first, total + first + n), n);
    }
  }
  mm.env.emit("iomap_split_keep_state", folio, order, {
    folios: folios.length,
    ifsAllocs: fs.stats.ifsAllocs - before,
  });
  return { ok: true, value: { folios, orders, ifsAllocs: fs.stats.ifsAllocs - before } };
}
