/**
 * Running mmsim's notebooks in Jupyter without touching the user's Jupyter setup: find a
 * `jupyter` that has nbconvert, write a checkout-local kernel spec for the Deno kernel, execute
 * each notebook with `jupyter nbconvert --execute`, export it to HTML and check the results
 * (no error outputs, at least one figure, the figure inline in the HTML).
 *
 * Used by `tools/notebooks.ts`, `tools/reproduce.ts` and `tests/integration/notebooks_test.ts`.
 * Private to the tools: `mod.ts` does not export it.
 *
 * @module
 */

import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Name of the checkout-local kernel spec (notebook metadata `kernelspec.name`). */
export const KERNEL_NAME = "mmsim-deno";
/** Display name of the kernel spec. */
export const KERNEL_DISPLAY_NAME = "Deno (mmsim)";

/** The checkout this file belongs to. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** How to install what notebook execution needs (Debian packages). */
export const INSTALL_HINT =
  "Jupyter with nbconvert is not installed. On Debian or Ubuntu install it with\n" +
  "  sudo apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient\n" +
  "(or `pip install nbconvert nbclient` in a Python that has `jupyter` on PATH).";

const decoder = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: String(e) };
    throw e;
  }
}

/**
 * A `jupyter` command whose Python can import nbconvert: `/usr/bin/jupyter` (Debian's) first,
 * then `jupyter` on PATH (the first `python3` on PATH may be another interpreter without it).
 * Returns undefined when there is none.
 */
export async function findJupyter(): Promise<string | undefined> {
  for (const candidate of ["/usr/bin/jupyter", "jupyter"]) {
    const r = await run(candidate, ["nbconvert", "--version"]);
    if (r.code === 0) return candidate;
  }
  return undefined;
}

/**
 * Write `<root>/.jupyter/kernels/mmsim-deno/kernel.json`, which starts the Deno kernel with the
 * running Deno executable, and the nbconvert config (`NBCONVERT_CONFIG`). Returns the folder to
 * put on `JUPYTER_PATH`. (`deno jupyter
 * --install` writes to the user's data dir and ignores `JUPYTER_DATA_DIR`, hence a written spec.)
 */
export async function writeKernelSpec(root: string = ROOT): Promise<string> {
  const jupyterDir = join(root, ".jupyter");
  const kernelDir = join(jupyterDir, "kernels", KERNEL_NAME);
  await Deno.mkdir(kernelDir, { recursive: true });
  const spec = {
    argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
    env: { NO_COLOR: "1" },
  };
  await Deno.writeTextFile(join(kernelDir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  const configDir = join(jupyterDir, "config");
  await Deno.mkdir(configDir, { recursive: true });
  await Deno.writeTextFile(join(configDir, "jupyter_nbconvert_config.py"), NBCONVERT_CONFIG);
  return jupyterDir;
}

/**
 * nbconvert configuration written to `<root>/.jupyter/config/jupyter_nbconvert_config.py`.
 *
 * The Deno kernel (2.x) sometimes publishes a cell's display output a moment *after* the cell's
 * `status: idle` message (seen with both bare results and `Deno.jupyter.display`, more often on
 * a loaded machine); nbclient stops reading a cell's outputs at `idle` and drops them. This
 * config keeps reading that cell's outputs until the kernel has been quiet for a short grace
 * period. It patches nbclient's output poller (present in nbclient 0.5 … 0.10) and leaves
 * nbclient alone if the poller is not there.
 */
export const NBCONVERT_CONFIG =
  `# Written by mmsim tools/_jupyter.ts; see NBCONVERT_CONFIG there. Do not edit.
import queue

try:
    from nbclient.client import NotebookClient
    from nbclient.exceptions import CellExecutionComplete
    try:
        from jupyter_core.utils import ensure_async
    except ImportError:
        from nbclient.util import ensure_async
except ImportError:
    NotebookClient = None

GRACE_SECONDS = 0.3

if NotebookClient is not None and hasattr(NotebookClient, "_async_poll_output_msg"):

    async def _poll_output_msg_with_grace(self, parent_msg_id, cell, cell_index):
        idle = False
        while True:
            try:
                msg = await ensure_async(
                    self.kc.iopub_channel.get_msg(timeout=GRACE_SECONDS if idle else None)
                )
            except queue.Empty:
                return
            if msg["parent_header"].get("msg_id") != parent_msg_id:
                continue
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                idle = True

    NotebookClient._async_poll_output_msg = _poll_output_msg_with_grace
`;

/** Environment for jupyter: the local kernel spec first, runtime and config files local too. */
function jupyterEnv(jupyterDir: string): Record<string, string> {
  return {
    JUPYTER_PATH: jupyterDir,
    JUPYTER_RUNTIME_DIR: join(jupyterDir, "runtime"),
    JUPYTER_CONFIG_DIR: join(jupyterDir, "config"),
    NO_COLOR: "1",
  };
}

/** An error output of an executed notebook, with the cell that raised it. */
export interface CellError {
  /** Index of the cell in the notebook (0-based). */
  cell: number;
  /** The cell's source. */
  source: string;
  /** Error name, e.g. `TypeError`. */
  ename: string;
  /** Error message. */
  evalue: string;
  /** Traceback lines, ANSI colours removed. */
  traceback: string[];
}

/** What `inspectNotebook` finds in an executed notebook. */
export interface NotebookInspection {
  /** Error outputs, in cell order. */
  errors: CellError[];
  /** Outputs that carry a figure (`image/svg+xml`, or `<svg` in `text/html`). */
  figures: number;
  /** Code cells that were not executed (execution_count null). */
  unexecuted: number;
}

interface NbOutput {
  output_type: string;
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

interface NbCell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: NbOutput[];
}

const joinText = (v: string | string[] | undefined): string =>
  v === undefined ? "" : Array.isArray(v) ? v.join("") : v;
// deno-lint-ignore no-control-regex
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

/** Find error outputs and figures in an executed notebook (parsed .ipynb JSON). */
export function inspectNotebook(nb: { cells: NbCell[] }): NotebookInspection {
  const errors: CellError[] = [];
  let figures = 0;
  let unexecuted = 0;
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== "code") return;
    if (cell.execution_count === null || cell.execution_count === undefined) unexecuted++;
    for (const out of cell.outputs ?? []) {
      if (out.output_type === "error") {
        errors.push({
          cell: i,
          source: joinText(cell.source),
          ename: out.ename ?? "",
          evalue: out.evalue ?? "",
          traceback: (out.traceback ?? []).map(stripAnsi),
        });
      }
      const data = out.data ?? {};
      if (data["image/svg+xml"] !== undefined || joinText(data["text/html"]).includes("<svg")) {
        figures++;
      }
    }
  });
  return { errors, figures, unexecuted };
}

/** Does exported HTML show a figure inline: an `<svg>` with drawn elements inside? */
export function htmlHasInlineFigure(html: string): boolean {
  for (const m of html.matchAll(/<svg\b[\s\S]*?<\/svg>/g)) {
    if (/<(path|rect|circle|line|g)\b/.test(m[0])) return true;
  }
  return false;
}

/** The result of executing one notebook. */
export interface NotebookRun {
  /** Notebook name without `.ipynb`. */
  name: string;
  /** The notebook executed. */
  input: string;
  /** The executed notebook (with outputs). */
  executed: string;
  /** The HTML export. */
  html: string;
  /** What went wrong; empty when the notebook passed. */
  problems: string[];
  /** Error outputs of the executed notebook. */
  errors: CellError[];
  /** Figure outputs. */
  figures: number;
}

/** Options of `executeNotebook`. */
export interface ExecuteOptions {
  /** The jupyter command (from `findJupyter`). */
  jupyter: string;
  /** Folder holding `kernels/mmsim-deno` (from `writeKernelSpec`). */
  jupyterDir: string;
  /** Where executed notebooks and HTML go (default `<root>/out/notebooks`). */
  outDir?: string;
  /** Per-cell timeout in seconds (default 600). */
  timeoutSec?: number;
}

/**
 * Execute a notebook under the mmsim Deno kernel into `outDir`, export it to HTML, and check it:
 * no error outputs, at least one figure, and the figure inline in the HTML.
 */
export async function executeNotebook(input: string, opts: ExecuteOptions): Promise<NotebookRun> {
  const name = basename(input).replace(/\.ipynb$/, "");
  const outDir = opts.outDir ?? join(ROOT, "out", "notebooks");
  await Deno.mkdir(outDir, { recursive: true });
  const executed = join(outDir, `${name}.ipynb`);
  const html = join(outDir, `${name}.html`);
  const result: NotebookRun = { name, input, executed, html, problems: [], errors: [], figures: 0 };
  const env = jupyterEnv(opts.jupyterDir);
  await Deno.remove(executed).catch(() => {});
  await Deno.remove(html).catch(() => {});
  // --allow-errors: keep executing and write the notebook, so the failing cell can be shown.
  const exec = await run(opts.jupyter, [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    "--allow-errors",
    `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
    `--ExecutePreprocessor.timeout=${opts.timeoutSec ?? 600}`,
    "--output-dir",
    outDir,
    "--output",
    name,
    input,
  ], env);
  if (exec.code !== 0) {
    result.problems.push(
      `jupyter nbconvert --execute exited with ${exec.code}:\n${tail(stripAnsi(exec.stderr), 40)}`,
    );
    return result;
  }
  const nb = JSON.parse(await Deno.readTextFile(executed)) as { cells: NbCell[] };
  const found = inspectNotebook(nb);
  result.errors = found.errors;
  result.figures = found.figures;
  for (const e of found.errors) result.problems.push(describeCellError(e, input));
  if (found.unexecuted > 0) result.problems.push(`${found.unexecuted} code cells did not run`);
  if (found.figures === 0) {
    result.problems.push(
      "no figure: no output has image/svg+xml or <svg> in text/html (show a Figure from mod.ts)",
    );
  }
  const exp = await run(opts.jupyter, [
    "nbconvert",
    "--to",
    "html",
    "--output-dir",
    outDir,
    executed,
  ], env);
  if (exp.code !== 0) {
    result.problems.push(
      `jupyter nbconvert --to html exited with ${exp.code}:\n${tail(exp.stderr, 20)}`,
    );
    return result;
  }
  if (found.figures > 0 && !htmlHasInlineFigure(await Deno.readTextFile(html))) {
    result.problems.push(
      `${relative(ROOT, html)} has no inline <svg> with drawn elements: nbconvert's sanitizer ` +
        "drops bare image/svg+xml outputs; figures need a text/html copy (use figure()/plot())",
    );
  }
  return result;
}

/** The failing cell's source, the error, and how to see an import error in full. */
export function describeCellError(e: CellError, notebook: string): string {
  const lines = [
    `cell ${e.cell} raised ${e.ename}: ${e.evalue}`,
    "--- cell source ---",
    e.source,
    "--- traceback ---",
    ...e.traceback.slice(0, 20),
  ];
  const specifiers = [
    ...e.source.matchAll(/\bfrom\s+["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']/g),
  ]
    .map((m) => m[1] ?? m[2] ?? "");
  if (specifiers.length > 0) {
    const dir = resolve(notebook, "..");
    const spec = specifiers[0]!;
    const target = spec.startsWith(".") ? resolve(dir, spec) : spec;
    lines.push(
      "--- hint ---",
      "The kernel may hide why an import failed. Run the import on its own to see the full error:",
      `  deno eval 'await import("${target}")'`,
    );
  }
  return lines.join("\n");
}

function tail(text: string, n: number): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

/** The notebooks of the checkout (`notebooks/*.ipynb`), sorted by name. */
export async function listNotebooks(root: string = ROOT): Promise<string[]> {
  const dir = join(root, "notebooks");
  const found: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ipynb") && !e.name.startsWith(".")) {
      found.push(join(dir, e.name));
    }
  }
  return found.sort();
}
