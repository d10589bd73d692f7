# xo-nginx: the host's own nginx binary (Debian's nginx-light, installed by
# contrib/testenv/deps.sh) with the shared libraries ldd lists, FROM scratch.
# Built offline by contrib/images/build.sh, which stages rootfs/: the binary,
# its libraries, /etc/passwd and /etc/group (nobody, nogroup), nsswitch.conf,
# mime.types, an example /etc/nginx/nginx.conf (contrib/images/nginx.conf;
# bind-mount your own over it) and the directories nginx writes to.
FROM scratch
COPY rootfs/ /
EXPOSE 80/tcp
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/sbin/nginx", "-g", "daemon off;"]
