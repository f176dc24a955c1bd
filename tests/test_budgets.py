"""twin3d.budgets: the memory budget and the count limits, and how each is raised."""

from __future__ import annotations

import pytest

from twin3d.budgets import (
    COUNT_LIMITS,
    ENV_MEMORY,
    check_count,
    check_memory,
    count_limit,
    count_limit_set,
    format_size,
    memory_budget,
    memory_budget_set,
    parse_size,
)
from twin3d.errors import BudgetError, InputError


@pytest.mark.parametrize("text, expected", [
    ("512M", 512 * 2**20), ("32G", 32 * 2**30), ("1.5T", int(1.5 * 2**40)), ("4096", 4096),
    ("2 GiB", 2 * 2**30), ("10k", 10 * 1024), (2048, 2048),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "1e400", "nan", "5X"])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(InputError, match="expected a size"):
        parse_size(text)


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(745 * 2**30) == "745 GiB"
    assert format_size(3.2 * 2**20) == "3.2 MiB"


def test_memory_budget_precedence(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY, raising=False)
    default = memory_budget()
    assert default >= 256 * 2**20  # half of any machine that runs the tests
    monkeypatch.setenv(ENV_MEMORY, "3G")
    assert memory_budget() == 3 * 2**30
    with memory_budget_set("100M") as value:  # --max-memory beats the environment
        assert value == memory_budget() == 100 * 2**20
    assert memory_budget() == 3 * 2**30
    monkeypatch.setenv(ENV_MEMORY, "plenty")
    with pytest.raises(InputError, match=ENV_MEMORY):
        memory_budget()


def test_check_memory_message_names_estimate_limit_and_knobs():
    with memory_budget_set("1M"):
        check_memory(2**20, "fits exactly")
        with pytest.raises(BudgetError) as info:
            check_memory(745 * 2**30, "risk.train", detail="10^5 machines x 10^6 steps")
    text = str(info.value)
    assert "\n" not in text
    for needle in ("risk.train needs about 745 GiB", "10^5 machines x 10^6 steps", "memory budget of 1 MiB",
                   "--max-memory", ENV_MEMORY):
        assert needle in text
    # the error is also a MemoryError and an InputError (so it is a user error: exit 2)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, InputError)


def test_check_memory_refuses_nan_estimates():
    with pytest.raises(BudgetError):
        check_memory(float("nan"), "an estimate that overflowed")


def test_count_limits_defaults_env_and_override(monkeypatch):
    for key, spec in COUNT_LIMITS.items():
        monkeypatch.delenv(spec.env, raising=False)
        assert count_limit(key) == spec.default
    assert COUNT_LIMITS["assets"].env == "TWIN3D_MAX_ASSETS" and COUNT_LIMITS["assets"].default == 100_000
    assert COUNT_LIMITS["steps"].env == "TWIN3D_MAX_STEPS" and COUNT_LIMITS["steps"].default == 10_000_000
    monkeypatch.setenv("TWIN3D_MAX_ASSETS", "250_000")
    assert count_limit("assets") == 250_000
    with count_limit_set("assets", 7):
        assert count_limit("assets") == 7
        assert count_limit("steps") == COUNT_LIMITS["steps"].default  # only the one named
    assert count_limit("assets") == 250_000
    monkeypatch.setenv("TWIN3D_MAX_ASSETS", "-3")
    with pytest.raises(InputError, match="TWIN3D_MAX_ASSETS '-3': expected a whole number"):
        count_limit("assets")
    with pytest.raises(InputError, match="no count limit 'frames'"):
        count_limit("frames")


def test_check_count_message():
    with count_limit_set("steps", 1000):
        check_count("steps", 1000, "fits")
        with pytest.raises(BudgetError) as info:
            check_count("steps", 80_000_000, "spec.yaml:5: assets[0].sensors.steps: sensor data",
                        detail="8 assets x 10,000,000 steps")
    text = str(info.value)
    assert text.startswith("spec.yaml:5: assets[0].sensors.steps: sensor data asks for 80,000,000 steps "
                           "(8 assets x 10,000,000 steps), above the limit of 1,000 steps per scene build")
    assert "TWIN3D_MAX_STEPS=N" in text and "\n" not in text
