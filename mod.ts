/**
 * denocker: pull container images from OCI/Docker registries into a
 * verified, content-addressed local store, extract their layers safely,
 * and manage what is stored.
 *
 * A tour: pull an image, list what is stored, write its root filesystem
 * to a directory.
 *
 * ```ts
 * import { listImages, pullImage, unpackImage } from "@denocker/denocker";
 *
 * const root = "/tmp/denocker";
 * const { imageId, digest } = await pullImage("localhost:5000/team/app:1.0", {
 *   root,
 *   platform: { os: "linux", architecture: "amd64" },
 *   onProgress: (event) => {
 *     if (event.type === "layer-done") console.error(`${event.digest}: Pull complete`);
 *   },
 * });
 * console.log(imageId, digest);
 *
 * for (const { Repository, Tag, ID } of await listImages({ root })) {
 *   console.log(Repository, Tag, ID);
 * }
 *
 * await unpackImage("localhost:5000/team/app:1.0", "/tmp/app-rootfs", { root });
 * ```
 *
 * Every operation is named for what it does to what (`pullImage`,
 * `listImages`, `startContainer`; `pull`, `unpack` and `prune` are kept as
 * aliases for one release) and takes its main arguments and then one
 * options object, which may be left out: the store is `root`, or an open
 * {@link Store} as `store`, else the default root ({@link defaultRoot}),
 * and `pullImage` reads the config file's registries ({@link readConfig})
 * unless given `registries`. Results printed as JSON by the CLI have
 * docker's key names. Every failure is a {@link DenockerError}.
 *
 * @module
 */

export {
  AuthenticationError,
  ContainerStartError,
  DenockerError,
  type DenockerErrorOptions,
  ImageInUseError,
  ImageNotFoundError,
  InvalidInputError,
  InvalidReferenceError,
  MalformedLayerError,
  NetworkError,
  RegistryError,
  type RegistryErrorOptions,
  VerificationError,
} from "./lib/errors.ts";
export { VERSION } from "./lib/version.ts";

// The model.
export {
  familiarName,
  familiarReference,
  formatReference,
  parseReference,
  type Reference,
} from "./lib/model/reference.ts";
export type {
  Descriptor,
  ImageConfig,
  ImageManifest,
  IndexManifest,
  ManifestDocument,
  Platform,
} from "./lib/model/manifest.ts";
export { formatPlatform, hostPlatform, parsePlatform } from "./lib/model/platform.ts";

// The registry transport.
export {
  type FetchedManifest,
  type ManifestHead,
  RegistryClient,
  type RegistryClientOptions,
  type RetryEvent,
  type RetryOptions,
} from "./lib/transport/registry.ts";
export { parseInsecureRegistry } from "./lib/transport/endpoint.ts";
export {
  type CredentialLookup,
  type Credentials,
  dockerConfigCredentials,
  type DockerConfigOptions,
} from "./lib/transport/credentials.ts";
export {
  type ImageSource,
  MirroredRegistry,
  type MirroredRegistryOptions,
  type MirrorFallback,
} from "./lib/transport/mirrors.ts";

// denocker's config file.
export {
  type DenockerConfig,
  readConfig,
  type ReadConfigOptions,
  type RegistriesConfig,
  type RegistrySettings,
} from "./lib/transport/config.ts";

// The store.
export {
  type FoundImage,
  type ImageLayer,
  type ImageRecord,
  type Problem,
  Store,
  type StoredImage,
  type StoreOptions,
  type Untagged,
} from "./lib/store/store.ts";
export { ImageIndex, type TaggedImage } from "./lib/store/image_index.ts";
export { defaultRoot, type DefaultRootOptions, storeRootWarning } from "./lib/store/root.ts";

// The operations.
export {
  type LayerProgress,
  pull,
  type PullEvent,
  pullImage,
  type PullOptions,
  type PullResult,
} from "./lib/operations/pull.ts";
export {
  unpack,
  type UnpackEvent,
  unpackImage,
  type UnpackOptions,
} from "./lib/operations/unpack.ts";
export {
  type ImageInspect,
  type ImageSummary,
  inspectImage,
  listImages,
} from "./lib/operations/inspect.ts";
export {
  prune,
  pruneImages,
  type PruneOptions,
  type PruneResult,
  type RemoveEvent,
  removeImages,
  type RemoveOptions,
  type RemoveResult,
} from "./lib/operations/remove.ts";
export { type CheckOptions, checkStore } from "./lib/operations/check.ts";
export { tagImage } from "./lib/operations/tag.ts";
export { exportImage, type ExportOptions } from "./lib/operations/export.ts";
export { saveImages, type SaveOptions } from "./lib/operations/save.ts";
export { type LoadedImage, loadImages, type LoadOptions } from "./lib/operations/load.ts";
export { login, type LoginOptions, logout } from "./lib/operations/login.ts";
export {
  type PushEvent,
  pushImage,
  type PushOptions,
  type PushResult,
} from "./lib/operations/push.ts";
export { copyImage, type CopyResult } from "./lib/operations/copy.ts";
export { fetchManifest, listTags, type RemoteOptions } from "./lib/operations/remote.ts";

// Containers.
export {
  createContainer,
  type RunningContainer,
  type RunOptions,
  startContainer,
} from "./lib/operations/run.ts";
export { parseSignal, type RestartPolicy, signalNumber } from "./lib/runtime/containers.ts";
export {
  type ContainerSummary,
  execInContainer,
  type ExecOptions,
  type ExecProcess,
  listContainers,
  removeContainers,
  startExec,
} from "./lib/operations/containers.ts";
export {
  containerProcesses,
  killContainer,
  pruneContainers,
  renameContainer,
  restartContainer,
  startStoppedContainer,
  stopContainer,
  waitContainer,
} from "./lib/operations/lifecycle.ts";
export { containerLogs, type LogsOptions } from "./lib/operations/logs.ts";
export {
  attachContainer,
  type AttachedContainer,
  type AttachSession,
  startAttached,
} from "./lib/operations/attach.ts";
export {
  type ContainerInspect,
  inspectContainer,
  type MountPoint,
  type NetworkEndpoint,
} from "./lib/operations/container_inspect.ts";
export { copyFromContainer, copyToContainer } from "./lib/operations/container_copy.ts";
export type { LogEntry, LogOptions, LogStream } from "./lib/runtime/container_log.ts";
export { parsePortBinding, type PortBinding } from "./lib/runtime/ports.ts";
export {
  type MountRequest,
  type MountSpec,
  parseMountFlag,
  parseTmpfsFlag,
  parseVolumeFlag,
  type VolumeRecord,
} from "./lib/runtime/volumes.ts";
export {
  createVolume,
  inspectVolumes,
  listVolumes,
  pruneVolumes,
  removeVolumes,
} from "./lib/operations/volumes.ts";
export {
  connectNetwork,
  type ConnectOptions,
  createNetwork,
  disconnectNetwork,
  inspectNetworks,
  listNetworks,
  type NetworkInspect,
  removeNetworks,
} from "./lib/operations/networks.ts";
export {
  type Change,
  commitContainer,
  type CommitOptions,
  diffContainer,
} from "./lib/operations/commit.ts";
export { type HistoryEntry, imageHistory } from "./lib/operations/history.ts";
export { type BuildEvent, buildImage, type BuildOptions } from "./lib/operations/build.ts";
export { type Dockerfile, type Instruction, parseDockerfile } from "./lib/build/dockerfile.ts";
export {
  DEFAULT_NETWORK,
  type NetworkAttachment,
  type NetworkDefinition,
} from "./lib/runtime/network.ts";
export {
  extractLayer,
  type ExtractLimits,
  type ExtractOptions,
  type ExtractResult,
  type LowerLink,
} from "./lib/layer/extract.ts";
