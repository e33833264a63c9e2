#!/usr/bin/env python3
"""QEMU scenarios under the shim: QEMU's s390x-softmmu with -accel kvm, LD_PRELOAD of the shim,
driven through QMP (Python standard library only: a fresh Debian machine has Python 3, and the
scenarios are process choreography — start QEMU, talk JSON over a socket, compare — which needs
no crate and no compiled harness).

    scripts/qemu/scenarios.py --qemu BUILD/qemu-system-s390x --firmware DIR --shim LIB.so
    scripts/qemu/scenarios.py ... --qemu-user qemu-s390x-static --sysroot SYSROOT   # s390x QEMU

Each scenario prints `ok`, `FAIL` or `skip` with its name; the last line is
`N passed, N failed, N skipped`, and the exit status is 1 when one failed.

Guest code: until the shim runs z/Architecture instructions in KVM_RUN, `cont` leaves the vCPUs
waiting for interrupts (the shim delivers pending interrupts into the lowcore and sleeps). Once
it does, the s390-ccw BIOS runs and, with no boot device, ends in a disabled wait, which QEMU
(`-action panic=pause`, set explicitly) reports as GUEST_PANICKED and pauses. The migration
scenario loads a small guest program (SSKE, ESSA, a counter, a disabled wait) that a restart
interrupt enters; it detects whether the program ran and is strict about storage keys and CMMA
states when it did (before that, it checks what QEMU and the shim already move: guest memory,
the pending restart interrupt, and that keys/CMMA are reported alike on both sides).
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# The shim's machine profiles (README "The modelled host"): the QEMU CPU definition each host
# model resolves to, and the named models of that generation and the one before.
PROFILES = {
    # `qemu` (QEMU 10's own model, gen15a-based, AIS) needs a z15 or later host.
    "z14": {"host_def": "z14", "models": ["z13", "z14"], "too_new": ["gen15a", "gen16a", "qemu"]},
    "z15": {"host_def": "gen15a", "models": ["z13", "z14", "gen15a", "qemu"],
            "too_new": ["gen16a"]},
    "z16": {"host_def": "gen16a", "models": ["z13", "z14", "gen15a", "gen16a", "qemu"],
            "too_new": []},
}

# The guest program a restart interrupt enters (restart new PSW at 0x1a0 -> 0x10000, 64-bit,
# all interrupts disabled). Assembled with s390x-linux-gnu-as -march=z10:
#   lghi  %r1,0x30; llilf %r2,0x200000; sske %r1,%r2      key 0x30 on the page at 2 MiB
#   lghi  %r1,0x50; llilf %r2,0x201000; sske %r1,%r2      key 0x50 on the next page
#   llilf %r2,0x300000; essa %r1,%r2,2                     page at 3 MiB: set unused
#   llilf %r2,0x301000; essa %r1,%r2,4                     next page: set volatile
#   ly %r3,0x3000; ahi %r3,1; sty %r3,0x3000               count the runs at 0x3000
#   larl %r4,wait; lpswe 0(%r4)                            disabled wait, address 0xdead
PROGRAM = bytes.fromhex(
    "a7190030c02f00200000b22b0012a7190050c02f00201000b22b0012c02f00300000b9ab2012"
    "c02f00301000b9ab4012e33000000358a73a0001e33000000350c04000000008b2b24000"
    "070707070707" "0002000180000000000000000000dead")
PROGRAM_ADDR = 0x10000
RESTART_NEW_PSW = (0x0000000180000000).to_bytes(8, "big") + PROGRAM_ADDR.to_bytes(8, "big")
RESTART_OLD_PSW_ADDR = 0x120
COUNTER_ADDR = 0x3000
DATA_ADDR = 0x400000
DATA_LEN = 256 * 1024
KEY_PAGES = {0x200000: 0x30, 0x201000: 0x50}
CMMA_PAGES = 0x300000


class QmpError(Exception):
    pass


class Qemu:
    """One QEMU process with a QMP socket, its stderr kept in a file."""

    def __init__(self, runner, name, args, extra_env=None):
        self.runner = runner
        self.name = name
        self.dir = os.path.join(runner.workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.console_path = os.path.join(self.dir, "console")
        self.events = []
        self.sock = None
        self.buf = b""
        cmd = runner.command() + [
            "-machine", "s390-ccw-virtio", "-accel", "kvm",
            "-nodefaults", "-display", "none", "-L", runner.firmware,
            "-chardev", "file,id=con,path=" + self.console_path,
            "-device", "sclpconsole,chardev=con",
            "-action", "panic=pause",
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
        ] + args
        env = runner.env(extra_env or {})
        self.cmdline = cmd
        with open(os.path.join(self.dir, "cmdline"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.dir, "stdout"), "wb"),
                                     stderr=open(self.stderr_path, "wb"))

    def connect(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.runner.start_timeout)
        while True:
            if self.proc.poll() is not None:
                raise QmpError("QEMU exited with %d: %s" % (self.proc.returncode, self.stderr()))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.qmp_path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise QmpError("no QMP socket after %s s" % timeout)
                time.sleep(0.05)
        self.sock = s
        self.sock.settimeout(self.runner.cmd_timeout)
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError("no QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")
        return self

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP connection closed: %s" % self.stderr())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise QmpError("%s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

    def try_cmd(self, name, **args):
        try:
            return self.cmd(name, **args), None
        except QmpError as e:
            return None, str(e)

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})

    def wait_event(self, name, timeout, match=None):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and (match is None or match(e.get("data", {}))):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                r = self._read()
                if "event" in r:
                    self.events.append(r)
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(self.runner.cmd_timeout)

    def status(self):
        return self.cmd("query-status")["status"]

    def pmem(self, addr, size):
        path = os.path.join(self.dir, "pmem-%x-%x" % (addr, size))
        self.cmd("pmemsave", val=addr, size=size, filename=path)
        with open(path, "rb") as f:
            return f.read()

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def quit(self):
        if self.proc.poll() is None and self.sock is not None:
            try:
                self.cmd("quit")
            except (QmpError, OSError):
                pass
        try:
            self.proc.wait(timeout=self.runner.cmd_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Skip(Exception):
    pass


class Runner:
    def __init__(self, args):
        self.args = args
        self.firmware = os.path.abspath(args.firmware)
        self.workdir = tempfile.mkdtemp(prefix="kvm-s390-shim-qemu-")
        self.results = []
        self.started = []
        self.notes = []
        emulated = args.qemu_user is not None
        self.start_timeout = 120 if emulated else 30
        self.cmd_timeout = 120 if emulated else 30

    def command(self):
        if self.args.qemu_user:
            return [self.args.qemu_user, "-L", self.args.sysroot, self.args.qemu]
        return [self.args.qemu]

    def env(self, extra):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["LD_PRELOAD"] = os.path.abspath(self.args.shim)
        if self.args.qemu_user:
            # The sysroot's libraries for the emulated QEMU (qemu-user passes the environment on
            # to the s390x program, whose dynamic loader reads LD_PRELOAD/LD_LIBRARY_PATH).
            env["QEMU_LD_PREFIX"] = self.args.sysroot
        env.update(extra)
        return env

    def qemu(self, name, args, machine, **kw):
        q = Qemu(self, name, args, {"KVM_S390_SHIM_MACHINE": machine})
        self.started.append(q)
        return q

    def run(self, name, fn, *a):
        if self.args.only and not re.search(self.args.only, name):
            return
        t = time.monotonic()
        try:
            note = fn(*a)
            res = "ok"
            detail = note or ""
        except Skip as e:
            res, detail = "skip", str(e)
        except (Failure, QmpError, OSError, subprocess.SubprocessError) as e:
            res, detail = "FAIL", str(e)
            if self.args.verbose:
                traceback.print_exc()
        finally:
            for q in self.started:
                q.kill()
            self.started = []
        self.results.append(res)
        line = "%-4s %-44s %5.1fs" % (res, name, time.monotonic() - t)
        if detail:
            line += "  " + detail
        print(line, flush=True)

    def finish(self):
        passed = self.results.count("ok")
        failed = self.results.count("FAIL")
        skipped = self.results.count("skip")
        if failed == 0 and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print("work directory (logs, stderr, command lines): %s" % self.workdir)
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
        return 1 if failed else 0


def base_args(cpu, smp=1, mem=512):
    return ["-cpu", cpu, "-smp", str(smp), "-m", str(mem), "-S"]


def no_warnings(q):
    err = q.stderr().strip()
    check(err == "", "stderr not empty: %s" % err[:2000])


# --- scenarios ----------------------------------------------------------------------------

def sc_start(r, machine, cpu):
    """QEMU starts paused (-S) with this CPU model, answers QMP, quits; nothing on stderr."""
    q = r.qemu("start-%s-%s" % (machine, cpu), base_args(cpu), machine).connect()
    st = q.status()
    check(st == "prelaunch", "status %s, want prelaunch" % st)
    defn = q.cmd("query-cpu-model-expansion", type="static", model={"name": cpu})
    rc = q.quit()
    check(rc == 0, "quit: exit status %s" % rc)
    no_warnings(q)
    return "static: %s" % defn["model"]["name"]


def sc_too_new(r, machine, cpu):
    """A model newer than the host is refused, as on real KVM."""
    q = r.qemu("too-new-%s-%s" % (machine, cpu), base_args(cpu), machine)
    try:
        q.proc.wait(timeout=r.start_timeout)
    except subprocess.TimeoutExpired:
        raise Failure("QEMU did not refuse %s on a %s host" % (cpu, machine))
    check(q.proc.returncode != 0, "exit status 0")
    err = q.stderr()
    check("too new" in err or "not supported" in err or "newer" in err, "stderr: %s" % err[:500])


def props_on(p):
    return {k for k, v in p.items() if v is True}


def sc_models(r, machine):
    """CPU-model expansion, comparison and baseline agree with the profile."""
    prof = PROFILES[machine]
    gen = prof["host_def"]
    q = r.qemu("models-%s" % machine, base_args("host"), machine).connect()
    hs = q.cmd("query-cpu-model-expansion", type="static", model={"name": "host"})["model"]
    check(hs["name"] == gen + "-base", "host static expansion is %s, want %s-base"
          % (hs["name"], gen))
    hf = q.cmd("query-cpu-model-expansion", type="full", model={"name": "host"})["model"]
    gf = q.cmd("query-cpu-model-expansion", type="full", model={"name": gen})["model"]
    gs = q.cmd("query-cpu-model-expansion", type="static", model={"name": gen})["model"]
    check(gs["name"] == gen + "-base", "%s static expansion is %s" % (gen, gs["name"]))
    # The host model holds the generation's default model (QEMU's full model of the generation
    # as far as KVM provides it) plus the features only a hypervisor offers (ap, diag318, ...).
    host_on, gen_on = props_on(hf["props"]), props_on(gf["props"])
    missing = sorted(gen_on - host_on)
    check(not missing, "host lacks %s of %s" % (missing, gen))
    extra = sorted(host_on - gen_on)
    # comparison: the host is a superset of every model it can run, each model a subset of it
    for m in prof["models"]:
        c = q.cmd("query-cpu-model-comparison", modela={"name": "host"}, modelb={"name": m})
        check(c["result"] == "superset", "compare host/%s: %s (%s)"
              % (m, c["result"], c.get("responsible-properties")))
        c = q.cmd("query-cpu-model-comparison", modela={"name": m}, modelb={"name": "host"})
        check(c["result"] == "subset", "compare %s/host: %s (%s)"
              % (m, c["result"], c.get("responsible-properties")))
    c = q.cmd("query-cpu-model-comparison", modela={"name": "host"}, modelb={"name": "host"})
    check(c["result"] == "identical", "compare host/host: %s" % c["result"])
    # baseline: with an older model, that model's base; with itself, the generation's base
    # (not with `qemu`: its feature set lacks base features of every generation since z800, so
    # QEMU's baseline with it is z800-base whatever the host)
    for m in [m for m in prof["models"] if m != "qemu"]:
        b = q.cmd("query-cpu-model-baseline", modela={"name": "host"}, modelb={"name": m})
        name = b["model"]["name"]
        check(name.split("-")[0] == m or (m == "z13" and name.startswith("z13")),
              "baseline host+%s: %s" % (m, name))
    b = q.cmd("query-cpu-model-baseline", modela={"name": "host"}, modelb={"name": "host"})
    check(b["model"]["name"] == gen + "-base", "baseline host+host: %s" % b["model"]["name"])
    q.quit()
    no_warnings(q)
    return "host = %s + %s" % (gen, ",".join(extra))


def sc_cpus(r, machine):
    """query-cpus-fast with -smp 4: four s390x CPUs, the boot CPU operating."""
    q = r.qemu("cpus-%s" % machine, base_args("host", smp=4), machine).connect()
    cpus = q.cmd("query-cpus-fast")
    check(len(cpus) == 4, "%d CPUs" % len(cpus))
    check([c["cpu-index"] for c in cpus] == [0, 1, 2, 3], "indices %s" % cpus)
    check(all(c["target"] == "s390x" for c in cpus), "targets %s" % cpus)
    states = [c.get("cpu-state") for c in cpus]
    check(states[0] == "operating" and states[1:] == ["stopped"] * 3, "states %s" % states)
    tids = {c["thread-id"] for c in cpus}
    check(len(tids) == 4, "thread ids %s" % tids)
    q.quit()
    no_warnings(q)


def guest_state_after_cont(q, timeout=5.0):
    """After cont: 'running' (the vCPUs wait in KVM_RUN: no guest code yet) or
    'guest-panicked' (the BIOS ran into its disabled wait: guest code runs)."""
    ev = q.wait_event("GUEST_PANICKED", timeout)
    st = q.status()
    if ev is not None:
        check(st == "guest-panicked", "GUEST_PANICKED but status %s" % st)
        return "guest-panicked"
    check(st == "running", "status %s after cont" % st)
    return "running"


def sc_lifecycle(r, machine):
    """cont, stop, system_reset, inject-nmi, system_powerdown, and idle vCPUs that do not spin."""
    q = r.qemu("lifecycle-%s" % machine, base_args("host", smp=2), machine).connect()
    q.cmd("cont")
    check(q.wait_event("RESUME", 10) is not None, "no RESUME event")
    mode = guest_state_after_cont(q)
    if mode == "running":
        # idle vCPUs sleep in KVM_RUN: under 10 % of a core over 2 s
        time.sleep(0.5)
        t0, c0 = time.monotonic(), q.cpu_seconds()
        time.sleep(2.0)
        used = (q.cpu_seconds() - c0) / (time.monotonic() - t0)
        limit = 0.10 if r.args.qemu_user is None else 0.25
        check(used < limit, "QEMU used %.0f %% of a core while its vCPUs idled" % (used * 100))
        idle = "idle %.1f %% of a core" % (used * 100)
    else:
        idle = "the BIOS ended in its disabled wait"
    q.cmd("inject-nmi")
    q.cmd("stop")
    check(q.wait_event("STOP", 10) is not None, "no STOP event")
    check(q.status() == "paused", "status %s after stop" % q.status())
    q.cmd("system_reset")
    check(q.wait_event("RESET", 10) is not None, "no RESET event")
    q.cmd("cont")
    check(q.wait_event("RESUME", 10) is not None, "no RESUME event after reset")
    guest_state_after_cont(q)
    q.cmd("system_powerdown")
    check(q.wait_event("POWERDOWN", 10) is not None, "no POWERDOWN event")
    # no guest handles the signal-quiesce: QEMU stays up and answers
    check(q.status() in ("running", "guest-panicked"), "status %s after powerdown" % q.status())
    cpus = q.cmd("query-cpus-fast")
    check(len(cpus) == 2, "%d CPUs after reset" % len(cpus))
    rc = q.quit()
    check(rc == 0, "quit: exit status %s" % rc)
    no_warnings(q)
    return "after cont: %s; %s" % (mode, idle)


def sc_hotplug(r, machine):
    """Hot-plug and unplug of a virtio-ccw device."""
    q = r.qemu("hotplug-%s" % machine, base_args("host"), machine).connect()
    q.cmd("cont")
    guest_state_after_cont(q)
    q.cmd("object-add", **{"qom-type": "rng-random", "id": "rng0", "filename": "/dev/urandom"})
    q.cmd("device_add", driver="virtio-rng-ccw", id="vrng0", rng="rng0",
          devno="fe.0.0042")
    devs = q.cmd("qom-list", path="/machine/peripheral")
    check(any(d["name"] == "vrng0" for d in devs), "vrng0 not in /machine/peripheral")
    out = q.hmp("info qtree")
    check("virtio-rng-ccw" in out and "0042" in out, "virtio-rng-ccw not in the qtree")
    q.cmd("device_del", id="vrng0")
    ev = q.wait_event("DEVICE_DELETED", 10, lambda d: d.get("device") == "vrng0")
    check(ev is not None, "no DEVICE_DELETED for vrng0")
    devs = q.cmd("qom-list", path="/machine/peripheral")
    check(not any(d["name"] == "vrng0" for d in devs), "vrng0 still present")
    # and again, on the same device number
    q.cmd("device_add", driver="virtio-rng-ccw", id="vrng1", rng="rng0", devno="fe.0.0042")
    q.cmd("device_del", id="vrng1")
    check(q.wait_event("DEVICE_DELETED", 10, lambda d: d.get("device") == "vrng1") is not None,
          "no DEVICE_DELETED for vrng1")
    q.quit()
    no_warnings(q)


def write_file(r, name, data):
    path = os.path.join(r.workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def migration_args(r, data_path):
    prog = write_file(r, "program.bin", PROGRAM)
    psw = write_file(r, "restart-psw.bin", RESTART_NEW_PSW)
    return base_args("host", smp=2) + [
        "-device", "loader,file=%s,addr=0x%x,force-raw=on" % (prog, PROGRAM_ADDR),
        "-device", "loader,file=%s,addr=0x1a0,force-raw=on" % psw,
        "-device", "loader,file=%s,addr=0x%x,force-raw=on" % (data_path, DATA_ADDR),
    ]


def skeys(q):
    out = {}
    for addr in KEY_PAGES:
        text = q.hmp("info skeys 0x%x" % addr).strip()
        out[addr] = text
    return out


def cmma(q):
    return q.hmp("info cmma 0x%x 4" % CMMA_PAGES).strip()


def sc_migrate(r, machine, transport):
    """Migration to a file or a socket into a second QEMU started with -incoming: guest memory,
    storage keys, CMMA states and a pending interrupt arrive intact."""
    rnd = random.Random(0x5390 + len(transport))
    data = bytes(rnd.getrandbits(8) for _ in range(DATA_LEN))
    data_path = write_file(r, "data-%s.bin" % transport, data)
    args = migration_args(r, data_path)
    src = r.qemu("migrate-%s-%s-src" % (transport, machine), args, machine).connect()
    check(src.pmem(DATA_ADDR, DATA_LEN) == data, "the loader's data is not in guest memory")
    # A restart interrupt enters the program (restart new PSW at 0x1a0)
    src.cmd("inject-nmi")
    src.cmd("cont")
    mode = guest_state_after_cont(src, timeout=10)
    counter = int.from_bytes(src.pmem(COUNTER_ADDR, 4), "big")
    guest_code = counter > 0
    if guest_code:
        check(mode == "guest-panicked", "the program ran but status %s" % mode)
        check(counter == 1, "the program ran %d times" % counter)
    old_psw_src = src.pmem(RESTART_OLD_PSW_ADDR, 16)
    check(old_psw_src != bytes(16), "the restart interrupt was not delivered (old PSW zero)")
    if mode == "running":
        src.cmd("stop")
        check(src.wait_event("STOP", 10) is not None, "no STOP event")
    # A second restart, pending while the VM is stopped: it must travel with the vCPU state.
    src.cmd("inject-nmi")
    keys_src, cmma_src = skeys(src), cmma(src)
    mem_src = src.pmem(0, 8 << 20)
    if guest_code:
        for addr, key in KEY_PAGES.items():
            check("key: 0x%X" % key in keys_src[addr], "key at 0x%x: %s" % (addr, keys_src[addr]))
        check("Error" not in cmma_src, "info cmma: %s" % cmma_src)
    if transport == "file":
        path = os.path.join(r.workdir, "migration-%s.state" % machine)
        uri = "file:" + path
        incoming = uri
    else:
        path = os.path.join(r.workdir, "migration-%s.sock" % machine)
        uri = "unix:" + path
        incoming = uri
        dst = r.qemu("migrate-%s-%s-dst" % (transport, machine), args + ["-incoming", incoming],
                     machine).connect()
    src.cmd("migrate", uri=uri)
    deadline = time.monotonic() + r.cmd_timeout * 2
    while True:
        st = src.cmd("query-migrate").get("status")
        if st == "completed":
            break
        check(st not in ("failed", "cancelled"), "source migration %s: %s"
              % (st, src.cmd("query-migrate").get("error-desc")))
        check(time.monotonic() < deadline, "migration still %s" % st)
        time.sleep(0.1)
    src.quit()
    no_warnings(src)
    if transport == "file":
        dst = r.qemu("migrate-%s-%s-dst" % (transport, machine), args + ["-incoming", incoming],
                     machine).connect()
    deadline = time.monotonic() + r.cmd_timeout * 2
    while True:
        st = dst.cmd("query-migrate").get("status")
        if st == "completed" and dst.status() in ("paused", "postmigrate", "guest-panicked"):
            break
        check(st not in ("failed",), "destination migration failed: %s"
              % dst.cmd("query-migrate").get("error-desc"))
        check(time.monotonic() < deadline, "incoming migration still %s (%s)"
              % (st, dst.status()))
        time.sleep(0.1)
    check(dst.pmem(DATA_ADDR, DATA_LEN) == data, "guest data differs after migration")
    mem_dst = dst.pmem(0, 8 << 20)
    check(mem_dst == mem_src, "guest memory (first 8 MiB) differs after migration")
    keys_dst, cmma_dst = skeys(dst), cmma(dst)
    check(keys_dst == keys_src, "storage keys: source %s, destination %s" % (keys_src, keys_dst))
    check(cmma_dst == cmma_src, "CMMA: source %r, destination %r" % (cmma_src, cmma_dst))
    # The pending restart is delivered on the destination at its first KVM_RUN: the restart
    # old PSW changes (and with guest code, the program runs a second time).
    dst.cmd("cont")
    dmode = guest_state_after_cont(dst, timeout=10)
    old_psw_dst = dst.pmem(RESTART_OLD_PSW_ADDR, 16)
    if guest_code:
        counter = int.from_bytes(dst.pmem(COUNTER_ADDR, 4), "big")
        check(counter == 2, "the pending restart did not arrive: the program ran %d times"
              % counter)
        check(dmode == "guest-panicked", "destination status %s" % dmode)
    else:
        check(old_psw_dst != old_psw_src, "the pending restart did not arrive (restart old "
              "PSW unchanged on the destination)")
        check(old_psw_dst == RESTART_NEW_PSW, "restart old PSW %s, want the PSW the first "
              "restart loaded" % old_psw_dst.hex())
    dst.quit()
    no_warnings(dst)
    if guest_code:
        return "strict: guest code ran (keys, CMMA, counter checked)"
    return ("memory, pending restart; keys/CMMA alike on both sides (no guest code runs yet: "
            "keys %s, CMMA %s)" % (list(keys_src.values())[0].splitlines()[-1].strip(),
                                   cmma_src.splitlines()[-1].strip() if cmma_src else "-"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qemu", required=True, help="qemu-system-s390x")
    ap.add_argument("--firmware", required=True, help="directory with s390-ccw.img (-L)")
    ap.add_argument("--shim", required=True, help="libkvm_s390_shim.so to preload")
    ap.add_argument("--qemu-user", help="run an s390x QEMU under this qemu-user binary")
    ap.add_argument("--sysroot", help="the s390x sysroot for --qemu-user")
    ap.add_argument("--machines", default="z14,z15,z16")
    ap.add_argument("--only", help="run the scenarios whose name matches this regex")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.qemu_user and not args.sysroot:
        ap.error("--qemu-user needs --sysroot")
    r = Runner(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    machines = args.machines.split(",")
    for m in machines:
        prof = PROFILES[m]
        for cpu in ["host", "max"] + prof["models"]:
            r.run("start %s -cpu %s" % (m, cpu), sc_start, r, m, cpu)
        for cpu in prof["too_new"]:
            r.run("refuse %s -cpu %s" % (m, cpu), sc_too_new, r, m, cpu)
        r.run("cpu models %s" % m, sc_models, r, m)
    last = machines[-1]
    r.run("query-cpus-fast -smp 4 (%s)" % last, sc_cpus, r, last)
    r.run("lifecycle (%s)" % last, sc_lifecycle, r, last)
    r.run("hot-plug virtio-ccw (%s)" % last, sc_hotplug, r, last)
    r.run("migrate to a file (%s)" % last, sc_migrate, r, last, "file")
    r.run("migrate into -incoming (%s)" % last, sc_migrate, r, last, "socket")
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
