"""Config files of a federation on separate machines: the coordinator's and each hospital's.

``python -m ppml_lab.fl.deploy superlink --config superlink.toml`` (the coordinator) and
``python -m ppml_lab.fl.deploy supernode --config supernode.toml`` (a hospital) read one file each, TOML
(stdlib :mod:`tomllib`) or JSON. Everything is validated when the file is read, before any process starts:
a bad entry raises :class:`SiteConfigError` naming the file, the ``[section] field``, the bound and the
value; an unknown field (a typo) is refused too, never ignored. Relative paths are relative to the
config file's directory. The runbook (``ppml_lab/fl/deploy/README.md``) shows both files in full.

Threat model note: the coordinator's ``address`` is what every hospital dials *and* what the SuperLink's
TLS certificate must name (its Subject Alternative Name, RFC 5280 Sec. 4.2.1.6); a wildcard bind address
(0.0.0.0, ::) is refused because no certificate can name it and a hospital could not check it.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppml_lab.exceptions import SiteConfigError

__all__ = [
    "SiteConfigError",
    "RunSpec",
    "SuperLinkSiteConfig",
    "SuperNodeSiteConfig",
    "load_superlink_config",
    "load_supernode_config",
    "check_host",
]

_HOST_CHARS = set(string.ascii_letters + string.digits + "-.")


_MISSING = object()


class _Table:
    """One ``[section]`` of a config file, read field by field with bounds; unknown fields are refused."""

    def __init__(self, data: Any, *, file: str, section: str) -> None:
        self.file, self.section = file, section
        if not isinstance(data, dict):
            self._fail("", "a table" + (" (required section)" if data is None else ""), data)
        self.data = dict(data)
        self.used: set[str] = set()

    def _fail(self, name: str, bound: str, value: Any) -> None:
        where = f"[{self.section}] {name}".rstrip()
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise SiteConfigError(f"{self.file}: {where} must be {bound}, got {shown}", file=self.file,
                              field=f"{self.section}.{name}" if name else self.section, bound=bound, value=value)

    def get(self, name: str, default: Any = _MISSING) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is _MISSING:
                self._fail(name, "given (required field)", None)
            return default
        return self.data[name]

    def int(self, name: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None,
            why: str = "") -> int:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            self._fail(name, "an integer", v)
        if (low is not None and v < low) or (high is not None and v > high):
            bound = (f"an integer in [{low}, {high}]" if low is not None and high is not None
                     else f"an integer >= {low}" if low is not None else f"an integer <= {high}")
            self._fail(name, bound + (f" ({why})" if why else ""), v)
        return int(v)

    def float(self, name: str, default: Any = _MISSING, *, low: float = 0.0, strict: bool = True,
              high: float | None = None) -> float:
        v = self.get(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self._fail(name, "a number", v)
        x = float(v)
        ok = (x > low if strict else x >= low) and (high is None or x < high) and x == x and x != float("inf")
        if not ok:
            bound = f"a finite number {'>' if strict else '>='} {low:g}" + (f" and < {high:g}" if high else "")
            self._fail(name, bound, v)
        return x

    def bool(self, name: str, default: Any = _MISSING) -> bool:
        v = self.get(name, default)
        if not isinstance(v, bool):
            self._fail(name, "true or false", v)
        return bool(v)

    def str(self, name: str, default: Any = _MISSING) -> str:
        v = self.get(name, default)
        if not isinstance(v, str):
            self._fail(name, "a string", v)
        return str(v)

    # below the methods named str/int/float/bool, the class body's `str` is the method: spell the type builtins.str
    def path(self, name: builtins.str, default: Any = _MISSING, *, base: Path) -> Path:
        v = self.str(name, default)
        if not v or "\n" in v or '"' in v:
            self._fail(name, 'a non-empty path without newlines or \'"\'', v)
        p = Path(v).expanduser()
        return p if p.is_absolute() else (base / p)

    def host(self, name: builtins.str, default: Any = _MISSING) -> builtins.str:
        v = self.str(name, default)
        try:
            return check_host(v)
        except ValueError as err:
            self._fail(name, str(err), v)
            raise  # pragma: no cover - _fail raised

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self._fail(unknown[0], f"one of the known fields {sorted(self.used)} (unknown field, a typo?)",
                       self.data[unknown[0]])


def check_host(host: str) -> str:
    """An IP address or DNS name a TLS certificate can name (no wildcard, no port, no scheme)."""
    if not isinstance(host, str) or not host:
        raise ValueError("an IP address or DNS name (non-empty string)")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        if (not set(host) <= _HOST_CHARS or any(not lab or len(lab) > 63 or lab.startswith("-") for lab in labels)
                or len(host) > 253):
            raise ValueError("an IP address or DNS name of [A-Za-z0-9.-] (no port, no scheme)") from None
        return host
    if ip.is_unspecified:
        raise ValueError("a specific address the certificate can name (not the wildcard 0.0.0.0 / ::)")
    return str(ip)


@dataclass(frozen=True)
class RunSpec:
    """``[run]`` of the coordinator's file: what ``python -m ppml_lab.fl.deploy run`` submits.

    ``hospitals`` SuperNodes take part; SecAgg+ (Bell et al. 2020) with reconstruction threshold
    ``threshold`` (2 <= t <= hospitals, default max(2, hospitals - 1)); a round must aggregate at least
    ``min_clients`` (default t) or the run ends with :class:`~ppml_lab.fl.deploy.RoundFailedError`.
    ``progress_dir`` ("" = none) makes every ClientApp write stage markers and traffic logs there: set it
    only when all sites share that path (tests on one machine); on separate machines leave it empty.
    """

    hospitals: int
    rounds: int = 3
    local_epochs: int = 5
    lr: float = 0.5
    rng: int = 2026  # the file's ``seed``: the run's int seed (DeploymentConfig.rng)
    secagg: bool = True
    threshold: int = 0
    min_clients: int = 0
    secagg_timeout: float = 60.0
    dp_noise_multiplier: float = 0.0
    dp_max_update_norm: float = 1.0
    dp_delta: float = 1e-5
    publisher_key: Path = Path("publisher")
    test_data: Path = Path("test.npz")
    progress_dir: str = ""
    startup_timeout: float = 300.0
    run_timeout: float = 900.0

    def run_config(self, *, results_path: Path, app_signature: str) -> dict[str, Any]:
        """The ``[tool.flwr.app.config]`` overrides of ``flwr run`` (same keys as the loopback launcher's)."""
        return {
            "app-signature": app_signature,
            "num-server-rounds": self.rounds,
            "local-epochs": self.local_epochs,
            "learning-rate": float(self.lr),
            "seed": self.rng,
            "num-partitions": self.hospitals,
            "min-clients": self.min_clients,
            "secagg-threshold": self.threshold if self.secagg else 0,
            "secagg-timeout": float(self.secagg_timeout),
            "dp-noise-multiplier": float(self.dp_noise_multiplier),
            "dp-max-update-norm": float(self.dp_max_update_norm),
            "results-path": str(results_path),
            "progress-dir": self.progress_dir,
            "test-path": str(self.test_data),
        }


@dataclass(frozen=True)
class SuperLinkSiteConfig:
    """The coordinator's file: ``[superlink]`` (where it listens, its TLS files) and ``[run]``."""

    file: Path
    address: str
    port: int
    ca_cert: Path
    server_cert: Path
    server_key: Path = field(repr=False)
    state_dir: Path
    run: RunSpec

    @property
    def dial(self) -> str:
        """``host:port`` as a client writes it (IPv6 in brackets)."""
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True)
class SuperNodeSiteConfig:
    """A hospital's file: ``[supernode]`` (which SuperLink, which partition, its data and key files)."""

    file: Path
    superlink_host: str
    superlink_port: int
    partition_id: int
    num_partitions: int
    data: Path
    ca_cert: Path
    private_key: Path = field(repr=False)
    publisher_public_key: Path
    clientapp_port: int
    connect_timeout: float
    state_dir: Path

    @property
    def superlink(self) -> str:
        h = self.superlink_host
        return f"[{h}]:{self.superlink_port}" if ":" in h else f"{h}:{self.superlink_port}"


def _read(path: str | Path) -> tuple[Path, dict[str, Any]]:
    p = Path(path)
    if p.suffix not in (".toml", ".json"):
        raise SiteConfigError(f"config file must end in .toml or .json, got {str(p)!r}", file=str(p),
                              field="", bound=".toml or .json", value=str(p))
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise SiteConfigError(f"config file {p} cannot be read: {err.strerror}", file=str(p), field="",
                              bound="a readable file", value=str(p)) from None
    try:
        if p.suffix == ".toml":
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise SiteConfigError(f"{p}: not valid {p.suffix[1:].upper()}: {err}", file=str(p), field="",
                              bound=f"valid {p.suffix[1:].upper()}", value=None) from None
    if not isinstance(data, dict):
        raise SiteConfigError(f"{p}: must hold a table of sections, got {type(data).__name__}", file=str(p))
    return p.resolve(), data


def _sections(data: dict[str, Any], *, file: str, allowed: tuple[str, ...]) -> None:
    for name in data:
        if name not in allowed:
            raise SiteConfigError(f"{file}: section [{name}] must be one of {list(allowed)} (unknown section)",
                                  file=file, field=name, bound=f"one of {list(allowed)} (unknown section)",
                                  value=name)


def load_superlink_config(path: str | Path) -> SuperLinkSiteConfig:
    """Read and validate the coordinator's config file (``[superlink]`` and ``[run]``)."""
    p, data = _read(path)
    f, base = str(p), p.parent
    _sections(data, file=f, allowed=("superlink", "run"))
    sl = _Table(data.get("superlink"), file=f, section="superlink")
    address = sl.host("address")
    port = sl.int("port", 9093, low=1024, high=65535)
    ca, cert = sl.path("ca_cert", "ca.crt", base=base), sl.path("server_cert", "server.pem", base=base)
    key = sl.path("server_key", "server.key", base=base)
    state = sl.path("state_dir", ".", base=base)
    sl.done()
    rt = _Table(data.get("run"), file=f, section="run")
    secagg = rt.bool("secagg", True)
    n = rt.int("hospitals", low=2 if secagg else 1, high=64,
               why="SecAgg+ masks cancel only between >= 2 clients" if secagg else "")
    t = 0
    if secagg:
        t = rt.int("threshold", max(2, n - 1), low=2, high=n, why="t of the hospitals' shares unmask a round")
    elif "threshold" in rt.data:
        rt._fail("threshold", "absent when secagg = false (it is SecAgg+'s reconstruction threshold)",
                 rt.data["threshold"])
    if "dp_clipping_norm" in rt.data:  # the old name of dp_max_update_norm: say so rather than "unknown field"
        rt._fail("dp_clipping_norm", "renamed dp_max_update_norm (the per-client-update clipping norm C; "
                 "max_grad_norm is the per-example one)", rt.data["dp_clipping_norm"])
    m = rt.int("min_clients", t if secagg else n, low=max(1, t), high=n,
               why="a round needs at least the SecAgg+ threshold" if secagg else "")
    spec = RunSpec(
        hospitals=n, secagg=secagg, threshold=t, min_clients=m,
        rounds=rt.int("rounds", 3, low=1, high=1000),
        local_epochs=rt.int("local_epochs", 5, low=1, high=10_000),
        lr=rt.float("lr", 0.5),
        rng=rt.int("seed", 2026, low=0, high=2**32 - 1),
        secagg_timeout=rt.float("secagg_timeout", 60.0),
        dp_noise_multiplier=rt.float("dp_noise_multiplier", 0.0, strict=False),
        dp_max_update_norm=rt.float("dp_max_update_norm", 1.0),
        dp_delta=rt.float("dp_delta", 1e-5, high=1.0),
        publisher_key=rt.path("publisher_key", "publisher", base=base),
        test_data=rt.path("test_data", "test.npz", base=base),
        progress_dir=rt.str("progress_dir", ""),
        startup_timeout=rt.float("startup_timeout", 300.0),
        run_timeout=rt.float("run_timeout", 900.0),
    )
    rt.done()
    return SuperLinkSiteConfig(file=p, address=address, port=port, ca_cert=ca, server_cert=cert, server_key=key,
                               state_dir=state, run=spec)


def load_supernode_config(path: str | Path) -> SuperNodeSiteConfig:
    """Read and validate a hospital's config file (``[supernode]``)."""
    p, data = _read(path)
    f, base = str(p), p.parent
    _sections(data, file=f, allowed=("supernode",))
    sn = _Table(data.get("supernode"), file=f, section="supernode")
    target = sn.str("superlink")
    host, sep, port_text = target.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port_text.isdigit():
        sn._fail("superlink", '"host:port" (the coordinator\'s address and port)', target)
    try:
        host = check_host(host)
    except ValueError as err:
        sn._fail("superlink", f'"host:port" whose host is {err}', target)
    port = int(port_text)
    if not 1024 <= port <= 65535:
        sn._fail("superlink", '"host:port" with a port in [1024, 65535]', target)
    n = sn.int("num_partitions", low=1, high=64)
    k = sn.int("partition_id", low=0, high=n - 1, why="one of num_partitions hospitals, counted from 0")
    cfg = SuperNodeSiteConfig(
        file=p, superlink_host=host, superlink_port=port, partition_id=k, num_partitions=n,
        data=sn.path("data", base=base),
        ca_cert=sn.path("ca_cert", "ca.crt", base=base),
        private_key=sn.path("private_key", "node", base=base),
        publisher_public_key=sn.path("publisher_public_key", "publisher.pub", base=base),
        clientapp_port=sn.int("clientapp_port", 9094, low=1024, high=65535),
        connect_timeout=sn.float("connect_timeout", 300.0),
        state_dir=sn.path("state_dir", ".", base=base),
    )
    sn.done()
    return cfg
