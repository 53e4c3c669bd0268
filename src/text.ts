/** `1 row`, `2 rows`, `1,200 rows`: a count with its noun, for messages in every layer and the CLI. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : pluralWord}`;
}
