#!/usr/bin/env python3
"""QEMU scenarios under the shim: QEMU's s390x-softmmu with -accel kvm, LD_PRELOAD of the shim,
driven through QMP (Python standard library only: a fresh Debian machine has Python 3, and the
scenarios are process choreography — start QEMU, talk JSON over a socket, compare — which needs
no crate and no compiled harness).

    scripts/qemu/scenarios.py --qemu BUILD/qemu-system-s390x --firmware DIR --shim LIB.so
    scripts/qemu/scenarios.py ... --qemu-user DIR/qemu-s390x --sysroot DIR/sysroot   # s390x QEMU

Each scenario prints `ok`, `FAIL` or `skip` with its name; the last line is
`N passed, N failed, N skipped`, and the exit status is 1 when one failed. Every QEMU runs with
the shim's trace, and every scenario also checks that QEMU printed nothing on stderr and that no
KVM call failed beyond EXPECTED_FAILURES.

Guest code: until the shim runs z/Architecture instructions in KVM_RUN, `cont` leaves the vCPUs
waiting for interrupts (the shim delivers pending interrupts into the lowcore and sleeps). The
guests are raw IPL images (-kernel), so most scenarios hold either way: an enabled wait idles
with or without a CPU. A probe runs PROGRAM (SSKE, ESSA, a counter, an enabled wait) and
records whether guest code runs; the BIOS scenario then expects `running` (no guest code) or the
BIOS's disabled wait with no boot device (GUEST_PANICKED, paused: `-action panic=pause`, set
explicitly), and the migration scenarios are strict about storage keys, CMMA states and the
counter when it does (before that they check what QEMU and the shim already move: guest memory,
a pending restart interrupt, and keys/CMMA reported alike on both sides).
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

# The guests are raw IPL images given with -kernel: QEMU loads them at 0 and, as the image is
# neither ELF nor Linux, starts the IPL CPU at the address of the short IPL PSW in bytes 4-7
# (0x10000) in 64-bit mode, without the BIOS. The restart new PSW at 0x1a0 is part of the image.
#
# PROGRAM (assembled with s390x-linux-gnu-as -march=z10):
#   lghi  %r1,0x30; llilf %r2,0x200000; sske %r1,%r2      key 0x30 on the page at 2 MiB
#   lghi  %r1,0x50; llilf %r2,0x201000; sske %r1,%r2      key 0x50 on the next page
#   llilf %r2,0x300000; essa %r1,%r2,2                     page at 3 MiB: set unused
#   llilf %r2,0x301000; essa %r1,%r2,4                     next page: set potentially volatile
#   ly %r3,0x3000; ahi %r3,1; sty %r3,0x3000               count the runs at 0x3000
#   larl %r4,wait; lpswe 0(%r4)                            enabled wait (I/O, external, machine
#                                                          check; none can arrive), at 0xdea0
# and a restart interrupt enters it again (restart new PSW -> 0x10000, 64-bit, disabled). An
# enabled wait, not a disabled one: QEMU halts a vCPU in a disabled wait and does not run it
# again for a restart interrupt (on real KVM too), so a pending restart would never show.
PROGRAM = bytes.fromhex(
    "a7190030c02f00200000b22b0012a7190050c02f00201000b22b0012c02f00300000b9ab2012"
    "c02f00301000b9ab4012e33000000358a73a0001e33000000350c04000000008b2b24000"
    "070707070707" "0306000180000000000000000000dea0")
# WAIT: larl %r1,w; lpswe 0(%r1) with w = an enabled wait (I/O, external, machine check), the
# restart new PSW the same: the guest idles whatever is injected.
ENABLED_WAIT_PSW = bytes.fromhex("03060001800000000000000000010000")
WAIT = bytes.fromhex("c01000000008b2b21000070707070707") + ENABLED_WAIT_PSW
PROGRAM_ADDR = 0x10000
RESTART_NEW_PSW = (0x0000000180000000).to_bytes(8, "big") + PROGRAM_ADDR.to_bytes(8, "big")


# A program interruption ends in a disabled wait at 0xbad0 (program new PSW at 0x1d0): its code
# is at 0x8e, the old PSW at 0x150. (PSW addresses are even: an odd one is a specification
# exception.) QEMU reports that wait as GUEST_PANICKED.
PROGRAM_WAIT_ADDR = 0xDEA0
PGM_WAIT_ADDR = 0xBAD0


def ipl_image(code, restart_new_psw):
    img = bytearray(PROGRAM_ADDR + len(code))
    img[0:8] = bytes.fromhex("0008000080010000")  # short IPL PSW, address 0x10000
    img[0x1a0:0x1b0] = restart_new_psw
    img[0x1d0:0x1e0] = bytes.fromhex("0002000180000000") + PGM_WAIT_ADDR.to_bytes(8, "big")
    img[PROGRAM_ADDR:] = code
    return bytes(img)


RESTART_OLD_PSW_ADDR = 0x120
COUNTER_ADDR = 0x3000
DATA_ADDR = 0x400000
DATA_LEN = 256 * 1024
KEY_PAGES = {0x200000: 0x30, 0x201000: 0x50}
CMMA_PAGES = 0x300000

# The KVM calls that may fail while QEMU runs: a vCPU kicked out of KVM_RUN (EINTR, as on the
# kernel). Any other failure is a defect of the shim or of QEMU (the unpatched x86_64 build's
# FLIC probe passes its attribute by value: EFAULT, on the kernel too; patch 0004).
EXPECTED_FAILURES = {("KVM_RUN", "EINTR")}
TRACE_LINE = re.compile(r"\] (\w+) (\d+) (KVM_\w+).* = -1 (E\w+)")


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
        self.trace_path = os.path.join(self.dir, "kvm-trace.log")
        env = runner.env(dict({"KVM_S390_SHIM_LOG": "warn,kvm_s390_shim::trace=trace",
                               "KVM_S390_SHIM_LOG_FILE": self.trace_path}, **(extra_env or {})))
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
        self.guest_code = None  # set by the probe scenario
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

    def qemu(self, name, args, machine):
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


def kvm_trace(q):
    """The number of KVM calls in the shim's trace of this QEMU, and the unexpected failures
    and the shim's own warnings."""
    calls = 0
    bad = {}
    try:
        f = open(q.trace_path, errors="replace")
    except OSError:
        return 0, {}
    with f:
        for line in f:
            if " TRACE " not in line:
                if " WARN " in line or " ERROR " in line:
                    bad[line.strip()[:200]] = bad.get(line.strip()[:200], 0) + 1
                continue
            calls += 1
            m = TRACE_LINE.search(line)
            if m and (m.group(3), m.group(4)) not in EXPECTED_FAILURES:
                key = "%s %s %s" % (m.group(1), m.group(3), m.group(4))
                bad[key] = bad.get(key, 0) + 1
    return calls, bad


def no_warnings(q):
    """Nothing on QEMU's stderr, and no KVM call failed beyond EXPECTED_FAILURES."""
    err = q.stderr().strip()
    check(err == "", "stderr not empty: %s" % err[:2000])
    calls, bad = kvm_trace(q)
    check(calls > 0, "no KVM call traced (is the shim preloaded?)")
    check(not bad, "KVM calls that failed, or the shim's warnings: %s" % bad)
    return calls


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


def wait_args(r, smp=1):
    img = write_file(r, "wait.img", ipl_image(WAIT, ENABLED_WAIT_PSW))
    return base_args("host", smp=smp) + ["-kernel", img]


def idle_share(q):
    """The share of a core QEMU uses over 2 s."""
    time.sleep(0.5)
    t0, c0 = time.monotonic(), q.cpu_seconds()
    time.sleep(2.0)
    return (q.cpu_seconds() - c0) / (time.monotonic() - t0)


def sc_lifecycle(r, machine):
    """cont, stop, system_reset, inject-nmi, system_powerdown with a guest in an enabled wait
    (or, without guest code, vCPUs waiting for interrupts): running throughout, and the vCPUs
    idle in KVM_RUN under 10 % of a core over 2 s."""
    q = r.qemu("lifecycle-%s" % machine, wait_args(r, smp=2), machine).connect()
    q.cmd("cont")
    check(q.wait_event("RESUME", 10) is not None, "no RESUME event")
    check(q.wait_event("GUEST_PANICKED", 1) is None, "guest panicked in an enabled wait")
    check(q.status() == "running", "status %s after cont" % q.status())
    used = idle_share(q)
    check(used < 0.10, "QEMU used %.0f %% of a core while its vCPUs idled" % (used * 100))
    q.cmd("inject-nmi")  # a restart: the restart new PSW is the same enabled wait
    check(q.wait_event("GUEST_PANICKED", 1) is None, "guest panicked after inject-nmi")
    check(q.status() == "running", "status %s after inject-nmi" % q.status())
    q.cmd("stop")
    check(q.wait_event("STOP", 10) is not None, "no STOP event")
    check(q.status() == "paused", "status %s after stop" % q.status())
    q.cmd("system_reset")
    check(q.wait_event("RESET", 10) is not None, "no RESET event")
    q.cmd("cont")
    check(q.wait_event("RESUME", 10) is not None, "no RESUME event after reset")
    check(q.wait_event("GUEST_PANICKED", 1) is None, "guest panicked after reset")
    q.cmd("system_powerdown")
    check(q.wait_event("POWERDOWN", 10) is not None, "no POWERDOWN event")
    # no guest answers the signal-quiesce: QEMU stays up and answers
    check(q.status() == "running", "status %s after powerdown" % q.status())
    used2 = idle_share(q)
    check(used2 < 0.10, "QEMU used %.0f %% of a core after reset" % (used2 * 100))
    check(len(q.cmd("query-cpus-fast")) == 2, "CPUs lost after reset")
    rc = q.quit()
    check(rc == 0, "quit: exit status %s" % rc)
    no_warnings(q)
    return "idle %.1f %% / %.1f %% of a core" % (used * 100, used2 * 100)


def wait_counter(q, want, timeout):
    """Polls the program's run counter until it is `want` (or the timeout); fails on a program
    interruption."""
    deadline = time.monotonic() + timeout
    while True:
        ev = q.wait_event("GUEST_PANICKED", 0.1)
        if ev is not None:
            pgm_check(q, ev)
            raise Failure("GUEST_PANICKED: %s" % ev["data"].get("info"))
        counter = int.from_bytes(q.pmem(COUNTER_ADDR, 4), "big")
        if counter >= want or time.monotonic() > deadline:
            return counter


def sc_probe(r, machine):
    """Does guest code run? PROGRAM as the IPL image: with guest code it counts to 1 at 0x3000
    and ends in an enabled wait; without, the vCPU waits in KVM_RUN at the IPL PSW."""
    img = write_file(r, "program.img", ipl_image(PROGRAM, RESTART_NEW_PSW))
    q = r.qemu("probe-%s" % machine, base_args("host") + ["-kernel", img], machine).connect()
    q.cmd("cont")
    counter = wait_counter(q, 1, 3)
    st = q.status()
    check(st == "running", "status %s" % st)
    check(counter in (0, 1), "the program ran %d times" % counter)
    r.guest_code = counter == 1
    if r.guest_code:
        used = idle_share(q)
        check(used < 0.10, "the enabled wait used %.0f %% of a core" % (used * 100))
    q.quit()
    no_warnings(q)
    if r.guest_code:
        return "yes: the program ran and waits enabled, idle %.1f %%" % (used * 100)
    return "no: the vCPU waits in KVM_RUN (the strict checks below stay off)"


def pgm_check(q, ev):
    """Fails with the interruption code when the guest's disabled wait is the program-check
    one."""
    info = ev["data"].get("info", {})
    if info.get("psw-addr") == PGM_WAIT_ADDR:
        code = int.from_bytes(q.pmem(0x8c, 4), "big") & 0xFFFF
        old = q.pmem(0x150, 16)
        raise Failure("program interruption 0x%04x, old PSW %s %s"
                      % (code, old[:8].hex(), old[8:].hex()))


def sc_bios(r, machine):
    """cont with the s390-ccw BIOS and no boot device. Without guest code: running. With guest
    code: the BIOS finds nothing to boot and ends in a disabled wait: GUEST_PANICKED, paused."""
    if r.guest_code is None:
        raise Skip("the probe did not run")
    q = r.qemu("bios-%s" % machine, base_args("host"), machine).connect()
    q.cmd("cont")
    if r.guest_code:
        ev = q.wait_event("GUEST_PANICKED", 120)
        check(ev is not None, "the BIOS did not end in a disabled wait (status %s)" % q.status())
        check(q.status() == "guest-panicked", "status %s" % q.status())
        q.quit()
        no_warnings(q)
        with open(q.console_path, errors="replace") as f:
            return "disabled wait; console: %s" % f.read().strip().splitlines()[-1:]
    check(q.wait_event("GUEST_PANICKED", 2) is None, "GUEST_PANICKED without guest code")
    check(q.status() == "running", "status %s" % q.status())
    q.quit()
    no_warnings(q)
    return "running (no guest code)"


def sc_hotplug(r, machine):
    """Hot-plug and unplug of a virtio-ccw device."""
    q = r.qemu("hotplug-%s" % machine, wait_args(r), machine).connect()
    q.cmd("cont")
    check(q.status() == "running", "status %s after cont" % q.status())
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




def sc_trace(r, machine):
    """Every KVM call QEMU makes through start, cont, hot-plug, reset and stop succeeds, beyond
    EXPECTED_FAILURES (the shim's trace; every scenario checks this as well)."""
    q = r.qemu("trace-%s" % machine, wait_args(r, smp=2), machine).connect()
    q.cmd("cont")
    check(q.status() == "running", "status %s after cont" % q.status())
    q.cmd("device_add", driver="virtio-rng-ccw", id="vrng0")
    q.cmd("system_reset")
    q.cmd("stop")
    q.cmd("device_del", id="vrng0")
    q.wait_event("DEVICE_DELETED", 10, lambda d: d.get("device") == "vrng0")
    q.quit()
    calls = no_warnings(q)
    check(calls > 100, "only %d KVM calls traced" % calls)
    return "%d KVM calls" % calls


def sc_cpu_hotplug(r, machine):
    """Hot-plug of a vCPU into a running guest (-smp 1,maxcpus=4): KVM_CREATE_VCPU at run time,
    the new CPU stopped until the guest starts it."""
    args = wait_args(r)
    args[args.index("-smp") + 1] = "1,maxcpus=4"
    q = r.qemu("cpu-hotplug-%s" % machine, args, machine).connect()
    q.cmd("cont")
    slots = q.cmd("query-hotpluggable-cpus")
    check(len(slots) == 4, "%d hot-pluggable slots" % len(slots))
    q.cmd("device_add", driver="host-s390x-cpu", id="cpu2", **{"core-id": 2})
    cpus = q.cmd("query-cpus-fast")
    got = [(c["cpu-index"], c["props"]["core-id"], c.get("cpu-state")) for c in cpus]
    check(got == [(0, 0, "operating"), (2, 2, "stopped")], "CPUs %s" % got)
    check(q.status() == "running", "status %s" % q.status())
    q.quit()
    no_warnings(q)


def sc_stats(r, machine):
    """query-stats reads the binary stats files (KVM_GET_STATS_FD): after inject-nmi a vCPU
    counts the restart injected and delivered."""
    q = r.qemu("stats-%s" % machine, wait_args(r, smp=2), machine).connect()
    q.cmd("cont")
    q.cmd("inject-nmi")
    deadline = time.monotonic() + 5
    while True:
        vcpus = q.cmd("query-stats", target="vcpu")
        vals = [{s["name"]: s["value"] for s in v["stats"]} for v in vcpus]
        if any(v.get("deliver_restart_signal", 0) >= 1 for v in vals) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(len(vals) == 2, "stats of %d vCPUs" % len(vals))
    check(any(v.get("inject_restart", 0) >= 1 and v.get("deliver_restart_signal", 0) >= 1
              for v in vals), "no vCPU counts the restart: %s"
          % [{k: v.get(k) for k in ("inject_restart", "deliver_restart_signal")} for v in vals])
    vm = q.cmd("query-stats", target="vm")
    check(vm and vm[0]["provider"] == "kvm" and len(vm[0]["stats"]) > 10, "VM stats %s" % vm)
    q.quit()
    no_warnings(q)
    return "%d vCPU and %d VM stats" % (len(vcpus[0]["stats"]), len(vm[0]["stats"]))


def write_file(r, name, data):
    path = os.path.join(r.workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def migration_args(r, data_path):
    img = write_file(r, "program.img", ipl_image(PROGRAM, RESTART_NEW_PSW))
    return base_args("host", smp=2) + [
        "-kernel", img,
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


def wait_migrated(q, who, timeout):
    deadline = time.monotonic() + timeout
    while True:
        info = q.cmd("query-migrate")
        st = info.get("status")
        if st == "completed":
            return
        check(st not in ("failed", "cancelled"), "%s: migration %s: %s"
              % (who, st, info.get("error-desc")))
        check(time.monotonic() < deadline, "%s: migration still %s" % (who, st))
        time.sleep(0.1)


def sc_migrate(r, machine, transport):
    """Migration to a file, or through a socket into a QEMU started with -incoming: guest
    memory, storage keys, CMMA states and a pending restart interrupt arrive intact."""
    if r.guest_code is None:
        raise Skip("the probe did not run")
    rnd = random.Random(0x5390 + len(transport))
    data = bytes(rnd.getrandbits(8) for _ in range(DATA_LEN))
    data_path = write_file(r, "data-%s.bin" % transport, data)
    args = migration_args(r, data_path)
    src = r.qemu("migrate-%s-%s-src" % (transport, machine), args, machine).connect()
    check(src.pmem(DATA_ADDR, DATA_LEN) == data, "the loader's data is not in guest memory")
    src.cmd("cont")
    counter = wait_counter(src, 1, 10 if r.guest_code else 1)
    check(counter == (1 if r.guest_code else 0), "the program ran %d times on the source" % counter)
    check(src.status() == "running", "source status %s" % src.status())
    src.cmd("stop")
    check(src.wait_event("STOP", 10) is not None, "no STOP event")
    check(src.pmem(RESTART_OLD_PSW_ADDR, 16) == bytes(16), "a restart was delivered already")
    # A restart interrupt made pending while the vCPUs are out of KVM_RUN: it travels with the
    # vCPU state (KVM_S390_GET/SET_IRQ_STATE) and is delivered at the destination's first run.
    src.cmd("inject-nmi")
    keys_src, cmma_src = skeys(src), cmma(src)
    mem_src = src.pmem(0, 8 << 20)
    if r.guest_code:
        for addr, key in KEY_PAGES.items():
            check("key: 0x%X" % key in keys_src[addr], "key at 0x%x: %s" % (addr, keys_src[addr]))
        # GET_CMMA_BITS values (PGSTE usage >> 24): unused 0x01, potentially volatile 0x02
        check(cmma_src.split()[-1] == "01020000", "info cmma: %s" % cmma_src)
    else:
        # the guest never ran SSKE or ESSA: the kernel reports no keys and no CMMA pages
        check(all("not using storage keys" in k for k in keys_src.values()), "keys %s" % keys_src)
        check("+0 " in cmma_src, "CMMA pages reported without ESSA: %s" % cmma_src)
    dst_name = "migrate-%s-%s-dst" % (transport, machine)
    if transport == "file":
        uri = "file:" + os.path.join(r.workdir, "migration-%s.state" % machine)
    else:
        uri = "unix:" + os.path.join(r.workdir, "migration-%s.sock" % machine)
        dst = r.qemu(dst_name, args + ["-incoming", uri], machine).connect()
    src.cmd("migrate", uri=uri)
    wait_migrated(src, "source", r.cmd_timeout * 2)
    check(src.status() == "postmigrate", "source status %s" % src.status())
    src.quit()
    no_warnings(src)
    if transport == "file":
        dst = r.qemu(dst_name, args + ["-incoming", uri], machine).connect()
    wait_migrated(dst, "destination", r.cmd_timeout * 2)
    deadline = time.monotonic() + r.cmd_timeout
    while dst.status() == "inmigrate" and time.monotonic() < deadline:
        time.sleep(0.1)
    st = dst.status()
    check(st == "paused", "destination status %s" % st)
    check(dst.pmem(DATA_ADDR, DATA_LEN) == data, "the loaded data differs after migration")
    check(dst.pmem(0, 8 << 20) == mem_src, "guest memory (first 8 MiB) differs after migration")
    keys_dst, cmma_dst = skeys(dst), cmma(dst)
    check(keys_dst == keys_src, "storage keys: source %s, destination %s" % (keys_src, keys_dst))
    check(cmma_dst == cmma_src, "CMMA: source %r, destination %r" % (cmma_src, cmma_dst))
    dst.cmd("cont")
    old = None
    if r.guest_code:
        # the restart enters PROGRAM again: it counts 2 and waits again
        counter = wait_counter(dst, 2, 10)
        check(counter == 2, "the pending restart did not arrive: counter %d" % counter)
        old = dst.pmem(RESTART_OLD_PSW_ADDR, 16)
        check(old[8:] == PROGRAM_WAIT_ADDR.to_bytes(8, "big"),
              "restart old PSW %s, want the enabled wait at 0x%x" % (old.hex(), PROGRAM_WAIT_ADDR))
    else:
        time.sleep(0.5)
        # delivered into the lowcore: the restart old PSW is the PSW the IPL set (0x10000)
        old = dst.pmem(RESTART_OLD_PSW_ADDR, 16)
        check(old[8:] == PROGRAM_ADDR.to_bytes(8, "big"),
              "the pending restart did not arrive: restart old PSW %s" % old.hex())
    check(dst.status() == "running", "destination status %s after cont" % dst.status())
    dst.quit()
    no_warnings(dst)
    if r.guest_code:
        keys = ",".join(k.split("key:")[-1].strip() for k in keys_src.values())
        return ("strict: keys %s, CMMA %s, memory, the pending restart"
                % (keys, " ".join(cmma_src.split())))
    return "memory, the pending restart (no guest code: no keys or CMMA in use, alike on both sides)"


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
    r.run("guest code runs? (%s)" % last, sc_probe, r, last)
    r.run("cont with the BIOS, no boot device (%s)" % last, sc_bios, r, last)
    r.run("lifecycle (%s)" % last, sc_lifecycle, r, last)
    r.run("hot-plug virtio-ccw (%s)" % last, sc_hotplug, r, last)
    r.run("hot-plug a CPU (%s)" % last, sc_cpu_hotplug, r, last)
    r.run("query-stats (%s)" % last, sc_stats, r, last)
    r.run("KVM calls fail only as on the kernel (%s)" % last, sc_trace, r, last)
    r.run("migrate to a file (%s)" % last, sc_migrate, r, last, "file")
    r.run("migrate into -incoming (%s)" % last, sc_migrate, r, last, "socket")
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
