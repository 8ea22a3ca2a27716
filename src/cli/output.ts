import { createRequire } from 'node:module';
import type YAML from 'yaml';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Plain aligned columns, two spaces apart, like kubectl: greppable and awk-able. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((column) => oneLine(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) =>
    line
      .map((cell, i) => (columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[format(columns.map((column) => column.header)), ...cells.map(format)].join('\n')}\n`;
}

export function renderData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : yaml().stringify(value, { aliasDuplicateObjects: false });
}

/** The yaml package, loaded when a command reads or writes YAML: loaded up front it was a fifth of every command's start-up. */
export function yaml(): typeof YAML {
  return createRequire(import.meta.url)('yaml') as typeof YAML;
}

/** "-" for unknown values: the table never invents one. */
export function orDash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}

/** Age as kubectl shows it: 45s, 12m, 5h, 3d. */
export function formatAge(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 120 * 60) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** Drive capacities in decimal units, as vendors label them. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Values come from BMCs and booting machines: no control character reaches the terminal. */
function oneLine(text: string): string {
  // Wider than lib/text.ts: C1 controls too (0x9b is CSI to a terminal that reads 8-bit controls).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it matches
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}
