"""Forms real gitlab.rb files use beyond the template's own: heredocs, %-literals, adjacent
strings, CRLF and a byte-order mark, node[...] attributes and git_data_dirs, each read as
Ruby (omnibus-gitlab's Chef) reads it, and their malformed variants refused with the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ctl.config.gitlabrb import GitlabRbError, parse_gitlab_rb
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.config.validation import validate
from tests.unit.gitlab_ctl.test_config_templates import make_context, rendered

FACTS = {"fqdn": "gitlab.example.test", "hostname": "gitlab", "ipaddress": "192.0.2.10",
         "package": {"install-dir": "/opt/gitlab"}}


def nginx(text: str, facts: dict | None = FACTS) -> dict:
    return parse_gitlab_rb(text, facts)["nginx"]


def refusal(text: str) -> GitlabRbError:
    with pytest.raises(GitlabRbError) as caught:
        parse_gitlab_rb(text, FACTS)
    return caught.value


# -- heredocs -----------------------------------------------------------------------------
def test_heredocs_of_every_flavour_as_a_value():
    assert nginx("nginx['custom_gitlab_server_config'] = <<~CONF\n  location /x {\n"
                 "    deny all;\n  }\nCONF\nnginx['b'] = 1\n") == {
        "custom_gitlab_server_config": "location /x {\n  deny all;\n}\n", "b": 1}
    assert nginx("nginx['a'] = <<-EOS\n  kept\n  EOS\n") == {"a": "  kept\n"}
    assert nginx("nginx['a'] = <<EOS\n  EOS\nEOS\n") == {"a": "  EOS\n"}


def test_several_heredocs_on_one_line_and_as_arguments():
    assert nginx("nginx['a'] = [<<~A, <<~B] # two\n  one\nA\n    two\n  B\nnginx['c'] = 3\n") == {
        "a": ["one\n", "two\n"], "c": 3}
    assert nginx("nginx['h'] = { 'k' => <<~V, 'j' => 2 }\n  text\nV\n") == {
        "h": {"k": "text\n", "j": 2}}


def test_a_heredoc_interpolates_known_values_and_expands_escapes_unless_single_quoted():
    assert nginx('nginx[\'a\'] = <<~"EOS"\n  #{node[\'fqdn\']}\\t"q"\nEOS\n') == {
        "a": 'gitlab.example.test\t"q"\n'}
    assert nginx("nginx['a'] = <<~'EOS'\n  #{x}\\t\nEOS\n") == {"a": "#{x}\\t\n"}


def test_squiggly_dedent_counts_tabs_as_ruby_does_and_ignores_blank_lines():
    assert nginx("nginx['a'] = <<~EOS\n\t  a\n\n\t    b\nEOS\n") == {"a": "a\n\n  b\n"}


def test_lines_after_a_heredoc_keep_their_numbers():
    assert refusal("nginx['a'] = <<~EOS\n  x\n  y\nEOS\nnginx['b'] = `id`\n").line == 5


@pytest.mark.parametrize(("text", "line", "message"), [
    ("nginx['a'] = <<~EOS\n  x\n", 1, "heredoc <<EOS is never closed"),
    ("nginx['a'] = <<EOS\n  x\n  EOS\n", 1, "heredoc <<EOS is never closed"),
    ("\nnginx['a'] = <<~EOS + 'a\nb'\nEOS\n", 2, "a line that opens a heredoc must end"),
    ("nginx['a'] = <<~EOS\n  #{system('id')}\nEOS\n", 2, "#{...} supports only a plain"),
    ("nginx['a'] = <<~EOS\n  #{node['nope']}\nEOS\n", 2, "unknown node attribute"),
])
def test_malformed_heredocs_are_named_by_line(text, line, message):
    error = refusal(text)
    assert (error.line, error.message[:len(message)]) == (line, message)
    assert error.hint


# -- arrays of pairs, adjacent strings, %-literals ----------------------------------------------
def test_pairs_in_an_array_make_one_hash_element():
    assert nginx("nginx['a'] = [ 'job_name' => 'x', 'static_configs' => [ 'targets' => "
                 "['h:1'] ] ]\nnginx['b'] = [1, 'a' => 2]\n") == {
        "a": [{"job_name": "x", "static_configs": [{"targets": ["h:1"]}]}], "b": [1, {"a": 2}]}


def test_adjacent_strings_make_one_even_across_a_continued_line():
    assert nginx("nginx['a'] = \"a\" 'b' \"#{node['hostname']}\"\n"
                 "nginx['b'] = 'x' \\\n   \"y\"\nnginx['c'] = ['p' 'q', 'r']\n") == {
        "a": "abgitlab", "b": "xy", "c": ["pq", "r"]}
    assert refusal("nginx['a'] = 'x'\n'y'\n").line == 2


@pytest.mark.parametrize(("literal", "value"), [
    ("%w[a b]", ["a", "b"]), ("%i[a b]", ["a", "b"]), ("%i<x y>", ["x", "y"]),
    ("%W[a#{node['hostname']} b\\tc]", ["agitlab", "b\tc"]),
    ("%I(a b)", ["a", "b"]),
    ("%q(it's (nested) \\) \\n)", "it's (nested) ) \\n"), ("%q|a b|", "a b"),
    ("%Q{#{node['fqdn']} {x}\\t}", "gitlab.example.test {x}\t"),
    ("%Q<a>", "a"), ("%(x \"y\")", 'x "y"'), ("%Q!a!", "a"), ("%q[a[b]]", "a[b]"),
])
def test_percent_literals_with_every_delimiter(literal, value):
    assert nginx(f"nginx['a'] = {literal}\n") == {"a": value}


@pytest.mark.parametrize(("text", "message"), [
    ("nginx['a'] = %q(abc\n", "unterminated string %q("),
    ("nginx['a'] = %W[a\n", "unterminated word list %W["),
    ("nginx['a'] = %x(id)\n", "shell commands (%x)"),
    ("nginx['a'] = %Q(#{system('id')})\n", "#{...} supports only a plain"),
])
def test_malformed_percent_literals_are_named(text, message):
    error = refusal(text)
    assert (error.line, error.message[:len(message)]) == (1, message)


# -- encodings --------------------------------------------------------------------------
def test_a_byte_order_mark_and_crlf_lines_read_as_ruby_reads_them():
    text = ("\ufeffnginx['a'] = 'x'\r\nnginx['b'] = <<~EOS\r\n  one\r\n  two\r\nEOS\r\n"
            "nginx['c'] = \"p\r\nq\"\r\n")
    assert nginx(text) == {"a": "x", "b": "one\ntwo\n", "c": "p\nq"}
    assert refusal("nginx['a'] = 1\r\n\r\nnginx['b'] = `id`\r\n").line == 3


def test_gitlab_omnibus_config_from_a_windows_editor(tmp_path: Path):
    config = tmp_path / "gitlab.rb"
    config.write_text("nginx['a'] = 1\n")
    environ = {"GITLAB_OMNIBUS_CONFIG": "\ufeffnginx['b'] = <<~EOS\r\n  x\r\nEOS\r\n"}
    settings, _ = read_config(config, FACTS, environ)
    assert settings["nginx"] == {"a": 1, "b": "x\n"}


# -- node[...] ----------------------------------------------------------------------------
def test_node_attributes_read_facts_the_install_dir_and_section_defaults():
    assert nginx("nginx['a'] = \"#{node['package']['install-dir']}/embedded/ssl/certs/\"\n"
                 "nginx['b'] = node['ipaddress']\nnginx['c'] = node[:fqdn]\n"
                 "nginx['d'] = node['gitlab']['gitlab_rails']['registry_path']\n") == {
        "a": "/opt/gitlab/embedded/ssl/certs/", "b": "192.0.2.10",
        "c": "gitlab.example.test", "d": "/var/opt/gitlab/gitlab-rails/shared/registry"}


def test_the_install_dir_is_the_packages_even_without_facts():
    assert nginx("nginx['a'] = \"#{node['package']['install-dir']}/embedded\"\n", None) == {
        "a": "/opt/gitlab/embedded"}


@pytest.mark.parametrize("reference", ["node['nope']", "node['kernel']['release']",
                                       "node['fqdn']['x']", "node['gitlab']['nope']['x']"])
def test_an_unknown_node_attribute_is_named(reference):
    error = refusal(f"\nnginx['a'] = {reference}\n")
    assert (error.line, error.message) == (2, f"unknown node attribute {reference}")
    assert "node['package']['install-dir']" in error.hint


# -- git_data_dirs ------------------------------------------------------------------------
GIT_DATA_DIRS = """\
git_data_dirs({
  "default" => { "path" => "/mnt/nfs-01/git-data" },
  "alt" => { :path => "/mnt/nfs-02/git-data/" },
})
"""


@pytest.mark.parametrize("text", [
    GIT_DATA_DIRS,
    'git_data_dirs "default" => { "path" => "/mnt/nfs-01/git-data" },\n'
    '  "alt" => { path: "/mnt/nfs-02/git-data/" }\n',
    'git_data_dirs({ "default" => { "path" => "/mnt/nfs-01/git-data" }, '
    '"alt" => { "path" => "/mnt/nfs-02/git-data/" } })\n',
])
def test_git_data_dirs_in_every_call_form(text):
    settings = parse_gitlab_rb(text, FACTS)
    assert settings["git_data_dirs"] == {"default": {"path": "/mnt/nfs-01/git-data"},
                                         "alt": {"path": "/mnt/nfs-02/git-data/"}}


def test_git_data_dirs_become_gitaly_storages_rendered_for_gitaly_and_rails(tmp_path: Path):
    context = make_context(parse_gitlab_rb(GIT_DATA_DIRS, FACTS))
    assert context.attributes["gitaly"]["configuration"]["storage"] == [
        {"name": "default", "path": "/mnt/nfs-01/git-data/repositories"},
        {"name": "alt", "path": "/mnt/nfs-02/git-data/repositories"}]
    files = rendered(context)
    toml = next(text for name, text in files.items() if name.endswith("gitaly/config.toml"))
    yml = next(text for name, text in files.items() if name.endswith("etc/gitlab.yml"))
    assert 'path = "/mnt/nfs-01/git-data/repositories"' in toml
    assert 'name = "alt"' in toml and 'path = "/mnt/nfs-02/git-data/repositories"' in toml
    storages = yml.split("storages:", 1)[1].split("\n\n", 1)[0]  # Rails reaches them by name
    assert [line.strip() for line in storages.splitlines() if line.strip().endswith(":")] == [
        '"default":', '"alt":']


def test_gitalys_own_storage_wins_over_git_data_dirs():
    context = make_context(parse_gitlab_rb(
        GIT_DATA_DIRS + "gitaly['configuration'] = { storage: [{ name: 'x', path: '/x' }] }\n"))
    assert context.attributes["gitaly"]["configuration"]["storage"] == [
        {"name": "x", "path": "/x"}]


def test_git_data_dirs_warns_once_naming_its_line_and_the_replacements(tmp_path: Path):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n" + GIT_DATA_DIRS)
    settings, lines = read_config(config, FACTS, {})
    warnings = validate(make_context(settings).attributes, settings, lines, config)
    deprecations = [w for w in warnings if "git_data_dirs" in w]
    assert len(deprecations) == 1
    assert deprecations[0].startswith(f"{config}:2: git_data_dirs is deprecated")
    assert "gitaly['configuration'][:storage]" in deprecations[0]
    assert "gitlab_rails['repositories_storages']" in deprecations[0]


@pytest.mark.parametrize(("text", "message"), [
    ("git_data_dirs('/data')\n", "git_data_dirs takes a hash of storage names"),
    ("git_data_dirs({ 'default' => '/data' })\n", "git_data_dirs['default'] must be a hash"),
    ("git_data_dirs({ 'default' => { 'path' => 'data' } })\n",
     "git_data_dirs['default']['path'] must be an absolute path"),
    ("git_data_dirs({ 'default' => { 'path' => '/d' } } ]\n", "expected ')'"),
])
def test_malformed_git_data_dirs_are_refused_with_the_line(text, message):
    error = refusal("\n" + text)
    assert (error.line, error.message[:len(message)]) == (2, message)
    assert error.hint
