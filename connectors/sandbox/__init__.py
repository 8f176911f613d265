"""The built-in sandbox: a deterministic fake property-management-system (PMS) API and its source.

It lets a new user (and every test and benchmark) run real syncs over real HTTP with no vendor
account: `schema` is the catalog, `records` renders records lazily from a seed, `dataset` adds
mutations and paging, `api` is the API's request contract, `faults` its bad days (errors, dropped
connections, slowness, a per-key rate limit), `server` serves it on 127.0.0.1, and `connector` is
the `sandbox` source: the generic `rest_api` source with a fixed manifest. Import the submodules
directly; this package imports nothing so that `import connectors.sandbox` stays cheap.
"""
