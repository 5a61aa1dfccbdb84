/**
 * Boot a kernel with the cross-check initramfs under QEMU (software emulation, one TCG thread:
 * multi-threaded TCG showed a rare guest panic on these machines), serial console on stdout,
 * and collect the driver's `MMSIM {json}` lines.
 *
 * @module
 */

import { spawn } from "./_exec.ts";

/** QEMU options common to every boot (kernel, initrd and command line come after). */
export const QEMU_ARGS: readonly string[] = [
  "-accel",
  "tcg,thread=single",
  "-m",
  "512",
  "-smp",
  "1",
  "-nodefaults",
  "-display",
  "none",
  "-serial",
  "stdio",
  "-no-reboot",
];

/** What one boot produced. */
export interface BootResult {
  /** The parsed `MMSIM {…}` objects, in order. */
  events: Record<string, unknown>[];
  /** "Kernel panic" appeared on the console. */
  panic: boolean;
  /** The boot was killed after the time limit. */
  timedOut: boolean;
  /** Wall-clock seconds. */
  seconds: number;
  /** Exit code of QEMU (null when killed). */
  code: number | null;
}

/** Extracts the `MMSIM {json}` objects of a console log (lines that do not parse are skipped). */
export function parseConsole(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const i = line.indexOf("MMSIM {");
    if (i < 0) continue;
    try {
      const v = JSON.parse(line.slice(i + 6));
      if (v && typeof v === "object") out.push(v as Record<string, unknown>);
    } catch {
      // interleaved with a kernel message: skip
    }
  }
  return out;
}

/** Options of {@link boot}. */
export interface BootOptions {
  /** The bzImage. */
  kernel: string;
  /** The initramfs. */
  initrd: string;
  /** Extra kernel command line words (`MMSIM_TEST=…` and friends). */
  cmdline: string[];
  /** Where the console log goes. */
  log: string;
  /** Kill QEMU after this long (default 240 s). */
  timeoutMs?: number;
}

/** Boots once; never throws for guest trouble (see the flags of the result). */
export async function boot(opts: BootOptions): Promise<BootResult> {
  const t0 = performance.now();
  const spawned = spawn("qemu-system-x86_64", {
    args: [
      ...QEMU_ARGS,
      "-kernel",
      opts.kernel,
      "-initrd",
      opts.initrd,
      "-append",
      ["console=ttyS0", "panic=-1", "loglevel=3", ...opts.cmdline].join(" "),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  if (!spawned) throw new Error("Cannot boot: qemu-system-x86_64 is not installed");
  const child = spawned.child;
  let timedOut = false;
  let done = false;
  let text = "";
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, opts.timeoutMs ?? 240_000);
  let grace: ReturnType<typeof setTimeout> | undefined;
  const decoder = new TextDecoder();
  const readOut = (async () => {
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      // After the guest says it is done, give it a few seconds to power off.
      if (!done && text.includes('"event":"done"')) {
        done = true;
        grace = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
        }, 15_000);
      }
    }
  })();
  const readErr = (async () => {
    let err = "";
    for await (const chunk of child.stderr) err += decoder.decode(chunk);
    return err;
  })();
  const status = await child.status;
  await readOut;
  const err = await readErr;
  clearTimeout(timer);
  if (grace !== undefined) clearTimeout(grace);
  await Deno.writeTextFile(opts.log, text + (err ? `\n--- qemu stderr ---\n${err}` : ""));
  return {
    events: parseConsole(text),
    panic: /Kernel panic/.test(text),
    timedOut,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    code: status.signal ? null : status.code,
  };
}

/** First line of `qemu-system-x86_64 --version`. */
export async function qemuVersion(): Promise<string> {
  const s = spawn("qemu-system-x86_64", { args: ["--version"], stdout: "piped", stderr: "null" });
  if (!s) return "not installed";
  const out = await s.child.output();
  return new TextDecoder().decode(out.stdout).split("\n")[0]!.trim();
}
