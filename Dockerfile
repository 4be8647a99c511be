# syntax=docker/dockerfile:1
# costpush container image: built from this repository in a Rust stage, run as a non-root user
# from a slim Debian stage. docker-compose.yml builds it for the sidecar:
#   docker build -t costpush:local .
#   docker run --rm costpush:local validate --config /etc/costpush/costpush.yml   (with a config mounted)
# tests/deploy.rs checks this file's shape. No Docker engine was available to build it:
# see deploy/README.md.

# Build stage. Rust 1.89 is the crate's rust-version (Cargo.toml). No protoc or OpenSSL is needed:
# build.rs compiles the proto with protox, and TLS is rustls.
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# The whole crate: .dockerignore leaves out what the build does not read (target/, the deployment
# files, the tests). tests/deploy.rs checks that cargo can load the manifest from what is left.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/costpush /out/costpush

# Runtime stage: glibc, CA certificates and the binary. The binary trusts the Mozilla roots built
# into it (webpki-roots). The system bundle is there for remote_write.tls.ca_file, for example
# /etc/ssl/certs/ca-certificates.crt after update-ca-certificates has added a private CA.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 costpush \
    && useradd --system --uid 10001 --gid costpush --home-dir /var/lib/costpush --shell /usr/sbin/nologin costpush \
    && install -d -o costpush -g costpush -m 0700 /var/lib/costpush \
    && install -d -m 0755 /etc/costpush
COPY --from=build /out/costpush /usr/local/bin/costpush
# A fresh named volume mounted here takes this directory's owner, so the agent can write it.
VOLUME ["/var/lib/costpush"]
USER 10001:10001
ENV COSTPUSH_LOG=info
# SIGTERM: the agent stops its cycles, lets a request on the wire finish within
# shutdown_grace_seconds and exits 0; give `docker stop -t` more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/costpush"]
CMD ["run", "--config", "/etc/costpush/costpush.yml"]
