"""What `sandbox up`'s fork server imports once, before it forks each service (sandbox/launcher.py): the
libraries every service uses and the shared kernel. Each service then starts without importing them again, and
the services share those pages of memory until one writes to them. A service's own modules are imported in its
own process, so that the services start side by side on both cores."""

import alembic.command
import cryptography.hazmat.primitives.asymmetric.ed25519
import cryptography.x509
import fastapi
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
import services.common.app
import services.common.assertion
import services.common.database
import services.common.im_client
