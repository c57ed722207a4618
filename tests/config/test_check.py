"""``edge-agent check`` checks this machine (folders, TLS files, stateDir, password variables);
``--probe`` connects to the broker and the shares. Each problem names its key; exit 2."""

from __future__ import annotations

import contextlib
import io
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from edge_agent.cli import main
from edge_agent.config.check import check_document
from edge_agent.config.x509 import pem_validities
from tests.infra.mosquitto import Broker, free_port
from tests.infra.samba import SambaServer

CLIENT = "gateway-01"


def configuration(folder: Path, **publish: Any) -> dict[str, Any]:
    """A configuration in ``folder`` reading its ``line1`` subfolder (created)."""
    (folder / "line1").mkdir(exist_ok=True)
    return {
        "thingName": CLIENT,
        "stateDir": "state",
        "sources": [{"name": "line1", "path": "line1", "dataset": "line1"}],
        "datasets": {"line1": {}},
        "publish": publish or {"mqtt": {"host": "localhost", "port": 1883}},
    }


def check(folder: Path, document: dict[str, Any], *args: str) -> tuple[int, list[str], str]:
    """``edge-agent check`` on ``document`` saved in ``folder``: exit code, stderr lines, stdout."""
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--config", str(path), *args])
    return code, err.getvalue().splitlines(), out.getvalue()


def keyed(lines: list[str]) -> dict[str, str]:
    """Problem lines by key path (the last count line left out)."""
    return {line.split(": ", 1)[0]: line for line in lines[:-1]}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_files(folder: Path, ca: trustme.CA, **dates: datetime) -> dict[str, str]:
    """CA, device certificate and key written in ``folder``, as a tls section (relative)."""
    leaf = ca.issue_cert(CLIENT, common_name=CLIENT, **dates)
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(folder / "device.crt"))
    leaf.private_key_pem.write_to_path(str(folder / "device.key"))
    return {"ca": "ca.pem", "cert": "device.crt", "key": "device.key"}


# --------------------------------------------------------------------------- this machine


def test_a_missing_source_folder_and_missing_tls_files_are_named(tmp_path: Path) -> None:
    document = configuration(
        tmp_path,
        mqtt={"host": "localhost", "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem"}},
    )
    document["sources"][0]["path"] = "nowhere"
    code, lines, _ = check(tmp_path, document)
    assert code == 2
    found = keyed(lines)
    assert f"folder {tmp_path / 'nowhere'} does not exist" in found["sources[0].path"]
    for key, name in (("ca", "ca.pem"), ("cert", "c.pem"), ("key", "k.pem")):
        assert f"no such file: {tmp_path / name}" in found[f"publish.mqtt.tls.{key}"]
    assert lines[-1].startswith("4 problem(s) in ")


def test_a_key_that_does_not_belong_to_the_certificate_is_named(
    tmp_path: Path, ca: trustme.CA
) -> None:
    tls = tls_files(tmp_path, ca)
    ca.issue_cert("other").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    document = configuration(
        tmp_path, mqtt={"host": "localhost", "tls": {**tls, "key": "other.key"}}
    )
    code, lines, _ = check(tmp_path, document)
    assert code == 2
    assert lines[0].startswith(
        f"publish.mqtt.tls.key: {tmp_path / 'other.key'} does not belong to the certificate "
    )
    assert "PRIVATE KEY" not in "\n".join(lines)
    document["publish"]["mqtt"]["tls"] = tls
    assert check(tmp_path, document)[0] == 0


def test_certificate_dates(tmp_path: Path, ca: trustme.CA) -> None:
    now = datetime.now(UTC)
    tls = tls_files(
        tmp_path, ca, not_before=now - timedelta(days=400), not_after=now + timedelta(days=12)
    )
    document = configuration(tmp_path, mqtt={"host": "localhost", "tls": tls})
    code, lines, out = check(tmp_path, document)
    assert code == 0 and not lines
    assert "warning: publish.mqtt.tls.cert: " in out
    assert "(in 11 days)" in out or "(in 12 days)" in out
    tls_files(tmp_path, ca, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1))
    code, lines, _ = check(tmp_path, document)
    assert code == 2 and "expired on" in keyed(lines)["publish.mqtt.tls.cert"]
    tls_files(tmp_path, ca, not_before=now + timedelta(days=2), not_after=now + timedelta(days=400))
    code, lines, _ = check(tmp_path, document)
    assert code == 2 and "clock" in keyed(lines)["publish.mqtt.tls.cert"]


def test_validity_read_without_a_crypto_library(ca: trustme.CA) -> None:
    not_after = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    leaf = ca.issue_cert("x", not_before=datetime(1999, 1, 1, tzinfo=UTC), not_after=not_after)
    [validity] = pem_validities(leaf.cert_chain_pems[0].bytes().decode())
    assert (validity.not_before.year, validity.not_after) == (1999, not_after)
    system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if system.is_file():  # every certificate of the system bundle reads
        assert len(pem_validities(system.read_text(encoding="ascii"))) > 10


def test_state_dir_and_password_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state").write_text("a file where the folder should be")
    document = configuration(tmp_path)
    document["sources"].append(
        {
            "name": "hmi",
            "type": "smb",
            "smb": {"server": "nas", "share": "data", "username": "u", "passwordEnv": "EA_TEST_PW"},
            "dataset": "line1",
        }
    )
    monkeypatch.delenv("EA_TEST_PW", raising=False)
    code, lines, _ = check(tmp_path, document)
    found = keyed(lines)
    assert code == 2
    assert found["stateDir"] == f"stateDir: {tmp_path / 'state'} is not a folder — " + (
        "create it and let the agent's user write to it, or choose another stateDir"
    )
    assert "EA_TEST_PW is not set" in found["sources[1].smb.passwordEnv"]
    monkeypatch.setenv("EA_TEST_PW", "x")
    (tmp_path / "state").unlink()
    assert check(tmp_path, document)[0] == 0


def test_move_to_must_be_creatable(tmp_path: Path) -> None:
    document = configuration(tmp_path)
    (tmp_path / "blocker").write_text("")
    document["sources"][0].update(afterIngest="move", moveTo="blocker/done")
    code, lines, _ = check(tmp_path, document)
    assert code == 2
    assert keyed(lines)["sources[0].moveTo"].startswith(
        f"sources[0].moveTo: {tmp_path / 'blocker/done'} cannot be created: "
    )


def test_plain_mqtt_across_the_network_is_a_warning_and_to_iot_core_a_problem(
    tmp_path: Path,
) -> None:
    document = configuration(tmp_path, mqtt={"host": "broker.plant.local", "port": 1883})
    code, _, out = check(tmp_path, document)
    assert code == 0 and "warning: publish.mqtt.tls: missing: rows cross the network" in out
    document["publish"]["mqtt"]["host"] = "abc123-ats.iot.eu-central-1.amazonaws.com"
    code, lines, _ = check(tmp_path, document)
    assert code == 2
    assert "accepts TLS connections only" in keyed(lines)["publish.mqtt.tls"]


def test_an_invalid_configuration_is_checked_on_this_machine_too(tmp_path: Path) -> None:
    document = configuration(tmp_path)
    document["sources"][0].update(path="nowhere")
    document["datasets"]["line1"] = {"kind": "nope"}
    code, lines, _ = check(tmp_path, document)
    assert code == 2
    assert set(keyed(lines)) == {"datasets.line1.kind", "sources[0].path"}


def test_greengrass_checks_relative_to_the_work_folder(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    document = configuration(tmp_path / "work")
    result = check_document(document, base_dir=tmp_path / "work", greengrass=True)
    assert result.ok, result.findings.problems
    result = check_document(document, base_dir=tmp_path, greengrass=True)
    assert [p.path for p in result.findings.problems] == ["sources[0].path"]


# --------------------------------------------------------------------------- --probe


@pytest.mark.infra
def test_probe_names_an_unreachable_broker(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    document = configuration(tmp_path, mqtt={"host": "127.0.0.1", "port": port})
    assert check(tmp_path, document)[0] == 0  # nothing local is wrong
    code, lines, _ = check(tmp_path, document, "--probe")
    assert code == 2
    assert lines[0].startswith(f"publish.mqtt.host: cannot reach 127.0.0.1:{port}: ")
    assert lines[-1].startswith("1 problem(s) in ")


@pytest.mark.infra
def test_probe_passes_a_reachable_broker_with_mutual_tls(tmp_path: Path, mosquitto: Broker) -> None:
    tls = {
        "ca": str(mosquitto.ca_path),
        "cert": str(mosquitto.cert_path),
        "key": str(mosquitto.key_path),
    }
    document = configuration(
        tmp_path, mqtt={"host": "127.0.0.1", "port": mosquitto.tls_port, "tls": tls}
    )
    code, lines, out = check(tmp_path, document, "--probe")
    assert (code, lines) == (0, [])
    where = f"127.0.0.1:{mosquitto.tls_port}"
    assert f"probe: MQTT CONNECT to {where} as client id 'gateway-01-edge-agent': accepted" in out
    document["publish"]["mqtt"].update(port=mosquitto.port, tls=None, protocol="3.1.1")
    code, lines, out = check(tmp_path, document, "--probe")
    assert (code, lines) == (0, []) and "accepted" in out


@pytest.mark.infra
def test_probe_names_a_certificate_the_broker_does_not_trust(
    tmp_path: Path, mosquitto: Broker, ca: trustme.CA
) -> None:
    tls = tls_files(tmp_path, ca)  # another CA's device certificate
    tls["ca"] = str(mosquitto.ca_path)
    document = configuration(
        tmp_path, mqtt={"host": "127.0.0.1", "port": mosquitto.tls_port, "tls": tls}
    )
    code, lines, _ = check(tmp_path, document, "--probe")
    assert code == 2
    # The broker refuses it in the handshake or right after (TLS 1.2: once the client is done).
    assert lines[0].startswith(
        ("publish.mqtt.tls: TLS handshake with ", "publish.mqtt.tls.cert: 127.0.0.1:")
    )


@pytest.mark.infra
def test_probe_logs_on_to_the_share(
    tmp_path: Path, samba: SambaServer, smb_folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (samba.share_path / smb_folder / "a.csv").write_text("ts,x\n")
    document = configuration(tmp_path)
    smb = {
        "server": "127.0.0.1",
        "port": samba.port,
        "share": samba.share,
        "folder": smb_folder,
        "username": samba.username,
        "passwordEnv": "EA_TEST_SMB_PW",
    }
    document["sources"] = [{"name": "nas", "type": "smb", "smb": smb, "dataset": "line1"}]
    document["publish"] = {"target": "greengrass"}
    monkeypatch.setenv("EA_TEST_SMB_PW", samba.password)
    code, lines, out = check(tmp_path, document, "--probe")
    assert (code, lines) == (0, [])
    assert f"as {samba.username}: 1 file(s) match" in out
    monkeypatch.setenv("EA_TEST_SMB_PW", "wrong")
    code, lines, _ = check(tmp_path, document, "--probe")
    assert code == 2 and lines[0].startswith("sources[0].smb: ")
