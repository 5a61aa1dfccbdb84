/**
 * Build the guest side: compile the FUSE server and the driver statically (the server against
 * libfuse3.a), and pack the busybox initramfs. One base archive holds busybox, `/init` and the
 * two programs; each kernel that needs modules gets a second archive with them, appended (the
 * kernel unpacks concatenated cpio archives in order).
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./_exec.ts";

/** This directory (the C sources and init.sh). */
export const SOURCE_DIR: string = dirname(fileURLToPath(import.meta.url));

/** True when the ELF file has no PT_INTERP program header (statically linked). */
export async function isStaticElf(path: string): Promise<boolean> {
  const b = await Deno.readFile(path);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    if (v.getUint32(phoff + i * phentsize, true) === 3) return false; // PT_INTERP
  }
  return true;
}

/** The static busybox of busybox-static. */
export async function findBusybox(): Promise<string> {
  for (const p of ["/bin/busybox", "/usr/bin/busybox"]) {
    try {
      if (await isStaticElf(p)) return p;
    } catch {
      // absent
    }
  }
  throw new Error("Cannot find a static busybox in /bin or /usr/bin (package busybox-static)");
}

/** Compiles `fuse_server` and `driver` into `outDir`; returns their paths. */
export async function compileGuestPrograms(
  outDir: string,
): Promise<{ fuseServer: string; driver: string }> {
  await Deno.mkdir(outDir, { recursive: true });
  const fuseServer = join(outDir, "fuse_server");
  const driver = join(outDir, "driver");
  const flags = ["-static", "-O2", "-s", "-Wall", "-Wextra"];
  await Promise.all([
    run("gcc", [
      ...flags,
      "-I/usr/include/fuse3",
      "-o",
      fuseServer,
      join(SOURCE_DIR, "fuse_server.c"),
      "-lfuse3",
      "-lpthread",
      "-ldl",
    ]),
    run("gcc", [...flags, "-o", driver, join(SOURCE_DIR, "driver.c")]),
  ]);
  return { fuseServer, driver };
}

/** Packs the tree at `dir` into a newc cpio archive `out`, every file owned by root. */
async function cpio(dir: string, out: string): Promise<void> {
  const list: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      list.push(relative(dir, p));
      if (e.isDirectory) walk(p);
    }
  };
  walk(dir);
  await run("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0", "-F", out], {
    cwd: dir,
    stdin: new TextEncoder().encode(list.sort().join("\n") + "\n"),
  });
}

/** Builds the base initramfs (busybox, /init, the two programs) at `out`. */
export async function buildBaseInitramfs(
  stage: string,
  out: string,
  programs: { fuseServer: string; driver: string },
): Promise<void> {
  await Deno.remove(stage, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(stage, "bin"), { recursive: true });
  await Deno.copyFile(await findBusybox(), join(stage, "bin/busybox"));
  await Deno.copyFile(programs.fuseServer, join(stage, "bin/fuse_server"));
  await Deno.copyFile(programs.driver, join(stage, "bin/driver"));
  await Deno.copyFile(join(SOURCE_DIR, "init.sh"), join(stage, "init"));
  for (const f of ["bin/busybox", "bin/fuse_server", "bin/driver", "init"]) {
    await Deno.chmod(join(stage, f), 0o755);
  }
  await cpio(stage, out);
}

/**
 * The initramfs for one kernel: the base archive, plus (when `modules` is not empty) an
 * archive with `/lib/modules/<name>.ko` and `/lib/modules/order` listing them in load order.
 */
export async function buildKernelInitramfs(
  base: string,
  stage: string,
  modules: string[],
  out: string,
): Promise<void> {
  const parts = [await Deno.readFile(base)];
  if (modules.length > 0) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    const dir = join(stage, "lib/modules");
    await Deno.mkdir(dir, { recursive: true });
    const names: string[] = [];
    for (const m of modules) {
      const name = m.split("/").pop()!;
      await Deno.copyFile(m, join(dir, name));
      names.push(name);
    }
    await Deno.writeTextFile(join(dir, "order"), names.join("\n") + "\n");
    await cpio(stage, `${out}.modules`);
    parts.push(await Deno.readFile(`${out}.modules`));
    await Deno.remove(`${out}.modules`);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  await Deno.writeFile(out, all);
}
