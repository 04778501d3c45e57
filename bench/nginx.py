"""nginx in front of the fake upstream, buffering off: the yardstick for a relay's cost.

Started by the bench itself from a temporary folder (its own config, pid file, logs and
temporary paths there; ``daemon off``), never as a system service. One worker process,
as the gateway has one gevent worker; kept-alive upstream connections, as the
gateway's pool keeps them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from procs import Proc, wait_http

CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000;
    upstream ollama {{
        server 127.0.0.1:{upstream};
        keepalive 1024;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://ollama;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


class Nginx(Proc):
    """nginx, one worker, ``proxy_buffering off``, in front of ``upstream_port``."""

    def __init__(self, tmp: Path, upstream_port: int) -> None:
        super().__init__()
        self.name = "nginx"
        self.tmp = tmp
        self.upstream_port = upstream_port

    def start(self) -> Nginx:
        """Write the config, start nginx in the foreground, wait until it answers."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        # as root, nginx would switch its worker to ``nobody``, who cannot write here
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            CONF.format(
                tmp=self.tmp, user=user, upstream=self.upstream_port, port=self.port
            )
        )
        log = open(self.tmp / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(self.tmp), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(self.port, self.proc, "nginx")
        return self
