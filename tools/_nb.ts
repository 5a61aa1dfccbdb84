/**
 * Building Jupyter notebooks (.ipynb, nbformat 4.5) from TypeScript: a notebook is a list of
 * `md()` and `code()` cells, written without outputs and with the mmsim kernel spec, so the
 * committed notebooks stay small, reviewable and reproducible. `tools/nbgen.ts` writes
 * `notebooks/<name>.ipynb` from each `tools/nbsrc/<name>.ts`.
 *
 * Private to the tools: `mod.ts` does not export it.
 *
 * @module
 */

/** A notebook cell as stored in .ipynb (nbformat 4.5, no outputs). */
export type NotebookCell =
  | { cell_type: "markdown"; id: string; metadata: Record<string, never>; source: string[] }
  | {
    cell_type: "code";
    id: string;
    metadata: Record<string, never>;
    source: string[];
    execution_count: null;
    outputs: never[];
  };

/** A cell before it gets its id. */
export type CellSpec = { kind: "markdown" | "code"; text: string };

/** A notebook as stored in .ipynb. */
export interface Notebook {
  cells: NotebookCell[];
  metadata: {
    kernelspec: { name: string; display_name: string; language: string };
    language_info: { name: string };
  };
  nbformat: 4;
  nbformat_minor: 5;
}

/** The kernel spec every mmsim notebook names (the checkout-local Deno kernel). */
export const KERNELSPEC = {
  name: "mmsim-deno",
  display_name: "Deno (mmsim)",
  language: "typescript",
} as const;

/** Remove the common indentation and the leading/trailing blank lines of a template string. */
export function dedent(text: string): string {
  const lines = text.replace(/^\s*\n/, "").replace(/\n\s*$/, "").split("\n");
  const indents = lines.filter((l) => l.trim() !== "").map((l) => l.match(/^ */)![0].length);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join("\n");
}

/** A markdown cell (text is dedented). */
export function md(text: string): CellSpec {
  return { kind: "markdown", text: dedent(text) };
}

/** A code cell (text is dedented). */
export function code(text: string): CellSpec {
  return { kind: "code", text: dedent(text) };
}

/** Jupyter's source form: lines, each ending in "\n" except the last. */
function sourceLines(text: string): string[] {
  const lines = text.split("\n");
  return lines.map((l, i) => (i < lines.length - 1 ? l + "\n" : l));
}

/** A notebook from cells; cell ids are `<prefix>-<n>` so regenerating gives the same file. */
export function notebook(prefix: string, cells: readonly CellSpec[]): Notebook {
  return {
    cells: cells.map((c, i): NotebookCell => {
      const id = `${prefix}-${String(i).padStart(2, "0")}`;
      const source = sourceLines(c.text);
      return c.kind === "markdown"
        ? { cell_type: "markdown", id, metadata: {}, source }
        : { cell_type: "code", id, metadata: {}, source, execution_count: null, outputs: [] };
    }),
    metadata: { kernelspec: { ...KERNELSPEC }, language_info: { name: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** The .ipynb text: JSON with one-space indent, as Jupyter writes it, and a final newline. */
export function serializeNotebook(nb: Notebook): string {
  return JSON.stringify(nb, null, 1) + "\n";
}

/**
 * What is wrong with a committed notebook (parsed .ipynb): outputs or execution counts left in,
 * a kernel spec other than mmsim's, missing cell ids. Empty when it is fine.
 */
export function committedNotebookProblems(nb: unknown): string[] {
  const problems: string[] = [];
  const n = nb as Partial<Notebook> & { cells?: Array<Record<string, unknown>> };
  const ks = n.metadata?.kernelspec;
  if (ks?.name !== KERNELSPEC.name) {
    problems.push(
      `metadata.kernelspec.name is ${JSON.stringify(ks?.name)}, expected "${KERNELSPEC.name}"`,
    );
  }
  if (n.metadata?.language_info?.name !== "typescript") {
    problems.push(`metadata.language_info.name is not "typescript"`);
  }
  (n.cells ?? []).forEach((c, i) => {
    if (typeof c.id !== "string") problems.push(`cell ${i} has no id`);
    if (c.cell_type !== "code") return;
    if (Array.isArray(c.outputs) && c.outputs.length > 0) problems.push(`cell ${i} has outputs`);
    if (c.execution_count !== null) problems.push(`cell ${i} has an execution_count`);
  });
  return problems;
}
