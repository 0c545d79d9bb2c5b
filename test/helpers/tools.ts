// Real clients come from Debian packages. Outside CI a missing one skips its tests with a line naming
// the package; in CI (JAILSFTP_CI=1) nothing may skip, so a missing client fails.
import { spawnSync } from 'node:child_process';

export const PY = '/usr/bin/python3';

function have(cmd: string[]): boolean {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
  return r.status === 0;
}

const probes: Record<string, { pkg: string; cmd: string[] }> = {
  sftp: { pkg: 'openssh-client', cmd: ['sh', '-c', 'command -v sftp'] },
  sshpass: { pkg: 'sshpass', cmd: ['sh', '-c', 'command -v sshpass'] },
  psftp: { pkg: 'putty-tools', cmd: ['sh', '-c', 'command -v psftp'] },
  fzsftp: { pkg: 'filezilla', cmd: ['sh', '-c', 'command -v fzsftp'] },
  lftp: { pkg: 'lftp', cmd: ['sh', '-c', 'command -v lftp'] },
  rclone: { pkg: 'rclone', cmd: ['sh', '-c', 'command -v rclone'] },
  curl: { pkg: 'curl', cmd: ['sh', '-c', 'curl -V | grep -q sftp'] },
  paramiko: { pkg: 'python3-paramiko', cmd: [PY, '-c', 'import paramiko'] },
  tmux: { pkg: 'tmux', cmd: ['sh', '-c', 'command -v tmux'] },
  postgres: { pkg: 'postgresql', cmd: ['sh', '-c', 'ls /usr/lib/postgresql/*/bin/initdb'] },
  haproxy: { pkg: 'haproxy', cmd: ['sh', '-c', 'command -v haproxy'] },
  sshd: { pkg: 'openssh-server', cmd: ['sh', '-c', 'test -x /usr/sbin/sshd'] },
  // a FUSE filesystem in python (test/py/slowfs.py): root and /dev/fuse too
  fusepy: {
    pkg: 'python3-fusepy fuse3',
    cmd: ['sh', '-c', `test "$(id -u)" = 0 && test -c /dev/fuse && ${PY} -c 'import fusepy'`],
  },
};

/**
 * Returns `false` when the tool is present, or a skip message naming the Debian package.
 * Use as `test('…', { skip: needs('lftp') }, …)`.
 */
export function needs(...tools: (keyof typeof probes)[]): string | false {
  for (const t of tools) {
    const p = probes[t];
    if (!p) throw new Error(`unknown tool ${t}`);
    if (!have(p.cmd)) {
      const msg = `${t} missing: apt-get install ${p.pkg}`;
      if (process.env.JAILSFTP_CI) throw new Error(`in CI nothing may skip: ${msg}`);
      return msg;
    }
  }
  return false;
}
