"""No password reaches a log line, the status output, the state directory or a config repr.

A real agent (a child process, JSON logs at DEBUG) runs against a real smbd and Mosquitto with
an SMB password given inline, a wrong one inline, a wrong one through passwordEnv, and an MQTT
user name and password; everything it writes, and what ``edge-agent status`` and
``edge-agent check`` print, is searched for each secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trustme

from edge_agent.config.load import parse_config
from edge_agent.config.publish import TlsConfig
from edge_agent.errors import ConfigError
from edge_agent.publish.tls import build_ssl_context
from tests.agent.support import agent_config, write_config, write_rows
from tests.infra.mosquitto import Broker, free_port
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import smb_source

pytestmark = pytest.mark.infra

WRONG_INLINE = "Inline-S3cret-71f"
WRONG_ENV = "Env-S3cret-93a"
MQTT_PASSWORD = "Mqtt-S3cret-5bd"
ENV = "EDGE_AGENT_SECURITY_TEST_PASSWORD"


def secrets(samba: SambaServer) -> list[str]:
    return [samba.password, WRONG_INLINE, WRONG_ENV, MQTT_PASSWORD]


def configuration(
    tmp_path: Path, mosquitto: Broker, samba: SambaServer, folder: str
) -> dict[str, Any]:
    config = agent_config(tmp_path, mosquitto, thing="gw-secrets", publish={})
    config["publish"]["mqtt"].update(username="edge", password=MQTT_PASSWORD)
    config["sources"] += [
        {**smb_source(samba, folder), "name": "good"},
        {**smb_source(samba, folder, smb={"password": WRONG_INLINE}), "name": "inline"},
        {**smb_source(samba, folder, smb={"passwordEnv": ENV}), "name": "env"},
    ]
    config["logging"] = {"format": "json", "level": "DEBUG"}
    config["health"] = {"port": free_port(), "heartbeatSeconds": 0.5}
    return config


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def get(port: int, path: str) -> str:
    """The body of http://127.0.0.1:port/path (any status)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as e:
        with e:
            return str(e.read().decode())


def test_no_secret_in_logs_status_metrics_or_state(
    tmp_path: Path, mosquitto: Broker, samba: SambaServer, smb_folder: str
) -> None:
    config = configuration(tmp_path, mosquitto, samba, smb_folder)
    path = write_config(tmp_path, config)
    write_rows(samba.share_path / smb_folder / "a.csv", 3)
    write_rows(tmp_path / "in" / "b.csv", 3)
    log_path = tmp_path / "agent.log"
    outputs: dict[str, str] = {}
    with mosquitto.subscriber("dt/edge-agent/gw-secrets/#") as sub:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, ENV: WRONG_ENV, "PYTHONUNBUFFERED": "1"},
            )
        try:
            deadline = time.monotonic() + 40
            while True:
                text = log_path.read_text(encoding="utf-8", errors="replace")
                read = [
                    line
                    for line in text.splitlines()
                    if '"file read"' in line and '"source": "good"' in line
                ]
                heartbeats = [t for t, _ in sub.messages if t.endswith("/status")]
                if text.count('"msg": "source access-denied"') >= 2 and read and heartbeats:
                    break
                assert proc.poll() is None, text[-3000:]
                assert time.monotonic() < deadline, f"the agent never got going:\n{text[-3000:]}"
                time.sleep(0.2)
            for endpoint in ("/metrics", "/healthz"):
                outputs[endpoint] = get(config["health"]["port"], endpoint)
        finally:
            proc.terminate()
            proc.wait(30)
        outputs["mqtt"] = "\n".join(p.decode("utf-8", "replace") for _, p in sub.messages)
    assert "edge_agent" in outputs["/metrics"]
    outputs["log"] = log_path.read_text(encoding="utf-8", errors="replace")
    for args in (["status"], ["status", "--json"]):
        done = cli(*args, "--state-dir", str(tmp_path / "state"))
        assert done.returncode == 0, done.stderr
        outputs[" ".join(args)] = done.stdout + done.stderr
    assert "good" in outputs["status --json"]
    for file in (tmp_path / "state").rglob("*"):
        if file.is_file():
            outputs[str(file)] = file.read_bytes().decode("latin-1")
    assert '"level": "DEBUG"' in outputs["log"] or '"level":"DEBUG"' in outputs["log"]
    for name, text in outputs.items():
        for secret in secrets(samba):
            assert secret not in text, f"{secret!r} in {name}"


def test_no_secret_in_config_repr_or_check_output(
    tmp_path: Path, mosquitto: Broker, samba: SambaServer
) -> None:
    config = configuration(tmp_path, mosquitto, samba, "x")
    parsed = parse_config(config)
    for text in (repr(parsed), str(parsed), repr(parsed.sources[1]), repr(parsed.publish)):
        for secret in secrets(samba):
            assert secret not in text
    # A refused configuration: the problems name keys, never the values beside them.
    broken = dict(config)
    broken["sources"] = [
        {**s, "smb": {**s["smb"], "passwordEnv": "X"}} if "smb" in s else s
        for s in config["sources"]
    ]
    broken["publish"] = {"mqtt": {**config["publish"]["mqtt"], "pasword": MQTT_PASSWORD}}
    done = cli("check", "--config", str(write_config(tmp_path, broken)))
    assert done.returncode == 2
    assert "passwordEnv" in done.stderr and "pasword" in done.stderr
    for secret in secrets(samba):
        assert secret not in done.stdout + done.stderr


def test_no_private_key_in_tls_errors(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    ca.issue_cert("gw").cert_chain_pems[0].write_to_path(str(cert_path))
    other = ca.issue_cert("other").private_key_pem  # a key that does not match the cert
    other.write_to_path(str(key_path))
    body = other.bytes().decode().splitlines()[1]  # a line of the key's base64
    for key in (key_path, cert_path):  # the wrong key; a certificate where the key should be
        with pytest.raises(ConfigError) as caught:
            build_ssl_context(TlsConfig(ca=str(ca_path), cert=str(cert_path), key=str(key)))
        text = "\n".join(str(p) for p in caught.value.problems)
        assert "publish.mqtt.tls.cert" in text
        assert body not in text and "PRIVATE KEY" not in text
