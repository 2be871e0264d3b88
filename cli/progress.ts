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

/** A retry event. */
type RetryEvent = Extract<PullEvent, { type: "retry" }>;

/**
 * Creates a renderer writing to `output`.
 *
 * @param output The stream and its kind.
 * @returns The renderer.
 */
export function progressRenderer(output: ProgressOutput): ProgressRenderer {
  const display = new PullDisplay(output);
  return {
    onEvent: (event) => display.onEvent(event),
    finish: () => display.finish(),
  };
}

/** A pull's layer lines, and how much of them a terminal shows now. */
class PullDisplay {
  readonly #output: ProgressOutput;
  readonly #interval: number;
  readonly #barWidth: number;
  readonly #order: string[] = [];
  readonly #layers = new Map<string, LayerLine>();
  #drawn = 0;
  #lastDraw = 0;
  // docker lists no layers for an image it has already: nothing is waited for or downloaded.
  #imageStored = false;

  constructor(output: ProgressOutput) {
    this.#output = output;
    this.#interval = output.redrawInterval ?? 100;
    this.#barWidth = Math.max(10, Math.min(BAR_WIDTH, (output.columns ?? 120) - 50));
  }

  /** Takes one event. */
  onEvent(event: PullEvent): void {
    switch (event.type) {
      case "waiting-for-lock":
        return this.#announce(`Waiting for another denocker command using ${event.root}…\n`);
      case "pulling":
        return this.#announce(`${event.reference}: Pulling from ${event.repository}\n`);
      case "resolved":
        this.#imageStored = event.imageStored;
        if (this.#imageStored) return;
        for (const layer of event.layers) {
          // In the manifest's order; a stored layer is "Already exists" at once, never "Waiting".
          if (this.#layers.has(layer.digest)) continue;
          this.#set(
            layer.digest,
            { state: layer.stored ? "Already exists" : "Waiting" },
            layer.size,
          );
        }
        return;
      case "layer-cached":
        if (this.#imageStored) return;
        return this.#set(event.digest, { state: "Already exists" }, event.size);
      case "layer-waiting": {
        const note = "Waiting for another denocker command downloading it";
        const line = this.#line(event.digest, event.size);
        return this.#note(line, note, `${shortDigest(event.digest)}: ${note}\n`);
      }
      case "layer-start":
        return this.#set(event.digest, {
          state: event.source === "store" ? "Extracting" : "Downloading",
          fromStore: event.source === "store",
        }, event.size);
      case "layer-progress":
        return this.#set(event.digest, { bytes: event.bytes }, event.size);
      case "layer-extracting":
        return this.#set(event.digest, { state: "Extracting", bytes: event.size }, event.size);
      case "layer-done":
        return this.#set(event.digest, { state: "Pull complete", bytes: event.size }, event.size);
      case "retry":
        return this.#retry(event);
      case "warning":
        return this.#announce(this.#warning(event.message));
    }
  }

  /** Draws the final state (byte progress may have been throttled). */
  finish(): void {
    if (this.#output.terminal && this.#order.length > 0) this.#redraw();
  }

  /** A retry: on its layer's line when it has one, else a message of its own. */
  #retry(event: RetryEvent): void {
    const seconds = Math.max(1, Math.round(event.delay / 1000));
    const state = `Retrying in ${seconds}s (${event.attempt}/${event.attempts})`;
    const line = event.digest ? this.#layers.get(event.digest) : undefined;
    if (line) {
      return this.#note(line, state, `${shortDigest(event.digest!)}: ${state}: ${event.reason}\n`);
    }
    this.#announce(`${state}: ${event.reason}\n`);
  }

  /** A warning's line, in yellow where there is color. */
  #warning(message: string): string {
    return this.#output.color ? `\x1b[33mwarning:\x1b[0m ${message}\n` : `warning: ${message}\n`;
  }

  /** A message: above the layer lines on a terminal, otherwise as it is. */
  #announce(message: string): void {
    if (this.#output.terminal) this.#redraw(message);
    else this.#output.write(message);
  }

  /** A layer's line, added as "Waiting" if it has none yet. */
  #line(digest: string, size: number): LayerLine {
    let line = this.#layers.get(digest);
    if (!line) {
      this.#order.push(digest);
      line = { state: "Waiting", bytes: 0, size, fromStore: false };
      this.#layers.set(digest, line);
    }
    return line;
  }

  /** Shows `note` on a layer's line until its next change; otherwise writes `plain`. */
  #note(line: LayerLine, note: string, plain: string): void {
    line.note = note;
    if (this.#output.terminal) this.#redraw();
    else this.#output.write(plain);
  }

  /** Changes a layer's line: redrawn, or on a plain output written when its state changes. */
  #set(digest: string, change: Partial<LayerLine>, size: number): void {
    const line = this.#line(digest, size);
    const before = line.state;
    Object.assign(line, change);
    line.note = undefined; // Bytes or a new state: the retry is over.
    if (!this.#output.terminal) {
      if (line.state !== before || change.state === "Waiting") {
        const detail = line.state === "Downloading" ? ` ${formatBytes(line.size)}` : "";
        this.#output.write(`${shortDigest(digest)}: ${line.state}${detail}\n`);
      }
      return;
    }
    if (line.state !== before || Date.now() - this.#lastDraw >= this.#interval) this.#redraw();
  }

  /** Terminal: rewrites the layer block in place, with `above` printed before it. */
  #redraw(above = ""): void {
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    if (above) out += above.split("\n").filter(Boolean).map((line) => `\x1b[2K${line}\n`).join("");
    for (const digest of this.#order) out += `\x1b[2K${this.#text(digest)}\n`;
    this.#drawn = this.#order.length;
    this.#lastDraw = Date.now();
    this.#output.write(out);
  }

  /** What a layer's line says. */
  #text(digest: string): string {
    const line = this.#layers.get(digest)!;
    const name = shortDigest(digest);
    if (line.note) return `${name}: ${line.note}`;
    const counted = line.state === "Downloading" ||
      (line.state === "Extracting" && line.fromStore && line.bytes < line.size);
    if (!counted) return `${name}: ${line.state}`;
    return `${name}: ${line.state} ${bar(line.bytes, line.size, this.#barWidth)}  ${
      formatBytes(line.bytes)
    }/${formatBytes(line.size)}`;
  }
}
