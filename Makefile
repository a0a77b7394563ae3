# queuebox — `make demo` runs the appliance on this machine, `make test` runs the tests.
# Both install what they need first (Debian packages, a .venv with pinned dependencies)
# and are quick when it is already there.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := server,kiosk,display,keypad,hub,dev
DEBIAN_PACKAGES := python3-venv mosquitto mosquitto-clients fonts-dejavu-core fonts-noto-core espeak-ng sqlite3
# Only the tests need a browser (the pages people use are checked in real Chromium) and
# PostgreSQL (the province hub's tests start a private cluster; libpq5 comes with it).
TEST_PACKAGES := chromium systemd postgresql
STAMP := $(VENV)/.installed
DEMO_DIR := var/demo
DEMO_CONFIG := config/queuebox.example.toml
PORT ?= 8080

.PHONY: test demo bench setup debian-packages lock clean wheelhouse

setup: debian-packages $(STAMP)

debian-packages:
	@scripts/debian-packages $(DEBIAN_PACKAGES)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -c requirements.lock -e ".[$(EXTRAS)]"
	@touch $@

test: setup
	@scripts/debian-packages $(TEST_PACKAGES)
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/queuebox demo --config $(DEMO_CONFIG) --dir $(DEMO_DIR) --web-port $(PORT)

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/mqtt_latency.py
	$(BIN)/python bench/kiosk_latency.py
	$(BIN)/python bench/display.py
	$(BIN)/python bench/lookup_page.py

lock: setup
	# pip too: sqlite-utils depends on it, so a wheelhouse carries it (freeze leaves it out unless --all)
	{ $(BIN)/python -m pip freeze --exclude-editable | grep -v '^queuebox'; \
	  $(BIN)/python -m pip freeze --all | grep '^pip=='; } | LC_ALL=C sort -f > requirements.lock.new
	@echo "# Pinned versions used by make test and make demo (pip constraints file)." | cat - requirements.lock.new > requirements.lock
	@rm requirements.lock.new

# the Python packages of a Pi (64-bit ARM) for an installation without internet: see docs/install.md
wheelhouse: setup
	$(BIN)/python scripts/wheelhouse --out wheelhouse

clean:
	rm -rf $(VENV) var .pytest_cache
