"""MPyC reference for the secure dot product (run by test_protocols with -M2; not a test module).

Usage: python mpyc_dot.py <inputs.npz> -M2 -B <base_port> --no-log
Party 0 inputs x, party 1 inputs y (MPyC secure types); party 0 prints the opened <x, y>.
"""

import sys

import numpy as np
from mpyc.runtime import mpc


async def main(path: str) -> None:
    data = np.load(path)
    x, y, kind = data["x"], data["y"], str(data["kind"])
    sectype = mpc.SecInt(64) if kind == "int" else mpc.SecFxp(64, 16)
    conv = int if kind == "int" else float
    await mpc.start()
    xs = mpc.input([sectype(conv(v)) for v in x], senders=0)
    ys = mpc.input([sectype(conv(v)) for v in y], senders=1)
    result = await mpc.output(mpc.in_prod(xs, ys))
    if mpc.pid == 0:
        print(f"MPYC_RESULT {result!r}", flush=True)
    await mpc.shutdown()


if __name__ == "__main__":
    mpc.run(main(sys.argv[1]))
