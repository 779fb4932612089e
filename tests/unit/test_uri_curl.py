"""The uri module's curl path: a plain GET's command line and how its output reads."""

from __future__ import annotations

import shlex

from k8sboot.engine.modules.uri import _curl_answer, curl_command


def test_plain_get_with_client_cert_is_one_quoted_curl() -> None:
    cmd = curl_command({"url": "https://127.0.0.1:2379/health", "ca_path": "/etc/e d/ca.crt",
                        "client_cert": "/c.crt", "client_key": "/c.key", "timeout": 10})
    assert cmd is not None and cmd.startswith("command -v curl >/dev/null 2>&1 || exit 127; ")
    words = shlex.split(cmd.split("; ", 1)[1])
    assert words[:4] == ["curl", "-sS", "--max-time", "10"]
    assert words[words.index("--cacert") + 1] == "/etc/e d/ca.crt"
    assert words[-2:] == ["--", "https://127.0.0.1:2379/health"]
    assert "--cert" in words and "--key" in words and "-k" not in words


def test_requests_with_a_body_or_headers_are_left_to_python() -> None:
    assert curl_command({"url": "https://x/", "method": "POST", "body": {"a": 1}}) is None
    assert curl_command({"url": "https://x/", "headers": {"A": "b"}}) is None


def test_answers() -> None:
    assert _curl_answer('{"health":"true"}\n__k8sboot_status=200', "", 0) == \
        {"status": 200, "content": '{"health":"true"}'}
    assert _curl_answer("not ready\n__k8sboot_status=500", "", 0)["status"] == 500
    refused = _curl_answer("\n__k8sboot_status=000", "curl: (7) Failed to connect", 7)
    assert refused["status"] == -1 and "Failed to connect" in refused["msg"]
