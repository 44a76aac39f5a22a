"""django-scim2 (15five's SCIM 2.0 app for Django) as the benchmark's durable peer: SQLite in WAL mode with
`synchronous=FULL` (every acknowledged write is on disk, the promise this service makes with Table Storage), served
by gunicorn. Dev tooling only; never deployed. Started by `python -m bench` through `bench.django_peer.serve`."""
