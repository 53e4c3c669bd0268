/**
 * `1,234,567`: a whole number with thousands separators, as `toLocaleString('en-US')` writes it. Done by hand
 * because the first locale-aware format in a process loads ICU's number data (~9 ms), and a run's messages would
 * pay that on the critical path. Anything but a safe integer falls back to the locale formatter.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${digits}` : digits;
}

/** `1 row`, `2 rows`, `1,200 rows`: a count with its noun, for messages in every layer and the CLI. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : pluralWord}`;
}

/** `950 bytes`, `3.1 MB`, `1.2 GB` (powers of 1000, as disks are sold): a size people can take in at a glance. */
export function formatBytes(bytes: number): string {
  if (bytes < 999.5) return plural(bytes, 'byte');
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
