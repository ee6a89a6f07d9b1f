"""Exec shim: tie one program to the launcher's life without a resident process (Linux; stdlib only).

Run as ``python -I -S _pdeathsig_exec.py <launcher_pid> <program> [args...]`` - a script, started with
isolated flags so nothing from site-packages loads. It sets ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (the
kernel kills this process the moment the launcher's spawning thread dies, SIGKILL of the launcher
included; prctl(2)), checks the launcher did not die before the call, and ``exec``s the program, which
keeps the setting (it is cleared only for set-user-ID or file-capability programs, which these are not).

For programs that start no processes of their own - a SuperLink or SuperNode running its apps in-process
(:mod:`ppml_lab.fl.deploy.inprocess`), a ``flwr`` CLI call - this gives the same guarantee as the reaper
(:mod:`ppml_lab.fl.deploy._reaper`) without a Python process (~10 MB RSS) waiting beside each of them.
Programs that do start children (Flower's subprocess isolation) keep the reaper, which also ends those.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main():
    """Set PR_SET_PDEATHSIG, check the launcher is alive, and exec the program (argv as above)."""
    if len(sys.argv) < 3:
        sys.stderr.write("usage: _pdeathsig_exec.py <launcher_pid> <program> [args...]\n")
        return 2
    launcher = int(sys.argv[1])
    argv = sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        sys.stderr.write(f"_pdeathsig_exec: prctl failed (errno {ctypes.get_errno()})\n")
        return 70
    if os.getppid() != launcher:  # the launcher died before prctl: nothing would signal us
        return 128 + int(signal.SIGKILL)
    os.execvp(argv[0], argv)
    return 127  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
