/**
 * A simple CSV page-access trace: one request per line, `time,inode,index,op`.
 *
 * - `time`: a non-negative integer in the trace's own unit (nanoseconds when written here);
 * - `inode`: the file, an unsigned 32-bit integer;
 * - `index`: the page index in the file (`folio->index` of a base page), unsigned 32-bit;
 * - `op`: `read` or `write` (also `r`/`w`, any case).
 *
 * An optional header line (first line starting with a letter) is skipped, as are empty lines
 * and lines starting with `#`. Parsed from bytes straight into struct-of-arrays batches,
 * streamed, with lines split across chunks reassembled. Not a kernel structure.
 *
 * @module
 */

import type { TraceSource } from "./oracle_general.ts";

/**
 * Operation codes of the `op` column.
 *
 * @example
 * ```ts
 * import { CSV_OP, parseCsvTrace } from "@mmsim/mmsim";
 * const b = await parseCsvTrace("0,1,5,read\n3,1,6,W\n");
 * if (b.op[0] !== CSV_OP.read || b.op[1] !== CSV_OP.write) throw new Error(String(b.op));
 * ```
 */
export const CSV_OP = { read: 0, write: 1 } as const;

/**
 * A batch of CSV trace records as struct-of-arrays. Readers reuse one batch.
 *
 * @example
 * ```ts
 * const b = new CsvTraceBatch(2);
 * b.push(0, 3, 17, CSV_OP.write);
 * if (b.index[0] !== 17 || b.op[0] !== 1) throw new Error();
 * ```
 */
export class CsvTraceBatch {
  /** Number of valid records. */
  length = 0;
  /** Maximum number of records. */
  readonly capacity: number;
  /** `time`. */
  readonly time: Float64Array;
  /** `inode`. */
  readonly inode: Uint32Array;
  /** `index` (page index). */
  readonly index: Uint32Array;
  /** `op` (`CSV_OP`). */
  readonly op: Uint8Array;

  /** An empty batch of `capacity` records. */
  constructor(capacity: number) {
    this.capacity = capacity;
    this.time = new Float64Array(capacity);
    this.inode = new Uint32Array(capacity);
    this.index = new Uint32Array(capacity);
    this.op = new Uint8Array(capacity);
  }

  /** Append a record. Throws when full. */
  push(time: number, inode: number, index: number, op: number): void {
    const i = this.length;
    if (i >= this.capacity) {
      throw new RangeError(`CsvTraceBatch.push: batch is full (${this.capacity} records)`);
    }
    this.time[i] = time;
    this.inode[i] = inode;
    this.index[i] = index;
    this.op[i] = op;
    this.length = i + 1;
  }
}

const COMMA = 44, NL = 10, CR = 13, SPACE = 32, TAB = 9, HASH = 35, ZERO = 48, NINE = 57;

/** Line parser state shared across chunks. */
class CsvLineParser {
  lineNo = 0;
  sawFirst = false;
  constructor(readonly out: CsvTraceBatch) {}

  private fail(why: string, bytes: Uint8Array, s: number, e: number): never {
    const text = new TextDecoder().decode(bytes.subarray(s, Math.min(e, s + 80)));
    throw new Error(`readCsvTrace: line ${this.lineNo}: ${why}: "${text}"`);
  }

  /** Parse line bytes [s, e) (no newline) into the batch. */
  parseLine(b: Uint8Array, s: number, e: number): void {
    this.lineNo++;
    while (e > s && (b[e - 1] === CR || b[e - 1] === SPACE || b[e - 1] === TAB)) e--;
    while (s < e && (b[s] === SPACE || b[s] === TAB)) s++;
    if (s === e || b[s] === HASH) return;
    if (!this.sawFirst) {
      this.sawFirst = true;
      const c = b[s]! | 0x20;
      if (c >= 97 && c <= 122) return; // header
    }
    let p = s;
    const vals = [0, 0, 0];
    for (let f = 0; f < 3; f++) {
      while (p < e && (b[p] === SPACE || b[p] === TAB)) p++;
      const start = p;
      let v = 0;
      while (p < e && b[p]! >= ZERO && b[p]! <= NINE) v = v * 10 + (b[p++]! - ZERO);
      if (p === start) this.fail(`field ${f + 1} is not an unsigned integer`, b, s, e);
      while (p < e && (b[p] === SPACE || b[p] === TAB)) p++;
      if (p >= e || b[p] !== COMMA) this.fail("expected 4 comma-separated fields", b, s, e);
      p++;
      vals[f] = v;
    }
    if (vals[1]! > 0xffffffff || vals[2]! > 0xffffffff) {
      this.fail("inode and index must fit in 32 bits", b, s, e);
    }
    while (p < e && (b[p] === SPACE || b[p] === TAB)) p++;
    const c0 = b[p]! | 0x20, len = e - p;
    let op: number;
    if (c0 === 114 && (len === 1 || (len === 4 && matchLower(b, p, "read")))) op = CSV_OP.read;
    else if (c0 === 119 && (len === 1 || (len === 5 && matchLower(b, p, "write")))) {
      op = CSV_OP.write;
    } else this.fail("op must be read or write", b, s, e);
    const out = this.out, i = out.length;
    out.time[i] = vals[0]!;
    out.inode[i] = vals[1]!;
    out.index[i] = vals[2]!;
    out.op[i] = op;
    out.length = i + 1;
  }
}

function matchLower(b: Uint8Array, p: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if ((b[p + i]! | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

async function* byteChunks(source: TraceSource | string): AsyncGenerator<Uint8Array> {
  if (typeof source === "string") yield new TextEncoder().encode(source);
  else if (source instanceof Uint8Array) yield source;
  else yield* source as AsyncIterable<Uint8Array>;
}

/**
 * Stream a CSV trace as batches of up to `batchRecords` records. The same batch object is
 * yielded each time. Malformed lines throw with their line number.
 *
 * @example
 * ```ts
 * const text = "time,inode,index,op\n0,1,0,read\n5,1,1,write\n";
 * const enc = new TextEncoder().encode(text);
 * const stream = ReadableStream.from([enc.subarray(0, 27), enc.subarray(27)]);
 * const seen: number[] = [];
 * for await (const b of readCsvTrace(stream)) for (let i = 0; i < b.length; i++) seen.push(b.index[i]!);
 * if (seen.join() !== "0,1") throw new Error();
 * ```
 */
export async function* readCsvTrace(
  source: TraceSource | string,
  batchRecords = 65_536,
): AsyncGenerator<CsvTraceBatch> {
  const out = new CsvTraceBatch(batchRecords);
  const parser = new CsvLineParser(out);
  let rest: Uint8Array = new Uint8Array(0);
  for await (const chunk of byteChunks(source)) {
    let s = 0;
    if (rest.length > 0) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        const joined = new Uint8Array(rest.length + chunk.length);
        joined.set(rest);
        joined.set(chunk, rest.length);
        rest = joined;
        continue;
      }
      const line = new Uint8Array(rest.length + nl);
      line.set(rest);
      line.set(chunk.subarray(0, nl), rest.length);
      parser.parseLine(line, 0, line.length);
      if (out.length === batchRecords) {
        yield out;
        out.length = 0;
      }
      rest = new Uint8Array(0);
      s = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NL, s);
      if (nl < 0) break;
      parser.parseLine(chunk, s, nl);
      s = nl + 1;
      if (out.length === batchRecords) {
        yield out;
        out.length = 0;
      }
    }
    if (s < chunk.length) rest = chunk.slice(s);
  }
  if (rest.length > 0) parser.parseLine(rest, 0, rest.length);
  if (out.length > 0) yield out;
}

/**
 * Parse a whole CSV trace held in memory.
 *
 * @example
 * ```ts
 * const b = await parseCsvTrace("0,7,3,r\n1,7,4,w");
 * if (b.length !== 2 || b.inode[1] !== 7 || b.op[1] !== CSV_OP.write) throw new Error();
 * ```
 */
export async function parseCsvTrace(source: string | Uint8Array): Promise<CsvTraceBatch> {
  let total = 0;
  const batches: CsvTraceBatch[] = [];
  for await (const b of readCsvTrace(source)) {
    const copy = new CsvTraceBatch(b.length);
    copy.time.set(b.time.subarray(0, b.length));
    copy.inode.set(b.inode.subarray(0, b.length));
    copy.index.set(b.index.subarray(0, b.length));
    copy.op.set(b.op.subarray(0, b.length));
    copy.length = b.length;
    batches.push(copy);
    total += b.length;
  }
  const out = new CsvTraceBatch(total);
  for (const b of batches) {
    out.time.set(b.time, out.length);
    out.inode.set(b.inode, out.length);
    out.index.set(b.index, out.length);
    out.op.set(b.op, out.length);
    out.length += b.length;
  }
  return out;
}

/**
 * Encode records `[start, end)` of a batch as CSV text, with a header line if `header`.
 *
 * @example
 * ```ts
 * const b = new CsvTraceBatch(1);
 * b.push(10, 1, 2, CSV_OP.read);
 * if (encodeCsvTrace(b) !== "time,inode,index,op\n10,1,2,read\n") throw new Error();
 * ```
 */
export function encodeCsvTrace(
  batch: CsvTraceBatch,
  header = true,
  start = 0,
  end = batch.length,
): string {
  const lines: string[] = header ? ["time,inode,index,op"] : [];
  for (let i = start; i < end; i++) {
    lines.push(
      `${batch.time[i]},${batch.inode[i]},${batch.index[i]},${
        batch.op[i] === CSV_OP.write ? "write" : "read"
      }`,
    );
  }
  return lines.join("\n") + "\n";
}
