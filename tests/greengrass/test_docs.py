"""docs/greengrass.md says what the shipped files do: where cea.siteId is set, and which recipe
is the source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
GUIDE = (ROOT / "docs" / "greengrass.md").read_text(encoding="utf-8")


def _paragraphs_about(words: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", GUIDE) if words in p]


def test_the_guide_says_where_the_site_id_is_set_as_the_shipped_files_do() -> None:
    example = json.loads(
        (ROOT / "deploy" / "site-configuration.example.json").read_text(encoding="utf-8")
    )
    template = json.loads((ROOT / "deploy" / "deployment-template.json").read_text("utf-8"))
    merge = json.loads(
        template["components"]["io.edgeagent.EdgeAgent"]["configurationUpdate"]["merge"]
    )
    recipe = yaml.safe_load((ROOT / "recipes" / "io.edgeagent.EdgeAgent.yaml").read_text("utf-8"))
    site_id = example["cea"]["siteId"]
    assert merge["cea"]["siteId"] == site_id
    assert "cea" not in recipe["ComponentConfiguration"]["DefaultConfiguration"]

    [paragraph] = _paragraphs_about("cea.siteId")
    assert f'"siteId":\n"{site_id}"' in paragraph or f'"siteId": "{site_id}"' in paragraph
    assert "deployment template" in paragraph and "site-configuration.example.json" in paragraph
    assert "commented out" in paragraph
    assert "does not set" not in paragraph and "refuses" not in paragraph


def test_the_guide_names_the_recipe_source_and_its_generated_copy() -> None:
    [paragraph] = _paragraphs_about("--sync-recipe")
    assert "recipes/io.edgeagent.EdgeAgent.yaml" in paragraph
    assert "`deploy/recipe.yaml` is a generated copy" in paragraph
