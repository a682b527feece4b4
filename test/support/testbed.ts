/**
 * Real components for the setups AWS users have, each started on loopback by the tests that need it
 * and stopped by them: a certificate authority and a server certificate (openssl), a forward proxy
 * with its own log (Debian's tinyproxy), a listener that accepts and never answers, a shared config
 * file with a `credential_process`, and the CLI run under libfaketime. `scripts/test-tools.ts`
 * installs the Debian packages on a machine that lacks them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type MinioTls } from '../../scripts/lib/minio.js';
import { BIN, type CliResult } from './harness.js';

/** A CA made for one run, and a server certificate it signed for loopback names. */
export interface TestCertificates extends MinioTls {
  caFile: string;
}

/**
 * `names` become the certificate's subject alternative names. Node refuses a wildcard directly under
 * a top-level name (`*.localhost`), so a virtual-hosted domain needs three labels: `*.s3.localhost`.
 */
export function makeCertificates(directory: string, names = ['localhost', 's3.localhost', '*.s3.localhost', 'IP:127.0.0.1', 'IP:::1']): TestCertificates {
  mkdirSync(directory, { recursive: true });
  const certsDirectory = join(directory, 'minio-certs');
  mkdirSync(certsDirectory, { recursive: true });
  const path = (name: string) => join(directory, name);
  const openssl = (args: string[]) => {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    if (result.error || result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.error?.message ?? result.stderr.trim()}`);
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '2', '-subj', '/CN=datalake test CA']);
  openssl(['req', ...ecKey, '-keyout', join(certsDirectory, 'private.key'), '-out', path('server.csr'), '-subj', '/CN=localhost']);
  const san = names.map((name) => (name.startsWith('IP:') ? name : `DNS:${name}`)).join(',');
  writeFileSync(path('server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', path('server.ext'), '-out', join(certsDirectory, 'public.crt')]);
  return { certsDirectory, caFile: path('ca.pem'), caPem: readFileSync(path('ca.pem'), 'utf8') };
}

export interface RunningProxy {
  /** http://127.0.0.1:port, for HTTP_PROXY and HTTPS_PROXY. */
  url: string;
  /** The request lines tinyproxy logged since the start (or the last `clear`): `CONNECT host:port` or `GET http://host:port/path`. */
  requests(): string[];
  clear(): void;
  stop(): Promise<void>;
}

/** Debian's tinyproxy on a loopback port, in the foreground, logging every request line to its own file. */
export async function startTinyproxy(directory: string): Promise<RunningProxy> {
  mkdirSync(directory, { recursive: true });
  const port = await freePort();
  const logFile = join(directory, 'tinyproxy.log');
  const config = join(directory, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      `LogFile "${logFile}"`,
      // Connect level logs each request line; no ConnectPort line lets CONNECT reach any port.
      'LogLevel Connect',
      'MaxClients 256',
      'Allow 127.0.0.1',
      // The request reaches the server as the client signed it.
      'DisableViaHeader Yes',
      '',
    ].join('\n'),
  );
  writeFileSync(logFile, '');
  const child = spawn('tinyproxy', ['-d', '-c', config], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => (exited = true));
  await waitForListener(port, () => exited, 'tinyproxy');
  let skipLines = 0;
  const lines = () => readFileSync(logFile, 'utf8').split('\n');
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () =>
      lines()
        .slice(skipLines)
        .map((line) => /\]: Request \(file descriptor \d+\): (\S+ \S+)/.exec(line)?.[1])
        .filter((line): line is string => line !== undefined),
    clear: () => {
      skipLines = lines().length - 1;
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

async function waitForListener(port: number, exited: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited()) throw new Error(`${what} exited before listening on port ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on port ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface SilentListener {
  /** http://127.0.0.1:port: accepts every connection, reads what is sent, never answers. */
  endpoint: string;
  connections(): number;
  /** When the first connection was accepted (Date.now()), if one was. */
  firstAcceptedAt(): number | undefined;
  stop(): Promise<void>;
}

export async function startSilentListener(): Promise<SilentListener> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let firstAcceptedAt: number | undefined;
  const server = createServer((socket) => {
    accepted += 1;
    firstAcceptedAt ??= Date.now();
    sockets.add(socket);
    socket.resume();
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    connections: () => accepted,
    firstAcceptedAt: () => firstAcceptedAt,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A port nothing listens on: a connection there is refused at once. Port 9 (discard), which no test
 * server is ever given (they listen on port 0, so the kernel picks from its ephemeral range) — a port
 * found free and let go could be taken by another test's server before the connection is tried.
 * Distinct loopback addresses (127.0.0.2, …) give distinct closed endpoints.
 */
export async function closedPortEndpoint(loopbackAddress = '127.0.0.1'): Promise<string> {
  if (!/^127\.\d+\.\d+\.\d+$/.test(loopbackAddress)) throw new Error(`not a loopback address: ${loopbackAddress}`);
  return `http://${loopbackAddress}:9`;
}

export interface CredentialProcess {
  /** The `credential_process` line for a profile. */
  command: string;
  /** When the CLI ran the process, one ISO timestamp a call, and the Expiration each call handed out. */
  calls(): Array<{ at: string; expiration: string }>;
}

/**
 * A `credential_process` script that hands out the given keys with an Expiration `lifetimeSeconds`
 * ahead, and records each call: a run longer than the lifetime must call it again.
 */
export function writeCredentialProcess(directory: string, keys: { accessKeyId: string; secretAccessKey: string }, lifetimeSeconds: number): CredentialProcess {
  mkdirSync(directory, { recursive: true });
  const script = join(directory, 'credential-process.mjs');
  const callsFile = join(directory, 'credential-process.calls');
  writeFileSync(
    script,
    `import { appendFileSync } from 'node:fs';
const now = Date.now();
const expiration = new Date(now + ${lifetimeSeconds * 1000}).toISOString();
appendFileSync(${JSON.stringify(callsFile)}, JSON.stringify({ at: new Date(now).toISOString(), expiration }) + '\\n');
process.stdout.write(JSON.stringify({ Version: 1, AccessKeyId: ${JSON.stringify(keys.accessKeyId)}, SecretAccessKey: ${JSON.stringify(keys.secretAccessKey)}, Expiration: expiration }));
`,
  );
  return {
    command: `${process.execPath} ${script}`,
    calls: () =>
      existsSync(callsFile)
        ? readFileSync(callsFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { at: string; expiration: string })
        : [],
  };
}

/** One `[profile name]` (or `[default]`) section of an AWS shared config file, and optional `[services name]` sections. */
export interface ProfileFile {
  profiles: Record<string, Record<string, string | Record<string, string>>>;
  services?: Record<string, Record<string, Record<string, string>>>;
}

/**
 * Writes an AWS shared config file as the AWS CLI reads it (`AWS_CONFIG_FILE`). A nested object is
 * a sub-section (`s3 =` followed by indented `addressing_style = virtual`).
 */
export function writeAwsConfig(path: string, file: ProfileFile): string {
  const lines: string[] = [];
  const body = (settings: Record<string, string | Record<string, string>>) => {
    for (const [name, value] of Object.entries(settings)) {
      if (typeof value === 'string') lines.push(`${name} = ${value}`);
      else {
        lines.push(`${name} =`);
        for (const [inner, innerValue] of Object.entries(value)) lines.push(`  ${inner} = ${innerValue}`);
      }
    }
    lines.push('');
  };
  for (const [name, settings] of Object.entries(file.profiles)) {
    lines.push(name === 'default' ? '[default]' : `[profile ${name}]`);
    body(settings);
  }
  for (const [name, settings] of Object.entries(file.services ?? {})) {
    lines.push(`[services ${name}]`);
    body(settings);
  }
  writeFileSync(path, lines.join('\n'));
  return path;
}

/**
 * Runs `bin/datalake` as a user would, optionally under `faketime` (e.g. `-1h`, `+1h`: the CLI's
 * clock only; MinIO, a Go binary, keeps the real one). `killAfterMs` ends a run that hangs, and says
 * so in `killed`, so a test can tell "ended on its own" from "had to be stopped".
 */
export function runCliWith(
  args: string[],
  options: { env: NodeJS.ProcessEnv; faketime?: string; killAfterMs?: number; cwd?: string },
): Promise<CliResult & { killed: boolean; elapsedMs: number }> {
  const command = options.faketime === undefined ? [process.execPath, BIN] : ['faketime', '-f', options.faketime, process.execPath, BIN];
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command[0]!, [...command.slice(1), ...args], { env: options.env, cwd: options.cwd ?? tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let killed = false;
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => ((killed = true), child.kill('SIGKILL')), options.killAfterMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(stdout);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), stdoutBytes, killed, elapsedMs: Date.now() - started });
    });
  });
}
