"""Whatever gitlab.rb holds, the parser answers with an error naming the line, never a
traceback, a hang or gigabytes of memory: nesting, literal sizes, what references, `+` and
YAML aliases expand to, and the size of the whole source are bounded."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from gitlab_ctl.config.gitlabrb import GitlabRbError, parse_gitlab_rb
from gitlab_ctl.config.reader import ConfigError, read_config
from tests.conftest import REPO

URL = "external_url 'http://gitlab.example.test'\n"
FACTS = {"fqdn": "gitlab.example.test"}
MIB = 1024 * 1024


def refusal(text: str) -> GitlabRbError:
    with pytest.raises(GitlabRbError) as caught:
        parse_gitlab_rb(text, FACTS)
    assert caught.value.hint
    return caught.value


def show_config_within(tmp_path, text: str, name: str = "gitlab.rb",
                       verb: tuple[str, ...] = ("show-config",),
                       memory: int = 1024 * MIB) -> tuple[int, str]:
    """`gitlab-ctl VERB --config FILE` in a process of at most `memory` bytes and 60 seconds
    (what blew up before these limits would otherwise take the machine with it)."""
    config = tmp_path / name
    config.write_text(text)
    code = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({memory}, "
            f"{memory})); from gitlab_ctl.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, *verb, "--config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


@pytest.mark.parametrize("value", [
    "[" * 200 + "]" * 200, "(" * 200 + "1" + ")" * 200, "-" * 2000 + "1",
    "{'a' => " * 200 + "1" + "}" * 200, "gitlab_rails[" * 200 + "'a'" + "]" * 200,
])
def test_nesting_past_64_levels_is_refused(value):
    error = refusal(f"{URL}gitlab_rails['a'] = {value}\n")
    assert (error.line, error.message) == (2, "nested more than 64 levels deep")


def test_nesting_within_the_limit_is_fine():
    settings = parse_gitlab_rb("gitlab_rails['a'] = " + "[" * 60 + "]" * 60 + "\n")
    assert str(settings["gitlab_rails"]["a"]).count("[") == 60


def test_keys_and_copies_count_towards_the_nesting_limit():
    error = refusal("gitlab_rails" + "['a']" * 70 + " = 1\n")
    assert (error.line, error.message) == (1, "nested more than 64 levels deep")
    wrap = "".join("gitlab_rails['a'] = [gitlab_rails['a']]\n" for _ in range(70))
    error = refusal(f"gitlab_rails['a'] = []\n{wrap}")
    assert (error.line, error.message) == (64, "nested more than 64 levels deep")


def test_a_number_of_more_than_100_digits_is_refused_as_written_or_computed():
    error = refusal(f"{URL}gitlab_rails['a'] = {'9' * 5000}\n")
    assert (error.line, error.message) == (2, "a number of more than 100 digits")
    squares = "".join("gitlab_rails['a'] = gitlab_rails['a'] * gitlab_rails['a']\n"
                      for _ in range(12))
    error = refusal(f"gitlab_rails['a'] = 10\n{squares}")
    # 10 ** 128 (line 8) is the first square of more than 100 digits
    assert (error.line, error.message) == (8, "a number of more than 100 digits")


def test_a_string_of_more_than_1_mib_is_refused_as_written_or_made_by_plus():
    error = refusal(f"{URL}gitlab_rails['a'] = '{'x' * (MIB + 1)}'\n")
    assert (error.line, error.message) == (
        2, "a string longer than 1 MiB (1,048,576 characters)")
    doubled = "".join("gitlab_rails['a'] = gitlab_rails['a'] + gitlab_rails['a']\n"
                      for _ in range(25))
    error = refusal(f"gitlab_rails['a'] = 'xx'\n{doubled}")
    assert (error.line, error.message) == (21, "a string longer than 1 MiB (1,048,576 characters)")


def test_copies_that_add_up_to_more_than_16_mib_are_refused():
    copies = "".join(f"gitlab_rails['b{n}'] = gitlab_rails['a']\n" for n in range(40))
    error = refusal(f"gitlab_rails['a'] = '{'x' * (MIB - 10)}'\n{copies}")
    assert error.line == 17
    assert error.message.startswith("the settings expand to more than 16 MiB")


def test_a_reference_is_a_copy_so_no_setting_contains_itself():
    settings = parse_gitlab_rb("nginx['a'] = {'x' => 1}\nnginx['a']['self'] = nginx['a']\n"
                               "nginx['b'] = nginx['a']\nnginx['a']['x'] = 2\n")
    assert settings["nginx"] == {"a": {"x": 2, "self": {"x": 1}},
                                 "b": {"x": 1, "self": {"x": 1}}}


YAML_BOMB = "".join(
    f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True))
YAML_HEREDOC = f"gitlab_rails['ldap'] = YAML.load <<-'EOS'\n  a: &a [x, x, x, x]\n{YAML_BOMB}EOS\n"


def test_yaml_aliases_that_expand_past_16_mib_are_refused_without_expanding_them():
    error = refusal(URL + YAML_HEREDOC)
    assert error.line == 10
    assert error.message.startswith("in the YAML heredoc: the YAML expands to more than 16 MiB")


@pytest.mark.parametrize(("yaml_text", "line", "message"), [
    ("a: &a [*a]\n", 2, "an alias inside what it names"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 2, "nested more than 64 levels deep"),
    ("a: " + "9" * 5000 + "\n", 2, "a number of more than 100 digits"),
    ("a: !!int abc\n", 2, "a value does not fit its YAML tag"),
    ("a: [\n", 3, "not valid YAML"),
])
def test_yaml_past_the_limits_or_broken_is_refused_with_its_line(yaml_text, line, message):
    error = refusal(f"gitlab_rails['a'] = YAML.load <<-'EOS'\n{yaml_text}EOS\n")
    assert error.line == line
    assert error.message.startswith(f"in the YAML heredoc: {message}")


def test_yaml_values_become_plain_data():
    settings = parse_gitlab_rb("gitlab_rails['a'] = YAML.load <<-'EOS'\n  d: 2024-01-02\n"
                               "  1: one\n  s: &s {k: v}\n  t: *s\nEOS\n")
    assert settings["gitlab_rails"]["a"] == {"d": "2024-01-02", "1": "one", "s": {"k": "v"},
                                             "t": {"k": "v"}}


def test_invalid_utf8_is_refused_with_the_line_of_the_first_bad_byte(tmp_path):
    config = tmp_path / "gitlab.rb"
    config.write_bytes(URL.encode() + b"\ngitlab_rails['a'] = 'caf\xe9'\n")
    with pytest.raises(ConfigError) as caught:
        read_config(config, facts=FACTS, environ={})
    assert caught.value.where == f"{config}:3"
    assert caught.value.message == "is not valid UTF-8 (byte 0xe9 at column 25)"
    config.write_text(URL)
    with pytest.raises(ConfigError) as caught:  # what os.environ makes of such bytes
        read_config(config, facts=FACTS,
                    environ={"GITLAB_OMNIBUS_CONFIG": "nginx['a'] = 1\nnginx['b'] = 'caf\udce9'"})
    assert (caught.value.where, caught.value.message) == (
        "GITLAB_OMNIBUS_CONFIG:2", "is not valid UTF-8 (byte 0xe9)")


def test_a_10_mb_string_is_refused_without_the_memory_it_used_to_take(tmp_path):
    status, error = show_config_within(tmp_path, f"{URL}gitlab_rails['a'] = '{'x' * 10_000_000}'\n")
    assert status == 2
    assert f"{tmp_path / 'gitlab.rb'}:2: is larger than 4 MiB" in error


def test_a_string_doubled_on_each_line_is_refused_in_show_config(tmp_path):
    doubled = "".join("gitlab_rails['a'] = gitlab_rails['a'] + gitlab_rails['a']\n"
                      for _ in range(60))
    status, error = show_config_within(tmp_path, f"{URL}gitlab_rails['a'] = 'xx'\n{doubled}")
    assert status == 2
    assert f"{tmp_path / 'gitlab.rb'}:22: a string longer than 1 MiB" in error


def test_an_integer_squared_on_each_line_is_refused_in_show_config(tmp_path):
    squares = "".join("gitlab_rails['a'] = gitlab_rails['a'] * gitlab_rails['a']\n"
                      for _ in range(40))
    status, error = show_config_within(tmp_path, f"{URL}gitlab_rails['a'] = 10\n{squares}")
    assert status == 2
    assert f"{tmp_path / 'gitlab.rb'}:9: a number of more than 100 digits" in error


@pytest.mark.parametrize("verb", [("show-config",), ("check-config",)])
def test_yaml_aliases_are_refused_in_the_config_commands(tmp_path, verb):
    status, error = show_config_within(tmp_path, URL + YAML_HEREDOC, verb=verb)
    assert status == 2
    assert f"{tmp_path / 'gitlab.rb'}:10: in the YAML heredoc: the YAML expands" in error


def test_yaml_merge_keys_that_double_on_each_line_are_refused(tmp_path):
    merges = "".join(f"  m{n}: &m{n} {{<<: [*m{n - 1}, *m{n - 1}], k{n}: 1}}\n"
                     for n in range(1, 40))
    text = f"gitlab_rails:\n  m0: &m0 {{k: 1}}\n{merges}"
    status, error = show_config_within(tmp_path, text, name="gitlab.yml")
    assert status == 2
    assert "the YAML expands to more than 16 MiB" in error


def test_reconfigure_dry_run_refuses_yaml_aliases_before_anything(tmp_path, monkeypatch):
    for name in ("INSTALL", "ETC", "DATA", "LOG"):
        monkeypatch.setenv(f"GITLAB_{name}_DIR", str(tmp_path / name.lower()))
    status, error = show_config_within(tmp_path, URL + YAML_HEREDOC,
                                       verb=("reconfigure", "--dry-run"))
    assert status == 2
    assert f"{tmp_path / 'gitlab.rb'}:10: in the YAML heredoc: the YAML expands" in error


def test_mangled_gitlab_rb_is_refused_with_a_line_never_a_traceback():
    """Seeded mutations of every form the template uses: whatever comes out, the parser
    either reads it or refuses it as GitlabRbError."""
    from tests.unit.gitlab_ctl.test_gitlabrb import TEMPLATE_FORMS

    pieces = [*"'\"#{}[]()%<-~:,=>+*/\\\n0x9_e. ", "\\u{", "\\x", "#{", "%w(", "%x(", "<<-'EOS'\n",
              "<<~EOS\n", "EOS\n", "YAML.load ", "node['fqdn']", "&a ", "*a", "<<: ", "é", "\r",
              "(" * 300, "-" * 300, "[" * 300, "9" * 5000]
    rng = random.Random(20240601)
    for _ in range(400):
        text = list(TEMPLATE_FORMS)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(text))
            if rng.random() < 0.5:
                text.insert(at, rng.choice(pieces))
            else:
                del text[at:at + rng.randint(1, 4)]
        try:
            parse_gitlab_rb("".join(text), FACTS)
        except GitlabRbError as error:
            assert error.line >= 1 and error.message
