import { randomBytes, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InOrderMd5 } from '../../src/core/in-order-md5.js';
import { tempDirectory } from '../support/harness.js';

const work = tempDirectory('md5');
afterAll(() => work.remove());

describe('InOrderMd5', () => {
  it('gives the MD5 of the whole file when ranges finish out of order, streamed or read back', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = await open(join(work.path, 'f'), 'w+');
    const digest = new InOrderMd5(file);
    const size = 1024 * 1024;
    const ranges = [2, 0, 3, 1].map((index) => ({ start: index * size, end: Math.min((index + 1) * size, data.length) }));
    for (const range of ranges) {
      // Each range arrives in 64 KiB chunks; only the one at the cursor can be hashed live.
      for (let offset = range.start; offset < range.end; offset += 65536) {
        const chunk = data.subarray(offset, Math.min(offset + 65536, range.end));
        await file.write(chunk, 0, chunk.length, offset);
        digest.observe(offset, chunk);
      }
      digest.rangeWritten(range.start, range.end);
    }
    const md5 = await digest.digest(data.length);
    await file.close();
    expect(md5.toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
  });
});
