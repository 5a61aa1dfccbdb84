/**
 * Checkers for page-cache pages shared with a device (CLAIMS.md thread 002):
 *
 * - {@link HmmOracle} — freshness. It follows the file's latest version per page
 *   (`mapping.latest`, written by every writer: write(2), mmap stores, device stores, direct
 *   I/O) and notes the step at which each version was superseded. A read that returns a
 *   version superseded before the read began is a stale read; writeback that starts with data
 *   other than the latest version is a stale writeback; after a final sync, storage that does
 *   not hold the latest version is a lost write (counted with stale writebacks). It also counts
 *   two invariants of Jan Kara's protocol as events: A writable on the CPU while A' is writable
 *   on the device ("two writers"), and A uptodate without the latest version.
 * - {@link installHmmChecker} — the illegal state (claim C2.5). While A is dirty and not
 *   uptodate, a generic path other than the intercepted ones that reads A or writes it back is a
 *   violation: a splice read whose pipe buffer is confirmed against A, writeback started on A,
 *   a CPU mapping of A, and the filesystem's own (unwrapped) `->read_folio` entered on A. It also
 *   installs the mm checker with A's mapping exempt from `dirty-not-uptodate`, the documented
 *   exception Jan's A state relies on.
 *
 * Not a kernel model: these are the simulation's oracles. Linearizability is checked only as
 * "not superseded before the read began", which is exact for the atomic accesses modelled and
 * lenient for reads that span writes.
 *
 * @module
 */

import type { AddressSpace } from "../mm/address_space.ts";
import { installMmChecker, type MmChecker } from "../mm/check.ts";
import { PG } from "../mm/memory.ts";
import type { Mm } from "../mm/mm.ts";
import { mmapState, PTE } from "../mm/mmap.ts";
import type { HmmFile } from "./hmm_file.ts";
import { spliceStats } from "./splice.ts";

/**
 * Event counts of an {@link HmmOracle}.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   HmmOracle,
 *   type HmmOracleEvents,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * const oracle = new HmmOracle(hf, 1);
 * env.spawn("t", function* (e) {
 *   yield* deviceStore(hf.dev, file, 0, 1000);
 *   yield e.point();
 *   const start = oracle.readStart();
 *   const r = yield* hf.read(0);
 *   if (r.ok) oracle.checkRead("read(2)", 0, r.value, start);
 *   yield* hf.fsync();
 * });
 * env.run();
 * oracle.finalCheck();
 * const ev: HmmOracleEvents = oracle.events;
 * if (ev.reads !== 1 || ev.staleReads !== 0 || ev.writebacks < 1 || ev.staleWritebacks !== 0) {
 *   throw new Error(JSON.stringify(ev));
 * }
 * if (ev.lostWrites !== 0 || ev.twoWriters !== 0) throw new Error(JSON.stringify(ev));
 * ```
 */
export interface HmmOracleEvents {
  /** Reads checked. */
  reads: number;
  /** Reads that returned a version superseded before they began. */
  staleReads: number;
  /** Writebacks started. */
  writebacks: number;
  /** Writebacks that started with data other than the latest version. */
  staleWritebacks: number;
  /** Pages whose storage did not hold the latest version after the final sync. */
  lostWrites: number;
  /**
   * Steps at whose end A was writable on the CPU and a device copy A' writable too (counted on
   * entry; a device mapping of A itself is not a second copy).
   */
  twoWriters: number;
  /** Steps at whose end A was uptodate without the latest version (counted on entry). */
  uptodateNotLatest: number;
}

/**
 * A stale event, for reports.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   HmmOracle,
 *   type HmmStaleEvent,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * const oracle = new HmmOracle(hf, 1);
 * env.spawn("t", function* () { yield* deviceStore(hf.dev, file, 0, 1000); }); // and no fsync
 * env.run();
 * oracle.finalCheck(); // storage does not hold the device's store
 * const ev: HmmStaleEvent = oracle.examples[0]!;
 * if (ev.kind !== "lost write" || ev.index !== 0 || !ev.message.includes("1000")) {
 *   throw new Error(JSON.stringify(ev));
 * }
 * ```
 */
export interface HmmStaleEvent {
  /** What went stale. */
  kind: "read" | "writeback" | "lost write" | "two writers" | "uptodate not latest";
  /** Engine step. */
  step: number;
  /** Page index. */
  index: number;
  /** Description. */
  message: string;
}

/**
 * The freshness oracle of one file shared with a device (see the module doc). Create it before
 * the run; it samples after every engine step.
 *
 * @example
 * ```ts
 * import { Engine, HmmDevice, HmmFile, HmmOracle, Mm, SimpleFs, deviceStore } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file);
 * const oracle = new HmmOracle(hf, 1);
 * env.spawn("t", function* (e) {
 *   yield* deviceStore(hf.dev, file, 0, 1000);
 *   yield e.point();
 *   const start = oracle.readStart();
 *   const r = yield* hf.read(0);
 *   if (r.ok) oracle.checkRead("read(2)", 0, r.value, start);
 *   yield* hf.fsync();
 * });
 * env.run();
 * oracle.finalCheck();
 * if (oracle.events.staleReads !== 0 || oracle.events.lostWrites !== 0) throw new Error("fresh");
 * ```
 */
export class HmmOracle {
  /** The file. */
  readonly hf: HmmFile;
  /** Pages followed: [0, nrPages). */
  readonly nrPages: number;
  /** Counters. */
  readonly events: HmmOracleEvents = {
    reads: 0,
    staleReads: 0,
    writebacks: 0,
    staleWritebacks: 0,
    lostWrites: 0,
    twoWriters: 0,
    uptodateNotLatest: 0,
  };
  /** The first stale events (at most 20), for reports. */
  readonly examples: HmmStaleEvent[] = [];
  readonly #superseded = new Map<number, number>();
  readonly #latest: number[];
  readonly #wbFolio: number[];
  readonly #two: boolean[];
  readonly #notLatest: boolean[];

  /** Also record each stale event as an engine violation named after its kind. */
  readonly asViolations: boolean;

  /**
   * Follow pages [0, nrPages) of `hf`'s file; with `asViolations`, each stale event is also an
   * engine violation (`hmm: stale read`, …), so an exploration's failures are its stale runs.
   */
  constructor(hf: HmmFile, nrPages: number, options: { asViolations?: boolean } = {}) {
    this.hf = hf;
    this.nrPages = nrPages;
    this.asViolations = options.asViolations ?? false;
    const m = hf.mapping;
    this.#latest = Array.from({ length: nrPages }, (_, i) => m.latest.get(i) ?? 0);
    this.#wbFolio = new Array(nrPages).fill(-1);
    this.#two = new Array(nrPages).fill(false);
    this.#notLatest = new Array(nrPages).fill(false);
    hf.mm.env.onStep(() => this.#sample());
  }

  /** The clock a read starts at: pass it to {@link checkRead}. */
  readStart(): number {
    return this.hf.mm.env.steps;
  }

  /** Check a read of page `index` that returned `tag` and began at `start`; true if stale. */
  checkRead(kind: string, index: number, tag: number, start: number): boolean {
    this.events.reads++;
    const at = this.#superseded.get(tag);
    if (at === undefined || at >= start) return false;
    this.events.staleReads++;
    this.#example(
      "read",
      index,
      `${kind} of index ${index} returned tag ${tag}, superseded at step ${at} (read began at step ${start})`,
    );
    return true;
  }

  /** After the final sync: count pages whose storage does not hold the latest version. */
  finalCheck(): number {
    const m = this.hf.mapping;
    let lost = 0;
    for (let i = 0; i < this.nrPages; i++) {
      const want = m.latest.get(i) ?? 0, have = m.backing.get(i) ?? 0;
      if (want === have) continue;
      lost++;
      this.#example("lost write", i, `storage holds tag ${have} at index ${i}, latest is ${want}`);
    }
    this.events.lostWrites += lost;
    return lost;
  }

  #example(kind: HmmStaleEvent["kind"], index: number, message: string): void {
    if (this.asViolations) this.hf.mm.env.violation(`hmm: ${kind}`, message);
    if (this.examples.length < 20) {
      this.examples.push({ kind, step: this.hf.mm.env.steps, index, message });
    }
  }

  #sample(): void {
    const hf = this.hf, mm = hf.mm, mem = mm.mem, m = hf.mapping, step = mm.env.steps;
    for (let i = 0; i < this.nrPages; i++) {
      const latest = m.latest.get(i) ?? 0;
      if (latest !== this.#latest[i]) {
        this.#superseded.set(this.#latest[i]!, step);
        this.#latest[i] = latest;
      }
      const folio = m.pages.load(i);
      if (folio < 0) {
        this.#wbFolio[i] = -1;
        continue;
      }
      const flags = mem.flags[folio]!;
      const wb = (flags & (1 << PG.writeback)) !== 0;
      if (wb && this.#wbFolio[i] !== folio) {
        // Writeback started in this step: the bio took the folio's data now.
        this.events.writebacks++;
        if (mem.data[folio] !== latest) {
          this.events.staleWritebacks++;
          this.#example(
            "writeback",
            i,
            `writeback of index ${i} started with tag ${mem.data[folio]}, latest is ${latest}`,
          );
        }
      }
      this.#wbFolio[i] = wb ? folio : -1;
      const uptodate = (flags & (1 << PG.uptodate)) !== 0;
      const notLatest = uptodate && mem.data[folio] !== latest;
      if (notLatest && !this.#notLatest[i]) {
        this.events.uptodateNotLatest++;
        this.#example(
          "uptodate not latest",
          i,
          `A (index ${i}) is uptodate with tag ${mem.data[folio]}, latest is ${latest}`,
        );
      }
      this.#notLatest[i] = notLatest;
      const pte = hf.devicePte(i);
      // Two writable copies (a mirror of A itself is one page, written coherently).
      const two = pte !== undefined && pte.write && !pte.host && cpuWritable(mm, folio);
      if (two && !this.#two[i]) {
        this.events.twoWriters++;
        this.#example(
          "two writers",
          i,
          `A (index ${i}) is writable on the CPU and A' on the device`,
        );
      }
      this.#two[i] = two;
    }
  }
}

/** True if some CPU PTE maps `folio` writable. */
function cpuWritable(mm: Mm, folio: number): boolean {
  for (const s of mmapState(mm).rmap.get(folio) ?? []) {
    if ((s.vma.pteBits[s.index - s.vma.pgoff]! & PTE.write) !== 0) return true;
  }
  return false;
}

/**
 * What {@link installHmmChecker} returns.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   type HmmChecker,
 *   HmmFile,
 *   installHmmChecker,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file); // Jan Kara's protocol, every hook on
 * const checker: HmmChecker = installHmmChecker(hf, 1);
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 1000); // A: dirty and not uptodate
 *   yield* hf.fsync(); // the ->writepages wrapper copies A' back first
 * });
 * const r = env.run();
 * if (Object.values(checker.counts).some((n) => n !== 0) || r.violations.length !== 0) {
 *   throw new Error(JSON.stringify(r.violations));
 * }
 * if (file.backing.get(0) !== 1000) throw new Error("storage has the device's data");
 * ```
 */
export interface HmmChecker {
  /** The mm invariant checker it installed (A's mapping exempt from dirty-not-uptodate). */
  readonly mm: MmChecker;
  /** Violations recorded, by rule. */
  readonly counts: Record<HmmIllegalRule, number>;
}

/**
 * The rules of the illegal-state checker.
 *
 * @example
 * ```ts
 * import {
 *   deviceStore,
 *   Engine,
 *   HmmDevice,
 *   HmmFile,
 *   type HmmIllegalRule,
 *   installHmmChecker,
 *   Mm,
 *   SimpleFs,
 * } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file, { writebackHook: false });
 * const checker = installHmmChecker(hf, 1);
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 1000);
 *   yield* hf.fsync(); // without the hook, generic writeback of A
 * });
 * env.run();
 * const rules = Object.keys(checker.counts) as HmmIllegalRule[];
 * const broken = rules.filter((rule) => checker.counts[rule] > 0);
 * if (broken.join() !== "generic writeback") throw new Error(broken.join());
 * ```
 */
export type HmmIllegalRule =
  | "splice read"
  | "generic writeback"
  | "fault maps A"
  | "generic read_folio";

/**
 * Install the illegal-state checker on `hf`'s file (pages [0, nrPages)): record a violation
 * `hmm: <rule>` whenever a generic path reads A or writes it back while A is dirty and not
 * uptodate — a pipe buffer confirmed against it (`splice read`), writeback started on it
 * (`generic writeback`), a CPU mapping of it (`fault maps A`), or the filesystem's own
 * `->read_folio` entered on it (`generic read_folio`, which would overwrite the device's data
 * with storage's and map or copy it). Installs the mm checker too, with the mapping in
 * `allowDirtyNotUptodate`.
 *
 * @example
 * ```ts
 * import { Engine, HmmDevice, HmmFile, Mm, SimpleFs, deviceStore, installHmmChecker } from "@mmsim/mmsim";
 * const env = new Engine();
 * const mm = new Mm(env, { memory: { nrFrames: 256 } });
 * const file = new SimpleFs(mm).createFile({ name: "f", sizePages: 1, fillPages: 1 });
 * const hf = new HmmFile(new HmmDevice(mm), file, { writebackHook: false });
 * const checker = installHmmChecker(hf, 1);
 * env.spawn("t", function* () {
 *   yield* deviceStore(hf.dev, file, 0, 1000); // A: dirty, !uptodate
 *   yield* hf.fsync();                         // generic writeback of A
 * });
 * const r = env.run();
 * if (r.violations[0]?.name !== "hmm: generic writeback" || checker.counts["generic writeback"] !== 1) {
 *   throw new Error(JSON.stringify(r.violations));
 * }
 * ```
 */
export function installHmmChecker(hf: HmmFile, nrPages: number): HmmChecker {
  const mm = hf.mm, env = mm.env, mem = mm.mem, m: AddressSpace = hf.mapping;
  const counts: Record<HmmIllegalRule, number> = {
    "splice read": 0,
    "generic writeback": 0,
    "fault maps A": 0,
    "generic read_folio": 0,
  };
  const flag = (rule: HmmIllegalRule, message: string) => {
    counts[rule]++;
    env.violation(`hmm: ${rule}`, message);
  };
  const illegal = (folio: number) =>
    mem.testFlag(folio, PG.dirty) && !mem.testFlag(folio, PG.uptodate);
  const generic = hf.generic;
  if (generic.readFolio) {
    const inner = generic.readFolio;
    hf.generic = {
      ...generic,
      *readFolio(mm2, mapping, folio) {
        if (mapping === m && illegal(folio)) {
          flag(
            "generic read_folio",
            `the filesystem's ->read_folio entered on ${mm.describeFolio(folio)}, dirty and ` +
              `not uptodate: storage data would replace the device's`,
          );
        }
        return yield* inner.call(generic, mm2, mapping, folio);
      },
    };
  }
  const wbFolio: number[] = new Array(nrPages).fill(-1);
  let spliceSeen = spliceStats(mm).confirmFailures.length;
  env.invariant("hmm illegal state", () => {
    const sf = spliceStats(mm).confirmFailures;
    for (; spliceSeen < sf.length; spliceSeen++) {
      const f = sf[spliceSeen]!;
      if (f.mapping === m && f.errno === "EIO" && f.dirty) {
        flag(
          "splice read",
          `a pipe buffer of ${m.name} index ${f.index} was confirmed while A was dirty and not ` +
            `uptodate (page_cache_pipe_buf_confirm: -EIO)`,
        );
      }
    }
    for (let i = 0; i < nrPages; i++) {
      const folio = m.pages.load(i);
      if (folio < 0) {
        wbFolio[i] = -1;
        continue;
      }
      const wb = mem.testFlag(folio, PG.writeback);
      if (wb && wbFolio[i] !== folio && !mem.testFlag(folio, PG.uptodate)) {
        flag(
          "generic writeback",
          `writeback started on ${mm.describeFolio(folio)}, which is not uptodate: storage gets ` +
            `A's old data, not the device's`,
        );
      }
      wbFolio[i] = wb ? folio : -1;
      if (illegal(folio) && mem.mapcount[folio]! > 0) {
        flag(
          "fault maps A",
          `${mm.describeFolio(folio)} is mapped by ${mem.mapcount[folio]} CPU PTE(s) while dirty ` +
            `and not uptodate`,
        );
      }
    }
  });
  const mmChecker = installMmChecker(mm, { allowDirtyNotUptodate: [m] });
  return { mm: mmChecker, counts };
}
