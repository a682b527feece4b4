import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { applyDotenv, readDotenv } from '../core/config/dotenv.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_REGION, DEFAULT_RETRIES, DEFAULT_TIMEOUT } from '../core/config/config.js';
import { MiB } from '../core/config/units.js';
import { DEFAULT_LAYOUT } from '../core/config/layout.js';
import { currentOutput, joinedLines } from './output.js';
import { registerPut } from './commands/put.js';
import { registerGet } from './commands/get.js';
import { registerLs } from './commands/ls.js';
import { registerSync } from './commands/sync.js';
import { registerInit } from './commands/init.js';
import { registerPresign } from './commands/presign.js';
import { registerVerify } from './commands/verify.js';
import { registerUploads } from './commands/uploads.js';
import { registerCp } from './commands/cp.js';
import { registerMv } from './commands/mv.js';
import { registerRm } from './commands/rm.js';
import { registerStat } from './commands/stat.js';
import { registerCat } from './commands/cat.js';
import { registerTable } from './commands/table.js';
import { interruption } from './interrupt.js';
import { EXIT_OK, reportError } from './exit-codes.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('datalake')
    .description('Move data in and out of an S3 data lake: verified, resumable, lake-aware transfers.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--bucket <name>', 'bucket for bare keys (env DATALAKE_BUCKET)')
    .option('--region <region>', `AWS region (env AWS_REGION, AWS_DEFAULT_REGION; else the profile's region; default ${DEFAULT_REGION})`)
    .option('--endpoint <url>', 'S3-compatible endpoint, path-style (env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)')
    .option('--profile <name>', 'AWS shared-config profile (env AWS_PROFILE)')
    .option('--layout <template>', 'key template (env DATALAKE_LAYOUT; the default is at the end of datalake --help)')
    .option('--concurrency <n>', `requests in flight at once (env DATALAKE_CONCURRENCY; default ${DEFAULT_CONCURRENCY})`)
    .option('--part-size <size>', `multipart part size, 5MiB to 5GiB; grows so a file needs at most 10,000 parts (env DATALAKE_PART_SIZE; default ${DEFAULT_PART_SIZE / MiB}MiB)`)
    .option('--retries <n>', `retries per request after the first attempt (env DATALAKE_RETRIES; default ${DEFAULT_RETRIES})`)
    .option('--timeout <duration>', `the longest one request may take, its body included, e.g. 90, 10m (env DATALAKE_TIMEOUT; default ${DEFAULT_TIMEOUT})`)
    .option('--json', 'print one JSON document on stdout instead of text')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--no-progress', 'no progress bar (it is only shown on a terminal anyway)')
    .addOption(new Option('--log-level <level>', 'pino JSON logs at this level, to stderr unless --log-file (default: no logs; info with --log-file)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--log-file <path>', 'append pino JSON log lines to this file (level info unless --log-level)')
    // Wrapped once, by commander, at the terminal's width (80 when stdout is not a terminal), even the
    // descriptions beside long option names (commander leaves those unwrapped below 40 columns).
    // Commands are listed by name, as git and aws list theirs: their arguments are in each command's own
    // help, and would otherwise widen the name column of every help that lists them.
    .configureHelp({ showGlobalOptions: true, minWidthToWrap: 24, subcommandTerm: (command) => command.name() })
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(`datalake: ${joinedLines(text)}\n`) });
  program.exitOverride(throwToMain(program));
  program.addHelpText(
    'after',
    `
Examples:
  datalake put events.csv --zone raw --dataset reddit --date 2024-01-15
  datalake get s3://lake/raw/reddit/year=2024/month=01/day=15/events.csv ./data/
  datalake ls s3://lake/raw/ --recursive

Configuration: flag > environment > .env in the working directory > AWS profile
(region, endpoint_url, credentials) > default.
Default layout: ${DEFAULT_LAYOUT}
Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 130 interrupted.`,
  );
  registerInit(program);
  registerPut(program);
  registerGet(program);
  registerLs(program);
  registerSync(program);
  registerPresign(program);
  registerVerify(program);
  registerUploads(program);
  registerCp(program);
  registerMv(program);
  registerRm(program);
  registerStat(program);
  registerCat(program);
  registerTable(program);
  for (const command of [...program.commands, ...program.commands.flatMap((c) => c.commands)]) command.exitOverride(throwToMain(command)).configureOutput({ outputError: (text, write) => write(`datalake: ${joinedLines(text)}\n`) });
  return program;
}

/**
 * Commander's errors end the run through main (exit-codes.ts), never process.exit. The help shown
 * because no command was given (`datalake`, `datalake table`) says which command wants one: with
 * `--json`, that is the `error` of the usage document.
 */
function throwToMain(command: Command): (error: CommanderError) => void {
  return (error) => {
    if (error.code === 'commander.executeSubCommandAsync') return;
    if (error.code === 'commander.help' && error.exitCode !== 0) {
      let path = command.name();
      for (let parent = command.parent; parent; parent = parent.parent) path = `${parent.name()} ${path}`;
      throw new CommanderError(error.exitCode, error.code, `${path} needs a command (\`${path} --help\` lists them)`);
    }
    throw error;
  };
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('debug') && argv.some((arg) => arg.startsWith('--log-level'));
  const json = argv.includes('--json');
  try {
    applyDotenv(process.env, readDotenv(process.cwd()));
    const program = buildProgram();
    // No command at all: the help on stderr, as for a mistake (exit 2).
    if (argv.length <= 2) program.help({ error: true });
    await program.parseAsync(argv);
    currentOutput()?.finish();
    return EXIT_OK;
  } catch (error) {
    return reportError(error, { debug, json, signal: interruption.received });
  }
}
