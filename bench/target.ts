import type { CpuAccount } from './util.js';

// One server under test, as the workloads see it.
export interface Target {
  /** 'ours' or 'openssh' */
  name: 'ours' | 'openssh' | 'ours+ops' | 'single';
  host: string;
  port: number;
  user: string;
  /** private key file (OpenSSH format) of the bench user */
  keyFile: string;
  /** password of the bench user (ours only; the reference takes keys only) */
  password?: string;
  /** server pid whose process tree is measured (ours: the node process; openssh: the listener) */
  pid: number;
  /** local path of the SFTP session's start directory (the bench's remote paths are relative) */
  startDir: string;
  /** owner for files the bench creates directly in startDir */
  uid: number;
  gid: number;
  /** server software line for the report */
  software: string;
  /** exact CPU accounting of the server and its children (cgroup), when available */
  cpu?: CpuAccount;
  /** stops the server (also registered as a clean-up step) */
  stop(): Promise<void>;
}
