"""Settings: precedence flags > env > TOML > defaults, and one-line errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from dispatcher.cli.serve import check_state_dir
from dispatcher.runtime.settings import SettingsError, add_arguments, load_settings

if TYPE_CHECKING:
    from pathlib import Path


import dataclasses
from pathlib import Path

from dispatcher.runtime.settings import (
    Settings,
    check_files,
    env_name,
    redact_url,
    setting_fields,
)


def test_defaults_without_any_source() -> None:
    """No flags, env or file: the documented defaults (embedded Redis, loopback, fsync always)."""
    settings = load_settings({}, env={})
    assert settings == Settings()
    assert settings.redis_url is None
    assert settings.embedded
    assert settings.grpc_address == "127.0.0.1:50051"
    assert settings.durability == "always"


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the TOML file, which beats the default."""
    config = tmp_path / "c.toml"
    config.write_text('grpc_port = 1111\nmetrics_port = 2222\nlog_format = "json"\n')
    env = {
        "DISPATCH_CONFIG": str(config),
        "DISPATCH_GRPC_PORT": "3333",
        "DISPATCH_METRICS_PORT": "4444",
    }
    settings = load_settings({"grpc_port": "5555"}, env=env)
    assert settings.grpc_port == 5555
    assert settings.metrics_port == 4444
    assert settings.log_format == "json"
    assert settings.config_file == config


def test_redis_url_from_env_and_namespaced_override() -> None:
    """REDIS_URL is honoured; DISPATCH_REDIS_URL wins over it; an empty value means embedded."""
    assert (
        load_settings({}, env={"REDIS_URL": "redis://h:1/0"}).redis_url
        == "redis://h:1/0"
    )
    both = {"REDIS_URL": "redis://a:1/0", "DISPATCH_REDIS_URL": "rediss://:pw@b:2/0"}
    assert load_settings({}, env=both).redis_url == "rediss://:pw@b:2/0"
    assert load_settings({}, env={"REDIS_URL": ""}).redis_url is None


def test_every_setting_loads_from_a_full_toml_file(tmp_path: Path) -> None:
    """Each user-facing field is a valid TOML key and round-trips its default."""
    lines = []
    for f in setting_fields():
        if f.default is None:
            continue
        value = f.default
        if isinstance(value, bool):
            lines.append(f"{f.name} = {str(value).lower()}")  # TOML's true / false
            continue
        lines.append(
            f"{f.name} = {value!r}"
            if not isinstance(value, Path | str)
            else f'{f.name} = "{value}"'
        )
    config = tmp_path / "full.toml"
    config.write_text("\n".join(lines) + "\n")
    assert (
        dataclasses.replace(
            load_settings({"config": str(config)}, env={}), config_file=None
        )
        == Settings()
    )


def test_empty_toml_file_gives_defaults(tmp_path: Path) -> None:
    """An empty config file is valid and changes nothing."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    assert (
        dataclasses.replace(
            load_settings({"config": str(config)}, env={}), config_file=None
        )
        == Settings()
    )


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ({"grpc_port": "99999"}, {}, "--grpc-port: 99999 is not a port (0..65535)"),
        ({"grpc_port": "abc"}, {}, "--grpc-port: 'abc' is not a port"),
        (
            {},
            {"DISPATCH_METRICS_PORT": "-1"},
            "DISPATCH_METRICS_PORT: -1 is not a port",
        ),
        (
            {"durability": "sometimes"},
            {},
            "--durability: 'sometimes' is not one of always, everysec, no",
        ),
        ({"log_format": "xml"}, {}, "--log-format: 'xml' is not one of text, json"),
        (
            {"grace_period_s": "-3"},
            {},
            "--grace-period-s: '-3' is not a positive number of seconds",
        ),
        (
            {"grace_period_s": "nan"},
            {},
            "--grace-period-s: 'nan' is not a positive number of seconds",
        ),
        ({"redis_url": "http://x"}, {}, "--redis-url: 'http://x' is not a redis://"),
        (
            {},
            {"REDIS_URL": "redis://:secret@:6379"},
            "REDIS_URL: 'redis://:***@:6379' has no host",
        ),
        ({"tls_cert": "c.pem"}, {}, "tls_cert and tls_key must be given together"),
        (
            {"config": "/nonexistent/x.toml"},
            {},
            "cannot read config file /nonexistent/x.toml: No such file",
        ),
    ],
)
def test_invalid_values_give_one_readable_line(
    flags: dict[str, str], env: dict[str, str], expected: str
) -> None:
    """Each bad value names its source and fits on one line; secrets are not echoed."""
    with pytest.raises(SettingsError) as info:
        load_settings(flags, env=env)
    message = str(info.value)
    assert "\n" not in message
    assert expected in message
    assert "secret" not in message


def test_unknown_and_badly_typed_toml_keys(tmp_path: Path) -> None:
    """An unknown key, a wrong type, a table or broken TOML is one line naming the file."""
    cases = {
        "grpc_prot = 1\n": "unknown key 'grpc_prot'",
        'grpc_port = "x"\n': "grpc_port: 'x' is not a port",
        "grpc_port = true\n": "grpc_port: True is not a port",
        "[server]\ngrpc_port = 1\n": "unexpected table [server]",
        "grpc_port = \n": "is not valid TOML",
    }
    for text, expected in cases.items():
        config = tmp_path / "bad.toml"
        config.write_text(text)
        with pytest.raises(SettingsError) as info:
            load_settings({"config": str(config)}, env={})
        assert expected in str(info.value)
        assert str(config) in str(info.value)
        assert "\n" not in str(info.value)


def test_unreadable_referenced_file_is_reported(tmp_path: Path) -> None:
    """A TLS or auth file that cannot be read fails before start-up, in one line."""
    settings = load_settings({"auth_config": str(tmp_path / "missing.toml")}, env={})
    with pytest.raises(
        SettingsError, match=r"--auth-config: cannot read .*missing.toml"
    ):
        check_files(settings)


def test_every_setting_has_an_env_var_and_help() -> None:
    """Flags, env vars and help text derive from each field (the README table lists them)."""
    for f in setting_fields():
        assert f.metadata["help"]
        assert env_name(f).isupper()


def test_password_is_redacted_in_descriptions() -> None:
    """Logs never show a Redis password."""
    settings = Settings(redis_url="rediss://user:hunter2@db.example:6380/0")
    assert "hunter2" not in str(settings.describe())
    assert redact_url(settings.redis_url) == "rediss://user:***@db.example:6380/0"
    assert redact_url(None) == "embedded"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--grpc-port", "99999"],
            "dispatcher serve: error: --grpc-port: 99999 is not a port (0..65535)",
        ),
        (
            ["--config", "/nonexistent.toml"],
            "dispatcher serve: error: cannot read config file /nonexistent.toml",
        ),
        (
            ["--durability", "maybe"],
            "dispatcher serve: error: --durability: 'maybe' is not one of",
        ),
    ],
)
def test_serve_rejects_bad_settings_with_exit_code_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    """`dispatcher serve` with a bad value prints exactly one stderr line and exits 2 (no traceback)."""
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert not (tmp_path / "state").exists()


def test_grpc_address_brackets_ipv6_hosts() -> None:
    """An IPv6 bind address is bracketed for grpc (``[::]:50051``)."""
    assert Settings(grpc_host="::", grpc_port=1).grpc_address == "[::]:1"
    assert Settings(grpc_host="0.0.0.0", grpc_port=2).grpc_address == "0.0.0.0:2"


def test_settings_errors_and_help_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"redis\+cluster://"):
        load_settings({"redis_url": "http://x"}, env={})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    assert "DISPATCH_REDIS_URL or REDIS_URL" in help_text
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = load_settings({"state_dir": str(blocker / "sub")}, env={})
    with pytest.raises(SettingsError, match=r"--state-dir \(DISPATCH_STATE_DIR\)"):
        check_state_dir(settings)
