/**
 * Fetch one kernel series: resolve the package, download, unpack with `dpkg-deb -x`, keep the
 * image, its config and (when FUSE is a module, as in 6.1) fuse.ko with its dependencies, then
 * drop the unpacked tree. A finished fetch is recorded in `kernel.json` and reused while the
 * archive still offers the same package version.
 *
 * Layout: `out/crosscheck/kernels/<series>/{vmlinuz,config,modules/,kernel.json}`.
 *
 * @module
 */

import { basename, join, relative } from "node:path";
import {
  downloadPackages,
  hostDebianArchive,
  type KernelChoice,
  modulesPackage,
  privateApt,
  privateAptUpdate,
  resolveKernel,
  unpack,
} from "./_apt.ts";
import { run } from "./_exec.ts";
import type { KernelInfo, SeriesId } from "./types.ts";

/** The suite each series comes from when the host's own sources do not carry it. */
const PRIVATE_SUITE: Partial<Record<SeriesId, string>> = { "7.x": "trixie-backports" };

/** A fetched kernel: its description and local files. */
export interface FetchedKernel {
  /** Description (goes into observations.json). */
  info: KernelInfo & { status: "ok" };
  /** The bzImage. */
  vmlinuz: string;
  /** Module files to load in the guest, in order (already decompressed). */
  modulePaths: string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function* walk(dir: string): Generator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}

/** Finds vmlinuz, config and the modules directory in an unpacked kernel package tree. */
function locate(
  root: string,
): { vmlinuz?: string; config?: string; modulesDir?: string; release?: string } {
  const out: { vmlinuz?: string; config?: string; modulesDir?: string; release?: string } = {};
  for (const f of walk(root)) {
    const rel = relative(root, f);
    let m: RegExpExecArray | null;
    if ((m = /^boot\/vmlinuz-(.+)$/.exec(rel))) [out.vmlinuz, out.release] = [f, m[1]!];
    else if ((m = /^(?:usr\/)?lib\/modules\/([^/]+)\/vmlinuz$/.exec(rel))) {
      [out.vmlinuz, out.release] = [f, m[1]!];
    } else if (/^boot\/config-/.test(rel) || /^(?:usr\/)?lib\/modules\/[^/]+\/config$/.test(rel)) {
      out.config = f;
    }
    if ((m = /^((?:usr\/)?lib\/modules\/[^/]+)\/kernel\//.exec(rel))) {
      out.modulesDir = join(root, m[1]!);
    }
  }
  return out;
}

const modName = (path: string) =>
  basename(path).replace(/\.ko(\.xz|\.zst|\.gz)?$/, "").replace(/-/g, "_");

/** Decompresses a module into `dest` (busybox insmod takes plain .ko files). */
async function plainModule(src: string, dest: string): Promise<void> {
  if (src.endsWith(".ko")) {
    await Deno.copyFile(src, dest);
  } else if (src.endsWith(".ko.xz")) {
    await Deno.writeFile(dest, new TextEncoder().encode((await run("xz", ["-dc", src])).stdout));
  } else {
    throw new Error(`Cannot load module ${src}: unsupported compression`);
  }
}

/** The `depends=` field of a module's .modinfo section. */
function moduleDepends(bytes: Uint8Array): string[] {
  const key = new TextEncoder().encode("depends=");
  outer: for (let i = 0; i + key.length < bytes.length; i++) {
    for (let k = 0; k < key.length; k++) if (bytes[i + k] !== key[k]) continue outer;
    if (i > 0 && bytes[i - 1] !== 0) continue;
    let j = i + key.length;
    while (j < bytes.length && bytes[j] !== 0) j++;
    return new TextDecoder().decode(bytes.subarray(i + key.length, j)).split(",").filter(Boolean);
  }
  return [];
}

/** Copies fuse.ko and its dependencies (dependencies first) into `dest`. */
async function collectFuseModules(modulesDir: string, dest: string): Promise<string[]> {
  const byName = new Map<string, string>();
  for (const f of walk(modulesDir)) {
    if (/\.ko(\.xz|\.zst|\.gz)?$/.test(f)) byName.set(modName(f), f);
  }
  await Deno.mkdir(dest, { recursive: true });
  const order: string[] = [];
  const visit = async (name: string, stack: string[]) => {
    if (order.includes(`${name}.ko`) || stack.includes(name)) return;
    const src = byName.get(name);
    if (!src) throw new Error(`Cannot find module ${name} (needed for fuse) under ${modulesDir}`);
    if (src.endsWith(".zst")) {
      const out = join(dest, `${name}.ko`);
      await run("zstd", ["-q", "-d", "-f", "-o", out, src]);
    } else {
      await plainModule(src, join(dest, `${name}.ko`));
    }
    for (const dep of moduleDepends(await Deno.readFile(join(dest, `${name}.ko`)))) {
      await visit(dep.replace(/-/g, "_"), [...stack, name]);
    }
    order.push(`${name}.ko`);
  };
  await visit("fuse", []);
  return order;
}

/** apt `-o` options per series: [] for the host's configuration, or a private one. */
export async function aptOptionsFor(series: SeriesId, privateDir: string): Promise<string[]> {
  const suite = PRIVATE_SUITE[series];
  if (!suite) return [];
  const archive = await hostDebianArchive();
  if (!archive) {
    throw new Error("Cannot add " + suite + ": no Debian archive in the host's apt sources");
  }
  const opts = await privateApt(join(privateDir, suite), suite, archive);
  await privateAptUpdate(opts);
  return opts;
}

/**
 * Resolves, downloads and unpacks the newest kernel of a series into `dir`, or reuses an
 * earlier fetch of the same package version. Throws with the reason when the series is
 * unavailable.
 */
export async function fetchKernel(
  series: SeriesId,
  dir: string,
  aptOpts: string[],
  log: (msg: string) => void,
): Promise<FetchedKernel> {
  const choice: KernelChoice | undefined = await resolveKernel(series, aptOpts);
  if (!choice) {
    throw new Error(`no linux-image/linux-binary package of series ${series} in the apt indexes`);
  }
  const metaPath = join(dir, "kernel.json");
  if (await exists(metaPath)) {
    const prev = JSON.parse(await Deno.readTextFile(metaPath)) as KernelInfo & { status: "ok" };
    if (
      prev.packages[0] === choice.image.name && prev.version === choice.image.version &&
      await exists(join(dir, "vmlinuz"))
    ) {
      log(`${series}: reusing ${choice.image.name} ${choice.image.version}`);
      return {
        info: { ...prev, cached: true },
        vmlinuz: join(dir, "vmlinuz"),
        modulePaths: prev.modules.map((m) => join(dir, "modules", m)),
      };
    }
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const pkgs = [choice.image, ...choice.extra];
  log(`${series}: apt-get download ${pkgs.map((p) => `${p.name}=${p.version}`).join(" ")}`);
  const debDir = join(dir, "debs");
  const root = join(dir, "root");
  for (const deb of await downloadPackages(pkgs, debDir, aptOpts)) await unpack(deb, root);
  let found = locate(root);
  const vmlinuz = found.vmlinuz;
  const release = found.release;
  if (!vmlinuz || !release) {
    throw new Error(`no vmlinuz in ${pkgs.map((p) => p.name).join(", ")}`);
  }
  const config = found.config ? await Deno.readTextFile(found.config) : "";
  const fuseOpt = /^CONFIG_FUSE_FS=(y|m)$/m.exec(config)?.[1] as "y" | "m" | undefined;
  let modules: string[] = [];
  if (fuseOpt === "m" || (!fuseOpt && !found.config)) {
    const hasFuse = found.modulesDir &&
      [...walk(found.modulesDir)].some((f) => modName(f) === "fuse");
    if (!hasFuse) {
      const mp = await modulesPackage(choice.id, aptOpts);
      if (mp) {
        log(`${series}: FUSE is a module; apt-get download ${mp.name}=${mp.version}`);
        pkgs.push(mp);
        for (const deb of await downloadPackages([mp], debDir, aptOpts)) await unpack(deb, root);
        found = { ...locate(root), vmlinuz, release };
      }
    }
    if (found.modulesDir) {
      modules = await collectFuseModules(found.modulesDir, join(dir, "modules"));
    } else if (fuseOpt === "m") {
      throw new Error(`CONFIG_FUSE_FS=m but no modules found for ${choice.id}`);
    }
  }
  await Deno.copyFile(vmlinuz, join(dir, "vmlinuz"));
  if (found.config) await Deno.copyFile(found.config, join(dir, "config"));
  await Deno.remove(root, { recursive: true });
  await Deno.remove(debDir, { recursive: true });
  const info: KernelInfo & { status: "ok" } = {
    series,
    status: "ok",
    packages: pkgs.map((p) => p.name),
    version: choice.image.version,
    release,
    kernelVersion: choice.kernelVersion,
    fuse: fuseOpt ?? "unknown",
    modules,
    cached: false,
  };
  await Deno.writeTextFile(metaPath, JSON.stringify(info, null, 2) + "\n");
  return {
    info,
    vmlinuz: join(dir, "vmlinuz"),
    modulePaths: modules.map((m) => join(dir, "modules", m)),
  };
}
