# xo-demo:hc: xo-demo with a HEALTHCHECK (exec form: there is no shell in
# the image) probing /healthz every 500 ms; FAIL_HEALTH=1 starts it
# unhealthy, /health/ok and /health/fail flip it.
FROM scratch
COPY demoapp /demoapp
COPY probe /probe
EXPOSE 8080/tcp 8080/udp 7/tcp
HEALTHCHECK --interval=500ms --timeout=2s --retries=1 CMD ["/demoapp", "-check"]
ENTRYPOINT ["/demoapp"]
