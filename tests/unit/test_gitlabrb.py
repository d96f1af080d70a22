"""gitlab.rb is read by a parser, never run: every form the real template uses, and refusals
that name the line."""

from __future__ import annotations

import pytest

from gitlab_ctl.gitlabrb import GitlabRbError, parse_gitlab_rb

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
