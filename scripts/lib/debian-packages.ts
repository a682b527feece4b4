/**
 * Debian packages the test bed runs as real components: tinyproxy (a forward proxy with its own
 * log), faketime (a clock an hour off, for the CLI only) and libnss-myhostname (getaddrinfo answers
 * `*.localhost` with loopback, so a virtual-hosted bucket such as `lake.localhost` reaches the local
 * MinIO without editing /etc/hosts). Installed with apt-get when missing; a machine that has them
 * already is left as it is.
 */
import { spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';

export interface DebianRequirement {
  package: string;
  present(): boolean | Promise<boolean>;
}

export const hasCommand = (name: string) => () => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;

async function resolvesLocalhostNames(): Promise<boolean> {
  try {
    const addresses = await lookup('bucket.localhost', { all: true });
    return addresses.some((entry) => entry.address === '127.0.0.1');
  } catch {
    return false;
  }
}

export const TEST_BED_PACKAGES: DebianRequirement[] = [
  { package: 'tinyproxy', present: hasCommand('tinyproxy') },
  { package: 'faketime', present: hasCommand('faketime') },
  // The progress bar is read off a real terminal (test/integration/terminal.test.ts).
  { package: 'tmux', present: hasCommand('tmux') },
  { package: 'libnss-myhostname', present: resolvesLocalhostNames },
];

export async function installDebianPackages(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  await installMissingDebianPackages(TEST_BED_PACKAGES, 'the test bed', log);
}

/**
 * Installs with apt-get those of `requirements` that are not present (as root), and checks they then
 * are; throws, naming what is missing and the command to run, when it cannot. `who` names the need.
 */
export async function installMissingDebianPackages(requirements: DebianRequirement[], who: string, log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const requirement of requirements) if (!(await requirement.present())) missing.push(requirement.package);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`${who} needs ${missing.join(', ')}: sudo apt-get install -y ${missing.join(' ')}`);
  log(`installing ${missing.join(', ')} with apt-get…`);
  const apt = (args: string[]) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const install = () => apt(['install', '-y', '--no-install-recommends', ...missing]);
  let result = install();
  // A fresh image has no package lists yet: fetch them once and try again.
  if (result.status !== 0) {
    apt(['update']);
    result = install();
  }
  if (result.error || result.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  const still: string[] = [];
  for (const requirement of requirements) if (!(await requirement.present())) still.push(requirement.package);
  if (still.length > 0) throw new Error(`installed ${missing.join(', ')}, yet ${still.join(', ')} still does not work`);
}
