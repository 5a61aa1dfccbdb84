/**
 * A simple block-device filesystem for tests and scenarios: `->read_folio` and `->readahead`
 * submit read bios that complete after a configurable latency, copying `mapping.backing`
 * content tags into the folio's frames and ending the read with `folio_end_read` (uptodate and
 * unlock in one step, or unlock without uptodate on an I/O error). Writes go through the
 * generic path: no `->writepages`, so writeback uses the block device's `mpage_writepages`
 * (see block_device.ts; attach a `BlockDevice` to the file for write latency).
 *
 * Modelled on the buffer-head-free block filesystems' read side: fs/mpage.c
 * `mpage_read_folio` / `mpage_readahead` (one bio per contiguous batch, `mpage_end_io` →
 * `folio_end_read`), Linux v6.12. The kernel has no such filesystem by that name.
 *
 * The bit holder of a folio's PG_locked while its read is in flight is the bio's completion
 * task, so wait-for graphs show a reader waiting on the I/O, and a `never` latency is a hung
 * device.
 *
 * Left out: holes known to the filesystem (a hole is read like any block and yields tag 0),
 * request merging and queue depth (every bio is served at once), partial completions.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import type { Process, Task } from "../sim/engine.ts";
import { Latency, sampleLatency } from "../sim/latency.ts";
import type { ConfigSchema } from "../config.ts";
import { defineConfig, type Same, zodOf } from "../_config.ts";
import {
  AddressSpace,
  type AddressSpaceOperations,
  type ReadaheadControl,
} from "../mm/address_space.ts";
import { folioEndRead } from "../mm/folio.ts";
import { readaheadFolio } from "../mm/readahead.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { createFsFile } from "./_file.ts";

/**
 * Configuration of a {@link SimpleFs}.
 *
 * @example
 * ```ts
 * import { SimpleFsConfig } from "@mmsim/mmsim";
 * const c = SimpleFsConfig.parse({});
 * if (c.readLatency.kind !== "fixed" || c.readErrorProbability !== 0) throw new Error();
 * ```
 */
export interface SimpleFsConfig {
  /** Name in traces (default "simplefs"). */
  name: string;
  /** Submit-to-completion time of a read bio; `never` = a hung device (default 100 µs). */
  readLatency: Latency;
  /** Probability that a read bio fails (-EIO: the folios stay !uptodate) (default 0). */
  readErrorProbability: number;
  /** Folios per read bio from `->readahead` (BIO_MAX_VECS = 256). */
  maxFoliosPerBio: number;
}

/**
 * Input of {@link SimpleFsConfig}: every field optional.
 *
 * @example
 * ```ts
 * import { Engine, filemapRead, Mm, SimpleFs, type SimpleFsConfigInput } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const input: SimpleFsConfigInput = { name: "ext2", readLatency: { kind: "fixed", ns: 1_000 } };
 * const fs = new SimpleFs(mm, input);
 * const file = fs.createFile({ name: "a", sizePages: 1, fillPages: 1 });
 * env.spawn("reader", function* () { yield* filemapRead(mm, file, 0, 1); });
 * if (env.run().nowNs !== 1_000 || fs.config.maxFoliosPerBio !== 256) throw new Error("latency");
 * ```
 */
export type SimpleFsConfigInput = Partial<SimpleFsConfig>;

const simpleFsSchema = z.object({
  name: z.string().default("simplefs"),
  readLatency: zodOf(Latency).default({ kind: "fixed", ns: 100_000 }),
  readErrorProbability: z.number().min(0).max(1).default(0),
  maxFoliosPerBio: z.number().int().positive().default(256),
});
const _simpleFsTypes: Same<z.output<typeof simpleFsSchema>, SimpleFsConfig> = true;
void _simpleFsTypes;

/** The {@link SimpleFsConfig} schema. */
export const SimpleFsConfig: ConfigSchema<SimpleFsConfig, SimpleFsConfigInput> = defineConfig(
  "SimpleFsConfig",
  simpleFsSchema,
);

/**
 * Options of {@link SimpleFs.createFile}.
 *
 * @example
 * ```ts
 * import { Engine, iSizeRead, Mm, SimpleFs, type SimpleFileOptions } from "@mmsim/mmsim";
 * const fs = new SimpleFs(new Mm(new Engine(), { memory: { nrFrames: 64 } }));
 * const opts: SimpleFileOptions = { name: "log", sizePages: 8, fillPages: 3, maxOrder: 2 };
 * const file = fs.createFile(opts);
 * if (iSizeRead(file) !== 8 || file.backing.size !== 3 || file.maxOrder !== 2) {
 *   throw new Error("size, contents, folio orders");
 * }
 * ```
 */
export interface SimpleFileOptions {
  /** Name for reports. */
  name: string;
  /** i_size in pages (default: no end of file). */
  sizePages?: number;
  /** Fill `backing` (and `latest`) with a fresh content tag for pages [0, n). */
  fillPages?: number;
  /** Minimum folio order (AS_FOLIO_ORDER_MIN). */
  minOrder?: number;
  /** Maximum folio order (AS_FOLIO_ORDER_MAX; 0 = no large folios). */
  maxOrder?: number;
}

/**
 * Counters of a {@link SimpleFs}.
 *
 * @example
 * ```ts
 * import { Engine, filemapRead, Mm, SimpleFs, type SimpleFsStats } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 64 } });
 * const fs = new SimpleFs(mm, { readErrorProbability: 1 }); // a failing disk
 * const file = fs.createFile({ name: "a", sizePages: 1, fillPages: 1 });
 * let ok = true;
 * env.spawn("reader", function* () { ok = (yield* filemapRead(mm, file, 0, 1)).ok; });
 * env.run();
 * const s: SimpleFsStats = fs.stats;
 * if (ok || s.readBios < 1 || s.readErrors !== s.readBios || s.pagesRead !== 0) {
 *   throw new Error(JSON.stringify(s));
 * }
 * ```
 */
export interface SimpleFsStats {
  /** Read bios submitted. */
  readBios: number;
  /** Pages read successfully. */
  pagesRead: number;
  /** Read bios that failed. */
  readErrors: number;
  /**
   * Completions that found their folio freed or reused (recorded as use-after-free), or no
   * longer locked / already uptodate (recorded as VM_BUG_ON_FOLIO).
   */
  staleCompletions: number;
}

/**
 * A simple block filesystem (see the module doc).
 *
 * @example A read waits for the bio and returns the backing store's tag
 * ```ts
 * import { Engine, Mm, SimpleFs, filemapRead } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const fs = new SimpleFs(mm, { readLatency: { kind: "fixed", ns: 50_000 } });
 * const file = fs.createFile({ name: "a", sizePages: 4, fillPages: 4 });
 * let tags: number[] = [];
 * env.spawn("reader", function* () { const r = yield* filemapRead(mm, file, 2, 1); if (r.ok) tags = r.value; });
 * env.run();
 * if (tags[0] !== file.backing.get(2) || env.nowNs !== 50_000) throw new Error(`${tags} at ${env.nowNs}`);
 * ```
 */
export class SimpleFs {
  /** The memory context. */
  readonly mm: Mm;
  /** Parsed configuration. */
  readonly config: SimpleFsConfig;
  /** The address-space operations its files use. */
  readonly aops: AddressSpaceOperations;
  /** Counters. */
  readonly stats: SimpleFsStats = { readBios: 0, pagesRead: 0, readErrors: 0, staleCompletions: 0 };
  /** Make a particular read fail (in addition to `readErrorProbability`). */
  failRead: ((mapping: AddressSpace, index: number) => boolean) | null = null;
  #nextBio = 1;

  /** Create the filesystem. */
  constructor(mm: Mm, config: SimpleFsConfigInput = {}) {
    this.mm = mm;
    this.config = SimpleFsConfig.parse(config);
    // deno-lint-ignore no-this-alias
    const fs = this;
    this.aops = {
      *readFolio(_mm: Mm, mapping: AddressSpace, folio: number): Process<number> {
        fs.submitRead(mapping, [folio]);
        yield* [];
        return 0;
      },
      *readahead(mm: Mm, rac: ReadaheadControl): Process<void> {
        // mpage_readahead(): take every folio with readahead_folio(), one bio per batch.
        const folios: number[] = [];
        for (let f = readaheadFolio(mm, rac); f >= 0; f = readaheadFolio(mm, rac)) folios.push(f);
        const max = fs.config.maxFoliosPerBio;
        for (let i = 0; i < folios.length; i += max) {
          fs.submitRead(rac.mapping, folios.slice(i, i + max));
        }
        yield* [];
      },
    };
  }

  /**
   * Create a file of this filesystem: an address space with its aops, optionally a size and
   * backing contents (a fresh content tag per page).
   */
  createFile(opts: SimpleFileOptions): AddressSpace {
    return createFsFile(this.mm, this, this.aops, opts);
  }

  /**
   * submit_bio() of a read bio for locked folios of `mapping`: a completion task sleeps the
   * read latency, then for each folio copies the backing tags (0 for a hole) and calls
   * folio_end_read(success). The folios' PG_locked is held by that task meanwhile. Returns it.
   */
  submitRead(mapping: AddressSpace, folios: readonly number[]): Task {
    const mm = this.mm;
    const env = mm.env;
    const id = this.#nextBio++;
    const list = [...folios];
    const refs = list.map((f) => mm.ref(f));
    const desc = `read bio #${id} (${mapping.name} ${list.map((f) => mm.mem.index[f]).join(",")})`;
    this.stats.readBios++;
    env.emit("block_bio_queue", this.config.name, null, desc);
    // deno-lint-ignore no-this-alias
    const fs = this;
    const task = env.spawn(`${this.config.name}-read#${id}`, function* (e, self) {
      const ns = sampleLatency(self.rng, fs.config.readLatency);
      if (ns === Infinity) yield e.hang(`${desc} never completes`);
      else yield e.sleep(ns);
      const p = fs.config.readErrorProbability;
      let failed = p > 0 && self.rng.chance(p);
      for (let k = 0; k < list.length; k++) {
        if (!failed && fs.failRead) {
          const f = list[k]!;
          const n = 1 << mm.mem.order[f]!;
          for (let i = 0; i < n; i++) if (fs.failRead(mapping, mm.mem.index[f]! + i)) failed = true;
        }
      }
      env.emit("block_bio_complete", fs.config.name, failed ? -5 : 0, desc);
      if (failed) fs.stats.readErrors++;
      for (let k = 0; k < list.length; k++) {
        const folio = list[k]!;
        if (!mm.checkLive(refs[k]!, `${desc} completion`)) {
          fs.stats.staleCompletions++;
          continue;
        }
        mpageEndIo(mm, fs, mapping, folio, !failed);
      }
    });
    for (const f of list) mm.setBitHolder(f, PG.locked, task);
    return task;
  }
}

/**
 * mpage_end_io() for one folio: fill it from the backing store, then folio_end_read(). A
 * folio that is no longer locked, or already uptodate, trips folio_end_read()'s
 * VM_BUG_ON_FOLIO: recorded as a violation (something unlocked or filled a folio whose read
 * was still in flight), and the completion is dropped.
 */
function mpageEndIo(
  mm: Mm,
  fs: SimpleFs,
  mapping: AddressSpace,
  folio: number,
  success: boolean,
): void {
  const mem = mm.mem;
  if (!mem.testFlag(folio, PG.locked) || mem.testFlag(folio, PG.uptodate)) {
    fs.stats.staleCompletions++;
    mm.env.violation(
      "VM_BUG_ON_FOLIO",
      `folio_end_read: ${mm.describeFolio(folio)} is ` +
        (mem.testFlag(folio, PG.locked) ? "already uptodate" : "not locked") +
        " when its read completes",
    );
    return;
  }
  if (success) {
    const n = 1 << mem.order[folio]!;
    const base = mem.index[folio]!;
    for (let i = 0; i < n; i++) mem.data[folio + i] = mapping.backing.get(base + i) ?? 0;
    fs.stats.pagesRead += n;
  }
  folioEndRead(mm, folio, success);
}
