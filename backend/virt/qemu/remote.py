"""Constant scripts the qemu driver runs on a host.

Every script is fixed text run as `sh -c SCRIPT sh ARG...`: values (state dir, uuid, ...) only
ever arrive as quoted positional arguments, never spliced into the script.

Layout of a host's state directory:
  _base/<sha256>            image cache (kernel, ramdisk and disks alike), checksum-named
  instances/<uuid>/         disk.qcow2 (overlay), disk.config (config drive), launch.json,
                            qemu.pid, qmp.sock, console.in/.out (the serial port's FIFOs),
                            console.log + console.log.0 (the serial log and its one older
                            part, written by CONSOLE_LOGGER), console.logger.pid
                            -- qemu runs with this as its cwd,
                            so every path it sees is relative (short unix socket paths, no
                            commas from the state dir in -drive options)
  volumes/<volume_id>.qcow2
  probe/                    accelerator probe (boot.img, accel result)
"""

# $1 = state dir. Makes the layout, prints its absolute path and the host's facts.
DISCOVER = r"""
mkdir -p "$1/_base" "$1/instances" "$1/volumes" "$1/probe" || exit 1
cd "$1" || exit 1
rm -f _base/*.part.* volumes/*.part 2>/dev/null
echo "dir=$(pwd)"
echo "nproc=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
echo "mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "disk_kb=$(df -Pk . | awk 'NR==2 {print $4}')"  # free space where guests go
echo "qemu=$(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
echo "python3=$(command -v python3 || true)"
echo "arch=$(uname -m)"
cat probe/accel 2>/dev/null | sed 's/^/accel=/'
"""

# $1 = probe dir, $2 = accelerator, $3 = kernel (optional). A short test boot under a timeout:
# the boot sector writes to isa-debug-exit (exit code 131); with a kernel, Linux must reach
# its panic (no root fs) and exit through -no-reboot. /dev/kvm existing proves nothing here.
PROBE = r"""
cd "$1" || exit 1
timeout 5 qemu-system-x86_64 -accel "$2" -M pc -m 16 -nodefaults -display none -no-user-config \
  -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -drive file=boot.img,format=raw,if=ide >/dev/null 2>&1
[ $? -eq 131 ] || { echo fail-bootsector; exit 0; }
[ -n "$3" ] || { echo unverified; exit 0; }
rm -f linux.log
timeout 8 qemu-system-x86_64 -accel "$2" -M pc -m 96 -nodefaults -display none \
  -no-user-config -no-reboot -kernel "$3" -append "console=ttyS0 panic=1 quiet" \
  -serial file:linux.log >/dev/null 2>&1
grep -q "Kernel panic" linux.log && echo ok || echo fail-linux
"""

BOOT_SECTOR = (bytes([0xB0, 0x41, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])  # mov al,0x41; out 0xf4,al; hlt
               .ljust(510, b"\0") + b"\x55\xaa")

# $1 = state dir, then uuids (none = all). Prints "<uuid> running|crashed|shutdown|missing".
# A clean qemu exit removes the pidfile; a pidfile whose process is gone means it died.
# Zombies count as gone (the init of these machines reaps late), and the pid must really be
# this guest's qemu (pids are reused).
STATUS = r"""
alive() {
  [ -f "$1/qemu.pid" ] || return 1
  read pid < "$1/qemu.pid" || return 1
  grep -qa "guest=$1" "/proc/$pid/cmdline" 2>/dev/null || return 1
  [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
cd "$1/instances" 2>/dev/null || exit 0
shift
[ $# -eq 0 ] && set -- *
for u in "$@"; do
  [ "$u" = "*" ] && continue
  if [ ! -d "$u" ]; then echo "$u missing"
  elif alive "$u"; then echo "$u running"
  elif [ -f "$u/qemu.pid" ]; then echo "$u crashed"
  else echo "$u shutdown"; fi
done
"""

# $1 = state dir, $2 = uuid, $3 = signal (KILL/TERM/none), $4 = wait (tenths of a second),
# $5 = "rm" to remove the instance directory afterwards. Prints "stopped" or "running".
STOP = r"""
cd "$1/instances" 2>/dev/null || { echo stopped; exit 0; }
u="$2"
alive() {
  [ -f "$u/qemu.pid" ] || return 1
  read pid < "$u/qemu.pid" || return 1
  grep -qa "guest=$u" "/proc/$pid/cmdline" 2>/dev/null || return 1
  [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
if alive && [ "$3" != none ]; then kill "-$3" "$pid" 2>/dev/null; fi
i=0
while alive && [ $i -lt "$4" ]; do sleep 0.1; i=$((i+1)); done
if alive; then echo running; exit 0; fi
rm -f "$u/qemu.pid" "$u/qmp.sock"
[ "$5" = rm ] && rm -rf "$u"
echo stopped
"""

# $1 = instance dir, $2 = CONSOLE_LOGGER, $3 = the console log's cap in bytes, then the qemu
# argv. qemu -daemonize returns once the guest is set up. The serial port writes into the FIFO
# console.out, drained by the logger (started first: a guest's output is never lost at boot);
# a logger left by an earlier qemu goes, and one whose qemu did not start.
LAUNCH = r"""
cd "$1" || exit 1
logger=$2 max=$3
shift 3
rm -f qemu.pid qmp.sock
if [ -f console.logger.pid ]; then
  read old < console.logger.pid
  grep -qa console-logger "/proc/$old/cmdline" 2>/dev/null && kill "$old" 2>/dev/null
fi
[ -p console.in ] && [ -p console.out ] || {
  rm -f console.in console.out && mkfifo -m 0600 console.in console.out; } || exit 1
sh -c "$logger" console-logger "$max" "$PWD" </dev/null >/dev/null 2>&1 &
echo $! > console.logger.pid
"$@"
rc=$?
[ $rc -eq 0 ] || kill $! 2>/dev/null
exit $rc
"""

# $1 = cap in bytes, $2 = instance dir. The serial log with a cap, as virtlogd keeps nova's
# (max_size, then the log moves to one backup): console.log grows to $1 bytes, then becomes
# console.log.0 and a new console.log starts. `head -c` copies exactly what is left to the
# cap (it never reads ahead) and stops short only at EOF: qemu closed the FIFO (it exited);
# stdbuf -o0: each read is written at once, not held in stdio's buffer. While the guest
# writes faster than this, the FIFO fills and the serial port waits.
CONSOLE_LOGGER = r"""
cd "$2" || exit 1
exec < console.out || exit 1
size=$(wc -c < console.log 2>/dev/null || echo 0)
while :; do
  if [ "$size" -ge "$1" ]; then mv -f console.log console.log.0; size=0; fi
  stdbuf -o0 head -c "$(($1 - size))" >> console.log || exit 0
  now=$(wc -c < console.log)
  [ "$now" -ge "$1" ] || exit 0
  size=$now
done
"""

# $1 = image file to verify and move into the cache, $2 = expected sha256, $3 = final name.
VERIFY_BASE = r"""
got=$(sha256sum "$1" | cut -d' ' -f1)
if [ "$got" != "$2" ]; then rm -f "$1"; echo "checksum mismatch: got $got" >&2; exit 1; fi
chmod 0444 "$1" && mv -f "$1" "$3"
"""

# $1 = cached image, $2 = its expected sha256 ("" when just verified), $3 = bytes of its head.
# Prints the head in base64 for the format inspector (which runs on the controller: nothing
# here opens a file the image names); exit 3 when the checksum differs (tampered or stale).
INSPECT_HEAD = r"""
{ [ -f "$1" ] && [ ! -h "$1" ]; } || { echo "$1 is not a regular file" >&2; exit 2; }
if [ -n "$2" ]; then
  got=$(sha256sum < "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { echo "checksum mismatch: got $got" >&2; exit 3; }
fi
head -c "$3" < "$1" | base64 -w0
"""

# QMP over the guest's unix socket, run with python3 on the host (cwd = instance dir):
# argv: qmp.sock, command, timeout. Prints the reply as JSON.
QMP_PY = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(float(sys.argv[3]))
s.connect(sys.argv[1])
f = s.makefile("rwb")
def rd():
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("qmp: connection closed")
        m = json.loads(line)
        if "event" not in m:
            return m
rd()
f.write(b'{"execute": "qmp_capabilities"}\n'); f.flush(); rd()
f.write(json.dumps({"execute": sys.argv[2]}).encode() + b"\n"); f.flush()
print(json.dumps(rd()))
"""

# $1 = instance dir; then the python3 argv.
IN_DIR = r"""
cd "$1" || exit 1
shift
exec "$@"
"""

# A QMP session running a program, with python3 on the host (cwd = instance dir):
# argv: qmp.sock, program (JSON list), timeout (whole session). Steps, in order:
#   {"execute": cmd, "arguments": {...}}           its reply goes to "results"; the program
#                                                  stops at an error unless "may_fail" is set
#   {"wait_event": NAME, "path": P}                until event NAME with data.path == P
#                                                  (seen at any point of the session)
# Prints {"results": [...], "events": [...], "timeout": bool}. The program arrives as an
# argument (JSON), never as script text.
QMP_RUN_PY = r"""
import json, socket, sys, time
prog = json.loads(sys.argv[2])
deadline = time.monotonic() + float(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.settimeout(float(sys.argv[3]))
s.connect(sys.argv[1])
f = s.makefile("rb")
out = {"results": [], "events": [], "timeout": False}
def msg():
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout()
    s.settimeout(left)
    line = f.readline()
    if not line:
        raise SystemExit("qmp: connection closed")
    m = json.loads(line)
    if "event" in m:
        out["events"].append(m)
    return m
def reply():
    while True:
        m = msg()
        if "event" not in m:
            return m
def send(cmd, args=None):
    m = {"execute": cmd}
    if args is not None:
        m["arguments"] = args
    s.sendall(json.dumps(m).encode() + b"\n")
    return reply()
def seen(name, path):
    return any(e["event"] == name and e.get("data", {}).get("path") == path for e in out["events"])
try:
    msg()  # greeting
    send("qmp_capabilities")
    for step in prog:
        if "wait_event" in step:
            while not seen(step["wait_event"], step["path"]):
                msg()
            continue
        r = send(step["execute"], step.get("arguments"))
        out["results"].append(r)
        if "error" in r and not step.get("may_fail"):
            break
except socket.timeout:
    out["timeout"] = True
print(json.dumps(out))
"""
