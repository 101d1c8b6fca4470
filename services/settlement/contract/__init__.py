"""What the settlement service promises the rest of the system: ``schemas`` (its RPC requests and
answers), ``enums`` (the values they validate: exception kinds, statuses...) and ``events`` (its
typed events). They import only plumbing, never the service's domain or storage."""
