/**
 * Page-cache pages used by a device (CLAIMS.md thread 002): Jan Kara's copy protocol — page A
 * stays in the page cache and the device gets a copy A' — and Jérôme Glisse's alternatives,
 * migrating the page to device memory (`migrate_to_ram` on CPU touch) or, for read(2)/write(2),
 * copying through a bounce buffer while the page stays on the device (mmap still migrates).
 *
 * An {@link HmmFile} wraps one file's `address_space_operations` (Jan: "you can just have
 * wrappers around them") and serves its device faults ({@link DeviceFaultHandler}):
 *
 * - copy (Jan Kara, linux-fsdevel, 14 Dec 2016): the device's first touch faults; the CPU
 *   write-protects every CPU mapping of A (`folio_mkclean`), copies A → A' and maps A'
 *   read-only on the device. A device store to A' faults (the write notification): the CPU
 *   removes every CPU mapping of A (`unmap_mapping_folio`) and marks A !uptodate and dirty,
 *   then grants write. A CPU access to A caught in `->read_folio` / `->readahead` (read(2), mmap
 *   faults), `->writepages` / `->launder_folio` (writeback, the flush and invalidation before
 *   direct I/O) write-protects A' on the device, copies A' → A and marks A uptodate (and still
 *   dirty); a CPU write (`->page_mkwrite` for mmap, `->write_begin` for write(2), the "kmap
 *   users") removes A' from the device. `->release_folio` / `->invalidate_folio` drop A' when A
 *   leaves the page cache.
 * - migrate (Jérôme Glisse): the device's first touch migrates the page: CPU mappings go
 *   (device-private entries), A → D is copied, and the device maps D writable; every CPU access
 *   migrates it back (D → A), through the same wrappers. Invalidation of a page that is on the
 *   device migrates it back first; if the device has it pinned (an access in flight) that fails
 *   and the invalidation fails with it (-EBUSY: direct I/O then falls back to buffered I/O).
 * - bounce: as migrate, but read(2)/write(2) of a page on the device copy through a bounce
 *   buffer (`->read_iter` / `->write_iter` level) and leave it there.
 * - mirror (what upstream did instead, `hmm_range_fault` + MMU notifiers, v4.14+): no copy;
 *   the device maps A itself, read-only until a device write faults through the write-notify
 *   path (`->page_mkwrite`, A dirtied); `folio_mkclean` in writeback write-protects the device
 *   mapping too (its MMU notifier), truncation and invalidation remove it.
 *
 * Divergence: in the migrate and bounce designs the system folio A stays in the page cache as a
 * !uptodate, dirty placeholder for the device page, so the generic paths reach the wrappers the
 * same way; a real design would put the ZONE_DEVICE page in the xarray and free A. Copies and
 * faults are the same; the memory saved is not modelled. Upstream device-private migration
 * supports anonymous memory only (mm/migrate_device.c `__migrate_device_pages`: "For now only
 * support anonymous memory migrating to device private or coherent memory"): the migrate and
 * bounce strategies model a design, not a kernel.
 *
 * Protocol variants for checking ({@link HmmProtocolConfig}): no write notification (the device
 * gets A' writable silently), no DIO invalidation (DioConfig.pageCacheSync false), no writeback
 * hook (generic `mpage_writepages` and no `->launder_folio`), no read hook (generic
 * `->read_folio`).
 *
 * Lock order: folio lock (A) → device page table (implicit: a step is atomic) → waits for device
 * accesses in flight (`HmmDevice.invalidate`, which never needs a folio lock).
 *
 * Left out: large folios (A is one base page), partial-page writes (write(2) overwrites a whole
 * page, so revoking A' needs no copy back), reclaim of A (it stays dirty while the device owns
 * it), the device's own writeback, ZONE_DEVICE struct pages for device memory (so neither the
 * +1 that device-private pages add to migration's expected reference count nor
 * `dev_pagemap` references are modelled), other kmap users than write(2) (e.g. a GUP pin on A
 * taken before the device's write, whose holder keeps writing into A).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Process } from "../sim/engine.ts";
import type { AddressSpace, AddressSpaceOperations, KResult } from "../mm/address_space.ts";
import { filemapGetEntry } from "../mm/address_space.ts";
import { inodeToBdi, mpageWritepages } from "../mm/block_device.ts";
import { type DioRw, iomapDioRw } from "../mm/direct_io.ts";
import {
  filemapGetFolioErr,
  filemapGetPages,
  filemapRead,
  genericPerformWrite,
} from "../mm/filemap.ts";
import {
  folioEndRead,
  folioExpectedRefCount,
  folioLock,
  folioPut,
  folioUnlock,
} from "../mm/folio.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { filemapPageMkwrite, folioMkclean, unmapMappingFolio, type Vma } from "../mm/mmap.ts";
import { FGP } from "../mm/pagemap.ts";
import {
  filemapWriteAndWaitRange,
  folioClearDirtyForIo,
  folioMarkDirty,
  folioStartWriteback,
  folioWaitWriteback,
  writeCachePages,
} from "../mm/writeback.ts";
import type { DeviceFaultHandler, DevicePte, HmmDevice } from "./hmm.ts";

/**
 * How a page-cache page is shared with the device (see the module doc).
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   type HmmStrategy,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const ownsAfterStore = (strategy: HmmStrategy) => {
 *   const env = new Engine();
 *   const mm = new Mm(env, { memory: { nrFrames: 256 } });
 *   const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 *   const hf = new HmmFile(new HmmDevice(mm), file, { strategy });
 *   env.spawn("gpu", function* () { yield* deviceStore(hf.dev, file, 0, 7); });
 *   env.run();
 *   return hf.deviceOwns(0);
 * };
 * // copy, migrate and bounce leave the only fresh copy on the device; mirror works on A itself.
 * const owns = (["copy", "migrate", "bounce", "mirror"] as const).map(ownsAfterStore);
 * if (owns.join() !== "true,true,true,false") throw new Error(owns.join());
 * ```
 */
export type HmmStrategy = "copy" | "migrate" | "bounce" | "mirror";

/**
 * Configuration of an {@link HmmFile}: the strategy and, for checking, which parts of the
 * protocol are switched off.
 *
 * @example
 * ```ts
 * import { HmmProtocolConfig } from "@mmsim/mmsim";
 * const c = HmmProtocolConfig.parse({ writeNotify: false });
 * if (c.strategy !== "copy" || c.writeNotify || !c.writebackHook) throw new Error("defaults");
 * ```
 */
export interface HmmProtocolConfig {
  /** Copy (Jan Kara), migrate or bounce (Jérôme Glisse), mirror (upstream); default "copy". */
  strategy: HmmStrategy;
  /** copy: a device store to a read-only A' notifies the CPU (default true). */
  writeNotify: boolean;
  /** `->read_folio` / `->readahead` wrappers copy or migrate back (default true). */
  readHook: boolean;
  /** `->writepages` / `->launder_folio` wrappers copy or migrate back (default true). */
  writebackHook: boolean;
  /** Direct I/O flushes and invalidates the page cache first (default true, as the kernel). */
  dioInvalidation: boolean;
  /** Direct-I/O bio latency in ns (default 10 µs). */
  dioLatencyNs: number;
}

/**
 * Input of {@link HmmProtocolConfig}: every field optional.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   type HmmProtocolConfigInput,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * // Jan Kara's copy protocol without the write notification: A' becomes writable silently.
 * const input: HmmProtocolConfigInput = { writeNotify: false };
 * const hf = new HmmFile(new HmmDevice(mm), file, input);
 * env.spawn("gpu", function* () { yield* deviceStore(hf.dev, file, 0, 7); });
 * env.run();
 * if (hf.stats.mkwrite !== 0 || !hf.devicePte(0)?.write) throw new Error("no notification");
 * ```
 */
export type HmmProtocolConfigInput = Partial<HmmProtocolConfig>;

const protocolSchema = z.object({
  strategy: z.enum(["copy", "migrate", "bounce", "mirror"]).default("copy"),
  writeNotify: z.boolean().default(true),
  readHook: z.boolean().default(true),
  writebackHook: z.boolean().default(true),
  dioInvalidation: z.boolean().default(true),
  dioLatencyNs: z.number().int().min(0).default(10_000),
});
const _protocolTypes: Same<z.output<typeof protocolSchema>, HmmProtocolConfig> = true;
void _protocolTypes;

/** The {@link HmmProtocolConfig} schema. */
export const HmmProtocolConfig: ConfigSchema<HmmProtocolConfig, HmmProtocolConfigInput> =
  defineConfig("HmmProtocolConfig", protocolSchema);

/**
 * Counters of an {@link HmmFile}.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   type HmmFileStats,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file, { strategy: "migrate" });
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 7); // migrate A to the device
 *   yield* hf.read(0); // a CPU access migrates it back
 * });
 * env.run();
 * const s: HmmFileStats = hf.stats;
 * if (s.migrations !== 1 || s.migrationsBack !== 1 || s.bytesCopied !== 2 * 4096) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface HmmFileStats {
  /** Page copies host → device (A → A', or a migration). */
  copiesToDevice: number;
  /** Page copies device → host (A' → A, or a migration back). */
  copiesToHost: number;
  /** Bounce-buffer copies (read(2)/write(2) of a page left on the device). */
  bounceCopies: number;
  /** Bytes copied by all of the above. */
  bytesCopied: number;
  /** copy: write notifications (the device's ->page_mkwrite events). */
  mkwrite: number;
  /** migrate/bounce: migrations to the device, and back. */
  migrations: number;
  /** Migrations back to system memory. */
  migrationsBack: number;
  /** Migrations to the device refused: A had references beyond the expected ones. */
  migrateFailures: number;
  /** Writeback (`->writepages` wrapper) that had to take the page back from the device. */
  writebackTakeBacks: number;
  /** Invalidations (`->launder_folio`) that had to take the page back from the device first. */
  invalidateFallbacks: number;
  /** Invalidations refused: the device page was pinned (migrate) or owned (copy). */
  invalidateFailures: number;
  /** Direct-I/O writes that fell back to buffered I/O after an invalidation failure. */
  dioFallbacks: number;
}

/**
 * What {@link HmmFile.directIo} returns.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   type HmmDioResult,
 *   HmmDevice,
 *   HmmFile,
 *   Mm,
 *   mmapRegion,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * const buf = mmapRegion(mm, { nrPages: 1 }); // the user buffer (anonymous memory)
 * let res: HmmDioResult | undefined;
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 900);
 *   const r = yield* hf.directIo("READ", 0, buf, 0); // flushes A' → A → storage first
 *   if (r.ok) res = r.value;
 * });
 * env.run();
 * if (res?.tag !== 900 || res.fellBack) throw new Error(JSON.stringify(res));
 * ```
 */
export interface HmmDioResult {
  /** For a read, the content tag that reached the user buffer; for a write, the tag written. */
  tag: number;
  /** The write fell back to buffered I/O (the invalidation failed). */
  fellBack: boolean;
}

const OK: KResult = { ok: true, value: undefined };

/**
 * One file shared with a device under a {@link HmmStrategy} (see the module doc). Creating it
 * replaces `mapping.aops` by the wrappers, sets AS_RELEASE_ALWAYS (so `->release_folio` sees
 * every folio leaving the cache) and makes the device mirror the file.
 *
 * @example Jan Kara's protocol: a device store leaves A dirty and !uptodate; read(2) copies back
 * ```ts
 * import { Engine, HmmDevice, HmmFile, Mm, SimpleFs, deviceStore, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 1000);
 *   const a = file.pages.load(0);
 *   if (mm.mem.testFlag(a, PG.uptodate) || !mm.mem.testFlag(a, PG.dirty)) throw new Error("A state");
 *   const r = yield* hf.read(0);
 *   if (!r.ok || r.value !== 1000 || !mm.mem.testFlag(a, PG.uptodate)) throw new Error("copied back");
 * });
 * env.run();
 * if (hf.stats.mkwrite !== 1 || hf.stats.copiesToDevice !== 1 || hf.stats.copiesToHost !== 1) {
 *   throw new Error(JSON.stringify(hf.stats));
 * }
 * ```
 */
export class HmmFile implements DeviceFaultHandler {
  /** The memory context. */
  readonly mm: Mm;
  /** The device. */
  readonly dev: HmmDevice;
  /** The file. */
  readonly mapping: AddressSpace;
  /** Parsed configuration. */
  readonly config: HmmProtocolConfig;
  /** The filesystem's own operations, which the wrappers call (a checker may wrap them). */
  generic: AddressSpaceOperations;
  /** Counters. */
  readonly stats: HmmFileStats = {
    copiesToDevice: 0,
    copiesToHost: 0,
    bounceCopies: 0,
    bytesCopied: 0,
    mkwrite: 0,
    migrations: 0,
    migrationsBack: 0,
    migrateFailures: 0,
    writebackTakeBacks: 0,
    invalidateFallbacks: 0,
    invalidateFailures: 0,
    dioFallbacks: 0,
  };

  /** Wrap `mapping`'s operations and let `dev` mirror it. */
  constructor(dev: HmmDevice, mapping: AddressSpace, config: HmmProtocolConfigInput = {}) {
    this.mm = dev.mm;
    this.dev = dev;
    this.mapping = mapping;
    this.config = HmmProtocolConfig.parse(config);
    this.generic = mapping.aops;
    if (this.generic.writepages && this.config.writebackHook) {
      throw new Error(
        `HmmFile: ${mapping.name} has its own ->writepages; the writeback wrapper needs the ` +
          `generic mpage path (one ->writepage per folio)`,
      );
    }
    mapping.aops = this.#wrappers();
    mapping.releaseAlways = true;
    dev.mirror(mapping, this);
  }

  /**
   * True while the device holds the only fresh copy (copy: A' writable; migrate/bounce:
   * migrated; mirror: never — the device works on A itself).
   */
  deviceOwns(index: number): boolean {
    const s = this.config.strategy;
    if (s === "mirror") return false;
    const pte = this.dev.pte(this.mapping, index);
    return pte !== undefined && (s !== "copy" || pte.write);
  }

  #count(kind: "copiesToDevice" | "copiesToHost" | "bounceCopies"): void {
    this.stats[kind]++;
    this.stats.bytesCopied += this.mm.mem.pageSizeBytes;
  }

  // ---------------------------------------------------------------- device faults

  /** {@link DeviceFaultHandler}: serve a device fault on page `index`. Use with `yield*`. */
  *deviceFault(
    _dev: HmmDevice,
    mapping: AddressSpace,
    index: number,
    write: boolean,
  ): Process<KResult> {
    const mm = this.mm;
    // hmm_range_fault(): make the page present and uptodate in the page cache first (through
    // the read wrappers, so a page the device owns is never read from storage).
    const r = yield* filemapGetPages(mm, mapping, index, 1);
    if (!r.ok) return r;
    const [folio, ...rest] = r.value;
    for (const f of rest) folioPut(mm, f);
    yield* folioLock(mm, folio!);
    let ret = OK;
    if (mm.mem.mapping[folio!] === mapping.id) {
      const s = this.config.strategy;
      ret = s === "copy"
        ? this.#copyFault(folio!, index, write)
        : s === "mirror"
        ? this.#mirrorFault(folio!, index, write)
        : yield* this.#migrateFault(folio!, index);
    }
    folioUnlock(mm, folio!);
    folioPut(mm, folio!);
    return ret;
  }

  /** Jan's protocol on the device side; A is locked. Never sleeps. */
  #copyFault(folio: number, index: number, write: boolean): KResult {
    const mm = this.mm, mem = mm.mem, dev = this.dev, mapping = this.mapping;
    let pte = dev.pte(mapping, index);
    if (!pte) {
      // Another thread may have made A the device's since we looked it up: then it has a pte.
      if (!mem.testFlag(folio, PG.uptodate)) return OK;
      // First touch: write-protect all CPU mappings of A, copy A → A', map A' read-only.
      const frame = dev.allocFrame();
      dev.data[frame] = mem.data[folio]!;
      this.#count("copiesToDevice");
      if (folioMkclean(mm, folio) > 0) folioMarkDirty(mm, folio);
      pte = dev.map(mapping, index, frame, false);
    }
    if (write && !pte.write) {
      if (this.config.writeNotify) {
        // The write notification: clear all CPU mappings of A, mark it !uptodate and dirty.
        unmapMappingFolio(mm, folio);
        mem.clearFlag(folio, PG.uptodate);
        folioMarkDirty(mm, folio);
        this.stats.mkwrite++;
        mm.env.emit("hmm_mkwrite", folio, index, mapping.name);
        dev.grantWrite(mapping, index, 1);
      } else {
        dev.grantWrite(mapping, index, 0);
      }
    }
    return OK;
  }

  /**
   * Upstream's mirror (hmm_range_fault on the CPU page tables): the device maps A itself, read-
   * only unless the fault is a write, which goes through the write-notify path as a CPU write
   * fault would (`->page_mkwrite`: A is dirtied). A is locked. Never sleeps.
   */
  #mirrorFault(folio: number, index: number, write: boolean): KResult {
    const mm = this.mm, dev = this.dev, mapping = this.mapping;
    let pte = dev.pte(mapping, index);
    pte ??= dev.map(mapping, index, folio, false, 0, true);
    if (write && !pte.write) {
      folioMarkDirty(mm, folio);
      this.stats.mkwrite++;
      mm.env.emit("hmm_mkwrite", folio, index, mapping.name);
      dev.grantWrite(mapping, index, 1);
    }
    return OK;
  }

  /** Jérôme's migration to device memory; A is locked. */
  *#migrateFault(folio: number, index: number): Process<KResult> {
    const mm = this.mm, mem = mm.mem, dev = this.dev, mapping = this.mapping;
    if (dev.pte(mapping, index) || !mem.testFlag(folio, PG.uptodate)) return OK;
    yield* folioWaitWriteback(mm, folio);
    // migrate_vma_setup(): CPU mappings become device-private entries (zapped here: a CPU
    // touch faults into filemap_fault and the read wrapper, our migrate_to_ram).
    unmapMappingFolio(mm, folio);
    // migrate_vma_check_page(): only the page cache's, the mappings' and our own reference.
    if (mem.refcount[folio]! > folioExpectedRefCount(mm, folio) + 1) {
      this.stats.migrateFailures++;
      mm.env.emit("hmm_migrate_fail", folio, index, mem.refcount[folio]);
      return { ok: false, errno: "EBUSY" };
    }
    const frame = dev.allocFrame();
    dev.data[frame] = mem.data[folio]!;
    this.#count("copiesToDevice");
    this.stats.migrations++;
    mem.clearFlag(folio, PG.uptodate);
    folioMarkDirty(mm, folio);
    dev.map(mapping, index, frame, true, 0);
    mm.env.emit("hmm_migrate_to_device", folio, index, frame);
    return OK;
  }

  // ---------------------------------------------------------------- taking the page back

  /**
   * Make A (locked) hold the device's data again, leaving it !uptodate for the caller to set.
   * copy: write-protect A' (`"keep"`) or remove it (`"drop"`), waiting for stores in flight,
   * and copy A' → A; migrate/bounce: unmap D from the device and copy D → A
   * (`migrate_to_ram`). Returns false (nothing done) if the device does not own the page. Use
   * with `yield*`.
   */
  *#takeBack(folio: number, index: number, then: "keep" | "drop"): Process<boolean> {
    const dev = this.dev, mapping = this.mapping, mem = this.mm.mem;
    if (!this.deviceOwns(index)) return false;
    const copy = this.config.strategy === "copy";
    const keep = copy && then === "keep";
    const pte = (yield* dev.invalidate(mapping, index, keep ? "write-protect" : "unmap"))!;
    mem.data[folio] = dev.data[pte.frame]!;
    this.#count("copiesToHost");
    if (!keep) dev.freeFrame(pte.frame);
    if (!copy) this.stats.migrationsBack++;
    this.mm.env.emit("hmm_take_back", folio, index, mem.data[folio]);
    return true;
  }

  /** A CPU write is coming (A locked, uptodate or about to be overwritten): drop A' / D. */
  *#revoke(index: number): Process<void> {
    if (this.config.strategy === "mirror") return; // one page, shared coherently
    const pte = yield* this.dev.invalidate(this.mapping, index, "unmap");
    if (!pte) return;
    this.dev.freeFrame(pte.frame);
    if (this.config.strategy !== "copy") this.stats.migrationsBack++;
  }

  // ---------------------------------------------------------------- the wrappers

  #wrappers(): AddressSpaceOperations {
    // deno-lint-ignore no-this-alias
    const hf = this;
    const mem = this.mm.mem;
    const ops: AddressSpaceOperations = {
      *readFolio(mm, mapping, folio) {
        const index = mem.index[folio]!;
        if (hf.config.readHook && hf.deviceOwns(index)) {
          yield* hf.#takeBack(folio, index, "keep");
          folioEndRead(mm, folio, true);
          return 0;
        }
        return yield* hf.generic.readFolio!(mm, mapping, folio);
      },
      *readahead(mm, rac) {
        // Readahead only adds folios that were not cached: none can be the device's.
        yield* hf.generic.readahead!(mm, rac);
      },
      *writepages(mm, mapping, wbc) {
        if (!hf.config.writebackHook) {
          return yield* (hf.generic.writepages ?? mpageWritepages)(mm, mapping, wbc);
        }
        return yield* writeCachePages(mm, mapping, wbc, function* (folio) {
          const index = mem.index[folio]!;
          if (yield* hf.#takeBack(folio, index, "keep")) {
            mem.setFlag(folio, PG.uptodate);
            hf.stats.writebackTakeBacks++;
          }
          // mirror: folio_mkclean's MMU notifier write-protects the device's mapping too.
          if (hf.config.strategy === "mirror") {
            yield* hf.dev.invalidate(mapping, index, "write-protect");
          }
          // mpage's ->writepage: start writeback, one bio, unlock, submit.
          const bdev = inodeToBdi(mm, mapping);
          const bio = bdev.newBio(mapping);
          folioStartWriteback(mm, folio, bio);
          bdev.bioAddFolio(bio, folio);
          folioUnlock(mm, folio);
          bdev.submitBio(bio);
          return 0;
        });
      },
      *launderFolio(mm, mapping, folio) {
        // folio_launder() before invalidation: take the page back, write it, wait.
        const index = mem.index[folio]!;
        if (hf.deviceOwns(index)) {
          if (hf.config.strategy !== "copy" && hf.dev.pte(mapping, index)!.pins > 0) {
            hf.stats.invalidateFailures++;
            mm.env.emit("hmm_invalidate_fail", folio, index, "pinned");
            return -16; // -EBUSY: migrate_vma skips a page with accesses in flight
          }
          yield* hf.#takeBack(folio, index, "keep");
          mem.setFlag(folio, PG.uptodate);
          hf.stats.invalidateFallbacks++;
        }
        if (hf.config.strategy === "mirror") {
          yield* hf.dev.invalidate(mapping, index, "write-protect");
        }
        if (!folioClearDirtyForIo(mm, folio)) return 0;
        const bdev = inodeToBdi(mm, mapping);
        const bio = bdev.newBio(mapping);
        folioStartWriteback(mm, folio, bio);
        bdev.bioAddFolio(bio, folio);
        bdev.submitBio(bio);
        yield* folioWaitWriteback(mm, folio);
        return 0;
      },
      releaseFolio(mm, mapping, folio, gfp) {
        const index = mem.index[folio]!;
        const pte = hf.dev.pte(mapping, index);
        if (pte) {
          if (hf.deviceOwns(index)) {
            // Still the device's (not laundered): it cannot leave the page cache.
            hf.stats.invalidateFailures++;
            mm.env.emit("hmm_invalidate_fail", folio, index, "device owns it");
            return false;
          }
          if (pte.host) {
            // mirror: the device maps A itself; an access in flight keeps it (-EBUSY).
            if (hf.dev.tryUnmap(mapping, index) === null) {
              hf.stats.invalidateFailures++;
              return false;
            }
          } else hf.dev.dropEntry(mapping, index); // a read-only copy: just forget it
        }
        return hf.generic.releaseFolio ? hf.generic.releaseFolio(mm, mapping, folio, gfp) : true;
      },
      *invalidateFolio(mm, mapping, folio, offset, length) {
        // Truncation: the page goes whatever it holds; so does the device's copy (a mirror
        // of A itself is invalidated and waited for: the MMU notifier of the unmap).
        const index = mem.index[folio]!;
        if (hf.dev.pte(mapping, index)?.host) yield* hf.dev.invalidate(mapping, index, "unmap");
        else hf.dev.dropEntry(mapping, index);
        if (hf.generic.invalidateFolio) {
          yield* hf.generic.invalidateFolio(mm, mapping, folio, offset, length);
        }
      },
      *pageMkwrite(mm, mapping, folio) {
        const r = hf.generic.pageMkwrite
          ? yield* hf.generic.pageMkwrite(mm, mapping, folio)
          : yield* filemapPageMkwrite(mm, mapping, folio);
        if (!r.ok) return r;
        // Locked: a CPU store is coming. Take the data back if the device owns it, then
        // remove the device's copy.
        const index = mem.index[folio]!;
        if (yield* hf.#takeBack(folio, index, "drop")) mem.setFlag(folio, PG.uptodate);
        else yield* hf.#revoke(index);
        return OK;
      },
      *writeBegin(_mm, _mapping, _folio, index) {
        // write(2) overwrites the whole page: no copy back, just remove the device's copy.
        yield* hf.#revoke(index);
        return OK;
      },
    };
    if (!this.generic.readahead) delete ops.readahead;
    if (!this.generic.readFolio) delete ops.readFolio;
    if (this.generic.dirtyFolio) ops.dirtyFolio = this.generic.dirtyFolio;
    if (this.generic.migrateFolio) ops.migrateFolio = this.generic.migrateFolio;
    if (!this.config.writebackHook) delete ops.launderFolio;
    if (!this.config.writebackHook && this.generic.launderFolio) {
      ops.launderFolio = this.generic.launderFolio;
    }
    return ops;
  }

  // ---------------------------------------------------------------- CPU entry points

  /**
   * read(2) of page `index` (`->read_iter`): the generic `filemap_read`, except that the bounce
   * strategy copies a page that is on the device through a bounce buffer and leaves it there.
   * Returns the content tag read. Use with `yield*`.
   */
  *read(index: number): Process<KResult<number>> {
    const mm = this.mm;
    if (this.config.strategy === "bounce" && this.deviceOwns(index)) {
      const r = yield* filemapGetFolioErr(mm, this.mapping, index, FGP.LOCK);
      if (r.ok) {
        const pte = this.dev.pte(this.mapping, index);
        const tag = pte ? this.dev.data[pte.frame]! : 0;
        if (pte) this.#count("bounceCopies");
        folioUnlock(mm, r.value);
        folioPut(mm, r.value);
        if (pte) return { ok: true, value: tag };
      }
    }
    const r = yield* filemapRead(mm, this.mapping, index, 1);
    if (!r.ok) return r;
    return { ok: true, value: r.value[0] ?? 0 };
  }

  /**
   * write(2) of content tag `tag` to page `index` (`->write_iter`): `generic_perform_write`
   * (whose `->write_begin` wrapper removes the device's copy), except that the bounce strategy
   * copies into a page on the device through a bounce buffer. Use with `yield*`.
   */
  *write(index: number, tag: number): Process<KResult> {
    const mm = this.mm;
    if (this.config.strategy === "bounce" && this.deviceOwns(index)) {
      const r = yield* filemapGetFolioErr(mm, this.mapping, index, FGP.LOCK);
      if (r.ok) {
        const pte = this.dev.pte(this.mapping, index);
        if (pte) {
          this.dev.data[pte.frame] = tag;
          pte.dirty = true;
          this.mapping.latest.set(index, tag);
          this.#count("bounceCopies");
          mm.env.emit("hmm_bounce_write", r.value, index, tag);
        }
        folioUnlock(mm, r.value);
        folioPut(mm, r.value);
        if (pte) return OK;
      }
    }
    return yield* genericPerformWrite(mm, this.mapping, index, tag);
  }

  /** fsync(2) of the file: `filemap_write_and_wait_range` over every page. Use with `yield*`. */
  *fsync(): Process<number> {
    return yield* filemapWriteAndWaitRange(this.mm, this.mapping, 0, 0xffff_ffff);
  }

  /**
   * A synchronous direct read or write of page `index` through `iomap_dio_rw`, with the user
   * buffer at page `bufIndex` of `buf` (an anonymous mapping). A write whose invalidation
   * fails (-EBUSY; the kernel's -ENOTBLK) falls back to a buffered write of the same data.
   * Use with `yield*`.
   */
  *directIo(rw: DioRw, index: number, buf: Vma, bufIndex: number): Process<KResult<HmmDioResult>> {
    const mm = this.mm;
    const r = yield* iomapDioRw(
      mm,
      rw,
      { mapping: this.mapping, index, async: false },
      { vma: buf, index: bufIndex, nrPages: 1 },
      {
        latency: { kind: "fixed", ns: this.config.dioLatencyNs },
        pageCacheSync: this.config.dioInvalidation,
      },
    );
    const page = buf.pteOf(bufIndex);
    const tag = page >= 0 ? mm.mem.data[page]! : 0;
    if (r.ok) return { ok: true, value: { tag, fellBack: false } };
    if (rw === "WRITE" && r.errno === "EBUSY") {
      this.stats.dioFallbacks++;
      const w = yield* this.write(index, tag);
      if (!w.ok) return w;
      return { ok: true, value: { tag, fellBack: true } };
    }
    return r;
  }

  /** The folio caching page `index`, or -1. */
  folioAt(index: number): number {
    return filemapGetEntry(this.mapping, index);
  }

  /** The device's entry for page `index`, if any. */
  devicePte(index: number): DevicePte | undefined {
    return this.dev.pte(this.mapping, index);
  }
}
