# mfn: one static binary in an image that holds nothing else (no shell, no package manager).
#
#   make docker VERSION=1.2.3          # or:
#   docker build -t mfn:1.2.3 --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -p 8000:8000 -e MFN_API_KEYS=$(openssl rand -hex 32) mfn:1.2.3
#
# The image is secure by default: MFN_ENV=prod (API keys required, rate limits on, no CORS,
# JSON logs), and it refuses to start without a key, naming MFN_API_KEY / MFN_API_KEYS.
# Your own config goes over /etc/mfn/mfn.yaml (-v ./mfn.yaml:/etc/mfn/mfn.yaml:ro); the
# environment is still MFN_ENV's, so a file cannot silently switch auth off. The dev profile
# (no auth, CORS *) is only on request: -e MFN_ENV=dev.
#
# Offline builds: BUILD_IMAGE may be any image with Go at /usr/local/go and a POSIX sh, and
# a vendor/ directory in the context (go mod vendor) is used instead of downloading modules.
# docker_test.go builds this very file that way.

ARG BUILD_IMAGE=golang:1.26-bookworm

FROM ${BUILD_IMAGE} AS build
# Lets `docker image prune --filter label=mfn.stage=build` drop the build stage's image.
LABEL mfn.stage=build
ARG VERSION=devel
ARG REVISION=unknown
# The runtime stage has no useradd: write its user and group here.
WORKDIR /out
RUN echo 'mfn:x:65532:65532:mfn:/nonexistent:/sbin/nologin' > passwd && echo 'mfn:x:65532:' > group
WORKDIR /src
COPY . .
# GOTOOLCHAIN=local: build with the image's Go, never fetch another one mid-build.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
RUN go build -trimpath \
	-ldflags="-s -w -X mfn/internal/version.version=${VERSION} -X mfn/internal/version.revision=${REVISION}" \
	-o /out/mfn .

FROM scratch
ARG VERSION=devel
ARG REVISION=unknown
ARG SOURCE=
ARG CREATED=
LABEL org.opencontainers.image.title="mfn" \
	org.opencontainers.image.description="MyceliumFractalNet: REST, gRPC and WebSocket on one port, plus Kafka/file/REST pipelines" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}" \
	org.opencontainers.image.source="${SOURCE}" \
	org.opencontainers.image.created="${CREATED}"
# TLS to Kafka brokers, webhooks and OTLP collectors needs the CA bundle.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/mfn /mfn
# The documented example (every key, env-dependent ones left to MFN_ENV); mount yours over it.
COPY mfn.yaml /etc/mfn/mfn.yaml
ENV MFN_CONFIG=/etc/mfn/mfn.yaml
ENV MFN_ENV=prod
USER 65532:65532
# REST, gRPC and WebSocket share this one port.
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 CMD ["/mfn", "healthcheck"]
# docker stop sends SIGTERM: mfn drains (HTTP, WebSocket, gRPC, pipelines, pool) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/mfn"]
CMD ["serve"]
