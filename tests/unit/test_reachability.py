"""Which apiserver answers: first_answering on loopback sockets opened here, and the kubeconfig
that switches to a live apiserver."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from k8sboot.commands.kubeconfig import point_at_live_apiserver
from k8sboot.reachability import first_answering


def listening() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


@pytest.fixture
def live() -> Iterator[list[str]]:
    """Two URLs whose port accepts connections."""
    socks = [listening(), listening()]
    yield [f"https://127.0.0.1:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()


@pytest.fixture
def dead() -> list[str]:
    """Two URLs nothing listens on (bound then closed: refused at once)."""
    urls = []
    for _ in range(2):
        s = listening()
        urls.append(f"https://127.0.0.1:{s.getsockname()[1]}")
        s.close()
    return urls


# -- first_answering ------------------------------------------------------------------------

def test_the_first_live_url_in_the_given_order_wins(live, dead):
    assert first_answering([dead[0], live[1], dead[1], live[0]]) == live[1]
    assert first_answering([live[0], live[1]]) == live[0]
    assert first_answering([live[1], live[0]]) == live[1]


def test_none_when_nothing_answers(dead):
    assert first_answering(dead) is None
    assert first_answering([]) is None


def test_duplicates_are_harmless(live, dead):
    assert first_answering([dead[0], dead[0], live[0], live[0], dead[0]]) == live[0]
    assert first_answering([dead[1], dead[1]]) is None


def test_the_url_path_does_not_matter(live):
    assert first_answering([live[0] + "/"]) == live[0] + "/"


# -- point_at_live_apiserver ------------------------------------------------------------------

def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "admin.kubeconfig"
    data = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "ha", "cluster": {"server": server, "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": "Q0VSVA=="}}],
        "contexts": [{"name": "admin@ha", "context": {"cluster": "ha", "user": "admin"}}],
        "current-context": "admin@ha",
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o644)
    return path


def test_a_dead_server_is_replaced_by_a_live_one(tmp_path, live, dead):
    path = kubeconfig(tmp_path, dead[0])
    note = point_at_live_apiserver(path, [dead[0], dead[1], live[1], live[0]])
    assert note is not None and dead[0] in note and live[1] in note
    data = yaml.safe_load(path.read_text())
    assert data["clusters"][0]["cluster"]["server"] == live[1]
    # everything else is kept
    assert data["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="
    assert data["current-context"] == "admin@ha"
    assert data["users"][0]["user"]["client-certificate-data"] == "Q0VSVA=="
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_live_current_server_is_kept_even_when_an_earlier_one_answers(tmp_path, live):
    path = kubeconfig(tmp_path, live[1])
    before = path.read_bytes()
    assert point_at_live_apiserver(path, [live[0], live[1]]) is None
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not rewritten


def test_a_single_server_is_left_alone(tmp_path, dead, live):
    path = kubeconfig(tmp_path, dead[0])
    before = path.read_bytes()
    assert point_at_live_apiserver(path, [live[0]]) is None
    assert point_at_live_apiserver(path, []) is None
    assert path.read_bytes() == before


def test_none_answering_is_said_and_nothing_is_changed(tmp_path, dead):
    path = kubeconfig(tmp_path, dead[0])
    before = path.read_bytes()
    note = point_at_live_apiserver(path, dead)
    assert note is not None and "no apiserver answers" in note and dead[1] in note
    assert path.read_bytes() == before
