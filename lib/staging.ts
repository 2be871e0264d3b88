/**
 * Per-process staging directories under `<root>/tmp`.
 *
 * @module
 */

import { join } from "node:path";

const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

/** Whether a process with this ID is alive (Linux), or `undefined` where that cannot be told. */
async function processAlive(pid: number): Promise<boolean | undefined> {
  if (Deno.build.os !== "linux") return undefined;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * A private directory under `<root>/tmp` for one command's temp files,
 * named after the process so that leftovers of a crashed process can be
 * told from the work of one still running.
 */
export class Staging {
  /** The directory. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Creates a staging directory (mode 0700: extracted layers may hold setuid files).
   *
   * @param root The denocker root.
   * @returns The staging directory.
   */
  static async create(root: string): Promise<Staging> {
    const tmp = join(root, "tmp");
    await Deno.mkdir(tmp, { recursive: true, mode: 0o700 });
    const path = join(tmp, `${Deno.pid}-${crypto.randomUUID()}`);
    await Deno.mkdir(path, { mode: 0o700 });
    return new Staging(path);
  }

  /** Removes the directory and everything in it. */
  async dispose(): Promise<void> {
    await Deno.remove(this.path, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /**
   * Removes what crashed commands left in `<root>/tmp`: directories of
   * processes that no longer run, and anything older than a day.
   *
   * @param root The denocker root.
   * @returns How many entries were removed.
   */
  static async cleanStale(root: string): Promise<number> {
    const tmp = join(root, "tmp");
    let removed = 0;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(tmp));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
    for (const entry of entries) {
      const path = join(tmp, entry.name);
      const pid = Number(/^([0-9]+)-/.exec(entry.name)?.[1] ?? NaN);
      let stale: boolean | undefined = undefined;
      if (!Number.isNaN(pid)) {
        stale = pid === Deno.pid ? false : (await processAlive(pid)) === false;
      }
      if (stale === undefined) {
        const info = await Deno.lstat(path).catch(() => undefined);
        stale = info !== undefined && Date.now() - (info.mtime?.getTime() ?? 0) > STALE_AFTER_MS;
      }
      if (stale) {
        await Deno.remove(path, { recursive: true }).catch(() => {});
        removed++;
      }
    }
    return removed;
  }
}
