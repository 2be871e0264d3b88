/**
 * A build context: the directory a Dockerfile's `COPY` and `ADD` read
 * from, with `.dockerignore` applied, and what a source names in it
 * (wildcards expanded, never a path outside it), with a digest of its
 * files for the build cache.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "../io/path.ts";
import { InvalidInputError } from "../errors.ts";
import { lstatIfExists } from "../io/fs.ts";
import { cleanPath, hasWildcards, IgnoreRules, patternRegExp } from "./ignore.ts";

/** One source a COPY names: a path of the context (or of a stage's tree). */
export interface Source {
  /** Its path relative to the tree (`""`: the tree itself). */
  relative: string;
  /** Its host path. */
  path: string;
  /** Its status. */
  info: Deno.FileInfo;
}

/** A tree COPY reads from: a build context, or a stage's or image's files. */
export class SourceTree {
  readonly root: string;
  readonly #rules: IgnoreRules;

  /**
   * @param root The tree's directory.
   * @param ignore A `.dockerignore`'s text (none for a stage's tree).
   */
  constructor(root: string, ignore = "") {
    this.root = root;
    this.#rules = new IgnoreRules(ignore);
  }

  /** Reads a context directory with its `.dockerignore`. */
  static async context(root: string): Promise<SourceTree> {
    const info = await lstatIfExists(root);
    if (!info?.isDirectory) {
      throw new InvalidInputError(`Cannot build: the context ${root} is not a directory`);
    }
    const ignore = await Deno.readTextFile(join(root, ".dockerignore")).catch(() => "");
    return new SourceTree(root, ignore);
  }

  /** Whether a path of the tree is left out by `.dockerignore`. */
  ignored(relative: string): boolean {
    return relative !== "" && this.#rules.ignored(relative);
  }

  /**
   * The sources one COPY argument names.
   *
   * @param source As written (wildcards allowed).
   * @param what The instruction, for messages.
   * @returns The matches, in name order.
   */
  async resolve(source: string, what: string): Promise<Source[]> {
    const cleaned = cleanPath(source);
    if (cleaned === ".." || cleaned.startsWith("../")) {
      throw new InvalidInputError(
        `${what} failed: forbidden path outside the build context: ${source}`,
      );
    }
    if (!hasWildcards(cleaned)) {
      const path = cleaned === "" ? this.root : join(this.root, cleaned);
      const info = await lstatIfExists(path);
      if (!info || this.ignored(cleaned)) {
        throw new InvalidInputError(
          `${what} failed: file not found in build context or excluded by .dockerignore: stat ${source}: file does not exist`,
        );
      }
      return [await this.#followed({ relative: cleaned, path, info }, what, source)];
    }
    const pattern = patternRegExp(cleaned);
    const depth = cleaned.split("/").length;
    const found: Source[] = [];
    for await (const source of this.walk("", depth)) {
      if (source.relative.split("/").length === depth && pattern.test(source.relative)) {
        found.push(await this.#followed(source, what, source.relative));
      }
    }
    if (found.length === 0) {
      throw new InvalidInputError(`${what} failed: no source files were specified (${source})`);
    }
    return found;
  }

  /**
   * A source that is a symlink, followed as docker follows a COPY source
   * (its name kept): to what it names inside the tree, never out of it.
   */
  async #followed(source: Source, what: string, written: string): Promise<Source> {
    if (!source.info.isSymlink) return source;
    let real: string;
    try {
      real = await Deno.realPath(source.path);
    } catch {
      throw new InvalidInputError(`${what} failed: ${written} is a symlink to nothing`);
    }
    const root = await Deno.realPath(this.root);
    if (real !== root && !real.startsWith(`${root}/`)) {
      throw new InvalidInputError(
        `${what} failed: forbidden path outside the build context: ${written} links to ${real}`,
      );
    }
    return { relative: source.relative, path: real, info: await Deno.stat(real) };
  }

  /** What is under `relative`, parents before children, names in order, ignored ones left out. */
  async *walk(relative: string, depth = Infinity): AsyncGenerator<Source> {
    if (depth <= 0) return;
    const directory = relative === "" ? this.root : join(this.root, relative);
    const names = (await Array.fromAsync(Deno.readDir(directory))).map((entry) => entry.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const child = relative === "" ? name : `${relative}/${name}`;
      if (this.ignored(child)) continue;
      const path = join(this.root, child);
      const info = await Deno.lstat(path);
      yield { relative: child, path, info };
      if (info.isDirectory) yield* this.walk(child, depth - 1);
    }
  }

  /**
   * A digest of the sources' names, types, modes, sizes, link targets and
   * contents (not their times): the build cache's key for a COPY.
   */
  async digest(sources: Source[]): Promise<string> {
    const hash = createHash("sha256");
    const add = async (source: Source, name: string) => {
      const { info } = source;
      hash.update(`${name}\0${info.mode}\0${info.size}\0`);
      if (info.isSymlink) hash.update(`link:${await Deno.readLink(source.path)}\0`);
      if (info.isFile) {
        const file = await Deno.open(source.path);
        for await (const chunk of file.readable) hash.update(chunk);
      }
    };
    for (const source of sources) {
      await add(source, source.relative);
      if (!source.info.isDirectory) continue;
      for await (const child of this.walk(source.relative)) await add(child, child.relative);
    }
    return `sha256:${hash.digest("hex")}`;
  }
}
