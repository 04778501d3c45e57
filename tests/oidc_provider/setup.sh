#!/usr/bin/env bash
# Build the test OpenID provider's own virtualenv (django-oidc-provider) at
# .cache/oidc-provider/venv; `make oidc-provider` runs this. Quick when it is built
# already: the stamp holds the hash of requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
REQS=tests/oidc_provider/requirements.txt
DEST=${OLLAMA_GATE_TEST_OIDC_VENV:-.cache/oidc-provider/venv}
PYTHON=${PYTHON:-python3}
WANT=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ -f "$DEST/.built" ] && [ "$(cat "$DEST/.built")" = "$WANT" ]; then
  exit 0
fi
rm -rf "$DEST"
"$PYTHON" -m venv "$DEST"
"$DEST/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
"$DEST/bin/python" -c "import django, oidc_provider"
echo "$WANT" > "$DEST/.built"
echo "test OpenID provider built in $DEST"
