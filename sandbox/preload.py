"""What `sandbox up`'s fork server imports once, before it forks each service (sandbox/launcher.py): the
libraries every service uses and the shared kernel. Each service then starts without importing them again, and
the services share those pages of memory until one writes to them. A service's own modules are imported in its
own process, so that the services start side by side on both cores. Alembic is added when a service may have
migrations to apply (`may_migrate` in sandbox/launcher.py)."""

import gc

import cryptography.hazmat.primitives.asymmetric.ed25519
import cryptography.x509
import fastapi
import fastapi.templating
import httpcore  # httpx imports it when a service makes its first client
import httpx
import jinja2
import joserfc.jwt
import pydantic_settings
import sqlalchemy.orm
import uvicorn
import uvicorn.loops.uvloop
import uvicorn.protocols.http.httptools_impl
import yaml

import sandbox.serve
import sandbox.topology
import services.common.app
import services.common.assertion
import services.common.clock
import services.common.database
import services.common.demo_world
import services.common.im_client
import services.common.keys
import services.common.live
import services.common.outbox
import services.common.tls

# Parsed once here rather than in each service: the topology every service looks itself up in, and the demo world
# the services seed from (YAML parsed in Python: tens of milliseconds each).
sandbox.topology.load()
services.common.demo_world.load()
services.common.tls.client_context()  # the CA bundle, loaded once for every service's HTTP clients

# Every service forked from here inherits these objects for its lifetime: frozen, its cyclic collector never
# scans them, so neither a collection's pause nor its writes to their headers (which would copy the shared
# pages into each service) are paid for them.
gc.freeze()
