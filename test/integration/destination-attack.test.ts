/**
 * Adversarial review of downloads' DestinationGuard (transfer/get-plan.ts): a folder of the
 * destination swapped for a link, or replaced, while `get -r` runs, stopped at a known request by the
 * fault proxy's `hold`. The guard proves the folder a temporary file is created in; these look at
 * everything else a download makes by path in that folder: its subfolders (mkdir -p), the lock of a
 * large download's fixed temporary name, and its range record.
 *
 * With `--concurrency 1` a get -r works on two keys at once and a sync on four (forEachWindowed's
 * window is twice, or four times, the concurrency): holding the GETs of the four small keys that
 * come first in a folder keeps the fifth and later from starting until they are let go, so whatever
 * they do, they do after the swap.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { BIN, s3Env, startCli, tempDirectory, waitFor, swapForLink } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const work = tempDirectory('dest-attack');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;
const MiB = 1024 * 1024;
/** Folders of the "many folders" test: well above the bound, so that folders kept open past their use would show. */
const MANY_FOLDERS = 64;
/** 16 folders held + 8 in use past them (--concurrency 8) + per download 2 files (its temporary file, a record or lock being written). */
const DESCRIPTOR_BOUND = 16 + 8 + 8 * 2;

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('dest-attack'));
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  const put = (key: string, body: string | Buffer) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  // In key order: four small files, a 2 MiB one (past the in-memory path: a fixed temporary name and its lock), a file in a new subfolder.
  await put('m/sub/a01.txt', 'object a01');
  await put('m/sub/a02.txt', 'object a02');
  await put('m/sub/a03.txt', 'object a03');
  await put('m/sub/a04.txt', 'object a04');
  await put('m/sub/big.bin', Buffer.alloc(2 * MiB, 7));
  await put('m/sub/new/f.txt', 'object in a new subfolder');
  // An object of three 5 MiB ranges.
  await put('r/sub/big.bin', Buffer.alloc(15 * MiB, 9));
  // Folders of 3 files, more than the folders held open (16) and the bound below, for folders to be let go of while files are made.
  await Promise.all(
    Array.from({ length: MANY_FOLDERS }, (_, folder) => Array.from({ length: 3 }, (_, file) => put(`many/d${String(folder).padStart(2, '0')}/f${file}.txt`, `folder ${folder} file ${file}`))).flat(),
  );
  for (const name of ['a01', 'a02', 'a03']) await put(`x/sub/${name}.txt`, `object ${name}`);
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

/** Every name made in `folder` (recursively) while `during` runs, in the order the kernel saw them. */
async function namesMadeIn(folder: string, during: () => Promise<void>): Promise<string[]> {
  const made: string[] = [];
  const watcher = watch(folder, { recursive: true }, (_event, name) => made.push(String(name)));
  try {
    await during();
    // A name of our own made after the run: once it is seen, every earlier one has been.
    writeFileSync(join(folder, 'end-of-run'), '');
    await waitFor(() => made.includes('end-of-run'), 'the watcher to see the end of the run');
  } finally {
    watcher.close();
  }
  return [...new Set(made.filter((name) => name !== 'end-of-run'))];
}

describe('get -r and sync: what a download makes by path, in a folder swapped for a link mid-run', () => {
  /** Runs get -r or sync of m/ with the GETs of m/sub/a01–a04.txt held, swaps sub/ for a link to a fresh folder outside once one is held, lets them go. */
  async function swappedRun(command: string, what: string): Promise<{ outside: string; made: string[]; code: number | null }> {
    const label = `${what}-${command.replace(/\W+/g, '-')}`;
    const destination = join(work.path, label);
    const outside = join(work.path, `${label}-outside`);
    mkdirSync(join(destination, 'sub'), { recursive: true });
    mkdirSync(outside);
    let code: number | null = null;
    const made = await namesMadeIn(outside, async () => {
      // The four small keys held, not only a01: a download that ended before the swap would free its
      // slot of the window, and big.bin or new/f.txt would start before the swap.
      proxy.setRules([{ method: 'GET', match: /m\/sub\/a0[1-4]\.txt/, fault: { kind: 'hold', gate: label } }]);
      const args = command === 'sync' ? ['sync', `s3://${bucket}/m/`, destination] : ['get', '-r', `s3://${bucket}/m/`, destination];
      const run = startCli([...args, '--concurrency', '1'], proxied);
      await waitFor(() => proxy.held(label) > 0, 'a GET of a01–a04 to be held');
      swapForLink(join(destination, 'sub'), outside);
      proxy.release(label);
      code = await run.done;
    });
    return { outside, made, code };
  }

  it.each(['get -r', 'sync'])('%s: no folder is made in the folder the link points to (a key under a new subfolder: mkdir -p through the link)', async (command) => {
    const { outside, made, code } = await swappedRun(command, 'mkdir');
    expect(code).toBe(1);
    expect({ made, left: readdirSync(outside).filter((name) => name !== 'end-of-run') }).toEqual({ made: [], left: [] });
  });

  it.each(['get -r', 'sync'])('%s: no lock file of a large download is made there either, not even for a moment', async (command) => {
    const { made, code } = await swappedRun(command, 'lock');
    expect(code).toBe(1);
    expect(made.filter((name) => name.includes('datalake-part'))).toEqual([]);
  });
});

describe('get -r: a large download whose folder is swapped for a link between two of its ranges', () => {
  it('its range record is not written in the folder the link points to, and not left there', async () => {
    const destination = join(work.path, 'record');
    const outside = join(work.path, 'record-outside');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    mkdirSync(outside);
    const made = await namesMadeIn(outside, async () => {
      // The second GET of the object (its second range) is held: the first range is in, and recorded.
      proxy.setRules([{ method: 'GET', match: /r\/sub\/big\.bin/, skip: 1, fault: { kind: 'hold', gate: 'record' } }]);
      const run = startCli(['get', '-r', `s3://${bucket}/r/`, destination, '--concurrency', '1', '--part-size', '5MiB'], proxied);
      await waitFor(() => proxy.held('record') > 0, 'the second range to be held');
      swapForLink(join(destination, 'sub'), outside);
      proxy.release('record');
      expect(await run.done).toBe(1);
    });
    expect({ made, left: readdirSync(outside).filter((name) => name !== 'end-of-run') }).toEqual({ made: [], left: [] });
  });
});

describe('get -r: a large download whose folder is moved out of the destination between two of its ranges', () => {
  it('fails, and keeps nothing in the moved folder: no temporary file, record or lock that no re-run would find', async () => {
    const destination = join(work.path, 'moved-large');
    const movedTo = join(work.path, 'moved-large-away');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    proxy.setRules([{ method: 'GET', match: /r\/sub\/big\.bin/, skip: 1, fault: { kind: 'hold', gate: 'moved-large' } }]);
    const run = startCli(['get', '-r', `s3://${bucket}/r/`, destination, '--concurrency', '1', '--part-size', '5MiB'], proxied);
    await waitFor(() => proxy.held('moved-large') > 0, 'the second range to be held');
    renameSync(join(destination, 'sub'), movedTo);
    proxy.release('moved-large');
    expect(await run.done).toBe(1);
    expect(readdirSync(movedTo)).toEqual([]);
  });
});

describe('get -r: folders replaced, and many folders held open', () => {
  it('a folder replaced by another real folder mid-run: the later files go to the new one, the old one receives nothing more', async () => {
    const destination = join(work.path, 'replaced');
    const away = join(work.path, 'replaced-away');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    // Every download but a01's is held; with more requests allowed than downloads held, a01's finishes
    // whichever order the downloads reach the limiter in (each first looks at its target, and those
    // looks can end in either order).
    proxy.setRules([{ method: 'GET', match: /x\/sub\/a0[23]\.txt/, fault: { kind: 'hold', gate: 'replaced' } }]);
    const run = startCli(['get', '-r', `s3://${bucket}/x/`, destination, '--concurrency', '3'], proxied);
    await waitFor(() => proxy.held('replaced') > 0, 'a GET after a01 to be held');
    await waitFor(() => existsSync(join(destination, 'sub', 'a01.txt')), 'a01 to be in place');
    renameSync(join(destination, 'sub'), away);
    mkdirSync(join(destination, 'sub'));
    const made = await namesMadeIn(away, async () => {
      proxy.release('replaced');
      expect(await run.done).toBe(0);
    });
    expect(made).toEqual([]);
    expect(readdirSync(join(destination, 'sub')).sort()).toEqual(['a02.txt', 'a03.txt']);
  });

  it(`${MANY_FOLDERS} folders at --concurrency 8: every file in its folder, and never more than ${DESCRIPTOR_BOUND} descriptors under the destination at once (16 folders held, 8 in use past them, and per download its temporary file and a record or lock being written)`, async () => {
    const destination = join(work.path, 'many');
    proxy.setRules([]);
    const run = startCli(['get', '-r', `s3://${bucket}/many/`, destination, '--concurrency', '8'], proxied);
    const pid = run.child.pid!;
    let most = 0;
    let samples = 0;
    let finished = false;
    void run.done.then(() => (finished = true));
    // Sampled until the run ends: the folders of the destination held open, as the kernel lists them.
    while (!finished) {
      let open = 0;
      for (const fd of (() => {
        try {
          return readdirSync(`/proc/${pid}/fd`);
        } catch {
          return [];
        }
      })()) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${destination}/`)) open += 1;
        } catch {
          // Closed while looked at.
        }
      }
      most = Math.max(most, open);
      samples += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await run.done).toBe(0);
    console.log(`many folders: ${samples} samples of /proc/${pid}/fd, at most ${most} descriptors under the destination at once`);
    expect(samples).toBeGreaterThan(5);
    expect(most).toBeLessThanOrEqual(DESCRIPTOR_BOUND);
    for (let folder = 0; folder < MANY_FOLDERS; folder += 1) {
      const name = `d${String(folder).padStart(2, '0')}`;
      expect(readdirSync(join(destination, name)).sort(), name).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
    }
  });
});

describe('sync --delete: a local-only file gone before its deletion', () => {
  it('is not a raw ENOENT that ends the run: the other deletions are made', async () => {
    const destination = join(work.path, 'gone');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    proxy.setRules([]);
    expect(await startCli(['sync', `s3://${bucket}/x/`, destination], proxied).done).toBe(0);
    for (const name of ['e01.txt', 'e02.txt']) writeFileSync(join(destination, 'sub', name), 'only local: deleted by --delete');
    // The confirming HEADs are made before any deletion: while e02's is held, e01 goes away.
    proxy.setRules([{ method: 'HEAD', match: /x\/sub\/e02\.txt/, fault: { kind: 'hold', gate: 'gone' } }]);
    const run = startCliLogged(['sync', `s3://${bucket}/x/`, destination, '--delete'], proxied);
    await waitFor(() => proxy.held('gone') > 0, 'the HEAD of e02 to be held');
    rmSync(join(destination, 'sub', 'e01.txt'));
    proxy.release('gone');
    await run.done;
    expect(run.output()).not.toMatch(/ENOENT/);
    expect(existsSync(join(destination, 'sub', 'e02.txt'))).toBe(false);
  });
});

/** startCli, its output kept (for the report of a run that fails). */
function startCliLogged(args: string[], env: NodeJS.ProcessEnv): { done: Promise<number | null>; output: () => string } {
  const chunks: Buffer[] = [];
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { done: new Promise((resolve) => child.on('close', resolve)), output: () => Buffer.concat(chunks).toString() };
}
