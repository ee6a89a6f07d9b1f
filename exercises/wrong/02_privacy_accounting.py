"""Typical wrong answers to the coding exercise of notebook 02 (advanced composition)."""

import math


def basic_composition(*, epsilon, delta, k, delta_prime):
    """Returns basic composition (k epsilon, k delta) and ignores delta_prime."""
    return k * epsilon, k * delta


def forgot_the_two(*, epsilon, delta, k, delta_prime):
    """sqrt(k ln(1/delta')) instead of sqrt(2 k ln(1/delta'))."""
    return math.sqrt(k * math.log(1 / delta_prime)) * epsilon + k * epsilon * math.expm1(epsilon), k * delta + delta_prime


def only_the_leading_term(*, epsilon, delta, k, delta_prime):
    """Drops the k eps (e^eps - 1) term (fine only as eps -> 0)."""
    return math.sqrt(2 * k * math.log(1 / delta_prime)) * epsilon, k * delta + delta_prime


def delta_not_multiplied(*, epsilon, delta, k, delta_prime):
    """Right epsilon, but delta_total = delta + delta' (forgets that each of the k steps can fail)."""
    eps = math.sqrt(2 * k * math.log(1 / delta_prime)) * epsilon + k * epsilon * math.expm1(epsilon)
    return eps, delta + delta_prime


def e_to_the_eps_without_minus_one(*, epsilon, delta, k, delta_prime):
    """k eps e^eps instead of k eps (e^eps - 1)."""
    return math.sqrt(2 * k * math.log(1 / delta_prime)) * epsilon + k * epsilon * math.exp(epsilon), k * delta + delta_prime


WRONG = {"q02_advanced_composition": [basic_composition, forgot_the_two, only_the_leading_term, delta_not_multiplied,
                                      e_to_the_eps_without_minus_one]}
