"""deploy/nginx_site.py: the shipped site is the template's output, and what cannot go into an
nginx file is refused. `nginx -t` and real traffic: tests/integration/test_cluster_recipe.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.nginx_site import main, render_site

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_shipped_site_is_the_template_rendered_with_the_defaults():
    assert (DEPLOY / "auralis-nginx.conf").read_text() == render_site()


def test_rendered_site_has_what_the_recipe_needs():
    site = render_site(["10.0.0.5:9000"], listen=["127.0.0.1:8080"], server_name="x.test", hls_dir="/srv/hls/")
    assert "server 10.0.0.5:9000 max_fails=2 fail_timeout=10s;" in site
    assert "least_conn;" in site and "listen 127.0.0.1:8080;" in site and "server_name x.test;" in site
    assert "alias /srv/hls/;" in site and "@" not in site.replace("$", "")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"upstreams": []}, "upstream"),
        ({"upstreams": ["nope"]}, "upstream"),
        ({"upstreams": ["a:1; evil"]}, "upstream"),
        ({"listen": ["80; include /etc/passwd"]}, "listen"),
        ({"server_name": "a; b"}, "server-name"),
        ({"hls_dir": "relative/hls"}, "hls-dir"),
        ({"hls_dir": "/srv/a b"}, "hls-dir"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, named):
    with pytest.raises(ValueError, match=named):
        render_site(**kwargs)


def test_cli_exit_status(capsys):
    assert main(["--upstream", "bad"]) == 2
    assert "upstream" in capsys.readouterr().err
    assert main([]) == 0 and capsys.readouterr().out == render_site()
