# syntax=docker/dockerfile:1
# mfn: one static binary in a distroless, non-root image.
#   docker build -t mfn .
#   docker run -p 8000:8000 -v ./mfn.yaml:/etc/mfn/mfn.yaml mfn

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/mfn .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mfn /mfn
# The example config is the default; mount your own over it.
COPY mfn.yaml /etc/mfn/mfn.yaml
ENV MFN_CONFIG=/etc/mfn/mfn.yaml
USER 65532:65532
# REST, gRPC and WebSocket share this one port.
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 CMD ["/mfn", "healthcheck"]
ENTRYPOINT ["/mfn"]
CMD ["serve"]
