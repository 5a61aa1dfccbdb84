import assert from "node:assert/strict";
import fc from "npm:fast-check@^4";
import {
  CSV_OP,
  CsvTraceBatch,
  encodeCsvTrace,
  parseCsvTrace,
  readCsvTrace,
} from "../../../mod.ts";

type Rec = [number, number, number, number];
const recArb = fc.tuple(
  fc.maxSafeInteger().map(Math.abs),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.constantFrom(CSV_OP.read, CSV_OP.write),
);

async function readAll(source: Parameters<typeof readCsvTrace>[0], batch = 3): Promise<Rec[]> {
  const out: Rec[] = [];
  for await (const b of readCsvTrace(source, batch)) {
    for (let i = 0; i < b.length; i++) out.push([b.time[i]!, b.inode[i]!, b.index[i]!, b.op[i]!]);
  }
  return out;
}

Deno.test("readCsvTrace round-trips lines split anywhere across chunks", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(recArb, { maxLength: 40 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 6 }),
      async (recs, header, cuts) => {
        const b = new CsvTraceBatch(recs.length);
        for (const r of recs) b.push(...r);
        const bytes = new TextEncoder().encode(encodeCsvTrace(b, header));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const pieces: Uint8Array[] = [];
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          pieces.push(bytes.slice(prev, p));
          prev = p;
        }
        assert.deepEqual(await readAll(ReadableStream.from(pieces)), recs);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("readCsvTrace accepts the documented variants", async (t) => {
  await t.step(
    "header, comments, blank lines, CRLF, spaces, r/w/READ/Write, no final newline",
    async () => {
      const text =
        "Time, Inode, Index, Op\r\n# comment\n\n 1 , 2 , 3 , R\r\n4,5,6,w\n7,8,9,READ\n10,11,12,Write";
      assert.deepEqual(await readAll(text), [
        [1, 2, 3, CSV_OP.read],
        [4, 5, 6, CSV_OP.write],
        [7, 8, 9, CSV_OP.read],
        [10, 11, 12, CSV_OP.write],
      ]);
    },
  );
  await t.step("parseCsvTrace gathers every batch", async () => {
    const lines = Array.from({ length: 70_000 }, (_, i) => `${i},1,${i},r`).join("\n");
    const b = await parseCsvTrace(lines);
    assert.equal(b.length, 70_000);
    assert.equal(b.index[69_999], 69_999);
  });
});

Deno.test("readCsvTrace reports malformed lines with their number", async (t) => {
  const cases: [string, RegExp][] = [
    ["0,1,2,read\n0,1,read\n", /line 2: field 3 is not an unsigned integer/],
    ["0,1,2\n", /line 1: expected 4 comma-separated fields/],
    ["0,1,2,delete\n", /line 1: op must be read or write: "0,1,2,delete"/],
    ["0,4294967296,2,r\n", /line 1: inode and index must fit in 32 bits/],
    ["-1,1,2,r\n", /line 1: field 1 is not an unsigned integer/],
  ];
  for (const [text, re] of cases) {
    await t.step(JSON.stringify(text), async () => {
      await assert.rejects(() => readAll(text), re);
    });
  }
});
