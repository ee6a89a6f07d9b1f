"""Exercise checks of notebook 12: reference answers pass, typical wrong answers fail, None is 'not answered'."""

from __future__ import annotations

from ppml_lab.exercises import nb12


def test_threshold() -> None:
    assert not nb12.check_threshold(None).answered
    assert nb12.check_threshold(3)
    assert not nb12.check_threshold(4)  # 3 survivors cannot reach 4 shares
    assert not nb12.check_threshold(2)  # server + 2 colluders hold 2 shares
    assert not nb12.check_threshold("3")
    assert not nb12.check_threshold(True)


def test_plain_bytes() -> None:
    assert not nb12.check_plain_bytes_per_round(None).answered
    assert nb12.check_plain_bytes_per_round(2 * 2 * 62 * 8)
    assert not nb12.check_plain_bytes_per_round(2 * 62 * 8)  # one direction
    assert "one direction" in str(nb12.check_plain_bytes_per_round(2 * 62 * 8))
    assert not nb12.check_plain_bytes_per_round(62 * 8 * 2 * 2 // 2 + 1)
    assert not nb12.check_plain_bytes_per_round("lots")


def test_protections() -> None:
    ref = {"eavesdropper on the link": "tls", "laptop posing as a hospital": "node_auth",
           "server reads one hospital's update": "secagg", "released model memorises a patient": "dp"}
    assert not nb12.check_protections(None).answered
    assert nb12.check_protections(ref)
    swapped = dict(ref, **{"server reads one hospital's update": "tls"})
    assert not nb12.check_protections(swapped)
    assert not nb12.check_protections({"eavesdropper on the link": "tls"})
    assert not nb12.check_protections(["tls"])
