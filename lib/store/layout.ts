/**
 * Where everything lies under a store root: the one place that joins a
 * root with a name. The store's parts, the runtime's containers and
 * overlays, and the locks all take their paths from here.
 *
 * ```
 * ROOT/
 *   blobs/ALGORITHM/HEX     content, by digest          partial/ALGORITHM/HEX  downloads under way
 *   layers/HEX/             extracted layers            images/HEX/            image metadata
 *   images.json (+ .lock)   repository -> tag -> id     store.lock             the store's lock
 *   containers/ (+ .lock)   containers                  overlay/               overlays' lower dirs
 *   tmp/                    temp files and staging (on the root's file system, for renames)
 * ```
 *
 * @module
 */

import { join } from "../io/path.ts";

/** The paths of a store root's parts. */
export interface RootLayout {
  root: string;
  /** Temp files and staging directories. */
  tmp: string;
  /** Blobs, `blobs/ALGORITHM/HEX`. */
  blobs: string;
  /** Downloads under way, `partial/ALGORITHM/HEX`. */
  partial: string;
  /** Extracted layers, `layers/HEX`. */
  layers: string;
  /** Image metadata, `images/HEX`. */
  images: string;
  /** `images.json`. */
  index: string;
  /** The lock of `images.json`. */
  indexLock: string;
  /** The store's lock (shared to add or read, exclusive to remove). */
  lock: string;
  /** Containers, `containers/ID`. */
  containers: string;
  /** The lock under which container names are given. */
  containersLock: string;
  /** Overlays' lower directories, by chain ID. */
  overlay: string;
  /** Networks' state: `networks/NAME/` (its lock and address reservations). */
  networks: string;
  /** Named volumes, `volumes/NAME/_data`. */
  volumes: string;
}

/**
 * The layout of a store root.
 *
 * @param root The store root.
 * @returns Its parts' paths.
 */
export function rootLayout(root: string): RootLayout {
  return {
    root,
    tmp: join(root, "tmp"),
    blobs: join(root, "blobs"),
    partial: join(root, "partial"),
    layers: join(root, "layers"),
    images: join(root, "images"),
    index: join(root, "images.json"),
    indexLock: join(root, "images.json.lock"),
    lock: join(root, "store.lock"),
    containers: join(root, "containers"),
    containersLock: join(root, "containers.lock"),
    overlay: join(root, "overlay"),
    networks: join(root, "networks"),
    volumes: join(root, "volumes"),
  };
}
