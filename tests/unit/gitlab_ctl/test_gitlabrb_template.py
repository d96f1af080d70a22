"""omnibus-gitlab's own gitlab.rb template (tests/data, a verbatim copy at 440b1f835eb2) with
every commented-out setting uncommented parses, as one file, to the values Ruby would make."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ctl.config.gitlabrb import GitlabRbError, parse_gitlab_rb, parse_gitlab_rb_lines
from tests.unit.gitlab_ctl.uncomment_template import PLACEHOLDERS, is_placeholder, uncomment

TEMPLATE = Path(__file__).parents[2] / "data" / "omnibus-gitlab-gitlab.rb.template"
FACTS = {"fqdn": "gitlab.example.test", "hostname": "gitlab",
         "package": {"install-dir": "/opt/gitlab"}}


@pytest.fixture(scope="module")
def statements() -> list[tuple[int, str]]:
    return uncomment(TEMPLATE.read_text(encoding="utf-8"))


def test_every_uncommented_setting_of_the_template_parses_as_one_file(statements):
    kept = [statement for _, statement in statements if not is_placeholder(statement)]
    assert (len(statements), len(kept)) == (1527, 1518)
    settings, lines = parse_gitlab_rb_lines("\n".join(kept) + "\n", FACTS)
    assert len(lines) == 1516  # distinct settings: two are shown twice
    rails = settings["gitlab_rails"]
    assert settings["gitlab_pages"]["env"] == {
        "SSL_CERT_DIR": "/opt/gitlab/embedded/ssl/certs/", "GODEBUG": "tlsmlkem=0"}
    assert settings["user"]["git_user_email"] == "gitlab@gitlab.example.test"
    assert settings["prometheus"]["scrape_configs"] == [
        {"job_name": "example", "static_configs": [{"targets": ["hostname:port"]}]}]
    assert rails["nginx"]["ssl_certificate"] == "/etc/gitlab/ssl/gitlab.example.test.crt"
    assert rails["time_zone"] == "UTC"


def test_the_placeholders_left_out_are_the_ones_ruby_refuses_too(statements):
    placeholders = [text for _, text in statements if is_placeholder(text)]
    assert len(placeholders) == len(PLACEHOLDERS)
    for text in placeholders:
        with pytest.raises(GitlabRbError):
            parse_gitlab_rb(text + "\n", FACTS)
