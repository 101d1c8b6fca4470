"""What the notification service promises the rest of the system: ``schemas`` (its RPC requests
and answers) and ``events`` (what it publishes: a mail received at a merchant's support address).
It consumes the others' events (``plumbing/topology.py``). These
modules import only plumbing, never the service's domain or storage."""
