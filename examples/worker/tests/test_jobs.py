"""The worker's tests: jobs in through Redis, results out of S3, bad jobs logged and skipped."""

import json
import os
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resp import Redis

S3 = boto3.client(
    "s3",
    endpoint_url=os.environ["STORE_ENDPOINT"],
    aws_access_key_id=os.environ["STORE_ACCESS_KEY"],
    aws_secret_access_key=os.environ["STORE_SECRET_KEY"],
    region_name=os.environ["STORE_REGION"],
)


def result(job_id: str, timeout: float = 20) -> str:
    """Poll S3 for the job's result, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            obj = S3.get_object(Bucket=os.environ["RESULTS_BUCKET"], Key=f"results/{job_id}.txt")
            return obj["Body"].read().decode()
        except S3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise AssertionError(f"no result for job {job_id} after {timeout} s") from None
            time.sleep(0.1)


def push(**job) -> None:
    Redis(os.environ["QUEUE_URL"]).call("RPUSH", "jobs", json.dumps(job))


def test_a_job_comes_out_in_s3():
    job = uuid.uuid4().hex
    push(id=job, text="hello worker")
    assert result(job) == "HELLO WORKER"


def test_many_jobs_each_once():
    jobs = [uuid.uuid4().hex for _ in range(5)]
    for i, job in enumerate(jobs):
        push(id=job, text=f"job {i}")
    assert [result(job) for job in jobs] == [f"JOB {i}" for i in range(5)]


@pytest.mark.allow_backend_errors(r"^ERROR bad job ", service="worker")
def test_a_bad_job_is_logged_and_the_next_one_still_runs():
    Redis(os.environ["QUEUE_URL"]).call("RPUSH", "jobs", "not json")
    job = uuid.uuid4().hex
    push(id=job, text="after the bad one")
    assert result(job) == "AFTER THE BAD ONE"


def test_the_queue_needs_its_password():
    url = os.environ["QUEUE_URL"].replace(os.environ["QUEUE_PASSWORD"], "wrong")
    with pytest.raises(RuntimeError, match=r"WRONGPASS|invalid"):
        Redis(url)
