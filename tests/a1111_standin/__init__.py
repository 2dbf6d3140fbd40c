"""A faithful stand-in for the AUTOMATIC1111 stable-diffusion-webui v1.9.3 HTTP API.

Run it with `python -m tests.a1111_standin --host 127.0.0.1 --port PORT` (see __main__.py for
the fault flags). It needs only the standard library and Pillow. Modules:

- schema: request field tables and pydantic-v1-like validation (422 answers)
- options: the settings table and store behind /sdapi/v1/options
- catalog: samplers, schedulers, upscalers, models, LoRAs, command-line flags
- processing: txt2img/img2img as A1111 runs them (errors, progress, interrupt, info)
- postprocess: extras, png-info, interrogate
- imaging / infotext: pictures, PNG chunks, infotext building and parsing
- state: job state, runtime config, injected faults, statistics
- app: routes and the /__standin__/ control API; server: the HTTP server
"""

from .app import App
from .state import Config

__all__ = ["App", "Config"]
