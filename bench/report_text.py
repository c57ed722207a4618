"""The prose of the field-scale part of docs/BENCHMARKS.md: how each figure is measured, the
Node-RED peer, and what the profiles found."""

METHOD = """
## How the field-scale figures are measured (g to l)

Each field-scale scenario runs the agent alone (and Node-RED in (l)) against its own Mosquitto,
rate limits off (`maxPublishesPerSecond`/`maxBytesPerSecond` null), `settleSeconds` 0.5, the
state database on the same disk as the files. `--repeat N` runs each N times; the tables show
every run, and a goal is "met" only if every run met it. The 1-minute load average is sampled
every 5 s during each run.

- **Many small files (g)**: the files (ten rows, the 10-column layout of (a), about 700 bytes)
  are written into day folders of 1,000 before the agent starts (`afterIngest: keep`). The
  agent's durable `rows_acknowledged` counter is sampled every 0.2 s; files acknowledged =
  rows / 10 (every file is one batch). Overall files/s = files / (process start -> last file
  acknowledged), so it includes start-up (listing the folder and looking every file up in the
  ledger); a tenth's rate is 10,000 files / the time between the samples where that tenth
  began and ended. Under IoT Core's 100 publishes/s a file per publish caps any ingest at 100
  files/s: these figures are the agent's own cost per file.
- **Idle (h)**: the same agent once every file is acknowledged (5 s later), CPU time (user +
  system, all threads, `/proc/PID/stat`) over the window / the window = share of one core;
  `VmRSS` at its end. The window spans at least one periodic rescan (`rescanSeconds`, 60 s by
  default), which lists and stats every kept file. Then the agent is stopped and started again
  on the same state: after its start-up is over (less than 5 % of a core over 2 s), the same
  figures over a second window.
- **New files arriving (h2)**: one source; first empty: N ten-row files renamed in one at a
  time, each once the previous one is acknowledged and at least the interval after it; agent
  CPU from the first drop to the last acknowledgement / N, and settle (rename +
  `settleSeconds`) -> acknowledged, polled every 5 ms. Then the agent is stopped, the kept
  files are written into day folders of the same source with a `read` ledger row each (copied
  from a real row of one of the arrivals: path, size, mtime, identity and fingerprint its own),
  the agent is started again, and once its start-up is over the same N arrivals are timed.
  The acknowledged count is checked to move only by the arrivals (no kept file read again).
- **Restart (i)**: a gateway with two sources. `line` (`afterIngest: move` to an archive folder
  outside it) and `logger` (`afterIngest: keep`, with the "present" files). A first agent reads
  the present files and one `line` file, which it moves away; it is stopped. The ledger is then
  filled up to the total with rows copied from that real `line` row (each its own path, file
  id, content fingerprint and times; state `disposed`, `disposed_to` the archive, `gone_at` from
  29 days ago to now, so `forgetAfterDays: 30` keeps them all): the history of files read and
  moved away. They are inserted directly into the `files` table (schema of
  `edge_agent/state/db.py`) in one transaction. A new file is put into `line` while the agent
  is down; the figure is process start (`Popen`) -> that file's rows acknowledged (the counter,
  polled every 10 ms), so it includes Python's start, the imports, the scans of both sources,
  the ledger lookups and `settleSeconds`. Then the same agent is left idle for a window that
  holds its periodic work (heartbeat, disposal sweep and rescan, each every 60 s by default):
  CPU share and RSS as in (h).
- **Outage drain (j)**: N local sources, `outbox.maxBytes` 1 MiB. After a one-row warm-up file
  is acknowledged, Mosquitto is frozen (`SIGSTOP` to its PID); each source gets its big file
  (written beside the folder, renamed in); after the frozen time the broker is resumed
  (`SIGCONT`); the clock stops when the agent's counter says every row is acknowledged. A
  subscriber on the agent's topics decodes every envelope: rows delivered are the rows of
  distinct batchIds; a row is missing when no batch covers its line; a row under two batchIds
  is one covered by two batches with different ids (a re-send with the same batchId is counted
  apart and is what downstream deduplicates).
- **Soak (k)**: `edge-sim tower --speed X --days D --towers T --start 2026-01-05` writes the
  site's interval files in accelerated time (files appear, grow and close) while the agent
  reads them with the builtin tower, seeding, automation and site datasets and the farm
  enrichment (`cea.siteId`), `afterIngest: keep`. Every sample: `VmRSS`, the state database's
  size (with WAL), files read (ledger, counted when the outbox is empty), the agent's CPU time.
  Slopes are least squares over simulated time, on the second half of the replay for RSS and
  the database (the first half holds the start-up); CPU per file is the CPU time between two
  samples / the files read between them (stretches with at least 5 files).
- **Node-RED (l)**: the same file generator and size as (a), both against the same Mosquitto:
  the agent first (settle -> every batch acknowledged, as in (a)), then Node-RED from the
  file's rename into its watched folder (it has no settle time) to the last of its messages
  received by the subscriber (QoS 1; it arrives after the broker has acknowledged it, so this
  is at least as late as the last PUBACK). Every row must arrive exactly once.

## Node-RED, the peer (bench/nodered-flow.json)

What a field engineer builds in Node-RED to send a folder of CSV files to MQTT, as the
Node-RED cookbook does it. Node-RED {version} (`npm install node-red@{version}` into
`~/.cache/edge-agent-bench/`, never into the repository; override with `EDGE_BENCH_CACHE`),
Node.js from the machine, started headless by bench/nodered.py with its own user folder, its
HTTP port on 127.0.0.1, telemetry and the palette manager off, stopped by PID. The flow:

1. **watch** (core node) on the drop folder (inotify through node-watch);
2. **switch**: only events for a regular file, and only `*.csv`;
3. **file in**: read the file named by `msg.filename`, *a message per line*, UTF-8 — the
   streaming mode (the *single string* mode reads the whole file into memory and measured
   slower on this file);
4. **csv** (RFC 4180 mode): column names from the first line, one message per row, numbers
   parsed as numbers (so its rows are typed like the agent's);
5. **mqtt out**: QoS 1, MQTT 5, one fixed topic, to the same Mosquitto; the row object is sent
   as JSON (the node stringifies objects).

Its folder, broker port and topic come from environment variables (`${{EDGE_BENCH_WATCH_DIR}}`
etc. in the flow file). It has no ledger, no settle time (a file still being written is read as
it is), no batching and no rate limit: one MQTT message per row, like the naive ingest, but
with MQTT.js keeping many publishes in flight rather than one.
"""

FINDINGS = """
## Reading the field-scale figures: where the agent misses, and why

Profiles taken on this machine on 2026-12-07 with py-spy 0.4.3 (`py-spy record --threads`,
100 Hz) on the agent of these scenarios, per-thread CPU from `/proc/PID/task/*/stat`, and a
`tracemalloc` snapshot (6 frames) of an agent restarted on 20,000 kept files. Shares are of the
agent's busy (non-waiting) samples unless said otherwise. The fixes are proposals: this branch
changes nothing in `edge_agent/`.

1. **Every new file makes the agent list and stat every kept file (h2, k).**
   `LocalSource`'s watchdog handler (`_Handler.on_any_event`, edge_agent/sources/local.py)
   turns every directory event into `notify(None)`, i.e. a full rescan
   (`SourceRunner._hint(None)` sets `_rescan_now`). watchdog's inotify emitter queues a
   synthetic `DirModifiedEvent` for the parent folder with every file created, deleted or moved
   (watchdog/observers/inotify.py, `queue_events`). So each arriving file costs one
   `LocalSource.scan` of the whole source, O(files kept): CPU per new file grows with the
   files kept (h2: about 10 ms per new file in an empty source, about 2.1 s with 100,000 files
   kept, and settle -> acknowledged 14 ms against about 2 s; at one file a second the agent then
   uses 80 % of a core), and in the soak (k) the cost per file climbs as files accumulate until the
   agent, saturated, falls behind the simulator (`LocalSource.scan` was 42 % of the busy
   samples one minute in, 50 % four minutes in; `posixpath.islink` alone 17 %).
   *Fix*: ignore `DirModifiedEvent` (`event.event_type == "modified" and event.is_directory`):
   the file's own event is delivered too; for a folder created, moved or deleted, rescan that
   folder, not the source.
2. **Idle CPU with 100,000 files kept is about 4 % of a core (h), goal 1 %.** It is the
   periodic rescan (`rescanSeconds` 60): `LocalSource._scan` + `_stat` make three system calls
   per file (`os.path.islink`, `os.stat`, `os.path.isfile`) and build a `pathlib.Path` per file
   (`Path(full).relative_to(root).as_posix()`), about 2.4 s of CPU per rescan of 100,000 files
   on the `edge-agent-io` thread, then `Settler.reconcile` on the event loop. *Fix*: walk with
   `os.scandir` (`DirEntry.is_symlink()`/`is_file()` come from the directory entry, one
   `entry.stat()` per file) and build the relative path as a string; and while the inotify
   watcher is running, rescan far less often (the watcher sees changes, the rescan only
   repairs a missed event: e.g. every 15 min, back to 60 s while the watcher is down).
   Either alone brings 100,000 files under 1 %.
3. **Idle CPU with a million ledger rows is far above 1 % (i), two full-table scans a minute.**
   (a) `Disposer._sweep` (edge_agent/disposal.py) runs at start and every `rescanSeconds` for
   every source with `afterIngest: move|delete` and calls `Ledger.awaiting_disposal`
   (edge_agent/state/ledger.py): `... WHERE source = ? AND state IN ('read', 'duplicate') AND
   NOT EXISTS (...)` has no index on `state`, so SQLite walks every row of the source (54 % of
   the busy samples after a restart with 1,000,000 rows). (b) The heartbeat
   (`Heartbeat.beat`, edge_agent/health/heartbeat.py) calls `status.collect` every
   `heartbeatSeconds` (60), whose first query `SELECT source, state, COUNT(*) ... FROM files
   GROUP BY source, state` reads the whole ledger (42 %). Together about 6 s of CPU a minute
   on a 394 MB ledger (10 % of a core), and the sweep at start is most of the 6 to 7 s of CPU of
   the restart. The restart itself is fast (first new file in under 1 s) because both run
   in other threads. *Fix*: `CREATE INDEX files_state ON files (source, state)` (or a partial
   index `WHERE state IN ('read', 'duplicate')`), and give the heartbeat counts kept up to date
   by the commits (a per-source, per-state counters table) instead of a `GROUP BY` over the
   ledger.
4. **RSS with 100,000 files kept is about 190 to 215 MB (g, h), goal 150 MB.** About 1.4 KB per
   kept file. `tracemalloc` (20,000 files) finds 650 bytes per file of Python objects, all for
   discovery: ledger values held in `Known` (`SourceLedger.known` -> `Ledger.many` rows, 121 B
   per file; the `Known` objects, 72 B), `Settler._seen` (`_Seen`, 80 B, and its dict), the
   relative path strings (90 B), the ints of `os.stat` (92 B), pathlib's `sys.intern` table of
   every path part (96 B), and the last listing's `FileInfo`s (72 B, held until the next scan
   replaces it); the rest is allocator overhead and the transient second listing of each
   rescan. *Fix*: keep at-rest files as one compact entry (`path -> (size, mtime_ns)` or a hash
   of them) and build `_Seen`/`Known` only for files that changed; no pathlib in the scan; drop
   the listing once reconciled.
5. **Files/s for a backlog of small files is 183 to 199 (g), goal 200; the last tenth keeps 0.93
   of the first (met).** The agent is CPU-bound on one core (GIL; 93 % of a core while
   reading, about 4.8 ms of CPU per ten-row file). `RecordBuilder._compile`
   (edge_agent/datasets/generic.py, the `exec` of the generated row function) runs twice per
   file — at the header and again after the first row has taught the column types — and is
   18 % of the GIL-held samples; the event loop's per-file bookkeeping (executor hand-offs,
   dispatcher, disposer) about 40 %; three SQLite commits per file (`Ledger.create`,
   `OutboxWriter.commit`, the acknowledgement). *Fix*: cache the compiled row function by its
   generated source (the same header and types give the same code), about a fifth of the CPU
   per small file; create the ledger row in the pass's first commit.

6. **The soak (k) is not flat.** The replay writes about 2,900 files a simulated week; the
   agent's CPU is pinned at one core for the whole replay, the files written but not yet read
   grow by about 680 a simulated week, and the CPU per file climbs from about 16 ms to 47-75 ms:
   item 1 (a full rescan per new file, O(files kept)). RSS rises from 47 MB to about 190 MB
   over 11,654 files (12-14 MB per simulated week in the second half): about 1.4 KB per kept
   file is discovery's (item 4); the rest (about 10 KB per file read) was not attributed here —
   `tracemalloc` slows the agent thirtyfold, too much for a replay; the farm's in-memory state
   is the next suspect. The database grows about 7 MB a simulated week: one ledger row per kept
   file (about 500 B) plus the farm's tables. Once item 1 is fixed the soak should be run again
   before reading slopes: today they measure a saturated agent catching up.

What is met: the restart goal (first new file 0.9 s after process start with 1,000,000 ledger
rows), the outage drain (16 sources, 1 MiB outbox, broker frozen 15 s: every row delivered,
none under two batchIds, drained 5.5 s after the resume), the last tenth ÷ first tenth, and
Node-RED 4x (about 8x).
"""
