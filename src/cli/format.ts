/** Plain-text formatting for the CLI: aligned tables and short counts (1.81 G). */

export function formatCount(n: number): string {
  const units: [number, string][] = [[1e9, ' G'], [1e6, ' M'], [1e3, ' k']];
  for (const [size, unit] of units) if (Math.abs(n) >= size) return `${(n / size).toFixed(2)}${unit}`;
  return String(n);
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}
