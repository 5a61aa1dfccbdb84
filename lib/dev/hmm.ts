/**
 * A device with its own memory that mirrors file pages (HMM): device frames holding content
 * tags, a device page table over file pages — one entry per (mapping, index) with a write bit —
 * and the loads and stores of device threads, which fault to the CPU when the entry is missing
 * or read-only. A store to a read-only entry is the device's write notification: the equivalent
 * of `->page_mkwrite` that Jérôme Glisse says devices have ("a file back page … map read only
 * … must first do a write fault"), and the only one: once an entry is writable, stores go to
 * device memory with no notification (CLAIMS.md thread 002).
 *
 * Device threads are engine tasks; a scenario may run thousands. A load or store pins its entry
 * while the access is in flight (the device's DMA), and {@link HmmDevice.invalidate} — the
 * driver's side of an MMU-notifier invalidation — clears the entry's bits first and then waits
 * until no access is in flight, so nothing lands in device memory after the CPU took it back.
 *
 * Follows the shape of include/linux/hmm.h (`hmm_range_fault`, HMM_PFN_VALID / HMM_PFN_WRITE),
 * include/linux/mmu_notifier.h (`mmu_interval_notifier`: invalidate, then the driver waits for
 * the device) and include/linux/memremap.h (MEMORY_DEVICE_PRIVATE, `dev_pagemap_ops`), Linux
 * v6.12, but no driver in particular: the kernel has no generic device page table. What the CPU
 * does on a device fault is the protocol's business ({@link DeviceFaultHandler}; lib/dev/
 * hmm_file.ts holds Jan Kara's copy protocol and Jérôme Glisse's migrate and bounce designs).
 *
 * Left out: device virtual addresses (the device page table is keyed by file page, as if the
 * device mapped the file), device TLBs apart from the page table itself, PASID/ATS, large device
 * pages, peer-to-peer DMA, device memory as ZONE_DEVICE struct pages (device frames are plain
 * content slots here; no `dev_pagemap` reference counting).
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same } from "../_config.ts";
import type { Process } from "../sim/engine.ts";
import { waitEvent, WaitQueue } from "../sim/wait_queue.ts";
import type { AddressSpace, KResult } from "../mm/address_space.ts";
import type { Mm } from "../mm/mm.ts";

/**
 * Configuration of an {@link HmmDevice}.
 *
 * @example
 * ```ts
 * import { HmmDeviceConfig } from "@mmsim/mmsim";
 * const c = HmmDeviceConfig.parse({ nrFrames: 64 });
 * if (c.accessNs !== 0 || c.maxFaultRetries !== 1000) throw new Error("defaults");
 * ```
 */
export interface HmmDeviceConfig {
  /** Name in traces (default "gpu0"). */
  name: string;
  /** Device memory in base pages (default 1024). */
  nrFrames: number;
  /**
   * How long an access stays in flight (its entry pinned), in ns; 0 = one preemption point,
   * so an invalidation can interleave with an access in flight (default 0).
   */
  accessNs: number;
  /** Faults one access may take before it gives up with the fault's errno (default 1000). */
  maxFaultRetries: number;
  /** Sleep before retrying an access whose fault returned EBUSY/EAGAIN, in ns (default 1000). */
  retryDelayNs: number;
}

/**
 * Input of {@link HmmDeviceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, HmmDevice, type HmmDeviceConfigInput, Mm } from "@mmsim/mmsim";
 * const input: HmmDeviceConfigInput = { name: "gpu1", nrFrames: 2 };
 * const dev = new HmmDevice(new Mm(new Engine(), { memory: { nrFrames: 16 } }), input);
 * dev.allocFrame();
 * dev.allocFrame();
 * let msg = "";
 * try {
 *   dev.allocFrame();
 * } catch (e) {
 *   msg = (e as Error).message;
 * }
 * if (!msg.startsWith("gpu1: cannot allocate") || dev.config.accessNs !== 0) throw new Error(msg);
 * ```
 */
export type HmmDeviceConfigInput = Partial<HmmDeviceConfig>;

const hmmDeviceSchema = z.object({
  name: z.string().default("gpu0"),
  nrFrames: z.number().int().positive().default(1024),
  accessNs: z.number().int().min(0).default(0),
  maxFaultRetries: z.number().int().positive().default(1000),
  retryDelayNs: z.number().int().min(0).default(1000),
});
const _hmmDeviceTypes: Same<z.output<typeof hmmDeviceSchema>, HmmDeviceConfig> = true;
void _hmmDeviceTypes;

/** The {@link HmmDeviceConfig} schema. */
export const HmmDeviceConfig: ConfigSchema<HmmDeviceConfig, HmmDeviceConfigInput> = defineConfig(
  "HmmDeviceConfig",
  hmmDeviceSchema,
);

/**
 * One entry of the device page table: the device frame backing a file page, whether the device
 * may write it, and the accesses in flight. Model: no kernel structure (a driver's own).
 *
 * @example A read fault maps the page read-only; a store faults again for write permission
 * ```ts
 * import {
 *   AddressSpace,
 *   deviceLoad,
 *   type DevicePte,
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   Mm,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const file = AddressSpace.create(mm, { name: "f" });
 * const dev = new HmmDevice(mm, { nrFrames: 4 });
 * dev.mirror(file, {
 *   *deviceFault(d, m, i, write) {
 *     if (!d.pte(m, i)) d.map(m, i, d.allocFrame(), false); // first touch: read-only
 *     else if (write) d.grantWrite(m, i, 1); // the write notification
 *     yield env.point();
 *     return { ok: true, value: undefined };
 *   },
 * });
 * env.spawn("gpu", function* () {
 *   yield* deviceLoad(dev, file, 0);
 *   yield* deviceStore(dev, file, 0, 5);
 * });
 * env.run();
 * const pte: DevicePte = dev.pte(file, 0)!;
 * if (!pte.write || !pte.dirty || pte.host || pte.pins !== 0) throw new Error(JSON.stringify(pte));
 * if (pte.grantMkwrite !== 1 || pte.grantStores !== 1 || dev.data[pte.frame] !== 5) {
 *   throw new Error(JSON.stringify(pte));
 * }
 * ```
 */
export interface DevicePte {
  /**
   * Device frame (index into {@link HmmDevice.data}), or — when {@link DevicePte.host} — the
   * pfn of the system page the device maps directly.
   */
  readonly frame: number;
  /**
   * The entry maps system memory (the page-cache page itself, as `hmm_range_fault` mirrors
   * it): accesses read and write `mm.mem.data[frame]` across the interconnect.
   */
  readonly host: boolean;
  /** The device may store without faulting. */
  write: boolean;
  /** Accesses in flight (pinned): an invalidation waits for 0. */
  pins: number;
  /** The device stored since the entry was installed (its dirty bit). */
  dirty: boolean;
  /** Write notifications (mkwrite events) that led to the current write grant: 0 or 1. */
  grantMkwrite: number;
  /** Stores under the current write grant. */
  grantStores: number;
  /** Dropped while accesses were in flight: free the frame when they complete. */
  freeOnDrain: boolean;
}

/**
 * What the CPU does when a device access faults: make the page available to the device (copy,
 * migrate, or whatever the protocol does) and install the entry, or return an errno. Called in
 * the faulting device thread's task; the access is retried after it returns ok.
 *
 * @example A handler that copies the page-cache tag to device memory, and refuses page 1
 * ```ts
 * import {
 *   AddressSpace,
 *   type DeviceFaultHandler,
 *   deviceLoad,
 *   Engine,
 *   HmmDevice,
 *   Mm,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const file = AddressSpace.create(mm, { name: "f" });
 * file.backing.set(0, 42);
 * const copyIn: DeviceFaultHandler = {
 *   *deviceFault(dev, mapping, index, write) {
 *     if (index === 1) return { ok: false, errno: "EIO" };
 *     yield env.sleep(1_000); // the copy over the interconnect
 *     const frame = dev.allocFrame();
 *     dev.data[frame] = mapping.backing.get(index) ?? 0;
 *     dev.map(mapping, index, frame, write);
 *     return { ok: true, value: undefined };
 *   },
 * };
 * const dev = new HmmDevice(mm);
 * dev.mirror(file, copyIn);
 * const got: string[] = [];
 * env.spawn("gpu", function* () {
 *   for (const i of [0, 1]) {
 *     const r = yield* deviceLoad(dev, file, i);
 *     got.push(r.ok ? `${r.value}` : r.errno);
 *   }
 * });
 * env.run();
 * if (got.join() !== "42,EIO" || dev.stats.faults !== 2) throw new Error(got.join());
 * ```
 */
export interface DeviceFaultHandler {
  /** Handle a device fault on page `index` of `mapping`, for a store if `write`. */
  deviceFault(dev: HmmDevice, mapping: AddressSpace, index: number, write: boolean): Process<
    KResult
  >;
}

/**
 * Counters of an {@link HmmDevice}.
 *
 * @example
 * ```ts
 * import {
 *   AddressSpace,
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   type HmmDeviceStats,
 *   Mm,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 16 } });
 * const file = AddressSpace.create(mm, { name: "f" });
 * const dev = new HmmDevice(mm);
 * dev.mirror(file, {
 *   *deviceFault(d, m, i) {
 *     if (d.pte(m, i)) d.grantWrite(m, i, 1);
 *     else d.map(m, i, d.allocFrame(), true, 1);
 *     yield env.point();
 *     return { ok: true, value: undefined };
 *   },
 * });
 * env.spawn("gpu", function* () {
 *   yield* deviceStore(dev, file, 0, 1); // faults: a writable entry
 *   yield* deviceStore(dev, file, 0, 2); // no fault, no notification
 *   yield* dev.invalidate(file, 0, "write-protect"); // e.g. writeback's folio_mkclean
 *   yield* deviceStore(dev, file, 0, 3); // faults again: a second write episode
 * });
 * env.run();
 * const s: HmmDeviceStats = dev.stats;
 * if (s.stores !== 3 || s.faults !== 2 || s.writeFaults !== 2 || s.invalidations !== 1) {
 *   throw new Error(JSON.stringify(s));
 * }
 * if (s.writeEpisodes !== 2 || s.episodesByMkwrite.join() !== "0,2,0" || s.framesInUse !== 1) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface HmmDeviceStats {
  /** Loads completed. */
  loads: number;
  /** Stores completed. */
  stores: number;
  /** Device faults (round trips to the CPU), read and write. */
  faults: number;
  /** Faults taken by stores (missing or read-only entry). */
  writeFaults: number;
  /** Invalidations that found an entry (device TLB shootdowns): write-protects and unmaps. */
  invalidations: number;
  /** Invalidations that had to wait for accesses in flight. */
  invalidationWaits: number;
  /** Device write episodes: write grants that saw at least one store. */
  writeEpisodes: number;
  /** Episodes by the number of write notifications that led to them: [0, 1, ≥2]. */
  episodesByMkwrite: [number, number, number];
  /** Device frames in use now, and the most ever. */
  framesInUse: number;
  /** Most device frames in use at once. */
  maxFramesInUse: number;
}

/**
 * A device with its own memory and page table (see the module doc).
 *
 * @example A store faults once, then goes to device memory without notification
 * ```ts
 * import { AddressSpace, Engine, HmmDevice, Mm, deviceLoad, deviceStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const file = AddressSpace.create(mm, { name: "f" });
 * const dev = new HmmDevice(mm, { nrFrames: 8 });
 * // A toy handler: give the device a zeroed, writable frame.
 * // deno-lint-ignore require-yield
 * dev.mirror(file, { *deviceFault(d, m, i) { d.map(m, i, d.allocFrame(), true); return { ok: true, value: undefined }; } });
 * env.spawn("gpu thread", function* () {
 *   yield* deviceStore(dev, file, 0, 7);
 *   yield* deviceStore(dev, file, 0, 8);
 *   const r = yield* deviceLoad(dev, file, 0);
 *   if (!r.ok || r.value !== 8) throw new Error("device memory holds the last store");
 * });
 * env.run();
 * if (dev.stats.faults !== 1 || dev.stats.stores !== 2) throw new Error("one fault, two stores");
 * ```
 */
export class HmmDevice {
  /** The memory context (the device's host). */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: HmmDeviceConfig;
  /** Device memory: one content tag per frame. */
  readonly data: Uint32Array;
  /** Counters. */
  readonly stats: HmmDeviceStats = {
    loads: 0,
    stores: 0,
    faults: 0,
    writeFaults: 0,
    invalidations: 0,
    invalidationWaits: 0,
    writeEpisodes: 0,
    episodesByMkwrite: [0, 0, 0],
    framesInUse: 0,
    maxFramesInUse: 0,
  };
  /** Woken whenever an access in flight completes (invalidations wait here). */
  readonly drained: WaitQueue;
  readonly #free: number[] = [];
  readonly #pt = new Map<number, Map<number, DevicePte>>();
  readonly #handlers = new Map<number, DeviceFaultHandler>();

  /** Create a device on `mm`. */
  constructor(mm: Mm, config: HmmDeviceConfigInput = {}) {
    this.mm = mm;
    this.config = HmmDeviceConfig.parse(config);
    this.data = new Uint32Array(this.config.nrFrames);
    for (let f = this.config.nrFrames - 1; f >= 0; f--) this.#free.push(f);
    this.drained = new WaitQueue(`${this.config.name} accesses in flight`);
  }

  /** Let the device access `mapping`'s pages, with `handler` serving its faults. */
  mirror(mapping: AddressSpace, handler: DeviceFaultHandler): void {
    this.#handlers.set(mapping.id, handler);
  }

  /** The entry for page `index` of `mapping`, or undefined. */
  pte(mapping: AddressSpace, index: number): DevicePte | undefined {
    return this.#pt.get(mapping.id)?.get(index);
  }

  /** Allocate a device frame; throws when device memory is exhausted (a scenario bug). */
  allocFrame(): number {
    const f = this.#free.pop();
    if (f === undefined) {
      throw new Error(
        `${this.config.name}: cannot allocate a device frame: all ${this.config.nrFrames} in use`,
      );
    }
    this.data[f] = 0;
    this.stats.framesInUse++;
    this.stats.maxFramesInUse = Math.max(this.stats.maxFramesInUse, this.stats.framesInUse);
    return f;
  }

  /** Free a device frame (no entry may still name it). */
  freeFrame(frame: number): void {
    this.#free.push(frame);
    this.stats.framesInUse--;
  }

  /**
   * Install (or replace) the entry of page `index`: `frame`, writable if `write`. A writable
   * entry starts a write grant; `mkwrite` says whether a write notification led to it.
   */
  map(
    mapping: AddressSpace,
    index: number,
    frame: number,
    write: boolean,
    mkwrite = 0,
    host = false,
  ): DevicePte {
    let m = this.#pt.get(mapping.id);
    if (!m) this.#pt.set(mapping.id, m = new Map());
    const old = m.get(index);
    if (old && (old.frame !== frame || old.host !== host)) {
      throw new Error(
        `${this.config.name}: map ${mapping.name} index ${index} to frame ${frame}: ` +
          `already mapped to frame ${old.frame}`,
      );
    }
    const pte: DevicePte = old ??
      {
        frame,
        host,
        write: false,
        pins: 0,
        dirty: false,
        grantMkwrite: 0,
        grantStores: 0,
        freeOnDrain: false,
      };
    if (write && !pte.write) this.#grant(pte, mkwrite);
    pte.write = write;
    m.set(index, pte);
    this.mm.env.emit("hmm_device_map", this.config.name, index, { frame, write, mkwrite, host });
    return pte;
  }

  /** Give an existing read-only entry write permission (a new write grant). */
  grantWrite(mapping: AddressSpace, index: number, mkwrite: number): DevicePte {
    const pte = this.pte(mapping, index);
    if (!pte) throw new Error(`${this.config.name}: grant write on unmapped index ${index}`);
    if (!pte.write) this.#grant(pte, mkwrite);
    pte.write = true;
    this.mm.env.emit("hmm_device_grant_write", this.config.name, index, { mkwrite });
    return pte;
  }

  #grant(pte: DevicePte, mkwrite: number): void {
    pte.grantMkwrite = mkwrite;
    pte.grantStores = 0;
  }

  /**
   * The MMU-notifier invalidation of one entry: clear its write bit (`"write-protect"`) or
   * remove it (`"unmap"`), then wait until no access is in flight. Returns the entry as it was
   * (the caller frees an unmapped entry's frame), or undefined if there was none. Use with
   * `yield*`.
   */
  *invalidate(
    mapping: AddressSpace,
    index: number,
    mode: "write-protect" | "unmap",
  ): Process<DevicePte | undefined> {
    const m = this.#pt.get(mapping.id);
    const pte = m?.get(index);
    if (!pte) return undefined;
    if (mode === "write-protect" && !pte.write) return pte;
    this.stats.invalidations++;
    if (mode === "unmap") m!.delete(index);
    else pte.write = false;
    this.mm.env.emit("hmm_device_invalidate", this.config.name, index, { mode, pins: pte.pins });
    if (pte.pins > 0) {
      this.stats.invalidationWaits++;
      yield* waitEvent(this.mm.env, this.drained, () => pte.pins === 0);
    }
    return pte;
  }

  /**
   * Remove an entry at once if nothing is in flight (a non-sleeping invalidation, as
   * `->release_folio` must be); returns the old entry (the caller frees its frame), undefined
   * if there was none, or null if accesses were in flight (nothing changed).
   */
  tryUnmap(mapping: AddressSpace, index: number): DevicePte | undefined | null {
    const m = this.#pt.get(mapping.id);
    const pte = m?.get(index);
    if (!pte) return undefined;
    if (pte.pins > 0) return null;
    this.stats.invalidations++;
    m!.delete(index);
    this.mm.env.emit("hmm_device_invalidate", this.config.name, index, { mode: "unmap", pins: 0 });
    return pte;
  }

  /**
   * Remove an entry without sleeping and free its frame — now, or when the accesses in flight
   * complete (they finish against the old frame, as loads of a copy that is being dropped may).
   * Returns true if there was an entry.
   */
  dropEntry(mapping: AddressSpace, index: number): boolean {
    const m = this.#pt.get(mapping.id);
    const pte = m?.get(index);
    if (!pte) return false;
    this.stats.invalidations++;
    m!.delete(index);
    this.mm.env.emit("hmm_device_invalidate", this.config.name, index, {
      mode: "drop",
      pins: pte.pins,
    });
    if (pte.host) return true;
    if (pte.pins === 0) this.freeFrame(pte.frame);
    else pte.freeOnDrain = true;
    return true;
  }

  /** The fault handler of `mapping` (throws if the device does not mirror it). */
  handler(mapping: AddressSpace): DeviceFaultHandler {
    const h = this.#handlers.get(mapping.id);
    if (!h) throw new Error(`${this.config.name}: ${mapping.name} is not mirrored (call mirror)`);
    return h;
  }

  /** @internal Record a store under `pte`'s write grant (episode accounting). */
  noteStore(pte: DevicePte): void {
    if (pte.grantStores++ === 0) {
      this.stats.writeEpisodes++;
      this.stats.episodesByMkwrite[Math.min(pte.grantMkwrite, 2)]!++;
    }
  }

  /** @internal An access in flight completed: unpin and wake invalidations. */
  unpin(pte: DevicePte): void {
    if (--pte.pins > 0) return;
    if (pte.freeOnDrain) {
      pte.freeOnDrain = false;
      this.freeFrame(pte.frame);
    }
    this.drained.wakeUp();
  }
}

function* access(
  dev: HmmDevice,
  mapping: AddressSpace,
  index: number,
  write: boolean,
  tag: number,
): Process<KResult<number>> {
  const env = dev.mm.env;
  for (let n = 0;; n++) {
    const pte = dev.pte(mapping, index);
    if (pte && (!write || pte.write)) {
      pte.pins++;
      yield dev.config.accessNs > 0 ? env.sleep(dev.config.accessNs) : env.point();
      // The access was issued while the entry allowed it; an invalidation since waits for us.
      let value: number;
      const mem = pte.host ? dev.mm.mem.data : dev.data;
      if (write) {
        mem[pte.frame] = tag;
        pte.dirty = true;
        dev.noteStore(pte);
        mapping.latest.set(index, tag);
        dev.stats.stores++;
        value = tag;
      } else {
        value = mem[pte.frame]!;
        dev.stats.loads++;
      }
      env.emit(write ? "hmm_device_store" : "hmm_device_load", dev.config.name, index, value);
      dev.unpin(pte);
      return { ok: true, value };
    }
    if (n >= dev.config.maxFaultRetries) {
      throw new Error(
        `${dev.config.name}: ${write ? "store" : "load"} to ${mapping.name} index ${index} ` +
          `still faults after ${n} faults`,
      );
    }
    dev.stats.faults++;
    if (write) dev.stats.writeFaults++;
    env.emit("hmm_device_fault", dev.config.name, index, { write });
    const r = yield* dev.handler(mapping).deviceFault(dev, mapping, index, write);
    if (!r.ok) {
      if (r.errno !== "EBUSY" && r.errno !== "EAGAIN") return r;
      yield env.sleep(dev.config.retryDelayNs);
    }
  }
}

/**
 * A device thread's load from page `index` of `mapping`: fault until the device page table has
 * an entry, then read the device frame (the access stays in flight for `accessNs`). Returns the
 * content tag read, or the fault handler's errno (other than EBUSY/EAGAIN, which retry).
 *
 * @example The first load faults and copies the page in; the second hits the device page table
 * ```ts
 * import { deviceLoad, Engine, HmmDevice, HmmFile, Mm, SimpleFs } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file); // Jan Kara's copy protocol
 * const got: number[] = [];
 * env.spawn("gpu", function* () {
 *   for (let i = 0; i < 2; i++) {
 *     const r = yield* deviceLoad(hf.dev, file, 0);
 *     if (r.ok) got.push(r.value);
 *   }
 * });
 * env.run();
 * if (got.join() !== `${file.backing.get(0)},${file.backing.get(0)}`) throw new Error(got.join());
 * if (hf.dev.stats.faults !== 1 || hf.dev.stats.loads !== 2) throw new Error("one fault");
 * ```
 */
export function* deviceLoad(
  dev: HmmDevice,
  mapping: AddressSpace,
  index: number,
): Process<KResult<number>> {
  return yield* access(dev, mapping, index, false, 0);
}

/**
 * A device thread's store of content tag `tag` to page `index` of `mapping`: fault until the
 * entry is writable (a fault on a read-only entry is the device's write notification), then
 * write the device frame. Once writable, stores take no fault and notify nobody. The tag
 * becomes the file's latest version at `index` (`mapping.latest`). Returns the tag.
 *
 * @example The store becomes the file's latest version; the CPU's read(2) copies it back
 * ```ts
 * import { deviceStore, Engine, HmmDevice, HmmFile, Mm, SimpleFs } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * let cpu = -1;
 * env.spawn("t", function* () {
 *   const r = yield* deviceStore(hf.dev, file, 0, 4242);
 *   if (!r.ok || r.value !== 4242) throw new Error("returns the tag");
 *   const c = yield* hf.read(0);
 *   if (c.ok) cpu = c.value;
 * });
 * env.run();
 * if (file.latest.get(0) !== 4242 || cpu !== 4242) throw new Error(`${cpu}`);
 * ```
 */
export function* deviceStore(
  dev: HmmDevice,
  mapping: AddressSpace,
  index: number,
  tag: number,
): Process<KResult<number>> {
  return yield* access(dev, mapping, index, true, tag);
}
