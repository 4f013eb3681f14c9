"""What every API test of a generating endpoint checks on the files it gets back."""

from __future__ import annotations

from pathlib import Path

import pytest


def signed_check(data_dir: Path):
    """check(path, kind, sidecar=None): the file carries Content Credentials that the C2PA SDK validates
    (signature and hash binding), signed by the chain of the app on `data_dir`, AI-generated, by a `kind`
    generation; returns the generation id. A text or data file (lyrics, LRC, subtitles, MIDI) has them in its
    `sidecar` (.c2pa), which must bind its bytes and name its SHA-256."""
    import hashlib

    from engines.trust import credentials

    def check(path, kind: str, sidecar=None) -> int:
        root = credentials.load_identity(data_dir / "keys" / "c2pa" / "chain.pem",
                                         data_dir / "keys" / "c2pa" / "key.pem").root_pem
        path = Path(path)
        if credentials.takes_sidecar(path):
            assert sidecar is not None, f"{path.name} is a text or data file: give its .c2pa sidecar"
        got = credentials.read(path, root, sidecar=Path(sidecar) if sidecar is not None else None)
        assert got.present, f"{path.name} carries no Content Credentials"
        assert got.state == "Trusted" and got.failures == (), (path.name, got.state, got.failures)
        assert got.studio["kind"] == kind and isinstance(got.studio["generation_id"], int)
        if sidecar is not None:
            assert got.content == "matches"
            assert got.studio["content_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        (created,) = [a for a in got.actions if a["action"] == "c2pa.created"]
        assert created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
        return got.studio["generation_id"]

    return check


@pytest.fixture(scope="session")
def assert_signed(app_server):
    """assert_signed(path, kind): signed_check for the shared test app."""
    return signed_check(app_server.data_dir)
