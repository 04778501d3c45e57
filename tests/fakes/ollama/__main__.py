"""Run the fake standalone: ``python -m tests.fakes.ollama --port 11434``."""

from __future__ import annotations

import argparse
import time

from . import FakeOllama


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Ollama server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    fake = FakeOllama(args.host, args.port, verbose=not args.quiet)
    fake.chunk_delay = args.chunk_delay
    fake.start()
    print(f"fake ollama listening on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
