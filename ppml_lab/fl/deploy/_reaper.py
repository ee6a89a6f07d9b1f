"""Exec shim that ties a program's whole process tree to the launcher's life (Linux; stdlib only).

Run as ``python -I -S _reaper.py <launcher_pid> <grace_s> <program> [args...]`` - never imported by the
package at run time (it is a script, started with isolated flags so nothing from site-packages loads).

1. ``prctl(PR_SET_CHILD_SUBREAPER, 1)``: every descendant of this process that loses its parent is
   re-parented to us, not to init - also the ones Flower starts in a new session (SuperExec).
2. ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel signals us the moment the launcher dies, SIGKILL
   included (prctl(2)); we then check the launcher did not die before the call.
3. Fork the program with ``PR_SET_PDEATHSIG = SIGKILL`` (it dies if we do) and wait.
4. On SIGTERM/SIGINT/SIGHUP (a launcher's stop() or its death): SIGTERM the program, wait ``grace_s``,
   then SIGKILL every remaining descendant - found through ``/proc/<pid>/task/*/children`` - and reap
   them all. When the program exits by itself, its leftovers are killed the same way. Exit status = the
   program's (128 + signal number if it was killed by a signal).
"""

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


class _Stop(Exception):
    pass


def _children(pid):
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as fh:
                out += [int(x) for x in fh.read().split()]
        except OSError:
            continue
    return out


def _tree(pid):
    todo, seen = [pid], []
    while todo:
        for c in _children(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


def _reap_all(main_pid, status):
    while True:
        try:
            wpid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if wpid == 0:
            return status
        if wpid == main_pid and status is None:
            status = st


def _kill_tree(main_pid, status, grace):
    me = os.getpid()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        status = _reap_all(main_pid, status)
        if not _tree(me):
            return status
        time.sleep(0.05)
    for _ in range(200):
        pids = _tree(me)
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
        status = _reap_all(main_pid, status)
    return _reap_all(main_pid, status)


def _exit_code(status):
    if status is None:
        return 137
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


def main():
    """Run the program under this reaper (steps 1-4 above); exit with its status."""
    launcher, grace, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        sys.exit(f"prctl failed: errno {ctypes.get_errno()}")
    if os.getppid() != launcher:  # the launcher died before prctl: the signal would never come
        os._exit(137)

    def stop(signum, frame):
        raise _Stop()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != me:
            os._exit(137)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    status = None
    try:
        while status is None:
            wpid, st = os.wait()  # also reaps orphans re-parented to us
            if wpid == pid:
                status = st
        status = _kill_tree(pid, status, 0.0)  # the program ended: its leftovers go too
    except _Stop:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
        status = _kill_tree(pid, status, grace)
    os._exit(_exit_code(status))


if __name__ == "__main__":
    main()
