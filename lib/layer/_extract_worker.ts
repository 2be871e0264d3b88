/**
 * Worker side of a layer extraction: receives the layer blob's bytes from
 * the pulling thread, decompresses them, checks the diff_id and extracts,
 * so that layers are extracted on other cores while downloads go on.
 *
 * Protocol: `start` (directory, media type, diff_id, options), then
 * `chunk`s, then `end`; the worker answers `consumed` per chunk (the
 * sender's credit, which bounds memory; sent every {@link ACK_BATCH} chunks)
 * and finally `done` or `error`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import {
  extractLayerBlob,
  type LayerExtractionPlan,
  type LayerExtractionResult,
} from "./pipeline.ts";
import { DenockerError } from "../errors.ts";

/** The first message of an extraction. */
export interface StartMessage extends LayerExtractionPlan {
  type: "start";
}

/** Messages the worker receives. */
export type ToWorker = StartMessage | { type: "chunk"; chunk: Uint8Array } | { type: "end" } | {
  type: "abort";
};

/** Messages the worker sends. */
export type FromWorker =
  | { type: "consumed"; chunks: number }
  | { type: "done"; result: LayerExtractionResult }
  | { type: "error"; name: string; message: string };

/** Chunks consumed before the sender is told; must stay below its credit window. */
export const ACK_BATCH = 4;

let input: ReadableStreamDefaultController<Uint8Array> | undefined;

function send(message: FromWorker) {
  self.postMessage(message);
}

async function run(start: StartMessage): Promise<void> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      input = controller;
    },
  });
  let unacknowledged = 0;
  const counted = source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk);
        // Acknowledged in batches: a message per chunk costs more than the chunk's bookkeeping.
        if (++unacknowledged === ACK_BATCH) {
          send({ type: "consumed", chunks: unacknowledged });
          unacknowledged = 0;
        }
      },
    }),
  );
  try {
    send({ type: "done", result: await extractLayerBlob(counted, start) });
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    send({ type: "error", name, message: error instanceof Error ? error.message : String(error) });
  }
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === "start") run(message);
  else if (message.type === "chunk") input?.enqueue(message.chunk);
  else if (message.type === "end") input?.close();
  else if (message.type === "abort") {
    input?.error(new DenockerError("Cannot extract layer: aborted"));
  }
};
