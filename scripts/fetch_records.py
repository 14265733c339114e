"""Download the shard records of one CI run from the S3 results sink, for `harness merge`.

    python scripts/fetch_records.py GROUP_ID DEST

Reads the sink's settings from the environment (HARNESS_RESULTS_S3=s3://bucket/prefix, and
HARNESS_RESULTS_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY or the usual AWS variables); every run directory
under the prefix whose results.json carries that group_id is copied to DEST/<run_id>/.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(group: str, dest: Path) -> int:
    from harness.record.sinks import s3_target

    client, bucket, prefix = s3_target(os.environ)
    listed = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in listed for o in page.get("Contents", [])]
    runs = {k.rsplit("/", 1)[0] for k in keys if k.endswith("/results.json")}
    fetched = 0
    for run in sorted(runs):
        record = json.loads(client.get_object(Bucket=bucket, Key=f"{run}/results.json")["Body"].read())
        if record.get("group_id") != group or not record.get("shard"):
            continue
        for key in (k for k in keys if k.startswith(run + "/")):
            target = dest / run.rsplit("/", 1)[-1] / key[len(run) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target))
        fetched += 1
    print(f"fetched {fetched} shard record(s) of group {group} into {dest}")
    return 0 if fetched else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
