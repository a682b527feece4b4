/**
 * The peers datalake is measured against, installed the way their users install them: `aws` and
 * `rclone` from Debian's packages, `s5cmd` and MinIO's `warp` with `go install` at pinned versions.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDirectory } from '../../scripts/lib/minio.js';

export const S5CMD_MODULE = 'github.com/peak/s5cmd/v2@v2.3.0';
/** The newest warp the Go module proxy serves here (it refuses the v1 line). */
export const WARP_MODULE = 'github.com/minio/warp@v0.7.7';

export interface Peers {
  aws?: string;
  rclone?: string;
  s5cmd?: string;
  warp?: string;
}

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

export function installPeers(log: (line: string) => void): Peers {
  const found = findPeers();
  if (!found.aws || !found.rclone) {
    log('installing aws and rclone from Debian packages…');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    const result = spawnSync('apt-get', ['install', '-y', '-qq', 'awscli', 'rclone'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) log('could not install awscli/rclone with apt-get (not root?); they are left out');
  }
  mkdirSync(peerDirectory(), { recursive: true });
  for (const [name, module] of [['s5cmd', S5CMD_MODULE], ['warp', WARP_MODULE]] as const) {
    if (found[name]) continue;
    log(`building ${name} from ${module}…`);
    if (!buildFromModuleCache(name, module)) log(`could not build ${module}; ${name} is left out`);
  }
  return findPeers();
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
