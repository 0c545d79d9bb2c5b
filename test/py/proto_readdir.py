"""READDIR: at most 100 names a reply, every entry once, ls -l longnames matching the attrs.

usage: proto_readdir.py HOST PORT USER PASSWORD HOME
"""
import os
import re
import stat

from rawsftp import *  # noqa: F401,F403

host, port, user, password, home = args()
d = os.path.join(home, 'many')
os.makedirs(d, exist_ok=True)
want = set()
for i in range(250):
    name = 'entry-%03d' % i
    if i % 50 == 0:
        os.mkdir(os.path.join(d, name))
    else:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(b'x' * i)
    want.add(name)

c = session(host, port, user, password)
r = c.request(OPENDIR, pstr('/many'))
check('OPENDIR', r.type == HANDLE, r)
h = r.handle
seen = []
counts = []
while True:
    r = c.request(READDIR, pstr(h))
    if r.type == STATUS:
        check('READDIR ends with EOF', r.code == EOF, r)
        break
    counts.append(len(r.entries))
    seen.extend(r.entries)
    if len(counts) > 10:
        break
check('READDIR at most 100 names a reply', max(counts) <= 100 and len(counts) >= 3, counts)
names = [n for n, _, _ in seen]
check('READDIR lists every entry once (with . and ..)',
      sorted(names) == sorted(want | {'.', '..'}) and len(names) == len(set(names)), len(names))
r = c.request(READDIR, pstr(h))
check('READDIR after EOF: EOF again', r.type == STATUS and r.code == EOF, r)

LONG = re.compile(r'^([-dlcbps][-rwxsStT]{9}) +(\d+) +(\S+) +(\S+) +(\d+) (\w{3}) +(\d+) +(\d\d:\d\d|\d{4}) (.+)$')
bad = []
for name, longname, a in seen:
    m = LONG.match(longname)
    if not m:
        bad.append(longname)
        continue
    mode, _, owner, group, size, _, _, _, lname = m.groups()
    st = os.lstat(os.path.join(d, name))
    ok = (lname == name and int(size) == a['size'] == st.st_size and
          mode == stat.filemode(st.st_mode) and owner == user and a['perm'] == st.st_mode)
    if not ok:
        bad.append((longname, a))
check('longnames are ls -l lines matching the attrs', not bad, bad[:3])
r = c.close_handle(h)
check('CLOSE of a directory handle', r.type == STATUS and r.code == OK, r)
r = c.request(READDIR, pstr(h))
check('READDIR on a closed handle fails', r.type == STATUS and r.code == FAILURE, r)

# a file handle is not a directory handle, and the other way round
fh = c.handle('/many/entry-001', F_READ)
r = c.request(READDIR, pstr(fh))
check('READDIR on a file handle fails', r.type == STATUS and r.code == FAILURE, r)
dh = c.request(OPENDIR, pstr('/many')).handle
r = c.read(dh, 0, 10)
check('READ on a directory handle fails', r.type == STATUS and r.code == FAILURE, r)
c.close_handle(fh)
c.close_handle(dh)
c.close()
finish()
