/**
 * Looks up a user inside a running container, from a thread of its own:
 * the thread joins the container's mount namespace and so has that
 * namespace's root as its `/`, the container's own root, whatever its
 * processes have done with theirs (a first process that chroots elsewhere
 * cannot hand another /etc/passwd to the lookup). The rest of the process
 * keeps the host's file system. Used for containers run by an OCI runtime,
 * whose `exec` takes numeric ids.
 *
 * Protocol: one {@link UserLookup} in, one {@link UserLookupResult} out.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import {
  CLONE,
  closeRaw,
  joinNamespace,
  O,
  openProc,
  openRaw,
  readRegularFile,
  unshareFileSystem,
} from "./_libc.ts";
import { MAX_USER_DATABASE_BYTES, resolveUser, type UserIds } from "./user.ts";

/** What to look up: a user of the container whose first process is `pid`, started at `start`. */
export interface UserLookup {
  pid: number;
  start: string;
  user: string;
}

/** The ids, or why there are none. */
export type UserLookupResult = { ids: UserIds } | { error: string };

function processStart(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

self.onmessage = (event: MessageEvent<UserLookup>) => {
  const { pid, start, user } = event.data;
  let result: UserLookupResult;
  try {
    const namespace = openRaw(`/proc/${pid}/ns/mnt`, O.RDONLY);
    if (processStart(pid) !== start) throw new Error("the container is not running");
    // The host's procfs, where this thread is visible: files are reopened through it.
    const proc = openProc("/proc");
    unshareFileSystem();
    joinNamespace(namespace, CLONE.NEWNS);
    closeRaw(namespace);
    Deno.chdir("/");
    result = {
      ids: resolveUser((path) => readRegularFile(path, MAX_USER_DATABASE_BYTES, proc), user),
    };
    closeRaw(proc);
  } catch (error) {
    result = { error: (error as Error).message };
  }
  self.postMessage(result);
};
