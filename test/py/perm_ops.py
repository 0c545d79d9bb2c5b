"""SFTP operations one by one, each reported with its outcome, for the permission tests.

Usage: perm_ops.py PORT USER PASSWORD OP...   Each OP is NAME:ARG[:ARG2]; one JSON line each:
{"op": OP, "code": STATUS or null, "msg": TEXT, ...}; `code` 0 (or null with data) is success.
NAMEs: version, list, read, write (OPEN write|creat|trunc + WRITE), append (OPEN write|append +
WRITE), mkdir, rmdir, remove, rename, posix-rename, chmod (SETSTAT mode), truncate (SETSTAT size
0), ftruncate (FSETSTAT size 0 on a read handle), copy (copy-data from ARG into ARG2, both opened
for reading and writing as far as allowed), check (check-file-name sha256).
"""
import json
import sys

import rawsftp as r

port, user, password = sys.argv[1:4]
s = r.connect('127.0.0.1', int(port), user, password=password)
exts = s.init()


def out(op, rep, **extra):
    d = {'op': op, 'code': rep.code if rep is not None else None,
         'msg': rep.msg if rep is not None else None}
    d.update(extra)
    print(json.dumps(d), flush=True)


def run(op):
    name, _, rest = op.partition(':')
    a, _, b = rest.partition(':')
    if name == 'version':
        print(json.dumps({'op': op, 'extensions': sorted(exts)}), flush=True)
    elif name == 'list':
        o = s.path_req(r.OPENDIR, a)
        if o.type != r.HANDLE:
            return out(op, o)
        names = []
        while True:
            d = s.request(r.READDIR, r.pstr(o.handle))
            if d.type != r.NAME:
                break
            names += [e[0] for e in d.entries]
        s.close_handle(o.handle)
        out(op, d if d.code != r.EOF else None, names=sorted(names))
    elif name == 'read':
        o = s.open(a, r.F_READ)
        if o.type != r.HANDLE:
            return out(op, o)
        d = s.read(o.handle, 0, 32768)
        s.close_handle(o.handle)
        out(op, d if d.type != r.DATA else None, data=(d.data or b'').decode('latin-1'))
    elif name in ('write', 'append'):
        flags = r.F_WRITE | (r.F_CREAT | r.F_TRUNC if name == 'write' else r.F_APPEND)
        o = s.open(a, flags)
        if o.type != r.HANDLE:
            return out(op, o)
        w = s.write(o.handle, 0, (b or 'written').encode())
        s.close_handle(o.handle)
        out(op, w)
    elif name in ('mkdir', 'rmdir', 'remove'):
        ptype = {'mkdir': r.MKDIR, 'rmdir': r.RMDIR, 'remove': r.REMOVE}[name]
        out(op, s.request(ptype, r.pstr(a) + (r.attrs() if name == 'mkdir' else b'')))
    elif name == 'rename':
        out(op, s.request(r.RENAME, r.pstr(a) + r.pstr(b)))
    elif name == 'posix-rename':
        out(op, s.extended('posix-rename@openssh.com', r.pstr(a) + r.pstr(b)))
    elif name == 'chmod':
        out(op, s.request(r.SETSTAT, r.pstr(a) + r.attrs(perm=0o600)))
    elif name == 'truncate':
        out(op, s.request(r.SETSTAT, r.pstr(a) + r.attrs(size=0)))
    elif name == 'ftruncate':
        o = s.open(a, r.F_READ)
        if o.type != r.HANDLE:
            return out(op, o)
        rep = s.request(r.FSETSTAT, r.pstr(o.handle) + r.attrs(size=0))
        s.close_handle(o.handle)
        out(op, rep)
    elif name == 'copy':
        src = s.open(a, r.F_READ)
        dst = s.open(b, r.F_READ | r.F_WRITE)
        opened = 'read+write'
        if dst.type != r.HANDLE:
            dst = s.open(b, r.F_READ)
            opened = 'read'
        if src.type != r.HANDLE or dst.type != r.HANDLE:
            return out(op, src if src.type != r.HANDLE else dst)
        rep = s.extended('copy-data', r.pstr(src.handle) + r.u64(0) + r.u64(0) +
                         r.pstr(dst.handle) + r.u64(0))
        s.close_handle(src.handle)
        s.close_handle(dst.handle)
        out(op, rep, dst=opened)
    elif name == 'check':
        rep = s.extended('check-file-name', r.pstr(a) + r.pstr('sha256') + r.u64(0) + r.u64(0) +
                         r.u32(0))
        if rep.type == r.EXTENDED_REPLY:
            rd = rep.reader
            rd.str()
            rd.str()
            return out(op, None, hex=rd.rest().hex())
        out(op, rep)
    else:
        raise SystemExit('unknown op ' + op)


for op in sys.argv[4:]:
    run(op)
s.close()
