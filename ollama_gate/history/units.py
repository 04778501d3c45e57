"""A call's statistics in human units: Ollama reports durations in nanoseconds."""

from __future__ import annotations

from typing import Any

DURATIONS = (  # Ollama's field, its label
    ("total_duration", "Total (Ollama)"),
    ("load_duration", "Model load"),
    ("prompt_eval_duration", "Prompt reading"),
    ("eval_duration", "Generation"),
)


def ms(nanoseconds: float) -> str:
    """``85.6 ms`` or ``2.35 s``."""
    value = nanoseconds / 1e6
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:,.1f} ms"


def rate(tokens: Any, nanoseconds: Any) -> str | None:
    """Tokens per second, or None without both numbers."""
    numbers = (int, float)
    if not isinstance(tokens, numbers) or not isinstance(nanoseconds, numbers):
        return None
    if nanoseconds <= 0 or tokens <= 0:
        return None
    return f"{tokens / (nanoseconds / 1e9):,.1f} tokens/s"


def stats_facts(stats: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) pairs for the durations and speeds found in ``stats``."""
    if not isinstance(stats, dict):
        return []
    facts = [
        (label, ms(stats[name]))
        for name, label in DURATIONS
        if isinstance(stats.get(name), (int, float))
    ]
    prompt = stats.get("prompt_eval_count", stats.get("prompt_tokens"))
    answer = stats.get("eval_count", stats.get("completion_tokens"))
    for label, value in (
        ("Prompt speed", rate(prompt, stats.get("prompt_eval_duration"))),
        ("Generation speed", rate(answer, stats.get("eval_duration"))),
    ):
        if value:
            facts.append((label, value))
    return facts
