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
