/**
 * Renders pull progress as docker does: on a terminal, one line per layer
 * redrawn in place with a bar; otherwise one plain line per state change.
 *
 * @module
 */

import type { PullEvent } from "../lib/operations/pull.ts";
import { formatBytes, shortDigest } from "./format.ts";

/** Where and how progress is written. */
export interface ProgressOutput {
  /** Writes text as it is (no newline added). */
  write(text: string): void;
  /** Redraw in place (a terminal) or write plain lines. */
  terminal: boolean;
  /** Color warnings (a terminal without NO_COLOR). */
  color: boolean;
  /** Terminal width in columns, when known. */
  columns?: number;
  /** Milliseconds between redraws for byte progress; 100 by default. */
  redrawInterval?: number;
}

/** A pull progress display. */
export interface ProgressRenderer {
  /** Takes one event. */
  onEvent(event: PullEvent): void;
  /** Draws the final state (byte progress may have been throttled). */
  finish(): void;
}

const BAR_WIDTH = 50;

/** docker's bar: `[=====>      ]`. */
function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.floor((width * Math.min(done, total)) / total) : width;
  return `[${"=".repeat(filled)}>${" ".repeat(width - filled)}]`;
}

/** What a layer's line says now. */
interface LayerLine {
  state: "Waiting" | "Downloading" | "Extracting" | "Pull complete" | "Already exists";
  bytes: number;
  size: number;
  /** Extracting from the store's copy of the blob, so bytes are read, not downloaded. */
  fromStore: boolean;
  /** A retry under way, shown until the next byte arrives. */
  note?: string;
}

/**
 * Creates a renderer writing to `output`.
 *
 * @param output The stream and its kind.
 * @returns The renderer.
 */
export function progressRenderer(output: ProgressOutput): ProgressRenderer {
  const order: string[] = [];
  const layers = new Map<string, LayerLine>();
  const interval = output.redrawInterval ?? 100;
  const barWidth = Math.max(10, Math.min(BAR_WIDTH, (output.columns ?? 120) - 50));
  let drawn = 0;
  let lastDraw = 0;
  // docker lists no layers for an image it has already: nothing is waited for or downloaded.
  let imageStored = false;

  const warning = (message: string) =>
    output.color ? `\x1b[33mwarning:\x1b[0m ${message}\n` : `warning: ${message}\n`;

  const text = (digest: string): string => {
    const line = layers.get(digest)!;
    const name = shortDigest(digest);
    if (line.note) return `${name}: ${line.note}`;
    const counted = line.state === "Downloading" ||
      (line.state === "Extracting" && line.fromStore && line.bytes < line.size);
    if (!counted) return `${name}: ${line.state}`;
    return `${name}: ${line.state} ${bar(line.bytes, line.size, barWidth)}  ${
      formatBytes(line.bytes)
    }/${formatBytes(line.size)}`;
  };

  /** Terminal: rewrites the layer block in place, with `above` printed before it. */
  const redraw = (above = "") => {
    let out = drawn > 0 ? `\x1b[${drawn}A` : "";
    if (above) out += above.split("\n").filter(Boolean).map((line) => `\x1b[2K${line}\n`).join("");
    for (const digest of order) out += `\x1b[2K${text(digest)}\n`;
    drawn = order.length;
    lastDraw = Date.now();
    output.write(out);
  };

  const set = (digest: string, change: Partial<LayerLine>, size: number) => {
    if (!layers.has(digest)) {
      order.push(digest);
      layers.set(digest, { state: "Waiting", bytes: 0, size, fromStore: false });
    }
    const line = layers.get(digest)!;
    const before = line.state;
    Object.assign(line, change);
    line.note = undefined; // Bytes or a new state: the retry is over.
    if (!output.terminal) {
      if (line.state !== before || change.state === "Waiting") {
        const detail = line.state === "Downloading" ? ` ${formatBytes(line.size)}` : "";
        output.write(`${shortDigest(digest)}: ${line.state}${detail}\n`);
      }
      return;
    }
    if (line.state !== before || Date.now() - lastDraw >= interval) redraw();
  };

  const onEvent = (event: PullEvent) => {
    switch (event.type) {
      case "waiting-for-lock": {
        const message = `Waiting for another denocker command using ${event.root}…\n`;
        if (output.terminal) redraw(message);
        else output.write(message);
        return;
      }
      case "pulling": {
        const message = `${event.reference}: Pulling from ${event.repository}\n`;
        if (output.terminal) redraw(message);
        else output.write(message);
        return;
      }
      case "resolved":
        imageStored = event.imageStored;
        if (imageStored) return;
        for (const layer of event.layers) {
          // In the manifest's order; a stored layer is "Already exists" at once, never "Waiting".
          if (layers.has(layer.digest)) continue;
          set(layer.digest, { state: layer.stored ? "Already exists" : "Waiting" }, layer.size);
        }
        return;
      case "layer-cached":
        if (imageStored) return;
        return set(event.digest, { state: "Already exists" }, event.size);
      case "layer-waiting": {
        if (!layers.has(event.digest)) {
          order.push(event.digest);
          layers.set(event.digest, {
            state: "Waiting",
            bytes: 0,
            size: event.size,
            fromStore: false,
          });
        }
        const note = "Waiting for another denocker command downloading it";
        layers.get(event.digest)!.note = note;
        if (output.terminal) redraw();
        else output.write(`${shortDigest(event.digest)}: ${note}\n`);
        return;
      }
      case "layer-start":
        return set(event.digest, {
          state: event.source === "store" ? "Extracting" : "Downloading",
          fromStore: event.source === "store",
        }, event.size);
      case "layer-progress":
        return set(event.digest, { bytes: event.bytes }, event.size);
      case "layer-extracting":
        return set(event.digest, { state: "Extracting", bytes: event.size }, event.size);
      case "layer-done":
        return set(event.digest, { state: "Pull complete", bytes: event.size }, event.size);
      case "retry": {
        const seconds = Math.max(1, Math.round(event.delay / 1000));
        const state = `Retrying in ${seconds}s (${event.attempt}/${event.attempts})`;
        if (event.digest && layers.has(event.digest)) {
          const line = layers.get(event.digest)!;
          line.note = state;
          if (output.terminal) redraw();
          else output.write(`${shortDigest(event.digest)}: ${state}: ${event.reason}\n`);
          return;
        }
        const message = `${state}: ${event.reason}\n`;
        if (output.terminal) redraw(message);
        else output.write(message);
        return;
      }
      case "warning":
        if (output.terminal) redraw(warning(event.message));
        else output.write(warning(event.message));
        return;
    }
  };

  return {
    onEvent,
    finish() {
      if (output.terminal && order.length > 0) redraw();
    },
  };
}
