// statfs f_type of the filesystems served by the local kernel from local devices or memory: a home
// on one of them has its calls made synchronously (server/fs/home-io.ts, homesIo "auto"), and
// bin/jailsftpd.cjs keeps libuv's pool at its default size when the homes directory is on one.
'use strict';
module.exports = [
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0x794c7630, // overlayfs
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
  0xca451a4e, // bcachefs
  0x52654973, // reiserfs
  0x3153464a, // jfs
  0x3434, // nilfs2
  0x4d44, // vfat
  0x2011bab0, // exfat
  0x7366746e, // ntfs3
  0xe0f5e1e2, // erofs
  0x73717368, // squashfs
  0xf15f, // ecryptfs
];
