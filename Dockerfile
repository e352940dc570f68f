# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hookguard ./cmd/hookguard

# distroless/static: CA certificates and tzdata, no shell, runs as nonroot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookguard /usr/local/bin/hookguard
USER nonroot:nonroot
EXPOSE 8080 9090
# The health check needs no shell: hookguard asks its own admin /readyz.
# The admin listener must then listen where the check can reach it.
HEALTHCHECK --interval=15s --timeout=4s --start-period=10s CMD ["/usr/local/bin/hookguard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hookguard"]
CMD ["serve", "--config", "/etc/hookguard/hookguard.yaml"]
