# geomap: `make run` serves http://127.0.0.1:5000 with the sample map; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
# Test processes (pytest-xdist): one per core; 0 runs the suite in this process.
TEST_WORKERS ?= auto

.PHONY: run test setup assets test-tools bench clean translations

run: $(VENV)/.runtime assets
	$(VENV)/bin/flask --app geomap run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev test-tools assets
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

setup: $(VENV)/.dev assets

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Leaflet and its plugins come from the npm registry and are served from static/vendor/.
assets: static/vendor/.built

static/vendor/.built: package.json package-lock.json scripts/build-vendor.mjs
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build
	touch $@

# Reader-facing text in French: the catalogue geomap/translations/fr/LC_MESSAGES/messages.po
# and its compiled messages.mo are committed (a fresh clone, a pip install or a deploy needs
# no build step, and tests/test_i18n.py fails when the .mo is not the .po compiled or a string
# has no translation). After changing strings: `make translations`, translate the new
# entries in the .po (empty msgstr), then `make translations` again to compile.
POT := geomap/translations/messages.pot
translations: $(VENV)/.runtime
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext --no-location \
		--sort-output --project geomap -o $(POT) .
	$(VENV)/bin/pybabel update -i $(POT) -d geomap/translations --no-fuzzy-matching --ignore-obsolete
	$(VENV)/bin/pybabel compile --statistics -d geomap/translations

# Browser tests drive Debian's Chromium, the deploy tests run Debian's nginx, the W3C Nu
# checker (npm vnu-jar) runs on Debian's Java and the job scale-out and shared-cache tests use
# Redis; install them when we can (root with apt), else those tests skip. Before `assets`:
# vnu-jar's install script looks for a Java.
test-tools:
	@if [ -x /usr/bin/chromium ] && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } \
		&& command -v java >/dev/null && command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium nginx-light default-jre-headless redis-server >/dev/null; \
	else echo "note: chromium, nginx, java or redis-server not found; browser, deploy, HTML checker and Redis tests will be skipped"; fi
	@if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null; fi

bench: $(VENV)/.dev assets
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) node_modules static/vendor build .pytest_cache
