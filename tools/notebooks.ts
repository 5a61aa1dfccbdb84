/**
 * `deno task notebooks [name…]`: execute every notebook (or the named ones) under the Deno
 * kernel with `jupyter nbconvert --execute`, write the executed notebooks and HTML copies to
 * `out/notebooks/`, and check each: no error outputs, at least one figure, the figure inline in
 * the HTML. Exits 1 if a notebook fails or Jupyter is missing (with how to install it).
 *
 * The kernel spec is written to `.jupyter/kernels/mmsim-deno/` in the checkout and put on
 * `JUPYTER_PATH`, so the user's Jupyter setup is never touched.
 *
 * @module
 */

import { relative } from "node:path";
import { parseArgs } from "node:util";
import {
  executeNotebook,
  findJupyter,
  INSTALL_HINT,
  listNotebooks,
  type NotebookRun,
  ROOT,
  writeKernelSpec,
} from "./_jupyter.ts";

/** Options of `runNotebooks`. */
export interface RunNotebooksOptions {
  /** Notebook names (with or without `.ipynb`); default: every notebook. */
  names?: readonly string[];
  /** Progress lines (one per notebook). */
  progress?: (msg: string) => void;
}

/** Outcome of `runNotebooks`: `missingJupyter` when there is no jupyter with nbconvert. */
export type RunNotebooksResult =
  | { missingJupyter: true; runs: [] }
  | { missingJupyter: false; jupyter: string; runs: NotebookRun[] };

/** Execute the notebooks; see the module doc. */
export async function runNotebooks(opts: RunNotebooksOptions = {}): Promise<RunNotebooksResult> {
  const jupyter = await findJupyter();
  if (jupyter === undefined) return { missingJupyter: true, runs: [] };
  const jupyterDir = await writeKernelSpec();
  let paths = await listNotebooks();
  if (opts.names !== undefined && opts.names.length > 0) {
    const wanted = new Set(opts.names.map((n) => n.replace(/^.*\//, "").replace(/\.ipynb$/, "")));
    paths = paths.filter((p) => wanted.has(p.replace(/^.*\//, "").replace(/\.ipynb$/, "")));
    if (paths.length !== wanted.size) {
      throw new Error(`Cannot run notebooks ${[...wanted].join(", ")}: not all are in notebooks/`);
    }
  }
  const runs: NotebookRun[] = [];
  for (const [i, path] of paths.entries()) {
    const t0 = performance.now();
    const r = await executeNotebook(path, { jupyter, jupyterDir });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    const status = r.problems.length === 0 ? `ok, ${r.figures} figure(s)` : "FAILED";
    opts.progress?.(
      `notebook ${i + 1}/${paths.length} ${relative(ROOT, path)}: ${status} (${s} s)`,
    );
    runs.push(r);
  }
  return { missingJupyter: false, jupyter, runs };
}

/** Print each failed notebook's problems to stderr. */
export function reportNotebookProblems(runs: readonly NotebookRun[]): void {
  for (const r of runs) {
    if (r.problems.length === 0) continue;
    console.error(`\n${relative(ROOT, r.input)} failed:`);
    for (const p of r.problems) console.error(p.replace(/^/gm, "  "));
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(
      "usage: deno task notebooks [name…]\n" +
        "Execute notebooks/*.ipynb under the Deno kernel into out/notebooks/ (.ipynb and .html).",
    );
    Deno.exit(0);
  }
  const result = await runNotebooks({ names: positionals, progress: (m) => console.error(m) });
  if (result.missingJupyter) {
    console.error(INSTALL_HINT);
    Deno.exit(1);
  }
  reportNotebookProblems(result.runs);
  const failed = result.runs.filter((r) => r.problems.length > 0).length;
  for (const r of result.runs) if (r.problems.length === 0) console.log(relative(ROOT, r.html));
  console.error(`${result.runs.length - failed} notebook(s) passed, ${failed} failed`);
  Deno.exit(failed > 0 ? 1 : 0);
}
