import math

import torch

from ppml_lab.attacks.gradient_inversion import digit_images, recover_labels
from ppml_lab.exercises import nb10


def test_psnr_from_rmse():
    assert nb10.check_psnr_from_rmse(20 * math.log10(1 / 0.05)).ok
    assert not nb10.check_psnr_from_rmse(10 * math.log10(1 / 0.05)).ok  # forgot to square
    assert "square" in nb10.check_psnr_from_rmse(13.0103).hint
    assert not nb10.check_psnr_from_rmse("high").ok


def test_mystery_label():
    model, update = nb10.mystery_update()
    truth = int(digit_images()[1][nb10.MYSTERY_INDEX])
    assert int(recover_labels(model, update, batch_size=1)) == truth  # the intended route works
    assert nb10.check_mystery_label(truth).ok
    assert nb10.check_mystery_label(torch.tensor(truth)).ok
    assert not nb10.check_mystery_label((truth + 1) % 10).ok
    assert not nb10.check_mystery_label(2.5).ok


def test_equivalent_batch():
    assert nb10.check_equivalent_batch(40).ok
    assert not nb10.check_equivalent_batch(4).ok
    assert not nb10.check_equivalent_batch(10).ok
    assert not nb10.check_equivalent_batch(14).ok


def test_noise_std():
    assert nb10.check_noise_std(0.0625).ok
    assert not nb10.check_noise_std(0.5).ok  # noise on the sum
    assert "divide" in nb10.check_noise_std(0.5).hint
    assert not nb10.check_noise_std(0.0625**2).ok
    assert not nb10.check_noise_std(None).ok


def test_unanswered_is_not_a_pass_and_does_not_raise():
    for check in (nb10.check_psnr_from_rmse, nb10.check_mystery_label, nb10.check_equivalent_batch,
                  nb10.check_noise_std):
        result = check(None)
        assert not result.ok and not result.answered
        assert "not answered" in str(result)
