"""One ``flwr`` CLI process for a launcher's many CLI calls (run as ``python -m`` this module).

Every ``flwr`` command is a fresh Python process that imports Flower's whole CLI (~100 MB RSS, several
CPU-seconds: ``python -c "import flwr.cli.app"``); a launcher's start-up makes eight or more of them
(``ls`` until the SuperLink answers, one ``supernode register`` per hospital, ``supernode list``, ``run``).
This worker imports the CLI once and runs the commands it is sent, one at a time, with Flower's own
``flwr`` entry point (``flwr.cli.app.app``, exactly what the ``flwr`` script calls), in the same
environment (``FLWR_HOME``, connection file, certificates) as the one-shot processes.

Protocol: one JSON list of arguments per line on stdin (``["ls", "ppml-local", "--format", "json"]``);
one JSON object per line on the reply descriptor: ``{"rc": int, "stdout": str, "stderr": str}``. A
command's output is captured at the file-descriptor level (Flower prints JSON to ``sys.__stdout__``).
The worker exits at end of input.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback


def _run_one(app, argv: list[str]) -> int:
    import click

    sys.argv = ["flwr", *argv]  # Flower's CLI reads sys.argv (e.g. whether JSON output was asked for)
    try:
        res = app(args=argv, prog_name="flwr", standalone_mode=False)
        return res if isinstance(res, int) else 0
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.exceptions.Abort:
        return 1
    except Exception:  # noqa: BLE001 - reported like the one-shot CLI's traceback, the worker goes on
        traceback.print_exc()
        return 1


def main() -> int:
    """Serve ``flwr`` commands read from stdin until it closes (the protocol above)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    from flwr.cli.app import app

    for line in sys.stdin:
        if not line.strip():
            continue
        argv = [str(a) for a in json.loads(line)]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                rc = _run_one(app, argv)
            finally:
                for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                    if stream is None:  # sys.__stdout__ is None when Python started without a stdout
                        continue
                    try:
                        stream.flush()
                    except Exception:  # noqa: BLE001, S110 - a closed capture stream
                        pass
                sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # undo Flower's redirect_output
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            out.seek(0)
            err.seek(0)
            reply.write(json.dumps({"rc": rc, "stdout": out.read().decode("utf-8", "replace"),
                                    "stderr": err.read().decode("utf-8", "replace")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
