#!/usr/bin/env python3
"""Writes the fault suite's figures (JSON files from FAULT_SUITE_REPORT) into BENCHMARKS.md as
the "## Fault suite" section, replacing the previous one.

    fault_report.py <report-dir> <BENCHMARKS.md> <command that produced them>
"""
import json
import pathlib
import sys

report_dir, bench_path, command = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
faults = json.loads((report_dir / "random_faults.json").read_text())
kills = json.loads((report_dir / "kill_9.json").read_text())


def kinds(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))


section = f"""## Fault suite

Measured by `{command}` (the same tests run short in `infra/scripts/test.sh`). Expected values
come from the sandbox dataset, not from the engine (`tests/suites/end_state.rs`).

| Check | Figures | Lost / wrong | Duplicated |
|---|---|---|---|
| Random faults, both sandboxes, syncs with rules | {faults['faults']} faults over {faults['rounds']} rounds ({faults['syncs']} syncs, {faults['seconds']:.0f} s). HubSpot: {kinds(faults['hubspot'])}. Pendo: {kinds(faults['pendo'])} | {faults['divergences']} of {faults['values_checked']} values, checked after every round | {faults['duplicates']} ({faults['created_records']} tasks/deals created) |
| `kill -9` of `pendo-hubspot sync` at random points, restarted | {kills['kills']} kills, {kills['mid_process']} while the process ran, {kills['mid_run']} of them after the run had checkpointed progress; {kills['runs_marked_interrupted']} runs marked interrupted and resumed; uninterrupted sync {kills['uninterrupted_sync_seconds']:.1f} s, whole suite {kills['seconds']:.0f} s | {kills['divergences']} of {kills['values_checked']} values; end state = uninterrupted run's | {kills['duplicates']} ({kills['created_records']} tasks/deals created) |
"""

text = bench_path.read_text() if bench_path.exists() else "# Benchmarks\n"
start = text.find("## Fault suite")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
bench_path.write_text(text)
print(section)
