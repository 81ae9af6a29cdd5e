"""Settings from the environment, and the gunicorn configuration."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from faceinsight.web.settings import load_settings, settings_table

ROOT = Path(__file__).resolve().parents[2]


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


def readme_settings_table() -> str:
    """The README's configuration table: from its header row to the last row after it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    header = settings_table().splitlines()[0]
    assert header in lines, "README.md has no configuration table"
    start = lines.index(header)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


def test_readme_settings_table_is_the_generated_one():
    """README.md's configuration table is exactly ``settings_table()`` (paste it when a setting changes)."""
    assert readme_settings_table() == settings_table()


def test_gunicorn_config_defaults_and_environment(monkeypatch):
    for name in ("PORT", "GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["bind"] == "127.0.0.1:8000" and config["workers"] == 2 and config["threads"] == 4
    assert config["worker_class"] == "gthread" and config["preload_app"] is False
    assert callable(config["on_starting"])  # verifies the model files before any worker starts
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["bind"] == "0.0.0.0:5000" and config["workers"] == 3


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
