# The real image check's stand-in for python:3.10-slim-bookworm, which cannot be pulled here:
# the debootstrap Debian bookworm image of scripts/image-engine (its Python 3.11 brings the
# shared libraries CPython needs) plus this machine's own CPython 3.10 build, copied to the path
# it was built for (its libpython is found by that path). Context: that CPython's prefix.
ARG DEBIAN_IMAGE=sdworker-check/python:bookworm
FROM ${DEBIAN_IMAGE}
ARG PREFIX=/root/.pyenv/versions/3.10.13
COPY . ${PREFIX}
# Where python:3.10-slim has them, ahead of Debian's python3 on PATH. PIP_CERT: this machine's
# egress proxy certificate is in the system store only; pip in a venv reads certifi's otherwise.
RUN for name in python python3 python3.10 pip pip3; do \
        ln -sf "${PREFIX}/bin/${name}" "/usr/local/bin/${name}"; \
    done && \
    python -c "import ssl, sqlite3, lzma, bz2, ctypes, uuid, venv; import sys; assert sys.version_info[:2] == (3, 10)"
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
