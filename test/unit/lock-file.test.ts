import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryLock } from '../../src/core/transfer/lock-file.js';

const CONTENDER = fileURLToPath(new URL('../support/lock-contender.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'datalake-locks-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The pid of a process that has already exited: its lock is stale. */
function deadPid(): number {
  const ran = spawnSync(process.execPath, ['-e', '0']);
  return ran.pid!;
}

describe('lock files', () => {
  it('hold the holder pid and host, and are gone once released', async () => {
    const path = join(work, 'plain.lock');
    const lock = await tryLock(path);
    expect(lock.acquired).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(await tryLock(path)).toMatchObject({ acquired: false, holder: { pid: process.pid, host: hostname() } });
    if (lock.acquired) await lock.release();
    expect(readdirSync(work).filter((name) => name.startsWith('plain'))).toEqual([]);
  });

  it('an empty, unreadable or dead holder lock is stale and taken over', async () => {
    for (const [name, content] of [
      ['empty.lock', ''],
      ['garbage.lock', '{"pid":'],
      ['dead.lock', JSON.stringify({ pid: deadPid(), host: hostname() })],
    ] as const) {
      const path = join(work, name);
      writeFileSync(path, content);
      const lock = await tryLock(path);
      expect(lock.acquired, name).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid });
      if (lock.acquired) await lock.release();
      expect(existsSync(path)).toBe(false);
    }
  });

  it('a lock naming our own pid that this process does not hold is stale (a container started again)', async () => {
    const path = join(work, 'own-pid.lock');
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname() }));
    const lock = await tryLock(path);
    expect(lock.acquired).toBe(true);
    // Held now: a second attempt of this process finds it held.
    expect(await tryLock(path)).toMatchObject({ acquired: false, holder: { pid: process.pid } });
    if (lock.acquired) await lock.release();
  });

  it('a lock whose pid now belongs to a process started at another time is stale', async () => {
    const path = join(work, 'reused-pid.lock');
    const start = readFileSync(`/proc/${process.ppid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), start }));
    expect(await tryLock(path)).toMatchObject({ acquired: false, holder: { pid: process.ppid } });
    writeFileSync(path, JSON.stringify({ pid: process.ppid, host: hostname(), start: `${start}1` }));
    const lock = await tryLock(path);
    expect(lock.acquired).toBe(true);
    if (lock.acquired) await lock.release();
  });

  it('a symbolic link planted at the lock name is never written through', async () => {
    const outside = join(work, 'outside.txt');
    writeFileSync(outside, 'keep me');
    const path = join(work, 'planted.lock');
    symlinkSync(outside, path);
    const lock = await tryLock(path);
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
    if (lock.acquired) {
      expect(lstatSync(path).isFile()).toBe(true);
      await lock.release();
    }
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
  });

  describe('a stale lock found by many processes at once', () => {
    const contenders: ChildProcess[] = [];
    const CONTENDERS = 8;
    const ROUNDS = 40;

    beforeAll(async () => {
      for (let i = 0; i < CONTENDERS; i += 1) {
        const child = fork(CONTENDER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        contenders.push(child);
        await new Promise<void>((resolve) => child.once('message', () => resolve()));
      }
    });
    afterAll(() => {
      for (const child of contenders) child.send({ exit: true });
    });

    it(`is taken by exactly one of them (${CONTENDERS} processes, ${ROUNDS} rounds)`, async () => {
      const gone = deadPid();
      const winners: number[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const path = join(work, `race-${round}.lock`);
        writeFileSync(path, JSON.stringify({ pid: gone, host: hostname() }));
        const answers = contenders.map(
          (child) =>
            new Promise<{ acquired: boolean; error?: string }>((resolve) => {
              const onMessage = (message: { path?: string; acquired: boolean; error?: string }) => {
                if (message.path !== path) return;
                child.off('message', onMessage);
                resolve(message);
              };
              child.on('message', onMessage);
            }),
        );
        for (const child of contenders) child.send({ path });
        const results = await Promise.all(answers);
        expect(results.filter((result) => result.error)).toEqual([]);
        winners.push(results.filter((result) => result.acquired).length);
      }
      expect(winners.filter((count) => count !== 1)).toEqual([]);
    });
  });
});
