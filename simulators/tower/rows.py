"""The four tower CSV layouts (DESIGN.md): cells as the equipment writes them, and the typed
values a correct reader gets back from those cells (the ground truth ``values``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from simulators.clock import iso_z
from simulators.ops import Json
from simulators.tower.farm import Cycle
from simulators.tower.sensors import StationReading

NAN: Final = "NaN"
BAD_VALUE: Final = "ERR"


def truth_row(dataset: str, ts: datetime) -> Json:
    """A row's truth record; the file writer fills in ``file`` and ``line``."""
    return {
        "file": None,
        "version": 1,
        "line": None,
        "dataset": dataset,
        "outcome": "publish",
        "reason": None,
        "ts": iso_z(ts),
        "values": None,
        "faults": [],
    }


def _float(cell: str) -> float | None:
    return None if cell in ("", NAN) else float(cell)


def _str(cell: str) -> str | None:
    return cell or None


def reading_cells(
    ts: datetime,
    *,
    tower_id: str,
    station_id: str,
    tray_id: str,
    reading: StationReading,
    numbers: dict[str, float],
    bad: str | None,
) -> tuple[str, Json]:
    """A sensor-station line and its values; ``numbers`` override air, humidity and pH."""
    evenness = "" if reading.evenness_pct is None else f"{reading.evenness_pct:.1f}"
    cells = [
        iso_z(ts),
        tower_id,
        station_id,
        tray_id,
        f"{reading.height_mm:.1f}",
        f"{reading.weight_kg:.3f}",
        evenness,
        f"{reading.water_level_mm:.1f}",
        f"{numbers['water_ph']:.2f}",
        f"{reading.water_temp_c:.2f}",
        f"{numbers['air_temp_c']:.2f}",
        f"{numbers['humidity_pct']:.1f}",
        str(round(reading.co2_ppm)),
    ]
    values: Json = {
        "tower_id": tower_id,
        "station_id": station_id,
        "tray_id": tray_id,
        "height_mm": _float(cells[4]),
        "weight_kg": _float(cells[5]),
        "evenness_pct": _float(cells[6]),
        "water_level_mm": _float(cells[7]),
        "water_ph": _float(cells[8]),
        "water_temp_c": _float(cells[9]),
        "air_temp_c": _float(cells[10]),
        "humidity_pct": _float(cells[11]),
        "co2_ppm": int(cells[12]),
    }
    if bad == "bad_value":
        cells[5] = BAD_VALUE
    elif bad == "field_count":
        cells = cells[:-1]
    return ",".join(cells), values


def site_cells(
    ts: datetime,
    *,
    site_id: str,
    weather: tuple[float, float, float, float],
    missing: tuple[bool, ...],
    energy_kwh: float,
    power_kw: float,
) -> tuple[str, Json]:
    """A site-station line (weather values may be NaN) and its values."""
    shown = [NAN if gone else f"{value:.1f}" for value, gone in zip(weather, missing, strict=True)]
    cells = [iso_z(ts), site_id, *shown, f"{energy_kwh:.3f}", f"{power_kw:.2f}"]
    values: Json = {
        "site_id": site_id,
        "outdoor_temp_c": _float(cells[2]),
        "outdoor_humidity_pct": _float(cells[3]),
        "solar_w_m2": _float(cells[4]),
        "wind_m_s": _float(cells[5]),
        "energy_kwh_total": _float(cells[6]),
        "power_kw": _float(cells[7]),
    }
    return ",".join(cells), values


def seeding_cells(at: datetime, cycle: Cycle, event: str) -> tuple[str, Json]:
    """A seeding-station line: ``seeded`` carries seed mass and lot, ``harvested`` does not."""
    seeded = event == "seeded"
    cells = [
        iso_z(at),
        cycle.tower_id,
        cycle.tray_id,
        event,
        cycle.grow_id,
        f"{cycle.seed_kg:.2f}" if seeded else "",
        cycle.seed_lot if seeded else "",
    ]
    values: Json = {
        "tower_id": cycle.tower_id,
        "tray_id": cycle.tray_id,
        "event": event,
        "grow_id": _str(cells[4]),
        "seed_kg": _float(cells[5]),
        "seed_lot": _str(cells[6]),
    }
    return ",".join(cells), values


def automation_cells(
    at: datetime,
    *,
    tower_id: str,
    state: str,
    position: int,
    pump_on: bool,
    lights: bool,
    irrigation_ml: int,
    fault_code: str,
) -> tuple[str, Json]:
    """An automation-software line and its values."""
    cells = [
        iso_z(at),
        tower_id,
        state,
        str(position),
        "true" if pump_on else "false",
        "true" if lights else "false",
        str(irrigation_ml),
        fault_code,
    ]
    values: Json = {
        "tower_id": tower_id,
        "state": state,
        "conveyor_position": position,
        "pump_on": pump_on,
        "lights_on": lights,
        "irrigation_ml": irrigation_ml,
        "fault_code": _str(fault_code),
    }
    return ",".join(cells), values
