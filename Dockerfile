# panka in a minimal container: one fully static (musl) binary on an empty base image,
# plus the CA bundle the AWS SDK's TLS (rustls with the system's roots) needs.
#
#   docker build -t panka .
#   docker run --rm panka version
#   docker run --rm -v "$PWD:/work" -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     panka plan --stack my-stack
#
# docs/container.md explains the choices and how to build the static binary without Docker.

# The builder: Debian's Rust image with the musl target and musl-gcc (aws-lc-sys, the
# TLS crypto, is C and must be compiled for musl too).
FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# musl links statically by default (crt-static); the release profile strips the binary.
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin panka \
    && cp target/x86_64-unknown-linux-musl/release/panka /panka \
    && /panka version

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /panka /usr/local/bin/panka
# panka needs no privileges: state lives in S3 or in the mounted deployment repo.
USER 65534:65534
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt HOME=/work
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/panka"]
CMD ["--help"]
