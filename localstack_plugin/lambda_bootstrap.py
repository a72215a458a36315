"""The first code a runtime process runs: AWS's execution environment, then awslambdaric.

Run by the runtime's own interpreter (Python 3.9-3.13, standard library only, nothing of this project) as
``python -u -c <this file's source> <settings JSON> <handler>``. It is passed as source, not as a path,
so it works wherever the checkout lives (``/tmp`` included) and costs no extra interpreter start: the
sandbox is set up with direct system calls in the interpreter that then runs the handler (spawning
``unshare``/``mount`` binaries cost 50-90 ms per cold start, a ``preexec_fn`` in LocalStack's process
about 100 ms).

With ``isolate`` set (:mod:`.sandbox` decides once whether the OS allows it) the process

1. enters new mount and PID namespaces (plus a user namespace when not root, mapping uid 993 / gid 990,
   as Lambda's ``sbx_user1051``, to the caller's own ids);
2. forks: the child is PID 1 of the new PID namespace; the parent stays outside only to relay the
   child's exit status (killed with SIGKILL, it takes the child with it: ``PR_SET_PDEATHSIG``);
3. the child opens everything the runtime needs (code, runtime packages, interpreter, layers) *before*
   hiding anything, then builds a new root on a tmpfs: the host's top-level folders bound in,
   ``/var/task`` (code), ``/var/runtime`` (the runtime's packages), ``/var/lang`` (the interpreter's
   prefix), ``/opt`` (layers), a few ``/dev`` nodes; makes all of it read-only, mounts a size-limited
   tmpfs on ``/tmp`` and its own ``/proc`` (while the host's is still visible: a user namespace may only
   mount a proc it could already see), and pivots into it; the old root is detached, so nothing under
   the host's ``/tmp`` stays reachable;
4. drops to uid 993 with no capabilities (``setresuid`` as root; ``capset`` to nothing in the user
   namespace) and ``no_new_privs``, so it cannot unmount, remount or regain anything.

Then, sandboxed or not: AWS's resource limits, ``AWS_LAMBDA_EXEC_WRAPPER`` exec'd as AWS's bootstrap
does (missing: exit status 127, not executable: 126, the shell's codes), AWS's ``sys.path``, error log
lines joined with ``\\n`` (AWS's telemetry log sink keeps a multi-line error as one event; awslambdaric's
local sink joins them with ``\\r``), and awslambdaric.
"""

import contextlib
import json
import os
import sys

SBX_UID, SBX_GID = 993, 990
# AWS's limits, as a function reads them with resource.getrlimit (recorded on AWS: LocalStack's
# tests/aws/services/lambda_/test_lambda.snapshot.json, TestLambdaBehavior::test_runtime_ulimits).
# RLIMIT_NPROC (742 on AWS) is per host user here, shared by every environment: not set.
RLIMITS = {"RLIMIT_NOFILE": (1024, 1024), "RLIMIT_MEMLOCK": (65536, 65536)}
_SKIP_TOP = {"tmp", "var", "opt", "proc", "dev", "lost+found"}
_DEV_NODES = ("null", "zero", "full", "random", "urandom")


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result, what):
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, "local Lambda sandbox: " + what + ": " + os.strerror(errno))

    def mount(source, target, fstype, flags, data=None):
        enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
        check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), "mount " + str(target))

    return ctypes, libc, check, mount


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _read_only(ctypes, libc, check, mount, root):
    """Every mount under ``root`` read-only (mount_setattr, else one remount per mount)."""

    class MountAttr(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in ("attr_set", "attr_clr", "propagation", "userns_fd")]  # noqa: RUF012

    nr = 442  # mount_setattr: the same number on x86_64 and aarch64
    attr = MountAttr(1, 0, 0, 0)  # MOUNT_ATTR_RDONLY
    libc.syscall.restype = ctypes.c_long
    args = (ctypes.c_long(nr), ctypes.c_int(-100), root.encode(), ctypes.c_uint(0x8000))
    if libc.syscall(*args, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))) == 0:
        return
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4] for line in info]
    for point in [p for p in points if p == root or p.startswith(root + "/")]:
        st = os.statvfs(point).f_flag
        kept = st & (0x2 | 0x4 | 0x8 | 0x400 | 0x800) | (0x200000 if st & 0x1000 else 0)
        mount(None, point, None, 0x1000 | 0x20 | 0x1 | kept)  # MS_BIND | MS_REMOUNT | MS_RDONLY


def _isolate(cfg):
    """Steps 1-4 of the module doc; returns in the child only."""
    ctypes, libc, check, mount = _libc()
    uid, gid, root = os.getuid(), os.getgid(), os.geteuid() == 0
    top = sorted(os.listdir("/"))
    check(libc.unshare(0x00020000 | 0x20000000 | (0 if root else 0x10000000)), "unshare")
    if not root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{SBX_UID} {uid} 1")
        _write("/proc/self/gid_map", f"{SBX_GID} {gid} 1")
    # PID 1 of the new PID namespace must mount its /proc, and (in a user namespace) while the host's
    # /proc is still visible: fork first, the parent only relays the exit status.
    child = os.fork()
    if child:
        _relay(child)
    check(libc.prctl(1, 9, 0, 0, 0), "PR_SET_PDEATHSIG")  # die with the parent (SIGKILL)
    mount(None, "/", None, 0x4000 | 0x40000)  # MS_REC | MS_PRIVATE
    # Open every source now (in the new mount namespace: a bind's source must be of it), before the new
    # root hides the host's /tmp, where any of them may live.
    fds = {target: os.open(src, os.O_RDONLY | os.O_DIRECTORY) for target, src in cfg["binds"]}
    layers = [os.open(src, os.O_RDONLY | os.O_DIRECTORY) for src in cfg["layers"]]
    new = "/tmp"  # the staging point: hidden with the rest of the old root after the pivot
    mount("tmpfs", new, "tmpfs", 0x2 | 0x4, "size=64k,mode=755")
    for name in top:
        path = "/" + name
        if name in _SKIP_TOP or not os.path.lexists(path):
            continue
        if os.path.islink(path):
            os.symlink(os.readlink(path), new + path)
        elif os.path.isdir(path):
            os.mkdir(new + path)
            mount(path, new + path, None, 0x1000 | 0x4000)  # MS_BIND | MS_REC
    for folder in ("/var", "/dev", "/opt"):
        os.mkdir(new + folder)
    mount("tmpfs", new + "/var", "tmpfs", 0x2 | 0x4, "size=64k,mode=755")
    mount("tmpfs", new + "/dev", "tmpfs", 0x2, "size=64k,mode=755")
    for node in _DEV_NODES:
        open(new + "/dev/" + node, "w").close()
        mount("/dev/" + node, new + "/dev/" + node, None, 0x1000)
    for link, to in (("fd", "/proc/self/fd"), ("stdin", "fd/0"), ("stdout", "fd/1"), ("stderr", "fd/2")):
        os.symlink(to, new + "/dev/" + link)
    for target, fd in fds.items():
        os.makedirs(new + target, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", new + target, None, 0x1000 | 0x4000)
    if len(layers) == 1:
        mount(f"/proc/self/fd/{layers[0]}", new + "/opt", None, 0x1000 | 0x4000)
    elif layers:  # later layers win, as AWS extracts them in order: overlay's first lowerdir is the top
        lower = ":".join(f"/proc/self/fd/{fd}" for fd in reversed(layers))
        mount("overlay", new + "/opt", "overlay", 0x1, "lowerdir=" + lower)
    for folder in ("/tmp", "/proc"):
        os.mkdir(new + folder)
    _read_only(ctypes, libc, check, mount, new)
    options = f"size={int(cfg['mb'])}m,mode=1777"
    mount("tmpfs", new + "/tmp", "tmpfs", 0x2 | 0x4, options)  # after the read-only pass: writable
    mount("proc", new + "/proc", "proc", 0x2 | 0x4 | 0x8)  # this PID namespace's processes only
    for fd in [*fds.values(), *layers]:
        os.close(fd)
    os.chdir(new)
    pivot = {"aarch64": 41}.get(os.uname().machine, 155)
    libc.syscall.restype = ctypes.c_long
    check(libc.syscall(ctypes.c_long(pivot), b".", b"."), "pivot_root")
    check(libc.umount2(b".", 2), "detach the old root")  # MNT_DETACH
    os.chdir("/")
    if root:
        os.setgroups([])
        os.setresgid(SBX_GID, SBX_GID, SBX_GID)
        os.setresuid(SBX_UID, SBX_UID, SBX_UID)  # from root: every capability is gone
    else:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        check(libc.capset(header, (ctypes.c_uint32 * 6)()), "drop capabilities")
    check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def _relay(child):
    """The parent outside the PID namespace: exit as the child did (a signal as that signal)."""
    import signal

    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _limits():
    import resource

    for name, (soft, hard) in RLIMITS.items():
        which = getattr(resource, name)
        old_hard = resource.getrlimit(which)[1]
        if old_hard != resource.RLIM_INFINITY and old_hard < hard:  # cannot raise: keep the host's
            soft, hard = min(soft, old_hard), old_hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (soft, hard))


def _exec_wrapper(cfg, wrapper):
    """``exec "$AWS_LAMBDA_EXEC_WRAPPER" <runtime command>``, as AWS's runtime bootstrap does."""
    stage = dict(cfg, isolate=False, wrapped=True)
    if cfg.get("front") is not None:
        stage["base"] = "/var/lang"  # the wrapper's python runs from the sandbox's paths
    python = cfg.get("python") or sys.executable
    argv = [wrapper, python, "-u", "-c", SOURCE, json.dumps(stage), sys.argv[2]]
    try:
        os.execv(wrapper, argv)
    except OSError as exc:
        # bash's words and codes for `exec <missing>` (127) and `exec <not executable>` (126)
        sys.stderr.write(f"/var/runtime/bootstrap: line 1: {wrapper}: {exc.strerror}\n")
        sys.stderr.flush()
        os._exit(127 if exc.errno == 2 else 126)


def main():
    cfg = json.loads(sys.argv[1])
    if cfg.get("isolate"):
        _isolate(cfg)
    if cfg.get("front") is not None:  # AWS's sys.path: code, layers, runtime, then the standard library
        base, lang = cfg["base"], "/var/lang"
        stdlib = [lang + p[len(base) :] if p.startswith(base) else p for p in sys.path if p.startswith(base)]
        stdlib = [p for p in stdlib if not p.endswith(("site-packages", "dist-packages"))]
        sys.path[:] = cfg["front"] + stdlib
        sys.path_importer_cache.clear()  # PYTHONPATH's /var/runtime was cached as missing at startup
        moves = [(base + "/", lang + "/")] + (
            [(cfg["site"] + "/", "/var/runtime/")] if cfg.get("site") else []
        )
        for module in list(sys.modules.values()):  # packages imported already find submodules here
            search = getattr(module, "__path__", None)
            if isinstance(search, list):
                for i, entry in enumerate(search):
                    for old, to in moves:
                        if (entry + "/").startswith(old):
                            search[i] = to + entry[len(old) :]
        sys.executable = cfg["python"]
        sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = lang
    _limits()
    if cfg.get("cwd"):
        os.chdir(cfg["cwd"])
    wrapper = os.environ.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper and not cfg.get("wrapped"):
        _exec_wrapper(cfg, wrapper)
    handler = sys.argv[2]
    import awslambdaric.bootstrap

    awslambdaric.bootstrap.ERROR_LOG_LINE_TERMINATE = "\n"
    import runpy

    sys.argv = ["awslambdaric", handler]
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)


def _own_source():
    """This very source, to hand on to the wrapper's ``python -c`` (the file may be out of reach)."""
    argv = getattr(sys, "orig_argv", None)
    if argv is None:  # Python 3.9
        with open("/proc/self/cmdline", "rb") as cmdline:
            argv = [a.decode() for a in cmdline.read().split(b"\0")]
    return argv[argv.index("-c") + 1]


if __name__ == "__main__":
    SOURCE = _own_source()
    main()
