from pathlib import Path

import jinja2
import pytest

from k8sboot.engine.templating import Templar, version_test


def make(tmp_path: Path, files: dict[str, str], user: dict[str, str] | None = None) -> Templar:
    top = tmp_path / "top"
    for name, text in files.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    dirs = []
    if user:
        ud = tmp_path / "user"
        for name, text in user.items():
            (ud / name).parent.mkdir(parents=True, exist_ok=True)
            (ud / name).write_text(text)
        dirs.append(ud)
    return Templar(dirs + [top])


def test_user_directory_overrides_shipped_template(tmp_path):
    t = make(tmp_path, {"etcd/unit.j2": "shipped {{ x }}"}, user={"etcd/unit.j2": "mine {{ x }}"})
    assert t.render_file("etcd/unit.j2", {"x": 1}) == "mine 1"


def test_shipped_template_used_when_user_has_none(tmp_path):
    t = make(tmp_path, {"a.j2": "shipped"}, user={"b.j2": "other"})
    assert t.render_file("a.j2", {}) == "shipped"


def test_undefined_variable_is_an_error(tmp_path):
    t = make(tmp_path, {"a.j2": "{{ missing }}"})
    with pytest.raises(jinja2.UndefinedError):
        t.render_file("a.j2", {})


def test_single_expression_keeps_native_type(tmp_path):
    t = make(tmp_path, {})
    assert t.render_value("{{ items }}", {"items": [1, 2]}) == [1, 2]
    assert t.render_value("{{ n + 1 }}", {"n": 2}) == 3
    assert t.render_value("n={{ n }}", {"n": 2}) == "n=2"
    assert t.render_value({"a": ["{{ n }}"]}, {"n": True}) == {"a": [True]}


def test_when_accepts_bare_expressions_and_lists(tmp_path):
    t = make(tmp_path, {})
    v = {"group_names": ["etcd", "nodes"], "flag": "yes"}
    assert t.condition("'etcd' in group_names", v)
    assert not t.condition("'control_plane' in group_names", v)
    assert t.condition(["'etcd' in group_names", "flag | bool"], v)
    assert not t.condition(["'etcd' in group_names", "not (flag | bool)"], v)
    assert t.condition("{{ 'nodes' in group_names }}", v)


@pytest.mark.parametrize(
    "a,b,op,expected",
    [("1.20.2", "1.24", "<", True), ("1.27.0", "1.27", ">=", True), ("1.20.2", "1.20.2", "==", True),
     ("3.4.23", "3.5", "lt", True), ("1.9", "1.10", "<", True),
     # Ansible's loose versions: a longer version is the greater, no zero padding
     ("1.27", "1.27.0", "==", False)],
)
def test_version_test_compares_numerically(a, b, op, expected):
    assert version_test(a, b, op) is expected


def test_version_test_rejects_a_leading_v_as_ansible_does():
    # LooseVersion('v1.20.2') starts with the word 'v': Ansible cannot order it against 1.24
    with pytest.raises(jinja2.TemplateError, match="regex_replace"):
        version_test("v1.20.2", "1.24", "<")


def test_version_test_in_templates(tmp_path):
    t = make(tmp_path, {"k.j2": "{% if v | regex_replace('^v', '') is version('1.24', '<') %}"
                                "--container-runtime=remote{% endif %}"})
    assert t.render_file("k.j2", {"v": "v1.20.2"}) == "--container-runtime=remote"
    assert t.render_file("k.j2", {"v": "v1.27.1"}) == ""


def test_ansible_filters(tmp_path):
    t = make(tmp_path, {})
    assert t.render_value("{{ 'abc' | b64encode }}", {}) == "YWJj"
    assert t.render_value("{{ 'no' | bool }}", {}) is False
    assert t.render_value("{{ x | to_json }}", {"x": {"a": 1}}) == '{"a": 1}'
    assert t.render_value("{{ x | to_nice_yaml }}", {"x": {"a": 1}}) == "a: 1\n"
    assert t.render_value("{{ x | to_nice_yaml }}", {"x": {"b": {"c": 1}, "a": 2}}) == "a: 2\nb:\n    c: 1\n"


def count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def spy(self: jinja2.Environment, source: str, name: str | None = None, *args: object, **kw: object) -> object:
        compiled.append(name or "<string>")
        return real(self, source, name, *args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    return compiled


def test_a_later_run_renders_file_templates_compiled_by_an_earlier_one(tmp_path, monkeypatch):
    top = tmp_path / "top"
    top.mkdir()
    (top / "unit.j2").write_text("[Service]\n{% for f in flags %}--{{ f }}\n{% endfor %}")
    compiled = count_compiles(monkeypatch)
    first = Templar([top], cache_dir=tmp_path / "cache").render_file("unit.j2", {"flags": ["a", "b"]})
    assert compiled == ["unit.j2"]
    again = Templar([top], cache_dir=tmp_path / "cache").render_file("unit.j2", {"flags": ["a", "b"]})
    assert again == first == "[Service]\n--a\n--b\n"
    assert compiled == ["unit.j2"]  # the second Templar (a new run) did not compile it
    assert list((tmp_path / "cache").iterdir())[0].name == f"jinja-{jinja2.__version__}"

    (top / "unit.j2").write_text("[Unit]\n")  # an edited template is compiled again, never served stale
    assert Templar([top], cache_dir=tmp_path / "cache").render_file("unit.j2", {}) == "[Unit]\n"
    assert compiled == ["unit.j2", "unit.j2"]


def test_a_cache_that_cannot_be_made_or_written_still_renders(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    (top / "a.j2").write_text("{{ x }}")
    (tmp_path / "file").write_text("a file where the cache directory would go")
    assert Templar([top], cache_dir=tmp_path / "file").render_file("a.j2", {"x": 1}) == "1"

    templar = Templar([top], cache_dir=tmp_path / "cache")
    (tmp_path / "cache" / f"jinja-{jinja2.__version__}").rmdir()  # removed under a running command
    assert templar.render_file("a.j2", {"x": 2}) == "2"
