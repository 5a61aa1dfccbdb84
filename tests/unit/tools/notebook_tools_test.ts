import assert from "node:assert/strict";
import {
  describeCellError,
  htmlHasInlineFigure,
  inspectNotebook,
} from "../../../tools/_jupyter.ts";
import {
  code,
  committedNotebookProblems,
  dedent,
  md,
  notebook,
  serializeNotebook,
} from "../../../tools/_nb.ts";

Deno.test("notebook builds nbformat 4.5 cells with stable ids and no outputs", () => {
  const nb = notebook("t", [
    md("# Title\n  text"),
    code(`
    const x = 1;
    await mm.show(x);
  `),
  ]);
  assert.deepEqual(nb.cells.map((c) => c.id), ["t-00", "t-01"]);
  assert.deepEqual(nb.cells[1]?.source, ["const x = 1;\n", "await mm.show(x);"]);
  assert.equal(nb.metadata.kernelspec.name, "mmsim-deno");
  assert.deepEqual(committedNotebookProblems(JSON.parse(serializeNotebook(nb))), []);
  assert.equal(dedent("\n    a\n      b\n    "), "a\n  b");
});

Deno.test("committedNotebookProblems names outputs, counts and kernel spec", () => {
  const nb = JSON.parse(serializeNotebook(notebook("t", [code("1")]))) as {
    cells: Array<Record<string, unknown>>;
    metadata: { kernelspec: { name: string } };
  };
  nb.cells[0]!.outputs = [{ output_type: "stream" }];
  nb.cells[0]!.execution_count = 3;
  nb.metadata.kernelspec.name = "deno";
  assert.deepEqual(committedNotebookProblems(nb), [
    'metadata.kernelspec.name is "deno", expected "mmsim-deno"',
    "cell 0 has outputs",
    "cell 0 has an execution_count",
  ]);
});

Deno.test("inspectNotebook finds errors and figures; describeCellError hints at deno eval", () => {
  const executed = {
    cells: [
      { cell_type: "markdown", source: "# x" },
      {
        cell_type: "code",
        source: ['import { a } from "../mod.ts";'],
        execution_count: 1,
        outputs: [{
          output_type: "error",
          ename: "TypeError",
          evalue: "Module not found",
          traceback: ["\x1b[31mTypeError\x1b[0m: Module not found"],
        }],
      },
      {
        cell_type: "code",
        source: "await mm.show(fig)",
        execution_count: 2,
        outputs: [{
          output_type: "display_data",
          data: { "text/html": ["<figure><svg>", "</svg>"] },
        }],
      },
      { cell_type: "code", source: "", execution_count: null, outputs: [] },
    ],
  };
  const found = inspectNotebook(executed);
  assert.equal(found.figures, 1);
  assert.equal(found.unexecuted, 1);
  assert.equal(found.errors.length, 1);
  assert.deepEqual(found.errors[0]?.traceback, ["TypeError: Module not found"]);
  const text = describeCellError(found.errors[0]!, "/repo/notebooks/x.ipynb");
  assert.match(text, /cell 1 raised TypeError: Module not found/);
  assert.match(text, /deno eval 'await import\("\/repo\/mod\.ts"\)'/);
});

Deno.test("htmlHasInlineFigure wants an svg with drawn elements", () => {
  assert.equal(htmlHasInlineFigure("<p>no figure</p>"), false);
  assert.equal(htmlHasInlineFigure('<svg width="1"></svg>'), false);
  assert.equal(htmlHasInlineFigure('<div><svg><g><rect width="1"/></g></svg></div>'), true);
});
