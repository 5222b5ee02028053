#!/bin/sh
# The file scenarios' ceiling: nginx serving --root with sendfile on, one
# process (master_process off), everything it writes under --state.
# Usage: nginx-static.sh --port P --mode file --root DIR --state DIR
# (P must be a free port: nginx cannot report one it picked). Prints the port,
# then becomes nginx (exec: same pid, so the runner measures nginx itself).
set -eu
port=0 root=. state=
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --mode) shift 2 ;;
    --root) root=$2; shift 2 ;;
    --state) state=$2; shift 2 ;;
    *) echo "usage: $0 --port P --mode file --root DIR --state DIR" >&2; exit 64 ;;
  esac
done
[ -n "$state" ] && [ "$port" != 0 ] || { echo "nginx-static.sh: --state and a non-zero --port are required" >&2; exit 64; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$state"
cat > "$state/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log stderr;
pid $state/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 60s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path $state/client_body;
  proxy_temp_path $state/proxy;
  fastcgi_temp_path $state/fastcgi;
  uwsgi_temp_path $state/uwsgi;
  scgi_temp_path $state/scgi;
  server {
    listen 127.0.0.1:$port backlog=1024;
    root $root;
  }
}
CONF
echo "$port"
exec "$nginx" -p "$state" -c "$state/nginx.conf" -e stderr
