/**
 * A block device: write bios served by daemon queue tasks after a latency, with the data
 * (content tags) copied to `mapping.backing` and writeback ended from the completion task —
 * and the device's `backing_dev_info` limits (max_ratio, BDI_CAP_STRICTLIMIT, stable writes).
 * Plus `mpage_writepages()`, the `->writepages` of a simple block filesystem, which the model
 * uses for mappings that have none.
 *
 * Follows block/blk-core.c (`submit_bio`) and block/bio.c (`bio_alloc`, `bio_add_folio`,
 * `bio_endio`) only in outline, fs/mpage.c (`mpage_writepages`, one bio per folio here) and
 * include/linux/backing-dev-defs.h (`struct backing_dev_info`: `min_ratio`/`max_ratio`,
 * BDI_CAP_STRICTLIMIT, BDI_CAP_STABLE_WRITES), Linux v6.12. The end of I/O calls
 * folio_end_writeback() with the window δ = `endIoDelayNs` between the clear of PG_writeback
 * and the wake (CLAIMS.md thread 003).
 *
 * Left out: request merging, plugging, the elevator, reads (filesystems read through their
 * own `->read_folio`), partial completions, min_ratio.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import type { Process, Task } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import { waitEvent, WaitQueue, type WaitTarget } from "../sim/wait_queue.ts";
import type { AddressSpace, WritebackControl } from "./address_space.ts";
import { folioUnlock } from "./folio.ts";
import type { Mm } from "./mm.ts";
import { wbState } from "./_wb_state.ts";
import { folioEndWriteback, folioStartWriteback, writeCachePages } from "./writeback.ts";

/** -EIO. */
const EIO = 5;

/**
 * A block device and its `backing_dev_info` limits.
 *
 * @example
 * ```ts
 * import { BlockDeviceConfig } from "@mmsim/mmsim";
 * const c = BlockDeviceConfig.parse({ latency: { kind: "never" } });
 * if (c.maxRatio !== 100 || c.strictLimit) throw new Error("bdi defaults");
 * ```
 */
export interface BlockDeviceConfig {
  /** Name in traces (default "sda"). */
  name: string;
  /** Dispatch-to-completion time of a write bio; `never` = a hung device (default 100 µs). */
  latency: Latency;
  /** Bios served at once (hardware queues), each by its own completion task (default 1). */
  nrQueues: number;
  /** δ: delay between clearing PG_writeback and waking its waiters at end of I/O (default 0). */
  endIoDelayNs: number;
  /** Probability that a write fails with -EIO, set on the mapping (default 0). */
  errorProbability: number;
  /** /sys/class/bdi/<bdi>/max_ratio: the bdi's share of the dirty limit in % (default 100). */
  maxRatio: number;
  /** BDI_CAP_STRICTLIMIT: throttle on the bdi's own limits below the global freerun. */
  strictLimit: boolean;
  /** BDI_CAP_STABLE_WRITES → SB_I_STABLE_WRITES: folio_wait_stable() waits for writeback. */
  stableWrites: boolean;
}
/**
 * Input of {@link BlockDeviceConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, type BlockDeviceConfigInput, Engine, filemapAddFolio, filemapWriteAndWaitRange, folioAlloc, folioMarkDirty, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const input: BlockDeviceConfigInput = { name: "nvme0n1", latency: { kind: "fixed", ns: 5_000_000 }, nrQueues: 2 };
 * const dev = new BlockDevice(mm, input).attach(m);
 * for (const i of [0, 1]) {
 *   const f = folioAlloc(mm, 0);
 *   filemapAddFolio(mm, m, f, i);
 *   mm.mem.setFlag(f, PG.uptodate);
 *   folioMarkDirty(mm, f);
 * }
 * env.spawn("fsync", function* () { yield* filemapWriteAndWaitRange(mm, m, 0, 1); });
 * env.run();
 * // One bio per folio, served by two queues at once: 5 ms, not 10.
 * if (env.nowNs !== 5_000_000 || dev.stats.maxInflight !== 2) throw new Error(`${env.nowNs}`);
 * ```
 */
export type BlockDeviceConfigInput = Partial<BlockDeviceConfig>;

const blockDeviceSchema = z.object({
  name: z.string().default("sda"),
  latency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
  nrQueues: z.number().int().positive().default(1),
  endIoDelayNs: z.number().int().min(0).default(0),
  errorProbability: z.number().min(0).max(1).default(0),
  maxRatio: z.number().min(0).max(100).default(100),
  strictLimit: z.boolean().default(false),
  stableWrites: z.boolean().default(false),
});
const _blockDeviceTypes: Same<z.output<typeof blockDeviceSchema>, BlockDeviceConfig> = true;
void _blockDeviceTypes;

/** The {@link BlockDeviceConfig} schema. */
export const BlockDeviceConfig: ConfigSchema<BlockDeviceConfig, BlockDeviceConfigInput> =
  defineConfig("BlockDeviceConfig", blockDeviceSchema);

/**
 * One write bio: the folios it writes, the content tags read when it was submitted (the DMA
 * source), and who serves it. A wait-for node: waiters on PG_writeback of its folios wait for
 * it, and it is held by the device queue task serving it.
 *
 * @example The bio reads the data at submission: a later store is not written
 * ```ts
 * import { AddressSpace, type Bio, BlockDevice, Engine, filemapAddFolio, folioAlloc, folioStartWriteback, folioWaitWriteback, Mm, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const dev = new BlockDevice(mm, { latency: { kind: "fixed", ns: 1000 } }).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * mm.mem.data[f] = 1;
 * folioStartWriteback(mm, f);
 * const bio: Bio = dev.newBio(m);
 * dev.bioAddFolio(bio, f);
 * mm.mem.data[f] = 2; // a store during writeback (no stable pages)
 * env.spawn("submitter", function* () {
 *   dev.submitBio(bio);
 *   yield* folioWaitWriteback(mm, f);
 * });
 * env.run();
 * if (m.backing.get(0) !== 1 || mm.mem.testFlag(f, PG.writeback)) throw new Error("version 1 on disk, writeback ended");
 * if (bio.describe() !== "bio #1 to sda (f index 0)") throw new Error(bio.describe());
 * ```
 */
export class Bio implements WaitTarget {
  /** Bio number on its device. */
  readonly id: number;
  /** The device. */
  readonly bdev: BlockDevice;
  /** The mapping written. */
  readonly mapping: AddressSpace;
  /** Head pfns of the folios, in submission order. */
  readonly folios: number[] = [];
  /** Content tag of every page, read at submission. */
  readonly tags: number[][] = [];
  /** The queue task serving it, once dispatched. */
  worker: Task | null = null;
  /** -EIO if the write failed, else 0. */
  error = 0;
  /** Called after the data reached `mapping.backing`, instead of ending writeback. */
  endIo: ((bio: Bio) => Process<void>) | null = null;

  /** @internal */
  constructor(bdev: BlockDevice, id: number, mapping: AddressSpace) {
    this.bdev = bdev;
    this.id = id;
    this.mapping = mapping;
  }

  /** "bio #3 to sda (ino 1 index 4)". */
  describe(): string {
    const mem = this.bdev.mm.mem;
    const first = this.folios[0];
    const where = first === undefined ? "" : ` (${this.mapping.name} index ${mem.index[first]})`;
    return `bio #${this.id} to ${this.bdev.config.name}${where}`;
  }

  /** The queue task serving it, or every queue task while it is queued. */
  holders(): Array<Task | WaitTarget> {
    return this.worker ? [this.worker] : [...this.bdev.queueTasks];
  }

  /** True on a device whose latency is `never`. */
  get hung(): boolean {
    return this.bdev.config.latency.kind === "never";
  }
}

/**
 * A block device: a FIFO of write bios served by `nrQueues` daemon tasks, each taking a bio,
 * sleeping its latency, copying the bio's content tags to `mapping.backing`, and ending
 * writeback of its folios (with the end-of-I/O window δ = `endIoDelayNs`). Also the bdi the
 * dirty limits are computed for. Reusable by any model that needs a disk.
 *
 * @example A write reaches the backing store when the bio completes
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, filemapWriteAndWaitRange, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const mapping = AddressSpace.create(mm, { name: "file" });
 * new BlockDevice(mm, { latency: { kind: "fixed", ns: 5000 } }).attach(mapping);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, mapping, f, 0);
 * mm.mem.setFlag(f, PG.uptodate);
 * mm.mem.data[f] = 42;
 * folioMarkDirty(mm, f);
 * env.spawn("fsync", function* () { yield* filemapWriteAndWaitRange(mm, mapping, 0, 0); });
 * env.run();
 * if (mapping.backing.get(0) !== 42 || env.nowNs !== 5000) throw new Error("written after 5 µs");
 * ```
 */
export class BlockDevice {
  /** The memory context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: BlockDeviceConfig;
  /** Bios waiting for a queue task. */
  readonly queue: Bio[] = [];
  /** The daemon tasks serving bios. */
  readonly queueTasks: Task[] = [];
  /** Counters. */
  readonly stats = { bios: 0, pagesWritten: 0, errors: 0, inflight: 0, maxInflight: 0 };
  readonly #wait: WaitQueue;
  #nextId = 1;

  /** Create the device and spawn its queue tasks (daemons) on `mm.env`. */
  constructor(mm: Mm, config: BlockDeviceConfigInput = {}) {
    this.mm = mm;
    this.config = BlockDeviceConfig.parse(config);
    this.#wait = new WaitQueue(`${this.config.name} request queue`);
    this.#wait.idle = true; // queue tasks waiting for bios
    for (let q = 0; q < this.config.nrQueues; q++) {
      this.queueTasks.push(
        mm.env.spawn(`${this.config.name}/q${q}`, () => this.#serve(), { daemon: true }),
      );
    }
  }

  /** Make this device the backing device of `mapping` (inode_to_bdi). Returns `this`. */
  attach(mapping: AddressSpace): this {
    wbState(this.mm).bdevOf.set(mapping, this);
    return this;
  }

  /** bio_alloc(): a new, empty write bio for `mapping`. */
  newBio(mapping: AddressSpace): Bio {
    return new Bio(this, this.#nextId++, mapping);
  }

  /**
   * bio_add_folio(): add a folio (under writeback) to `bio`, reading its content tags now
   * (the DMA source; a later store into the folio is not written unless stable writes wait).
   */
  bioAddFolio(bio: Bio, folio: number): void {
    const mem = this.mm.mem;
    const n = 1 << mem.order[folio]!;
    const tags: number[] = [];
    for (let i = 0; i < n; i++) tags.push(mem.data[folio + i]!);
    bio.folios.push(folio);
    bio.tags.push(tags);
  }

  /** submit_bio(): queue `bio` for a queue task. Does not sleep. */
  submitBio(bio: Bio): void {
    this.stats.bios++;
    this.stats.inflight++;
    this.stats.maxInflight = Math.max(this.stats.maxInflight, this.stats.inflight);
    this.queue.push(bio);
    this.mm.env.emit("block_bio_queue", this.config.name, null, bio.describe());
    this.#wait.wakeUp(1);
  }

  *#serve(): Process<void> {
    const env = this.mm.env;
    for (;;) {
      yield* waitEvent(env, this.#wait, () => this.queue.length > 0, true);
      const bio = this.queue.shift()!;
      bio.worker = env.current;
      const ns = sampleLatency(env.current!.rng, this.config.latency);
      if (ns === Infinity) yield env.hang(`${bio.describe()} never completes`);
      else yield env.sleep(ns);
      yield* this.#complete(bio);
    }
  }

  *#complete(bio: Bio): Process<void> {
    const mm = this.mm;
    const p = this.config.errorProbability;
    if (p > 0 && mm.env.current!.rng.chance(p)) bio.error = -EIO;
    const mem = mm.mem;
    for (let k = 0; k < bio.folios.length; k++) {
      const folio = bio.folios[k]!;
      const index = mem.index[folio]!;
      const tags = bio.tags[k]!;
      if (bio.error) continue;
      for (let i = 0; i < tags.length; i++) bio.mapping.backing.set(index + i, tags[i]!);
      this.stats.pagesWritten += tags.length;
    }
    this.stats.inflight--;
    mm.env.emit("block_bio_complete", this.config.name, bio.error, bio.describe());
    if (bio.error) {
      this.stats.errors++;
      bio.mapping.wbErr = "EIO"; // mapping_set_error()
    }
    if (bio.endIo) {
      yield* bio.endIo(bio);
      return;
    }
    for (const folio of bio.folios) {
      yield* folioEndWriteback(mm, folio, { delayNs: this.config.endIoDelayNs });
    }
  }
}

/**
 * inode_to_bdi(): the block device backing `mapping` — the one attached with
 * {@link BlockDevice.attach}, or the Mm's default device (created on first use with the
 * default {@link BlockDeviceConfig}).
 *
 * @example
 * ```ts
 * import { AddressSpace, Engine, Mm, inodeToBdi } from "@mmsim/mmsim";
 * const mm = new Mm(new Engine(), { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * if (inodeToBdi(mm, m) !== inodeToBdi(mm, m)) throw new Error("one default device");
 * ```
 */
export function inodeToBdi(mm: Mm, mapping: AddressSpace): BlockDevice {
  const s = wbState(mm);
  const b = s.bdevOf.get(mapping) as BlockDevice | undefined;
  if (b) return b;
  return (s.defaultBdev ??= new BlockDevice(mm)) as BlockDevice;
}

/**
 * mpage_writepages() (fs/mpage.c) for a simple block filesystem: write_cache_pages with a
 * `->writepage` that starts writeback (held by the bio), unlocks the folio and submits one bio
 * per folio to the mapping's {@link BlockDevice}. The default `->writepages` of mappings that
 * have none.
 *
 * @example
 * ```ts
 * import { AddressSpace, BlockDevice, Engine, Mm, filemapAddFolio, folioAlloc, folioMarkDirty, mpageWritepages, writebackControl, PG } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const m = AddressSpace.create(mm, { name: "f" });
 * const dev = new BlockDevice(mm, { latency: { kind: "never" } }).attach(m);
 * const f = folioAlloc(mm, 0);
 * filemapAddFolio(mm, m, f, 0);
 * folioMarkDirty(mm, f);
 * env.spawn("wb", function* () { yield* mpageWritepages(mm, m, writebackControl({ syncMode: "WB_SYNC_NONE" })); });
 * env.run();
 * if (!mm.mem.testFlag(f, PG.writeback) || dev.stats.bios !== 1) throw new Error("in flight forever");
 * ```
 */
export function* mpageWritepages(
  mm: Mm,
  mapping: AddressSpace,
  wbc: WritebackControl,
): Process<number> {
  const bdev = inodeToBdi(mm, mapping);
  return yield* writeCachePages(mm, mapping, wbc, function* (folio) {
    const bio = bdev.newBio(mapping);
    folioStartWriteback(mm, folio, bio);
    bdev.bioAddFolio(bio, folio);
    folioUnlock(mm, folio);
    bdev.submitBio(bio);
    return 0;
  });
}
