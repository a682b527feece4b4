import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { resolveSettings, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, type SettingFlags } from '../../src/core/config/config.js';
import { applyDotenv, parseDotenv } from '../../src/core/config/dotenv.js';

/** Every variable resolveSettings or the SDK's loaders read: each test starts with none of this machine's. */
const READ_VARIABLES = [
  'DATALAKE_BUCKET', 'DATALAKE_LAYOUT', 'DATALAKE_CONCURRENCY', 'DATALAKE_PART_SIZE', 'DATALAKE_RETRIES',
  'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'DATALAKE_TIMEOUT', 'AWS_CA_BUNDLE',
  'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy',
];
const files = mkdtempSync(join(tmpdir(), 'datalake-config-'));
const emptyFile = join(files, 'empty');
writeFileSync(emptyFile, '');
let fileCount = 0;
/** A shared config file of its own (the SDK's loader caches a file by its path). */
function awsConfig(text: string): string {
  fileCount += 1;
  const path = join(files, `config-${fileCount}`);
  writeFileSync(path, text);
  return path;
}

afterEach(() => vi.unstubAllEnvs());
afterAll(() => rmSync(files, { recursive: true, force: true }));

/** resolveSettings in a process whose environment is exactly `environment` (the SDK's loaders read process.env). */
function resolveWith(flags: SettingFlags, environment: NodeJS.ProcessEnv) {
  for (const name of READ_VARIABLES) vi.stubEnv(name, undefined);
  vi.stubEnv('AWS_CONFIG_FILE', emptyFile);
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', emptyFile);
  for (const [name, value] of Object.entries(environment)) vi.stubEnv(name, value);
  return resolveSettings(flags);
}

/** The CLI's order of work: .env fills what the environment lacks, then flags win over both. */
function settingsFrom(flags: Record<string, string>, environment: Record<string, string>, dotenvText: string) {
  const env: NodeJS.ProcessEnv = { ...environment };
  applyDotenv(env, parseDotenv(dotenvText));
  return resolveWith(flags, env);
}

describe('configuration precedence: flag > environment > .env > default', () => {
  const dotenv = 'DATALAKE_BUCKET=from-dotenv\nAWS_REGION=eu-west-1\nDATALAKE_CONCURRENCY=3\n';

  it('takes the flag over everything', async () => {
    expect((await settingsFrom({ bucket: 'from-flag' }, { DATALAKE_BUCKET: 'from-env' }, dotenv)).bucket).toBe('from-flag');
  });

  it('takes the environment over .env, and .env never overrides a set variable', async () => {
    const env: NodeJS.ProcessEnv = { DATALAKE_BUCKET: 'from-env' };
    applyDotenv(env, parseDotenv(dotenv));
    expect(env.DATALAKE_BUCKET).toBe('from-env');
    expect((await resolveWith({}, env)).bucket).toBe('from-env');
  });

  it('takes .env over the default', async () => {
    const settings = await settingsFrom({}, {}, dotenv);
    expect(settings.bucket).toBe('from-dotenv');
    expect(settings.region).toBe('eu-west-1');
    expect(settings.concurrency).toBe(3);
  });

  it('falls back to the defaults', async () => {
    const settings = await settingsFrom({}, {}, '');
    expect(settings).toMatchObject({ bucket: undefined, region: 'us-east-1', endpoint: undefined, concurrency: DEFAULT_CONCURRENCY, partSize: DEFAULT_PART_SIZE });
    expect(settings.layout).toBe('{zone}/{dataset}/year={yyyy}/month={mm}/day={dd}/{name}');
  });

  it('prefers AWS_ENDPOINT_URL_S3 to AWS_ENDPOINT_URL', async () => {
    expect((await resolveWith({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2' })).endpoint).toBe('http://127.0.0.1:2');
    expect((await resolveWith({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' })).endpoint).toBe('http://127.0.0.1:1');
  });
});

describe('configuration checks', () => {
  it.each(['not a url', 'ftp://host', 'http://', 'http://user:pw@host:9000'])('refuses the endpoint %j', async (endpoint) => {
    await expect(resolveWith({ endpoint }, {})).rejects.toThrow(/malformed endpoint URL/);
  });

  it('refuses part sizes outside 5 MiB to 5 GiB and takes units', async () => {
    await expect(resolveWith({ partSize: '4MiB' }, {})).rejects.toThrow(/5 MiB to 5 GiB/);
    await expect(resolveWith({ partSize: '6GiB' }, {})).rejects.toThrow(/5 MiB to 5 GiB/);
    expect((await resolveWith({ partSize: '16MiB' }, {})).partSize).toBe(16 * 1024 ** 2);
    expect((await resolveWith({}, { DATALAKE_PART_SIZE: '5MiB' })).partSize).toBe(5 * 1024 ** 2);
  });

  it('refuses concurrency under 1', async () => {
    await expect(resolveWith({ concurrency: '0' }, {})).rejects.toThrow(/concurrency/);
    await expect(resolveWith({}, { DATALAKE_CONCURRENCY: '-2' })).rejects.toThrow(/concurrency/);
  });
});

describe('region and endpoint: flag > environment > profile > default, as the AWS CLI and SDK read them', () => {
  const keys = 'aws_access_key_id = a\naws_secret_access_key = b\n';
  const prod = (lines: string) => awsConfig(`[default]\nregion = ap-south-1\n\n[profile prod]\n${keys}${lines}`);

  it("takes the region from the profile AWS_PROFILE names, else from the default profile", async () => {
    const config = prod('region = eu-west-1\n');
    expect((await resolveWith({}, { AWS_CONFIG_FILE: config, AWS_PROFILE: 'prod' })).region).toBe('eu-west-1');
    expect((await resolveWith({}, { AWS_CONFIG_FILE: config })).region).toBe('ap-south-1');
  });

  it('takes --profile over AWS_PROFILE, for the region and as the profile of the run', async () => {
    const config = awsConfig(`[profile prod]\nregion = eu-west-1\n\n[profile other]\nregion = eu-north-1\n`);
    const settings = await resolveWith({ profile: 'prod' }, { AWS_CONFIG_FILE: config, AWS_PROFILE: 'other' });
    expect(settings).toMatchObject({ region: 'eu-west-1', profile: 'prod' });
    // The SDK's credential chain reads the profile from the environment: the run's is the flag's.
    expect(process.env.AWS_PROFILE).toBe('prod');
  });

  it("takes the profile's region from the credentials file too", async () => {
    const credentials = awsConfig('[prod]\naws_access_key_id = a\naws_secret_access_key = b\nregion = ca-central-1\n');
    expect((await resolveWith({}, { AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_PROFILE: 'prod' })).region).toBe('ca-central-1');
  });

  it('takes --region, then AWS_REGION, then AWS_DEFAULT_REGION over the profile', async () => {
    const env = { AWS_CONFIG_FILE: prod('region = eu-west-1\n'), AWS_PROFILE: 'prod' };
    expect((await resolveWith({ region: 'sa-east-1' }, { ...env, AWS_REGION: 'us-west-1', AWS_DEFAULT_REGION: 'us-west-2' })).region).toBe('sa-east-1');
    expect((await resolveWith({}, { ...env, AWS_REGION: 'us-west-1', AWS_DEFAULT_REGION: 'us-west-2' })).region).toBe('us-west-1');
    expect((await resolveWith({}, { ...env, AWS_DEFAULT_REGION: 'us-west-2' })).region).toBe('us-west-2');
  });

  it('falls back to us-east-1 for a profile with no region, or one the file lacks', async () => {
    const config = awsConfig(`[profile prod]\n${keys}`);
    expect((await resolveWith({}, { AWS_CONFIG_FILE: config, AWS_PROFILE: 'prod' })).region).toBe('us-east-1');
    expect((await resolveWith({}, { AWS_CONFIG_FILE: config, AWS_PROFILE: 'absent' })).region).toBe('us-east-1');
  });

  it("takes the endpoint: --endpoint > AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > the services section > the profile's endpoint_url", async () => {
    const services = awsConfig(`[profile prod]\n${keys}endpoint_url = http://127.0.0.1:5\nservices = lake\n\n[services lake]\ns3 =\n  endpoint_url = http://127.0.0.1:4\n`);
    const plain = prod('endpoint_url = http://127.0.0.1:5\n');
    const base = { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: services };
    const all = { ...base, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2', AWS_ENDPOINT_URL: 'http://127.0.0.1:3' };
    expect((await resolveWith({ endpoint: 'http://127.0.0.1:1' }, all)).endpoint).toBe('http://127.0.0.1:1');
    expect((await resolveWith({}, all)).endpoint).toBe('http://127.0.0.1:2');
    expect((await resolveWith({}, { ...base, AWS_ENDPOINT_URL: 'http://127.0.0.1:3' })).endpoint).toBe('http://127.0.0.1:3');
    expect((await resolveWith({}, base)).endpoint).toBe('http://127.0.0.1:4');
    expect((await resolveWith({}, { ...base, AWS_CONFIG_FILE: plain })).endpoint).toBe('http://127.0.0.1:5');
  });

  it('sets configured endpoints aside under AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile\'s ignore_configured_endpoint_urls, never --endpoint', async () => {
    const config = prod('endpoint_url = http://127.0.0.1:5\n');
    const ignoring = prod('endpoint_url = http://127.0.0.1:5\nignore_configured_endpoint_urls = true\n');
    const env = { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: config, AWS_ENDPOINT_URL: 'http://127.0.0.1:3' };
    expect((await resolveWith({}, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).endpoint).toBeUndefined();
    expect((await resolveWith({}, { ...env, AWS_CONFIG_FILE: ignoring })).endpoint).toBeUndefined();
    expect((await resolveWith({ endpoint: 'http://127.0.0.1:1' }, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).endpoint).toBe('http://127.0.0.1:1');
  });

  it("refuses a malformed endpoint from the profile, naming where it came from", async () => {
    await expect(resolveWith({}, { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: prod('endpoint_url = nope\n') })).rejects.toThrow("malformed endpoint URL 'nope' (from profile 'prod')");
    await expect(resolveWith({}, { AWS_ENDPOINT_URL_S3: 'nope' })).rejects.toThrow("malformed endpoint URL 'nope' (from AWS_ENDPOINT_URL_S3)");
  });

  it("addresses buckets as the profile's s3 addressing_style says; without one, by path for a custom endpoint only", async () => {
    const style = (value: string) => prod(`endpoint_url = http://s3.localhost:9000\ns3 =\n  addressing_style = ${value}\n`);
    const env = (config: string) => ({ AWS_PROFILE: 'prod', AWS_CONFIG_FILE: config });
    expect((await resolveWith({}, env(style('virtual')))).forcePathStyle).toBe(false);
    expect((await resolveWith({}, env(style('path')))).forcePathStyle).toBe(true);
    expect((await resolveWith({}, env(style('auto')))).forcePathStyle).toBe(true);
    expect((await resolveWith({}, env(prod('endpoint_url = http://s3.localhost:9000\n')))).forcePathStyle).toBe(true);
    expect((await resolveWith({}, env(prod('')))).forcePathStyle).toBe(false);
    await expect(resolveWith({}, env(style('sideways')))).rejects.toThrow("invalid s3 addressing_style 'sideways' in profile 'prod'");
  });
});

describe('time limit and CA bundle', () => {
  it('takes --timeout, then DATALAKE_TIMEOUT, as a duration; 10m by default; refuses zero and words; a limit past what a timer holds is that', async () => {
    expect((await resolveWith({}, {})).timeoutMs).toBe(600_000);
    expect((await resolveWith({ timeout: '90' }, { DATALAKE_TIMEOUT: '1h' })).timeoutMs).toBe(90_000);
    expect((await resolveWith({}, { DATALAKE_TIMEOUT: '2m' })).timeoutMs).toBe(120_000);
    await expect(resolveWith({ timeout: '0' }, {})).rejects.toThrow("invalid timeout '0'");
    await expect(resolveWith({ timeout: 'soon' }, {})).rejects.toThrow("invalid timeout 'soon'");
    expect((await resolveWith({ timeout: '30d' }, {})).timeoutMs).toBe(2 ** 31 - 1);
  });

  it("reads the CA bundle from AWS_CA_BUNDLE, else the profile's ca_bundle; one that cannot be read is refused, naming where it was set", async () => {
    const key = join(files, 'ca.key');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=test CA', '-days', '1'], { encoding: 'utf8' });
    expect(made.status).toBe(0);
    const pem = (name: string) => {
      const path = join(files, name);
      writeFileSync(path, `# ${name}\n${made.stdout}`);
      return path;
    };
    const [fromEnvironment, fromProfile] = [pem('env.pem'), pem('profile.pem')];
    const config = awsConfig(`[profile prod]\nca_bundle = ${fromProfile}\n`);
    expect((await resolveWith({}, {})).ca).toBeUndefined();
    expect((await resolveWith({}, { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: config })).ca).toContain('profile.pem');
    expect((await resolveWith({}, { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: config, AWS_CA_BUNDLE: fromEnvironment })).ca).toContain('env.pem');
    const missing = join(files, 'missing.pem');
    await expect(resolveWith({}, { AWS_CA_BUNDLE: missing })).rejects.toThrow(`cannot read the CA bundle '${missing}' (from AWS_CA_BUNDLE): ENOENT`);
    await expect(resolveWith({}, { AWS_PROFILE: 'prod', AWS_CONFIG_FILE: awsConfig(`[profile prod]\nca_bundle = ${missing}\n`) })).rejects.toThrow("(from profile 'prod')");
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

describe('settings refused before any request, naming where they came from', () => {
  it.each(['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'])('a malformed %s', async (name) => {
    await expect(resolveWith({}, { [name]: 'not a url' })).rejects.toMatchObject({ kind: 'usage', message: expect.stringContaining(name) });
    await expect(resolveWith({}, { [name]: 'ftp://proxy:21' })).rejects.toMatchObject({ kind: 'usage', message: expect.stringContaining(name) });
  });

  it('a proxy URL is accepted, with or without credentials', async () => {
    await expect(resolveWith({}, { HTTPS_PROXY: 'http://user:pw@proxy:3128', HTTP_PROXY: 'http://proxy.corp:8080' })).resolves.toBeTruthy();
  });

  it('DATALAKE_TIMEOUT=abc names the variable', async () => {
    await expect(resolveWith({}, { DATALAKE_TIMEOUT: 'abc' })).rejects.toMatchObject({ kind: 'usage', message: expect.stringContaining('DATALAKE_TIMEOUT') });
  });

  it.each([
    ['junk', 'not a certificate\n'],
    ['empty', ''],
    ['truncated', '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n'],
    ['DER', '\u0030\u0082\u0001\u00b3\u0030\u0082'],
    ['a whole PEM block around a cut certificate', `-----BEGIN CERTIFICATE-----\n${certificateBody().slice(0, 400)}\n-----END CERTIFICATE-----\n`],
    ['a whole PEM block around base64 junk', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n'],
  ])('a CA bundle that is not PEM certificates (%s) names the file', async (_kind, text) => {
    const path = join(files, `ca-${_kind}.pem`);
    writeFileSync(path, text, 'latin1');
    await expect(resolveWith({}, { AWS_CA_BUNDLE: path })).rejects.toMatchObject({ kind: 'usage', message: expect.stringContaining(path) });
  });
});

/** The base64 body of a real certificate, made here with openssl. */
function certificateBody(): string {
  return readFileSync(certificateFile(), 'utf8').replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

let madeCertificate: string | undefined;
function certificateFile(): string {
  if (madeCertificate) return madeCertificate;
  const key = join(files, 'ca-key.pem');
  madeCertificate = join(files, 'ca-good.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', madeCertificate, '-days', '1', '-subj', '/CN=datalake test CA'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  return madeCertificate;
}

describe('a CA bundle of whole certificates', () => {
  it('is accepted: one made by openssl, and two of them in one file', async () => {
    await expect(resolveWith({}, { AWS_CA_BUNDLE: certificateFile() })).resolves.toBeTruthy();
    const two = join(files, 'ca-two.pem');
    writeFileSync(two, readFileSync(certificateFile(), 'utf8').repeat(2));
    await expect(resolveWith({}, { AWS_CA_BUNDLE: two })).resolves.toBeTruthy();
  });
});

describe('an endpoint with credentials in its URL', () => {
  it('is refused without echoing the password', async () => {
    const refused = await resolveWith({ endpoint: 'http://u:s3cr3t@host:9000' }, {}).catch((error: unknown) => error);
    expect(refused).toMatchObject({ kind: 'usage' });
    expect(String((refused as Error).message)).not.toContain('s3cr3t');
    expect(String((refused as Error).message)).toContain('host:9000');
  });
});
