"""Real equipment files read with the configuration infer proposes, against our own reading.

The files are in ``../shared/realworld/`` (provenance and dialect in its manifest.json); the
project does not copy them. For each data file: ``infer`` proposes a dataset (with a zone by
hand only where the file states none), the configuration must load, the real reading pass
(tests/fuzz/harness.Pipeline) publishes into a real outbox, and every published record is
compared with ``truth``: every data row published (or, for a line cut in half, quarantined),
timestamps right in UTC, numbers typed, units carried, nothing from preambles or footers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.load import parse_config
from edge_agent.infer import infer_yaml
from tests.fuzz.harness import Pipeline
from tests.realworld import truth

ROOT = Path(__file__).resolve().parents[2]
REALWORLD = ROOT.parent / "shared" / "realworld"

pytestmark = pytest.mark.skipif(
    not (REALWORLD / "manifest.json").exists(), reason="../shared/realworld/ is not here"
)

# The zone of the equipment's clock, added by hand where the file does not state one (the only
# hand edit): what a technician would pass to `edge-agent infer --timezone`.
HAND_ZONES = {
    "campbell_toa5_cr1000_station_daily.dat": "UTC-07:00",
    "campbell_toa5_cr1000_srg_rain_NAN.dat": "UTC",
    "campbell_cr10x_mixed_array_WX_data.dat": "UTC-07:00",
    "davis_weatherlink_export_ncar_wxobs20170821.txt": "America/Denver",
    "emonitor_powerhouse_dynamics_hourly_2013-11.csv": "America/New_York",
    "pq_analyzer_waveform_export_utf16le_fault_wave.txt": "Europe/Tallinn",
    "trolmaster_hydrox_hcs1_growroom_HCS_1_Sample.csv": "America/Los_Angeles",
    "wincc_panel_iqf_freezer_Data_log0.csv": "UTC+01:00",
}

TRUTH: dict[str, Callable[[Path, str], truth.Truth]] = {
    "beckhoff_twincat3_scope_export_default_tab_declcomma.csv": lambda p, z: truth.twincat(p),
    "campbell_cr10x_mixed_array_WX_data.dat": truth.cr10x,
    "campbell_toa5_cr1000_station_daily.dat": truth.toa5,
    "campbell_toa5_cr1000_srg_rain_NAN.dat": truth.toa5,
    "davis_weatherlink_export_ncar_wxobs20170821.txt": truth.davis,
    "emonitor_powerhouse_dynamics_hourly_2013-11.csv": truth.emonitor,
    "hobo_hoboware_4ch_temp_20750528_readout.csv": lambda p, z: truth.hobo(p),
    "lascar_easylog_el-sie-2_datalog.csv": lambda p, z: truth.lascar(p),
    "pq_analyzer_waveform_export_utf16le_fault_wave.txt": truth.pq,
    "sma_sunnyportal_consumer_balance_week_2024-07-26.csv": lambda p, z: truth.sma(p),
    "trolmaster_hydrox_hcs1_growroom_HCS_1_Sample.csv": truth.trolmaster,
    "wincc_panel_iqf_freezer_Data_log0.csv": truth.wincc,
}


def data_files() -> list[str]:
    if not (REALWORLD / "manifest.json").exists():
        return []
    manifest = json.loads((REALWORLD / "manifest.json").read_text(encoding="utf-8"))
    return sorted(f["local_name"] for f in manifest["files"] if f["data_rows"] > 0)


def test_every_data_file_has_a_reading() -> None:
    assert set(data_files()) == set(TRUTH)


def same(published: Any, expected: Any) -> bool:
    if expected is None or isinstance(expected, str):
        return published == expected
    if isinstance(published, bool) or not isinstance(published, int | float):
        return False  # a number published as text or a boolean: meaning lost
    return math.isclose(published, expected, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", data_files())
def test_real_file_read_with_the_inferred_configuration(name: str, tmp_path: Path) -> None:
    path = REALWORLD / name
    zone = HAND_ZONES.get(name)
    document = yaml.safe_load(infer_yaml(path, name="d", timezone=zone))
    # Pasted under datasets: of an agent configuration, it loads (what `check` validates).
    parse_config(
        {
            "thingName": "t",
            "stateDir": str(tmp_path / "state"),
            "sources": [{"name": "s", "path": str(tmp_path), "dataset": "d"}],
            **document,
        }
    )
    dataset = DatasetConfig.model_validate(document["datasets"]["d"])
    expected = TRUTH[name](path, zone or "UTC")

    pipeline = Pipeline(tmp_path, dataset, max_payload_bytes=131_072)
    try:
        pipeline.write(path.read_bytes())
        pipeline.run()
        out = pipeline.published()
        units = {}
        for row in pipeline.db.query("SELECT payload FROM outbox ORDER BY seq"):
            units.update(json.loads(bytes(row["payload"])).get("units", {}))
    finally:
        pipeline.close()

    assert not out.whole_file, out.whole_file
    assert {q["line"] for q in out.quarantined} == expected.quarantined, out.quarantined[:3]
    assert [r["line"] for r in out.records] == sorted(expected.rows)
    for record in out.records:
        want = expected.rows[record["line"]]
        assert record["ts"] == want.ts, (record["line"], record, want)
        assert record.get("uncertain", {}).get("ts") == want.uncertain, record
        fields = [k for k in record if k not in ("ts", "line", "uncertain")]
        values = [record[k] for k in fields]
        assert len(values) == len(want.values), (record, want)
        bad = [
            (k, v, w) for k, v, w in zip(fields, values, want.values, strict=True) if not same(v, w)
        ]
        assert not bad, (record["line"], bad)
    fields = [k for k in out.records[0] if k not in ("ts", "line", "uncertain")]
    assert [units.get(k) for k in fields] == expected.units
