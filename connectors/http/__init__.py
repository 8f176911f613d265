"""The shared HTTP layer of every REST source: one client per connection with retries, a rate limiter,
bounded concurrency, authentication and pagination, so each vendor connector is configuration only.

`client.HttpClient` sends requests (retry/backoff/Retry-After, error mapping); `throttle` paces them
for the connection; `auth` and `paginators` hold both the YAML models and what runs them.
"""
