"""LoggingConfig: presets, masked secrets, the slow-operation log, DataFlow(log_level=..., log_config=...)."""

from __future__ import annotations

import io
import logging

import pytest
from dataflow import ConfigurationError, DataFlow, LoggingConfig
from dataflow.logging_config import mask_secrets


@pytest.fixture(autouse=True)
def restore_logging():
    logger = logging.getLogger("dataflow")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    levels = {name: logging.getLogger(name).level for name in ("kailash", "kailash_mcp", "nexus")}
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_presets_mean_what_they_say():
    production, development = LoggingConfig.production(), LoggingConfig.development()
    assert production.level == logging.WARNING and production.kailash_level == logging.WARNING
    assert development.level == logging.DEBUG and development.slow_query_threshold == 0.1
    assert LoggingConfig.production(slow_query_threshold=None).slow_query_threshold is None


def test_production_quiets_the_kailash_sdk_loggers():
    LoggingConfig.production(handler=logging.StreamHandler(io.StringIO())).apply()
    assert [logging.getLogger(n).level for n in ("kailash", "kailash_mcp", "nexus")] == [logging.WARNING] * 3


def test_apply_installs_one_masking_handler():
    stream = io.StringIO()
    LoggingConfig.development(handler=logging.StreamHandler(stream)).apply()
    LoggingConfig.development(handler=logging.StreamHandler(stream), format="%(message)s").apply()
    logger = logging.getLogger("dataflow")
    assert len([h for h in logger.handlers if getattr(h, "_dataflow_config", False)]) == 1
    logging.getLogger("dataflow.test").info(
        "connecting to %s with password=%s", "postgresql://app:s3cr3t@db/x", "hunter2"
    )
    assert stream.getvalue() == "connecting to postgresql://app:***@db/x with password=***\n"


@pytest.mark.parametrize("text, masked", [
    ("mysql://root:p@ss#1@host:3306/db", "mysql://root:***@host:3306/db"),
    ("token: abc.def api_key='k 1'", "token: *** api_key=***"),
    ("no secrets here", "no secrets here"),
])
def test_mask_secrets(text, masked):
    assert mask_secrets(text) == masked


def test_slow_operations_are_logged_above_the_threshold(tmp_path, caplog):
    config = LoggingConfig(level="INFO", slow_query_threshold=0.0, propagate=True)
    with DataFlow(f"sqlite:///{tmp_path / 'l.db'}", namespace="logs", log_config=config) as db:

        @db.model
        class Thing:
            name: str

        with caplog.at_level(logging.WARNING, logger="dataflow.slow"):
            db.express_sync.create("Thing", {"name": "a"})
            db.express_sync.read("Thing", 404)
    messages = [r.getMessage() for r in caplog.records if r.name == "dataflow.slow"]
    assert len(messages) == 2 and messages[0].startswith("Thing.create took ")
    assert messages[1].endswith("failed with DF-404")


def test_no_threshold_no_slow_log(tmp_path, caplog):
    with DataFlow(f"sqlite:///{tmp_path / 'l.db'}", namespace="logs2") as db:

        @db.model
        class Thing:
            name: str

        with caplog.at_level(logging.DEBUG, logger="dataflow.slow"):
            db.express_sync.create("Thing", {"name": "a"})
    assert [r for r in caplog.records if r.name == "dataflow.slow"] == []


def test_log_level_sets_only_the_level():
    handlers = list(logging.getLogger("dataflow").handlers)
    with DataFlow(log_level="DEBUG"):
        assert logging.getLogger("dataflow").level == logging.DEBUG
        assert logging.getLogger("dataflow").handlers == handlers


@pytest.mark.parametrize("options, message", [
    ({"log_level": "LOUD"}, "log_level must be a logging level"),
    ({"log_config": {"level": "INFO"}}, "log_config must be a LoggingConfig"),
    ({"log_config": LoggingConfig(slow_query_threshold=-1)}, "slow_query_threshold must be"),
])
def test_bad_logging_options_are_refused(options, message):
    with pytest.raises(ConfigurationError, match=message):
        DataFlow(**options)
