# xo-demo: the demo HTTP/UDP/TCP app plus the probe client.
# Built offline by contrib/images/build.sh; the build context is the
# directory holding the static binaries. Tagged xo-demo:v1 and xo-demo:v2
# (same image: the reported version comes from the VERSION env at run time).
FROM scratch
COPY demoapp /demoapp
COPY probe /probe
EXPOSE 8080/tcp 8080/udp 7/tcp
ENTRYPOINT ["/demoapp"]
