"""docs/dialects.md stays true: each example file, read with its configuration, gives its rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from edge_agent.config.datasets import DatasetConfig
from tests.csvread import build, records_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "dialects.md"
_BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    sections = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    return [(s.split("\n", 1)[0], s) for s in sections]


def test_one_example_per_family() -> None:
    titles = " ".join(title for title, _ in examples())
    for family in [
        "TOA5", "mixed array", "HOBO", "Lascar", "WinCC", "TwinCAT", "TrolMaster", "Priva",
        "SMA", "eGauge", "TED", "eMonitor", "WeatherLink", "DTS", "Power-quality",
    ]:  # fmt: skip
        assert family in titles, family


@pytest.mark.parametrize(("title", "section"), examples(), ids=[t for t, _ in examples()])
def test_cookbook_example(title: str, section: str) -> None:
    blocks = {kind: (info, body) for kind, info, body in _BLOCK.findall(section)}
    info, text = blocks["text"]
    encoding = info.strip().removeprefix("encoding=") or "utf-8"
    dataset = DatasetConfig.model_validate(yaml.safe_load(blocks["yaml"][1]))
    _, _, rows = build(text.encode(encoding), dataset)
    expected = [json.loads(line) for line in blocks["json"][1].splitlines() if line.strip()]
    assert records_of(rows) == expected
