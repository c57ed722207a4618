"""The text of docs/configuration.md around the tables of keys (config/reference.py).

What a table cannot say: how paths are resolved, columns by position, plain MQTT, the health
endpoint, the log format. Kept beside the generator so the document is one command away.
"""

INTRO = """
# Configuration reference

<!-- Generated from the models by `{command}`; edit the models' field docstrings or
edge_agent/config/reference_text.py, not this file (a test fails when it is stale). -->

The agent reads one configuration: a YAML or JSON file given to `--config`, a Greengrass recipe
given to `--config` (its `ComponentConfiguration.DefaultConfiguration`), or, inside Greengrass,
the component's configuration. Keys are camelCase; an unknown key is an error (with a
"did you mean" hint); numbers that Greengrass hands back as `5.0` are accepted where an integer
is meant. A configuration is accepted or refused as a whole: `edge-agent check --config PATH`
names every problem with its key path and the fix, and exits 2 (see "Checking" below).

Key paths: `sources[]` is each item of the list `sources`; `datasets.<name>` is each key you
choose under `datasets` (likewise `<column>`, `<recipe>`, `<field>`, `<tower>`).
"""

NOTES = """
## Paths: relative to the configuration file

`stateDir`, `sources[].path`, `sources[].moveTo` of a local source, and
`publish.mqtt.tls.ca`, `.cert` and `.key` are files or folders on the gateway (type `path`
below). A relative path is relative to **the folder of the configuration file** (or recipe)
given to `--config`, not to the current directory: `edge-agent run`, `check` and
`status --config` find the same folders wherever they are started. `~` is the home folder of
the user the agent runs as. Absolute paths are used as written.

Inside Greengrass (`edge-agent run --greengrass`) a relative path is relative to the
component's **work folder** (`/greengrass/v2/work/io.edgeagent.EdgeAgent`), which Greengrass
makes the working directory of the component: the shipped recipe's `stateDir: state` is
`/greengrass/v2/work/io.edgeagent.EdgeAgent/state`. Recipe variables such as `{work:path}` are
not replaced inside the configuration.

On an SMB share, `sources[].smb.folder` is a folder inside the share and `sources[].moveTo` is
relative to the share root (docs/smb.md): neither is a path on the gateway.

## Files without a header row: columns by position

With `csv.headerRow: null` a file has no header: its columns are named by their 1-based
position, and a record's fields are `col1`, `col2`, ... unless renamed. Keys of `columns` can be
positions, written as text (YAML needs the quotes: `"1":`, not `1:`), and
`csv.timestampColumn` can be a position too:

```yaml
datasets:
  plc:
    csv: {headerRow: null, timestampColumn: "1", timestampFormat: "%d.%m.%Y %H:%M:%S"}
    columns:
      "2": {name: temp_c, type: float, unit: "°C"}
      "3": {skip: true}
```

A position also works in a file with a header (a column is looked up by its header text first).
Without a header the data starts on line 1 unless `csv.firstDataRow` says otherwise.

## Plain MQTT, without TLS

`publish.mqtt.tls: null` (the default) connects without TLS, which suits a broker on the gateway
itself (`localhost`, `127.0.0.1`, `::1`): a local Mosquitto that bridges to the cloud, the
demo's broker. Set `port: 1883` for it (8883, the default, is the TLS port).

- `publish.mqtt.password` without TLS is refused unless the broker is on loopback: the password
  would cross the network in clear text.
- AWS IoT Core accepts TLS connections only: an IoT Core endpoint (`*.iot.<region>.amazonaws.com`)
  without `tls` is refused.
- Any other host without TLS is accepted, and `edge-agent check` warns: rows cross the network in
  clear text and the broker cannot tell this gateway from anyone else.

## The health endpoint: `health.port`

`/healthz` (200 healthy, 503 with the reasons) and `/metrics` (Prometheus) listen on
`health.host` (loopback only: they have no password) and `health.port`: 9108 by default, `null`
turns the endpoint off, `0` takes any free port and logs it at start. A port that cannot be
bound is logged once and the agent carries on without the endpoint. docs/operations.md says what
healthy means (`health.unhealthyAfterSeconds`) and lists the metrics.

## Logs: `logging.format` and `logging.level`

`logging.format: json` (the default) writes one JSON object per line
(`{"ts", "level", "logger", "msg", ...fields}`) for Greengrass and log shippers; `text` writes
one readable line per event (`2026-11-27T01:05:00.000Z INFO edge_agent...: message key=value`).
Both go to stderr (under Greengrass: the component's log file) and never contain a password.
`logging.level` is `DEBUG`, `INFO`, `WARNING` or `ERROR`, in any case.

## Checking a configuration

`edge-agent check --config PATH` validates the configuration, then this machine: source folders
exist and are readable (writable for `afterIngest: move`/`delete`, and `moveTo` can be created),
`stateDir` can be written, the TLS CA, certificate and key load, belong together and are within
their validity period (a certificate that expires within 30 days is a warning), an SMB
`passwordEnv` variable is set. `--probe` also connects: an MQTT CONNECT with the configured TLS
files and client id, then a clean DISCONNECT; an SMB logon and a listing of each share's
folder. Each problem is one line, `key.path: what — how to fix it`; exit 0 when all is well,
2 otherwise. Inside Greengrass the same checks of the machine (without connecting) decide
whether a configuration update is accepted.

Note: `--probe` connects with the agent's client id. A running agent with the same client id
is disconnected once (AWS IoT Core allows one connection per client id) and reconnects by
itself; nothing is lost.
"""

SECTIONS_INTRO = """
## Keys
"""
