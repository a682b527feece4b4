/**
 * Exit codes are decided in one place (src/cli/exit-codes.ts) from what a command threw; a command
 * whose items failed one by one ends with exit 1 and prints nothing more (its summary is out).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommanderError } from 'commander';
import { EXIT_FAILED, EXIT_USAGE, ItemsFailed, exitCodeFor, exitCodeForKind, exitCodeForSignal, failIfAny, reportError } from '../../src/cli/exit-codes.js';
import { ContentMismatch, DatalakeError, failure, usageError } from '../../src/core/errors.js';
import { Output } from '../../src/cli/output.js';

afterEach(() => vi.restoreAllMocks());

function reported(error: unknown, json = false): { code: number; stderr: string; stdout: string } {
  let stderr = '';
  let stdout = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const code = reportError(error, { debug: false, json });
  vi.restoreAllMocks();
  return { code, stderr, stdout };
}

describe('exit codes', () => {
  it('map each kind of error: usage 2, failed 1, interrupted 130 or 143 by the signal', () => {
    expect(exitCodeForKind('usage', undefined)).toBe(2);
    expect(exitCodeForKind('failed', undefined)).toBe(1);
    expect(exitCodeForKind('interrupted', 'SIGINT')).toBe(130);
    expect(exitCodeForKind('interrupted', 'SIGTERM')).toBe(143);
    expect(exitCodeForSignal(undefined)).toBe(130);
  });

  it('map each typed error to its code per the SPEC: 0 ok, 1 failed, 2 usage, 130/143 interrupted', () => {
    const cases: Array<[string, unknown, NodeJS.Signals | undefined, number]> = [
      ['items failed one by one', new ItemsFailed(3), undefined, 1],
      ['a failure', failure('the object did not verify'), undefined, 1],
      ['a content mismatch', new ContentMismatch('ETag differs'), undefined, 1],
      ['bad input', usageError('no such file'), undefined, 2],
      ['interrupted by SIGINT', new DatalakeError('interrupted', 'interrupted by SIGINT'), 'SIGINT', 130],
      ['interrupted by SIGTERM', new DatalakeError('interrupted', 'interrupted by SIGTERM'), 'SIGTERM', 143],
      ['an unknown flag', new CommanderError(1, 'commander.unknownOption', "error: unknown option '--nope'"), undefined, 2],
      ['a missing argument', new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'source'"), undefined, 2],
      ['--help', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), undefined, 0],
      ['--version', new CommanderError(0, 'commander.version', '0.1.0'), undefined, 0],
      ['the help shown for a mistake', new CommanderError(1, 'commander.help', '(outputHelp)'), undefined, 2],
      ["an S3 error the core did not explain", Object.assign(new Error('no such bucket'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }), undefined, 1],
      ['a system error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), undefined, 1],
      ['anything else thrown', 'a string', undefined, 1],
    ];
    for (const [what, error, signal, code] of cases) expect(exitCodeFor(error, signal), what).toBe(code);
  });

  it('failIfAny ends the command only when something failed', () => {
    expect(() => failIfAny(0)).not.toThrow();
    expect(() => failIfAny(3)).toThrow(ItemsFailed);
  });

  it('a run whose items failed ends with 1 and prints nothing more on stderr (each item had its line)', () => {
    const { code, stderr, stdout } = reported(new ItemsFailed(2));
    expect(code).toBe(EXIT_FAILED);
    expect(stderr).toBe('');
    expect(stdout).toBe('');
  });

  it('with --json, the document of a run whose items failed goes out as the run ends, with an error naming the first failure', () => {
    // A document that lists its failures elsewhere than `failed` (verify's `mismatched`): the error comes with ItemsFailed.
    const verify = new Output({ json: true, quiet: false });
    verify.json({ ok: false, mismatched: [{ key: 'a', reason: 'size differs' }] });
    const first = { name: 's3://b/a', reason: 'size differs' };
    const failed = reported(new ItemsFailed(1, first), true);
    expect(failed.code).toBe(EXIT_FAILED);
    expect(failed.stderr).toBe('');
    expect(JSON.parse(failed.stdout)).toEqual({ ok: false, mismatched: [{ key: 'a', reason: 'size differs' }], error: { code: 'failed', message: '1 failed: s3://b/a: size differs' } });
    // A document with a `failed` list: the error names its first item, with that item's code.
    const put = new Output({ json: true, quiet: false });
    put.json({ objects: [], failed: [{ path: 'x.csv', error: 'cannot open', code: 'EACCES' }, { path: 'y.csv', error: 'gone' }] });
    expect(JSON.parse(reported(new ItemsFailed(2), true).stdout).error).toEqual({ code: 'EACCES', message: '2 failed, the first: x.csv: cannot open' });
  });

  it("a system error is one line saying what could not be done, where and why, not Node's own wording; its code is --json's", () => {
    const errno = (message: string, fields: Record<string, string>) => Object.assign(new Error(message), fields);
    new Output({ json: true, quiet: false }); // this run's, with nothing printed yet
    const open = reported(errno("EACCES: permission denied, open '/data/u1'", { code: 'EACCES', syscall: 'open', path: '/data/u1' }), true);
    expect(open.stderr).toBe("datalake: error: cannot open '/data/u1': permission denied (EACCES)\n");
    expect(JSON.parse(open.stdout)).toEqual({ error: { code: 'EACCES', message: "cannot open '/data/u1': permission denied (EACCES)" } });
    const rename = reported(errno("ENOENT: no such file or directory, rename 'a' -> 'b'", { code: 'ENOENT', syscall: 'rename', path: 'a', dest: 'b' }));
    expect(rename.stderr).toBe("datalake: error: cannot rename 'a' to 'b': no such file or directory (ENOENT)\n");
    const folder = reported(errno("ENOTDIR: not a directory, scandir '/data/f'", { code: 'ENOTDIR', syscall: 'scandir', path: '/data/f' }));
    expect(folder.stderr).toBe("datalake: error: cannot read the folder '/data/f': not a directory (ENOTDIR)\n");
    // A socket's error names no path: told as it is.
    expect(reported(errno('read ECONNRESET', { code: 'ECONNRESET', syscall: 'read' })).stderr).toBe('datalake: error: read ECONNRESET\n');
  });

  it('a working folder removed under the shell is bad input found before anything began: exit 2, with what to do', () => {
    const cwd = Object.assign(new Error('ENOENT: no such file or directory, uv_cwd'), { code: 'ENOENT', syscall: 'uv_cwd', errno: -2 });
    const result = reported(cwd);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toBe('datalake: error: the current folder no longer exists (ENOENT) (change to a folder that exists and run the command again)\n');
  });

  it('with --json, an error after the document was made (a manifest not written) is its error, beside what completed', () => {
    const sync = new Output({ json: true, quiet: false });
    sync.json({ transferred: 1, failed: 0 });
    const result = reported(failure('could not write the manifest m'), true);
    expect(result.code).toBe(EXIT_FAILED);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual({ transferred: 1, failed: 0, error: { code: 'failed', message: 'could not write the manifest m' } });
  });

  it('any other error is one line on stderr, and its code', () => {
    const usage = reported(usageError('no such directory', 'check the path'));
    expect(usage.code).toBe(EXIT_USAGE);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect(usage.stderr).toContain('no such directory');
    const failed = reported(failure('the object did not verify'));
    expect(failed.code).toBe(EXIT_FAILED);
    expect(failed.stderr).toContain('the object did not verify');
    expect(reported(new DatalakeError('interrupted', 'interrupted by SIGINT')).code).toBe(130);
    expect(reported(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--nope'")).code).toBe(EXIT_USAGE);
  });
});
