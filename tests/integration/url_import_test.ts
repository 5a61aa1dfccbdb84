/**
 * mod.ts works when imported by URL from a folder with no deno.json: the checkout is served on
 * 127.0.0.1 (a random free port, `.ts` as `text/plain`), and a script in a temporary folder
 * imports `http://127.0.0.1:PORT/mod.ts` and calls the public API with only the permissions
 * named for that host. Also checks that every import under lib/ and mod.ts is a relative path
 * or a versioned `npm:` specifier (no `jsr:`, `https:` or unversioned npm imports).
 */

import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";
import { ROOT } from "../../tools/_jupyter.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "text/plain; charset=utf-8",
  ".json": "application/json",
};

function serveCheckout(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    if (path.includes("..") || !/^\/(mod\.ts|lib\/.+\.ts)$/.test(path)) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(join(ROOT, path));
      return new Response(body, {
        headers: { "content-type": CONTENT_TYPES[extname(path)] ?? "text/plain" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

const SCRIPT = (base: string) => `
import {
  Engine, exhaustive, explore, figure, folioAlloc, folioPut, Mm, Mutex, PG, PhysMem, table,
} from "${base}/mod.ts";
const mem = new PhysMem({ nrFrames: 64 });
const found = explore((env: Engine) => {
  const a = new Mutex("A"), b = new Mutex("B");
  env.spawn("t1", function* (env) { yield* a.lock(env); yield env.point(); yield* b.lock(env); });
  env.spawn("t2", function* (env) { yield* b.lock(env); yield env.point(); yield* a.lock(env); });
}, { search: exhaustive() });
const m = new Mm(new Engine(), { memory: { nrFrames: 256 } });
const f = folioAlloc(m, 2);
folioPut(m, f);
mem.setFlag(3, PG.dirty);
const fig = figure('<svg width="4" height="4"><rect width="2" height="2"/></svg>');
console.log(JSON.stringify({
  dirty: mem.testFlag(3, PG.dirty),
  nrFrames: mem.nrFrames,
  table: table([{ pfn: 3, dirty: true }]).text,
  svg: fig.svg.startsWith("<svg xmlns="),
  deadlock: found.verdicts.deadlock,
  freedBackToBuddy: m.zone.nrFreePages === 256,
}));
`;

Deno.test({
  name: "mod.ts imported by URL from a folder without deno.json",
  sanitizeResources: false,
  fn: async () => {
    const server = serveCheckout();
    const host = `127.0.0.1:${server.addr.port}`;
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "mmsim-url-import-" });
    try {
      await Deno.writeTextFile(join(dir, "main.ts"), SCRIPT(`http://${host}`));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", `--allow-net=${host}`, `--allow-import=${host}`, "main.ts"],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `deno run exited with ${out.code}:\n${stderr}`);
      assert.deepEqual(JSON.parse(stdout), {
        dirty: true,
        nrFrames: 64,
        table: "pfn  dirty\n---  -----\n  3  true",
        svg: true,
        deadlock: "Sometimes",
        freedBackToBuddy: true,
      });
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("imports under lib/ and in mod.ts are relative or versioned npm: specifiers", async () => {
  const files = [join(ROOT, "mod.ts")];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ts")) files.push(p);
    }
  };
  await walk(join(ROOT, "lib"));
  const bad: string[] = [];
  for (const f of files) {
    const text = await Deno.readTextFile(f);
    for (
      const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/g)
    ) {
      const spec = m[1]!;
      const ok = spec.startsWith("./") || spec.startsWith("../") ||
        /^npm:(@[^/@]+\/)?[^/@]+@[\^~]?\d[^/]*(\/.*)?$/.test(spec) || spec.startsWith("node:");
      if (!ok) bad.push(`${f.slice(ROOT.length + 1)}: ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});
