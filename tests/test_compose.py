"""compose.yaml (no Docker here to run it): the app, a Ray head and worker and PostgreSQL agree on the database,
the shared data volume and the head's address, so any node can run any job."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"


def test_the_app_the_ray_nodes_and_the_database_fit_together():
    spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = spec["services"]
    assert {"app", "ray-head", "ray-worker", "db"} <= set(services)
    db = services["db"]["environment"]
    url = f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@db:5432/{db['POSTGRES_DB']}"
    for name in ("app", "ray-head", "ray-worker"):
        s = services[name]
        assert s["environment"]["DATABASE_URL"] == url, name  # one record for every node
        assert "studio-data:/data" in s["volumes"] and s["environment"]["DATA_DIR"] == "/data", name
    assert "studio-data" in spec["volumes"] and "pg-data" in spec["volumes"]
    head = " ".join(services["ray-head"]["command"])
    port = re.search(r"--port=(\d+)", head).group(1)
    assert "--head" in head and "--num-cpus=0" in head  # the head schedules no work of its own
    assert f"--address=ray-head:{port}" in " ".join(services["ray-worker"]["command"])
    assert services["ray-head"]["profiles"] == services["ray-worker"]["profiles"] == ["cluster"]
    assert "RAY_ADDRESS" in services["app"]["environment"] and "7860:7860" in services["app"]["ports"]
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
