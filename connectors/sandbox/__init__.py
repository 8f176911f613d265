"""The built-in sandbox: a deterministic fake property-management-system (PMS) API and its source.

It lets a new user (and every test and benchmark) run real syncs over real HTTP with no vendor
account: `schema` is the catalog, `records` renders records lazily from a seed, `dataset` adds
mutations and paging, `server` serves it on 127.0.0.1, and `connector` is the `sandbox` source.
Import the submodules directly; this package imports nothing so that `import connectors.sandbox`
stays cheap.
"""
