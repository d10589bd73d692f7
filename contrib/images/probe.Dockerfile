# xo-probe: just the probe client; idles until SIGTERM.
# Built offline by contrib/images/build.sh.
FROM scratch
COPY probe /probe
ENTRYPOINT ["/probe", "sleep"]
