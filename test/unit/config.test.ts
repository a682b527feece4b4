import { describe, expect, it } from 'vitest';
import { resolveSettings, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../../src/core/config.js';
import { applyDotenv, parseDotenv } from '../../src/core/dotenv.js';

/** The CLI's order of work: .env fills what the environment lacks, then flags win over both. */
function settingsFrom(flags: Record<string, string>, environment: Record<string, string>, dotenvText: string) {
  const env: NodeJS.ProcessEnv = { ...environment };
  applyDotenv(env, parseDotenv(dotenvText));
  return resolveSettings(flags, env);
}

describe('configuration precedence: flag > environment > .env > default', () => {
  const dotenv = 'DATALAKE_BUCKET=from-dotenv\nAWS_REGION=eu-west-1\nDATALAKE_CONCURRENCY=3\n';

  it('takes the flag over everything', () => {
    expect(settingsFrom({ bucket: 'from-flag' }, { DATALAKE_BUCKET: 'from-env' }, dotenv).bucket).toBe('from-flag');
  });

  it('takes the environment over .env, and .env never overrides a set variable', () => {
    const env: NodeJS.ProcessEnv = { DATALAKE_BUCKET: 'from-env' };
    applyDotenv(env, parseDotenv(dotenv));
    expect(env.DATALAKE_BUCKET).toBe('from-env');
    expect(resolveSettings({}, env).bucket).toBe('from-env');
  });

  it('takes .env over the default', () => {
    const settings = settingsFrom({}, {}, dotenv);
    expect(settings.bucket).toBe('from-dotenv');
    expect(settings.region).toBe('eu-west-1');
    expect(settings.concurrency).toBe(3);
  });

  it('falls back to the defaults', () => {
    const settings = settingsFrom({}, {}, '');
    expect(settings).toMatchObject({ bucket: undefined, region: 'us-east-1', endpoint: undefined, concurrency: DEFAULT_CONCURRENCY, partSize: DEFAULT_PART_SIZE });
    expect(settings.layout).toBe('{zone}/{dataset}/year={yyyy}/month={mm}/day={dd}/{name}');
  });

  it('prefers AWS_ENDPOINT_URL_S3 to AWS_ENDPOINT_URL', () => {
    expect(resolveSettings({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2' }).endpoint).toBe('http://127.0.0.1:2');
    expect(resolveSettings({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }).endpoint).toBe('http://127.0.0.1:1');
  });
});

describe('configuration checks', () => {
  it.each(['not a url', 'ftp://host', 'http://', 'http://user:pw@host:9000'])('refuses the endpoint %j', (endpoint) => {
    expect(() => resolveSettings({ endpoint }, {})).toThrow(/malformed endpoint URL/);
  });

  it('refuses part sizes outside 5 MiB to 5 GiB and takes units', () => {
    expect(() => resolveSettings({ partSize: '4MiB' }, {})).toThrow(/5 MiB to 5 GiB/);
    expect(() => resolveSettings({ partSize: '6GiB' }, {})).toThrow(/5 MiB to 5 GiB/);
    expect(resolveSettings({ partSize: '16MiB' }, {}).partSize).toBe(16 * 1024 ** 2);
    expect(resolveSettings({}, { DATALAKE_PART_SIZE: '5MiB' }).partSize).toBe(5 * 1024 ** 2);
  });

  it('refuses concurrency under 1', () => {
    expect(() => resolveSettings({ concurrency: '0' }, {})).toThrow(/concurrency/);
    expect(() => resolveSettings({}, { DATALAKE_CONCURRENCY: '-2' })).toThrow(/concurrency/);
  });
});

describe('.env parsing', () => {
  it('reads comments, export, quotes and trailing comments', () => {
    expect(parseDotenv('# c\nexport A=1\nB="two words"\nC=\'x#y\'\nD=plain # note\n\nE=')).toEqual({ A: '1', B: 'two words', C: 'x#y', D: 'plain', E: '' });
  });

  it('names the malformed line', () => {
    expect(() => parseDotenv('A=1\nthis is not a setting\n')).toThrow(/\.env line 2: expected KEY=value/);
    expect(() => parseDotenv('A="open')).toThrow(/line 1: unterminated quote/);
  });
});
