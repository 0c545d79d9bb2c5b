"""Jail attack matrix: hostile paths in every path-taking request, and every operation through
symbolic links an administrator placed in the home. Prints one JSON line:
{"checks": N, "failures": [...], "pairs": N}. A failure is a reply that leaks an outside file
(a canary token or /etc/passwd content, or the real homes path), a dropped connection, a reply of
an unexpected type, or an outside-existing path answering differently from an outside-missing one.

usage: attack_jail.py CONFIG_JSON
CONFIG: {host, port, user, password, outside (canary dir), tokens: [..], homes, phase}
"""
import json
import os
import posixpath
import shutil
import sys

import rawsftp as R
from rawsftp import pstr, u32, u64, attrs

cfg = json.loads(sys.argv[1])
OUT = cfg['outside']
FORBIDDEN = [t.encode() for t in cfg['tokens']] + [b'root:x:0', cfg['homes'].encode()]
failures = []
checks = 0


def connect():
    s = R.connect(cfg['host'], cfg['port'], cfg['user'], password=cfg['password'])
    s.init()
    return s


s = connect()


def note(what, path, r):
    global checks, s
    checks += 1
    for f in FORBIDDEN:
        if r.body is not None and f in r.body:
            failures.append('%s %r leaked %r: %s' % (what, path, f[:30], r.short()))
    if r.type == R.CLOSED:
        failures.append('%s %r: connection closed' % (what, path))
        s = connect()
    elif r.type == R.HANDLE:
        s.close_handle(r.handle)
    return r


def ensure_file(name, content=b'inside\n'):
    r = s.open(name, R.F_WRITE | R.F_CREAT | R.F_TRUNC)
    if r.type == R.HANDLE:
        s.write(r.handle, 0, content)
        s.close_handle(r.handle)


# ---- every request that takes a path ---------------------------------------------------------------


def ops(p):
    """(name, function) pairs, each sending one request with path p in one position."""
    def rename_from():
        ensure_file('/src-file')
        return s.request(R.RENAME, pstr(p) + pstr('/rename-target'))

    def rename_to():
        ensure_file('/src-file')
        return s.request(R.RENAME, pstr('/src-file') + pstr(p))

    def prename_from():
        return s.extended('posix-rename@openssh.com', pstr(p) + pstr('/rename-target2'))

    def prename_to():
        ensure_file('/src-file')
        return s.extended('posix-rename@openssh.com', pstr('/src-file') + pstr(p))

    return [
        ('OPEN r', lambda: s.open(p, R.F_READ)),
        ('OPEN w', lambda: s.open(p, R.F_WRITE)),
        ('OPEN creat', lambda: s.open(p, R.F_WRITE | R.F_CREAT)),
        ('OPEN creat|trunc', lambda: s.open(p, R.F_WRITE | R.F_CREAT | R.F_TRUNC)),
        ('OPEN creat|excl', lambda: s.open(p, R.F_WRITE | R.F_CREAT | R.F_EXCL)),
        ('OPEN append', lambda: s.open(p, R.F_WRITE | R.F_APPEND)),
        ('STAT', lambda: s.path_req(R.STAT, p)),
        ('LSTAT', lambda: s.path_req(R.LSTAT, p)),
        ('SETSTAT perm', lambda: s.request(R.SETSTAT, pstr(p) + attrs(perm=0o777))),
        ('SETSTAT size', lambda: s.request(R.SETSTAT, pstr(p) + attrs(size=0))),
        ('SETSTAT times', lambda: s.request(R.SETSTAT, pstr(p) + attrs(atime=1, mtime=1))),
        ('OPENDIR', lambda: s.path_req(R.OPENDIR, p)),
        ('REMOVE', lambda: s.path_req(R.REMOVE, p)),
        ('MKDIR', lambda: s.request(R.MKDIR, pstr(p) + attrs())),
        ('RMDIR', lambda: s.path_req(R.RMDIR, p)),
        ('REALPATH', lambda: s.path_req(R.REALPATH, p)),
        ('RENAME from', rename_from),
        ('RENAME to', rename_to),
        ('READLINK', lambda: s.path_req(R.READLINK, p)),
        ('SYMLINK (target,link)', lambda: s.request(R.SYMLINK, pstr(p) + pstr('/newlink'))),
        ('SYMLINK (link,target)', lambda: s.request(R.SYMLINK, pstr('/newlink') + pstr(p))),
        ('SYMLINK both', lambda: s.request(R.SYMLINK, pstr(p) + pstr(p))),
        ('posix-rename from', prename_from),
        ('posix-rename to', prename_to),
        ('statvfs', lambda: s.extended('statvfs@openssh.com', pstr(p))),
        ('expand-path', lambda: s.extended('expand-path@openssh.com', pstr(p))),
        ('check-file-name', lambda: s.extended(
            'check-file-name', pstr(p) + pstr('sha256') + u64(0) + u64(0) + u32(0))),
        ('home-directory', lambda: s.extended('home-directory', pstr(p))),
    ]


def hostile_paths():
    out_rel = '../../../../../../../..' + OUT
    ps = [
        '..', '../..', '/..', '/../..', '../../..', '../../canary.txt', '/../../canary.txt',
        '....//', '....//....//canary.txt', '..\\..\\canary.txt', '\\..\\..\\', '..\\',
        '/./', '/./../.././canary.txt', '//..//..//canary.txt', '///', '../../canary.txt/',
        '../../canary.txt//', '/etc/passwd', '../../../../../../../../etc/passwd', '/etc/',
        out_rel + '/secret.txt', out_rel + '/', out_rel + '/newfile', OUT + '/secret.txt',
        '~/../../canary.txt', '~root/../..', '.', '', 'a' * 255, 'b' * 256,
        '/' + '/'.join(['c' * 255] * 2), '../' * 1500, 'd/' * 2100,
    ]
    ps = [p.encode() for p in ps]
    ps += [b'../../canary.txt\x00', b'\x00../..', b'ok\x00/../../canary.txt',
           b'\xff\xfe/../..', b'../../\xc0\xaecanary.txt', b'\xed\xa0\x80', b'x' * 4097,
           b'/' * 5000, (b'../' * 1400)[:4096]]
    return ps


def run_matrix():
    for p in hostile_paths():
        for name, fn in ops(p):
            r = note(name, p, fn())
            if r.type not in (R.STATUS, R.HANDLE, R.NAME, R.ATTRS, R.EXTENDED_REPLY):
                failures.append('%s %r: unexpected reply %s' % (name, p, r.short()))
            # REALPATH and expand-path answer names inside the jail: absolute, no ".."
            if name in ('REALPATH', 'expand-path') and r.type == R.NAME:
                n = r.names[0]
                if not n.startswith('/') or '..' in n.split('/'):
                    failures.append('%s %r: name %r escapes' % (name, p, n))
    # exec: sha256sum with hostile paths (each line printed or an error, never outside bytes)
    # '../../canary.txt' is '/canary.txt' inside the home (the matrix may have made it): it may
    # succeed with the inside file's hash; the others lead outside and must fail
    for p in ['../../canary.txt', '/../../canary.txt', out_rel_secret(), '/etc/passwd',
              'etc/passwd', 'secretlink', 'out/secret.txt', 'upcanary', 'up/canary.txt']:
        st, out, err = R.exec_command(cfg['host'], cfg['port'], cfg['user'],
                                      'sha256sum ' + p, password=cfg['password'])
        global checks
        checks += 1
        for t in cfg['token_sums'] + [cfg['passwd_sum']]:
            if t.encode() in out:
                failures.append('exec sha256sum %s printed an outside hash' % p)
        if st == 0 and 'canary.txt' not in p.replace('up/canary.txt', ''):
            failures.append('exec sha256sum %s succeeded: %r' % (p, out))
    st, out, err = R.exec_command(cfg['host'], cfg['port'], cfg['user'],
                                  b'sha256sum ../\xff\xfe/x', password=cfg['password'])
    checks += 1
    if st == 0:
        failures.append('exec with invalid UTF-8 succeeded')


def out_rel_secret():
    return '../../../../../../../..' + OUT + '/secret.txt'


# ---- through admin-placed links -------------------------------------------------------------------

# pairs of paths: the first reaches an existing outside object, the second a missing one, of the
# same name length; every request must answer both identically
LINK_PAIRS = [
    ('out/secret.txt', 'out/nosuch.txt'),
    ('out', 'outmissing'),
    ('out/', 'outmissing/'),
    ('out/sub', 'out/nop'),
    ('out/sub/deep.txt', 'out/sub/nope.txt'),
    ('secretlink', 'missinglink'),
    ('secretlink/', 'missinglink/'),
    ('chain1/secret.txt', 'chain1/nosuch.txt'),
    ('chain1', 'chainm'),
    ('upcanary', 'upmissing'),
    ('up/canary.txt', 'up/nosuch.txt'),
    ('etc/passwd', 'etc/nopass'),
    ('etc', 'ext'),
    ('inlink/../up/canary.txt', 'inlink/../up/nosuch.txt'),
    ('secretlink/x', 'missinglink/x'),
    ('out/newfile', 'outmissing/newfile'),
]


def normalise(r):
    """The answer a client sees, without what is legitimately different (ids, times, sizes)."""
    if r.type == R.STATUS:
        return 'STATUS %d %s' % (r.code, r.msg)
    return r.short() if r.type != R.ATTRS else 'ATTRS'


def setup_links():
    """(Re)places the administrator's links in the home, on disk."""
    home = cfg['home']
    links = {
        'etc': '/etc', 'ext': '/ext', 'out': OUT, 'outmissing': OUT + '/nowhere',
        'secretlink': OUT + '/secret.txt', 'missinglink': OUT + '/nosuch.txt',
        'up': '../../..', 'upcanary': '../../canary.txt', 'upmissing': '../../nosuch.txt',
        'chain1': 'chain2', 'chain2': 'out', 'chainm': 'chainn', 'chainn': 'outmissing',
        'dangling': 'not-here', 'loop': 'loop', 'inlink': 'sub',
    }
    os.makedirs(os.path.join(home, 'sub'), exist_ok=True)
    with open(os.path.join(home, 'sub', 'inside.txt'), 'wb') as f:
        f.write(b'inside\n')
    for name in ['rename-target', 'rename-target2', 'src-file', 'onto', 'newlink']:
        p = os.path.join(home, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)
    for name, target in links.items():
        p = os.path.join(home, name)
        if os.path.lexists(p):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        os.symlink(target, p)


def run_links():
    global checks
    setup_links()
    for a, b in LINK_PAIRS:
        setup_links()
        oa = ops(a)
        ob = ops(b)
        for (name, fa), (_, fb) in zip(oa, ob):
            if name.startswith('SYMLINK') or name == 'home-directory':
                continue
            setup_links()
            ra = note(name, a, fa())
            setup_links()
            rb = note(name, b, fb())
            na, nb = normalise(ra), normalise(rb)
            if name in ('REALPATH', 'expand-path'):
                # a missing path is echoed as text; an outside one must not resolve to its target
                if ra.type == R.NAME and ra.names[0] != posixpath.normpath('/' + a):
                    failures.append('%s %s resolved to %r' % (name, a, ra.names[0]))
                continue
            if na != nb:
                failures.append('%s: %s -> %s but %s -> %s' % (name, a, na, b, nb))
            if ra.type in (R.HANDLE, R.DATA) or (ra.type == R.STATUS and ra.code == R.OK and
                                                 name not in ('RENAME to', 'posix-rename to',
                                                              'RENAME from', 'posix-rename from',
                                                              'REMOVE')):
                failures.append('%s %s succeeded through an outside link: %s' % (name, a, na))
    setup_links()
    # reads through every link: no outside bytes ever
    for p in ['secretlink', 'out/secret.txt', 'chain1/secret.txt', 'upcanary', 'etc/passwd',
              'up/canary.txt', 'inlink/../out/secret.txt']:
        r = note('OPEN+READ', p, s.open(p, R.F_READ))
    # listing through links: nothing outside is listed
    for p in ['out', 'chain1', 'up', 'etc', 'out/sub', 'inlink/../out']:
        r = s.listdir(p)
        checks += 1
        if isinstance(r, list):
            failures.append('OPENDIR %s listed %r' % (p, r[:5]))
    # a link inside the home that points inside stays usable
    r = s.open('inlink/inside.txt', R.F_READ)
    checks += 1
    if r.type != R.HANDLE:
        failures.append('inside link refused: %s' % r.short())
    else:
        d = s.read(r.handle, 0, 100)
        if d.data != b'inside\n':
            failures.append('inside link read %r' % d.data)
        s.close_handle(r.handle)
    # READLINK of an outside link answers like a missing file, never the outside target
    for p in ['out', 'secretlink', 'chain1', 'up', 'etc', 'dangling']:
        r = note('READLINK', p, s.path_req(R.READLINK, p))
        if r.type == R.NAME:
            failures.append('READLINK %s -> %r' % (p, r.names))
    # RENAME onto links: replaces the link itself (inside), never the outside target
    for target in ['secretlink', 'out', 'chain1', 'upcanary']:
        ensure_file('/onto', b'onto\n')
        note('posix-rename onto link', target, s.extended(
            'posix-rename@openssh.com', pstr('/onto') + pstr(target)))
    # OPEN with CREAT through every link (and the links themselves)
    for p in ['out/created.txt', 'chain1/created.txt', 'up/created.txt', 'etc/created',
              'missinglink', 'outmissing', 'outmissing/created', 'dangling', 'loop',
              'loop/x', 'up/../created.txt']:
        note('OPEN creat', p, s.open(p, R.F_WRITE | R.F_CREAT))
        note('MKDIR', p, s.request(R.MKDIR, pstr(p) + attrs()))
    setup_links()


phase = cfg.get('phase', 'all')
setup_links()
if phase in ('all', 'matrix'):
    run_matrix()
if phase in ('all', 'links'):
    run_links()
alive = s.alive()
s.close()
print(json.dumps({'checks': checks, 'failures': failures, 'alive': alive}))
