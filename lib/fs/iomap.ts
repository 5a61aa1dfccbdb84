/**
 * An iomap-based block filesystem (XFS-like): per-folio block state (`iomap_folio_state`, a
 * per-block uptodate bitmap followed by a per-block dirty bitmap) attached as folio private data
 * on demand, `->release_folio` that refuses dirty folios, `->invalidate_folio`, `->dirty_folio`,
 * `->writepages` through the block device model, and `->migrate_folio = filemap_migrate_folio`
 * (optional, to model a filesystem without it). Large folios with the mapping's minimum and
 * maximum order; block size smaller or larger than the base page (large block sizes set the
 * mapping's minimum order, as XFS does since v6.12).
 *
 * Follows fs/iomap/buffered-io.c as read (a v6.11/v6.12 tree: `ifs_alloc`, `ifs_free`,
 * `iomap_set_range_uptodate`, `iomap_set_range_dirty`, `iomap_clear_range_dirty`,
 * `iomap_release_folio`, `iomap_invalidate_folio`, `iomap_dirty_folio`, `__iomap_write_begin`,
 * `__iomap_write_end`, `iomap_write_iter`, `iomap_writepage_map`, `iomap_writepages`,
 * `iomap_read_folio`, `iomap_readahead`) and fs/xfs/xfs_aops.c's aops table
 * (`xfs_address_space_operations`: `.migrate_folio = filemap_migrate_folio`).
 *
 * Why split is refused and migration is not (thread 004): `iomap_release_folio` returns false
 * for a dirty folio ("we refuse to release our metadata because it may be partially dirty"), so
 * `filemap_release_folio` — called by a split and by `fallback_migrate_folio` — fails; but
 * `filemap_migrate_folio` moves the `iomap_folio_state` to the new folio and never releases it.
 * {@link IomapFsStats.ifsAllocs} counts block-state allocations (`kzalloc` in `ifs_alloc`).
 *
 * Left out: extents and block mapping (every block is mapped, no holes, no unwritten or
 * delalloc extents), inline data, `IOMAP_NOWAIT`, `read_bytes_pending` / `write_bytes_pending`
 * accounting (a folio's read or write ends as one I/O), ioend merging (one bio per folio),
 * short copies, i_size zeroing beyond EOF. Contents are per-page tags: a write touching any
 * block of a page gives the whole page the new tag.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import type { Process } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  type KResult,
  type ReadaheadControl,
  type WritebackControl,
} from "../mm/address_space.ts";
import { inodeToBdi } from "../mm/block_device.ts";
import { filemapGetFolioErr } from "../mm/filemap.ts";
import {
  folioAttachPrivate,
  folioDetachPrivate,
  folioEndRead,
  folioGetPrivate,
  folioPut,
  folioUnlock,
} from "../mm/folio.ts";
import { PG, pmdOrder } from "../mm/memory.ts";
import { readaheadFolio } from "../mm/readahead.ts";
import type { Mm } from "../mm/mm.ts";
import { filemapMigrateFolio } from "../mm/migrate_folio.ts";
import { fgfSetOrder, FGP, iSizeRead, iSizeWrite } from "../mm/pagemap.ts";
import {
  filemapDirtyFolio,
  folioCancelDirty,
  folioEndWriteback,
  folioStartWriteback,
  writebackIter,
} from "../mm/writeback.ts";
import { createFsFile } from "./_file.ts";

/**
 * Configuration of an {@link IomapFs}.
 *
 * @example
 * ```ts
 * import { IomapFsConfig } from "@mmsim/mmsim";
 * const c = IomapFsConfig.parse({ blockSizeBytes: 1024 });
 * if (!c.migrateFolio || c.name !== "xfs") throw new Error("defaults");
 * const bad = IomapFsConfig.safeParse({ blockSizeBytes: 3000 });
 * if (bad.success) throw new Error("block sizes are powers of two");
 * ```
 */
export interface IomapFsConfig {
  /** Name in traces (default "xfs"). */
  name: string;
  /** Filesystem block size (i_blocksize), a power of two from 512 B to 1 MiB; default 4 KiB. */
  blockSizeBytes: number;
  /**
   * `->migrate_folio = filemap_migrate_folio` (default true, as every iomap filesystem has);
   * false models a filesystem without it: migration takes `fallback_migrate_folio`.
   */
  migrateFolio: boolean;
  /** Submit-to-completion time of a read bio (default 100 µs). */
  readLatency: Latency;
}

/**
 * Input of {@link IomapFsConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, IomapFs, type IomapFsConfigInput, Mm } from "@mmsim/mmsim";
 * // 16 KiB blocks on 4 KiB pages, and no ->migrate_folio (migration takes the fallback path).
 * const input: IomapFsConfigInput = { blockSizeBytes: 16384, migrateFolio: false };
 * const fs = new IomapFs(new Mm(new Engine(), { memory: { nrFrames: 64 } }), input);
 * if (fs.blockOrder !== 2 || fs.aops.migrateFolio !== undefined) throw new Error("bs > ps");
 * if (fs.config.name !== "xfs") throw new Error("unset fields get their defaults");
 * ```
 */
export type IomapFsConfigInput = Partial<IomapFsConfig>;

const iomapFsSchema = z.object({
  name: z.string().default("xfs"),
  blockSizeBytes: z.number().int().min(512).max(1 << 20).refine(
    (b) => (b & (b - 1)) === 0,
    "blockSizeBytes must be a power of two",
  ).default(4096),
  migrateFolio: z.boolean().default(true),
  readLatency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
});
const _iomapFsTypes: Same<z.output<typeof iomapFsSchema>, IomapFsConfig> = true;
void _iomapFsTypes;

/** The {@link IomapFsConfig} schema. */
export const IomapFsConfig: ConfigSchema<IomapFsConfig, IomapFsConfigInput> = defineConfig(
  "IomapFsConfig",
  iomapFsSchema,
);

/**
 * `struct iomap_folio_state`: per-block uptodate bits in `state[0, nrBlocks)` and per-block
 * dirty bits in `state[nrBlocks, 2·nrBlocks)` (one byte per bit here).
 *
 * @example
 * ```ts
 * import type { IomapFolioState } from "@mmsim/mmsim";
 * const ifs: IomapFolioState = { nrBlocks: 4, state: new Uint8Array(8) };
 * ifs.state[4 + 1] = 1; // block 1 dirty
 * if (ifs.state.subarray(4).reduce((a, b) => a + b, 0) !== 1) throw new Error("one dirty block");
 * ```
 */
export interface IomapFolioState {
  /** Blocks in the folio (`i_blocks_per_folio`). */
  nrBlocks: number;
  /** Uptodate bits, then dirty bits. */
  state: Uint8Array;
}

/**
 * Counters of an {@link IomapFs}.
 *
 * @example
 * ```ts
 * import {
 *   Engine,
 *   filemapFdatawait,
 *   filemapFdatawrite,
 *   IomapFs,
 *   iomapFileBufferedWrite,
 *   type IomapFsStats,
 *   Mm,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const file = fs.createFile({ name: "a", maxOrder: 0 });
 * env.spawn("write", function* () {
 *   yield* iomapFileBufferedWrite(mm, file, 0, 4096, 1); // a whole page: no block state
 *   yield* iomapFileBufferedWrite(mm, file, 4096 + 1024, 1024, 2); // one block of page 1
 * });
 * env.run();
 * const afterWrite: IomapFsStats = { ...fs.stats };
 * if (afterWrite.ifsAllocs !== 1 || afterWrite.readBios !== 0) throw new Error("block-aligned");
 * env.spawn("sync", function* () {
 *   yield* filemapFdatawrite(mm, file, "WB_SYNC_ALL");
 *   yield* filemapFdatawait(mm, file);
 * });
 * env.run();
 * // iomap_writepage_map gives page 0 its block state too (all blocks dirty), then writes both.
 * const s: IomapFsStats = fs.stats;
 * if (s.ifsAllocs !== 2 || s.foliosWritten !== 2) throw new Error(JSON.stringify(s));
 * ```
 */
export interface IomapFsStats {
  /** `iomap_folio_state` allocations (`ifs_alloc` reaching kzalloc). */
  ifsAllocs: number;
  /** `iomap_folio_state` frees (`ifs_free` with state attached). */
  ifsFrees: number;
  /** `->release_folio` calls refused because the folio was dirty. */
  releaseRefusedDirty: number;
  /** Read bios submitted. */
  readBios: number;
  /** Folios written back (`iomap_writepage_map` with at least one dirty block). */
  foliosWritten: number;
}

/**
 * Options of {@link IomapFs.createFile}.
 *
 * @example
 * ```ts
 * import { Engine, IomapFs, type IomapFileOptions, Mm } from "@mmsim/mmsim";
 * const fs = new IomapFs(new Mm(new Engine(), { memory: { nrFrames: 64 } }), {
 *   blockSizeBytes: 8192,
 * });
 * const opts: IomapFileOptions = { name: "data", maxOrder: 3, fillPages: 4 };
 * const file = fs.createFile(opts);
 * // An 8 KiB block needs order-1 folios: mapping_set_folio_min_order raises the minimum.
 * if (file.minOrder !== 1 || file.maxOrder !== 3) throw new Error(`${file.minOrder}`);
 * if (file.backing.size !== 4) throw new Error("pages 0..3 have contents");
 * const huge = fs.createFile({ name: "hugetlb-like", neverSplitOrder: 2 });
 * if (huge.minOrder !== 2 || huge.maxOrder !== 2) throw new Error("exactly order 2");
 * ```
 */
export interface IomapFileOptions {
  /** Name for reports. */
  name: string;
  /** Minimum folio order; raised to what the block size needs (bs > page size). */
  minOrder?: number;
  /** Maximum folio order (default: the PMD order). */
  maxOrder?: number;
  /**
   * Hugetlbfs-like: folios of exactly `order` that can never be split (minimum = maximum order
   * = `order`), but migrate whole when a destination of that order exists.
   */
  neverSplitOrder?: number;
  /** i_size in pages (default: no end of file). */
  sizePages?: number;
  /** Fill `backing` (and `latest`) with a fresh content tag for pages [0, n). */
  fillPages?: number;
}

/**
 * An iomap-based filesystem (see the module doc).
 *
 * @example A partial write to a large folio allocates block state; release is refused while dirty
 * ```ts
 * import { Engine, Mm, IomapFs, iomapFileBufferedWrite, iomapFolioState, filemapGetEntry, filemapReleaseFolio, folioTrylock, GFP_KERNEL } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 1024 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const file = fs.createFile({ name: "a", maxOrder: 4 });
 * env.spawn("write", function* () {
 *   yield* iomapFileBufferedWrite(mm, file, 0, 16 * 4096, 1); // a whole order-4 folio
 *   yield* iomapFileBufferedWrite(mm, file, 4096, 1024, 2);   // then one block of it
 * });
 * env.run();
 * const f = filemapGetEntry(file, 0);
 * if (mm.mem.order[f] !== 4 || iomapFolioState(mm, f)?.nrBlocks !== 64) throw new Error("64 blocks");
 * folioTrylock(mm, f);
 * if (filemapReleaseFolio(mm, f, GFP_KERNEL)) throw new Error("dirty: refused");
 * if (fs.stats.ifsAllocs !== 1 || fs.stats.releaseRefusedDirty !== 1) throw new Error("counted");
 * ```
 */
export class IomapFs {
  /** The memory context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: IomapFsConfig;
  /** The address-space operations of its files. */
  readonly aops: AddressSpaceOperations;
  /** Counters. */
  readonly stats: IomapFsStats = {
    ifsAllocs: 0,
    ifsFrees: 0,
    releaseRefusedDirty: 0,
    readBios: 0,
    foliosWritten: 0,
  };
  #nextBio = 1;

  /** Create the filesystem. */
  constructor(mm: Mm, config: IomapFsConfigInput = {}) {
    this.mm = mm;
    this.config = IomapFsConfig.parse(config);
    const aops: AddressSpaceOperations = {
      readFolio: (mm, mapping, folio) => iomapReadFolio(mm, mapping, folio),
      readahead: (mm, rac) => iomapReadahead(mm, rac),
      dirtyFolio: (mm, mapping, folio) => iomapDirtyFolio(mm, mapping, folio),
      writepages: (mm, mapping, wbc) => iomapWritepages(mm, mapping, wbc),
      releaseFolio: (mm, _mapping, folio, gfp) => iomapReleaseFolio(mm, folio, gfp),
      invalidateFolio: (mm, _mapping, folio, offset, length) =>
        iomapInvalidateFolio(mm, folio, offset, length),
    };
    if (this.config.migrateFolio) aops.migrateFolio = filemapMigrateFolio;
    this.aops = aops;
  }

  /**
   * The smallest folio order that holds a block: `mapping_set_folio_min_order` as XFS sets it
   * for block sizes above the page size (0 otherwise).
   */
  get blockOrder(): number {
    const ratio = this.config.blockSizeBytes / this.mm.mem.pageSizeBytes;
    return ratio <= 1 ? 0 : Math.log2(ratio);
  }

  /** Create a file: an address space with this filesystem's aops and folio order range. */
  createFile(opts: IomapFileOptions): AddressSpace {
    const pmd = Math.min(pmdOrder(this.mm.mem.pageSizeBytes), this.mm.mem.maxOrder);
    let minOrder = Math.max(opts.minOrder ?? 0, this.blockOrder);
    let maxOrder = Math.max(opts.maxOrder ?? pmd, minOrder);
    if (opts.neverSplitOrder !== undefined) minOrder = maxOrder = opts.neverSplitOrder;
    return createFsFile(this.mm, this, this.aops, {
      name: opts.name,
      minOrder,
      maxOrder,
      sizePages: opts.sizePages,
      fillPages: opts.fillPages,
    });
  }

  /** Blocks in a folio of `order` (`i_blocks_per_folio`; at least 1). */
  blocksPerFolio(order: number): number {
    return Math.max(1, ((1 << order) * this.mm.mem.pageSizeBytes) / this.config.blockSizeBytes);
  }

  /** @internal Next read bio number. */
  nextBio(): number {
    return this.#nextBio++;
  }
}

/** The {@link IomapFs} a folio's mapping belongs to; throws for other mappings. */
function fsOf(mm: Mm, folio: number): IomapFs {
  const m = AddressSpace.of(mm, folio);
  const fs = m?.host;
  if (!(fs instanceof IomapFs)) {
    throw new Error(`iomap: ${mm.describeFolio(folio)} is not in an iomap file`);
  }
  return fs;
}

/**
 * `folio->private` of an iomap folio: its `iomap_folio_state`, or undefined.
 *
 * @example
 * ```ts
 * import { Engine, Mm, folioAlloc, iomapFolioState } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * if (iomapFolioState(mm, folioAlloc(mm, 0)) !== undefined) throw new Error("no state");
 * ```
 */
export function iomapFolioState(mm: Mm, folio: number): IomapFolioState | undefined {
  if (!mm.mem.testFlag(folio, PG.private)) return undefined;
  return folioGetPrivate<IomapFolioState>(mm, folio);
}

/**
 * `ifs_alloc()`: the folio's block state, allocated (and counted) if it has none and more than
 * one block; the new state starts all uptodate if the folio is, all dirty if it is. Returns
 * undefined for a single-block folio.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const file = fs.createFile({ name: "a", maxOrder: 2 });
 * const f = folioAlloc(mm, 2);
 * filemapAddFolio(mm, file, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * const ifs = ifsAlloc(mm, f)!;
 * if (ifs.nrBlocks !== 16 || ifs.state[0] !== 1 || ifs.state[16] !== 0) throw new Error();
 * if (ifsAlloc(mm, f) !== ifs || fs.stats.ifsAllocs !== 1) throw new Error("allocated once");
 * ```
 */
export function ifsAlloc(mm: Mm, folio: number): IomapFolioState | undefined {
  const existing = iomapFolioState(mm, folio);
  const fs = fsOf(mm, folio);
  const nrBlocks = fs.blocksPerFolio(mm.mem.order[folio]!);
  if (existing || nrBlocks <= 1) return existing;
  const ifs: IomapFolioState = { nrBlocks, state: new Uint8Array(2 * nrBlocks) };
  if (mm.mem.testFlag(folio, PG.uptodate)) ifs.state.fill(1, 0, nrBlocks);
  if (mm.mem.testFlag(folio, PG.dirty)) ifs.state.fill(1, nrBlocks, 2 * nrBlocks);
  folioAttachPrivate(mm, folio, ifs);
  fs.stats.ifsAllocs++;
  mm.vmstat.inc("iomap_ifs_alloc");
  return ifs;
}

/**
 * `ifs_free()`: detach and free the folio's block state, if any.
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, ifsFree, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * ifsAlloc(mm, f);
 * ifsFree(mm, f);
 * if (mm.mem.testFlag(f, PG.private) || fs.stats.ifsFrees !== 1) throw new Error();
 * ```
 */
export function ifsFree(mm: Mm, folio: number): void {
  if (!mm.mem.testFlag(folio, PG.private)) return;
  folioDetachPrivate(mm, folio);
  fsOf(mm, folio).stats.ifsFrees++;
}

/** First and last block (inclusive) of a byte range inside a folio. */
function blockRange(fs: IomapFs, off: number, len: number): [number, number] {
  const bs = fs.config.blockSizeBytes;
  return [Math.floor(off / bs), Math.floor((off + len - 1) / bs)];
}

/**
 * `iomap_set_range_uptodate()`: mark the blocks of [off, off + len) (bytes within the folio)
 * uptodate; the folio becomes uptodate when every block is (always, without block state).
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapSetRangeUptodate, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 2048 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * ifsAlloc(mm, f);
 * iomapSetRangeUptodate(mm, f, 0, 2048);
 * if (mm.mem.testFlag(f, PG.uptodate)) throw new Error("half");
 * iomapSetRangeUptodate(mm, f, 2048, 2048);
 * if (!mm.mem.testFlag(f, PG.uptodate)) throw new Error("whole");
 * ```
 */
export function iomapSetRangeUptodate(mm: Mm, folio: number, off: number, len: number): void {
  const ifs = iomapFolioState(mm, folio);
  let uptodate = true;
  if (ifs) {
    const [first, last] = blockRange(fsOf(mm, folio), off, len);
    ifs.state.fill(1, first, last + 1);
    for (let b = 0; b < ifs.nrBlocks && uptodate; b++) uptodate = ifs.state[b] === 1;
  }
  if (uptodate) mm.mem.setFlag(folio, PG.uptodate);
}

/**
 * `iomap_set_range_dirty()`: mark the blocks of [off, off + len) dirty in the block state (no
 * effect without one; PG_dirty is the caller's business).
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapSetRangeDirty } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * const ifs = ifsAlloc(mm, f)!;
 * iomapSetRangeDirty(mm, f, 1024, 1);
 * if (ifs.state[4 + 1] !== 1 || ifs.state[4] !== 0) throw new Error("block 1 only");
 * ```
 */
export function iomapSetRangeDirty(mm: Mm, folio: number, off: number, len: number): void {
  const ifs = iomapFolioState(mm, folio);
  if (!ifs || len <= 0) return;
  const [first, last] = blockRange(fsOf(mm, folio), off, len);
  ifs.state.fill(1, ifs.nrBlocks + first, ifs.nrBlocks + last + 1);
}

/**
 * `iomap_clear_range_dirty()`: clear the dirty bits of [off, off + len).
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapSetRangeDirty, iomapClearRangeDirty } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * const ifs = ifsAlloc(mm, f)!;
 * iomapSetRangeDirty(mm, f, 0, 4096);
 * iomapClearRangeDirty(mm, f, 0, 4096);
 * if (ifs.state.subarray(4).some((b) => b !== 0)) throw new Error("clean");
 * ```
 */
export function iomapClearRangeDirty(mm: Mm, folio: number, off: number, len: number): void {
  const ifs = iomapFolioState(mm, folio);
  if (!ifs || len <= 0) return;
  const [first, last] = blockRange(fsOf(mm, folio), off, len);
  ifs.state.fill(0, ifs.nrBlocks + first, ifs.nrBlocks + last + 1);
}

/**
 * `iomap_release_folio()`: refuse a dirty folio ("we refuse to release our metadata because it
 * may be partially dirty"); otherwise free the block state and agree. (`filemap_release_folio`
 * has already refused a folio under writeback.)
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapReleaseFolio, GFP_KERNEL, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * ifsAlloc(mm, f);
 * mm.mem.setFlag(f, PG.dirty);
 * if (iomapReleaseFolio(mm, f, GFP_KERNEL)) throw new Error("dirty");
 * mm.mem.clearFlag(f, PG.dirty);
 * if (!iomapReleaseFolio(mm, f, GFP_KERNEL) || mm.mem.testFlag(f, PG.private)) throw new Error();
 * ```
 */
export function iomapReleaseFolio(mm: Mm, folio: number, _gfp: number): boolean {
  mm.env.emit("iomap_release_folio", folio);
  if (mm.mem.testFlag(folio, PG.dirty)) {
    fsOf(mm, folio).stats.releaseRefusedDirty++;
    return false;
  }
  ifsFree(mm, folio);
  return true;
}

/**
 * `iomap_invalidate_folio()`: invalidating the whole folio cancels its dirty state and frees
 * the block state; a partial invalidation keeps both.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, ifsAlloc, iomapInvalidateFolio, folioMarkDirty, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * folioMarkDirty(mm, f);
 * env.spawn("inval", function* () { yield* iomapInvalidateFolio(mm, f, 0, 4096); });
 * env.run();
 * if (mm.mem.testFlag(f, PG.dirty) || mm.mem.testFlag(f, PG.private)) throw new Error();
 * ```
 */
// deno-lint-ignore require-yield
export function* iomapInvalidateFolio(
  mm: Mm,
  folio: number,
  offset: number,
  length: number,
): Process<void> {
  const size = (1 << mm.mem.order[folio]!) * mm.mem.pageSizeBytes;
  if (offset === 0 && length === size) {
    if (mm.mem.testFlag(folio, PG.writeback)) {
      mm.env.violation(
        "WARN_ON_ONCE(folio_test_writeback)",
        `iomap_invalidate_folio: ${mm.describeFolio(folio)} is under writeback`,
      );
    }
    folioCancelDirty(mm, folio);
    ifsFree(mm, folio);
  }
}

/**
 * `iomap_dirty_folio()` (`->dirty_folio`, e.g. from a store through a shared mapping): allocate
 * the block state, mark every block dirty, then `filemap_dirty_folio`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, folioAlloc, filemapAddFolio, folioMarkDirty, iomapFolioState, PG } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, fs.createFile({ name: "a" }), f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * folioMarkDirty(mm, f); // goes through ->dirty_folio
 * if (iomapFolioState(mm, f)!.state.subarray(4).some((b) => b !== 1)) throw new Error("all dirty");
 * ```
 */
export function iomapDirtyFolio(mm: Mm, mapping: AddressSpace, folio: number): boolean {
  ifsAlloc(mm, folio);
  iomapSetRangeDirty(mm, folio, 0, (1 << mm.mem.order[folio]!) * mm.mem.pageSizeBytes);
  return filemapDirtyFolio(mm, mapping, folio);
}

/**
 * `iomap_file_buffered_write()` / `iomap_write_iter()`: write `len` bytes at byte `pos` with
 * content `tag`, folio by folio: `iomap_get_folio` (`__filemap_get_folio(FGP_WRITEBEGIN |
 * FGP_NOFS)` with the order the length asks for, within the mapping's range), then
 * `__iomap_write_begin` — a write covering the whole folio needs no block state; otherwise
 * `ifs_alloc`, and blocks the write covers only partly are read first (one read latency) —
 * then `__iomap_write_end`: the written blocks become uptodate and dirty, `filemap_dirty_folio`,
 * i_size extended. Returns the bytes written, or the errno of the folio lookup.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, iomapFileBufferedWrite, filemapGetEntry, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new IomapFs(mm);
 * const file = fs.createFile({ name: "a", maxOrder: 2 });
 * let n = 0;
 * env.spawn("w", function* () {
 *   const r = yield* iomapFileBufferedWrite(mm, file, 0, 4 * 4096, 7);
 *   if (r.ok) n = r.value;
 * });
 * env.run();
 * const f = filemapGetEntry(file, 0);
 * if (n !== 16384 || mm.mem.order[f] !== 2 || !mm.mem.testFlag(f, PG.dirty)) throw new Error();
 * if (fs.stats.ifsAllocs !== 0) throw new Error("a whole-folio write needs no block state");
 * ```
 */
export function* iomapFileBufferedWrite(
  mm: Mm,
  mapping: AddressSpace,
  pos: number,
  len: number,
  tag: number,
): Process<KResult<number>> {
  const fs = mapping.host;
  if (!(fs instanceof IomapFs)) throw new Error(`iomap write: ${mapping.name} is not iomap`);
  const ps = mm.mem.pageSizeBytes;
  const mem = mm.mem;
  let written = 0;
  while (written < len) {
    const p = pos + written;
    const index = Math.floor(p / ps);
    const want = Math.floor(Math.log2(Math.max(1, Math.ceil((len - written) / ps))));
    const r = yield* filemapGetFolioErr(
      mm,
      mapping,
      index,
      FGP.WRITEBEGIN | FGP.NOFS | fgfSetOrder(Math.min(want, mapping.maxOrder)),
    );
    if (!r.ok) return written > 0 ? { ok: true, value: written } : r;
    const folio = r.value;
    const fpos = mem.index[folio]! * ps;
    const fsize = (1 << mem.order[folio]!) * ps;
    const off = p - fpos;
    const bytes = Math.min(fsize - off, len - written);
    // __iomap_write_begin()
    if (!(off === 0 && bytes === fsize)) {
      ifsAlloc(mm, folio);
      if (!mem.testFlag(folio, PG.uptodate)) {
        // Blocks the write covers only partly must be read (iomap_read_folio_sync).
        const bs = fs.config.blockSizeBytes;
        const partial = off % bs !== 0 || (off + bytes) % bs !== 0;
        if (partial) {
          const ns = sampleLatency(mm.env.current!.rng, fs.config.readLatency);
          if (ns === Infinity) yield mm.env.hang(`iomap_read_folio_sync of ${mapping.name}`);
          yield mm.env.sleep(ns);
          for (let i = 0; i < fsize / ps; i++) {
            const idx = mem.index[folio]! + i;
            if (mem.data[folio + i] === 0) mem.data[folio + i] = mapping.backing.get(idx) ?? 0;
          }
          const b0 = Math.floor(off / bs) * bs;
          const b1 = Math.ceil((off + bytes) / bs) * bs;
          iomapSetRangeUptodate(mm, folio, b0, b1 - b0);
        }
      }
    }
    // Copy, then __iomap_write_end().
    const firstPage = Math.floor(off / ps), lastPage = Math.floor((off + bytes - 1) / ps);
    for (let i = firstPage; i <= lastPage; i++) {
      mem.data[folio + i] = tag;
      mapping.latest.set(mem.index[folio]! + i, tag);
    }
    iomapSetRangeUptodate(mm, folio, off, bytes);
    iomapSetRangeDirty(mm, folio, off, bytes);
    filemapDirtyFolio(mm, mapping, folio);
    const endPage = Math.ceil((p + bytes) / ps);
    if (endPage > iSizeRead(mapping) && Number.isFinite(iSizeRead(mapping))) {
      iSizeWrite(mapping, endPage);
    }
    folioUnlock(mm, folio);
    folioPut(mm, folio);
    written += bytes;
  }
  mm.env.emit("iomap_write", mapping.name, null, { pos, len });
  return { ok: true, value: written };
}

/**
 * `iomap_writepages()` with `iomap_writepage_map()`: for each dirty folio of `wbc`'s range
 * (`writeback_iter`, locked, PG_dirty cleared for I/O): a multi-block folio without block state
 * gets one with every block dirty; writeback starts; the dirty blocks go into one bio to the
 * mapping's block device; the dirty bits are cleared; the folio is unlocked. A folio with no
 * dirty block ends writeback at once. Returns 0 or the first error.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, iomapFileBufferedWrite, filemapWriteAndWaitRange, filemapGetEntry, iomapFolioState, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new IomapFs(mm, { blockSizeBytes: 1024 });
 * const file = fs.createFile({ name: "a", maxOrder: 2 });
 * env.spawn("w", function* () {
 *   yield* iomapFileBufferedWrite(mm, file, 0, 4 * 4096, 5);
 *   yield* filemapWriteAndWaitRange(mm, file, 0, 3);
 * });
 * env.run();
 * const f = filemapGetEntry(file, 0);
 * if (mm.mem.testFlag(f, PG.dirty) || file.backing.get(3) !== 5) throw new Error("written");
 * if (iomapFolioState(mm, f)?.nrBlocks !== 16) throw new Error("writeback attached block state");
 * ```
 */
export function* iomapWritepages(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
): Process<number> {
  const fs = mapping.host as IomapFs;
  const bdev = inodeToBdi(mm, mapping);
  const mem = mm.mem;
  const error = { value: 0 };
  let folio = -1;
  while ((folio = yield* writebackIter(mm, mapping, wbc, folio, error)) !== -1) {
    const size = (1 << mem.order[folio]!) * mem.pageSizeBytes;
    let ifs = iomapFolioState(mm, folio);
    if (fs.blocksPerFolio(mem.order[folio]!) > 1 && !ifs) {
      ifs = ifsAlloc(mm, folio);
      iomapSetRangeDirty(mm, folio, 0, size);
    }
    let dirty = true;
    if (ifs) dirty = ifs.state.subarray(ifs.nrBlocks).some((b) => b === 1);
    const bio = bdev.newBio(mapping);
    folioStartWriteback(mm, folio, bio);
    iomapClearRangeDirty(mm, folio, 0, size);
    folioUnlock(mm, folio);
    if (dirty) {
      bdev.bioAddFolio(bio, folio);
      bdev.submitBio(bio);
      fs.stats.foliosWritten++;
    } else {
      yield* folioEndWriteback(mm, folio);
    }
    error.value = 0;
  }
  return error.value;
}

/** Submit a read of locked folios: a task completes it after the read latency. */
function submitRead(mm: Mm, fs: IomapFs, mapping: AddressSpace, list: number[]): void {
  const folios = [...list];
  const id = fs.nextBio();
  fs.stats.readBios++;
  const refs = folios.map((f) => mm.ref(f));
  const desc = `iomap read bio #${id} (${mapping.name})`;
  const task = mm.env.spawn(`${fs.config.name}-read#${id}`, function* (env, self) {
    const ns = sampleLatency(self.rng, fs.config.readLatency);
    if (ns === Infinity) yield env.hang(`${desc} never completes`);
    yield env.sleep(ns);
    for (let k = 0; k < folios.length; k++) {
      const f = folios[k]!;
      if (!mm.checkLive(refs[k]!, `${desc} completion`)) continue;
      const n = 1 << mm.mem.order[f]!;
      for (let i = 0; i < n; i++) {
        mm.mem.data[f + i] = mapping.backing.get(mm.mem.index[f]! + i) ?? 0;
      }
      // iomap_finish_folio_read(): every block uptodate, then folio_end_read.
      const ifs = iomapFolioState(mm, f);
      if (ifs) ifs.state.fill(1, 0, ifs.nrBlocks);
      folioEndRead(mm, f, true);
    }
  });
  for (const f of folios) mm.setBitHolder(f, PG.locked, task);
}

/**
 * `iomap_read_folio()` (`->read_folio`): attach block state to a multi-block folio and read the
 * whole folio; the completion sets every block uptodate and calls `folio_end_read`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, filemapRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new IomapFs(mm, { readLatency: { kind: "fixed", ns: 1000 } });
 * const file = fs.createFile({ name: "a", sizePages: 4, fillPages: 4 });
 * let tags: number[] = [];
 * env.spawn("r", function* () { const r = yield* filemapRead(mm, file, 1, 1); if (r.ok) tags = r.value; });
 * env.run();
 * if (tags[0] !== file.backing.get(1)) throw new Error("read from the backing store");
 * ```
 */
// deno-lint-ignore require-yield
export function* iomapReadFolio(mm: Mm, mapping: AddressSpace, folio: number): Process<number> {
  ifsAlloc(mm, folio);
  submitRead(mm, mapping.host as IomapFs, mapping, [folio]);
  return 0;
}

/**
 * `iomap_readahead()` (`->readahead`): one read bio for the locked folios of `rac`.
 *
 * @example
 * ```ts
 * import { Engine, Mm, IomapFs, filemapRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new IomapFs(mm);
 * const file = fs.createFile({ name: "a", sizePages: 64, fillPages: 64 });
 * env.spawn("r", function* () { yield* filemapRead(mm, file, 0, 4); });
 * env.run();
 * if (fs.stats.readBios < 1) throw new Error("readahead read");
 * ```
 */
// deno-lint-ignore require-yield
export function* iomapReadahead(mm: Mm, rac: ReadaheadControl): Process<void> {
  // iomap_readahead_iter(): every folio through readahead_folio().
  const folios: number[] = [];
  for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) folios.push(f);
  for (const f of folios) ifsAlloc(mm, f);
  if (folios.length > 0) submitRead(mm, rac.mapping.host as IomapFs, rac.mapping, folios);
}
