"""SecAgg clients and servers message by message: signatures, ConsistencyCheck, answer-once, refusals."""

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ppml_lab.exceptions import (
    AuthenticationError,
    DropoutThresholdError,
    ProtocolError,
    UnmaskRefusedError,
)
from ppml_lab.fl.secagg import (
    RawSecAggClient,
    SecAggClient,
    SecAggServer,
    SigningPKI,
    UnmaskRequest,
    make_identities,
    make_round,
    new_session_id,
)
from ppml_lab.fl.secagg.messages import AdvertiseKeys

SESSION = b"\x07" * 16


def _inputs(n, length=4, seed=0):
    g = np.random.default_rng(seed)
    return {i: g.integers(0, 2**64, size=length, dtype=np.uint64) for i in range(n)}


def _to_masked(n=5, t=3, level="hardened", length=4):
    clients, server = make_round(_inputs(n, length), threshold=t, level=level)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    server.collect_masked([clients[u].masked_input(inbox[u]) for u in clients])
    return clients, server, keys


def _signed(n=5, t=3):
    clients, server, keys = _to_masked(n, t)
    server.collect_signatures([c.consistency_check(server.u3) for c in clients.values()])
    return clients, server, keys


# -- one full round by hand ------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["hardened", "raw"])
def test_round_by_hand_gives_the_exact_sum(level):
    xs = _inputs(5)
    clients, server = make_round(xs, threshold=3, level=level)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    u3 = server.collect_masked([clients[u].masked_input(inbox[u]) for u in clients if u != 4])  # 4 drops
    if level == "hardened":
        server.collect_signatures([clients[u].consistency_check(u3) for u in u3])
    request = server.unmask_request()
    total = server.unmask({u: clients[u].unmask(request) for u in u3})
    assert np.array_equal(total, sum((xs[u] for u in range(4)), np.zeros(4, np.uint64)))


# -- answer-once -----------------------------------------------------------------------------------
def test_hardened_client_answers_an_unmask_request_once():
    clients, server, _ = _signed()
    request = server.unmask_request()
    clients[0].unmask(request)
    with pytest.raises(UnmaskRefusedError, match="client 0: already answered an unmask request in round 0"):
        clients[0].unmask(request)  # even the same, valid request


def test_raw_client_refuses_both_shares_in_one_request():
    clients, server, _ = _to_masked(level="raw")
    bad = UnmaskRequest(server.session, 0, dropped=(1,), survivors=(0, 1, 2))
    with pytest.raises(UnmaskRefusedError, match=r"asked for both shares of clients \[1\]"):
        clients[0].unmask(bad)


def test_raw_level_has_no_consistency_check():
    clients, server, _ = _to_masked(level="raw")
    with pytest.raises(ProtocolError, match="no ConsistencyCheck round"):
        clients[0].consistency_check(server.u3)
    with pytest.raises(ProtocolError, match="no ConsistencyCheck round"):
        server.collect_signatures([])


# -- ConsistencyCheck ------------------------------------------------------------------------------
def test_client_signs_one_survivor_set_per_round():
    clients, server, _ = _to_masked()
    clients[0].consistency_check([0, 1, 2, 3, 4])
    clients[0].consistency_check([4, 3, 2, 1, 0])  # the same set again: same answer
    with pytest.raises(UnmaskRefusedError, match=r"already signed U3 \[0, 1, 2, 3, 4\] this round; refusing to sign a second U3 \[0, 1, 2\]"):
        clients[0].consistency_check([0, 1, 2])


@pytest.mark.parametrize(
    "u3, exc, pattern",
    [
        ([0, 1, 2, 9], UnmaskRefusedError, r"U3 names clients \[9\] outside my U2"),
        ([1, 2, 3], UnmaskRefusedError, r"does not contain this client"),
        ([0, 1], DropoutThresholdError, "U3 has 2 clients, threshold is 3"),
    ],
)
def test_consistency_check_refusals(u3, exc, pattern):
    clients, _, _ = _to_masked()
    with pytest.raises(exc, match=pattern):
        clients[0].consistency_check(u3)


def test_unmask_needs_t_valid_signatures_on_the_signed_set():
    clients, server, _ = _signed()
    sigs = dict(server.signatures)
    few = UnmaskRequest(server.session, 0, tuple(server.u3), {u: sigs[u] for u in (0, 1)})
    with pytest.raises(UnmaskRefusedError, match=r"only 2 valid signatures on U3=\[0, 1, 2, 3, 4\], threshold is 3"):
        clients[3].unmask(few)
    forged = {u: (bytes([sigs[u][0] ^ 1]) + sigs[u][1:]) if u != 0 else sigs[u] for u in sigs}
    with pytest.raises(UnmaskRefusedError, match="only 1 valid signatures"):
        clients[3].unmask(UnmaskRequest(server.session, 0, tuple(server.u3), forged))
    # a signature is valid only from the client it names: 0's signature relabelled as 1's does not count
    relabelled = {0: sigs[0], 1: sigs[0], 2: sigs[0]}
    with pytest.raises(UnmaskRefusedError, match="only 1 valid signatures"):
        clients[3].unmask(UnmaskRequest(server.session, 0, tuple(server.u3), relabelled))
    # the refusals did not consume the answer: the honest request still works
    assert clients[3].unmask(server.unmask_request()).b_shares


def test_unmask_refuses_a_set_other_than_the_signed_one_and_unsigned_requests():
    clients, server, _ = _to_masked()
    with pytest.raises(UnmaskRefusedError, match="without a ConsistencyCheck"):
        clients[0].unmask(UnmaskRequest(server.session, 0, tuple(server.u3), {}))
    server.collect_signatures([c.consistency_check(server.u3) for c in clients.values()])
    with pytest.raises(UnmaskRefusedError, match=r"asked to unmask for U3=\[0, 1, 2\], but signed U3=\[0, 1, 2, 3, 4\]"):
        clients[0].unmask(UnmaskRequest(server.session, 0, (0, 1, 2), server.signatures))


def test_hardened_client_ignores_the_servers_dropped_list():
    # the hardened client derives what to reveal from the set it signed, not from request.dropped
    clients, server, _ = _signed()
    req = UnmaskRequest(server.session, 0, tuple(server.u3), server.signatures, dropped=(1,), survivors=(0, 2, 3))
    resp = clients[0].unmask(req)
    assert set(resp.b_shares) == {0, 1, 2, 3, 4} and resp.sk_shares == {}


# -- authentication of Round 0 ---------------------------------------------------------------------
def test_keys_must_verify_under_the_pki():
    clients, server = make_round(_inputs(3), threshold=2)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    m = keys[1]
    swapped = dict(keys)
    swapped[1] = AdvertiseKeys(m.session, m.round_id, 1, keys[2].c_pk, m.s_pk, m.signature)
    with pytest.raises(AuthenticationError, match="client 1: signature does not verify under its PKI key"):
        clients[0].share_keys(swapped)
    unsigned = dict(keys)
    unsigned[1] = AdvertiseKeys(m.session, m.round_id, 1, m.c_pk, m.s_pk, None)
    with pytest.raises(AuthenticationError, match="client 1: signature must be 64 bytes, got none"):
        clients[0].share_keys(unsigned)


def test_server_cannot_alter_or_omit_the_clients_own_keys():
    clients, server = make_round(_inputs(3), threshold=2, level="raw")
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    with pytest.raises(AuthenticationError, match="omits or alters this client's own keys"):
        clients[0].share_keys({u: k for u, k in keys.items() if u != 0})


def test_messages_from_another_session_are_refused():
    clients, server = make_round(_inputs(3), threshold=2)
    other, _ = make_round(_inputs(3), threshold=2)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    foreign = dict(keys)
    foreign[1] = other[1].advertise_keys()
    with pytest.raises(ProtocolError, match="client 0: the AdvertiseKeys message of client 1 belongs to another session"):
        clients[0].share_keys(foreign)
    with pytest.raises(ProtocolError, match="belongs to another session or round"):
        server.collect_keys([other[0].advertise_keys()])


def test_pki_refusals():
    keys, pki = make_identities([0, 1])
    with pytest.raises(AuthenticationError, match=r"client 7 is not in the PKI \(known: \[0, 1\]\)"):
        pki.verify(7, b"x" * 64, b"payload")
    with pytest.raises(ValueError, match=r"public_keys\[3\] must be a 32-byte Ed25519 public key, got 5 bytes"):
        SigningPKI({3: b"short"})
    with pytest.raises(TypeError, match=r"public_keys\[3\] must be an Ed25519 public key or 32 bytes, got str"):
        SigningPKI({3: "key"})
    assert pki.is_valid(0, keys[0].sign(b"m"), b"m") and not pki.is_valid(1, keys[0].sign(b"m"), b"m")


# -- transport -------------------------------------------------------------------------------------
def test_tampered_share_message_is_rejected():
    clients, server = make_round(_inputs(3), threshold=2)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    out = {u: c.share_keys(keys) for u, c in clients.items()}
    forged = bytearray(out[1][0])
    forged[-1] ^= 1
    with pytest.raises(ProtocolError, match="share message from client 1 failed authentication"):
        clients[0].masked_input({1: bytes(forged), 2: out[2][0]})
    with pytest.raises(ProtocolError, match="malformed share message from client 2"):
        clients[0].masked_input({1: out[1][0], 2: b"short"})
    # a ciphertext for client 2 redirected to client 0 does not decrypt (AAD binds the receiver)
    with pytest.raises(ProtocolError, match="share message from client 1 failed authentication"):
        clients[0].masked_input({1: out[1][2]})


def test_each_round_is_answered_once():
    clients, server = make_round(_inputs(3), threshold=2)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    out = {u: c.share_keys(keys) for u, c in clients.items()}
    with pytest.raises(ProtocolError, match="ShareKeys already answered this round"):
        clients[0].share_keys(keys)
    clients[0].masked_input({u: out[u][0] for u in (1, 2)})
    with pytest.raises(ProtocolError, match="masked input already sent this round"):
        clients[0].masked_input({1: out[1][0]})


def test_server_rejects_replayed_ids_and_keys():
    clients, server = make_round(_inputs(3), threshold=2)
    a, b = clients[0].advertise_keys(), clients[1].advertise_keys()
    with pytest.raises(ProtocolError, match="client id 0 advertised keys twice"):
        server.collect_keys([a, a])
    copy = AdvertiseKeys(b.session, b.round_id, 1, a.c_pk, b.s_pk, b.signature)
    with pytest.raises(ProtocolError, match="already used by client 0"):
        server.collect_keys([a, copy])
    short = AdvertiseKeys(b.session, b.round_id, 3, b"x", b.s_pk, b.signature)
    with pytest.raises(ProtocolError, match="malformed AdvertiseKeys message from client 3"):
        server.collect_keys([short])


# -- construction ----------------------------------------------------------------------------------
def test_constructor_refusals():
    keys, pki = make_identities([0, 1])
    x = np.zeros(3, np.uint64)
    with pytest.raises(TypeError, match="signing_key must be this client's Ed25519PrivateKey"):
        SecAggClient(0, x, threshold=2, session=SESSION, pki=pki)
    with pytest.raises(TypeError, match="pki must be a SigningPKI on the hardened level, got NoneType"):
        SecAggClient(0, x, threshold=2, session=SESSION, signing_key=keys[0])
    with pytest.raises(ValueError, match="client 5 is not in the PKI"):
        SecAggClient(5, x, threshold=2, session=SESSION, signing_key=Ed25519PrivateKey.generate(), pki=pki)
    keys5, pki5 = make_identities(range(5))
    with pytest.raises(ValueError, match=r"threshold must be a strict majority of the 5 clients in the PKI \(>= 3\), got 2"):
        SecAggClient(0, x, threshold=2, session=SESSION, signing_key=keys5[0], pki=pki5)
    with pytest.raises(ValueError, match="session must be 16 bytes"):
        RawSecAggClient(0, x, threshold=2, session=b"short")
    with pytest.raises(TypeError, match="x must be a non-empty 1-D uint64 vector"):
        RawSecAggClient(0, np.zeros(3), threshold=2, session=SESSION)
    with pytest.raises(ValueError, match="threshold must be an integer >= 2, got 1"):
        RawSecAggClient(0, x, threshold=1, session=SESSION)
    with pytest.raises(TypeError, match="client_id must be a non-negative integer"):
        RawSecAggClient(-1, x, threshold=2, session=SESSION)
    with pytest.raises(ValueError, match="session must be 16 bytes"):
        SecAggServer(threshold=2, length=3, session=b"")


def test_repr_hides_secrets():
    keys, pki = make_identities([0])
    c = SecAggClient(0, np.arange(3, dtype=np.uint64), threshold=2, session=SESSION, signing_key=keys[0], pki=pki)
    assert "hidden" in repr(c) and "[0 1 2]" not in repr(c) and "hardened" in repr(c)
    assert "signature" not in repr(c.advertise_keys())


def test_key_material_ignores_a_teaching_seed_unless_flagged():
    xs = _inputs(3)

    def first_y(**kw):
        clients, server = make_round(xs, threshold=2, **kw)
        keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
        out = {u: c.share_keys(keys) for u, c in clients.items()}
        return clients[0].masked_input({u: out[u][0] for u in (1, 2)}).y

    assert first_y(rng=5) != first_y(rng=5)  # keys and masks from the OS CSPRNG
    assert first_y(rng=5, insecure_seeded_keys=True) == first_y(rng=5, insecure_seeded_keys=True)
    assert new_session_id(5) != new_session_id(5)


def test_signatures_count_only_from_members_of_u3():
    # clients 3 and 4 dropped after ShareKeys and collude with the server: their signatures on U3 = {0, 1, 2}
    # are genuine, but they are not in U3, so they must not make up the t signatures the client requires
    from ppml_lab.fl.secagg.messages import consistency_payload

    clients, server = make_round(_inputs(5), threshold=3)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    u3 = server.collect_masked([clients[u].masked_input(inbox[u]) for u in (0, 1, 2)])
    sig0 = clients[0].consistency_check(u3).signature
    colluders = {v: clients[v]._signing_key.sign(consistency_payload(server.session, 0, v, u3)) for v in (3, 4)}
    with pytest.raises(UnmaskRefusedError, match=r"only 1 valid signatures on U3=\[0, 1, 2\]"):
        clients[0].unmask(UnmaskRequest(server.session, 0, tuple(u3), {0: sig0, **colluders}))


def test_server_refuses_corrupt_missing_or_mixed_shares():
    import dataclasses

    from ppml_lab.mpc.sharing import Share

    clients, server, _ = _signed()
    request = server.unmask_request()
    responses = {u: c.unmask(request) for u, c in clients.items()}

    def tamper(resp, value=None, sharing_id=None):
        s = resp.b_shares[0]
        bad = Share(s.scheme, s.index, s.value if value is None else value, s.modulus, s.n_shares, s.threshold,
                    s.sharing_id if sharing_id is None else sharing_id)
        return dataclasses.replace(resp, b_shares={**resp.b_shares, 0: bad})

    with pytest.raises(ProtocolError, match="reconstructing b_0 failed"):
        server.unmask({**responses, 0: tamper(responses[0], value=(responses[0].b_shares[0].value + 12345) % (2**31 - 1))})
    with pytest.raises(ProtocolError, match="the shares of b_0 do not belong together"):
        server.unmask({**responses, 0: tamper(responses[0], sharing_id=1)})
    missing = dataclasses.replace(responses[1], b_shares={k: v for k, v in responses[1].b_shares.items() if k != 0})
    with pytest.raises(ProtocolError, match="client 1 did not send its b share of client 0"):
        server.unmask({**responses, 1: missing})
    with pytest.raises(DropoutThresholdError, match="only 2 clients remain after the unmask phase"):
        server.unmask({u: responses[u] for u in (0, 1)})
    assert np.array_equal(server.unmask(responses), sum(_inputs(5).values(), np.zeros(4, np.uint64)))
