"""Structured logs: JSON lines with the request id of the call being handled."""

from __future__ import annotations

import io
import json
import logging

from dispatcher.runtime.logging_setup import (
    JsonFormatter,
    RequestIdFilter,
    request_id_var,
)


def _logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.foundation.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_json_lines_carry_request_id_and_extras() -> None:
    """Each record is one JSON object with ts, level, logger, msg, request_id and extra fields."""
    stream = io.StringIO()
    logger = _logger(stream)
    token = request_id_var.set("req-7")
    try:
        logger.info("assigned %s", "T1", extra={"region": "north"})
    finally:
        request_id_var.reset(token)
    logger.warning("outside a call")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "assigned T1"
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.foundation.json"
    assert first["request_id"] == "req-7"
    assert first["region"] == "north"
    assert first["ts"].endswith("Z")
    assert "request_id" not in second


def test_exceptions_stay_on_one_line() -> None:
    """A traceback is escaped inside the JSON object, so one record is still one line."""
    stream = io.StringIO()
    logger = _logger(stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exc"]
