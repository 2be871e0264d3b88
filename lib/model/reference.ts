/**
 * Image references in every form docker accepts, e.g. `alpine`,
 * `ghcr.io/org/app:v1`, `localhost:5000/x@sha256:…`.
 *
 * @module
 */

import { parseDigest } from "./digest_syntax.ts";
import { InvalidReferenceError } from "../errors.ts";

/** Docker Hub's canonical registry name as it appears in references. */
export const DOCKER_HUB = "docker.io";

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`. */
  registry: string;
  /** Repository path, e.g. `library/alpine`. */
  repository: string;
  /** Tag, when one was given; `latest` is filled in when neither tag nor digest was given. */
  tag?: string;
  /** Digest (`sha256:<hex>`), when one was given. */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST_LABEL = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]+\]$/;
const MAX_NAME_LENGTH = 255;

function isDomain(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

function validateDomain(domain: string, input: string): void {
  let host = domain;
  const portMatch = /^(.*):([0-9]+)$/.exec(domain);
  if (portMatch) {
    host = portMatch[1];
    const port = Number(portMatch[2]);
    if (port < 1 || port > 65535) {
      throw new InvalidReferenceError(`Cannot parse reference "${input}": port out of range`);
    }
  }
  if (IPV6_HOST.test(host)) return;
  if (!host.split(".").every((label) => HOST_LABEL.test(label))) {
    throw new InvalidReferenceError(
      `Cannot parse reference "${input}": invalid registry host "${domain}"`,
    );
  }
}

/**
 * Parses an image reference and normalises Docker Hub names
 * (`alpine` becomes `docker.io/library/alpine:latest`).
 *
 * Throws an `InvalidInputError` naming what is wrong, before anything touches the
 * network or disk.
 *
 * @example
 * ```ts
 * import { parseReference } from "@denocker/denocker";
 * const ref = parseReference("alpine:3.20");
 * console.log(ref.registry, ref.repository, ref.tag); // docker.io library/alpine 3.20
 * ```
 *
 * @param input The reference as a user typed it.
 * @returns The normalised reference.
 */
export function parseReference(input: string): Reference {
  if (input.trim() === "") throw new InvalidReferenceError("Cannot parse reference: it is empty");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch (error) {
      throw new InvalidReferenceError(
        `Cannot parse reference "${input}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(
        `Cannot parse reference "${input}": invalid tag "${tag}" (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
      );
    }
  }
  if (rest === "") {
    throw new InvalidReferenceError(`Cannot parse reference "${input}": repository name is empty`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isDomain(parts[0])) {
    registry = parts.shift()!;
    validateDomain(registry, input);
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      const reason = /[A-Z]/.test(part)
        ? "repository name must be lowercase"
        : `invalid repository name component "${part}"`;
      throw new InvalidReferenceError(`Cannot parse reference "${input}": ${reason}`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(
      `Cannot parse reference "${input}": repository name longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository, tag, digest };
}

/**
 * The repository as docker prints it: `alpine`, `user/app`,
 * `ghcr.io/org/app`, `127.0.0.1:5000/team/app`.
 *
 * @param ref A parsed reference.
 * @returns The familiar repository name, without tag or digest.
 */
export function familiarName(ref: Pick<Reference, "registry" | "repository">): string {
  if (ref.registry !== DOCKER_HUB) return `${ref.registry}/${ref.repository}`;
  return ref.repository.startsWith("library/") && ref.repository.split("/").length === 2
    ? ref.repository.slice("library/".length)
    : ref.repository;
}

/**
 * The full reference string, e.g. `docker.io/library/alpine:3.20`.
 *
 * @param ref A parsed reference.
 * @returns The canonical string form.
 */
export function formatReference(ref: Reference): string {
  let text = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return text;
}

/**
 * The reference as docker prints it: `alpine:3.20`, `ghcr.io/org/app:v1`,
 * `alpine@sha256:…`.
 *
 * @param ref A parsed reference.
 * @returns The familiar string form.
 */
export function familiarReference(ref: Reference): string {
  let text = familiarName(ref);
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return text;
}

/**
 * The host to send API requests to: Docker Hub's API lives at
 * `registry-1.docker.io`, every other registry at its own name.
 *
 * @param registry Registry name from a reference.
 * @returns Host with optional port.
 */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
}
