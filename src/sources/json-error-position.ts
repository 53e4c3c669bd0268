/**
 * Finds where a JSON document first goes wrong, as a 1-based line and a short description. Used only after the
 * engine has refused a file, to tell the user exactly where to look (engines report offsets inside a record).
 */
export function locateJsonError(text: string): { line: number; problem: string } | undefined {
  let i = 0;
  const fail = (problem: string): never => {
    throw new JsonSyntaxError(i, problem);
  };
  const space = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${describe(text[i])}`);
  };
  const string = (): void => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if ((text[i] as string) < ' ') fail('a line break inside a string');
      i++;
    }
    if (i >= text.length) fail('a string that never ends');
    i++;
  };
  const number = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (!match || match[0] === '') fail(`unexpected ${describe(text[i])}`);
    i += (match as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    space();
    const ch = text[i];
    if (ch === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail(`expected a property name in quotes, found ${describe(text[i])}`);
        string();
        space();
        if (text[i] !== ':') fail(`expected ':' after a property name, found ${describe(text[i])}`);
        i++;
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail(`expected ',' or '}' after a value, found ${describe(text[i])}`);
      }
    } else if (ch === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail(`expected ',' or ']' after a value, found ${describe(text[i])}`);
      }
    } else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else number();
  };
  try {
    value();
    space();
    if (i < text.length) fail(`unexpected ${describe(text[i])} after the end of the document`);
    return undefined;
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    let line = 1;
    for (let k = 0; k < error.offset && k < text.length; k++) if (text.charCodeAt(k) === 10) line++;
    return { line, problem: error.problem };
  }
}

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function describe(ch: string | undefined): string {
  if (ch === undefined) return 'the end of the file';
  if (ch === '\n') return 'a line break';
  return `'${ch}'`;
}
