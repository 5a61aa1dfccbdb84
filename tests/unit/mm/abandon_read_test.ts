import assert from "node:assert/strict";
import {
  AddressSpace,
  allocMigrationTarget,
  Engine,
  filemapAddFolio,
  filemapAddFolioLocked,
  filemapGetEntry,
  filemapMigrateFolio,
  filemapRead,
  folioAbandonRead,
  folioAlloc,
  folioEndRead,
  folioGet,
  folioPut,
  installMmChecker,
  iSizeWrite,
  isolateFolioForMigration,
  type MigrateMode,
  migratePages,
  Mm,
  type Process,
  putbackMovablePages,
} from "../../../mod.ts";

Deno.test("folioAbandonRead asks the filesystem only about a read in flight", async (t) => {
  const world = () => {
    const env = new Engine({ trace: true });
    const mm = new Mm(env, { memory: { nrFrames: 64 } });
    const calls: MigrateMode[] = [];
    let answer = true;
    const m = AddressSpace.create(mm, {
      name: "f",
      aops: {
        abandonFolio(_mm, _m, _folio, mode) {
          calls.push(mode);
          return answer;
        },
      },
    });
    return { env, mm, m, calls, setAnswer: (a: boolean) => (answer = a) };
  };
  await t.step("a locked, not uptodate page-cache folio: the hook decides, with the mode", () => {
    const { env, mm, m, calls, setAnswer } = world();
    const f = folioAlloc(mm, 0);
    filemapAddFolioLocked(mm, m, f, 0);
    assert.equal(folioAbandonRead(mm, f, "MIGRATE_SYNC_LIGHT"), true);
    setAnswer(false);
    assert.equal(folioAbandonRead(mm, f, "MIGRATE_ASYNC"), false);
    assert.deepEqual(calls, ["MIGRATE_SYNC_LIGHT", "MIGRATE_ASYNC"]);
    assert.equal(mm.vmstat.get("migrate_abandon_read"), 1);
    assert.equal(mm.vmstat.get("migrate_abandon_refused"), 1);
    assert.deepEqual(env.trace!.ofKind("migrate_abandon_read").map((e) => [e.before, e.after]), [
      ["MIGRATE_SYNC_LIGHT", true],
      ["MIGRATE_ASYNC", false],
    ]);
  });
  await t.step(
    "not asked: unlocked, uptodate (an ordinary lock holder), anonymous, no hook",
    () => {
      const { mm, m, calls } = world();
      const unlocked = folioAlloc(mm, 0);
      filemapAddFolio(mm, m, unlocked, 0);
      const uptodate = folioAlloc(mm, 0);
      filemapAddFolioLocked(mm, m, uptodate, 1);
      folioEndRead(mm, uptodate, true);
      mm.mem.setFlag(uptodate, 0); // locked again, by someone that is not a read
      const anon = folioAlloc(mm, 0);
      mm.mem.setFlag(anon, 0);
      const bare = AddressSpace.create(mm, { name: "no hook" });
      const other = folioAlloc(mm, 0);
      filemapAddFolioLocked(mm, bare, other, 0);
      for (const f of [unlocked, uptodate, anon, other]) {
        assert.equal(folioAbandonRead(mm, f, "MIGRATE_SYNC"), false);
      }
      assert.deepEqual(calls, []);
      assert.equal(mm.vmstat.get("migrate_abandon_refused"), 0);
    },
  );
});

/** Read latency: long against migration's own CPU cost. */
const LAT = 100_000;

/**
 * A filesystem whose `->read_folio` sends a request served after `latencyNs`; the request holds
 * a folio reference. With `abandon`, `->abandonFolio` gives the request up: it unlocks the folio
 * (not uptodate), drops the request's reference, and the late reply is dropped.
 */
function fsWorld(abandon: boolean, latencyNs = LAT) {
  const env = new Engine({ trace: true });
  const mm = new Mm(env, { memory: { nrFrames: 256 } });
  const requests = new Map<number, { ref: ReturnType<Mm["ref"]>; abandoned: boolean }>();
  const stats = { sent: 0, lateDropped: 0 };
  const m = AddressSpace.create(mm, {
    name: "fuse-like",
    aops: {
      migrateFolio: filemapMigrateFolio,
      *readFolio(mm, mapping, folio): Process<number> {
        folioGet(mm, folio);
        const req = { ref: mm.ref(folio), abandoned: false };
        requests.set(folio, req);
        stats.sent++;
        mm.env.spawn(`READ #${stats.sent}`, function* (e) {
          yield e.sleep(latencyNs);
          if (req.abandoned) {
            stats.lateDropped++;
            return;
          }
          requests.delete(folio);
          mm.mem.data[folio] = mapping.backing.get(mm.mem.index[folio]!) ?? 0;
          folioEndRead(mm, folio, true);
          folioPut(mm, folio);
        });
        return 0;
      },
      abandonFolio: abandon
        ? (mm, _m, folio) => {
          const req = requests.get(folio);
          if (!req) return false;
          requests.delete(folio);
          req.abandoned = true;
          mm.mem.clearFlag(folio, 0); // unlock without PG_uptodate…
          mm.waitTable.wakeBit(folio, 0);
          folioPut(mm, folio); // …and drop the request's reference
          return true;
        }
        : undefined,
    },
  });
  m.backing.set(0, 77);
  iSizeWrite(m, 1); // one page: readahead reads nothing else
  installMmChecker(mm);
  return { env, mm, m, stats };
}

Deno.test("migration with the proposed hook: a read in flight no longer blocks it", async (t) => {
  for (const mode of ["MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"] as const) {
    for (const abandon of [false, true]) {
      await t.step(`${mode}, ${abandon ? "with" : "without"} ->abandonFolio`, () => {
        const { env, mm, m, stats } = fsWorld(abandon);
        let got: number[] | null = null, readAt = -1;
        env.spawn("reader", function* (e) {
          const r = yield* filemapRead(mm, m, 0, 1);
          if (r.ok) got = r.value;
          readAt = e.nowNs;
        });
        let rc = "", migratedAt = -1;
        env.spawn("compaction", function* (e) {
          yield e.sleep(100); // the read is in flight
          const src = filemapGetEntry(m, 0);
          assert.ok(isolateFolioForMigration(mm, src));
          const r = yield* migratePages(mm, [src], allocMigrationTarget, mode, "MR_COMPACTION");
          putbackMovablePages(mm, r.failed);
          rc = r.outcomes[0]!.rc;
          migratedAt = e.nowNs;
        });
        const res = env.run();
        assert.equal(res.reason, "done", JSON.stringify(res.violations));
        assert.deepEqual(got, [77], "the reader always gets the file's data");
        if (abandon) {
          // Abandoned at once in every mode; the reader reads again (filemap_update_page).
          assert.equal(rc, "MIGRATEPAGE_SUCCESS");
          assert.ok(migratedAt < LAT, `migrated at ${migratedAt}`);
          assert.deepEqual([stats.sent, stats.lateDropped], [2, 1]);
          assert.ok(readAt > LAT, "the second read is a full round trip after the abandonment");
        } else if (mode === "MIGRATE_SYNC") {
          assert.equal(rc, "MIGRATEPAGE_SUCCESS");
          assert.ok(migratedAt >= LAT, "SYNC sleeps on the folio lock until the read ends");
          assert.equal(stats.sent, 1);
        } else {
          // ASYNC: trylock only; SYNC_LIGHT: does not wait for a lock held across I/O.
          assert.equal(rc, "EAGAIN");
          assert.ok(migratedAt < LAT);
          assert.deepEqual([stats.sent, readAt], [1, LAT]);
        }
        assert.equal(mm.vmstat.get("migrate_abandon_read"), abandon ? 1 : 0);
      });
    }
  }
});
