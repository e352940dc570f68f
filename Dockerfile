# syntax=docker/dockerfile:1
# The base images are build arguments so the image can be built on local
# stand-ins where no registry is reachable (scripts/test-containers does);
# the defaults are the official images, so `docker build .` is unchanged.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
# GOPROXY, when given, is where `go mod download` fetches modules
# (default: the go command's own, proxy.golang.org).
ARG GOPROXY
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hookguard ./cmd/hookguard \
 && mkdir -p /out/state

# distroless/static: CA certificates and tzdata, no shell, runs as nonroot.
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/hookguard /usr/local/bin/hookguard
# The state directory (queue.path's usual home) owned by nonroot, so that a
# fresh named volume mounted there is writable: Docker copies the image's
# ownership into an empty volume.
COPY --from=build --chown=65532:65532 /out/state /var/lib/hookguard
USER nonroot:nonroot
EXPOSE 8080 9090
# The health check needs no shell: hookguard asks its own admin /readyz.
# The admin listener must then listen where the check can reach it.
HEALTHCHECK --interval=15s --timeout=4s --start-period=10s CMD ["/usr/local/bin/hookguard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hookguard"]
CMD ["serve", "--config", "/etc/hookguard/hookguard.yaml"]
