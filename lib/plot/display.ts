/**
 * Figures for notebooks and reports: an Observable Plot figure (or any SVG markup) wrapped as a
 * Jupyter display bundle.
 *
 * The Deno Jupyter kernel shows a cell's value through its `Symbol.for("Jupyter.display")`
 * method, which returns a MIME bundle. A `Figure` returns both `text/html` and
 * `image/svg+xml`: Debian's nbconvert sanitises HTML exports and drops bare `image/svg+xml`
 * outputs, so the `text/html` copy is the one that survives into `out/notebooks/*.html`, while
 * front ends that prefer images (VS Code) use the SVG.
 *
 * Not a kernel model; no kernel source is followed here.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@^0.6";
import { plotDocument, type PlotElement } from "./document.ts";

/**
 * The key the Deno Jupyter kernel looks up to display a value (`Symbol.for("Jupyter.display")`).
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY } from "@mmsim/mmsim";
 * if (JUPYTER_DISPLAY !== Symbol.for("Jupyter.display")) throw new Error("wrong symbol");
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/**
 * A MIME bundle: MIME type → content, as the Jupyter display protocol carries it.
 *
 * @example
 * ```ts
 * import type { MimeBundle } from "@mmsim/mmsim";
 * const bundle: MimeBundle = { "text/plain": "hello" };
 * if (bundle["text/plain"] !== "hello") throw new Error("bundle");
 * ```
 */
export type MimeBundle = Record<string, string>;

/**
 * Options of `figure()` and `plot()`.
 *
 * @example
 * ```ts
 * import { figure, type FigureOptions } from "@mmsim/mmsim";
 * const opts: FigureOptions = { title: "Free pages per order" };
 * if (!figure("<svg></svg>", opts).html.includes("Free pages per order")) throw new Error("title");
 * ```
 */
export interface FigureOptions {
  /** A caption shown above the figure (HTML) and stored as the SVG's `<title>`. */
  title?: string;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * A figure ready for a notebook: `svg` is standalone SVG markup (with `xmlns`), `html` the HTML
 * shown in notebooks and HTML exports. Evaluating a `Figure` as the last expression of a cell
 * displays it.
 *
 * @example
 * ```ts
 * import { figure, JUPYTER_DISPLAY } from "@mmsim/mmsim";
 * const fig = figure('<svg width="10" height="10"><rect width="5" height="5"/></svg>');
 * const bundle = fig[JUPYTER_DISPLAY]();
 * if (bundle["image/svg+xml"] !== fig.svg) throw new Error("svg copy");
 * if (!bundle["text/html"].includes("<rect")) throw new Error("html copy");
 * ```
 */
export class Figure {
  /** Standalone SVG markup of the figure's main plot, with `xmlns` set. */
  readonly svg: string;
  /** HTML markup: the whole figure (legends, caption, title) for notebook front ends. */
  readonly html: string;
  /** The title given in `FigureOptions`, if any. */
  readonly title: string | undefined;

  /** Wrap markup already split into its SVG and HTML forms; use `figure()` instead. */
  constructor(svg: string, html: string, title?: string) {
    this.svg = svg;
    this.html = html;
    this.title = title;
  }

  /** The MIME bundle the Deno Jupyter kernel displays. */
  [JUPYTER_DISPLAY](): { "text/html": string; "image/svg+xml": string } {
    return { "text/html": this.html, "image/svg+xml": this.svg };
  }

  /** The SVG markup. */
  toString(): string {
    return this.svg;
  }
}

/**
 * Wrap an Observable Plot figure (an `<svg>` or `<figure>` element) or SVG markup as a
 * `Figure` for display in a notebook. Throws if there is no `<svg>` in it.
 *
 * @example
 * ```ts
 * import * as Plot from "npm:@observablehq/plot@^0.6";
 * import { figure, plotDocument } from "@mmsim/mmsim";
 * const el = Plot.barY([3, 1, 2]).plot({ document: plotDocument() });
 * const fig = figure(el, { title: "Three bars" });
 * if (!fig.svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')) throw new Error(fig.svg);
 * if (!fig.svg.includes("<title>Three bars</title>")) throw new Error("no svg title");
 * ```
 */
export function figure(svgOrElement: string | PlotElement, options: FigureOptions = {}): Figure {
  const markup = typeof svgOrElement === "string" ? svgOrElement : svgOrElement.outerHTML;
  const main = largestTopLevelSvg(markup);
  if (main === undefined) {
    throw new Error(
      `Cannot make a figure: no <svg> element in ${JSON.stringify(markup.slice(0, 80))}`,
    );
  }
  let svg = markup.slice(main.start, main.end);
  if (!/^<svg\b[^>]*\sxmlns=/.test(svg)) svg = `<svg xmlns="${SVG_NS}"` + svg.slice(4);
  let html = markup.slice(0, main.start) + svg + markup.slice(main.end);
  const title = options.title;
  if (title !== undefined) {
    const openEnd = svg.indexOf(">") + 1;
    svg = svg.slice(0, openEnd) + `<title>${escapeXml(title)}</title>` + svg.slice(openEnd);
    html = `<figure style="margin: 0 0 1em 0"><figcaption style="font: bold 14px system-ui, ` +
      `sans-serif; margin-bottom: 4px">${escapeXml(title)}</figcaption>${html}</figure>`;
  }
  return new Figure(svg, html, title);
}

/**
 * Options of Observable Plot's `Plot.plot()`: `marks`, scales (`x`, `y`, `color`, …), `width`,
 * `height` and the rest as documented by Plot. Typed loosely so that mmsim's public API does
 * not carry Plot's own types; Plot checks them when it draws.
 *
 * @example
 * ```ts
 * import * as Plot from "npm:@observablehq/plot@^0.6";
 * import { plot, type PlotSpec } from "@mmsim/mmsim";
 * const spec: PlotSpec = { width: 200, height: 100, marks: [Plot.ruleY([0])] };
 * if (!plot(spec).svg.includes('width="200"')) throw new Error("width ignored");
 * ```
 */
export interface PlotSpec {
  /** The marks to draw. */
  marks?: readonly unknown[];
  /** Outer width in pixels (Plot's default 640). */
  width?: number;
  /** Outer height in pixels. */
  height?: number;
  /** Any other `Plot.plot()` option. */
  [option: string]: unknown;
}

/**
 * Render an Observable Plot specification into the shared linkedom document and wrap it as a
 * `Figure` (`Plot.plot(options)` with `document` filled in).
 *
 * @example
 * ```ts
 * import * as Plot from "npm:@observablehq/plot@^0.6";
 * import { plot } from "@mmsim/mmsim";
 * const fig = plot({ marks: [Plot.dot([{ x: 1, y: 2 }], { x: "x", y: "y" })] });
 * if (!fig.svg.includes("<circle")) throw new Error("no dot drawn");
 * ```
 */
export function plot(options: PlotSpec, figureOptions: FigureOptions = {}): Figure {
  const el: PlotElement = Plot.plot({ ...(options as Plot.PlotOptions), document: plotDocument() });
  return figure(el, figureOptions);
}

/**
 * Escape text for XML/HTML element content and attribute values (`&`, `<`, `>`, quotes).
 *
 * @example
 * ```ts
 * import { escapeXml } from "@mmsim/mmsim";
 * if (escapeXml("a<b & 'c'") !== "a&#60;b &#38; &#39;c&#39;") throw new Error("escape");
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Start/end offsets of the largest `<svg>…</svg>` not nested in another svg. */
function largestTopLevelSvg(markup: string): { start: number; end: number } | undefined {
  const tag = /<(\/?)svg\b[^>]*?(\/?)>/g;
  let depth = 0;
  let start = -1;
  let best: { start: number; end: number } | undefined;
  for (let m = tag.exec(markup); m !== null; m = tag.exec(markup)) {
    const closing = m[1] === "/";
    const selfClosing = m[2] === "/";
    if (!closing) {
      if (depth === 0) start = m.index;
      if (!selfClosing) depth++;
      else if (depth === 0) best = pick(best, start, tag.lastIndex);
    } else if (depth > 0) {
      depth--;
      if (depth === 0) best = pick(best, start, tag.lastIndex);
    }
  }
  return best;
}

function pick(
  best: { start: number; end: number } | undefined,
  start: number,
  end: number,
): { start: number; end: number } {
  return best === undefined || end - start > best.end - best.start ? { start, end } : best;
}

interface JupyterNamespace {
  display(obj: unknown, options?: { raw?: boolean }): Promise<void>;
}

/** `Deno.jupyter` inside the Deno kernel; undefined elsewhere (where its getter throws). */
function jupyterNamespace(): JupyterNamespace | undefined {
  try {
    return (globalThis as { Deno?: { jupyter?: JupyterNamespace } }).Deno?.jupyter;
  } catch {
    return undefined;
  }
}

/**
 * Show figures, tables or any values: in the Deno Jupyter kernel as display outputs
 * (`Deno.jupyter.display`), elsewhere printed with `console.log` (their text form). End a
 * notebook cell with `await show(x)` rather than a bare `x`: Deno's kernel (2.x) publishes a
 * cell's result value without waiting for it, sometimes after the cell's "idle" status, and
 * `jupyter nbconvert --execute` then drops that output; an awaited display arrives in time.
 *
 * @example
 * ```ts
 * import { show, table } from "@mmsim/mmsim";
 * const logged: unknown[] = [];
 * const log = console.log;
 * console.log = (...args: unknown[]) => logged.push(...args);
 * try {
 *   await show(table([{ n: 1 }]));
 * } finally {
 *   console.log = log;
 * }
 * if (logged[0] !== "n\n-\n1") throw new Error(String(logged[0]));
 * ```
 */
export async function show(...items: unknown[]): Promise<void> {
  const jupyter = jupyterNamespace();
  for (const item of items) {
    if (jupyter !== undefined) await jupyter.display(item);
    else console.log(typeof item === "object" && item !== null ? String(item) : item);
  }
}
