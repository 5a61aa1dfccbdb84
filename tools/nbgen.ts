/**
 * Write `notebooks/<name>.ipynb` from each `tools/nbsrc/<name>.ts` (which exports
 * `cells: CellSpec[]`), without outputs and with the mmsim kernel spec.
 *
 *   deno run --allow-read --allow-write=notebooks tools/nbgen.ts          # write
 *   deno run --allow-read tools/nbgen.ts --check                          # exit 1 if stale
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { type CellSpec, notebook, serializeNotebook } from "./_nb.ts";
import { ROOT } from "./_jupyter.ts";

/** Generated notebook text for each source in tools/nbsrc, by notebook name. */
export async function generatedNotebooks(root: string = ROOT): Promise<Map<string, string>> {
  const srcDir = join(root, "tools", "nbsrc");
  const names: string[] = [];
  for await (const e of Deno.readDir(srcDir)) {
    if (e.isFile && e.name.endsWith(".ts")) names.push(e.name.replace(/\.ts$/, ""));
  }
  names.sort();
  const out = new Map<string, string>();
  for (const name of names) {
    const mod = await import(new URL(`./nbsrc/${name}.ts`, import.meta.url).href) as {
      cells: CellSpec[];
    };
    const prefix = name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
    out.set(name, serializeNotebook(notebook(prefix, mod.cells)));
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });
  let stale = 0;
  for (const [name, text] of await generatedNotebooks()) {
    const path = join(ROOT, "notebooks", `${name}.ipynb`);
    const current = await Deno.readTextFile(path).catch(() => "");
    if (current === text) continue;
    if (values.check) {
      console.error(`notebooks/${name}.ipynb is not what tools/nbsrc/${name}.ts generates`);
      stale++;
    } else {
      await Deno.writeTextFile(path, text);
      console.error(`wrote notebooks/${name}.ipynb`);
    }
  }
  if (stale > 0) {
    console.error("run: deno run --allow-read --allow-write=notebooks tools/nbgen.ts");
    Deno.exit(1);
  }
}
