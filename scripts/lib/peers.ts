/**
 * The other S3 tools datalake is measured against (`npm run bench`) and tested beside (objects they
 * uploaded must download verified), installed the way their users install them: `aws` and `rclone`
 * from Debian's packages, `s5cmd` and MinIO's `warp` with `go install` at pinned versions, into
 * `~/.cache/datalake-dev/peers` (a binary already there is reused).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { installMissingDebianPackages, type DebianRequirement } from './debian-packages.js';
import { cacheDirectory } from './minio.js';

export const S5CMD_MODULE = 'github.com/peak/s5cmd/v2@v2.3.0';
/** The newest warp the Go module proxy serves here (it refuses the v1 line). */
export const WARP_MODULE = 'github.com/minio/warp@v0.7.7';

export interface Peers {
  aws?: string;
  rclone?: string;
  s5cmd?: string;
  warp?: string;
}

type Log = (line: string) => void;

const peerDirectory = () => join(cacheDirectory(), 'peers');

function which(name: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function findPeers(): Peers {
  const built = (name: string) => (existsSync(join(peerDirectory(), name)) ? join(peerDirectory(), name) : undefined);
  // Debian's aws (v2) is /usr/bin/aws; a pip-installed v1 elsewhere on PATH is not the one measured.
  return {
    aws: existsSync('/usr/bin/aws') ? '/usr/bin/aws' : undefined,
    rclone: which('rclone'),
    s5cmd: built('s5cmd') ?? which('s5cmd'),
    warp: built('warp') ?? which('warp'),
  };
}

const DEBIAN_PEERS: Record<'aws' | 'rclone', DebianRequirement> = {
  aws: { package: 'awscli', present: () => findPeers().aws !== undefined },
  rclone: { package: 'rclone', present: () => findPeers().rclone !== undefined },
};
const GO_PEERS: Record<'s5cmd' | 'warp', string> = { s5cmd: S5CMD_MODULE, warp: WARP_MODULE };

/** For the benchmark: every peer it can get; one that cannot be installed is left out, and said so. */
export async function installPeers(log: Log): Promise<Peers> {
  try {
    await installMissingDebianPackages(Object.values(DEBIAN_PEERS), 'the benchmark', log);
  } catch (error) {
    log(`${(error as Error).message}; they are left out`);
  }
  for (const name of ['s5cmd', 'warp'] as const) {
    try {
      installGoPeer(name, log);
    } catch (error) {
      log(`${(error as Error).message}; ${name} is left out`);
    }
  }
  return findPeers();
}

/**
 * For the integration suite (`npm test`'s pretest step): rclone and s5cmd, whose uploads the tests
 * download. Throws when either cannot be had: a test of a missing tool fails, it is never skipped.
 */
export async function installTestPeers(log: Log = (line) => process.stderr.write(`${line}\n`)): Promise<{ rclone: string; s5cmd: string }> {
  await installMissingDebianPackages([DEBIAN_PEERS.rclone], 'the peer-upload tests', log);
  installGoPeer('s5cmd', log);
  const { rclone, s5cmd } = findPeers();
  if (!rclone || !s5cmd) throw new Error(`installed the test peers, yet ${!rclone ? 'rclone' : 's5cmd'} is not found`);
  return { rclone, s5cmd };
}

/** Builds s5cmd or warp into the peers directory unless one is already found; throws when the build fails. */
function installGoPeer(name: 's5cmd' | 'warp', log: Log): void {
  if (findPeers()[name]) return;
  const module = GO_PEERS[name];
  mkdirSync(peerDirectory(), { recursive: true });
  log(`building ${name} from ${module}…`);
  if (!buildFromModuleCache(name, module)) throw new Error(`could not build ${module} with go (Go and the Go module proxy are needed)`);
}

/**
 * `go install MODULE@VERSION`, done in two steps: the proxy here serves these versions but refuses
 * their version lists, which `go install` reads for deprecation notices and fails on. So the module is
 * downloaded, then built from the module cache. warp v0.7.7 is missing from the checksum database, so
 * that one module skips it (GONOSUMDB); the module proxy still serves its content.
 */
function buildFromModuleCache(name: string, module: string): boolean {
  const env = { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0', GONOSUMDB: 'github.com/minio/warp' };
  const download = spawnSync('go', ['mod', 'download', '-json', module], { env, encoding: 'utf8' });
  if (download.status !== 0) return false;
  const directory = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!directory) return false;
  const build = spawnSync('go', ['build', '-o', join(peerDirectory(), name), '.'], { cwd: directory, env, stdio: 'inherit' });
  return build.status === 0;
}
