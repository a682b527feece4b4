/**
 * `npm run bench [-- --smoke] [-- --rounds N] [-- --base REV] [-- --only REGEX] [-- --tools LIST]`: datalake against
 * aws-cli, s5cmd and rclone on one MinIO, in one run. Every scenario runs every tool in turn
 * (A B C A B C …) for N rounds, each run timed by /usr/bin/time (wall clock, client CPU and peak RSS),
 * with preparation and clean-up outside the timing. `--base REV` adds datalake built from an earlier
 * commit as one more tool (`base`), so a change is measured against what it replaced in the same run;
 * `--only REGEX` keeps the scenarios whose name matches it (`--only 'upload 5|MiB file'`); `--tools
 * datalake,base,s5cmd` keeps those tools.
 * warp measures the server's own PUT/GET ceiling at the same sizes and concurrency. Writes
 * bench/results.json and bench/results.md (medians, and each peer's time as a ratio to datalake's).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, MINIO_VERSION, startMinio } from '../scripts/lib/minio.js';
import { findPeers, installPeers, type Peers } from '../scripts/lib/peers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const smoke = process.argv.includes('--smoke');
const roundsArg = process.argv.indexOf('--rounds');
const rounds = smoke ? 1 : roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
const optionValue = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const baseRevision = optionValue('--base');
const onlyScenarios = optionValue('--only');
const onlyTools = optionValue('--tools')?.split(',');
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const sizes = smoke
  ? { small16: 20, small4: 50, large: 12 * MiB, ls: 30, mixedFiles: 20, coldStarts: 2, warpSeconds: 4 }
  : { small16: 5000, small4: 20_000, large: 2 * GiB, ls: 1000, mixedFiles: 300, coldStarts: 5, warpSeconds: 15 };
const log = (line: string) => process.stderr.write(`${line}\n`);

type Tool = 'datalake' | 'base' | 's5cmd' | 'aws' | 'rclone';
interface Run {
  seconds: number;
  /** Client CPU, user + system, of the process and its children. */
  cpuSeconds: number;
  rssMiB: number;
}
interface Scenario {
  name: string;
  /** What the amount counts: files, or bytes. */
  unit: 'files' | 'bytes' | 'runs';
  amount: number;
  command(tool: Tool, out: string): string[] | undefined;
  before?(tool: Tool, out: string): Promise<void> | void;
  after?(tool: Tool, out: string): Promise<void> | void;
  /** Times per measurement (a cold start is quick: several, median taken). */
  repeat?: number;
}

// ---- data -----------------------------------------------------------------------------------------
const dataRoot = join(root, 'bench', 'data', smoke ? 'smoke' : 'full');
const scratch = join(root, 'bench', 'tmp');
const paths = {
  small16: join(dataRoot, 'small16k'),
  small4: join(dataRoot, 'small4k'),
  large: join(dataRoot, 'large.bin'),
  mixed: join(dataRoot, 'mixed'),
};

function makeFiles(directory: string, count: number, size: (index: number) => number): void {
  if (existsSync(`${directory}.complete`)) return;
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  for (let i = 0; i < count; i += 1) {
    const folder = join(directory, `d${String(Math.floor(i / 500)).padStart(3, '0')}`);
    if (i % 500 === 0) mkdirSync(folder, { recursive: true });
    const path = join(folder, `f${String(i).padStart(6, '0')}.dat`);
    writeFileSync(path, randomBytes(size(i)));
    // Files of a backfill are not being written right now: old enough for the hash cache to trust.
    utimesSync(path, new Date(Date.now() - 86400_000), new Date(Date.now() - 86400_000));
  }
  writeFileSync(`${directory}.complete`, '');
}

function makeLarge(path: string, size: number): void {
  if (existsSync(`${path}.complete`)) return;
  const fd = openSync(path, 'w');
  const chunk = randomBytes(16 * MiB);
  for (let written = 0; written < size; written += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, size - written));
  closeSync(fd);
  writeFileSync(`${path}.complete`, '');
}

function generate(): void {
  log(`generating data in ${dataRoot} (once)…`);
  mkdirSync(dataRoot, { recursive: true });
  makeFiles(paths.small16, sizes.small16, () => 16 * KiB);
  makeFiles(paths.small4, sizes.small4, () => 4 * KiB);
  makeLarge(paths.large, sizes.large);
  // A mixed tree: mostly small files, some medium, a few multipart-sized.
  makeFiles(paths.mixed, sizes.mixedFiles, (i) => (i % 100 === 0 ? 24 * MiB : i % 10 === 0 ? 1 * MiB : 1 + ((i * 7919) % (64 * KiB))));
}

/**
 * What each tool checks of the bytes it moves, with the settings the benchmark runs it with (from
 * each tool's documentation and its requests as MinIO logs them), so a faster tool that checks less
 * is read as such.
 */
const VERIFIED: Record<Tool, { upload: string; download: string }> = {
  datalake: { upload: 'CRC32 of every part and of the whole object (S3 checks both, datalake compares), Content-MD5 of every part, the multipart ETag', download: 'the object\'s full-object CRC32, every byte (else its MD5 or multipart ETag)' },
  // What datalake proved before full-object checksums (7110be0 and earlier); another --base says so instead.
  base: { upload: 'MD5 of the whole file (stored as md5chksum, read in a pass before the parts), Content-MD5 of every part, the multipart ETag', download: 'md5chksum or the ETag, every byte' },
  s5cmd: { upload: 'Content-MD5 of every PUT and part and, over plain http, the SHA-256 of each body in its signature, both checked by the server; nothing stored', download: 'nothing' },
  aws: { upload: 'the SigV4 hash of each request\'s body (signed payloads over plain http); nothing stored', download: 'nothing (the CLI checks stored checksums only from 2.23 on; Debian\'s is older)' },
  rclone: { upload: 'Content-MD5 of single PUTs and of each part; the whole-file MD5 stored as md5chksum', download: 'MD5 against the ETag or md5chksum' },
};

// ---- timing ---------------------------------------------------------------------------------------
function timed(command: string[], env: NodeJS.ProcessEnv): Run {
  const timing = join(scratch, 'time.txt');
  // Wall time from our own clock (millisecond resolution: /usr/bin/time rounds to 10 ms, which
  // flattens a cold start to nothing); peak RSS from /usr/bin/time.
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', timing, ...command], { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const seconds = Math.round(performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${command.join(' ')} exited ${result.status}: ${result.stderr.toString().slice(-500)}`);
  const [rssKiB, user, system] = readFileSync(timing, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds, cpuSeconds: Math.round((user! + system!) * 100) / 100, rssMiB: Math.round(rssKiB! / 1024) };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

// ---- main -----------------------------------------------------------------------------------------
const peers: Peers = smoke ? findPeers() : await installPeers(log);
mkdirSync(scratch, { recursive: true });
generate();
const minio = await startMinio({ logFile: join(scratch, 'minio.log') });
const bucket = 'bench';
const client = new S3Client({ endpoint: minio.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY } });
const env: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: DEV_ACCESS_KEY,
  AWS_SECRET_ACCESS_KEY: DEV_SECRET_KEY,
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_ENDPOINT_URL: minio.endpoint,
  DATALAKE_CACHE_DIR: join(scratch, 'cache'),
  DATALAKE_STATE_DIR: join(scratch, 'state'),
  RCLONE_CONFIG_BENCH_TYPE: 's3',
  RCLONE_CONFIG_BENCH_PROVIDER: 'Minio',
  RCLONE_CONFIG_BENCH_ENDPOINT: minio.endpoint,
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: DEV_ACCESS_KEY,
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: DEV_SECRET_KEY,
  AWS_PAGER: '',
};
// Plain http on loopback: a CA bundle set for the machine only trips rclone up.
delete env.AWS_CA_BUNDLE;
const datalake = [process.execPath, join(root, 'bin', 'datalake')];
const baseBuild = baseRevision ? buildBase(baseRevision) : undefined;
/** The commit that gave every object its full-object CRC32: a base before it proved what VERIFIED.base says. */
const FULL_OBJECT_CHECKSUMS = '170532e';
const baseIsBeforeChecksums = baseRevision !== undefined && spawnSync('git', ['-C', root, 'merge-base', '--is-ancestor', FULL_OBJECT_CHECKSUMS, baseRevision]).status === 1;
const datalakeOf = (tool: Tool) => (tool === 'base' ? [process.execPath, join(baseBuild!, 'bin', 'datalake')] : datalake);
/** Each build keeps its own hash cache and state: an older build's files are not read by a newer one. */
const envOf = (tool: Tool): NodeJS.ProcessEnv => (tool === 'base' ? { ...env, DATALAKE_CACHE_DIR: join(scratch, 'cache-base'), DATALAKE_STATE_DIR: join(scratch, 'state-base') } : env);
const s3 = (key: string) => `s3://${bucket}/${key}`;
const tools: Tool[] = (['datalake', 'base', 's5cmd', 'aws', 'rclone'] as const)
  .filter((tool) => (tool === 'datalake' ? true : tool === 'base' ? baseBuild !== undefined : peers[tool] !== undefined))
  .filter((tool) => tool === 'datalake' || onlyTools === undefined || onlyTools.includes(tool));
const prefixOf: Record<Tool, string> = { datalake: 'dl', base: 'base', s5cmd: 's5', aws: 'aws', rclone: 'rc' };

/** datalake as it was at REV: a detached worktree under bench/tmp, installed and built once. */
function buildBase(revision: string): string {
  const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', revision], { encoding: 'utf8' }).stdout.trim();
  if (!commit) throw new Error(`--base ${revision}: no such commit`);
  const directory = join(scratch, `base-${commit}`);
  if (!existsSync(join(directory, 'dist'))) {
    log(`building datalake at ${commit} for --base…`);
    rmSync(directory, { recursive: true, force: true });
    spawnSync('git', ['-C', root, 'worktree', 'prune']);
    const steps: string[][] = [['git', '-C', root, 'worktree', 'add', '--detach', directory, commit], ['npm', 'ci', '--no-audit', '--no-fund'], ['npm', 'run', 'build']];
    for (const [program, ...args] of steps) {
      const result = spawnSync(program!, args, { cwd: existsSync(directory) ? directory : root, stdio: ['ignore', 'ignore', 'inherit'] });
      if (result.status !== 0) throw new Error(`--base ${revision}: ${program} ${args.join(' ')} failed`);
    }
  }
  return directory;
}

async function deletePrefix(prefix: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (page.Contents ?? []).map((item) => ({ Key: item.Key! }));
    if (keys.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

function cp(tool: Tool, from: string, to: string, recursive: boolean): string[] {
  const remote = (path: string) => path.replace(/^s3:\/\//, 'bench:');
  const datalake = datalakeOf(tool);
  switch (tool) {
    case 'datalake':
    case 'base':
      return recursive
        ? from.startsWith('s3://')
          ? [...datalake, 'get', '-r', from, to, '--quiet', '--no-progress']
          : [...datalake, 'sync', from, to, '--quiet', '--no-progress']
        : from.startsWith('s3://')
          ? [...datalake, 'get', from, to, '--quiet', '--no-progress']
          : [...datalake, 'put', from, to, '--quiet', '--no-progress'];
    case 's5cmd':
      return [peers.s5cmd!, '--endpoint-url', minio.endpoint, 'cp', recursive ? (from.startsWith('s3://') ? `${from}*` : `${from}/`) : from, to];
    case 'aws':
      return [peers.aws!, '--endpoint-url', minio.endpoint, 's3', 'cp', from, to, ...(recursive ? ['--recursive'] : []), '--only-show-errors', '--no-progress'];
    case 'rclone':
      return [peers.rclone!, recursive ? 'copy' : 'copyto', from.startsWith('s3://') ? remote(from) : from, to.startsWith('s3://') ? remote(to) : to];
  }
}

const out = (tool: Tool) => join(scratch, `out-${tool}`);
const cleanOut = (tool: Tool) => rmSync(out(tool), { recursive: true, force: true });

const allScenarios: Scenario[] = [
  {
    name: `upload ${sizes.small16.toLocaleString('en')} × 16 KiB`,
    unit: 'files',
    amount: sizes.small16,
    command: (tool) => cp(tool, paths.small16, s3(`${prefixOf[tool]}/small16/`), true),
    after: (tool) => deletePrefix(`${prefixOf[tool]}/small16/`),
  },
  {
    name: `download ${sizes.small16.toLocaleString('en')} × 16 KiB`,
    unit: 'files',
    amount: sizes.small16,
    before: (tool) => cleanOut(tool),
    command: (tool) => cp(tool, s3('seed/small16/'), out(tool) + '/', true),
    after: (tool) => cleanOut(tool),
  },
  {
    name: `upload ${sizes.large / MiB} MiB file`,
    unit: 'bytes',
    amount: sizes.large,
    command: (tool) => cp(tool, paths.large, s3(`${prefixOf[tool]}/large.bin`), false),
    after: (tool) => deletePrefix(`${prefixOf[tool]}/large.bin`),
  },
  {
    name: `download ${sizes.large / MiB} MiB file`,
    unit: 'bytes',
    amount: sizes.large,
    before: (tool) => {
      cleanOut(tool);
      mkdirSync(out(tool), { recursive: true });
    },
    command: (tool) => cp(tool, s3('seed/large.bin'), join(out(tool), 'large.bin'), false),
    after: (tool) => cleanOut(tool),
  },
  {
    name: `upload mixed tree (${sizes.mixedFiles} files)`,
    unit: 'files',
    amount: sizes.mixedFiles,
    command: (tool) => cp(tool, paths.mixed, s3(`${prefixOf[tool]}/mixed/`), true),
    after: (tool) => deletePrefix(`${prefixOf[tool]}/mixed/`),
  },
  {
    name: `no-op re-sync of ${sizes.small4.toLocaleString('en')} files`,
    unit: 'files',
    amount: sizes.small4,
    command: (tool) => {
      const target = s3(`${prefixOf[tool]}/resync/`);
      switch (tool) {
        case 'datalake':
        case 'base':
          return [...datalakeOf(tool), 'sync', paths.small4, target, '--quiet', '--no-progress'];
        case 's5cmd':
          return [peers.s5cmd!, '--endpoint-url', minio.endpoint, 'sync', '--size-only', `${paths.small4}/`, target];
        case 'aws':
          return [peers.aws!, '--endpoint-url', minio.endpoint, 's3', 'sync', paths.small4, target, '--only-show-errors', '--no-progress'];
        case 'rclone':
          return [peers.rclone!, 'sync', '--size-only', paths.small4, target.replace('s3://', 'bench:')];
      }
    },
  },
  {
    name: `ls of ${sizes.ls.toLocaleString('en')} keys`,
    unit: 'files',
    amount: sizes.ls,
    command: (tool) => {
      switch (tool) {
        case 'datalake':
        case 'base':
          return [...datalakeOf(tool), 'ls', s3('seed/ls/')];
        case 's5cmd':
          return [peers.s5cmd!, '--endpoint-url', minio.endpoint, 'ls', s3('seed/ls/*')];
        case 'aws':
          return [peers.aws!, '--endpoint-url', minio.endpoint, 's3', 'ls', s3('seed/ls/')];
        case 'rclone':
          return [peers.rclone!, 'ls', 'bench:bench/seed/ls'];
      }
    },
  },
  {
    name: 'cold start (--version)',
    unit: 'runs',
    amount: 1,
    repeat: sizes.coldStarts,
    command: (tool) => (tool === 'datalake' || tool === 'base' ? [...datalakeOf(tool), '--version'] : tool === 's5cmd' ? [peers.s5cmd!, 'version'] : [peers[tool]!, '--version']),
  },
];
const scenarios = allScenarios.filter((scenario) => onlyScenarios === undefined || new RegExp(onlyScenarios).test(scenario.name));

const results: Record<string, Record<string, Run[]>> = {};
// Whatever happens below, the server started here stops with the run.
process.on('exit', () => minio.process?.kill('SIGKILL'));
try {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  log('seeding the bucket (untimed): download sources, the ls prefix, each tool\'s first sync of the re-sync tree…');
  timed([...datalake, 'sync', paths.small16, s3('seed/small16/'), '--quiet', '--no-progress'], env);
  timed([...datalake, 'put', paths.large, s3('seed/large.bin'), '--quiet', '--no-progress'], env);
  for (let i = 0; i < sizes.ls; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, sizes.ls - i) }, (_, j) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `seed/ls/k${String(i + j).padStart(6, '0')}`, Body: 'x' }))));
  }
  const resync = scenarios.find((scenario) => scenario.name.startsWith('no-op'));
  if (resync) for (const tool of tools) timed(resync.command(tool, out(tool))!, envOf(tool));

  for (let round = 1; round <= rounds; round += 1) {
    // Who goes first rotates each round, so no tool always follows the same neighbour's load.
    const order = tools.map((_, index) => tools[(index + round - 1) % tools.length]!);
    for (const scenario of scenarios) {
      for (const tool of order) {
        const command = scenario.command(tool, out(tool));
        if (!command) continue;
        for (let repeat = 0; repeat < (scenario.repeat ?? 1); repeat += 1) {
          await scenario.before?.(tool, out(tool));
          // Start every run with nothing of the previous one still being written back to disk.
          spawnSync('sync');
          const run = timed(command, envOf(tool));
          await scenario.after?.(tool, out(tool));
          ((results[scenario.name] ??= {})[tool] ??= []).push(run);
          log(`round ${round}  ${scenario.name.padEnd(34)} ${tool.padEnd(8)} ${run.seconds.toFixed(2)} s  cpu ${run.cpuSeconds.toFixed(2)} s  ${run.rssMiB} MiB`);
        }
      }
    }
  }
} finally {
  client.destroy();
}

// ---- warp: the server's ceiling ------------------------------------------------------------------
const warp: Record<string, { mibPerSecond: number; objectsPerSecond: number }> = {};
if (peers.warp) {
  const host = new URL(minio.endpoint).host;
  for (const [label, size] of [['16KiB', '16KiB'], ['large', '64MiB']] as const) {
    for (const operation of ['put', 'get'] as const) {
      const args = [operation, '--host', host, '--access-key', DEV_ACCESS_KEY, '--secret-key', DEV_SECRET_KEY, '--obj.size', size, '--concurrent', '8', '--duration', `${sizes.warpSeconds}s`, '--bucket', 'warp', '--noclear'];
      if (operation === 'get') args.push('--objects', label === 'large' ? '16' : '500');
      const result = spawnSync(peers.warp, args, { encoding: 'utf8', maxBuffer: 1 << 26, cwd: scratch });
      const text = `${result.stdout}\n${result.stderr}`;
      const match = /Average: ([\d.]+) (KiB|MiB|GiB)\/s, ([\d.]+) obj\/s/.exec(text);
      if (match) {
        const scale = match[2] === 'GiB' ? 1024 : match[2] === 'KiB' ? 1 / 1024 : 1;
        warp[`${operation} ${label}`] = { mibPerSecond: Number(match[1]) * scale, objectsPerSecond: Number(match[3]) };
      } else log(`warp ${operation} ${size}: no result (${text.trim().split('\n').slice(-2).join(' ')})`);
    }
  }
}
await minio.stop();

// ---- report ---------------------------------------------------------------------------------------
const version = (command: string[]) => spawnSync(command[0]!, command.slice(1), { encoding: 'utf8' }).stdout?.trim().split('\n')[0] ?? '';
const summary = {
  date: new Date().toISOString().slice(0, 10),
  mode: smoke ? 'smoke' : 'full',
  rounds,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / GiB), kernel: release(), node: process.version },
  versions: {
    datalake: version([...datalake, '--version']),
    ...(baseBuild ? { base: `${version([...datalakeOf('base'), '--version'])} at ${baseRevision}` } : {}),
    minio: MINIO_VERSION,
    ...(peers.s5cmd ? { s5cmd: version([peers.s5cmd, 'version']) } : {}),
    ...(peers.aws ? { aws: version([peers.aws, '--version']) } : {}),
    ...(peers.rclone ? { rclone: version([peers.rclone, '--version']) } : {}),
  },
  scenarios: Object.fromEntries(
    scenarios.map((scenario) => {
      const byTool = results[scenario.name] ?? {};
      const ours = median((byTool.datalake ?? []).map((run) => run.seconds));
      return [
        scenario.name,
        {
          unit: scenario.unit,
          amount: scenario.amount,
          tools: Object.fromEntries(
            Object.entries(byTool).map(([tool, runs]) => {
              const seconds = median(runs.map((run) => run.seconds));
              return [
                tool,
                {
                  runs,
                  medianSeconds: seconds,
                  medianCpuSeconds: median(runs.map((run) => run.cpuSeconds)),
                  throughput: scenario.unit === 'bytes' ? Math.round((scenario.amount / MiB / seconds) * 10) / 10 : scenario.unit === 'files' ? Math.round(scenario.amount / seconds) : undefined,
                  peakRssMiB: Math.max(...runs.map((run) => run.rssMiB)),
                  /** How many times longer than datalake the tool took (above 1: datalake is faster). */
                  timeRatioToDatalake: Math.round((seconds / ours) * 100) / 100,
                },
              ];
            }),
          ),
        },
      ];
    }),
  ),
  warp,
};
const resultsName = smoke ? 'results-smoke' : 'results';
writeFileSync(join(root, 'bench', `${resultsName}.json`), `${JSON.stringify(summary, null, 2)}\n`);

const lines = [
  `Measured ${summary.date} on ${summary.machine.cpus} cores (${summary.machine.cpu}), ${summary.machine.memoryGiB} GiB, Node ${summary.machine.node}; MinIO on loopback; ${rounds} interleaved round${rounds === 1 ? '' : 's'}, medians.`,
  '',
  `| scenario | ${tools.join(' | ')} |`,
  `|---|${tools.map(() => '---').join('|')}|`,
];
for (const scenario of scenarios) {
  const data = summary.scenarios[scenario.name]!.tools as Record<string, { medianSeconds: number; medianCpuSeconds: number; throughput?: number; peakRssMiB: number; timeRatioToDatalake: number }>;
  const cell = (tool: string) => {
    const entry = data[tool];
    if (!entry) return '–';
    const rate = scenario.unit === 'bytes' ? `${entry.throughput} MiB/s` : scenario.unit === 'files' ? `${entry.throughput} files/s` : `${Math.round(entry.medianSeconds * 1000)} ms`;
    const ratio = tool === 'datalake' ? '' : ` · ×${entry.timeRatioToDatalake}`;
    return `${scenario.unit === 'runs' ? rate : `${entry.medianSeconds.toFixed(2)} s (${rate}), cpu ${entry.medianCpuSeconds.toFixed(2)} s`}, ${entry.peakRssMiB} MiB${ratio}`;
  };
  lines.push(`| ${scenario.name} | ${tools.map(cell).join(' | ')} |`);
}
lines.push('', 'Each cell: median wall time (throughput), client CPU (user + system), peak RSS, and ×R = that tool\'s time ÷ datalake\'s (above 1: datalake is faster).');
lines.push('', '| what each tool proved | upload | download |', '|---|---|---|');
for (const tool of tools) {
  const proved = tool === 'base' && !baseIsBeforeChecksums ? { upload: `what datalake at ${baseRevision} proved (its README)`, download: 'the same' } : VERIFIED[tool];
  lines.push(`| ${tool === 'base' ? `datalake at ${baseRevision}` : tool} | ${proved.upload} | ${proved.download} |`);
}
if (Object.keys(warp).length > 0) {
  lines.push('', `warp (the server's ceiling, concurrency 8): ${Object.entries(warp).map(([name, value]) => `${name} ${value.mibPerSecond.toFixed(0)} MiB/s (${value.objectsPerSecond.toFixed(0)} obj/s)`).join('; ')}.`);
}
writeFileSync(join(root, 'bench', `${resultsName}.md`), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
