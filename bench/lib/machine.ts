/** What the numbers were measured on. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Machine {
  cpuModel: string;
  cores: number;
  node: string;
  kernel: string;
  os: string;
  memoryGiB: number;
  perl: string | null;
  cc: string | null;
}

function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? null;
}

export function machine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    /* not Linux */
  }
  let distro = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) distro = m[1];
  } catch {
    /* no os-release */
  }
  const perlDanga = firstLine('perl', ['-MDanga::Socket', '-e', 'printf "perl %vd, Danga::Socket %s\\n", $^V, $Danga::Socket::VERSION']);
  return {
    cpuModel,
    cores: os.cpus().length,
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: distro,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    perl: perlDanga,
    cc: firstLine(process.env.CC || 'cc', ['--version']),
  };
}
