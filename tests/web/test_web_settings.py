"""Settings from the environment, and the gunicorn configuration."""

from __future__ import annotations

import importlib
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from faceinsight.web import create_app
from faceinsight.web.production import GUNICORN_CONFIG
from faceinsight.web.settings import SETTINGS, Number, SettingError, load_settings

ROOT = Path(__file__).resolve().parents[2]
# gunicorn itself reads these (WEB_CONCURRENCY at import): a test's value must not leak into it.
GUNICORN_OWN_VARIABLES = frozenset({"WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "PORT", "GUNICORN_BIND"})


def test_defaults_and_environment_parsing(tmp_path):
    defaults = load_settings({})
    assert defaults["FACEINSIGHT_MAX_PHOTO_MB"] == 10.0 and defaults["FACEINSIGHT_MAX_VIDEO_MB"] == 100.0
    assert defaults["REDIS_URL"] is None and defaults["FACEINSIGHT_UPLOAD_DIR"] == ROOT / "uploads"
    values = load_settings({"FACEINSIGHT_MAX_PHOTO_MB": "2.5", "FACEINSIGHT_SECURE_COOKIES": "yes",
                            "FACEINSIGHT_UPLOAD_DIR": str(tmp_path), "REDIS_URL": ""})
    assert values["FACEINSIGHT_MAX_PHOTO_MB"] == 2.5 and values["FACEINSIGHT_SECURE_COOKIES"] is True
    assert values["FACEINSIGHT_UPLOAD_DIR"] == tmp_path and values["REDIS_URL"] is None
    assert load_settings({"FACEINSIGHT_JOB_WORKERS": "3"}, {"FACEINSIGHT_JOB_WORKERS": 5})[
        "FACEINSIGHT_JOB_WORKERS"] == 5


def test_bad_values_name_the_variable():
    with pytest.raises(ValueError, match="FACEINSIGHT_MAX_VIDEO_MB"):
        load_settings({"FACEINSIGHT_MAX_VIDEO_MB": "lots"})


def gunicorn_settings() -> dict:
    """The names of the gunicorn settings module that `make serve` names, read afresh from the
    environment."""
    return runpy.run_path(importlib.import_module(GUNICORN_CONFIG).__file__)


def test_gunicorn_config_defaults_and_environment(monkeypatch):
    for name in ("PORT", "GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    config = gunicorn_settings()
    assert config["bind"] == "127.0.0.1:8000" and config["workers"] == 2 and config["threads"] == 16
    assert config["worker_class"] == "gthread" and config["preload_app"] is False
    assert callable(config["on_starting"])  # verifies the model files before any worker starts
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    config = gunicorn_settings()
    assert config["bind"] == "0.0.0.0:5000" and config["workers"] == 3


def test_the_checkouts_gunicorn_conf_gives_the_packaged_settings():
    """``gunicorn --config gunicorn.conf.py`` (Procfile, make run) gets every setting of the module
    that ``make serve`` and an installed wheel name."""
    module = {name: value for name, value in gunicorn_settings().items() if not name.startswith("_")}
    from_file = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert module.keys() <= from_file.keys() and "on_starting" in from_file
    assert all(from_file[name] == module[name] for name in ("bind", "workers", "threads", "timeout"))


@pytest.mark.parametrize(("name", "value"), [("GUNICORN_THREADS", "x"), ("GUNICORN_TIMEOUT", "-5"),
                                           ("GUNICORN_MAX_REQUESTS", "1.5")])
def test_gunicorn_config_refuses_a_bad_number_in_one_line(monkeypatch, name: str, value: str):
    monkeypatch.setenv(name, value)
    message = rf"^Error: {name} must be a whole number of \d or more \(got '{value}'\)$"
    with pytest.raises(SystemExit, match=message):
        gunicorn_settings()


def test_procfile_and_app_module():
    assert (ROOT / "Procfile").read_text().strip() == (
        'web: gunicorn --config gunicorn.conf.py "faceinsight.web:create_app()"')
    assert "create_app()" in (ROOT / "app.py").read_text()


@pytest.mark.parametrize("typo", ["ture", "yse", "2", "enabled"])
def test_a_typo_in_a_yes_no_setting_stops_start_up(typo: str) -> None:
    with pytest.raises(ValueError, match="FACEINSIGHT_CHECK_MODELS"):
        load_settings({"FACEINSIGHT_CHECK_MODELS": typo})


@pytest.mark.parametrize(("text", "value"), [("1", True), ("Yes", True), ("off", False), (" false ", False)])
def test_yes_no_settings_read_the_usual_words(text: str, value: bool) -> None:
    assert load_settings({"FACEINSIGHT_SECURE_COOKIES": text})["FACEINSIGHT_SECURE_COOKIES"] is value


# --- range checks: every number is checked at start-up, with one line naming it -------------

@pytest.mark.parametrize(("name", "text", "accepted"), [
    ("FACEINSIGHT_MAX_PHOTO_MB", "abc", "a number above 0"),
    ("FACEINSIGHT_MAX_PHOTO_MB", "0", "a number above 0"),
    ("FACEINSIGHT_MAX_VIDEO_MB", "-5", "a number above 0"),
    ("FACEINSIGHT_MAX_PIXELS", "1.5", "a whole number above 0"),
    ("FACEINSIGHT_VIDEO_MAX_SECONDS", "inf", "a number above 0"),
    ("FACEINSIGHT_VIDEO_MAX_FRAMES", "0", "a whole number above 0"),
    ("FACEINSIGHT_VIDEO_DEFAULT_FPS", "nan", "a number above 0"),
    ("FACEINSIGHT_VIDEO_MAX_FPS", "-1", "a number above 0"),
    ("FACEINSIGHT_DECODER_MEMORY_MB", "0", "a whole number above 0"),
    ("FACEINSIGHT_DECODER_PROBE_SECONDS", "0", "a number above 0"),
    ("FACEINSIGHT_DECODER_READ_SECONDS", "-1", "a number above 0"),
    ("FACEINSIGHT_JOB_WORKERS", "0", "a whole number above 0"),
    ("FACEINSIGHT_JOB_QUEUE", "two", "a whole number above 0"),
    ("FACEINSIGHT_JOB_TTL_MINUTES", "0", "a number above 0"),
    ("FACEINSIGHT_RETENTION_HOURS", "-24", "a number above 0"),
    ("FACEINSIGHT_SWEEP_MINUTES", "-1", "a number of 0 or more"),
])
def test_a_bad_or_out_of_range_number_stops_start_up(name: str, text: str, accepted: str) -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({name: text})
    assert str(caught.value) == f"{name} must be {accepted} (got {text!r})"


def test_every_default_is_in_its_own_range() -> None:
    for setting in SETTINGS:
        if isinstance(setting.parse, Number):
            assert setting.parse(setting.default) == setting.default, setting.name


def test_a_huge_count_is_a_number_not_a_crash() -> None:
    huge = "1" + "0" * 400  # too big for a float: must not raise OverflowError
    assert load_settings({"FACEINSIGHT_MAX_PIXELS": huge})["FACEINSIGHT_MAX_PIXELS"] == int(huge)


def test_zero_sweep_minutes_still_turns_the_sweep_off() -> None:
    assert load_settings({"FACEINSIGHT_SWEEP_MINUTES": "0"})["FACEINSIGHT_SWEEP_MINUTES"] == 0


def test_counts_are_integers() -> None:
    values = load_settings({"FACEINSIGHT_JOB_WORKERS": " 3 ", "FACEINSIGHT_MAX_PIXELS": "1000000"})
    assert values["FACEINSIGHT_JOB_WORKERS"] == 3 and type(values["FACEINSIGHT_JOB_WORKERS"]) is int
    assert values["FACEINSIGHT_MAX_PIXELS"] == 1_000_000


@pytest.mark.parametrize(("environ", "overrides"), [
    ({"FACEINSIGHT_VIDEO_MAX_FPS": "1"}, {}),  # the default 2 fps is above it
    ({"FACEINSIGHT_VIDEO_DEFAULT_FPS": "12"}, {}),  # above the default maximum, 10
    ({}, {"FACEINSIGHT_VIDEO_DEFAULT_FPS": 5.0, "FACEINSIGHT_VIDEO_MAX_FPS": 4.0}),
])
def test_the_default_fps_may_not_exceed_the_maximum(environ: dict, overrides: dict) -> None:
    with pytest.raises(SettingError, match=r"^FACEINSIGHT_VIDEO_DEFAULT_FPS must be at most "
                                           r"FACEINSIGHT_VIDEO_MAX_FPS \(got .*\)$"):
        load_settings(environ, overrides)


def test_the_default_fps_may_equal_the_maximum() -> None:
    values = load_settings({"FACEINSIGHT_VIDEO_DEFAULT_FPS": "4", "FACEINSIGHT_VIDEO_MAX_FPS": "4"})
    assert values["FACEINSIGHT_VIDEO_DEFAULT_FPS"] == values["FACEINSIGHT_VIDEO_MAX_FPS"] == 4.0


def test_overrides_are_range_checked_too() -> None:
    with pytest.raises(SettingError, match=r"^FACEINSIGHT_JOB_QUEUE must be a whole number above 0 "
                                           r"\(got 0\)$"):
        load_settings({}, {"FACEINSIGHT_JOB_QUEUE": 0})


def test_a_yes_no_typo_names_the_words_accepted() -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({"FACEINSIGHT_SECURE_COOKIES": "ture"})
    message = str(caught.value)
    assert message.startswith("FACEINSIGHT_SECURE_COOKIES must be one of ")
    assert message.endswith("(got 'ture')")
    assert all(word in message for word in ("true", "yes", "on", "1", "false", "no", "off", "0"))


def test_a_setting_error_is_a_runtime_error_for_gunicorn_and_a_value_error() -> None:
    """gunicorn prints a RuntimeError from ``on_starting`` as one line, ``Error: ...``."""
    assert issubclass(SettingError, RuntimeError) and issubclass(SettingError, ValueError)


def test_create_app_stops_before_loading_anything(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FACEINSIGHT_MAX_PHOTO_MB", "0")
    with pytest.raises(SettingError, match="FACEINSIGHT_MAX_PHOTO_MB"):
        create_app({"FACEINSIGHT_UPLOAD_DIR": tmp_path / "uploads", "FACEINSIGHT_INSTANCE_DIR": tmp_path})
    assert not (tmp_path / "uploads").exists()


@pytest.mark.parametrize(("name", "text", "line"), [
    ("FACEINSIGHT_MAX_PHOTO_MB", "abc", "FACEINSIGHT_MAX_PHOTO_MB must be a number above 0 (got 'abc')"),
    ("FACEINSIGHT_VIDEO_MAX_FPS", "-1", "FACEINSIGHT_VIDEO_MAX_FPS must be a number above 0 (got '-1')"),
])
def test_gunicorn_stops_with_one_line_and_no_traceback(name: str, text: str, line: str) -> None:
    """`make run`'s command: the master's ``on_starting`` reads the settings before any worker."""
    env = {key: value for key, value in os.environ.items() if key not in GUNICORN_OWN_VARIABLES}
    env[name] = text
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py",
         "--bind", "127.0.0.1:0", "faceinsight.web:create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [row for row in done.stderr.splitlines() if name in row] == [f"Error: {line}"]
