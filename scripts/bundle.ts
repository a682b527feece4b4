/**
 * The bundled build: `dist/bundle/`, one ES module per entry point and shared chunks, so that a
 * command loads only what it uses (the AWS SDK, pino and the progress bar are chunks of their own).
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { undiciPausedParserPatch } from './undici-h1-patch.js';

/**
 * commander requires `node:child_process` as it loads, for subcommands that are separate executables
 * (datalake has none), at every start. Its require gets a stand-in that loads the module only if
 * commander ever spawns (what that saves: the README's Performance section).
 */
const commanderSpawnsOnDemand: Plugin = {
  name: 'commander-spawns-on-demand',
  setup(builder) {
    builder.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'on-demand' } : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'on-demand' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) };",
      loader: 'js',
    }));
  },
};

/**
 * src/core/config/aws-settings.ts (the SDK's shared-config loaders, read by every command that resolves its
 * settings) is a bundle of its own, without splitting. Split with the rest, its pieces of
 * `@smithy/core` land in a chunk shared with the SDK client, which `ls` or `get` would then load
 * without ever creating the client (the README's Performance section has the numbers). The copy an
 * SDK command loads twice is small.
 */
const AWS_SETTINGS = 'aws-settings.js';
const awsSettingsApart: Plugin = {
  name: 'aws-settings-apart',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/aws-settings\.js$/ }, () => ({ path: `./${AWS_SETTINGS}`, external: true }));
  },
};

const awsSettingsBuild = (outdir: string): BuildOptions => ({
  entryPoints: ['src/core/config/aws-settings.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: join(outdir, AWS_SETTINGS),
  logLevel: 'warning',
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});

const cliBuild = (outdir: string): BuildOptions => ({
  entryPoints: ['src/cli/main.ts', 'src/cli/interrupt.ts', 'src/core/integrity/hash-worker.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  entryNames: '[name]',
  outdir,
  logLevel: 'warning',
  // Bundled CommonJS (commander, the SDK) calls require: give the ES modules one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  plugins: [commanderSpawnsOnDemand, awsSettingsApart, undiciPausedParserPatch],
});

/** Builds the bundle into `outdir`: `dist/bundle` for the package, a directory of its own for test/unit/startup.test.ts. */
export async function bundle(outdir: string): Promise<void> {
  await build(awsSettingsBuild(outdir));
  await build(cliBuild(outdir));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await bundle('dist/bundle');
