from ppml_lab.exercises import nb16


def test_privacy_unit():
    assert nb16.check_privacy_unit("hospital")
    assert not nb16.check_privacy_unit("patient")
    assert not nb16.check_privacy_unit("country")
    assert not nb16.check_privacy_unit(None).answered


def test_total_epsilon():
    assert nb16.check_total_epsilon(2.0)
    assert not nb16.check_total_epsilon(1.0)
    assert not nb16.check_total_epsilon("lots")
    assert nb16.check_total_epsilon(3.5, releases=(1.5, 2.0))
    assert not nb16.check_total_epsilon(None).answered


def test_secagg_gap():
    assert nb16.check_secagg_gap("b")
    assert not nb16.check_secagg_gap("a")
    assert not nb16.check_secagg_gap("c")
    assert not nb16.check_secagg_gap("d")
    assert not nb16.check_secagg_gap(None).answered


def test_group_privacy():
    from ppml_lab.dp.ledger import group_privacy

    assert nb16.check_group_privacy(1.0)
    assert nb16.check_group_privacy(group_privacy(epsilon=0.02, group_size=50)[0])  # the ledger's conversion
    assert not nb16.check_group_privacy(0.02)
    assert "different unit" in nb16.check_group_privacy(0.02).message
    assert not nb16.check_group_privacy("x")
    assert not nb16.check_group_privacy(None).answered
