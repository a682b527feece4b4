/**
 * What a person sees in a real terminal: datalake runs under tmux, and the screen is read back with
 * capture-pane. The bar appears only for a run that lasts, the result lines survive it, the prompt comes
 * back on a clean line, and Ctrl-C prints its message on a line of its own. (That a short run shows no
 * bar at all is checked with a fake clock in test/unit/progress.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { BIN, createTestBucket, emptyAndDeleteBucket, s3Env, tempDirectory, testClient, waitFor, writeRandomFile } from '../support/harness.js';

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

/** The visible screen, one string per line (wrapped rows joined), trailing blanks trimmed. */
function screen(): string[] {
  return tmux('capture-pane', '-p', '-J', '-t', 'main').split('\n').map((row) => row.trimEnd());
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
    expect(rows.slice(exit - 4, exit - 1).map((row) => row.replace(/ {2}crc32 .*$/, '').replace(/^.*\//, ''))).toEqual(['a.bin  1.0 MiB', 'b.bin  1.0 MiB', 'c.bin  1.0 MiB']);
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
    // The parts never get an answer in time: the run is still going when Ctrl-C comes.
    proxy.setRules([{ method: 'PUT', fault: { kind: 'delay', ms: 20_000 } }]);
    openTerminal();
    await waitFor(() => screen().some((row) => row.startsWith('PROMPT$')), 'the shell prompt');
    type(`node ${BIN} put ${file} s3://${bucket}/stalled.bin --part-size 5MiB; echo "EXIT=$?"`);
    await waitFor(() => screen().some((row) => row.includes('░')), 'the progress bar');
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitFor(() => screen().some((row) => row.includes('SIGINT received')), 'the interrupt message');
    const message = screen().find((row) => row.includes('SIGINT received'))!;
    expect(message).toMatch(/^datalake: SIGINT received: finishing the requests in flight/);
    expect(screen().join('\n')).not.toMatch(/[█░]/);
    tmux('send-keys', '-t', 'main', 'C-c');
    await waitFor(() => screen().some((row) => row.startsWith('EXIT=')), 'the command to end');
    expect(screen().find((row) => row.startsWith('EXIT='))).toBe('EXIT=130');
    proxy.setRules([]);
  });
});
