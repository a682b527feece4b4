import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import { usageError } from '../errors.js';
import { GLOB_OPTIONS, readPattern } from './pattern-check.js';

export interface FilterRule {
  kind: 'include' | 'exclude';
  pattern: string;
}

/**
 * `--exclude`/`--include`, as `aws s3 sync` applies them: every name is included unless a rule
 * matches; the last matching rule, in command-line order, decides. The glob is rclone's (see
 * pattern-check.ts). A pattern, or an alternative of its braces, without `/` matches the base name at
 * any depth (`*.tmp`); one with `/` matches the whole relative path (`logs/**`).
 */
export function buildNameFilter(rules: readonly FilterRule[]): (name: string) => boolean {
  if (rules.length === 0) return () => true;
  const matchers = rules.map((rule) => {
    if (rule.pattern.trim() === '') throw usageError(`empty --${rule.kind} pattern`);
    // Patterns match files' relative names and keys, in rclone's glob (see
    // pattern-check.ts): one that could match none (`logs/`, `/logs/**`, `logs//**`), or that reads
    // otherwise than it looks, is refused — with --delete it would leave the files it was meant to
    // keep to be deleted.
    const read = readPattern(rule.pattern);
    if (read.fault) {
      const { fault } = read;
      const hint = fault.hint ?? (fault.suggestion ? `use '${fault.suggestion}'${fault.suggestion.endsWith('/**') ? ' to match a folder and everything in it' : ''}` : "patterns match files' names relative to the root (such as 'logs/app.log'); to match a folder and everything in it, use 'logs/**'");
      throw usageError(`--${rule.kind} '${rule.pattern}'${fault.inAlternative ? ':' : ''} ${fault.problem}`, hint);
    }
    // Each alternative without a '/' matches the base name at any depth, as a pattern without one does.
    const tests = read.globs.map((glob) => picomatch(glob, { ...GLOB_OPTIONS, basename: !glob.includes('/') }));
    return { kind: rule.kind, test: tests.length === 1 ? tests[0]! : (name: string) => tests.some((test) => test(name)) };
  });
  return (name) => {
    let included = true;
    for (const matcher of matchers) if (matcher.test(name)) included = matcher.kind === 'include';
    return included;
  };
}

export interface Shard {
  index: number;
  count: number;
}

/**
 * `--shard I/N`: `I/N`, or `/N` with the index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or
 * AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job).
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv): Shard {
  const match = /^(\d*)\/(\d+)$/.exec(text.trim());
  if (!match) throw usageError(`invalid --shard '${text}'`, 'use I/N, e.g. 0/4, or /N with JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX set');
  const count = Number(match[2]);
  let indexText = match[1] ?? '';
  if (indexText === '') {
    indexText = env.JOB_COMPLETION_INDEX ?? env.AWS_BATCH_JOB_ARRAY_INDEX ?? '';
    if (!/^\d+$/.test(indexText)) throw usageError(`--shard ${text} needs JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX set to the worker's index`);
  }
  const index = Number(indexText);
  if (count < 1 || count > 100_000) throw usageError(`invalid --shard '${text}': N must be from 1 to 100000`);
  if (index >= count) throw usageError(`invalid --shard: index ${index} is outside 0..${count - 1}`);
  return { index, count };
}

/** The shard a relative path belongs to: a hash of the path, so every worker agrees without talking. */
export function shardOf(name: string, count: number): number {
  return createHash('sha1').update(name, 'utf8').digest().readUInt32BE(0) % count;
}

/**
 * Which shard owns a name. Every `_delta_log` entry of a table goes to the shard of the table's root,
 * so one worker writes a table's log, in order.
 */
export function ownerShard(name: string, count: number, deltaTableRoot: string | undefined): number {
  return shardOf(deltaTableRoot === undefined ? name : `${deltaTableRoot}/_delta_log/`, count);
}
