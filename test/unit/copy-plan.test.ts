import { describe, expect, it } from 'vitest';
import { destinationFor, markerLeftOut, planCopy } from '../../src/core/transfer/copy-plan.js';
import { proveCopy } from '../../src/core/transfer/copy.js';
import { DEFAULT_LAYOUT, parseLayoutKey } from '../../src/core/config/layout.js';
import type { HeadDetails } from '../../src/core/transfer/stat.js';

const plan = (args: Partial<Parameters<typeof planCopy>[0]>, command: 'cp' | 'mv' = 'cp') =>
  planCopy({ source: 's3://lake/raw/x/', destination: undefined, recursive: true, bucket: undefined, layout: DEFAULT_LAYOUT, ...args }, command);

describe('reading a key back through the layout', () => {
  it('gives the zone, dataset, date and name a key was made from', () => {
    expect(parseLayoutKey(DEFAULT_LAYOUT, 'raw/reddit/year=2024/month=01/day=15/sub/events.csv')).toEqual({
      zone: 'raw',
      dataset: 'reddit',
      date: { yyyy: '2024', mm: '01', dd: '15' },
      name: 'sub/events.csv',
    });
  });

  it('says nothing of a key outside the layout, a zone outside the three, or a day that does not exist', () => {
    expect(parseLayoutKey(DEFAULT_LAYOUT, 'raw/reddit/events.csv')).toBeUndefined();
    expect(parseLayoutKey(DEFAULT_LAYOUT, 'gold/reddit/year=2024/month=01/day=15/a.csv')).toBeUndefined();
    expect(parseLayoutKey(DEFAULT_LAYOUT, 'raw/reddit/year=2024/month=02/day=30/a.csv')).toBeUndefined();
  });

  it('reads other templates, literal dots included', () => {
    expect(parseLayoutKey('{zone}/{dataset}.v1/{yyyy}{mm}{dd}/{name}', 'processed/orders.v1/20240115/a.parquet')).toEqual({
      zone: 'processed',
      dataset: 'orders',
      date: { yyyy: '2024', mm: '01', dd: '15' },
      name: 'a.parquet',
    });
    expect(parseLayoutKey('{zone}/{dataset}.v1/{name}', 'processed/ordersXv1/a.parquet')).toBeUndefined();
  });
});

describe('where cp and mv put each object', () => {
  it('a prefix keeps the path under the source prefix; a single object into a prefix keeps its base name', () => {
    const tree = plan({ destination: 's3://lake/archive/x' });
    expect(destinationFor(tree, 'raw/x/a/b.csv')).toEqual({ bucket: 'lake', key: 'archive/x/a/b.csv' });
    const single = plan({ source: 's3://lake/raw/x/a.csv', destination: 's3://other/in/', recursive: false });
    expect(destinationFor(single, 'raw/x/a.csv')).toEqual({ bucket: 'other', key: 'in/a.csv' });
    const exact = plan({ source: 's3://lake/raw/x/a.csv', destination: 's3://other/in/b.csv', recursive: false });
    expect(destinationFor(exact, 'raw/x/a.csv')).toEqual({ bucket: 'other', key: 'in/b.csv' });
  });

  it('the layout promotes a key to another zone keeping its date, unless --date is given', () => {
    const promoted = plan({ zone: 'processed', dataset: 'x' });
    expect(destinationFor(promoted, 'raw/x/year=2024/month=01/day=15/a.csv')).toEqual({ bucket: 'lake', key: 'processed/x/year=2024/month=01/day=15/a.csv' });
    const dated = plan({ zone: 'analytics', dataset: 'y', date: '2025-02-03', bucket: 'other' });
    expect(destinationFor(dated, 'raw/x/year=2024/month=01/day=15/a.csv')).toEqual({ bucket: 'other', key: 'analytics/y/year=2025/month=02/day=03/a.csv' });
    expect(destinationFor(dated, 'raw/x/loose/b.csv')).toEqual({ bucket: 'other', key: 'analytics/y/year=2025/month=02/day=03/loose/b.csv' });
  });

  it('a key with partitions of its own keeps them, without a date partition besides; --date for it is refused', () => {
    const promoted = plan({ zone: 'processed', dataset: 'x' });
    expect(destinationFor(promoted, 'raw/x/date=2026-01-01/a.json')).toEqual({ bucket: 'lake', key: 'processed/x/date=2026-01-01/a.json' });
    expect(destinationFor(promoted, 'raw/x/sub/region=eu/a.json')).toEqual({ bucket: 'lake', key: 'processed/x/sub/region=eu/a.json' });
    // An = in the file's own name is no partition.
    expect(destinationFor(promoted, 'raw/x/a=b.json').key).toMatch(/^processed\/x\/year=\d{4}\/month=\d\d\/day=\d\d\/a=b\.json$/);
    const dated = plan({ zone: 'analytics', dataset: 'y', date: '2025-02-03' });
    expect(() => destinationFor(dated, 'raw/x/date=2026-01-01/a.json')).toThrow(/has partitions of its own \(date=2026-01-01\): --date would give it a second date/);
    expect(() => destinationFor(dated, 'raw/x/date=2026-01-01/a.json')).toThrow(expect.objectContaining({ hint: 'leave out --date so such keys keep their own partitions, or narrow the sources with --exclude/--include' }));
    const custom = plan({ zone: 'processed', dataset: 'x', layout: '{zone}/{dataset}/dt={yyyy}-{mm}-{dd}/{name}' });
    expect(destinationFor(custom, 'raw/x/date=2026-01-01/a.json')).toEqual({ bucket: 'lake', key: 'processed/x/date=2026-01-01/a.json' });
  });

  it('a key with partitions of its own, under a layout whose date folder holds the zone, the dataset or the name too: refused, naming the layout and the folder', () => {
    const kept = plan({ zone: 'analytics', dataset: 'ds', layout: '{zone}/{dataset}/year={yyyy}/{name}' });
    expect(destinationFor(kept, 'raw/x/date=2026-01-01/f.json')).toEqual({ bucket: 'lake', key: 'analytics/ds/date=2026-01-01/f.json' });
    const zoned = plan({ zone: 'analytics', dataset: 'ds', layout: '{zone}-{yyyy}/{dataset}/{mm}/{dd}/{name}' });
    expect(() => destinationFor(zoned, 'raw/x/date=2026-01-01/f.json')).toThrow(
      "s3://lake/raw/x/date=2026-01-01/f.json has partitions of its own (date=2026-01-01), and the layout '{zone}-{yyyy}/{dataset}/{mm}/{dd}/{name}' cannot leave its date out for it: its folder '{zone}-{yyyy}' holds more than the date",
    );
    const named = plan({ zone: 'analytics', dataset: 'ds2', layout: '{zone}/{dataset}_{yyyy}{mm}{dd}/{name}' });
    expect(() => destinationFor(named, 'raw/x/date=2026-01-01/f.json')).toThrow(expect.objectContaining({ hint: expect.stringMatching(/--layout .*date placeholders alone/) }));
    // A key without partitions of its own is dated through the same layout as before.
    expect(destinationFor(named, 'raw/x/f.json').key).toMatch(/^analytics\/ds2_\d{8}\/f\.json$/);
  });

  it('a folder marker goes to the folder it names, the source prefix\'s own to the destination prefix\'s; the layout and a bucket\'s root have no place for one', () => {
    const tree = plan({ destination: 's3://lake/archive/x/' });
    expect(markerLeftOut(tree, 'raw/x/dir/')).toBeUndefined();
    expect(destinationFor(tree, 'raw/x/dir/')).toEqual({ bucket: 'lake', key: 'archive/x/dir/' });
    expect(destinationFor(tree, 'raw/x/')).toEqual({ bucket: 'lake', key: 'archive/x/' });
    const root = plan({ destination: 's3://other/' });
    expect(destinationFor(root, 'raw/x/dir/')).toEqual({ bucket: 'other', key: 'dir/' });
    expect(markerLeftOut(root, 'raw/x/')).toMatch(/bucket's root/);
    expect(() => destinationFor(root, 'raw/x/')).toThrow(/internal/);
    expect(markerLeftOut(plan({ zone: 'processed', dataset: 'x' }), 'raw/x/dir/')).toMatch(/layout places files/);
    expect(markerLeftOut(tree, 'raw/x/a.csv')).toBeUndefined();
  });

  it('refuses, before any request, a recursive copy into or around its own prefix, and half a layout', () => {
    expect(() => plan({ destination: 's3://lake/raw/x/inner/' })).toThrow(/one prefix contains the other/);
    expect(() => plan({ destination: 's3://lake/raw/' })).toThrow(/one prefix contains the other/);
    expect(() => plan({ source: 's3://lake/processed/', zone: 'processed', dataset: 'x' })).toThrow(/one prefix contains the other/);
    expect(() => plan({ destination: 's3://other/raw/x/' })).not.toThrow();
    expect(() => plan({ zone: 'processed' })).toThrow(/both --zone and --dataset/);
    expect(() => plan({ zone: 'processed', dataset: 'x', destination: 's3://lake/p/' })).toThrow(/--zone makes the destination/);
    expect(() => plan({ destination: undefined })).toThrow(/cp needs a destination/);
  });
});

describe('proving a copy', () => {
  const details = (fields: Partial<HeadDetails>): HeadDetails => ({
    bucket: 'lake',
    key: 'k',
    versionId: null,
    size: 10,
    etag: '0123456789abcdef0123456789abcdef',
    lastModified: null,
    contentType: null,
    headers: {},
    storageClass: 'STANDARD',
    serverSideEncryption: null,
    sseKmsKeyId: null,
    metadata: {},
    md5: null,
    checksums: {},
    ...fields,
  });

  it('by the ETag when both are MD5-based; a different ETag or size is a mismatch', () => {
    const source = details({});
    expect(proveCopy(source, details({ key: 'copy' }), source.etag)).toEqual({ verifiedBy: 'etag' });
    expect(() => proveCopy(source, details({ etag: 'ffffffffffffffffffffffffffffffff' }), source.etag)).toThrow(/did not verify: ETag ffff/);
    expect(() => proveCopy(source, details({ size: 11 }), source.etag)).toThrow(/11 bytes, the source has 10/);
  });

  it("by the ETag and, where both carry one, the full-object checksum: an equal ETag with another CRC32 is a mismatch", () => {
    const crc = (value: string) => ({ crc32: value, type: 'FULL_OBJECT' });
    const source = details({ checksums: crc('AAAAAA==') });
    expect(proveCopy(source, details({ checksums: crc('AAAAAA==') }), source.etag)).toEqual({ verifiedBy: 'etag' });
    expect(proveCopy(source, details({}), source.etag)).toEqual({ verifiedBy: 'etag' });
    expect(() => proveCopy(source, details({ checksums: crc('BBBBBB==') }), source.etag)).toThrow(/did not verify: crc32 BBBBBB==, the source's is AAAAAA==/);
    // A server that names no type (SeaweedFS, for a single PUT): a value that is not a composite `…-N` is the whole object's.
    expect(() => proveCopy(details({ checksums: { crc32: 'AAAAAA==' } }), details({ checksums: { crc32: 'BBBBBB==' } }), source.etag)).toThrow(/crc32 BBBBBB==/);
    expect(proveCopy(details({ checksums: { crc32: 'AAAAAA==-2' } }), details({ checksums: { crc32: 'BBBBBB==-2' } }), source.etag)).toEqual({ verifiedBy: 'etag' });
  });

  it('under SSE-KMS, by a full-object checksum; a stored MD5 (copied metadata) proves nothing: the copy is read back', () => {
    const kms = { serverSideEncryption: 'aws:kms' };
    expect(proveCopy(details({ ...kms, md5: 'aa' }), details({ ...kms, md5: 'aa', etag: 'opaque' }), '0123456789abcdef0123456789abcdef')).toBeUndefined();
    const crc = (value: string) => ({ crc32: value, type: 'FULL_OBJECT' });
    expect(proveCopy(details({ ...kms, checksums: crc('AAAAAA==') }), details({ ...kms, checksums: crc('AAAAAA==') }), undefined)).toEqual({ verifiedBy: 'checksum', verifiedWith: 'crc32' });
    expect(() => proveCopy(details({ ...kms, checksums: crc('AAAAAA==') }), details({ ...kms, checksums: crc('BBBBBB==') }), undefined)).toThrow(/crc32 BBBBBB==/);
    expect(proveCopy(details({ ...kms }), details({ ...kms }), undefined)).toBeUndefined();
  });
});
