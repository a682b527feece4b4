import { describe, expect, it } from 'vitest';
import { joinKey, parseObjectAddress, validateBucketName, validateKey, validateNewKey } from '../../src/core/config/address.js';
import { parseLayoutDate, parseZone, renderLayoutKey, renderLayoutPrefix, todayUtc, undatedLayout, validateLayout, DEFAULT_LAYOUT } from '../../src/core/config/layout.js';

describe('object addresses', () => {
  it('reads s3://bucket/key and bare keys in the configured bucket', () => {
    expect(parseObjectAddress('s3://lake/raw/a.csv', undefined)).toEqual({ bucket: 'lake', key: 'raw/a.csv' });
    expect(parseObjectAddress('raw/a.csv', 'lake')).toEqual({ bucket: 'lake', key: 'raw/a.csv' });
    expect(parseObjectAddress('s3://lake', undefined, { allowPrefix: true })).toEqual({ bucket: 'lake', key: '' });
    expect(parseObjectAddress('s3://lake/raw/', undefined, { allowPrefix: true })).toEqual({ bucket: 'lake', key: 'raw/' });
  });

  it('needs a bucket for a bare key', () => {
    expect(() => parseObjectAddress('raw/a.csv', undefined)).toThrow(/no bucket configured/);
  });

  it.each([
    ['a//b', /empty path segment/],
    ['/a', /empty path segment/],
    ['a/../b', /'\.\.' segment/],
    ['..', /'\.\.' segment/],
    ['a/./b', /'\.' segment/],
    ['x'.repeat(1025), /1025 bytes/],
    ['é'.repeat(513), /1026 bytes/],
    ['', /empty object key/],
    ['dir/', /names a prefix/],
  ])('refuses the key %j', (key, message) => {
    expect(() => validateKey(key)).toThrow(message);
  });

  it('a key with control characters names an object S3 allows; datalake makes none (put, a typed destination)', () => {
    expect(parseObjectAddress('s3://lake/h/new\nline.csv', undefined)).toEqual({ bucket: 'lake', key: 'h/new\nline.csv' });
    expect(() => validateKey('h/tab\there.csv')).not.toThrow();
    expect(() => validateNewKey('h/new\nline.csv')).toThrow("invalid key 'h/new\nline.csv': control characters are not allowed in a key datalake makes");
    expect(() => parseObjectAddress('s3://lake/h/new\nline.csv', undefined, { newKey: true })).toThrow(/control characters/);
    // C1 controls too (U+0080–U+009F); the first character past them is an ordinary one.
    for (const control of ['\u0080', '\u0085', '\u009b', '\u009f']) expect(() => validateNewKey(`h/c1${control}.csv`)).toThrow(/control characters are not allowed/);
    expect(() => validateNewKey('h/nbsp\u00a0é.csv')).not.toThrow();
  });

  it('accepts a key of exactly 1,024 bytes', () => {
    expect(() => validateKey('k'.repeat(1024))).not.toThrow();
  });

  it.each(['ab', 'UPPER', '-lake', 'lake-', 'a..b', '192.168.0.1', 'a_b', 'x'.repeat(64)])('refuses the bucket name %j', (bucket) => {
    expect(() => validateBucketName(bucket)).toThrow(/invalid bucket name/);
  });

  it('joins prefixes and names with one slash', () => {
    expect(joinKey('raw/', 'a.csv')).toBe('raw/a.csv');
    expect(joinKey('raw', 'a.csv')).toBe('raw/a.csv');
    expect(joinKey('', 'a.csv')).toBe('a.csv');
  });
});

describe('layout', () => {
  const date = parseLayoutDate('2024-01-15');

  it('renders the default layout as the issue example says', () => {
    expect(renderLayoutKey(DEFAULT_LAYOUT, { zone: 'raw', dataset: 'reddit', date, name: 'events.csv' })).toBe('raw/reddit/year=2024/month=01/day=15/events.csv');
  });

  it('renders a custom template and the prefix before {name}', () => {
    const template = '{zone}/{dataset}/dt={yyyy}-{mm}-{dd}/{name}';
    expect(renderLayoutKey(template, { zone: 'processed', dataset: 'clicks', date, name: 'sub/part-0.parquet' })).toBe('processed/clicks/dt=2024-01-15/sub/part-0.parquet');
    expect(renderLayoutPrefix(template, { zone: 'processed', dataset: 'clicks', date })).toBe('processed/clicks/dt=2024-01-15/');
  });

  it('accepts only the three zones', () => {
    expect(parseZone('analytics')).toBe('analytics');
    expect(() => parseZone('bronze')).toThrow(/invalid zone 'bronze'/);
  });

  it.each(['2024-02-30', '2024-13-01', '24-01-15', '2024-1-5', 'yesterday', '2023-02-29'])('refuses the date %j', (text) => {
    expect(() => parseLayoutDate(text)).toThrow(/invalid date/);
  });

  it('accepts a leap day and defaults to today in UTC', () => {
    expect(parseLayoutDate('2024-02-29')).toEqual({ yyyy: '2024', mm: '02', dd: '29' });
    expect(todayUtc(new Date('2025-12-31T23:59:59Z'))).toEqual({ yyyy: '2025', mm: '12', dd: '31' });
  });

  it('refuses templates with unknown placeholders or without {name}', () => {
    expect(() => validateLayout('{zone}/{team}/{name}')).toThrow(/unknown placeholder \{team\}/);
    expect(() => validateLayout('{zone}/{dataset}')).toThrow(/must contain \{name\}/);
  });

  it.each([
    [DEFAULT_LAYOUT, '{zone}/{dataset}/{name}'],
    ['{zone}/{dataset}/{yyyy}/{name}', '{zone}/{dataset}/{name}'],
    ['{zone}/{dataset}/year={yyyy}/{name}', '{zone}/{dataset}/{name}'],
    ['{zone}/{dataset}/{yyyy}-{mm}-{dd}/{name}', '{zone}/{dataset}/{name}'],
    ['{zone}/{dataset}/dt={yyyy}{mm}{dd}/{name}', '{zone}/{dataset}/{name}'],
    ['{yyyy}/{mm}/{zone}/{dataset}/{name}', '{zone}/{dataset}/{name}'],
    ['{zone}/{dataset}.v1/{name}', '{zone}/{dataset}.v1/{name}'],
  ])('takes the date folders out of %j: a folder of date placeholders and partition text alone', (template, undated) => {
    expect(undatedLayout(template)).toEqual({ kind: 'undated', template: undated });
  });

  it.each([
    ['{zone}-{yyyy}/{dataset}/{mm}/{dd}/{name}', '{zone}-{yyyy}'],
    ['{zone}/{dataset}_{yyyy}{mm}{dd}/{name}', '{dataset}_{yyyy}{mm}{dd}'],
    ['{zone}/{dataset}/{yyyy}{mm}{dd}-{name}', '{yyyy}{mm}{dd}-{name}'],
    ['{zone}/{dataset}/v1-{yyyy}/{name}', 'v1-{yyyy}'],
    ['{zone}/{dataset}/year={yyyy}=x/{name}', 'year={yyyy}=x'],
  ])('cannot take the date out of %j: the folder %j holds more than the date', (template, folder) => {
    expect(undatedLayout(template)).toEqual({ kind: 'mixed', folder });
  });

  it('refuses templates with a control character: what a layout adds to a name is a key datalake makes', () => {
    expect(() => validateLayout('{zone}/\u001b[2J{dataset}/{name}')).toThrow(/invalid layout .*: control characters are not allowed/);
    expect(() => validateLayout('{zone}/{dataset}/\u0085{name}')).toThrow(/control characters are not allowed/);
  });
});
