import { describe, expect, it } from 'vitest';
import { formatCount, plural } from '../src/text.js';

describe('counts in messages', () => {
  it('writes whole numbers exactly as toLocaleString(en-US) does', () => {
    const values = [0, 1, 12, 999, 1000, 1001, 65_536, 999_999, 1_000_000, 916_159, -1, -1234, 2 ** 53 - 1, 1.5, Number.NaN];
    for (const n of values) expect(formatCount(n)).toBe(n.toLocaleString('en-US'));
  });

  it('says 1 row and 2 rows', () => {
    expect(plural(1, 'row')).toBe('1 row');
    expect(plural(0, 'row')).toBe('0 rows');
    expect(plural(1200, 'changed key')).toBe('1,200 changed keys');
    expect(plural(2, 'batch', 'batches')).toBe('2 batches');
  });
});
