/**
 * Engine values become plain JSON-friendly values at the edge, so every command's `--json` output is stable:
 * big integers become numbers when they are safe (strings otherwise), decimals become numbers,
 * dates stay `YYYY-MM-DD` and timestamps become ISO strings (`YYYY-MM-DDTHH:MM:SS`).
 */
export function integerFromText(text: string): number | string {
  const asNumber = Number(text);
  return Number.isSafeInteger(asNumber) ? asNumber : text;
}

export function timestampToIso(text: string): string {
  return text.replace(' ', 'T');
}

export function toSqlTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}
