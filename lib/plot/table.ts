/**
 * Tables for notebooks and terminals: rows of records shown as an HTML table in Jupyter and as
 * aligned plain text on a terminal (the same object gives both).
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import { escapeXml, JUPYTER_DISPLAY } from "./display.ts";

/**
 * A table cell value. `undefined` and `null` print as empty cells.
 *
 * @example
 * ```ts
 * import { type Cell, formatCell } from "@mmsim/mmsim";
 * const row: Cell[] = ["dirty", 3, 0.125, true, null];
 * const text = row.map((c) => formatCell(c, 2)).join("|");
 * if (text !== "dirty|3|0.13|true|") throw new Error(text);
 * ```
 */
export type Cell = string | number | boolean | bigint | null | undefined;

/**
 * Options of `table()`.
 *
 * @example
 * ```ts
 * import { table, type TableOptions } from "@mmsim/mmsim";
 * const opts: TableOptions = { columns: ["b"], digits: 1 };
 * if (table([{ a: 1, b: 2.25 }], opts).text !== "  b\n---\n2.3") {
 *   throw new Error(JSON.stringify(table([{ a: 1, b: 2.25 }], opts).text));
 * }
 * ```
 */
export interface TableOptions {
  /** Columns to show, in order (default: the keys of all rows, in first-seen order). */
  columns?: readonly string[];
  /** Decimal places for non-integer numbers (default 3; trailing zeros are dropped). */
  digits?: number;
  /** A caption (HTML) or first line (text). */
  title?: string;
}

/**
 * A table with a plain-text form (`text`, also `toString()`) and an HTML form (`html`); a
 * notebook cell whose value is a `Table` shows the HTML.
 *
 * @example
 * ```ts
 * import { table, JUPYTER_DISPLAY } from "@mmsim/mmsim";
 * const t = table([{ order: 0, free: 12 }, { order: 9, free: 1 }]);
 * const bundle = t[JUPYTER_DISPLAY]();
 * if (!bundle["text/html"].includes(">12</td>")) throw new Error(bundle["text/html"]);
 * if (bundle["text/plain"] !== t.text) throw new Error("text copy");
 * ```
 */
export class Table {
  /** Column names, in order. */
  readonly columns: readonly string[];
  /** Formatted cells, one array per row, aligned with `columns`. */
  readonly cells: readonly (readonly string[])[];
  /** Which columns hold only numbers (right-aligned). */
  readonly numeric: readonly boolean[];
  /** Title, if any. */
  readonly title: string | undefined;

  /** Build from formatted cells; use `table()` instead. */
  constructor(
    columns: readonly string[],
    cells: readonly (readonly string[])[],
    numeric: readonly boolean[],
    title?: string,
  ) {
    this.columns = columns;
    this.cells = cells;
    this.numeric = numeric;
    this.title = title;
  }

  /** Aligned plain text: a header line, a rule, one line per row (no trailing newline). */
  get text(): string {
    const widths = this.columns.map((c, j) =>
      Math.max(c.length, ...this.cells.map((row) => (row[j] ?? "").length))
    );
    const line = (row: readonly string[]) =>
      row.map((v, j) => this.numeric[j] ? v.padStart(widths[j]!) : v.padEnd(widths[j]!))
        .join("  ").trimEnd();
    const header = line(this.columns);
    const rule = widths.map((w) => "-".repeat(w)).join("  ");
    const lines = [header, rule, ...this.cells.map(line)];
    if (this.title !== undefined) lines.unshift(this.title);
    return lines.join("\n");
  }

  /** An HTML `<table>`. */
  get html(): string {
    const align = (j: number) => this.numeric[j] ? ' style="text-align: right"' : "";
    const head = this.columns.map((c, j) => `<th${align(j)}>${escapeXml(c)}</th>`).join("");
    const body = this.cells.map((row) =>
      `<tr>${row.map((v, j) => `<td${align(j)}>${escapeXml(v)}</td>`).join("")}</tr>`
    ).join("\n");
    const caption = this.title === undefined ? "" : `<caption>${escapeXml(this.title)}</caption>`;
    return `<table>${caption}<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
  }

  /** The MIME bundle the Deno Jupyter kernel displays. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    return { "text/html": this.html, "text/plain": this.text };
  }

  /** The plain-text form. */
  toString(): string {
    return this.text;
  }
}

/**
 * Make a `Table` from rows of records.
 *
 * @example
 * ```ts
 * import { table } from "@mmsim/mmsim";
 * const t = table([{ flag: "dirty", frames: 3 }, { flag: "writeback", frames: 12 }]);
 * const expected = [
 *   "flag       frames",
 *   "---------  ------",
 *   "dirty           3",
 *   "writeback      12",
 * ].join("\n");
 * if (t.text !== expected) throw new Error(t.text);
 * ```
 */
export function table(rows: readonly object[], options: TableOptions = {}): Table {
  // Rows are plain objects (interfaces included); their values are read as cells.
  const recs = rows as readonly Readonly<Record<string, Cell>>[];
  const columns = options.columns ?? keysOf(recs);
  const digits = options.digits ?? 3;
  const numeric = columns.map((c) =>
    recs.length > 0 && recs.every((r) => r[c] === undefined || typeof r[c] === "number")
  );
  const cells = recs.map((r) => columns.map((c) => formatCell(r[c], digits)));
  return new Table(columns, cells, numeric, options.title);
}

/**
 * Format one cell: integers as is, other numbers with at most `digits` decimals (trailing zeros
 * dropped), `null`/`undefined` as the empty string.
 *
 * @example
 * ```ts
 * import { formatCell } from "@mmsim/mmsim";
 * if (formatCell(2 / 3, 2) !== "0.67" || formatCell(1.5, 3) !== "1.5") throw new Error("cell");
 * ```
 */
export function formatCell(value: Cell, digits = 3): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value) && Number.isFinite(value)) {
    const fixed = value.toFixed(digits);
    return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
  }
  return String(value);
}

function keysOf(rows: readonly Readonly<Record<string, Cell>>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}
