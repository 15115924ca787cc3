"""Write the alert rules with their runbook links pointing at your copy of ops/RUNBOOK.md.

Every alert of ``alerts.yml`` carries ``runbook_url: "<RUNBOOK URL>#<alert name, lower-case>"``.
The committed file (and its unit tests, ``alerts_test.yml``) use ``DEFAULT_RUNBOOK_URL``, a
placeholder host (the project has no public address): build the rules you load into
Prometheus with the address where your team reads the runbook::

    python ops/prometheus/build_rules.py --runbook-url https://wiki.example.com/dispatch/RUNBOOK.md \\
        > /etc/prometheus/rules/dispatch.yml

``ops/grafana/build_dashboard.py`` and ``deploy/kubernetes/make_prometheusrule.py`` take the
same ``--runbook-url``; this module owns the default and the link format.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

RULES = Path(__file__).with_name("alerts.yml")
DEFAULT_RUNBOOK_URL = (
    "https://example.invalid/dispatch-optimizer/blob/main/ops/RUNBOOK.md"
)
"""Where the committed rules and dashboard link to: replace it when building yours."""

_RUNBOOK_LINE = re.compile(
    r'^(?P<lead>\s*runbook_url:\s*)"(?P<url>[^"#]*)#(?P<anchor>[a-z0-9-]+)"\s*$',
    re.MULTILINE,
)


def runbook_url(base: str, alert: str) -> str:
    """The runbook link of ``alert``: its section (a GitHub-style heading anchor) of ``base``."""
    return f"{base}#{alert.lower()}"


def check_runbook_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL without a fragment; ValueError naming it otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError(
            f"--runbook-url {url!r}: need an absolute http(s) URL of RUNBOOK.md "
            "without a #fragment (each alert appends its own)"
        )
    return url


def with_runbook_url(text: str, base: str) -> str:
    """Rules (or their unit tests) text with every ``runbook_url`` rebased on ``base``.

    A text rewrite, so comments and layout stay as written.
    """
    return _RUNBOOK_LINE.sub(lambda m: f'{m["lead"]}"{base}#{m["anchor"]}"', text)


def runbook_urls(text: str) -> list[str]:
    """Every ``runbook_url`` value of ``text``."""
    return [f"{m['url']}#{m['anchor']}" for m in _RUNBOOK_LINE.finditer(text)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Print ops/prometheus/alerts.yml with runbook links on --runbook-url."
    )
    parser.add_argument(
        "--runbook-url",
        type=url_argument,
        default=DEFAULT_RUNBOOK_URL,
        help=f"URL of RUNBOOK.md as your team reads it (default {DEFAULT_RUNBOOK_URL})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write here instead of standard output",
    )
    return parser.parse_args(argv)


def url_argument(value: str) -> str:
    """``check_runbook_url`` for argparse (a usage error instead of a traceback)."""
    try:
        return check_runbook_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    text = with_runbook_url(RULES.read_text(encoding="utf-8"), args.runbook_url)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
