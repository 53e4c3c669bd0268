import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, plural } from '../src/text.js';

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

describe('sizes in messages', () => {
  it('gives bytes below a kilobyte, then one decimal below ten units, then whole units', () => {
    expect([0, 1, 999, 1000, 1500, 9_949, 10_000, 999_499, 999_600, 3_100_000, 40_004_000, 1_200_000_000, 5e12, 7e15].map(formatBytes)).toEqual([
      '0 bytes', '1 byte', '999 bytes', '1.0 kB', '1.5 kB', '9.9 kB', '10 kB', '999 kB', '1.0 MB', '3.1 MB', '40 MB', '1.2 GB', '5.0 TB', '7000 TB',
    ]);
  });
});
