"""What every API test of a generating endpoint checks on the files it gets back."""

from __future__ import annotations

from pathlib import Path

import pytest


def signed_check(data_dir: Path):
    """check(path, kind): the file carries Content Credentials that the C2PA SDK validates (signature and
    hash binding), signed by the chain of the app on `data_dir`, AI-generated, by a `kind` generation;
    returns the generation id."""
    from engines.trust import credentials

    def check(path, kind: str) -> int:
        root = credentials.load_identity(data_dir / "keys" / "c2pa" / "chain.pem",
                                         data_dir / "keys" / "c2pa" / "key.pem").root_pem
        got = credentials.read(Path(path), root)
        assert got.present, f"{Path(path).name} carries no Content Credentials"
        assert got.state == "Trusted" and got.failures == (), (Path(path).name, got.state, got.failures)
        assert got.studio["kind"] == kind and isinstance(got.studio["generation_id"], int)
        (created,) = [a for a in got.actions if a["action"] == "c2pa.created"]
        assert created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
        return got.studio["generation_id"]

    return check


@pytest.fixture(scope="session")
def assert_signed(app_server):
    """assert_signed(path, kind): signed_check for the shared test app."""
    return signed_check(app_server.data_dir)
