"""Homomorphic encryption: ``paillier`` (from scratch, additive; a package of encoding, keys, ciphertext,
packing, serialization and phe interop) and ``ckks`` (a thin TenSEAL wrapper).

Import the modules directly (``from ppml_lab.he.paillier import generate_paillier_keypair``); nothing is
imported here so that Paillier never pulls in TenSEAL.
"""

__all__: list[str] = []  # nothing re-exported: each scheme is its own (sub-)package
