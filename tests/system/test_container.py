"""The container image, built and run for real with podman (Docker's engine cannot run
here; Debian's podman and runc can): the image serves a fake Ollama on the host, a
key made with ``podman exec`` works, and after a restart the key and the history are
still in the volume. Skipped, saying so, without podman and debootstrap.

No registry serves base images here, so the test makes the Dockerfile's base itself
(``debootstrap --variant=minbase bookworm`` with python3, ``podman import``, tagged as
the Dockerfile's base); users with Docker get the real one. This machine's HTTPS
passes a proxy whose certificate authority a fresh Debian does not trust: the
stand-in carries the host's CA bundle and points pip at it (the Dockerfile stays
clean).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers.paths import ROOT
from tests.helpers.services import REQUIRE_SERVICES, free_port

BASE = "docker.io/library/python:3.11-slim-bookworm"  # the Dockerfile's ARG BASE
IMAGE = "localhost/ollama-gate:test"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
PODMAN = os.environ.get("OLLAMA_GATE_TEST_PODMAN", "podman")
MISSING = [tool for tool in (PODMAN, "debootstrap") if shutil.which(tool) is None]


def has_default_route() -> bool:
    """Whether this machine can reach the outside at all: the image build needs a
    package index (pip, and debootstrap for the stand-in base). Inside a network
    namespace with only loopback (``unshare -n``) there is no default route."""
    for table, default in (
        ("/proc/net/route", "00000000"),
        ("/proc/net/ipv6_route", "0" * 32),
    ):
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if table.endswith("ipv6_route"):
                if (
                    fields
                    and fields[0] == default
                    and fields[1] == "00"
                    and fields[-1] != "lo"
                ):
                    return True
            elif len(fields) > 1 and fields[1] == default and fields[0] != "lo":
                return True
    return False


if MISSING:
    WHY_NOT = (
        f"{' and '.join(MISSING)} missing; to run this test, "
        "`apt-get install podman runc debootstrap` (or set OLLAMA_GATE_TEST_PODMAN)"
    )
elif not has_default_route():
    WHY_NOT = (
        "no network route: building the image needs a package index; run this "
        "test on a machine with network access"
    )
else:
    WHY_NOT = ""

# CI installs them (.ci/run) and requires them, like the other services
needs_podman = pytest.mark.skipif(
    bool(WHY_NOT) and not REQUIRE_SERVICES, reason=WHY_NOT or "podman is here"
)


def test_the_dockerfile_is_multi_stage_unprivileged_with_a_volume_and_a_health_check():
    text = (ROOT / "Dockerfile").read_text()
    assert f"ARG BASE={BASE}" in text
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert "USER ollama-gate" in text and 'VOLUME ["/data"]' in text
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1]
    assert 'CMD ["ollama-gate", "serve", "--init"]' in text
    assert "PIP_CERT" not in text and "REQUESTS_CA_BUNDLE" not in text


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """``podman ARGS`` with a containers.conf this sandbox accepts (no default
    ulimits) and runc."""
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n'
    )
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run(*args: str, check: bool = True, timeout: float = 120):
        done = subprocess.run(
            [PODMAN, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {done.stderr[-3000:]}")
        return done

    return run


def stand_in_base(podman, tmp: Path) -> None:
    """Make the Dockerfile's base image, unless there is one (the real one, or an
    earlier run's stand-in)."""
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    rootfs = tmp / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv"]
        + ["bookworm", str(rootfs), "http://deb.debian.org/debian"],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    shutil.copy(HOST_CA, rootfs / "etc/ssl/certs/host-ca.crt")
    ca = "/etc/ssl/certs/host-ca.crt"
    tarball = tmp / "rootfs.tar"
    subprocess.run(
        ["tar", "-C", str(rootfs), "-cf", str(tarball), "."],
        check=True,
        timeout=600,
    )
    changes = [
        f"ENV PIP_CERT={ca}",
        f"ENV REQUESTS_CA_BUNDLE={ca}",
        f"ENV SSL_CERT_FILE={ca}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["python3"]',
    ]
    podman(
        "import",
        *[arg for change in changes for arg in ("--change", change)],
        str(tarball),
        BASE,
        timeout=600,
    )


@pytest.fixture(scope="module")
def image(podman, tmp_path_factory) -> Iterator[str]:
    """The project's image, built from the checkout's Dockerfile."""
    stand_in_base(podman, tmp_path_factory.mktemp("base"))
    podman(
        "build",
        "--format",
        "docker",  # keeps HEALTHCHECK (the OCI format has none)
        "--network",
        "host",
        "--runtime",
        "runc",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1800,
    )
    yield IMAGE
    # the build stage and earlier builds are untagged images of some 380 MB each;
    # the stand-in base stays (debootstrap takes minutes)
    podman("image", "prune", "-f", check=False, timeout=300)


def wait_healthy(url: str, container: str, podman) -> None:
    """Until the gateway in ``container`` answers /healthz."""
    for _ in range(600):
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        state = podman("inspect", "-f", "{{.State.Running}}", container).stdout
        if state.strip() != "true":
            logs = podman("logs", container, check=False)
            raise AssertionError(f"the container stopped: {logs.stderr[-3000:]}")
        time.sleep(0.2)
    raise AssertionError("the gateway did not answer /healthz")


@needs_podman
def test_the_image_serves_and_keeps_keys_and_history_across_a_restart(
    image, podman, fake
):
    name = f"ollama-gate-test-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    podman(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",  # the fake Ollama listens on the host's loopback
        "--runtime",
        "runc",
        "-v",
        f"{volume}:/data",
        "-e",
        f"PORT={port}",
        "-e",
        "OLLAMA_GATE_HOST=127.0.0.1",
        "-e",
        f"OLLAMA_GATE_BACKENDS=gpu={fake.url}",
        image,
    )
    try:
        wait_healthy(url, name, podman)
        assert podman("exec", name, "id", "-u").stdout.strip() != "0"
        first_run = podman("logs", name).stdout
        assert re.search(r"^og_\S+$", first_run, re.M), first_run[-2000:]
        secrets_shown = first_run.count("shown only this once")  # admin and key
        made = podman(
            "exec", name, "ollama-gate", "keys", "create", "default", "--name", "t"
        )
        key = made.stdout.strip().splitlines()[-1]
        assert key.startswith("og_"), made.stdout
        auth = {"Authorization": f"Bearer {key}"}
        body = {"model": "llama3.2", "prompt": "Hello there", "stream": False}
        answer = requests.post(
            url + "/api/generate", json=body, headers=auth, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["done"] is True
        assert podman("healthcheck", "run", name, check=False).returncode == 0

        podman("restart", "--time", "20", name, timeout=180)
        wait_healthy(url, name, podman)
        again = requests.post(
            url + "/api/generate", json=body, headers=auth, timeout=60
        )
        assert again.status_code == 200  # the key is kept in the volume
        exported = podman("exec", name, "ollama-gate", "history", "export").stdout
        records = [json.loads(line) for line in exported.splitlines() if line.strip()]
        generated = [r for r in records if r.get("endpoint") == "/api/generate"]
        assert len(generated) == 2, exported[-2000:]  # before and after the restart
        # the fresh volume's first key is not printed again after the restart
        assert podman("logs", name).stdout.count("shown only this once") == 2
        assert secrets_shown == 2
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)
