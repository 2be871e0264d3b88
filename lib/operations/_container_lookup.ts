/**
 * Finding the container a command names, and waiting on its processes:
 * what the container operations share.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { lstatIfExists } from "../io/fs.ts";
import { requireAllPermissions } from "../permissions.ts";
import { type ContainerRecord, ContainerStore, isAlive } from "../runtime/containers.ts";

/** The container `name` names (name, ID or ID prefix) among the store's, if it has any. */
export function lookUp(
  containers: ContainerStore | undefined,
  name: string,
): Promise<ContainerRecord> {
  if (!containers) {
    throw new InvalidInputError(`Cannot find container "${name}": no such container`);
  }
  return containers.find(name);
}

/** The store's containers and the one `name` names. */
export async function findContainer(
  name: string,
  options: StoreOptions,
): Promise<{ containers: ContainerStore; record: ContainerRecord }> {
  const containers = await containersOf(options);
  const record = await lookUp(containers, name);
  return { containers: containers!, record };
}

/** The store's containers (orphans cleaned), or undefined when it has none. */
export async function containersOf(options: StoreOptions): Promise<ContainerStore | undefined> {
  requireAllPermissions("manage containers");
  const store = await storeOf(options);
  const containers = new ContainerStore(store.root);
  if (!(await lstatIfExists(containers.directory))) return undefined;
  await containers.reap();
  return containers;
}

/** Whether a container runs: recorded so, and its first process alive. */
export async function running(record: ContainerRecord): Promise<boolean> {
  return record.state === "running" && await isAlive(record.process);
}

/** Waits until a process is gone, up to `ms`; whether it is. */
export async function waitGone(record: ContainerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await isAlive(record.process))) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !(await isAlive(record.process));
}

/**
 * Waits until the `denocker run` of a container has recorded its end (or
 * is gone, when the record is then cleaned here).
 */
export async function settled(containers: ContainerStore, id: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const record = await containers.read(id);
    if (!record || record.state === "exited") return;
    if (!(await isAlive(record.owner))) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await containers.reap();
}

/** The host PIDs of every process in a container's PID namespace. */
export async function namespaceMembers(pid: number): Promise<number[]> {
  const namespace = await Deno.readLink(`/proc/${pid}/ns/pid`);
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^[0-9]+$/.test(entry.name)) continue;
    const link = await Deno.readLink(`/proc/${entry.name}/ns/pid`).catch(() => "");
    if (link === namespace) members.push(Number(entry.name));
  }
  return members.sort((a, b) => a - b);
}
