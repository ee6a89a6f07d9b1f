"""Locally generated TLS certificates and SuperNode keys for a Flower deployment on loopback.

TLS (RFC 8446) lets each hospital check that it talks to the real SuperLink (the server presents a
certificate chained to a CA the hospital trusts, naming the address it dialled as a Subject Alternative
Name, RFC 5280 Sec. 4.2.1.6) and encrypts what crosses the network. SuperNode authentication (Flower's
``--enable-supernode-auth``) is the other direction: each SuperNode signs its requests with an EC P-384
private key whose public half the operator registered with ``flwr supernode register``; the SuperLink
refuses nodes it does not know.

Threat model: a network attacker (eavesdrop, impersonate the server, join as a fake hospital); the CA key
here lives on the same machine, so this is a teaching set-up, not a PKI. Files are written as another
local user could not exploit: every file is created new (``O_CREAT | O_EXCL``: nothing pre-planted is
reused or truncated), never through a symbolic link (``O_NOFOLLOW``; a planted link is refused, not
followed), private keys with mode 0600 from the first byte (no window in which they are 0644 before a
chmod), and directories created here with mode 0700. An existing output directory must be a real
directory (not a link), owned by this user and not writable by group or others.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppml_lab._validation import check_int, check_type
from ppml_lab.exceptions import DeploymentError, UnsafePathError

__all__ = [
    "UnsafePathError",
    "secure_directory",
    "write_new_file",
    "TLSFiles",
    "NodeKeys",
    "generate_tls_files",
    "generate_node_keys",
    "generate_signing_key",
    "check_tls_files",
    "LOOPBACK",
]

LOOPBACK = "127.0.0.1"
# Curves: P-256 for the TLS chain (gRPC/BoringSSL default suite); P-384 for SuperNode keys, the curve
# Flower's `flwr supernode register` documents (any NIST curve is accepted).
_VALID_DAYS = 30


@dataclass(frozen=True)
class TLSFiles:
    """Paths of a CA certificate and a server certificate/key signed by it (PEM). No key material in repr."""

    ca_cert: Path
    server_cert: Path
    server_key: Path = field(repr=False)


@dataclass(frozen=True)
class NodeKeys:
    """One SuperNode's EC P-384 key pair in OpenSSH format (what Flower 1.42 loads)."""

    private_key: Path = field(repr=False)
    public_key: Path


def _ec():  # noqa: ANN202 - lazy import keeps `import ppml_lab.fl` light
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec


#: Modes of what this module creates: private keys and directories are the owner's alone.
PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
DIRECTORY_MODE = 0o700


def secure_directory(directory: str | Path) -> Path:
    """Return ``directory``, created with mode 0700 (parents too) if missing; refuse an unsafe existing one.

    An existing directory must not be a symbolic link (a planted link would redirect every key written into
    it), must belong to this user, and must not be writable by group or others (they could swap files).
    Raises :class:`UnsafePathError` naming the path and what is wrong.
    """
    check_type("directory", directory, (str, Path))
    out = Path(directory)
    missing: list[Path] = []
    p = out
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIRECTORY_MODE)  # umask can only remove bits from 0700
        except FileExistsError:  # created meanwhile by someone else: checked below like any existing one
            pass
    st = os.lstat(out)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"directory {out} is a symbolic link (to {os.readlink(out)!r}); keys are never written through a "
            "link - pass a real directory"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"directory {out} exists and is not a directory (mode {stat.filemode(st.st_mode)})")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise UnsafePathError(
            f"directory {out} belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()}); "
            "pass a directory you own"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePathError(
            f"directory {out} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}, must be at "
            "most 0755 without group/other write); pass a private directory"
        )
    return out


def write_new_file(path: str | Path, data: bytes, *, private: bool) -> Path:
    """Create ``path`` (it must not exist), never through a symlink, with mode 0600 (``private``) or 0644.

    ``os.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)``: the mode applies from creation, so
    a private key is never readable by others, not even for an instant; ``O_EXCL`` refuses a file or a
    dangling symlink planted at ``path`` (it is neither followed nor truncated). Raises
    :class:`UnsafePathError` if anything already exists at ``path``.
    """
    target = Path(path)
    mode = PRIVATE_FILE_MODE if private else PUBLIC_FILE_MODE
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        what = "a symbolic link" if os.path.islink(target) else "a file"
        raise UnsafePathError(
            f"{target} already exists ({what}); key files are only ever created new - remove it or use an "
            "empty directory"
        ) from None
    try:
        if private:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # exact 0600 whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return target


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    write_new_file(path, data, private=private)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ppml-lab course"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_tls_files(
    directory: str | Path,
    *,
    hosts: tuple[str, ...] = (LOOPBACK, "localhost"),
    valid_days: int = _VALID_DAYS,
    prefix: str = "",
) -> TLSFiles:
    """Create ``ca.crt``, ``server.pem`` and ``server.key`` in ``directory``.

    The server certificate lists every entry of ``hosts`` as a SAN: IP addresses as IP SANs (gRPC checks
    127.0.0.1 against an *IP* SAN, not a DNS name), everything else as DNS names.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    check_type("directory", directory, (str, Path))
    check_int("valid_days", valid_days, low=1, high=825)
    check_type("hosts", hosts, tuple)
    if not hosts:
        raise ValueError("hosts must name at least one address for the server certificate, got ()")
    sans: list[Any] = []
    for h in hosts:
        check_type("hosts entry", h, str)
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    out = secure_directory(directory)
    ec = _ec()
    now = _dt.datetime.now(_dt.UTC)
    start, end = now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=valid_days)

    # Root CA: self-signed, basicConstraints CA=TRUE (RFC 5280 Sec. 4.2.1.9), may sign certificates.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"ppml-lab {prefix}CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    # Server leaf: signed by the CA, SAN = hosts, EKU serverAuth (RFC 5280 Sec. 4.2.1.12).
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TLSFiles(
        ca_cert=out / f"{prefix}ca.crt",
        server_cert=out / f"{prefix}server.pem",
        server_key=out / f"{prefix}server.key",
    )
    _write(files.ca_cert, ca_cert.public_bytes(pem))
    _write(files.server_cert, srv_cert.public_bytes(pem))
    _write(
        files.server_key,
        srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        private=True,
    )
    # The CA private key is not written: nothing else is ever signed with it.
    return files


def generate_node_keys(directory: str | Path, name: str) -> NodeKeys:
    """Create ``<name>`` (private) and ``<name>.pub`` (public), EC P-384, OpenSSH format."""
    from cryptography.hazmat.primitives import serialization

    check_type("directory", directory, (str, Path))
    check_type("name", name, str)
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file name without '/', got {name!r}")
    out = secure_directory(directory)
    ec = _ec()
    key = ec.generate_private_key(ec.SECP384R1())
    keys = NodeKeys(private_key=out / name, public_key=out / f"{name}.pub")
    _write(
        keys.private_key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        private=True,
    )
    _write(
        keys.public_key,
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    )
    return keys


def check_tls_files(files: TLSFiles, *, host: str = LOOPBACK) -> None:
    """Fail early (DeploymentError) unless the three files exist, parse, match and name ``host``.

    Checks: the server key is the private half of the server certificate's public key; the CA's key
    verified the server certificate's signature; ``host`` is among the SANs.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    check_type("files", files, TLSFiles)
    for label, p in (("ca_cert", files.ca_cert), ("server_cert", files.server_cert),
                     ("server_key", files.server_key)):
        if not Path(p).is_file():
            raise DeploymentError(f"TLS file {label} not found at {p}; generate one with generate_tls_files()")
    try:
        ca = x509.load_pem_x509_certificate(Path(files.ca_cert).read_bytes())
        srv = x509.load_pem_x509_certificate(Path(files.server_cert).read_bytes())
        key = serialization.load_pem_private_key(Path(files.server_key).read_bytes(), password=None)
    except ValueError as err:
        raise DeploymentError(f"TLS files could not be parsed as PEM: {err}") from None
    pub_der = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub_der) != srv.public_key().public_bytes(der, pub_der):
        raise DeploymentError(
            f"server_key {files.server_key} does not match server_cert {files.server_cert}; "
            "use the key generated with that certificate"
        )
    try:
        srv.verify_directly_issued_by(ca)
    except Exception as err:  # noqa: BLE001 - cryptography raises ValueError/InvalidSignature/TypeError
        raise DeploymentError(
            f"server_cert {files.server_cert} was not issued by ca_cert {files.ca_cert} ({type(err).__name__}); "
            "SuperNodes trusting this CA would refuse the SuperLink"
        ) from None
    try:
        san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise DeploymentError(f"server_cert {files.server_cert} has no Subject Alternative Name") from None
    names = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    if host not in names:
        raise DeploymentError(
            f"server_cert {files.server_cert} does not list {host} as a SAN (has {sorted(names)}); "
            "TLS clients dialling that address would refuse it"
        )


def generate_signing_key(directory: str | Path, name: str) -> NodeKeys:
    """Create an app publisher's Ed25519 key pair ``<name>`` / ``<name>.pub`` (OpenSSH format).

    Flower 1.42 verifies app (FAB) signatures with Ed25519 keys only
    (``flwr/supernode/cli/flower_supernode.py`` ``_validate_public_keys_ed25519``); the public half goes
    into each SuperNode's ``--trusted-entities`` file. Written like every key here (0600, O_EXCL, no links).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    check_type("directory", directory, (str, Path))
    check_type("name", name, str)
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file name without '/', got {name!r}")
    out = secure_directory(directory)
    key = ed25519.Ed25519PrivateKey.generate()  # OS CSPRNG (OpenSSL)
    keys = NodeKeys(private_key=out / name, public_key=out / f"{name}.pub")
    _write(
        keys.private_key,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        private=True,
    )
    _write(
        keys.public_key,
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    )
    return keys
