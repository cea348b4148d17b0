# finopsd: a release build in the Rust image, run from a slim Debian image as a non-root user.
#   docker build -t finopsd .
#   docker run -v finopsd-data:/var/lib/finopsd finopsd
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY .cargo .cargo
# Cargo.toml declares the benchmark target, so its source must be present to build.
COPY benches benches
COPY src src
COPY models models
COPY config config
RUN cargo build --release --locked --bin finopsd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/finopsd --create-home finopsd
COPY --from=builder /src/target/release/finopsd /usr/local/bin/finopsd
# finopsd reads config/finopsd.toml relative to its working directory; the mappings in
# models/ are built into the binary and shipped for reference and as a models_dir template.
WORKDIR /opt/finopsd
COPY config ./config
COPY models ./models
# The embedded default store, on a volume. Point FINOPSD_DATABASE_URL at PostgreSQL to share.
ENV FINOPSD_DATABASE_URL=sqlite:///var/lib/finopsd/finopsd.db \
    FINOPSD_LISTEN=0.0.0.0:9464 \
    RUST_LOG=info
# /healthz, /readyz, /metrics and /api/v1.
EXPOSE 9464
VOLUME ["/var/lib/finopsd"]
USER finopsd
# Healthy when the config is valid and the store answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["finopsd", "--quiet", "config", "check"]
ENTRYPOINT ["finopsd"]
CMD ["run"]
