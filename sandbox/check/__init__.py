"""The conformance kit: `sandbox check <block> --url URL` checks any implementation of a GovStack building block
against the GovStack OpenAPI documents shipped in specs/ (README.md, "Check an implementation against the spec")."""
