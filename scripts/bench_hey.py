#!/usr/bin/env python3
"""One storm row of target/bench/results.jsonl: the load generator's JSON for the feed (500
clients) joined with what `hey` reported for the page requests made meanwhile.
    bench_hey.py PHASE FEED_JSON HEY_OUTPUT"""
import json
import re
import sys

phase, feed_path, hey_path = sys.argv[1:4]
row = json.load(open(feed_path))
row.update(scenario="f", rate=0, phase=phase)
text = open(hey_path).read()
if text.strip():
    def num(pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    statuses = {code: int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    p99 = num(r"99%+ in ([\d.]+) secs")
    row["pages"] = {
        "per_sec": num(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": None if num(r"50%+ in ([\d.]+) secs") is None else num(r"50%+ in ([\d.]+) secs") * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
        "statuses": statuses,
        "errors": len(re.findall(r"^\s+\[\d+\]\s+Get", text, re.M)),
    }
print(json.dumps(row))
