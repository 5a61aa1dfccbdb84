/**
 * A DOM for Observable Plot outside the browser: one linkedom `document`, created on first use.
 *
 * Observable Plot builds its figures with `document.createElementNS`; in Deno (library code,
 * notebooks, tests) there is no DOM, so Plot is handed this linkedom document through its
 * `document` option. The document is created lazily, so importing `mod.ts` costs nothing and
 * needs no permissions.
 *
 * Not a kernel model; no kernel source is followed here. Deno's default type library has no
 * lib.dom, so the few DOM members mmsim uses are typed structurally (`PlotElement`,
 * `PlotDocument`) instead of as lib.dom's `Element` and `Document`.
 *
 * @module
 */

import { parseHTML } from "npm:linkedom@^0.18";

/**
 * The members of a DOM element that mmsim's figure helpers read: an Observable Plot figure is
 * an `<svg>` element, or a `<figure>` holding one when Plot adds a title, legend or caption.
 *
 * @example
 * ```ts
 * import { plotDocument, type PlotElement } from "@mmsim/mmsim";
 * const el: PlotElement = plotDocument().createElement("div");
 * if (el.outerHTML !== "<div></div>") throw new Error(el.outerHTML);
 * ```
 */
export interface PlotElement {
  /** Tag name (`"svg"`, `"figure"`, upper case for HTML elements). */
  readonly tagName: string;
  /** The element serialised as markup. */
  readonly outerHTML: string;
  /** First descendant matching a CSS selector, or null. */
  querySelector(selectors: string): PlotElement | null;
  /** Set an attribute. */
  setAttribute(name: string, value: string): void;
  /** Read an attribute (null when absent). */
  getAttribute(name: string): string | null;
}

/**
 * The members of a DOM document Observable Plot uses to build figures.
 *
 * @example
 * ```ts
 * import { plotDocument, type PlotDocument } from "@mmsim/mmsim";
 * const doc: PlotDocument = plotDocument();
 * const g = doc.createElementNS("http://www.w3.org/2000/svg", "g");
 * if (!g.outerHTML.startsWith("<g")) throw new Error(g.outerHTML);
 * ```
 */
export interface PlotDocument {
  /** document.createElement. */
  createElement(tagName: string): PlotElement;
  /** document.createElementNS (Plot creates every SVG node with it). */
  createElementNS(namespace: string, qualifiedName: string): PlotElement;
}

let cached: PlotDocument | undefined;

/**
 * The shared linkedom `document` Observable Plot renders into (created on the first call).
 * Pass it as Plot's `document` option, or use `plot()` which does so.
 *
 * @example
 * ```ts
 * import { plotDocument } from "@mmsim/mmsim";
 * const svg = plotDocument().createElementNS("http://www.w3.org/2000/svg", "svg");
 * if (svg.tagName.toLowerCase() !== "svg") throw new Error("not an svg element");
 * if (plotDocument() !== plotDocument()) throw new Error("document is not shared");
 * ```
 */
export function plotDocument(): PlotDocument {
  if (cached === undefined) {
    const window = parseHTML("<!DOCTYPE html><html><head></head><body></body></html>");
    // linkedom types its window as lib.dom's Window, which Deno's type library lacks.
    cached = (window as unknown as { document: PlotDocument }).document;
  }
  return cached;
}
