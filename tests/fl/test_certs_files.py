"""How certificates and keys reach the disk: created new, 0600 from the first byte, never through a link.

The attack (marker ``attack``): another local user plants a symbolic link where the launcher will write a
private key - to a file they can read, or to a file of the victim's they want overwritten. The raw path
(``Path.write_bytes`` then ``chmod``, what this module did before) follows the link; the default path
refuses it and writes nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ppml_lab.fl.certs import (
    UnsafePathError,
    generate_node_keys,
    generate_signing_key,
    generate_tls_files,
    secure_directory,
    write_new_file,
)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_private_keys_are_0600_and_created_directories_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the common default: what made the old keys 0644 until the chmod
    try:
        tls = generate_tls_files(tmp_path / "a" / "certs")
        node = generate_node_keys(tmp_path / "keys", "node0")
        pub = generate_signing_key(tmp_path / "publisher", "publisher")
    finally:
        os.umask(old)
    assert _mode(tls.server_key) == 0o600
    assert _mode(node.private_key) == 0o600 and _mode(pub.private_key) == 0o600
    assert _mode(tls.ca_cert) == 0o644 and _mode(node.public_key) == 0o644
    for d in (tmp_path / "a", tmp_path / "a" / "certs", tmp_path / "keys", tmp_path / "publisher"):
        assert _mode(d) == 0o700, d


def test_key_is_never_readable_by_others_even_briefly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Record the mode each file was *created* with (os.open's third argument): no 0644-then-chmod window.
    created: dict[str, int] = {}
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if flags & os.O_CREAT:
            created[str(path)] = mode
            assert flags & os.O_EXCL and flags & os.O_NOFOLLOW, "key files must be created O_EXCL|O_NOFOLLOW"
        return real_open(path, flags, mode, *a, **k)

    monkeypatch.setattr(os, "open", spy)
    keys = generate_node_keys(tmp_path, "node0")
    assert created[str(keys.private_key)] == 0o600
    assert created[str(keys.public_key)] == 0o644


@pytest.mark.attack
def test_planted_symlink_at_the_key_path_is_refused(tmp_path: Path) -> None:
    attacker_file = tmp_path / "attacker_readable.txt"
    attacker_file.write_text("")
    attacker_file.chmod(0o666)
    out = tmp_path / "keys"
    out.mkdir(mode=0o700)
    (out / "node0").symlink_to(attacker_file)  # planted where the private key will go

    # Raw path (the old _write: write_bytes + chmod) follows the link: the key lands in the attacker's file.
    raw_target = out / "node0"
    raw_target.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY----- (raw path)")
    assert b"PRIVATE KEY" in attacker_file.read_bytes()
    attacker_file.write_text("")

    # Default path: refused, nothing written through the link.
    with pytest.raises(UnsafePathError, match="already exists \\(a symbolic link\\)"):
        generate_node_keys(out, "node0")
    assert attacker_file.read_bytes() == b""


@pytest.mark.attack
def test_dangling_symlink_is_refused_and_not_created(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "server.key"  # does not exist yet: O_CREAT alone would create it
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "certs"
    out.mkdir(mode=0o700)
    (out / "server.key").symlink_to(target)
    with pytest.raises(UnsafePathError, match="server.key already exists"):
        generate_tls_files(out)
    assert not target.exists()


@pytest.mark.attack
def test_symlinked_output_directory_is_refused(tmp_path: Path) -> None:
    attacker_dir = tmp_path / "attacker"
    attacker_dir.mkdir()
    (tmp_path / "keys").symlink_to(attacker_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="is a symbolic link"):
        generate_node_keys(tmp_path / "keys", "node0")
    assert list(attacker_dir.iterdir()) == []


def test_group_writable_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePathError, match="writable by group or others \\(mode 0777"):
        secure_directory(shared)


def test_existing_file_is_not_overwritten(tmp_path: Path) -> None:
    write_new_file(tmp_path / "k", b"first", private=True)
    with pytest.raises(UnsafePathError, match="already exists \\(a file\\)"):
        write_new_file(tmp_path / "k", b"second", private=True)
    assert (tmp_path / "k").read_bytes() == b"first"


def test_path_that_is_a_file_is_refused_as_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafePathError, match="is not a directory"):
        secure_directory(tmp_path / "f")


def test_bad_signing_key_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name must be a non-empty file name without '/', got 'a/b'"):
        generate_signing_key(tmp_path, "a/b")
