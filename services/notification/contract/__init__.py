"""What the notification service promises the rest of the system: ``schemas`` (its RPC requests
and answers). It publishes no events; it consumes the others' (``plumbing/topology.py``). These
modules import only plumbing, never the service's domain or storage."""
