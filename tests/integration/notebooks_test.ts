/**
 * Every notebook runs top to bottom under the Deno kernel (`jupyter nbconvert --execute`), with
 * no error output and at least one figure that survives into the HTML export. Also checks the
 * committed notebooks: no outputs, the mmsim kernel spec, in step with their tools/nbsrc source.
 *
 * Without Jupyter the execution test fails when `CI` is set and is skipped (with the reason
 * printed) otherwise.
 */

import assert from "node:assert/strict";
import { basename, join } from "node:path";
import {
  executeNotebook,
  findJupyter,
  INSTALL_HINT,
  listNotebooks,
  ROOT,
  writeKernelSpec,
} from "../../tools/_jupyter.ts";
import { committedNotebookProblems } from "../../tools/_nb.ts";
import { generatedNotebooks } from "../../tools/nbgen.ts";

const notebooks = await listNotebooks();
const jupyter = await findJupyter();
const onCI = (Deno.env.get("CI") ?? "") !== "" && Deno.env.get("CI") !== "false";

Deno.test("committed notebooks have no outputs, the mmsim kernel spec and match their sources", async (t) => {
  assert.ok(notebooks.length > 0, "no notebooks/*.ipynb found");
  const generated = await generatedNotebooks();
  for (const path of notebooks) {
    const name = basename(path, ".ipynb");
    await t.step(name, async () => {
      const text = await Deno.readTextFile(path);
      assert.deepEqual(committedNotebookProblems(JSON.parse(text)), [], `${name}.ipynb`);
      const source = generated.get(name);
      if (source !== undefined) {
        assert.ok(
          text === source,
          `notebooks/${name}.ipynb differs from tools/nbsrc/${name}.ts; regenerate it with ` +
            "deno run --allow-read --allow-write=notebooks tools/nbgen.ts",
        );
      }
    });
  }
});

if (jupyter === undefined && !onCI) {
  console.log(
    `notebooks_test: skipping notebook execution: no jupyter with nbconvert found.\n${INSTALL_HINT}`,
  );
}

Deno.test({
  name: "notebooks execute under the Deno kernel without errors and show a figure",
  ignore: jupyter === undefined && !onCI,
  // nbconvert and the kernel keep child processes and sockets of their own.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    if (jupyter === undefined) assert.fail(`CI is set but Jupyter is missing. ${INSTALL_HINT}`);
    const jupyterDir = await writeKernelSpec();
    const outDir = join(ROOT, "out", "test-notebooks");
    for (const path of notebooks) {
      await t.step(basename(path), async () => {
        const run = await executeNotebook(path, { jupyter, jupyterDir, outDir });
        assert.ok(run.problems.length === 0, `${basename(path)}:\n${run.problems.join("\n\n")}`);
        assert.ok(run.figures > 0);
      });
    }
  },
});
