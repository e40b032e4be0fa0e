"""Write the synthetic k-means dataset (paper §6.5) as ``.npy`` shards, to a folder or to an S3 bucket.

    python datasets/kmeans/generate.py --points-per-worker 100000 --workers 4 --out /tmp/kmeans
    python datasets/kmeans/generate.py --points-per-worker 100000 --workers 4 --s3 http://127.0.0.1:8080 \\
        --access-key test:tester --secret-key testing --bucket praas-kmeans

Prints one line per shard: its key (the path under ``--out``, or the object key) and the SHA-256 of its float64
values. The generator is :mod:`praas_kit.apps.kmeans.data` (see README.md next to this file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from praas_kit.apps.kmeans.data import DatasetSpec, digest, encode, shard


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points-per-worker", type=int, required=True)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--features", type=int, default=28)
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--prefix", default="kmeans", help="key prefix of the shards")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the shards under this folder")
    where.add_argument("--s3", help="S3 endpoint URL to put the shards to")
    ap.add_argument("--bucket", default="praas-kmeans")
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args(argv)
    spec = DatasetSpec(args.points_per_worker, args.workers, args.features, args.clusters, args.seed)
    client = None
    if args.s3:
        from praas_kit.storage.s3 import make_client

        client = make_client(args.s3, args.access_key, args.secret_key, args.region)
    for rank in range(spec.workers):
        data, key = shard(spec, rank), spec.key(rank, args.prefix)
        if client is not None:
            client.put_object(Bucket=args.bucket, Key=key, Body=encode(data))
        else:
            path = args.out / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(data))
        print(key, digest(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
