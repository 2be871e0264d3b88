/**
 * Per-process staging directories under `<root>/tmp`.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { readDirIfExists, removeIfExists } from "../io/fs.ts";
import { permissionGranted } from "../permissions.ts";
import { rootLayout } from "./layout.ts";

/** How often a live staging directory's mtime is refreshed. */
const HEARTBEAT_MS = 15_000;
/** A staging directory not refreshed for this long belongs to a process that is gone. */
const STALE_AFTER_MS = 4 * HEARTBEAT_MS;

/**
 * Whether a process with this ID is alive: `false` only when /proc says it
 * is gone, `undefined` where that cannot be told (no /proc, or Deno's
 * permissions keep /proc closed, as they do without --allow-all).
 */
async function processAlive(pid: number): Promise<boolean | undefined> {
  const path = `/proc/${pid}`;
  // Asked first: under scoped permissions Deno would prompt on a terminal.
  if (Deno.build.os !== "linux" || !permissionGranted({ name: "read", path })) return undefined;
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/**
 * A private directory under `<root>/tmp` for one command's temp files. Its
 * name carries the process ID and its mtime is refreshed while the command
 * runs, so that leftovers of a crashed process can be told from the work of
 * one still running.
 */
/** The file in a staging directory whose OS lock its command holds while it runs. */
const OWNER_LOCK = ".owner.lock";

/**
 * Whether the command owning a staging directory is gone: its owner lock
 * can be taken (the OS drops a dead process's locks at once). Undefined
 * when the directory has no owner lock (made by an older denocker).
 */
async function ownerGone(directory: string): Promise<boolean | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(directory, OWNER_LOCK), { read: true, write: true });
  } catch {
    return undefined;
  }
  try {
    return await file.tryLock(true);
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

export class Staging {
  /** The directory. */
  readonly path: string;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  readonly #owner: Deno.FsFile;

  private constructor(path: string, owner: Deno.FsFile) {
    this.path = path;
    this.#owner = owner;
    this.#heartbeat = setInterval(() => {
      const now = new Date();
      Deno.utime(this.path, now, now).catch(() => {});
    }, HEARTBEAT_MS);
    // The heartbeat must not keep a finished program alive.
    Deno.unrefTimer(Number(this.#heartbeat));
  }

  /**
   * Creates a staging directory (mode 0700: extracted layers may hold setuid files).
   *
   * @param root The denocker root.
   * @returns The staging directory.
   */
  static async create(root: string): Promise<Staging> {
    const tmp = rootLayout(root).tmp;
    await Deno.mkdir(tmp, { recursive: true, mode: 0o700 });
    const name = `${Deno.pid}-${crypto.randomUUID()}`;
    // Made under a hidden name and renamed once its owner lock is held, so that a staging
    // directory is never seen without one: a command killed in between leaves only a hidden
    // directory, removed once its heartbeat would count as stopped.
    const building = join(tmp, `.${name}`);
    await Deno.mkdir(building, { mode: 0o700 });
    // Held until dispose, or by the OS until this process dies: how others tell it is alive.
    const owner = await Deno.open(join(building, OWNER_LOCK), {
      read: true,
      write: true,
      createNew: true,
      mode: 0o600,
    });
    await owner.lock(true);
    const path = join(tmp, name);
    await Deno.rename(building, path);
    return new Staging(path, owner);
  }

  /** Removes the directory and everything in it. */
  async dispose(): Promise<void> {
    clearInterval(this.#heartbeat);
    try {
      this.#owner.close();
    } catch {
      // Already closed by an earlier dispose.
    }
    // A worker that was told to stop may finish the file it was writing a moment later, so
    // that "directory not empty" can happen once or twice; the removal is tried again.
    for (let attempt = 1;; attempt++) {
      try {
        await removeIfExists(this.path, { recursive: true });
        return;
      } catch (error) {
        if (attempt >= 5 || (error as { code?: string }).code !== "ENOTEMPTY") throw error;
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      }
    }
  }

  /**
   * Removes what crashed commands left in `<root>/tmp`: directories whose
   * command is gone, known at once by their owner lock (free once the
   * process died, with no need for /proc), else by /proc where it can be
   * read, else because their heartbeat stopped a minute ago; and stray
   * files as old as that.
   *
   * @param root The denocker root.
   * @returns How many entries were removed.
   */
  static async cleanStale(root: string): Promise<number> {
    const tmp = rootLayout(root).tmp;
    let removed = 0;
    for (const entry of await readDirIfExists(tmp)) {
      const path = join(tmp, entry.name);
      const pid = Number(/^\.?([0-9]+)-/.exec(entry.name)?.[1] ?? NaN);
      if (pid === Deno.pid) continue;
      let stale = entry.isDirectory ? await ownerGone(path) : undefined;
      if (stale === undefined && !Number.isNaN(pid) && (await processAlive(pid)) === false) {
        stale = true;
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
