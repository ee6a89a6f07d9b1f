from ppml_lab.exercises import nb06


def test_depth_degree7():
    assert nb06.check_depth_degree7(4).ok
    assert nb06.check_depth_degree7(4.0).ok
    assert not nb06.check_depth_degree7(8).ok
    assert "log2" in nb06.check_depth_degree7(8).hint
    assert not nb06.check_depth_degree7(3).ok
    assert not nb06.check_depth_degree7("four").ok
    assert not nb06.check_depth_degree7(True).ok


def test_ring_for_depth8_matches_select_params():
    from ppml_lab.he.ckks import select_params

    truth = select_params(depth=8, scale_bits=40).poly_modulus_degree
    assert truth == 32768  # 440 bits: two over N=16384's bound, so the preset table's depth-4 row does not answer it
    assert nb06.check_ring_for_depth8(truth).ok
    assert not nb06.check_ring_for_depth8(16384).ok
    assert "438" in nb06.check_ring_for_depth8(16384).message
    assert not nb06.check_ring_for_depth8(65536).ok
    assert not nb06.check_ring_for_depth8(32768.0).ok  # a power of two is a whole number
    assert not nb06.check_ring_for_depth8(None).answered


def test_packed_ciphertexts():
    assert nb06.check_packed_ciphertexts(90).ok
    assert not nb06.check_packed_ciphertexts(30).ok
    assert not nb06.check_packed_ciphertexts(10_000).ok
    assert not nb06.check_packed_ciphertexts(2.5).ok
    assert nb06.ciphertexts_for_hospital(patients=4096) == 30


def test_unanswered_does_not_raise():
    result = nb06.check_packed_ciphertexts(None)
    assert not result.ok and not result.answered and "not answered" in str(result)
