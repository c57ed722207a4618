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
## Reading the field-scale figures: what the profiles found, what changed, what still misses

The first full run of these scenarios (2026-12-07, before the fixes) was profiled with py-spy
0.4.3 (`py-spy record --threads`, 100 Hz), per-thread CPU from `/proc/PID/task/*/stat` and a
`tracemalloc` snapshot of an agent restarted on 20,000 kept files. What it found, and what the
tables above show since:

1. **Every new file made the agent list every kept file (h2, k).** watchdog queues a
   `DirModifiedEvent` for the folder with every file created, and the handler turned any
   directory event into a full rescan. A folder's "modified" event is now ignored (the file's
   own event comes too). With 100,000 files kept, CPU per new file went from about 2.1 s to
   about 15 ms, settle -> acknowledged from about 2 s to about 11 ms (h2).
2. **The listing was expensive and frequent (h).** `os.walk`, `pathlib` and three system calls
   per file: about 2.4 s of CPU per listing of 100,000 files, every `rescanSeconds`. It is now
   `os.scandir` with one compiled pattern (about 0.65 s), and listings space out to 10 x
   `rescanSeconds` while they find nothing the inotify watcher missed (one miss brings them
   back). Idle CPU with 100,000 files kept: about 4 % of a core before, 0.14 % in (h).
3. **Two full-ledger scans a minute (i).** The disposer's sweep and the heartbeat's counts read
   every ledger row; `files (source, state)` is now indexed. Idle with 1,000,000 ledger rows:
   0.5 % of a core (i).
4. **Memory per kept file (g, h).** About 1.4 KB per kept file, all discovery's. A file at rest
   is now one integer (size and mtime) in the settler, the ledger is asked by path and not held,
   and the listing is dropped once reconciled: 104 MB after a restart with 100,000 files kept,
   108 MB with new files arriving (h, h2), against 190 to 215 MB before.
5. **Files/s (g).** The generated row function was compiled twice per file (a fifth of the CPU
   per small file); it is now compiled once per distinct source text: 216 files/s overall,
   last tenth 1.05 x the first (183 to 199 before).

Where the agent still misses a goal, and why:

- **RSS right after reading a backlog of 100,000 files in one process: 159 MB (g, h), goal
  150 MB.** While all 100,000 files wait at once, each has its listing entry, settle record and
  ledger answer; once read they shrink to one integer, but CPython's allocator does not give
  the freed memory back to the system: the path strings that stay (the keys of the files at
  rest) pin the arenas they share with the freed objects. The same files after a restart, or
  arriving one by one, hold 104 to 108 MB. A more compact pending entry (paths and deadlines
  in arrays) would lower the peak; not done.
- **Idle CPU in the first minute after a restart with 100,000 files kept: 1.2 % (h), goal 1 %.**
  The listing that checks the watcher runs once `rescanSeconds` (60 s) after the start, inside
  the 60 s window; it costs 0.65 s of CPU. Each later listing that finds nothing missed doubles
  the interval (up to 10 minutes), and the same process then idles at 0.14 % (h).
- **The soak (k).** The replay keeps up (files written but not yet read: at most 36,
  no trend) at 45 % of a core, but memory and CPU per file are not flat. RSS grows with the
  farm's context (`cea.historyDays`, 14 days of data time) and the readings it keeps for
  corrections and alerts (at most 64 MB stored), and it stepped up whenever a correction or an
  alert recomputation unpacked weeks of a tower's readings at once: freed memory is not given
  back. Since this run both stream the stored readings (16 chunks at a time); a correction keeps
  only the chunks it corrects, an alert recomputation only what alerts need of each reading.
  A 56-day replay at the same speed (`python bench/run_all.py --only soak --soak-days 56
  --soak-minutes 8`), before / after the correction change / after both: mean RSS of the second
  half 267 / 241 / 200 MB, peak 293 / 264 / 207 MB, slope 16.8 / 7.8 / 5.2 MB a simulated week.
  After both, RSS climbs to about 175 MB while the context window fills (day 17), then moves
  between 179 and 207 MB to day 56. CPU per file goes from 7.3 ms (first quarter) to 11.5 ms
  (last quarter), 0.7 ms a simulated week: the joins and alert runs over a context window that
  fills for 14 days; not profiled further. The database grows 11 to 14 MB a simulated week
  (about 4.5 KB per kept file): each kept file's ledger row stays while the file is in the
  source (it must, or the file would be read again), plus the farm's stored readings; not
  broken down by table.

What is met: files/s and its flatness (g), idle CPU in the long run (h), the restart goal
(first new file 1.0 s after process start with 1,000,000 ledger rows, i), the outage drain (16
sources, 1 MiB outbox, broker frozen 15 s: every row delivered, none under two batchIds,
drained in about 6 s after the resume, j), and Node-RED 4x (about 8x, l).
"""
