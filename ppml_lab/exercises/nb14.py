"""Exercise checks for the zero-knowledge notebook (commitments, Sigma protocols, bounded updates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, failed, not_answered, passed
from ppml_lab.zk.group import SchnorrGroup, toy_group
from ppml_lab.zk.range_proof import range_weights

__all__ = ["check_toy_response", "check_verifier", "check_bits_per_coordinate", "check_proof_bytes"]


def _toy_response(secret: int, nonce: int, challenge: int) -> int:
    return (nonce + challenge * secret) % toy_group().order


#: In the group p = 23, q = 11, g = 4: the Schnorr response z for secret x, nonce k and challenge c.
check_toy_response = NumericExercise(
    "Schnorr response (x={secret}, k={nonce}, c={challenge})", expected=_toy_response, tol=0.0, whole=True,
    params={"secret": 3, "nonce": 5, "challenge": 7},
    ask="z = k + c x, reduced modulo the group order q = 11 (not p = 23).",
    right="z = {nonce} + {challenge}*{secret} mod 11 = {truth:g}; the verifier checks g^z = A X^c.",
    hint="Write out k + c x, then reduce modulo 11.",
    wrong="{value:g} is not k + c x mod q",
    mistakes=(Mistake("{value:g} is not reduced", "Exponents live modulo the group order q = 11.",
                      value=lambda secret, nonce, challenge: nonce + challenge * secret),
              Mistake("reduced modulo p", "Exponents are reduced modulo q = 11, the order of g, not p = 23.",
                      value=lambda secret, nonce, challenge: (nonce + challenge * secret) % 23)))


def _toy_transcripts(group: SchnorrGroup) -> list[tuple[int, int, int, int, bool]]:
    """(X, A, c, z, should_accept) cases: honest runs, tampered responses, other statements, c = 0 tricks."""
    p, q, g = group.p, group.order, group.generator
    cases = []
    for x, k, c in [(3, 5, 7), (1, 0, 4), (10, 9, 10), (6, 2, 1), (4, 8, 0)]:
        big_x, a, z = pow(g, x, p), pow(g, k, p), (k + c * x) % q
        cases.append((big_x, a, c, z, True))  # honest
        cases.append((big_x, a, c, (z + 1) % q, False))  # tampered response
        cases.append((pow(g, x + 1, p), a, c, z, c == 0))  # another statement (accepted only when c = 0)
        cases.append((big_x, pow(g, k + 1, p), c, z, False))  # another announcement
    return cases


def check_verifier(answer: Callable[..., Any] | None) -> CheckResult:
    """Your ``verify(X, A, c, z)`` for the toy group (p = 23, g = 4): accept iff g^z = A X^c (mod p)."""
    name = "a Schnorr verifier"
    if answer is None:
        return not_answered(name, "Compare pow(4, z, 23) with A * pow(X, c, 23) % 23.")
    if not callable(answer):
        return failed(name, f"expected a function verify(X, A, c, z), got {type(answer).__name__}")
    group = toy_group()
    wrong_accept, wrong_reject = 0, 0
    for big_x, a, c, z, expect in _toy_transcripts(group):
        try:
            got = bool(answer(big_x, a, c, z))
        except Exception as exc:  # noqa: BLE001 - a student's function may raise anything
            return failed(name, f"verify({big_x}, {a}, {c}, {z}) raised {type(exc).__name__}: {exc}")
        if got and not expect:
            wrong_accept += 1
        elif expect and not got:
            wrong_reject += 1
    if wrong_accept == 0 and wrong_reject == 0:
        return passed(name, "accepts honest transcripts and rejects tampered responses, announcements and statements.")
    if wrong_accept:
        return failed(name, f"accepted {wrong_accept} transcript(s) it should reject (a forger's dream)",
                      "Use all of X, A, c and z: g^z must equal A * X^c mod p.")
    return failed(name, f"rejected {wrong_reject} honest transcript(s)",
                  "Compute the exponent and products modulo p = 23; the responses are already reduced mod q.")


#: How many committed bits (OR-proofs) does one coordinate need to prove |x| <= bound?
check_bits_per_coordinate = NumericExercise(
    "bits per coordinate (bound {bound})", expected=lambda bound: len(range_weights(2 * bound)), tol=0.0,
    whole=True, params={"bound": 100},
    ask="The proof shows x + B lies in [0, 2B].",
    right="bitlength(2B) = {truth:g}: the top weight is not a power of two, so no bit pattern exceeds 2B.",
    hint="Count the bits of 2B.",
    wrong="{value:g} is not right",
    mistakes=(Mistake("that covers [0, B], not [-B, B]", "Shift by B first: x + B is in [0, 2B].",
                      value=lambda bound: bound.bit_length()),
              Mistake("one too many (a sign bit is not needed)", "The shift by B takes care of the sign.",
                      value=lambda bound: len(range_weights(2 * bound)) + 1)))


#: Bytes of a bounded-update proof: per bit one point (32 B) and three scalars (c0, z0, z1), plus c.
check_proof_bytes = NumericExercise(
    "proof bytes (d={dimension}, {bits} bits)", tol=0.0, whole=True, params={"dimension": 62, "bits": 8},
    expected=lambda dimension, bits: dimension * bits * 32 + (1 + 3 * dimension * bits) * 32,
    ask="Per bit: a 32-byte commitment and three 32-byte scalars; once: the challenge.",
    right="{truth:g} bytes = bits x 128 + 32: linear in the model size (Bulletproofs are logarithmic).",
    hint="Count elements and scalars per bit, times the number of bits.",
    wrong="{value:g} is not right",
    mistakes=(Mistake("c1 is not sent", "c1 = c - c0: the verifier computes it.",
                      value=lambda dimension, bits: dimension * bits * 32 + (1 + 4 * dimension * bits) * 32),
              Mistake("almost: the shared challenge c is sent once", "Add 32 bytes for c.",
                      value=lambda dimension, bits: dimension * bits * 128)))
