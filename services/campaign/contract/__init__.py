"""What the campaign service promises the rest of the system: ``schemas`` (its RPC requests and
answers), ``enums`` (the values they validate) and ``events`` (its typed events). They import only
plumbing (and other services' contracts), never the service's domain or storage."""
