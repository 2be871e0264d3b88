/**
 * A tiny terminal: replays what a program wrote (text, newlines, carriage
 * returns, cursor-up and erase-line sequences; colors ignored) and returns
 * the screen a user would be left looking at.
 */
export function screen(output: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let column = 0;
  const put = (char: string) => {
    const line = lines[row].padEnd(column);
    lines[row] = line.slice(0, column) + char + line.slice(column + 1);
    column++;
  };
  for (let i = 0; i < output.length; i++) {
    const char = output[i];
    if (char === "\x1b") {
      // deno-lint-ignore no-control-regex
      const match = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(output.slice(i));
      if (!match) continue;
      i += match[0].length - 1;
      const count = Number(match[1] || "1");
      if (match[2] === "A") row = Math.max(0, row - count);
      else if (match[2] === "K") lines[row] = match[1] === "2" ? "" : lines[row].slice(0, column);
      else if (match[2] === "G") column = count - 1;
      continue;
    }
    if (char === "\n") {
      row++;
      column = 0;
      if (row === lines.length) lines.push("");
    } else if (char === "\r") {
      column = 0;
    } else {
      put(char);
    }
  }
  while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
  return lines.map((line) => line.trimEnd());
}
