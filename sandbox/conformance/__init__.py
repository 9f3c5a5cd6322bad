"""The conformance profile (`sandbox up --profile conformance`): the demo world plus the fixture records that
GovStack's compliance checks assume (the YAML files beside this module, ../shared/govstack/CONFORMANCE.md),
in its own data directory, with Identity, Payments and Consent serving their spec paths without the IM and
Consent reachable over HTTPS. Opt-in, never the default: see README.md, "Conformance profile".

- `profile.py`: where the profile keeps its data, the environment it gives the processes, its banner.
- `fixtures.py`: loads or restores every fixture through the building blocks' own loaders (start and reseed).
- `tls.py`: the local self-signed certificate Consent's HTTPS listener uses.
- `cli.py`: `sandbox conformance reseed`.
"""
