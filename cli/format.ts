/**
 * How the command line writes sizes, ages, digests and tables.
 *
 * @module
 */

/**
 * A digest as docker shows IDs: the first 12 hex digits.
 *
 * @param digest `sha256:<hex>`.
 * @returns 12 hex digits.
 */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/**
 * Bytes in decimal units, as docker prints them (`12.3MB`).
 *
 * @param bytes A count of bytes.
 * @returns The size in words.
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)}${units[unit]}`;
}

/**
 * How long ago a time was, as `docker images` says it.
 *
 * @param iso An RFC 3339 time, or undefined.
 * @returns E.g. "3 weeks ago", or "N/A".
 */
export function timeAgo(iso: string | undefined): string {
  if (!iso) return "N/A";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (Number.isNaN(seconds)) return "N/A";
  const units: [number, string][] = [
    [365 * 86400, "year"],
    [30 * 86400, "month"],
    [7 * 86400, "week"],
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${name}${count > 1 ? "s" : ""} ago`;
  }
  return "Less than a minute ago";
}

/**
 * How long since a time, as docker says it (`Up 3 seconds`, `2 minutes
 * ago`): "Less than a second", "N seconds", "About a minute", "N minutes",
 * "About an hour", "N hours", "N days", "N weeks", "N months", "N years".
 *
 * @param iso An ISO time.
 * @returns The duration in words.
 */
export function since(iso: string | undefined): string {
  const seconds = iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : NaN;
  if (Number.isNaN(seconds)) return "a while";
  const plural = (count: number, unit: string) => `${count} ${unit}${count === 1 ? "" : "s"}`;
  if (seconds < 1) return "Less than a second";
  if (seconds < 60) return plural(Math.floor(seconds), "second");
  const minutes = seconds / 60;
  if (minutes < 2) return "About a minute";
  if (minutes < 60) return plural(Math.floor(minutes), "minute");
  const hours = minutes / 60;
  if (hours < 2) return "About an hour";
  if (hours < 48) return plural(Math.floor(hours), "hour");
  const days = hours / 24;
  if (days < 14) return plural(Math.floor(days), "day");
  if (days < 60) return plural(Math.floor(days / 7), "week");
  if (days < 730) return plural(Math.floor(days / 30), "month");
  return plural(Math.floor(days / 365), "year");
}

/**
 * Rows in aligned columns.
 *
 * @param rows The header row first.
 * @returns The table's text, without a final newline.
 */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("   ").trimEnd())
    .join("\n");
}

/**
 * Whether to color output written to a stream: only a terminal, and never
 * when `NO_COLOR` is set to anything but the empty string (no-color.org).
 *
 * @param terminal Whether the stream is a terminal.
 * @param env Environment lookup.
 * @returns True to color.
 */
export function useColor(terminal: boolean, env: (name: string) => string | undefined): boolean {
  const noColor = env("NO_COLOR");
  return terminal && (noColor === undefined || noColor === "");
}
