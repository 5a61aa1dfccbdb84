import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  computeNextAccessVtime,
  encodeOracleGeneral,
  OracleGeneralBatch,
  OracleGeneralWriter,
  parseOracleGeneral,
  readOracleGeneral,
} from "../../../mod.ts";

const recordArb = fc.record({
  clockTime: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  objId: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.maxSafeInteger().map(Math.abs)),
  objSize: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  next: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 2 ** 40 })),
});
type Rec = { clockTime: number; objId: number; objSize: number; next: number };

function toBatch(recs: Rec[]): OracleGeneralBatch {
  const b = new OracleGeneralBatch(recs.length);
  for (const r of recs) b.push(r.clockTime, r.objId, r.objSize, r.next);
  return b;
}

async function readAll(stream: AsyncIterable<Uint8Array> | Uint8Array, batchRecords: number) {
  const out: Rec[] = [];
  for await (const b of readOracleGeneral(stream, batchRecords)) {
    assert.ok(b.length <= batchRecords);
    for (let i = 0; i < b.length; i++) {
      out.push({
        clockTime: b.clockTime[i]!,
        objId: b.objId(i),
        objSize: b.objSize[i]!,
        next: b.nextAccessVtime[i]!,
      });
    }
  }
  return out;
}

/** Split `bytes` at the given cut points, copying each piece to a fresh buffer at offset 1 so
 *  that both the aligned (Uint32Array) and the unaligned (DataView) decoders run. */
function split(bytes: Uint8Array, cuts: number[], misalign: boolean): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    const piece = bytes.subarray(prev, p);
    if (misalign) {
      const buf = new Uint8Array(piece.length + 1);
      buf.set(piece, 1);
      pieces.push(buf.subarray(1));
    } else pieces.push(piece.slice());
    prev = p;
  }
  return pieces;
}

Deno.test("readOracleGeneral round-trips records split anywhere across chunks", async (t) => {
  await t.step("random records, random cuts, aligned and unaligned chunks", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 7 }),
        async (recs, cuts, misalign, batchRecords) => {
          const bytes = encodeOracleGeneral(toBatch(recs));
          assert.equal(bytes.length, 24 * recs.length);
          const stream = ReadableStream.from(split(bytes, cuts, misalign));
          assert.deepEqual(await readAll(stream, batchRecords), recs.map((r) => ({ ...r })));
        },
      ),
      { numRuns: 200 },
    );
  });
  await t.step('fields "objId" decodes only the ids, aligned or not', async () => {
    const recs = [
      { clockTime: 9, objId: 2 ** 35 + 1, objSize: 1, next: -1 },
      { clockTime: 8, objId: 3, objSize: 2, next: 5 },
    ];
    const bytes = encodeOracleGeneral(toBatch(recs));
    for (const misalign of [false, true]) {
      const ids: number[] = [];
      const stream = ReadableStream.from(split(bytes, [7, 30], misalign));
      for await (const b of readOracleGeneral(stream, 4, "objId")) {
        for (let i = 0; i < b.length; i++) ids.push(b.objId(i));
        assert.deepEqual([...b.clockTime.subarray(0, b.length)], [0, 0], "not decoded");
      }
      assert.deepEqual(ids, [2 ** 35 + 1, 3]);
    }
  });
  await t.step("parseOracleGeneral decodes a whole buffer", () => {
    const recs = [{ clockTime: 1, objId: 2 ** 33 + 5, objSize: 4096, next: 2 }];
    const b = parseOracleGeneral(encodeOracleGeneral(toBatch(recs)));
    assert.deepEqual([b.length, b.objIdLo[0], b.objIdHi[0], b.nextAccessVtime[0]], [1, 5, 2, 2]);
  });
});

Deno.test("readOracleGeneral reads the byte layout libCacheSim writes", async (t) => {
  await t.step("little-endian fields at offsets 0, 4, 12, 16", async () => {
    const bytes = new Uint8Array(24);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, 1_700_000_000, true);
    dv.setBigUint64(4, 0x0000_0001_0000_0002n, true);
    dv.setUint32(12, 512, true);
    dv.setBigInt64(16, 42n, true);
    const [r] = await readAll(bytes, 16);
    assert.deepEqual(r, { clockTime: 1_700_000_000, objId: 2 ** 32 + 2, objSize: 512, next: 42 });
  });
  await t.step("next_access_vtime of -1 or INT64_MAX means no next access", async () => {
    const bytes = new Uint8Array(48);
    const dv = new DataView(bytes.buffer);
    dv.setBigInt64(16, -1n, true);
    dv.setBigInt64(40, 0x7fff_ffff_ffff_ffffn, true);
    const recs = await readAll(bytes, 16);
    assert.deepEqual(recs.map((r) => r.next), [-1, -1]);
    assert.equal(
      new DataView(encodeOracleGeneral(toBatch(recs)).buffer).getBigInt64(40, true),
      -1n,
    );
  });
  await t.step("a trailing partial record is an error", async () => {
    await assert.rejects(
      () => readAll(new Uint8Array(30), 16),
      /trace ends with a partial record of 6 bytes/,
    );
    assert.throws(() => parseOracleGeneral(new Uint8Array(25)), /not a multiple of 24 bytes/);
  });
});

Deno.test("computeNextAccessVtime gives the 1-based position of the next request", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 80 }),
      fc.boolean(),
      (ids, large) => {
        const b = new OracleGeneralBatch(ids.length);
        const offset = large ? 2 ** 40 : 0; // exercise the Map path for large ids
        for (const id of ids) b.push(0, id + offset, 4096, 0);
        computeNextAccessVtime(b);
        ids.forEach((id, i) => {
          const j = ids.indexOf(id, i + 1);
          assert.equal(b.nextAccessVtime[i], j < 0 ? -1 : j + 1);
        });
      },
    ),
  );
});

Deno.test("OracleGeneralWriter writes batches to a stream", async () => {
  const chunks: Uint8Array[] = [];
  const w = new OracleGeneralWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
  const b = new OracleGeneralBatch(3);
  for (let i = 0; i < 3; i++) b.push(i, 10 + i, 4096, -1);
  await w.writeBatch(b, 0, 2);
  await w.writeBatch(b, 2);
  await w.close();
  assert.equal(w.nrRecords, 3);
  const all = (await readAll(ReadableStream.from(chunks), 8)).map((r) => r.objId);
  assert.deepEqual(all, [10, 11, 12]);
});
