"""Times the Python peer (handler.py) on the batches the e2e bench wrote
(kinesis-<n>.json, the same generated events audit-stream and the floor
were given) and prints its medians beside audit-stream's and the floor's
from the same bench run (medians.json). In-process: the event is parsed
from its JSON text (as the Python runtime does before calling a handler)
and handed to the handler; no transport. Figures only.

usage: run.py DIR [RUNS]
"""

import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handler  # noqa: E402

WARMUP = 3


class Context:
    function_name = "python-peer"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self):
        return 300_000


def main():
    out = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    try:
        with open(os.path.join(out, "medians.json")) as f:
            rust = {int(k): v for k, v in json.load(f).items()}
    except FileNotFoundError:
        rust = {}
    sizes = sorted(
        int(name[len("kinesis-") : -len(".json")])
        for name in os.listdir(out)
        if name.startswith("kinesis-") and name.endswith(".json")
    )
    print(
        f"python peer: Powertools BatchProcessor (Kinesis), default policy's rules, "
        f"{runs} timed calls after {WARMUP} warm-ups, in-process"
    )
    print("\n| records | python peer median | audit-stream median | floor median | python / audit-stream | planned / refused |")
    print("|---:|---:|---:|---:|---:|---|")
    for n in sizes:
        with open(os.path.join(out, f"kinesis-{n}.json"), "rb") as f:
            body = f.read()
        times = []
        for i in range(WARMUP + runs):
            gc.collect()
            start = time.perf_counter()
            event = json.loads(body)
            response = handler.handler(event, Context())
            took = time.perf_counter() - start
            if response.get("batchItemFailures"):
                sys.exit(f"{n} records: the peer failed records: {response['batchItemFailures'][:3]}")
            if i >= WARMUP:
                times.append(took)
        med = statistics.median(times) * 1e3
        actions, refused = handler.last_plan
        r = rust.get(n, {})
        stream = r.get("audit-stream")
        floor = r.get("floor")
        ratio = f"{med / stream:.1f}x" if stream else "-"
        fmt = lambda v: f"{v:.2f} ms" if v else "-"  # noqa: E731
        print(
            f"| {n} | {med:.2f} ms | {fmt(stream)} | {fmt(floor)} | {ratio} | "
            f"{len(actions)} / {len(refused)} |"
        )


if __name__ == "__main__":
    main()
