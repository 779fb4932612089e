"""etcd without an etcd: the quorum report, how the commands word it, the snapshot stream (pure)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from k8sboot.commands import etcd as cmd
from k8sboot.etcd import snapshot as snap
from k8sboot.errors import InputError
from k8sboot.etcd import (
    EtcdClient,
    EtcdTLS,
    Member,
    MemberStatus,
    QuorumReport,
    quorum,
    quorum_report,
)
from k8sboot.etcd.client import _copy_snapshot, _Failed, _json_stream
from k8sboot.etcd.report import NOT_STARTED
from k8sboot.inventory.model import Inventory

IDS = {"cp1": 0x11, "cp2": 0x22, "cp3": 0x33}
URL = {n: f"https://10.0.0.{i}:2379" for i, n in enumerate(IDS, start=1)}
NAMES = {u: n for n, u in URL.items()}
MEMBERS = [Member(IDS[n], n, (f"https://10.0.0.{i}:2380",), (URL[n],))
           for i, n in enumerate(IDS, start=1)]


def up(name: str, leader: str = "cp2") -> MemberStatus:
    return MemberStatus(URL[name], IDS[name], IDS[leader], 20480, 8, "3.4.23", None)


def down(name: str, error: str = "connection refused") -> MemberStatus:
    return MemberStatus(URL[name], None, None, None, None, None, error)


@pytest.mark.parametrize(("n", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_quorum_is_a_strict_majority(n: int, needed: int) -> None:
    assert quorum(n) == needed


def test_all_healthy_names_the_leader() -> None:
    report = quorum_report([up("cp1"), up("cp2"), up("cp3")], MEMBERS)
    assert report == QuorumReport(healthy=3, total=3, needed=2, leader="cp2", down=[])
    assert report.ok
    assert report.summary() == "quorum: 3/3 healthy (needs 2), leader: cp2"


def test_one_down_keeps_the_quorum_and_says_who_is_down() -> None:
    report = quorum_report([down("cp1"), up("cp2"), up("cp3")], MEMBERS, NAMES)
    assert report.ok
    assert report.summary() == ("quorum: 2/3 healthy (needs 2), leader: cp2; "
                                "down: cp1 (connection refused)")


def test_two_down_lose_the_quorum_naming_them_in_the_callers_order() -> None:
    lone = MemberStatus(URL["cp3"], IDS["cp3"], None, 20480, 9, "3.4.23", None)  # no leader
    report = quorum_report([down("cp1"), down("cp2", "timed out"), lone], MEMBERS, NAMES)
    assert not report.ok and report.leader is None
    assert report.summary() == ("quorum LOST: 1/3 healthy (needs 2); "
                                "down: cp1 (connection refused), cp2 (timed out)")


def test_a_leader_that_just_died_is_not_named_as_the_leader() -> None:
    # the survivors still name cp2 until they elect a new leader
    report = quorum_report([up("cp1"), down("cp2"), up("cp3")], MEMBERS, NAMES)
    assert report.ok and report.leader is None
    assert report.summary().startswith("quorum: 2/3 healthy (needs 2), leader: none; down: cp2")


def test_without_a_member_list_the_endpoints_stand_for_the_members() -> None:
    statuses = [down("cp1"), down("cp2"), down("cp3", "TLS: certificate has expired")]
    report = quorum_report(statuses, [], NAMES)
    assert (report.healthy, report.total, report.needed) == (0, 3, 2)
    assert report.down == [("cp1", "connection refused"), ("cp2", "connection refused"),
                           ("cp3", "TLS: certificate has expired")]
    # and without names, the endpoints themselves
    assert quorum_report(statuses[:1], []).down == [(URL["cp1"], "connection refused")]


def test_an_added_unstarted_member_counts_towards_the_quorum() -> None:
    new = Member(0x44, "", ("https://10.0.0.4:2380",), ())
    report = quorum_report([up("cp1"), up("cp2"), up("cp3")], [*MEMBERS, new])
    assert (report.healthy, report.total, report.needed) == (3, 4, 3)
    assert report.ok and report.down == [("44", NOT_STARTED)]


def test_a_member_advertising_another_address_is_matched_by_its_inventory_name() -> None:
    members = [Member(IDS["cp1"], "cp1", ("https://cp1:2380",), ("https://cp1.lan:2379",)),
               *MEMBERS[1:]]
    report = quorum_report([down("cp1"), up("cp2"), up("cp3")], members, NAMES)
    assert report.down == [("cp1", "connection refused")]


def test_an_error_spanning_lines_stays_on_one_summary_line() -> None:
    report = QuorumReport(1, 3, 2, None, [("cp1", "HTTP 503:\n  unavailable")])
    assert report.summary() == "quorum LOST: 1/3 healthy (needs 2); down: cp1 (HTTP 503: unavailable)"


def test_no_members_at_all_is_no_quorum() -> None:
    assert not QuorumReport(0, 0, 1, None).ok


# -- the command's words ---------------------------------------------------------
@pytest.mark.parametrize(("n", "text"), [(None, "-"), (0, "0 B"), (1023, "1023 B"),
                                         (20480, "20.0 KiB"), (5 * 2**20 + 2**19, "5.5 MiB"),
                                         (3 * 2**30, "3.0 GiB"), (2**50, "1024.0 TiB")])
def test_sizes_are_human(n: int | None, text: str) -> None:
    assert cmd.human_size(n) == text


def test_default_snapshot_path_is_in_the_state_dir_with_a_utc_timestamp() -> None:
    paris = timezone(timedelta(hours=1))
    when = datetime(2024, 3, 9, 14, 5, 7, tzinfo=paris)
    assert snap.default_snapshot_path(Path("/st"), "prod", when) == \
        Path("/st/etcd-snapshots/prod-20240309T130507Z.db")
    now = snap.default_snapshot_path(Path("/st"), "prod")
    assert now.name.startswith(f"prod-{datetime.now(UTC):%Y%m%d}T") and now.suffix == ".db"


def test_rows_follow_the_endpoints_then_members_no_endpoint_stands_for() -> None:
    new = Member(0x44, "", ("https://10.0.0.4:2380",), ())
    rows = cmd.status_rows([up("cp1"), down("cp2"), up("cp3")], [*MEMBERS, new], NAMES)
    assert [(r["name"], r["healthy"], r["leader"]) for r in rows] == [
        ("cp1", True, False), ("cp2", False, False), ("cp3", True, False), ("44", False, False)]
    assert rows[1]["error"] == "connection refused" and rows[1]["member_id"] == "22"
    assert rows[3]["error"] == NOT_STARTED and rows[3]["endpoint"] is None
    assert rows[0]["member_id"] == "11" and rows[0]["db_size"] == 20480


def test_the_table_and_the_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = [down("cp1"), up("cp2"), up("cp3")]
    rows = cmd.status_rows(statuses, MEMBERS, NAMES)
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    console.print(cmd.status_table(rows))
    console.print(cmd.summary_markup(quorum_report(statuses, MEMBERS, NAMES)))
    text = out.getvalue()
    for header in ("MEMBER", "ENDPOINT", "HEALTHY", "LEADER", "DB SIZE", "RAFT INDEX",
                   "VERSION", "ERROR"):
        assert header in text
    cp1 = next(line for line in text.splitlines() if "cp1" in line and "10.0.0.1" in line)
    assert "no" in cp1 and "connection refused" in cp1
    cp2 = next(line for line in text.splitlines() if "cp2" in line and "10.0.0.2" in line)
    assert [c.strip() for c in cp2.split("│")][3:8] == ["yes", "yes", "20.0 KiB", "8", "3.4.23"]
    assert text.rstrip().endswith(
        "quorum: 2/3 healthy (needs 2), leader: cp2; down: cp1 (connection refused)")


def test_json_carries_the_rows_and_the_quorum() -> None:
    statuses = [down("cp1"), down("cp2"), up("cp3")]
    report = quorum_report(statuses, MEMBERS, NAMES)
    data = cmd.status_data("prod", cmd.status_rows(statuses, MEMBERS, NAMES), report)
    assert data["quorum"] == {"ok": False, "healthy": 1, "total": 3, "needed": 2, "leader": None,
                              "down": [{"name": "cp1", "error": "connection refused"},
                                       {"name": "cp2", "error": "connection refused"}]}
    assert data["summary"].startswith("quorum LOST: 1/3 healthy")
    assert [m["name"] for m in data["members"]] == ["cp1", "cp2", "cp3"]


def test_snapshots_come_from_the_leader_first_then_other_healthy_members() -> None:
    statuses = [up("cp1"), down("cp3"), up("cp2")]
    assert [s.endpoint for s in snap.snapshot_sources(statuses)] == [URL["cp2"], URL["cp1"]]


def _inventory(tmp_path: Path, body: str) -> Inventory:
    from k8sboot.inventory import load_inventory

    path = tmp_path / "inv.yml"
    path.write_text(body)
    return load_inventory(path, [])


def test_endpoints_are_the_etcd_hosts_ip_and_client_port(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, """\
cluster: {name: prod}
hosts:
  cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}
  cp2: {address: 10.0.0.2, groups: [etcd, control_plane, nodes], vars: {ip: 192.168.1.2}}
  cp3:
    address: 10.0.0.3
    groups: [etcd, control_plane, nodes]
    vars: {etcd_client_port: 12379, etcd_member_name: third}
  w1: {address: 10.0.0.9, groups: [nodes]}
""")
    assert cmd.etcd_endpoints(inv) == {"https://10.0.0.1:2379": "cp1",
                                       "https://192.168.1.2:2379": "cp2",
                                       "https://10.0.0.3:12379": "third"}


def test_a_client_without_its_certificates_says_which_file_is_missing(tmp_path: Path) -> None:
    tls = EtcdTLS(tmp_path / "etcd/ca.crt", tmp_path / "c.crt", tmp_path / "c.key")
    with pytest.raises(InputError, match=r"etcd/ca\.crt is missing \(`k8sboot up` writes it\)"):
        EtcdClient(["https://10.0.0.1:2379"], tls)


# -- the snapshot stream -----------------------------------------------------------
class _Trickle(io.RawIOBase):
    """A response that hands out a few bytes per read, as a slow network would."""

    def __init__(self, data: bytes, steps: list[int]):
        self.data, self.steps = data, steps or [1 << 16]

    def read(self, n: int = -1) -> bytes:
        step = self.steps[0]
        self.steps = self.steps[1:] or self.steps
        out, self.data = self.data[:step], self.data[step:]
        return out


@pytest.mark.parametrize("separator", [b"\n", b"", b"\r\n"])
@pytest.mark.parametrize("step", [1, 7, 1 << 16])
def test_stream_objects_are_read_newline_separated_or_concatenated(separator: bytes,
                                                                   step: int) -> None:
    objects = [{"result": {"remaining_bytes": "5", "blob": "aGVsbG8="}},
               {"result": {"blob": "w6k="}}, {"é": "ü"}]  # split UTF-8 when step=1
    raw = separator.join(json.dumps(o, ensure_ascii=False).encode() for o in objects) + separator
    assert list(_json_stream(_Trickle(raw, [step]))) == objects


# a loaded machine is slow, not wrong; reproducible in CI, as tests/unit/test_fuzz_inputs.py
@settings(deadline=None, derandomize=bool(os.environ.get("CI")))
@given(objects=st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=40), max_size=3),
                        max_size=6),
       separators=st.lists(st.sampled_from(["", "\n", " ", "\r\n", "\n\n"]), min_size=1),
       steps=st.lists(st.integers(1, 50), min_size=1, max_size=8))
def test_stream_framing_survives_any_split_of_the_bytes(objects: list[dict[str, str]],
                                                        separators: list[str],
                                                        steps: list[int]) -> None:
    raw = "".join(json.dumps(o, ensure_ascii=False) + separators[i % len(separators)]
                  for i, o in enumerate(objects)).encode()
    assert list(_json_stream(_Trickle(raw, steps))) == objects


@pytest.mark.parametrize("raw", [b'{"result": {"blob": "AA"}', b'{"a": 1} [1, 2]', b"garbage",
                                 b'{"a": "\xc3'])
def test_a_broken_stream_is_an_error_not_a_hang(raw: bytes) -> None:
    with pytest.raises(_Failed):
        list(_json_stream(_Trickle(raw, [3])))


def _messages(db: bytes, chunk: int = 10) -> list[dict[str, object]]:
    """The stream etcd sends for this database: chunks, then the sha256."""
    out: list[dict[str, object]] = []
    for start in range(0, len(db), chunk):
        blob = db[start:start + chunk]
        left = len(db) - start - len(blob)
        result: dict[str, object] = {"blob": base64.b64encode(blob).decode()}
        if left:
            result["remaining_bytes"] = str(left)
        out.append({"result": result})
    out.append({"result": {"blob": base64.b64encode(hashlib.sha256(db).digest()).decode()}})
    return out


def test_a_whole_snapshot_is_copied_with_its_sha256() -> None:
    db = bytes(range(256)) * 3
    out = io.BytesIO()
    assert _copy_snapshot(_messages(db), out) == len(db) + 32
    assert out.getvalue() == db + hashlib.sha256(db).digest()


@pytest.mark.parametrize(("damage", "why"), [
    (lambda m: m[:-2], "ended early, 10 bytes short"),      # the last chunk never came
    (lambda m: m[:3] + m[4:], "sha256 does not match"),      # a chunk in the middle lost
    (lambda m: m[:-1], "sha256 does not match"),             # the trailer lost
    (lambda m: [], "empty snapshot"),
    (lambda m: m[:2] + [{"error": {"grpc_code": 14, "message": "etcdserver: stopped"}}],
     "broke off: etcdserver: stopped"),
    (lambda m: [{"result": {"blob": "%%%"}}], "not base64"),
])
def test_an_incomplete_or_damaged_snapshot_is_refused(damage, why: str) -> None:
    with pytest.raises(_Failed, match=why):
        _copy_snapshot(damage(_messages(bytes(range(100)))), io.BytesIO())
