// The reference server: OpenSSH's sshd with internal-sftp, chrooted, on a loopback port, with its own
// sshd_config, host key and authorized keys in a temporary directory. Needs root and /usr/sbin/sshd.
//
// sshd refuses a ChrootDirectory when any path component is group/world writable, and /tmp is 1777,
// so the config names the jail through a root-owned symlink in /run (sshd stat()s the components,
// following the link to root-owned 755 directories); for the same reason StrictModes is off (the
// authorized_keys file is root-owned 644 in a root-owned 755 directory under /tmp).
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Target } from './target.js';
import { banner } from './probe.js';
import { keyPairFile } from '../test/helpers/keys.js';
import { freePort, sleep, tempDir, terminate } from '../test/helpers/proc.js';
import { processTree } from '../test/helpers/procfs.js';
import { cleanupDir, CpuAccount, log, onCleanup, run, spawnTracked } from './util.js';

export const SSHD = '/usr/sbin/sshd';

/** Why the reference cannot run here, or undefined when it can. */
export function refUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (sshd needs root for its chroot)';
  try {
    accessSync(SSHD, constants.X_OK);
  } catch {
    return `${SSHD} missing (apt-get install openssh-server)`;
  }
  return undefined;
}

async function ensureUser(user: string): Promise<{ uid: number; gid: number }> {
  let r = await run('getent', ['passwd', user]);
  if (r.status !== 0) {
    const add = await run('useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      '-p',
      '*',
      user,
    ]);
    if (add.status !== 0) throw new Error(`useradd ${user} failed: ${add.stderr}`);
    onCleanup(() => void spawnSyncQuiet('userdel', [user]));
    log(`openssh: created system user ${user} (removed at the end)`);
    r = await run('getent', ['passwd', user]);
  } else {
    // With UsePAM no, sshd refuses "locked" accounts ('!' password); '*' is no password, not locked.
    await run('usermod', ['-p', '*', user]);
  }
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function spawnSyncQuiet(cmd: string, args: string[]): number | null {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status;
}

export async function startRef(o: { user: string; keyFile: string }): Promise<Target> {
  const { uid, gid } = await ensureUser(o.user);
  const dir = tempDir('jailsftp-bench-ref-');
  cleanupDir(dir);
  chmodSync(dir, 0o755);
  const hostKey = join(dir, 'host_ed25519');
  keyPairFile(hostKey);
  const akDir = join(dir, 'authorized_keys');
  mkdirSync(akDir, { mode: 0o755 });
  writeFileSync(join(akDir, o.user), readFileSync(`${o.keyFile}.pub`), { mode: 0o644 });

  // jail: DIR/jail (root 755) = ChrootDirectory, DIR/jail/home (the user's) = start directory
  const jail = join(dir, 'jail');
  const home = join(jail, 'home');
  mkdirSync(home, { recursive: true });
  chmodSync(jail, 0o755);
  chownSync(home, uid, gid);
  chmodSync(home, 0o755);
  const link = `/run/jailsftp-bench-jail.${process.pid}`;
  if (existsSync(link)) unlinkSync(link);
  symlinkSync(jail, link);
  onCleanup(() => unlinkSync(link));
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', { mode: 0o755 });
    onCleanup(() => rmdirSync('/run/sshd'));
  }

  const port = await freePort();
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    `# reference SFTP server for npm run bench (standalone: nothing from /etc/ssh is read)
Port ${port}
ListenAddress 127.0.0.1
HostKey ${hostKey}
PidFile none
LogLevel INFO
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers ${o.user}
AuthorizedKeysFile ${akDir}/%u
StrictModes no
UseDNS no
MaxStartups 300
MaxSessions 100
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
Subsystem sftp internal-sftp
Match User ${o.user}
    ChrootDirectory ${link}
    ForceCommand internal-sftp -d /home
    PermitTTY no
`,
    { mode: 0o644 },
  );
  const t = await run(SSHD, ['-t', '-f', cfg]);
  if (t.status !== 0) throw new Error(`sshd -t failed: ${t.stderr}`);
  const logFile = join(dir, 'sshd.log');
  const cpu = CpuAccount.create(`jailsftp-bench-${process.pid}-ref`);
  const proc = spawnTracked(SSHD, ['-D', '-f', cfg, '-E', logFile], { stdio: 'ignore' });
  const pid = proc.pid!;
  if (cpu && !cpu.add(pid)) log('openssh: could not use a cgroup for CPU accounting');
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    // session processes first (they outlive the listener), then the listener
    const sessions = processTree(pid).filter((p) => p !== pid);
    terminate([pid, ...sessions], 3000);
  };
  onCleanup(stopSync);
  let software = '';
  for (let i = 0; i < 100 && !software; i++) {
    await sleep(100);
    if (proc.exitCode !== null) break;
    software = await banner('127.0.0.1', port).catch(() => '');
  }
  if (!software) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    stopSync();
    throw new Error(`sshd did not start:\n${tail}`);
  }
  log(`openssh: sshd pid ${pid} on 127.0.0.1:${port} (${dir})`);
  return {
    name: 'openssh',
    host: '127.0.0.1',
    port,
    user: o.user,
    keyFile: o.keyFile,
    pid,
    ...(cpu ? { cpu } : {}),
    startDir: home,
    uid,
    gid,
    software,
    stop() {
      stopSync();
      return Promise.resolve();
    },
  };
}
