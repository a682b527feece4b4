/**
 * What a person sees in a real terminal: datalake runs under tmux, and the screen is read back with
 * capture-pane. The bar appears only for a run that lasts, the result lines survive it, the prompt comes
 * back on a clean line, and Ctrl-C prints its message on a line of its own — wherever stdout goes, and
 * on a narrow terminal too. (That a short run shows no
 * bar at all is checked with a fake clock in test/unit/progress.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy, type FaultRule } from '../support/fault-proxy.js';
import { BIN, createTestBucket, emptyAndDeleteBucket, runCli, s3Env, tempDirectory, testClient, waitFor, writeRandomFile } from '../support/harness.js';

const work = tempDirectory('terminal');
// One tmux server per terminal, each on a socket of its own: a server told to exit finishes exiting on
// its own time, and a new session started on the same socket could reach the dying one ("server
// exited unexpectedly").
const newSocketName = () => `datalake-test-${randomBytes(4).toString('hex')}`;
let socket = newSocketName();
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxyEndpoint: string;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  if (result.error) throw new Error(`tmux is needed for the terminal tests (apt-get install tmux): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** The visible screen (with `scrollback`, every line since the terminal opened), one string per line (wrapped rows joined), trailing blanks trimmed. */
function screen(scrollback = false): string[] {
  return tmux('capture-pane', '-p', '-J', ...(scrollback ? ['-S', '-'] : []), '-t', 'main').split('\n').map((row) => row.trimEnd());
}

/** Waits until the screen shows what `shows` looks for; if it never does, the error holds the screen. */
async function waitForScreen(shows: (rows: string[]) => boolean, what: string): Promise<void> {
  try {
    await waitFor(() => shows(screen()), what);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the screen was:\n${screen().join('\n')}`);
  }
}

/** The commands the terminal's shell is running now: its children's names. */
function shellChildren(): string[] {
  const shell = tmux('display-message', '-p', '-t', 'main', '#{pane_pid}').trim();
  return spawnSync('ps', ['-o', 'comm=', '--ppid', shell], { encoding: 'utf8' }).stdout.split('\n').filter((name) => name !== '');
}

/** Starts a shell in a fresh window (120×30 unless told) with a known prompt and the test server's environment. */
function openTerminal(columns = 120): void {
  const env = s3Env({ AWS_ENDPOINT_URL: proxyEndpoint, TERM: 'xterm-256color' });
  const exports = Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `export ${key}='${String(value).replace(/'/g, "'\\''")}'`)
    .join('\n');
  const rc = join(work.path, 'rc.sh');
  writeFileSync(rc, `${exports}\nPS1='PROMPT$ '\n`);
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  socket = newSocketName();
  tmux('new-session', '-d', '-s', 'main', '-x', String(columns), '-y', '30', `bash --noprofile --rcfile ${rc} -i`);
}

function type(command: string): void {
  tmux('send-keys', '-t', 'main', '-l', command);
  tmux('send-keys', '-t', 'main', 'Enter');
}

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'terminal');
  proxy = new FaultProxy(inject('s3').endpoint ?? '');
  proxyEndpoint = await proxy.start();
});
afterAll(async () => {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('progress on a terminal', () => {
  it('a run that lasts shows a bar, then the result line survives and the prompt comes back clean', async () => {
    const file = join(work.path, 'slow.bin');
    writeRandomFile(file, 6 * 1024 * 1024);
    // Each part waits at the proxy: the upload takes a few seconds, so the bar must appear.
    proxy.setRules([{ method: 'PUT', fault: { kind: 'delay', ms: 2_500 } }]);
    openTerminal();
    await waitFor(() => screen().some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} put ${file} s3://${bucket}/slow.bin --part-size 5MiB; echo "EXIT=$?"`);
    await waitFor(() => screen().some((row) => row.includes('░')), 'the progress bar');
    await waitFor(() => screen().some((row) => row.startsWith('EXIT=')), 'the command to end', 60_000);
    await waitFor(() => screen().some((row, index, rows) => row.startsWith('EXIT=') && rows[index + 1] === 'PROMPT$'), 'the next prompt');
    const rows = screen().filter((row) => row !== '');
    const exit = rows.findIndex((row) => row.startsWith('EXIT='));
    expect(rows[exit]).toBe('EXIT=0');
    expect(rows[exit - 1]).toMatch(new RegExp(`^uploaded ${file} → s3://${bucket}/slow\\.bin {2}6\\.0 MiB {2}crc32 [A-Za-z0-9+/]{6}==$`));
    expect(rows[exit + 1]).toBe('PROMPT$');
    expect(rows.join('\n')).not.toMatch(/[█░]|\d+%/);
  });

  it('put -r: the bar counts against every planned file from its first frame, not the uploads started so far', async () => {
    const tree = join(work.path, 'tree');
    mkdirSync(tree, { recursive: true });
    for (const name of ['a.bin', 'b.bin', 'c.bin']) writeRandomFile(join(tree, name), 1024 * 1024);
    // One request at a time, each PUT held at the proxy: only two of the three uploads have started
    // when the bar first shows.
    proxy.setRules([{ method: 'PUT', fault: { kind: 'delay', ms: 1_500 } }]);
    openTerminal();
    await waitFor(() => screen().some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} put -r ${tree} s3://${bucket}/tree/ --concurrency 1; echo "EXIT=$?"`);
    await waitFor(() => screen().some((row) => row.includes('░')), 'the progress bar');
    const firstFrame = screen().find((row) => row.includes('░'))!;
    expect(firstFrame).toMatch(/ of 3\.0 MiB \|/);
    expect(firstFrame).toMatch(/\/3 files/);
    await waitFor(() => screen().some((row) => row.startsWith('EXIT=')), 'the command to end', 60_000);
    // Every result line survives the bar, the first one too, then the summary and the prompt.
    const rows = screen().filter((row) => row !== '');
    const exit = rows.findIndex((row) => row.startsWith('EXIT='));
    expect(rows[exit]).toBe('EXIT=0');
    expect(rows[exit - 1]).toMatch(/^3 uploaded, 0 failed, 3\.0 MiB in \d+\.\ds$/);
    // In the order the uploads finished, which nothing promises to be the files' order.
    expect(rows.slice(exit - 4, exit - 1).map((row) => row.replace(/ {2}crc32 .*$/, '').replace(/^.*\//, '')).sort()).toEqual(['a.bin  1.0 MiB', 'b.bin  1.0 MiB', 'c.bin  1.0 MiB']);
    expect(rows.join('\n')).not.toMatch(/[█░]|\d+%/);
    proxy.setRules([]);
  });

  it('cp -r: one bar counts the copies against every listed object, then the result lines survive it', async () => {
    const tree = join(work.path, 'copytree');
    mkdirSync(tree, { recursive: true });
    for (const name of ['a.bin', 'b.bin', 'c.bin']) writeRandomFile(join(tree, name), 1024 * 1024);
    expect((await runCli(['put', '-r', tree, `s3://${bucket}/copysrc/`])).code).toBe(0);
    // One request at a time, each copy (a PUT with x-amz-copy-source) held at the proxy: the run lasts.
    proxy.setRules([{ method: 'PUT', fault: { kind: 'delay', ms: 1_500 } }]);
    openTerminal();
    await waitFor(() => screen().some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} cp -r s3://${bucket}/copysrc/ s3://${bucket}/copydst/ --concurrency 1; echo "EXIT=$?"`);
    await waitFor(() => screen().some((row) => row.includes('░')), 'the progress bar');
    const firstFrame = screen().find((row) => row.includes('░'))!;
    expect(firstFrame).toMatch(/\/3 files/);
    expect(firstFrame).toMatch(/ of 3\.0 MiB \|/);
    await waitFor(() => screen().some((row) => row.startsWith('EXIT=')), 'the command to end', 60_000);
    const rows = screen().filter((row) => row !== '');
    const exit = rows.findIndex((row) => row.startsWith('EXIT='));
    expect(rows[exit]).toBe('EXIT=0');
    expect(rows[exit - 1]).toBe('3 copied, 0 skipped, 0 failed, 3.0 MiB');
    // In the order the copies finished.
    expect(rows.slice(exit - 4, exit - 1).map((row) => row.replace(/ {2}1\.0 MiB {2}verified by .*$/, '')).sort()).toEqual(
      ['a.bin', 'b.bin', 'c.bin'].map((name) => `copied s3://${bucket}/copysrc/${name} → s3://${bucket}/copydst/${name}`),
    );
    expect(rows.join('\n')).not.toMatch(/[█░]|\d+%/);
    proxy.setRules([]);
  });

  it('at 80 columns the bar keeps its file count, ahead of bytes, rate and ETA, within the line', async () => {
    const tree = join(work.path, 'tree80');
    mkdirSync(tree, { recursive: true });
    // 4 MiB files: `4.0 MiB of 12.0 MiB`, a rate and an ETA leave no room at 80 columns for a file count put last.
    for (const name of ['a.bin', 'b.bin', 'c.bin']) writeRandomFile(join(tree, name), 4 * 1024 * 1024);
    proxy.setRules([{ method: 'PUT', fault: { kind: 'delay', ms: 1_500 } }]);
    openTerminal(80);
    await waitFor(() => screen().some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} put -r ${tree} s3://${bucket}/tree80/ --concurrency 1; echo "EXIT=$?"`);
    const moving = (row: string) => row.includes('░') && row.includes('ETA');
    await waitFor(() => screen().some(moving), 'a frame of the bar with bytes moving (a rate and an ETA)');
    const frame = screen().find(moving)!;
    expect(frame.length).toBeLessThanOrEqual(80);
    expect(frame).toMatch(/ [0-3]\/3 files \| [\d.]+ [KM]?i?B of 12\.0 MiB \| /);
    await waitFor(() => screen().some((row) => row.startsWith('EXIT=')), 'the command to end', 60_000);
    expect(screen().find((row) => row.startsWith('EXIT='))).toBe('EXIT=0');
    proxy.setRules([]);
  });

  it('Ctrl-C clears the bar and prints its message on a line of its own', async () => {
    const file = join(work.path, 'stalled.bin');
    writeRandomFile(file, 6 * 1024 * 1024);
    // The parts are held at the proxy until the test ends: the run is still going when Ctrl-C comes.
    proxy.setRules([{ method: 'PUT', fault: { kind: 'hold', gate: 'parts' } }]);
    openTerminal();
    await waitForScreen((rows) => rows.some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} put ${file} s3://${bucket}/stalled.bin --part-size 5MiB; echo "EXIT=$?"`);
    await waitForScreen((rows) => rows.some((row) => row.includes('░')), 'the progress bar');
    expect(proxy.held('parts')).toBeGreaterThan(0);
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitForScreen((rows) => rows.some((row) => row.includes('SIGINT received')), 'the interrupt message');
    const message = screen().find((row) => row.includes('SIGINT received'))!;
    expect(message).toMatch(/^datalake: SIGINT received: finishing the requests in flight/);
    expect(screen().join('\n')).not.toMatch(/[█░]/);
    // A second Ctrl-C stops at once, without waiting for the held parts.
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitForScreen((rows) => rows.some((row) => row.startsWith('EXIT=')), 'the command to end');
    expect(screen().find((row) => row.startsWith('EXIT='))).toBe('EXIT=130');
    proxy.setRules([]);
  });
});

/**
 * The bar is drawn on stderr: whether stdout goes to /dev/null, through a pipe to `cat` (whose lines
 * reach the same terminal by way of another process) or to the terminal itself, and however narrow the
 * terminal, the bar leaves nothing behind — neither at Ctrl-C (whose `^C` the terminal echoes where the
 * cursor is) nor at the end. Each run is held at the proxy (requests parked at a gate) until its bar is
 * up; then Ctrl-C comes, or the gate opens and the run ends on its own.
 */
describe('the bar leaves nothing behind, wherever stdout goes', () => {
  const BAR = /[█░]|\d+% \|/;
  // 120 files: at 80 columns the bar's line (` 1% | 2/120 files | 200.0 KiB of 11.7 MiB | …`) is as wide as it may be.
  const many = join(work.path, 'many');
  const large = join(work.path, 'large.bin');
  const interruptedEnd = ['datalake: error: interrupted by SIGINT (run the same command again to resume)', 'EXIT=130', 'PROMPT$'];

  beforeAll(async () => {
    mkdirSync(many, { recursive: true });
    for (let index = 0; index < 120; index += 1) writeRandomFile(join(many, `f${String(index).padStart(3, '0')}.bin`), 100 * 1024);
    writeRandomFile(large, 6 * 1024 * 1024);
    for (const put of [['put', '-r', many, `s3://${bucket}/many/`], ['put', large, `s3://${bucket}/large.bin`]]) {
      const seeded = await runCli([...put, '--concurrency', '8', '--quiet']);
      if (seeded.code !== 0) throw new Error(`seeding ${put.at(-1)} failed: ${seeded.stderr}`);
    }
  });

  /** Types `command` in a fresh terminal `columns` wide, with `hold` parking requests at the gate 'rest', and waits for the bar. */
  async function runHeld(columns: number, hold: FaultRule, command: string): Promise<void> {
    proxy.setRules([hold]);
    openTerminal(columns);
    await waitForScreen((rows) => rows.some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(command);
    await waitForScreen((rows) => rows.some((row) => row.includes('░') || row.startsWith('EXIT=')), 'the progress bar');
    expect(screen().filter((row) => row.startsWith('EXIT='))).toEqual([]);
  }

  /**
   * Ctrl-C: its message comes on the bar's line, right under `above` (the last line before the bar),
   * and nothing of the bar is left; then the held requests finish (after `before`), and the run ends
   * as interrupted. Every line of the session is handed back.
   */
  async function interrupt(above: RegExp, before?: () => Promise<void>): Promise<string[]> {
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitForScreen((rows) => rows.some((row) => row.includes('SIGINT received')), 'the interrupt message');
    const rows = screen(true).filter((row) => row !== '');
    expect(rows.join('\n')).not.toMatch(BAR);
    const message = rows.findIndex((row) => row.includes('SIGINT received'));
    expect(rows[message]).toMatch(/^datalake: SIGINT received: finishing the requests in flight/);
    expect(rows[message - 1]).toMatch(above);
    await before?.();
    proxy.release('rest');
    const end = await ended();
    expect(end.slice(-3)).toEqual(interruptedEnd);
    expect(end.join('\n')).not.toMatch(BAR);
    return end;
  }

  /** The lines of the whole session once the command has ended and the prompt is back, blank ones left out. */
  async function ended(): Promise<string[]> {
    await waitForScreen((rows) => rows.some((row) => row.startsWith('EXIT=')) && rows.filter((row) => row !== '').at(-1) === 'PROMPT$', 'the command to end and the prompt');
    return screen(true).filter((row) => row !== '');
  }

  const putToNull = (prefix: string) => `node ${BIN} put -r ${many} s3://${bucket}/${prefix}/ --concurrency 2 >/dev/null; echo "EXIT=$?"`;
  const holdPuts: FaultRule = { method: 'PUT', skip: 2, fault: { kind: 'hold', gate: 'rest' } };

  it('put -r with stdout to /dev/null, at 80 columns: Ctrl-C takes the bar off the screen', async () => {
    await runHeld(80, holdPuts, putToNull('null-interrupted'));
    const rows = await interrupt(/^PROMPT\$ node .* >\/dev\/null; echo "EXIT=\$\?"$/);
    expect(rows.slice(-4, -3)).toEqual([expect.stringMatching(/^datalake: SIGINT received: /)]);
  });

  it('put -r with stdout to /dev/null, at 80 columns: the bar is gone at the end', async () => {
    await runHeld(80, holdPuts, putToNull('null-done'));
    proxy.release('rest');
    const rows = await ended();
    expect(rows.slice(-3)).toEqual([expect.stringMatching(/^PROMPT\$ node .* >\/dev\/null; echo "EXIT=\$\?"$/), 'EXIT=0', 'PROMPT$']);
    expect(rows.join('\n')).not.toMatch(BAR);
  });

  // The shell abandons what follows a pipeline that Ctrl-C stopped: the exit code is printed inside it, on stderr.
  const getToCat = (folder: string) => `(node ${BIN} get -r s3://${bucket}/many/ ${join(work.path, folder)} --concurrency 2; echo "EXIT=$?" >&2) | cat`;
  // Every file but the first two is held (by name: a GET sent twice does not take another file's turn).
  const holdGets: FaultRule = { method: 'GET', match: /\/many\/f(?!00[01]\.bin)\d{3}\.bin/, fault: { kind: 'hold', gate: 'rest' } };
  const holdLarge: FaultRule = { method: 'GET', match: /\/large\.bin/, fault: { kind: 'hold', gate: 'rest' } };
  const downloaded = (rows: string[]) => rows.filter((row) => /^downloaded s3:\/\/.*\/many\/f\d{3}\.bin → .*\/f\d{3}\.bin {2}100\.0 KiB {2}verified by crc32$/.test(row));

  it('get -r through a pipe to cat, at 80 columns: Ctrl-C takes the bar off the screen, and the run still says it was interrupted', async () => {
    await runHeld(80, holdGets, getToCat('cat-interrupted'));
    await waitForScreen((rows) => downloaded(rows).length === 2, 'f000 and f001 told');
    // The files that arrived afterwards are told to a stdout whose reader Ctrl-C has ended.
    const rows = await interrupt(/^downloaded s3:\/\/.*\/many\/f00[01]\.bin → /, () => waitFor(() => !shellChildren().includes('cat'), 'cat to end'));
    expect(rows.slice(-4, -3)).toEqual([expect.stringMatching(/^datalake: SIGINT received: /)]);
    expect(downloaded(rows)).toHaveLength(2);
  });

  it('get -r through a pipe to cat, at 80 columns: every line cat prints is whole, and the bar is gone at the end', async () => {
    await runHeld(80, holdGets, getToCat('cat-done'));
    proxy.release('rest');
    const rows = await ended();
    expect(downloaded(rows)).toHaveLength(120);
    expect(rows).toContain('120 downloaded, 0 skipped, 0 failed, 11.7 MiB');
    expect(rows).toContain('EXIT=0');
    expect(rows.join('\n')).not.toMatch(BAR);
  });

  it('get of a large file through a pipe to head -c 1: the run ends when head has gone, quietly, and takes the bar with it', async () => {
    await runHeld(80, holdLarge, `node ${BIN} get s3://${bucket}/large.bin - | head -c 1 >/dev/null; echo "EXIT=\${PIPESTATUS[0]}"`);
    // The object's bytes, far more than the pipe holds, outlast head.
    proxy.release('rest');
    const rows = await ended();
    expect(rows.slice(-3)).toEqual([expect.stringMatching(/^PROMPT\$ node .* \| head -c 1 >\/dev\/null; echo/), 'EXIT=0', 'PROMPT$']);
    expect(rows.join('\n')).not.toMatch(BAR);
  });

  it('cat through a pipe: Ctrl-C, which ends the reader too, ends cat as interrupted, not as a broken pipe', async () => {
    proxy.setRules([holdLarge]);
    openTerminal(80);
    await waitForScreen((rows) => rows.some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`(node ${BIN} cat s3://${bucket}/large.bin; echo "EXIT=$?" >&2) | cat >/dev/null`);
    await waitFor(() => proxy.held('rest') > 0, 'the GET to be held');
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitForScreen((rows) => rows.some((row) => row.includes('SIGINT received')), 'the interrupt message');
    await waitFor(() => !shellChildren().includes('cat'), 'cat to end');
    // The object's bytes now go to a pipe without a reader.
    proxy.release('rest');
    expect((await ended()).slice(-3)).toEqual(interruptedEnd);
  });

  const putLarge = (key: string) => `node ${BIN} put ${large} s3://${bucket}/${key} --part-size 5MiB; echo "EXIT=$?"`;
  const holdParts: FaultRule = { method: 'PUT', fault: { kind: 'hold', gate: 'rest' } };

  it('put of a large file at 50 columns, stdout on the terminal: Ctrl-C takes the bar off the screen', async () => {
    await runHeld(50, holdParts, putLarge('narrow-interrupted.bin'));
    // The parts in flight may finish in the grace period, and the upload with them: its line then comes before the error.
    await interrupt(/^PROMPT\$ node .*; echo "EXIT=\$\?"$/);
  });

  it('put of a large file at 50 columns, stdout on the terminal: the result line survives, the bar is gone', async () => {
    await runHeld(50, holdParts, putLarge('narrow-done.bin'));
    proxy.release('rest');
    const rows = await ended();
    expect(rows.slice(-3)).toEqual([
      expect.stringMatching(new RegExp(`^uploaded ${large} → s3://${bucket}/narrow-done\\.bin {2}6\\.0 MiB {2}crc32 [A-Za-z0-9+/]{6}==$`)),
      'EXIT=0',
      'PROMPT$',
    ]);
    expect(rows.join('\n')).not.toMatch(BAR);
  });
});
