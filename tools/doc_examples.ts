/**
 * `deno run --allow-read --allow-run tools/doc_examples.ts [--only lib/sim,lib/mm]`: check the
 * project rule "every public export has JSDoc with an `@example`". Runs `deno doc --json mod.ts`,
 * walks the symbols that `mod.ts` exports and exits 1 listing (file, name, kind; tab-separated)
 * every symbol none of whose declarations carries an `@example` tag. `deno test --doc` runs the
 * examples; this tool only checks that they exist.
 *
 * `--only` takes comma-separated paths relative to the checkout (a file or a directory); only
 * symbols declared there are checked.
 *
 * @module
 */

import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** The checkout this file belongs to. */
const ROOT: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** One declaration of a symbol in `deno doc --json` output (the fields used here). */
interface DocDeclaration {
  kind: string;
  location: { filename: string };
  jsDoc?: { tags?: { kind: string }[] };
}

/** One symbol of a module in `deno doc --json` output (the fields used here). */
interface DocSymbol {
  name: string;
  declarations: DocDeclaration[];
}

/** An exported symbol without an `@example`. */
export interface MissingExample {
  /** File of its first own declaration, relative to the checkout. */
  file: string;
  /** Exported name. */
  name: string;
  /** Kind of that declaration (`function`, `interface`, `variable`, `class`, `typeAlias`, …). */
  kind: string;
}

/** True if `file` is one of `prefixes` or lies below one of them. */
function under(file: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => {
    const q = p.replace(/^\.\//, "").replace(/\/+$/, "");
    return file === q || file.startsWith(q + "/");
  });
}

/**
 * The symbols exported by `mod.ts` that have no `@example` tag in any declaration, sorted by
 * file then name; with `only`, just those declared under one of those paths.
 */
export async function missingExamples(only?: readonly string[]): Promise<MissingExample[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot run deno doc --json mod.ts: exit code ${out.code}\n` +
        new TextDecoder().decode(out.stderr),
    );
  }
  const json = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes?: Record<string, { symbols?: DocSymbol[] }>;
  };
  const modUrl = new URL("mod.ts", `file://${ROOT}/`).href;
  const symbols = json.nodes?.[modUrl]?.symbols;
  if (symbols === undefined) {
    throw new Error(`Cannot read deno doc output: no node ${modUrl} with symbols`);
  }
  const missing: MissingExample[] = [];
  for (const sym of symbols) {
    const hasExample = sym.declarations.some((d) =>
      (d.jsDoc?.tags ?? []).some((t) => t.kind === "example")
    );
    if (hasExample) continue;
    const decl = sym.declarations.find((d) => d.kind !== "reference") ?? sym.declarations[0];
    if (decl === undefined) continue;
    const file = relative(ROOT, fileURLToPath(decl.location.filename));
    if (only !== undefined && !under(file, only)) continue;
    missing.push({ file, name: sym.name, kind: decl.kind });
  }
  missing.sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
  return missing;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno run --allow-read --allow-run tools/doc_examples.ts [--only path,path…]\n" +
        "Lists mod.ts exports without an @example (file, name, kind); exits 1 if any.",
    );
    Deno.exit(0);
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const missing = await missingExamples(only);
  if (missing.length > 0) {
    for (const m of missing) console.log(`${m.file}\t${m.name}\t${m.kind}`);
    console.error(`${missing.length} exported symbol(s) without an @example`);
    Deno.exit(1);
  }
  console.error("every checked export has an @example");
}
