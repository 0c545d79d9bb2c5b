"""Every SFTP v3 request and every advertised extension, checked against the bytes on disk.

usage: proto_ops.py HOST PORT USER PASSWORD HOME
"""
import hashlib
import os
import stat

from rawsftp import *  # noqa: F401,F403

host, port, user, password, home = args()
c = session(host, port, user, password)
disk = lambda p: os.path.join(home, p.lstrip('/'))  # noqa: E731


def content(p):
    with open(disk(p), 'rb') as f:
        return f.read()


def put(p, data):
    with open(disk(p), 'wb') as f:
        f.write(data)


# ---- VERSION -------------------------------------------------------------------------------------
want_ext = ['posix-rename@openssh.com', 'statvfs@openssh.com', 'fstatvfs@openssh.com',
            'fsync@openssh.com', 'limits@openssh.com', 'expand-path@openssh.com', 'home-directory',
            'copy-data', 'check-file-name', 'check-file-handle']
check('version is 3', c.version.type == VERSION and c.version.version == 3, repr(c.version))
names = [n for n, _ in c.version.extensions]
check('VERSION lists exactly the extensions', sorted(names) == sorted(want_ext), names)
check('VERSION lists each extension once', len(names) == len(set(names)), names)

r = c.extended('limits@openssh.com')
lim = (r.reader.u64(), r.reader.u64(), r.reader.u64(), r.reader.u64()) if r.type == EXTENDED_REPLY else r
check('limits@openssh.com values', lim == (262144, 261120, 261120, 1024), lim)

# ---- OPEN: all 64 flag combinations, on an existing and on a missing file --------------------------
ORIG = b'0123456789'
for flags in range(64):
    for exists in (True, False):
        p = '/open-%02x-%s' % (flags, 'e' if exists else 'm')
        if exists:
            put(p, ORIG)
        write = bool(flags & (F_WRITE | F_APPEND))
        r = c.open(p, flags)
        label = 'OPEN flags=0x%02x %s' % (flags, 'existing' if exists else 'missing')
        if not exists and not flags & F_CREAT:
            check(label + ': no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)
            check(label + ': nothing created', not os.path.exists(disk(p)))
            continue
        if exists and flags & F_CREAT and flags & F_EXCL:
            check(label + ': EXCL fails', r.type == STATUS and r.code == FAILURE, r)
            check(label + ': EXCL leaves content', content(p) == ORIG)
            continue
        if r.type != HANDLE:
            check(label + ': handle', False, r)
            continue
        h = r.handle
        before = ORIG if exists and not (flags & F_TRUNC and write) else b''
        check(label + ': content on open', content(p) == before, content(p))
        w = c.write(h, 2, b'ZZ')
        if write:
            check(label + ': WRITE ok', w.type == STATUS and w.code == OK, w)
            after = before + b'ZZ' if flags & F_APPEND else (
                before[:2] + b'ZZ' + before[4:] if len(before) >= 4 else before.ljust(2, b'\0') + b'ZZ')
            check(label + ': bytes on disk', content(p) == after, (content(p), after))
        else:
            check(label + ': WRITE refused', w.type == STATUS and w.code != OK, w)
            check(label + ': file unchanged', content(p) == before)
            after = before
        rd = c.read(h, 0, 100)
        if flags & F_READ or not write:
            check(label + ': READ', rd.type == DATA and rd.data == after if after else
                  rd.type == STATUS and rd.code == EOF, rd)
        else:
            check(label + ': READ refused', rd.type == STATUS and rd.code not in (OK, EOF), rd)
        cl = c.close_handle(h)
        check(label + ': CLOSE', cl.type == STATUS and cl.code == OK, cl)

r = c.open('/', F_READ)
check('OPEN of a directory fails', r.type == STATUS and r.code == FAILURE, r)
r = c.open('/no/such/dir/file', F_WRITE | F_CREAT)
check('OPEN in a missing directory: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.close_handle(b'\0\0\0\0')
check('CLOSE of an unknown handle fails', r.type == STATUS and r.code == FAILURE, r)

# ---- READ: clamp, short reads, EOF ----------------------------------------------------------------
big = os.urandom(600 * 1024)
put('/big', big)
h = c.handle('/big', F_READ)
r = c.read(h, 0, 1024 * 1024)
check('READ clamped to 255 KiB', r.type == DATA and len(r.data) == 255 * 1024, len(getattr(r, 'data', b'')))
check('READ data', r.type == DATA and r.data == big[:255 * 1024])
r = c.read(h, len(big) - 100, 4096)
check('READ short at the end', r.type == DATA and r.data == big[-100:], repr(r))
r = c.read(h, len(big), 4096)
check('READ at EOF: EOF status', r.type == STATUS and r.code == EOF, r)
r = c.read(h, len(big) + 12345, 10)
check('READ past EOF: EOF status', r.type == STATUS and r.code == EOF, r)
# pipelined reads come back in order, and reassemble the file
ids = [c.send(READ, pstr(h) + u64(off) + u32(32768)) for off in range(0, len(big), 32768)]
got = b''
order = []
for rid in ids:
    rep = c.recv_next()
    order.append(rep.id)
    got += rep.data if rep.type == DATA else b''
check('pipelined READs answered in order', order == ids, order[:5])
check('pipelined READs reassemble', hashlib.sha256(got).hexdigest() == hashlib.sha256(big).hexdigest())
c.close_handle(h)

# WRITE of 255 KiB at an offset past the end leaves a hole of zeros
h = c.handle('/w', F_WRITE | F_CREAT | F_TRUNC)
blob = os.urandom(255 * 1024)
r = c.write(h, 1000, blob)
check('WRITE 255 KiB at an offset', r.type == STATUS and r.code == OK, r)
check('WRITE bytes on disk', content('/w') == b'\0' * 1000 + blob)
c.close_handle(h)

# ---- STAT, LSTAT, FSTAT ---------------------------------------------------------------------------
put('/s', b'abc')
os.chmod(disk('/s'), 0o640)
os.utime(disk('/s'), (1000000000, 1200000000))
st = os.stat(disk('/s'))
for kind, rep in (('STAT', c.request(STAT, pstr('/s'))), ('LSTAT', c.request(LSTAT, pstr('/s')))):
    a = getattr(rep, 'attrs', {})
    check(kind + ' attrs', a.get('size') == 3 and a.get('perm') == st.st_mode and
          a.get('mtime') == 1200000000 and a.get('atime') == 1000000000, a)
h = c.handle('/s', F_READ)
a = c.request(FSTAT, pstr(h)).attrs
check('FSTAT attrs', a.get('size') == 3 and a.get('perm') == st.st_mode, a)
c.close_handle(h)
r = c.request(STAT, pstr('/missing'))
check('STAT missing: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)

# ---- SETSTAT, FSETSTAT: size, permissions, times ---------------------------------------------------
put('/set', b'0123456789')
r = c.request(SETSTAT, pstr('/set') + attrs(size=4))
check('SETSTAT size shrinks', r.code == OK and content('/set') == b'0123', (r, content('/set')))
r = c.request(SETSTAT, pstr('/set') + attrs(size=8))
check('SETSTAT size grows with zeros', r.code == OK and content('/set') == b'0123\0\0\0\0', content('/set'))
r = c.request(SETSTAT, pstr('/set') + attrs(perm=0o600))
check('SETSTAT permissions', r.code == OK and stat.S_IMODE(os.stat(disk('/set')).st_mode) == 0o600, r)
r = c.request(SETSTAT, pstr('/set') + attrs(atime=1111111111, mtime=1234567890))
st = os.stat(disk('/set'))
check('SETSTAT times', r.code == OK and int(st.st_mtime) == 1234567890 and int(st.st_atime) == 1111111111,
      (st.st_atime, st.st_mtime))
r = c.request(SETSTAT, pstr('/missing') + attrs(perm=0o600))
check('SETSTAT missing: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)
h = c.handle('/set', F_WRITE)
r = c.request(FSETSTAT, pstr(h) + attrs(size=2))
check('FSETSTAT size', r.code == OK and content('/set') == b'01', (r, content('/set')))
r = c.request(FSETSTAT, pstr(h) + attrs(perm=0o644))
check('FSETSTAT permissions', r.code == OK and stat.S_IMODE(os.stat(disk('/set')).st_mode) == 0o644, r)
r = c.request(FSETSTAT, pstr(h) + attrs(atime=1300000000, mtime=1300000001))
check('FSETSTAT times', r.code == OK and int(os.stat(disk('/set')).st_mtime) == 1300000001, r)
c.close_handle(h)

# ---- MKDIR, RMDIR, REMOVE, OPENDIR ----------------------------------------------------------------
r = c.request(MKDIR, pstr('/dir') + attrs(perm=0o750))
check('MKDIR', r.code == OK and os.path.isdir(disk('/dir')), r)
check('MKDIR permissions', stat.S_IMODE(os.stat(disk('/dir')).st_mode) == 0o750,
      oct(os.stat(disk('/dir')).st_mode))
r = c.request(MKDIR, pstr('/dir') + attrs())
check('MKDIR existing fails', r.type == STATUS and r.code == FAILURE, r)
put('/dir/f', b'x')
r = c.request(RMDIR, pstr('/dir'))
check('RMDIR non-empty fails', r.type == STATUS and r.code == FAILURE and os.path.isdir(disk('/dir')), r)
r = c.request(REMOVE, pstr('/dir'))
check('REMOVE of a directory fails', r.type == STATUS and r.code != OK and os.path.isdir(disk('/dir')), r)
r = c.request(RMDIR, pstr('/dir/f'))
check('RMDIR of a file fails', r.type == STATUS and r.code != OK and os.path.isfile(disk('/dir/f')), r)
r = c.request(REMOVE, pstr('/dir/f'))
check('REMOVE', r.code == OK and not os.path.exists(disk('/dir/f')), r)
r = c.request(REMOVE, pstr('/dir/f'))
check('REMOVE missing: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.request(RMDIR, pstr('/dir'))
check('RMDIR', r.code == OK and not os.path.exists(disk('/dir')), r)
r = c.request(RMDIR, pstr('/'))
check('RMDIR of the root fails', r.type == STATUS and r.code != OK and os.path.isdir(home), r)
r = c.request(OPENDIR, pstr('/s'))
check('OPENDIR of a file fails', r.type == STATUS and r.code != OK, r)
r = c.request(OPENDIR, pstr('/nodir'))
check('OPENDIR missing: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)

# ---- REALPATH -------------------------------------------------------------------------------------
os.makedirs(disk('/a/b'), exist_ok=True)
for given, want in (('.', '/'), ('', '/'), ('/', '/'), ('..', '/'), ('/../../..', '/'), ('a/b/..', '/a'),
                    ('/a/./b//', '/a/b'), ('/a/missing/../b', '/a/b'), ('/nothere', '/nothere')):
    r = c.request(REALPATH, pstr(given))
    got = r.entries[0][0] if r.type == NAME else r
    check('REALPATH %r' % given, got == want, got)

# ---- RENAME and posix-rename ----------------------------------------------------------------------
put('/r1', b'one')
put('/r2', b'two')
r = c.request(RENAME, pstr('/r1') + pstr('/r2'))
check('RENAME onto an existing file fails', r.type == STATUS and r.code == FAILURE, r)
check('RENAME failure leaves both', content('/r1') == b'one' and content('/r2') == b'two')
r = c.request(RENAME, pstr('/r1') + pstr('/a/r3'))
check('RENAME', r.code == OK and content('/a/r3') == b'one' and not os.path.exists(disk('/r1')), r)
r = c.request(RENAME, pstr('/nope') + pstr('/nope2'))
check('RENAME missing: no such file', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.extended('posix-rename@openssh.com', pstr('/a/r3') + pstr('/r2'))
check('posix-rename replaces', r.code == OK and content('/r2') == b'one' and not os.path.exists(disk('/a/r3')), r)

# ---- READLINK, SYMLINK ----------------------------------------------------------------------------
os.symlink('a/b', disk('/lnk'))
r = c.request(READLINK, pstr('/lnk'))
check('READLINK', r.type == NAME and r.entries[0][0] == '/a/b', r)
r = c.request(READLINK, pstr('/r2'))
check('READLINK of a file fails', r.type == STATUS and r.code != OK, r)
os.symlink('/etc/passwd', disk('/out'))
r = c.request(READLINK, pstr('/out'))
check('READLINK leading out: like missing', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.request(STAT, pstr('/out'))
check('STAT through a link leading out: like missing', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.open('/out', F_READ)
check('OPEN through a link leading out: like missing', r.type == STATUS and r.code == NO_SUCH_FILE, r)
for order in ((pstr('/r2'), pstr('/newlink')), (pstr('/newlink'), pstr('/r2'))):
    r = c.request(SYMLINK, order[0] + order[1])
    check('SYMLINK refused', r.type == STATUS and r.code == PERMISSION_DENIED, r)
check('SYMLINK created nothing', not os.path.lexists(disk('/newlink')))

# ---- extensions -----------------------------------------------------------------------------------
def statvfs(rep):
    rd = rep.reader
    return [rd.u64() for _ in range(11)]


r = c.extended('statvfs@openssh.com', pstr('/'))
check('statvfs@openssh.com', r.type == EXTENDED_REPLY and len(statvfs(r)) == 11, r)
h = c.handle('/r2', F_READ)
r = c.extended('fstatvfs@openssh.com', pstr(h))
check('fstatvfs@openssh.com', r.type == EXTENDED_REPLY, r)
c.close_handle(h)
h = c.handle('/fs', F_WRITE | F_CREAT)
c.write(h, 0, b'sync me')
r = c.extended('fsync@openssh.com', pstr(h))
check('fsync@openssh.com', r.type == STATUS and r.code == OK and content('/fs') == b'sync me', r)
c.close_handle(h)
for given, want in (('~', '/'), ('~/a/b', '/a/b'), ('~%s/a' % user, '/a'), ('a/../a', '/a')):
    r = c.extended('expand-path@openssh.com', pstr(given))
    check('expand-path %r' % given, r.type == NAME and r.entries[0][0] == want, r)
r = c.extended('expand-path@openssh.com', pstr('~root/x'))
check('expand-path ~other: no such user', r.type == STATUS and r.code == NO_SUCH_FILE, r)
r = c.extended('home-directory', pstr(user))
check('home-directory', r.type == NAME and r.entries[0][0] == '/', r)
src = os.urandom(100000)
put('/cp-src', src)
hs = c.handle('/cp-src', F_READ)
hd = c.handle('/cp-dst', F_WRITE | F_CREAT | F_TRUNC)
r = c.extended('copy-data', pstr(hs) + u64(10) + u64(50000) + pstr(hd) + u64(5))
check('copy-data', r.type == STATUS and r.code == OK and content('/cp-dst') == b'\0' * 5 + src[10:50010], r)
r = c.extended('copy-data', pstr(hs) + u64(0) + u64(0) + pstr(hd) + u64(0))
check('copy-data length 0 copies to the end', r.code == OK and content('/cp-dst') == src, r)
for alg in ('md5', 'sha1', 'sha256', 'sha512'):
    r = c.extended('check-file-name', pstr('/cp-src') + pstr(alg) + u64(0) + u64(0) + u32(0))
    got = (r.reader.str(), r.reader.str(), r.reader.rest()) if r.type == EXTENDED_REPLY else r
    check('check-file-name ' + alg, got == ('check-file', alg, hashlib.new(alg, src).digest()), got)
r = c.extended('check-file-handle', pstr(hs) + pstr('sha256') + u64(100) + u64(1000) + u32(0))
got = (r.reader.str(), r.reader.str(), r.reader.rest()) if r.type == EXTENDED_REPLY else r
check('check-file-handle range', got == ('check-file', 'sha256', hashlib.sha256(src[100:1100]).digest()), got)
c.close_handle(hs)
c.close_handle(hd)
r = c.extended('no-such-extension@example.com', b'xyz')
check('unknown extension: OP_UNSUPPORTED', r.type == STATUS and r.code == OP_UNSUPPORTED, r)

c.close()
finish()
