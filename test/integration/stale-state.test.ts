/**
 * What runs that are gone leave behind, and what must not block or break later runs: a sync lock
 * left by a process that had our pid (a restarted container), a lock name taken by a folder, the
 * lock and owner files of a download sync stopped by Ctrl-C or kill -9, one sync root reached by two
 * paths (a symbolic link), names too long for the temporary names beside them, folders planted at a
 * download's names, and a hash cache's file written aside by a killed run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, runCli, s3Env, startWatchedCli, tempDirectory, testClient, waitFor, waitUntilHeld } from '../support/harness.js';

const work = tempDirectory('stale-state');
/** This host as datalake names it in the names of its files (lock-file.ts). */
const hostTag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
const stateDirectory = () => join(work.path, 'state');
const locks = () => (existsSync(join(stateDirectory(), 'locks')) ? readdirSync(join(stateDirectory(), 'locks')).filter((name) => name.endsWith('.lock')) : []);
const leftovers = (directory: string) => readdirSync(directory).filter((name) => /\.lock|\.datalake-part/.test(name));
/** Files over the in-memory limit (1 MiB) take the path with the fixed temporary name and its lock. */
const medium = Buffer.alloc(1024 * 1024 + 100, 'medium ');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'stale');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const state = { DATALAKE_STATE_DIR: stateDirectory(), DATALAKE_CACHE_DIR: join(work.path, 'cache') };
  env = s3Env(state);
  proxied = s3Env({ ...state, AWS_ENDPOINT_URL: await proxy.start() });
  const puts: Array<Promise<unknown>> = [];
  for (let index = 0; index < 100; index += 1) {
    const body = index % 3 === 0 ? medium : Buffer.from(`file ${index}\n`);
    puts.push(client.send(new PutObjectCommand({ Bucket: bucket, Key: `many/f${String(index).padStart(3, '0')}.bin`, Body: body })));
  }
  await Promise.all(puts);
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'planted/big.bin', Body: medium }));
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'planted/small.txt', Body: 'small' }));
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** Starts the CLI (or `command` before it) with stderr readable, for tests that act at a known point. */


/** As pid 1 of a new pid namespace, on the same host: a container started again. */
const AS_PID_1 = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];

describe('sync locks', () => {
  it('a lock left by a process that had our pid (pid 1 in a restarted container) is taken over', async () => {
    const source = join(work.path, 'pid1');
    mkdirSync(source);
    writeFileSync(join(source, 'a.txt'), 'a');
    proxy.setRules([{ method: 'PUT', fault: { kind: 'hold', gate: 'pid1' } }]);
    const first = startWatchedCli(['sync', source, `s3://${bucket}/pid1/`], proxied, AS_PID_1);
    await waitFor(() => proxy.held('pid1') >= 1, 'the first run uploading');
    const [lock] = locks();
    expect(JSON.parse(readFileSync(join(stateDirectory(), 'locks', lock!), 'utf8')).pid).toBe(1);
    first.child.kill('SIGKILL');
    await first.done;
    proxy.setRules([]);
    const second = startWatchedCli(['sync', source, `s3://${bucket}/pid1/`], env, AS_PID_1);
    // Its stderr read once it has ended (an operand read before the await would see it empty).
    const code = await second.done;
    expect(second.stderr() + code).toBe('0');
    expect(locks()).toEqual([]);
  });

  it('a folder at the lock name is stale: removed when empty, refused with one line when not', async () => {
    const source = join(work.path, 'lockdir');
    mkdirSync(source);
    writeFileSync(join(source, 'a.txt'), 'a');
    proxy.setRules([{ method: 'PUT', fault: { kind: 'hold', gate: 'lockdir' } }]);
    const first = startWatchedCli(['sync', source, `s3://${bucket}/lockdir/`], proxied);
    await waitFor(() => proxy.held('lockdir') >= 1, 'the first run uploading');
    const lock = join(stateDirectory(), 'locks', locks()[0]!);
    first.child.kill('SIGKILL');
    await first.done;
    proxy.setRules([]);
    rmSync(lock);
    mkdirSync(lock);
    const empty = await runCli(['sync', source, `s3://${bucket}/lockdir/`], { env });
    expect(empty.stderr).toBe('');
    expect(empty.code).toBe(0);
    expect(existsSync(lock)).toBe(false);
    mkdirSync(lock);
    writeFileSync(join(lock, 'something'), 'x');
    const full = await runCli(['sync', source, `s3://${bucket}/lockdir/`], { env });
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/is a folder, not a lock/);
    expect(full.stderr).not.toMatch(/another sync|    at /);
    rmSync(lock, { recursive: true });
  });

  it('one folder reached through a symbolic link is the same sync: the second waits its turn', async () => {
    const source = join(work.path, 'real');
    mkdirSync(source);
    writeFileSync(join(source, 'a.txt'), 'a');
    symlinkSync(source, join(work.path, 'real-link'));
    proxy.setRules([{ method: 'PUT', fault: { kind: 'hold', gate: 'link' } }]);
    const first = startWatchedCli(['sync', source, `s3://${bucket}/linked/`], proxied);
    await waitFor(() => proxy.held('link') >= 1, 'the first run uploading');
    const second = await runCli(['sync', join(work.path, 'real-link'), `s3://${bucket}/linked/`], { env });
    proxy.release('link');
    expect(await first.done).toBe(0);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another sync of .* is running/);
    proxy.setRules([]);
  });
});

describe('a download sync stopped half-way', () => {
  // The first `requests` downloads go through (slowed a little, so some are still in flight); the next
  // one is held, so the signal always lands with the sync unfinished, whatever the machine's load.
  const heldAfter = (requests: number, gate: string, ms: number): FaultRule[] => [
    { method: 'GET', match: /many\/f/, skip: requests, fault: { kind: 'hold', gate } },
    { method: 'GET', match: /many\/f/, fault: { kind: 'delay', ms } },
  ];

  it.each([10, 30, 50, 70])('Ctrl-C once after %i requests leaves no lock, owner file or temporary file', async (requests) => {
    const destination = join(work.path, `sigint-${requests}`);
    proxy.setRules(heldAfter(requests, 'sigint', 20));
    const run = startWatchedCli(['sync', `s3://${bucket}/many/`, destination], proxied);
    await waitUntilHeld(run, proxy, 'sigint', `download ${requests + 1} held`);
    run.child.kill('SIGINT');
    await waitFor(() => run.stderr().includes('SIGINT received'), 'the signal seen');
    proxy.release('sigint');
    expect(await run.done).toBe(130);
    expect(leftovers(destination)).toEqual([]);
    proxy.setRules([]);
  });

  it.each([10, 30, 50, 70])('Ctrl-C twice after %i requests (an exit amid downloads starting and ending) leaves nothing', async (requests) => {
    const destination = join(work.path, `sigint-twice-${requests}`);
    proxy.setRules(heldAfter(requests, 'sigint-twice', 5));
    const run = startWatchedCli(['sync', `s3://${bucket}/many/`, destination], proxied);
    await waitUntilHeld(run, proxy, 'sigint-twice', `download ${requests + 1} held`);
    run.child.kill('SIGINT');
    await waitFor(() => run.stderr().includes('SIGINT received'), 'the first signal seen');
    run.child.kill('SIGINT');
    expect(await run.done).toBe(130);
    expect(leftovers(destination)).toEqual([]);
    proxy.setRules([]);
  });

  it('kill -9: the re-run removes every lock and owner file the dead run left, downloaded again or not', async () => {
    const destination = join(work.path, 'sigkill');
    // 40 downloads go through; the rest are held. The kill comes once one of the 40 is in place (the
    // plant below needs it) and a held download over the in-memory limit has its temporary file there
    // (made before its GET): something the dead run left in flight that the re-run must clean.
    proxy.setRules([{ method: 'GET', match: /many\/f/, skip: 40, fault: { kind: 'hold', gate: 'sigkill' } }]);
    const run = startWatchedCli(['sync', `s3://${bucket}/many/`, destination], proxied);
    const present = () => (existsSync(destination) ? readdirSync(destination) : []);
    const heldOnDisk = () => {
      const names = present();
      const held = proxy.log.filter((entry) => entry.fault === 'hold').map((entry) => /many\/(f\d{3}\.bin)/.exec(entry.url)?.[1]);
      return held.some((name) => name !== undefined && names.some((file) => file.startsWith(`.${name}.`) && file.endsWith('.datalake-part')));
    };
    await waitFor(() => run.ended() || (present().some((name) => name.endsWith('.bin')) && heldOnDisk()), 'a download in place and a held one with its temporary file');
    expect(run.ended()).toBe(false);
    run.child.kill('SIGKILL');
    await run.done;
    proxy.setRules([]);
    // What a kill -9 can leave between a rename and the lock's removal: the lock of a file in place.
    const done = readdirSync(destination).find((name) => name.endsWith('.bin'))!;
    writeFileSync(join(destination, `.${done}.datalake-part.lock`), JSON.stringify({ pid: run.child.pid, host: hostname() }));
    writeFileSync(join(destination, `.${done}.datalake-part.lock.${run.child.pid}-${hostTag}-1`), '');
    const again = await runCli(['sync', `s3://${bucket}/many/`, destination], { env });
    expect(again.code).toBe(0);
    const last = await runCli(['sync', `s3://${bucket}/many/`, destination], { env });
    expect(last.code).toBe(0);
    expect(leftovers(destination)).toEqual([]);
    expect(readdirSync(destination)).toHaveLength(100);
  });
});

describe('names near the 255-byte limit', () => {
  const names = ['a'.repeat(251) + '.csv', 'b'.repeat(225) + '.csv', '报'.repeat(75) + '.csv', '报'.repeat(83) + '.csv', 'm'.repeat(240) + '.bin'];
  it('sync up, then sync down and get -r, of names of 229 to 255 bytes', async () => {
    const source = join(work.path, 'long');
    mkdirSync(source);
    for (const name of names) writeFileSync(join(source, name), name.endsWith('.bin') ? medium : name);
    const up = await runCli(['sync', source, `s3://${bucket}/long/`], { env });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    for (const [label, args] of [
      ['sync', ['sync', `s3://${bucket}/long/`, join(work.path, 'long-sync')]],
      ['get', ['get', '-r', `s3://${bucket}/long/`, join(work.path, 'long-get')]],
    ] as const) {
      const down = await runCli([...args], { env });
      expect(label + down.stderr).toBe(label);
      expect(down.code).toBe(0);
      const target = args.at(-1)!;
      expect(readdirSync(target).sort()).toEqual([...names].sort());
      for (const name of names) expect(readFileSync(join(target, name))).toEqual(readFileSync(join(source, name)));
    }
  });
});

describe('folders planted at the names of a download', () => {
  it('a folder at the record name: a verified get succeeds and says so in one line', async () => {
    const destination = join(work.path, 'planted-record');
    mkdirSync(join(destination, '.big.bin.datalake-part.json'), { recursive: true });
    writeFileSync(join(destination, '.big.bin.datalake-part.json', 'inside'), 'x');
    const result = await runCli(['get', `s3://${bucket}/planted/big.bin`, join(destination, 'big.bin')], { env });
    expect(result.stderr).not.toMatch(/SystemError|EISDIR|    at /);
    expect(result.stderr.trim().split('\n').length).toBeLessThanOrEqual(1);
    expect(result.code).toBe(0);
    expect(readFileSync(join(destination, 'big.bin'))).toEqual(medium);
  });

  it("a folder at a dead run's private temporary name does not fail the download", async () => {
    const destination = join(work.path, 'planted-private');
    const dead = spawnSync('true').pid!;
    mkdirSync(join(destination, `.small.txt.${dead}-${hostTag}-1.datalake-part`), { recursive: true });
    writeFileSync(join(destination, `.small.txt.${dead}-${hostTag}-1.datalake-part`, 'inside'), 'x');
    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['get', `s3://${bucket}/planted/small.txt`, join(destination, 'small.txt')], { env });
      expect(result.stderr).not.toMatch(/SystemError|EISDIR|    at /);
      expect(result.code).toBe(0);
      expect(readFileSync(join(destination, 'small.txt'), 'utf8')).toBe('small');
    }
  });
});

describe('the hash cache', () => {
  it('the new cache a killed sync was writing aside is removed by the next run', async () => {
    const source = join(work.path, 'cached');
    mkdirSync(source);
    writeFileSync(join(source, 'a.txt'), 'a');
    const cache = join(work.path, 'cache-killed');
    const cacheFiles = () => readdirSync(cache, { recursive: true }).map(String).filter((name) => name.endsWith('.tmp'));
    proxy.setRules([{ method: 'PUT', fault: { kind: 'hold', gate: 'cache' } }]);
    const first = startWatchedCli(['sync', source, `s3://${bucket}/cached/`], { ...proxied, DATALAKE_CACHE_DIR: cache });
    await waitFor(() => proxy.held('cache') >= 1, 'the first run uploading');
    first.child.kill('SIGKILL');
    await first.done;
    proxy.setRules([]);
    expect(cacheFiles()).toHaveLength(1);
    const again = await runCli(['sync', source, `s3://${bucket}/cached/`], { env: { ...env, DATALAKE_CACHE_DIR: cache } });
    expect(again.code).toBe(0);
    expect(cacheFiles()).toEqual([]);
  });
});
