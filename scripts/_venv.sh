# Sourced by scripts/run.sh and scripts/test.sh: create .venv with Python 3.11 and install the pinned
# requirements, again only when requirements.txt changed.
PYTHON_BIN=${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "== creating virtualenv .venv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== installing requirements (first run takes a minute or two)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$wanted" >"$stamp"
fi
