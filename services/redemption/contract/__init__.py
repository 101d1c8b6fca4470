"""What the redemption service promises the rest of the system, and nothing else.

``schemas`` (its RPC requests and answers), ``enums`` (the values they validate),
``events`` (its typed events) and ``codes`` (the voucher code format). Any
component may import these; they import only plumbing, never the service's
domain or storage, so importing them loads none of redemption's code.
"""
