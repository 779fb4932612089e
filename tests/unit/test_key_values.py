"""`KEY=value` output (systemctl show, the fact scripts), read one way everywhere."""

from k8sboot.connection.result import key_values


def test_the_first_equals_sign_splits_and_other_lines_are_skipped():
    text = "ActiveState=active\nnot a pair\nEnvironment=A=1 B=2\nEmpty=\n\n"
    assert key_values(text) == {"ActiveState": "active", "Environment": "A=1 B=2", "Empty": ""}


def test_a_later_line_wins_as_systemctl_prints_one_per_property():
    assert key_values("X=1\nX=2") == {"X": "2"}
