"""The swap race: a directory `d` in the home is swapped, many thousand times, with an
administrator's link to a directory outside, while a client creates, reads, lists, renames and
removes files through `d`. Nothing outside may ever be read, written, created or listed.

usage: attack_race.py disk    HOME SECONDS           (the admin, on disk: rename/exchange loop)
       attack_race.py sftp    CONFIG_JSON SECONDS    (the user swapping with SFTP renames)
       attack_race.py worker  CONFIG_JSON SECONDS    (the user working through d)
Prints one JSON line: {"ops": N, "swaps": N, "failures": [...], "ok": N}
"""
import ctypes
import json
import os
import sys
import time

import rawsftp as R
from rawsftp import pstr, attrs

mode = sys.argv[1]
seconds = float(sys.argv[3])
end = time.time() + seconds


def disk(home):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    d, evil, tmp = (os.path.join(home, n) for n in ('d', 'evil', 'tmpd'))
    swaps = 0
    while time.time() < end:
        # atomic exchange of the directory and the link, then back
        for _ in range(2):
            if libc.renameat2(AT_FDCWD, d.encode(), AT_FDCWD, evil.encode(), RENAME_EXCHANGE):
                # no renameat2: three renames leave gaps, which is also a fine race
                os.rename(d, tmp)
                os.rename(evil, d)
                os.rename(tmp, evil)
            swaps += 1
        # and a non-atomic variant: d missing for a moment, then a link, then the directory
        try:
            os.rename(d, tmp)
            os.rename(evil, d)
            os.rename(d, evil)
            os.rename(tmp, d)
            swaps += 1
        except OSError:
            pass
    print(json.dumps({'swaps': swaps, 'failures': [], 'ops': 0, 'ok': 0}))


def sftp_swapper(cfg):
    s = R.connect(cfg['host'], cfg['port'], cfg['user'], password=cfg['password'])
    s.init()
    swaps = 0
    fails = []
    while time.time() < end:
        ids = [s.send(R.RENAME, pstr('/d') + pstr('/tmpd')),
               s.send(R.RENAME, pstr('/evil') + pstr('/d')),
               s.send(R.EXTENDED, pstr('posix-rename@openssh.com') + pstr('/d') + pstr('/evil')),
               s.send(R.RENAME, pstr('/tmpd') + pstr('/d'))]
        for i in ids:
            r = s.recv(i)
            if r.type == R.CLOSED:
                fails.append('swapper connection closed')
                break
        swaps += 1
    s.close()
    print(json.dumps({'swaps': swaps, 'failures': fails, 'ops': 0, 'ok': 0}))


def worker(cfg):
    tokens = [t.encode() for t in cfg['tokens']]
    s = R.connect(cfg['host'], cfg['port'], cfg['user'], password=cfg['password'])
    s.init()
    fails = []
    ops = 0
    ok = 0
    n = 0
    outside_names = set(cfg.get('outsideNames', []))
    while time.time() < end and len(fails) < 20:
        n += 1
        f = '/d/new-%d' % n
        batch = [
            ('open-creat', s.send(R.OPEN, pstr(f) + R.u32(R.F_WRITE | R.F_CREAT) + attrs())),
            ('open-read', s.send(R.OPEN, pstr('/d/secret.txt') + R.u32(R.F_READ) + attrs())),
            ('open-trunc', s.send(R.OPEN, pstr('/d/secret.txt') +
                                  R.u32(R.F_WRITE | R.F_CREAT | R.F_TRUNC) + attrs())),
            ('stat', s.send(R.STAT, pstr('/d/secret.txt'))),
            ('setstat', s.send(R.SETSTAT, pstr('/d/secret.txt') + attrs(perm=0o600))),
            ('setstat-sub', s.send(R.SETSTAT, pstr('/d/sub') + attrs(perm=0o700))),
            ('opendir', s.send(R.OPENDIR, pstr('/d'))),
            ('opendir-sub', s.send(R.OPENDIR, pstr('/d/sub'))),
            ('mkdir', s.send(R.MKDIR, pstr('/d/m-%d' % n) + attrs())),
            ('rmdir', s.send(R.RMDIR, pstr('/d/m-%d' % n))),
            ('rename', s.send(R.RENAME, pstr(f) + pstr(f + '.r'))),
            ('remove', s.send(R.REMOVE, pstr(f + '.r'))),
            ('remove-secret', s.send(R.REMOVE, pstr('/d/sub/deep.txt'))),
            ('realpath', s.send(R.REALPATH, pstr('/d/secret.txt'))),
            ('check-file', s.send(R.EXTENDED, pstr('check-file-name') + pstr('/d/secret.txt') +
                                  pstr('sha256') + R.u64(0) + R.u64(0) + R.u32(0))),
        ]
        for what, rid in batch:
            r = s.recv(rid)
            ops += 1
            if r.type == R.CLOSED:
                fails.append('%s: connection closed' % what)
                return report(fails, ops, ok)
            for t in tokens:
                if r.body and t in r.body:
                    fails.append('%s leaked an outside token' % what)
            if r.type == R.HANDLE:
                ok += 1
                h = r.handle
                if what == 'open-creat':
                    w = s.write(h, 0, b'worker\n')
                    if w.code == R.OK:
                        pass
                elif what == 'open-read':
                    d = s.read(h, 0, 4096)
                    if d.type == R.DATA and any(t in d.data for t in tokens):
                        fails.append('read an outside file through d')
                elif what.startswith('opendir'):
                    while True:
                        x = s.request(R.READDIR, pstr(h))
                        if x.type != R.NAME:
                            break
                        leaked = outside_names.intersection(x.names)
                        if leaked:
                            fails.append('%s listed outside names %r' % (what, sorted(leaked)))
                s.close_handle(h)
            elif r.type == R.NAME and what == 'realpath':
                # the file's place at that moment: inside, wherever the swap has put it
                if not r.names[0].endswith('/secret.txt') or cfg['outside'] in r.names[0]:
                    fails.append('realpath answered %r' % r.names[0])
            elif r.type == R.STATUS and r.code == R.OK:
                ok += 1
    s.close()
    return report(fails, ops, ok)


def report(fails, ops, ok):
    print(json.dumps({'ops': ops, 'ok': ok, 'failures': fails, 'swaps': 0}))


if mode == 'disk':
    disk(sys.argv[2])
elif mode == 'sftp':
    sftp_swapper(json.loads(sys.argv[2]))
else:
    worker(json.loads(sys.argv[2]))
