/**
 * Property tests: random workloads (faults, stores, loads, writeback, truncation, munmap,
 * GUP pins, async direct I/O into mapped buffers, migration) run by several tasks under
 * random schedules with the mm invariant checker after every step must end with zero
 * violations, every task finished, and no leaked reference: once everything is unmapped and
 * unpinned, each cached folio holds exactly its page-cache references and every other frame
 * is back in the buddy allocator.
 */

import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import { filemapGetEntry } from "../../../lib/mm/address_space.ts";
import { installMmChecker } from "../../../lib/mm/check.ts";
import { aioDirectRead } from "../../../lib/mm/direct_io.ts";
import { folioGet, folioPut } from "../../../lib/mm/folio.ts";
import { PG } from "../../../lib/mm/memory.ts";
import {
  allocMigrationTarget,
  filemapMigrateFolio,
  isolateFolioForMigration,
  migratePages,
  putbackMovablePages,
} from "../../../lib/mm/migrate.ts";
import {
  doMunmap,
  mmapRegion,
  pinUserPages,
  unpinUserPages,
  userLoad,
  userStore,
  type Vma,
} from "../../../lib/mm/mmap.ts";
import { truncatePagecacheRange } from "../../../lib/mm/truncate.ts";
import { random } from "../../../lib/sim/random.ts";
import { world, writebackFolio } from "./_mmap_fixture.ts";

const PAGES = 6;

type Op =
  | { k: "store"; v: number; i: number }
  | { k: "load"; v: number; i: number }
  | { k: "writeback"; i: number }
  | { k: "truncate"; i: number }
  | { k: "munmap"; v: number }
  | { k: "pin"; v: number; i: number; n: number }
  | { k: "unpin" }
  | { k: "dio"; v: number; i: number; n: number; iomap: boolean }
  | { k: "migrate"; v: number; i: number; sync: boolean };

const vmaIdx = fc.integer({ min: 0, max: 2 });
const page = fc.integer({ min: 0, max: PAGES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("store" as const), v: vmaIdx, i: page }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("load" as const), v: vmaIdx, i: page }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("writeback" as const), i: page }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("truncate" as const), i: page }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("munmap" as const), v: vmaIdx }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("pin" as const),
      v: vmaIdx,
      i: page,
      n: fc.integer({ min: 1, max: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("unpin" as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("dio" as const),
      v: vmaIdx,
      i: page,
      n: fc.integer({ min: 1, max: 2 }),
      iomap: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("migrate" as const),
      v: vmaIdx,
      i: page,
      sync: fc.boolean(),
    }),
  },
);

function runWorkload(seed: number, tasks: Op[][]): void {
  const { env, mm, file, disk } = world({ nrFrames: 256, strategy: random(seed), seed });
  file.aops.migrateFolio = filemapMigrateFolio;
  for (let i = 0; i < PAGES; i++) disk.backing.set(i, 1000 + i);
  const checker = installMmChecker(mm, { fullEvery: 16 });
  const vmas: Vma[] = [
    mmapRegion(mm, { mapping: file, nrPages: PAGES }),
    mmapRegion(mm, { mapping: file, nrPages: PAGES, shared: false }),
    mmapRegion(mm, { nrPages: PAGES }),
  ];
  const pins: number[][] = [];
  tasks.forEach((ops, t) => {
    env.spawn(`task${t}`, function* (e) {
      for (const op of ops) {
        yield e.point();
        const vma = "v" in op ? vmas[op.v]! : null;
        switch (op.k) {
          case "store":
            if (vma!.live) yield* userStore(mm, vma!, op.i);
            break;
          case "load":
            if (vma!.live) yield* userLoad(mm, vma!, op.i);
            break;
          case "writeback": {
            const f = filemapGetEntry(file, op.i);
            if (f < 0 || mm.mem.refcount[f]! <= 0) break;
            folioGet(mm, f);
            if (!mm.mem.testFlag(f, PG.writeback)) yield* writebackFolio(mm, f, 500);
            folioPut(mm, f);
            break;
          }
          case "truncate":
            // truncate_pagecache_range(): unmap, truncate_inode_pages_range, unmap again.
            yield* truncatePagecacheRange(mm, file, op.i, op.i);
            break;
          case "munmap":
            doMunmap(mm, vma!);
            break;
          case "pin": {
            if (!vma!.live) break;
            const n = Math.min(op.n, PAGES - op.i);
            const r = yield* pinUserPages(mm, vma!, op.i, n, { write: true });
            if (r.ok) pins.push(r.value);
            break;
          }
          case "unpin": {
            const p = pins.shift();
            if (p) unpinUserPages(mm, p);
            break;
          }
          case "dio": {
            if (!vma!.live) break;
            yield* aioDirectRead(mm, disk, vma!, {
              nrPages: Math.min(op.n, PAGES - op.i),
              fileIndex: op.i,
              bufferOffset: op.i,
              path: op.iomap ? "iomap" : "direct-io",
              device: { latency: { kind: "uniform", minNs: 100, maxNs: 3000 } },
            });
            break;
          }
          case "migrate": {
            if (!vma!.live) break;
            const p = vma!.pteOf(op.i);
            if (p < 0) break;
            const f = mm.mem.compoundHead(p);
            if (!isolateFolioForMigration(mm, f)) break;
            const r = yield* migratePages(
              mm,
              [f],
              allocMigrationTarget,
              op.sync ? "MIGRATE_SYNC" : "MIGRATE_ASYNC",
              "MR_SYSCALL",
            );
            putbackMovablePages(mm, r.failed);
            break;
          }
        }
      }
    });
  });
  const res = env.run({ maxSteps: 200_000 });
  const where = `seed ${seed}, schedule "${res.schedule}"`;
  assert.deepEqual(res.violations, [], where);
  assert.equal(res.reason, "done", where);
  // Release everything and look for leaks.
  for (const p of pins) unpinUserPages(mm, p);
  for (const v of vmas) doMunmap(mm, v);
  assert.deepEqual(checker.checkNow(), [], where);
  let cached = 0;
  for (const m of [file, disk]) {
    m.pages.forEach((_i, f) => {
      if (mm.mem.index[f] !== _i) return;
      const nr = 1 << mm.mem.order[f]!;
      cached += nr;
      assert.equal(mm.mem.refcount[f], nr, `${where}: ${mm.describeFolio(f)} leaks a reference`);
    });
  }
  assert.equal(mm.zone.nrFreePages + cached, 256, `${where}: frames leaked`);
}

Deno.test("mm invariants hold under random workloads and schedules", async (t) => {
  const tasksArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), {
    minLength: 2,
    maxLength: 3,
  });
  await t.step("faults, writeback, truncation, pins, DIO and migration", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), tasksArb, (seed, tasks) => {
        runWorkload(seed, tasks);
      }),
      { numRuns: 200, seed: 20251126 },
    );
  });
});
