"""Typed errors of ppml_lab.

Input checks raise the built-in ``TypeError`` (wrong kind) or ``ValueError`` (wrong value); the domain
errors below subclass them where they are about a value, so ``except ValueError`` still catches them.
Every message names the parameter, the constraint, the value received and, where there is one, the fix.
Every error class of the package lives here and derives from :class:`PPMLError`, so ``except PPMLError``
catches anything the package raises on purpose; the modules that raise them re-export their own.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PPMLError",
    "PrivacyBudgetExceeded",
    "KeyMismatchError",
    "PrecisionError",
    "InsecureParameterError",
    "DepthExhaustedError",
    "SecretKeyMissingError",
    "InsufficientSharesError",
    "ShareMismatchError",
    "TripleReuseError",
    "ProtocolError",
    "PartyTimeoutError",
    "DropoutThresholdError",
    "UnsupportedModuleError",
    "DeploymentError",
    "UnmaskRefusedError",
    "AuthenticationError",
    "PrivacyUnitError",
    "FrameTooLargeError",
    "InvalidGroupElementError",
    "UpdateMismatchError",
    "CKKSBackendError",
    "SerializationError",
    "UnsafePathError",
    "ReportError",
    "RoundFailedError",
    "DPRoundDiscardedError",
    "SuperLinkIdentityError",
    "SiteConfigError",
]


class PPMLError(Exception):
    """Base class of every domain error raised by ppml_lab."""


class PrivacyBudgetExceeded(PPMLError, RuntimeError):
    """A release would spend more epsilon/delta than the ledger's budget; nothing was released."""


class KeyMismatchError(PPMLError, ValueError):
    """Ciphertexts or keys from different key pairs (or contexts) were combined."""


class PrecisionError(PPMLError, ValueError):
    """A value does not fit the encoding (fixed point, Paillier plaintext space, CKKS scale)."""


class InsecureParameterError(PPMLError, ValueError):
    """Parameters below the security bound were requested without the explicit opt-in flag."""


class DepthExhaustedError(PPMLError, ValueError):
    """A CKKS operation would need more multiplicative levels than the modulus chain has left."""


class SecretKeyMissingError(PPMLError, ValueError):
    """Decryption was attempted by a party that holds only public material."""


class InsufficientSharesError(PPMLError, ValueError):
    """Fewer shares than the reconstruction threshold were supplied."""


class ShareMismatchError(PPMLError, ValueError):
    """Shares from different sharings, moduli or shapes were combined."""


class TripleReuseError(PPMLError, RuntimeError):
    """A Beaver triple (or another one-time value) was used twice; reuse leaks x - x'."""


class ProtocolError(PPMLError, RuntimeError):
    """A multi-party protocol could not complete (a party failed, a message was malformed)."""


class PartyTimeoutError(ProtocolError, TimeoutError):
    """A party did not answer within the protocol's timeout."""


class DropoutThresholdError(ProtocolError):
    """Too many participants dropped out for the protocol to finish correctly."""


class UnsupportedModuleError(PPMLError, ValueError):
    """A model contains a layer whose per-sample gradients are undefined (e.g. BatchNorm)."""


class DeploymentError(PPMLError, RuntimeError):
    """A Flower deployment could not be prepared, started or completed."""


class UnmaskRefusedError(ProtocolError):
    """A secure-aggregation client refused an unmasking request (asked twice, inconsistent, or unsigned)."""


class AuthenticationError(PPMLError, ValueError):
    """A signature, certificate or other authenticator did not verify; the message was not acted on."""


class PrivacyUnitError(PPMLError, ValueError):
    """Privacy spends protecting different units (record, patient, site) were combined without conversion."""


class FrameTooLargeError(ProtocolError, ValueError):
    """A network message (frame) exceeds the transport's size bound; it was neither sent nor allocated."""


class InvalidGroupElementError(PPMLError, ValueError):
    """Bytes or a number that is not an element of the prime-order group (off the curve, small order, wrong length)."""


class UpdateMismatchError(PPMLError, ValueError):
    """Client updates disagree in structure: number of arrays, keys, shapes or dtypes."""


class CKKSBackendError(PPMLError, RuntimeError):
    """TenSEAL/SEAL raised an error that the up-front checks did not anticipate (message has context)."""


class SerializationError(PPMLError, ValueError):
    """A serialised key or ciphertext is malformed (missing fields, wrong types, values out of range)."""


class UnsafePathError(DeploymentError):
    """An output path could let another local user read a key or redirect a write (symlink, foreign owner,
    group/world-writable directory, file already present); nothing was written."""


class ReportError(PPMLError, ValueError):
    """A report input has the right type but an unusable value (e.g. no sites, duplicate names)."""


class RoundFailedError(DeploymentError):
    """A run ended, but a round aggregated fewer clients than its minimum (or never ran): no result.

    ``rounds`` holds the ServerApp's per-round rows (round, clients, loss, accuracy) for diagnosis.
    """

    def __init__(self, message: str, *, rounds: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.rounds = list(rounds or [])


class DPRoundDiscardedError(RoundFailedError):
    """Central DP discarded a round because a client failed in it (a dropout): Flower's
    ``DifferentialPrivacyClientSideFixedClipping.aggregate_fit`` returns no model for a round with any
    failure, so under DP one dropout costs the round even when SecAgg+ recovered the survivors' sum.

    Nothing was released for that round (no noised model), so the privacy spend of the rounds that did
    run is still bounded by the accountant. Recovery: run again (the SuperNodes stay up), or run DP without
    expected dropouts; ``rounds`` holds the per-round rows, ``dp_failures`` the failed clients per round.
    """


class SuperLinkIdentityError(AuthenticationError):
    """The server at the address a SuperNode dials is not the coordinator: its certificate does not chain to
    the coordinator's CA, or does not name that address. Nothing was sent to it."""


class SiteConfigError(PPMLError, ValueError):
    """A deployment config file entry is missing, of the wrong kind, out of bounds, or unknown.

    ``file``, ``field`` (``section.name``), ``bound`` and ``value`` say what and where.
    """

    def __init__(self, message: str, *, file: str = "", field: str = "", bound: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.file = file
        self.field = field
        self.bound = bound
        self.value = value
