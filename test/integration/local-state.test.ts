/**
 * Hostile local state: symbolic links planted at the names a download writes, full disks, and runs
 * stopped by Ctrl-C or kill -9 half-way. Nothing is ever written outside the destination, no
 * temporary file, record or lock outlives the run that owns it (but a resumable download's file and
 * record), and a lock never blocks later runs for good.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, runCli, s3Env, startWatchedCli, tempDirectory, testClient, waitFor } from '../support/harness.js';

const MiB = 1024 ** 2;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const TEMPORARY = /\.datalake-part/;
const work = tempDirectory('local-state');
const mounts: string[] = [];
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
const big = Buffer.alloc(12 * MiB + 7, 'big content ');
const small = Buffer.from('a small object, fetched in one GET into memory');

/** A small file system of its own (tmpfs): a full disk on demand. Fails loudly where it cannot be mounted. */
function mountTmpfs(path: string, size: string): void {
  mkdirSync(path, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { encoding: 'utf8' });
  if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs at ${path} (these tests need root): ${mounted.stderr || mounted.error}`);
  mounts.push(path);
}

/** Fills a file system to the last byte. */
function fill(directory: string): void {
  try {
    writeFileSync(join(directory, 'filler'), Buffer.alloc(64 * MiB));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
}

const temporaries = (directory: string) => readdirSync(directory).filter((name) => TEMPORARY.test(name));

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'local');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const state = { DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache'), DATALAKE_PART_SIZE: '5MiB' };
  env = s3Env(state);
  proxied = s3Env({ ...state, AWS_ENDPOINT_URL: await proxy.start() });
  for (const key of ['big.bin', 'tree/big.bin', 'interrupt/a.bin', 'interrupt/b.bin', 'killed/c.bin']) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: big }));
  }
  for (const key of ['small.txt', 'tree/small.txt', 'interrupt/s.txt', 'dots/..notes.txt', 'dots/.../x.txt']) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: small }));
  }
  for (const key of ['full/1.bin', 'full/2.bin', 'full/3.bin']) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: big.subarray(0, 2 * MiB) }));
  }
});
afterAll(async () => {
  for (const path of mounts.reverse()) {
    const unmounted = spawnSync('umount', [path], { encoding: 'utf8' });
    if (unmounted.status !== 0) throw new Error(`cannot unmount ${path}: ${unmounted.stderr}`);
  }
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('symbolic links planted at the names a download writes', () => {
  // A link at the part file's or the record's name is no file of datalake's: left there, and said in
  // one line (the download goes under a name of its own). One at a lock's name is a stale lock, taken
  // over; `.json.new` is a name datalake no longer writes.
  for (const [planted, kept] of [
    ['.big.bin.datalake-part', true],
    ['.big.bin.datalake-part.json', true],
    ['.big.bin.datalake-part.json.new', true],
    ['.big.bin.datalake-part.lock', false],
  ] as const) {
    it(`a link at ${planted} receives nothing, and the target is a file`, async () => {
      const directory = join(work.path, `planted${planted}`);
      mkdirSync(directory);
      const outside = join(work.path, `outside${planted}`);
      writeFileSync(outside, 'not yours');
      symlinkSync(outside, join(directory, planted));
      const result = await runCli(['get', `s3://${bucket}/big.bin`, join(directory, 'big.bin')], { env });
      if (planted.endsWith('.json.new') || !kept) expect(result.stderr).toBe('');
      else expect(result.stderr).toBe(`datalake: warning: ${join(directory, planted)} is not a file datalake can prove it made, so it is left as it is; ${join(directory, 'big.bin')} is downloaded under a name of its own (not resumable while that file is there)\n`);
      expect(result.code).toBe(0);
      expect(readFileSync(outside, 'utf8')).toBe('not yours');
      expect(lstatSync(join(directory, 'big.bin')).isFile()).toBe(true);
      expect(md5(readFileSync(join(directory, 'big.bin')))).toBe(md5(big));
      expect(readdirSync(directory).sort()).toEqual(kept ? [planted, 'big.bin'] : ['big.bin']);
    });
  }

  it('a folder with files in it at the lock’s name is left as it is: the download goes under a name of its own, one line; --no-clobber leaves it too', async () => {
    const directory = join(work.path, 'folder-at-lock');
    const planted = join(directory, '.big.bin.datalake-part.lock');
    mkdirSync(planted, { recursive: true });
    writeFileSync(join(planted, 'keep.txt'), 'mine');
    const target = join(directory, 'big.bin');
    const result = await runCli(['get', `s3://${bucket}/big.bin`, target], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(`datalake: warning: ${planted} is not a file datalake can prove it made, so it is left as it is; ${target} is downloaded under a name of its own (not resumable while that file is there)\n`);
    expect(md5(readFileSync(target))).toBe(md5(big));
    const skipped = await runCli(['get', `s3://${bucket}/big.bin`, target, '--no-clobber'], { env });
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toBe(`datalake: warning: ${planted} is not a file datalake can prove it made, so it is left as it is\n`);
    expect(readFileSync(join(planted, 'keep.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(directory).sort()).toEqual(['.big.bin.datalake-part.lock', 'big.bin']);
  });

  it('a target that is a link is replaced by the file, its referent untouched', async () => {
    const directory = join(work.path, 'target-link');
    mkdirSync(directory);
    for (const name of ['big.bin', 'small.txt']) {
      const outside = join(work.path, `outside-target-${name}`);
      writeFileSync(outside, 'not yours');
      symlinkSync(outside, join(directory, name));
      const result = await runCli(['get', `s3://${bucket}/${name}`, join(directory, name)], { env });
      expect(result.code).toBe(0);
      expect(readFileSync(outside, 'utf8')).toBe('not yours');
      expect(lstatSync(join(directory, name)).isFile()).toBe(true);
    }
    expect(readdirSync(directory).sort()).toEqual(['big.bin', 'small.txt']);
  });

  it('get -r and sync down: links at temporary names inside the tree are never written through', async () => {
    for (const command of ['get', 'sync'] as const) {
      const destination = join(work.path, `tree-${command}`);
      mkdirSync(destination);
      const outside = join(work.path, `outside-tree-${command}`);
      writeFileSync(outside, 'not yours');
      for (const planted of ['.big.bin.datalake-part', '.big.bin.datalake-part.lock', '.big.bin.datalake-part.json']) symlinkSync(outside, join(destination, planted));
      const args = command === 'get' ? ['get', '-r', `s3://${bucket}/tree/`, destination] : ['sync', `s3://${bucket}/tree/`, destination];
      const result = await runCli(args, { env });
      expect(result.code).toBe(0);
      expect(readFileSync(outside, 'utf8')).toBe('not yours');
      // The links at the part file's and the record's names are left there (not datalake's); the lock's is taken over.
      expect(readdirSync(destination).sort()).toEqual(['.big.bin.datalake-part', '.big.bin.datalake-part.json', 'big.bin', 'small.txt']);
      expect(md5(readFileSync(join(destination, 'big.bin')))).toBe(md5(big));
    }
  });

  it('get -r and sync down: a folder inside the destination that links elsewhere is never written through', async () => {
    for (const command of ['get', 'sync'] as const) {
      const destination = join(work.path, `nested-${command}`);
      const elsewhere = join(work.path, `elsewhere-${command}`);
      mkdirSync(join(destination, 'deep'), { recursive: true });
      mkdirSync(elsewhere);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `nested/deep/inner/${command}.txt`, Body: small }));
      symlinkSync(elsewhere, join(destination, 'deep', 'inner'));
      const args = command === 'get' ? ['get', '-r', `s3://${bucket}/nested/`, destination] : ['sync', `s3://${bucket}/nested/`, destination];
      const result = await runCli(args, { env });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is a symbolic link; nothing is written through it/);
      expect(readdirSync(elsewhere)).toEqual([]);
    }
  });
});

describe('a full disk', () => {
  it('a get that runs out of space leaves neither its temporary file nor its record nor its lock', async () => {
    const directory = join(work.path, 'full-get');
    mountTmpfs(directory, '8m');
    const result = await runCli(['get', `s3://${bucket}/big.bin`, join(directory, 'big.bin')], { env });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/no space left/i);
    expect(readdirSync(directory)).toEqual([]);
  });

  it('get -r onto a full disk leaves no empty lock files', async () => {
    const directory = join(work.path, 'full-recursive');
    mountTmpfs(directory, '1m');
    fill(directory);
    const result = await runCli(['get', '-r', `s3://${bucket}/full/`, directory], { env });
    expect(result.code).toBe(1);
    expect(readdirSync(directory)).toEqual(['filler']);
  });

  it('a sync whose state directory is full fails without leaving a lock, and the next sync runs', async () => {
    const state = join(work.path, 'full-state');
    mountTmpfs(state, '256k');
    fill(state);
    const destination = join(work.path, 'full-state-dest');
    const stateEnv = s3Env({ DATALAKE_STATE_DIR: state, DATALAKE_CACHE_DIR: join(work.path, 'cache-full-state'), DATALAKE_PART_SIZE: '5MiB' });
    const first = await runCli(['sync', `s3://${bucket}/tree/`, destination], { env: stateEnv });
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/no space left/i);
    expect(readdirSync(join(state, 'locks'))).toEqual([]);
    rmSync(join(state, 'filler'));
    const second = await runCli(['sync', `s3://${bucket}/tree/`, destination], { env: stateEnv });
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(readdirSync(destination).sort()).toEqual(['big.bin', 'small.txt']);
  });
});

/** Starts the CLI with stderr readable, for tests that signal it at a known point. */

describe('runs stopped half-way', () => {
  it('a sync down stopped by Ctrl-C twice removes the temporary files and locks it owned on the way out', async () => {
    const destination = join(work.path, 'interrupted');
    proxy.setRules([{ method: 'GET', match: /interrupt\//, fault: { kind: 'hold', gate: 'interrupt' } }]);
    const run = startWatchedCli(['sync', `s3://${bucket}/interrupt/`, destination], proxied);
    // Every download has sent its GET: the large ones wait with their temporary file and lock open.
    await waitFor(() => proxy.held('interrupt') >= 3, 'the three downloads in flight');
    expect(temporaries(destination).length).toBeGreaterThan(0);
    run.child.kill('SIGINT');
    await waitFor(() => run.stderr().includes('SIGINT received'), 'the first signal seen');
    run.child.kill('SIGINT');
    expect(await run.done).toBe(130);
    expect(temporaries(destination)).toEqual([]);
    proxy.setRules([]);
    const again = await runCli(['sync', `s3://${bucket}/interrupt/`, destination], { env });
    expect(again.code).toBe(0);
    expect(readdirSync(destination).sort()).toEqual(['a.bin', 'b.bin', 's.txt']);
  });

  it('a sync down stopped by Ctrl-C once keeps only what a re-run resumes; the re-run leaves nothing', async () => {
    const destination = join(work.path, 'interrupted-once');
    proxy.setRules([{ method: 'GET', match: /interrupt\/[ab]\.bin/, skip: 2, fault: { kind: 'hold', gate: 'once' } }]);
    const run = startWatchedCli(['sync', `s3://${bucket}/interrupt/`, destination, '--concurrency', '2'], proxied);
    await waitFor(() => proxy.held('once') >= 2, 'the second ranges of both large downloads held');
    run.child.kill('SIGINT');
    await waitFor(() => run.stderr().includes('SIGINT received'), 'the signal seen');
    proxy.release('once');
    expect(await run.done).toBe(130);
    // What may stay: a resumable download's file and its record, never a lock or a private name.
    expect(temporaries(destination).filter((name) => !/^\.[ab]\.bin\.datalake-part(\.json)?$/.test(name))).toEqual([]);
    proxy.setRules([]);
    const again = await runCli(['sync', `s3://${bucket}/interrupt/`, destination], { env: proxied });
    expect(again.code).toBe(0);
    expect(readdirSync(destination).sort()).toEqual(['a.bin', 'b.bin', 's.txt']);
  });

  it('kill -9 mid-download: the next run that downloads the same file removes what the dead run left', async () => {
    const destination = join(work.path, 'killed');
    mkdirSync(destination);
    // Another (live) run holds the fixed temporary name: this one downloads under a name of its own.
    const otherRun = join(destination, '.c.bin.datalake-part.lock');
    writeFileSync(otherRun, JSON.stringify({ pid: process.pid, host: hostname() }));
    proxy.setRules([{ method: 'GET', match: /killed\/c\.bin/, fault: { kind: 'hold', gate: 'killed' } }]);
    const run = startWatchedCli(['get', `s3://${bucket}/killed/c.bin`, join(destination, 'c.bin')], proxied);
    await waitFor(() => proxy.held('killed') >= 1, 'the download in flight');
    const left = temporaries(destination).filter((name) => name !== '.c.bin.datalake-part.lock');
    expect(left).toHaveLength(1);
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    expect(existsSync(join(destination, left[0]!))).toBe(true);
    rmSync(otherRun);
    proxy.setRules([]);
    const again = await runCli(['get', `s3://${bucket}/killed/c.bin`, join(destination, 'c.bin')], { env });
    expect(again.code).toBe(0);
    expect(readdirSync(destination)).toEqual(['c.bin']);
  });
});

describe("files of the user's at a download's temporary names", () => {
  // Not datalake's: made by hand or by another tool, and no record of datalake's names them.
  const mine = Buffer.concat([Buffer.from('notes the user keeps here\n'), randomBytes(3 * MiB)]);
  const notOurs = (path: string) => `${path} is not a file datalake can prove it made`;

  it.each([
    ['get', (folder: string) => ['get', `s3://${bucket}/big.bin`, join(folder, 'big.bin')]],
    ['get -r', (folder: string) => ['get', '-r', `s3://${bucket}/tree/`, folder]],
    ['sync', (folder: string) => ['sync', `s3://${bucket}/tree/`, folder]],
  ])("%s: a file of the user's at .big.bin.datalake-part is left byte for byte, big.bin is the object, and one line says so", async (label, args) => {
    const destination = join(work.path, `own-part-${label.replace(/\W/g, '')}`);
    mkdirSync(destination);
    const part = join(destination, '.big.bin.datalake-part');
    writeFileSync(part, mine);
    const result = await runCli(args(destination), { env });
    expect(result.code, result.stderr).toBe(0);
    expect(md5(readFileSync(part))).toBe(md5(mine));
    expect(md5(readFileSync(join(destination, 'big.bin')))).toBe(md5(big));
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`datalake: warning: ${notOurs(part)}`);
    expect(temporaries(destination)).toEqual(['.big.bin.datalake-part']);
  });

  it("get of a large object: a .json of the user's beside it that is no record of datalake's is left as it is, the user's part file too, and nothing is resumed from them", async () => {
    for (const [label, text] of [['unparseable', '{"etag": "cut off'], ['JSON of another shape', '{"my": "settings"}'], ['empty', '']] as const) {
      for (const withPart of [false, true]) {
        const destination = join(work.path, `own-record-${label.replace(/\W/g, '')}-${withPart}`);
        mkdirSync(destination);
        const record = join(destination, '.big.bin.datalake-part.json');
        writeFileSync(record, text);
        if (withPart) writeFileSync(join(destination, '.big.bin.datalake-part'), mine);
        const result = await runCli(['get', `s3://${bucket}/big.bin`, join(destination, 'big.bin')], { env });
        expect(result.code, result.stderr).toBe(0);
        expect(readFileSync(record, 'utf8')).toBe(text);
        if (withPart) expect(md5(readFileSync(join(destination, '.big.bin.datalake-part')))).toBe(md5(mine));
        expect(md5(readFileSync(join(destination, 'big.bin')))).toBe(md5(big));
        expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
        expect(result.stderr).toContain(notOurs(withPart ? join(destination, '.big.bin.datalake-part') : record));
        expect(temporaries(destination).sort()).toEqual(withPart ? ['.big.bin.datalake-part', '.big.bin.datalake-part.json'] : ['.big.bin.datalake-part.json']);
      }
    }
  });

  it("get --no-clobber of a file that exists: a file of the user's at its temporary name is left as it is", async () => {
    const destination = join(work.path, 'own-part-noclobber');
    mkdirSync(destination);
    writeFileSync(join(destination, 'big.bin'), 'the user put big.bin here');
    writeFileSync(join(destination, '.big.bin.datalake-part'), mine);
    const result = await runCli(['get', '--no-clobber', `s3://${bucket}/big.bin`, join(destination, 'big.bin')], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(md5(readFileSync(join(destination, '.big.bin.datalake-part')))).toBe(md5(mine));
    expect(result.stderr).toContain(notOurs(join(destination, '.big.bin.datalake-part')));
  });

  it("after a kill -9, a file the user puts in place of the dead run's part file is the user's: left as it is; the dead run's record and lock are removed", async () => {
    const destination = join(work.path, 'own-part-after-kill');
    proxy.setRules([{ method: 'GET', match: /interrupt\/a\.bin/, skip: 1, fault: { kind: 'hold', gate: 'replaced' } }]);
    const run = startWatchedCli(['get', `s3://${bucket}/interrupt/a.bin`, join(destination, 'a.bin'), '--concurrency', '1'], proxied);
    await waitFor(() => proxy.held('replaced') >= 1 && existsSync(join(destination, '.a.bin.datalake-part.json')), 'a range recorded, the next held');
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    proxy.setRules([]);
    // Removed and made again by the user: the same name, often the same inode number too.
    rmSync(join(destination, '.a.bin.datalake-part'));
    writeFileSync(join(destination, '.a.bin.datalake-part'), mine);
    const result = await runCli(['get', `s3://${bucket}/interrupt/a.bin`, join(destination, 'a.bin')], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(md5(readFileSync(join(destination, '.a.bin.datalake-part')))).toBe(md5(mine));
    expect(md5(readFileSync(join(destination, 'a.bin')))).toBe(md5(big));
    expect(result.stderr).toContain(notOurs(join(destination, '.a.bin.datalake-part')));
    expect(readdirSync(destination).sort()).toEqual(['.a.bin.datalake-part', 'a.bin']);
  });

  it('kill -9 before the first range lands: the part file has its record already, and the next run takes both as its own and leaves nothing', async () => {
    const destination = join(work.path, 'killed-before-first');
    proxy.setRules([{ method: 'GET', match: /killed\/c\.bin/, fault: { kind: 'hold', gate: 'before-first' } }]);
    const run = startWatchedCli(['get', `s3://${bucket}/killed/c.bin`, join(destination, 'c.bin')], proxied);
    await waitFor(() => proxy.held('before-first') >= 1, 'the first range asked for');
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    proxy.setRules([]);
    expect(temporaries(destination).filter((name) => !name.includes('.lock')).sort()).toEqual(['.c.bin.datalake-part', '.c.bin.datalake-part.json']);
    const again = await runCli(['get', `s3://${bucket}/killed/c.bin`, join(destination, 'c.bin')], { env });
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(readdirSync(destination)).toEqual(['c.bin']);
    expect(md5(readFileSync(join(destination, 'c.bin')))).toBe(md5(big));
  });
});

describe('a folder planted at the target while the object is on its way', () => {
  it.each([
    ['a ranged download to a file named', 'big.bin', (folder: string) => ['get', `s3://${bucket}/big.bin`, join(folder, 'big.bin')]],
    ['a small object of get -r (received into memory)', 'small.txt', (folder: string) => ['get', '-r', `s3://${bucket}/tree/`, folder, '--exclude', 'big.bin']],
  ])('%s: one line naming the folder, exit 1, the folder untouched, nothing of the download left', async (_label, name, args) => {
    const folder = join(work.path, `planted-${name}`);
    mkdirSync(folder);
    proxy.setRules([{ method: 'GET', match: new RegExp(name.replace('.', '\\.')), fault: { kind: 'hold', gate: 'planted' } }]);
    const run = runCli(args(folder), { env: proxied });
    await waitFor(() => proxy.held('planted') >= 1, 'the GET held');
    mkdirSync(join(folder, name));
    writeFileSync(join(folder, name, 'keep.txt'), 'the user made this folder');
    proxy.setRules([]);
    proxy.release('planted');
    const result = await run;
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('datalake: failed:')), result.stderr).toHaveLength(1);
    expect(result.stderr).toContain(`${join(folder, name)} is a folder`);
    expect(result.stderr).not.toMatch(/EISDIR|illegal operation/);
    expect(readFileSync(join(folder, name, 'keep.txt'), 'utf8')).toBe('the user made this folder');
    expect(temporaries(folder)).toEqual([]);
  });
});

describe('get --no-clobber over an earlier run that was stopped', () => {
  it('skipping a target that exists removes the temporary file, record and lock a killed run left for it, never a link planted at those names', async () => {
    const destination = join(work.path, 'noclobber-left');
    // A run killed (kill -9) with a range of a.bin recorded: its file, record and lock stay.
    proxy.setRules([{ method: 'GET', match: /interrupt\/a\.bin/, skip: 1, fault: { kind: 'hold', gate: 'killed-left' } }]);
    const run = startWatchedCli(['get', `s3://${bucket}/interrupt/a.bin`, join(destination, 'a.bin'), '--concurrency', '1'], proxied);
    await waitFor(() => proxy.held('killed-left') >= 1 && existsSync(join(destination, '.a.bin.datalake-part.json')), 'a range recorded, the next held');
    run.child.kill('SIGKILL');
    expect(await run.done).toBe(null);
    proxy.setRules([]);
    expect(temporaries(destination).sort()).toEqual(['.a.bin.datalake-part', '.a.bin.datalake-part.json', '.a.bin.datalake-part.lock']);
    // Then the user puts files of their own at the targets, and links at b.bin's temporary names.
    writeFileSync(join(destination, 'a.bin'), 'the user put a.bin here');
    writeFileSync(join(destination, 'b.bin'), 'the user put b.bin here');
    const outside = join(work.path, 'noclobber-outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'part'), 'not datalake\'s');
    writeFileSync(join(outside, 'record'), 'not datalake\'s either');
    symlinkSync(join(outside, 'part'), join(destination, '.b.bin.datalake-part'));
    symlinkSync(join(outside, 'record'), join(destination, '.b.bin.datalake-part.json'));

    const result = await runCli(['get', '-r', `s3://${bucket}/interrupt/`, destination, '--no-clobber', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    // Skips are listed in the order their checks end; compare them as a set.
    const summary = JSON.parse(result.stdout) as { skipped: { key: string }[]; failed: unknown[] };
    expect(summary.failed).toEqual([]);
    expect(summary.skipped.map((item) => item.key).sort()).toEqual(['interrupt/a.bin', 'interrupt/b.bin']);
    expect(readdirSync(destination).sort()).toEqual(['.b.bin.datalake-part', '.b.bin.datalake-part.json', 'a.bin', 'b.bin', 's.txt']);
    expect(readFileSync(join(destination, 'a.bin'), 'utf8')).toBe('the user put a.bin here');
    expect(lstatSync(join(destination, '.b.bin.datalake-part')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(outside, 'part'), 'utf8')).toBe('not datalake\'s');
    expect(readFileSync(join(outside, 'record'), 'utf8')).toBe('not datalake\'s either');

    // The same for a get of one object by its key. A record of datalake's whose file is gone is
    // removed; a file at the part name that no record of datalake's names is the user's, and kept.
    writeFileSync(join(destination, '.s.txt.datalake-part'), 'a part');
    writeFileSync(join(destination, '.s.txt.datalake-part.json'), JSON.stringify({ etag: '"e"', size: 46, chunk: 8388608, done: [] }));
    const single = await runCli(['get', `s3://${bucket}/interrupt/s.txt`, join(destination, 's.txt'), '--no-clobber'], { env });
    expect(single.code, single.stderr).toBe(0);
    expect(single.stderr).toContain(`${join(destination, '.s.txt.datalake-part')} is not a file datalake can prove it made`);
    expect(temporaries(destination).sort()).toEqual(['.b.bin.datalake-part', '.b.bin.datalake-part.json', '.s.txt.datalake-part']);
    expect(readFileSync(join(destination, '.s.txt.datalake-part'), 'utf8')).toBe('a part');
  });
});

describe('smaller ones', () => {
  it('get to standard output of a damaged object says what was written, not "nothing was written"', async () => {
    proxy.setRules([{ method: 'GET', match: /big\.bin/, fault: { kind: 'flip-response-byte', offset: 1000 } }]);
    const result = await runCli(['get', `s3://${bucket}/big.bin`, '-'], { env: proxied });
    proxy.setRules([]);
    expect(result.code).toBe(1);
    expect(result.stdoutBytes.length).toBeGreaterThan(0);
    expect(result.stderr).not.toMatch(/nothing was written/);
    expect(result.stderr).toMatch(/already written to standard output/);
  });

  it('keys whose last segment starts with .. are downloaded by get -r and sync', async () => {
    for (const command of ['get', 'sync'] as const) {
      const destination = join(work.path, `dots-${command}`);
      const args = command === 'get' ? ['get', '-r', `s3://${bucket}/dots/`, destination] : ['sync', `s3://${bucket}/dots/`, destination];
      const result = await runCli(args, { env });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(readFileSync(join(destination, '..notes.txt'))).toEqual(small);
      expect(readFileSync(join(destination, '...', 'x.txt'))).toEqual(small);
    }
  });
});
