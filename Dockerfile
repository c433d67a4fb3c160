# The dashboard's image: web, worker and watcher all run from it (see docker-compose.yml).
FROM debian:12-slim

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The same system packages as `make setup` (scripts/apt-packages.txt), plus Node.js for assets.
COPY scripts/apt-packages.txt scripts/apt-packages.txt
RUN apt-get update \
 && grep -v '^#' scripts/apt-packages.txt | grep -v '^$' | xargs apt-get install -y -q --no-install-recommends \
 && apt-get install -y -q --no-install-recommends nodejs npm python3-pip \
 && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install -r requirements.txt

COPY . .
RUN if [ -f package.json ]; then npm ci --no-audit --no-fund && .venv/bin/python scripts/vendor_assets.py; fi \
 && DASHBOARD_VAR_DIR=/tmp/build-var REDIS_URL=redis://unused:6379/0 SECRET_KEY=build \
    sh -c '.venv/bin/python manage.py collectstatic --noinput -v 0 \
        && .venv/bin/python manage.py compilemessages -l vi --ignore=.venv --ignore=node_modules -v 0'

ENV PATH=/app/.venv/bin:$PATH DASHBOARD_VAR_DIR=/app/var
EXPOSE 8000
CMD ["uvicorn", "--lifespan", "off", "--host", "0.0.0.0", "--port", "8000", "dashboard.asgi:application"]
