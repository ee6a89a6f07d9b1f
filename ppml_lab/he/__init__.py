"""Homomorphic encryption: ``paillier`` (from scratch, additive) and ``ckks`` (a thin TenSEAL wrapper).

Import the modules directly (``from ppml_lab.he.paillier import generate_paillier_keypair``); nothing is
imported here so that Paillier never pulls in TenSEAL.
"""
