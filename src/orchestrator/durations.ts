import { usageError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '500ms', '1s', '15m', '2h', '1d' or a number of milliseconds. */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
    if (match) return Number(match[1]) * (UNITS[match[2] as string] as number);
  }
  throw usageError({ code: 'invalid_duration', value, message: `${what} '${String(value)}' is not a duration.`, allowed: "a number of milliseconds, or '500ms', '30s', '15m', '2h', '1d'", hint: "Write it like '30s'." });
}

export const DURATION_PATTERN = /^\s*\d+(?:\.\d+)?\s*(ms|s|m|h|d)\s*$/;

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
