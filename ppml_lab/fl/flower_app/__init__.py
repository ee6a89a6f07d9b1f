"""The committed Flower app of notebook 12 (``flwr new`` needs the network, so the files live here).

``ppml_hospitals/`` holds the ServerApp and ClientApp; ``pyproject.toml`` is what ``flwr run`` reads.
Launch it with :mod:`ppml_lab.fl.deploy`, which signs it for the SuperNodes.
"""

from pathlib import Path

#: Directory to pass to ``flwr run``.
APP_DIR: Path = Path(__file__).resolve().parent
