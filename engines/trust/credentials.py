"""Content Credentials (C2PA): a signed manifest in each file the studio makes, saying who made it,
that it is AI-generated, with which engine, model and licence, and from which inputs; and reading
such a manifest back, with its validation.

Media files (WAV, FLAC, MP3, MP4, images, decks) hold their manifest inside. Text and data files
(lyrics, LRC, subtitles, JSON, MIDI) have no place for one: theirs is a sidecar, `<file name>.c2pa`
beside them (`sign_sidecar`), the C2PA SDK's no-embed mode: the manifest store alone, bound to the
file's bytes by a data hash. Read with the file, it says whether the file is still what was signed;
read alone, it still names the generation, and the file's SHA-256 it was made for.

The C2PA SDK (c2pa-python, MIT or Apache-2.0) embeds and validates the manifest; this module only
says what goes in it. Signing needs an X.509 chain and its private key; `make_test_chain` makes a
self-signed one (a root and a signing certificate, marked "test chain" in their names) for a studio
that has none. A file re-encoded or edited afterwards loses its manifest or fails its hash check:
the watermark is the fallback.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

# The IPTC digital source type of media made by a trained model.
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# The studio's own assertion: generation, engine, model, licence, inputs with their SHA-256.
STUDIO_ASSERTION = "org.digitalclonestudio.generation"
# The soft-binding algorithm name of the studio's audio watermark (engines/trust/watermark.py).
WATERMARK_ALG = "org.digitalclonestudio.audio-watermark.1"

MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
        ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
        ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
# Files that cannot hold a manifest: theirs is signed into a sidecar `<file name>.c2pa` (the SDK binds
# any bytes by a data hash in no-embed mode; the media type is recorded as the asset's format).
SIDECAR_MIME = {".txt": "text/plain", ".md": "text/markdown", ".lrc": "text/plain", ".srt": "application/x-subrip",
                ".vtt": "text/vtt", ".json": "application/json", ".mid": "audio/midi"}
SIDECAR_EXT = ".c2pa"
# Office files are ZIP archives; the SDK reads only entries stored without compression.
ZIPPED = {".pptx"}
TEST_CHAIN_ORG = "Digital Clone Studio (self-signed test chain)"


class CredentialsError(Exception):
    """The SDK could not sign or read a file (a format it cannot hold a manifest in, a bad key)."""


@dataclass(frozen=True)
class Ingredient:
    """An input of the generation: its name, media type and SHA-256, and its file when the SDK can
    read it (the manifest then records it as an ingredient of its own)."""

    title: str
    mime: str
    sha256: str
    path: Path | None = None


@dataclass(frozen=True)
class Claim:
    """What a manifest says about one output."""

    title: str
    generation_id: int
    kind: str
    engine: str
    model: str
    model_licence: str
    # "yes", "check" or "no": may the output be used commercially, by the licences of its models.
    commercial_use: str
    studio: str
    studio_version: str
    created_at: str
    ingredients: tuple[Ingredient, ...] = ()
    # Marks already in the file (the watermark's studio and generation ids), recorded as an action.
    watermark: dict | None = None
    test_chain: bool = False
    # SHA-256 of the file the manifest is for, when it is kept in a sidecar: a sidecar read alone still
    # names the bytes it was made for.
    content_sha256: str = ""

    def manifest(self) -> dict:
        agent = {"name": self.studio, "version": self.studio_version}
        created = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent,
                   "when": self.created_at,
                   "parameters": {"engine": self.engine, "model": self.model, "model_licence": self.model_licence,
                                  "commercial_use": self.commercial_use, "generation_id": self.generation_id,
                                  "kind": self.kind}}
        actions = [created]
        if self.watermark:
            actions.append({"action": "c2pa.watermarked", "softwareAgent": agent,
                            "parameters": {"method": "spread-spectrum audio watermark", **self.watermark}})
        studio = {"generation_id": self.generation_id, "kind": self.kind, "engine": self.engine, "model": self.model,
                  "model_licence": self.model_licence, "commercial_use": self.commercial_use,
                  "created_at": self.created_at,
                  "inputs": [{"title": i.title, "mime": i.mime, "sha256": i.sha256} for i in self.ingredients],
                  "signed_with_test_chain": self.test_chain}
        if self.content_sha256:
            studio["content_sha256"] = self.content_sha256
        assertions = [{"label": "c2pa.actions.v2", "data": {"actions": actions}},
                      {"label": STUDIO_ASSERTION, "data": studio}]
        if self.watermark:
            # The watermark as a C2PA soft binding: what ties a copy that lost this manifest back to it.
            payload = base64.b64encode(json.dumps(self.watermark, sort_keys=True).encode()).decode()
            assertions.append({"label": "c2pa.soft-binding",
                               "data": {"alg": WATERMARK_ALG, "blocks": [{"scope": {}, "value": payload}]}})
        return {"claim_generator_info": [agent], "title": self.title, "assertions": assertions}


@dataclass(frozen=True)
class Identity:
    """The signing certificate chain (PEM, signing certificate first) and its private key (PEM)."""

    chain_pem: bytes
    key_pem: bytes
    test_chain: bool = False

    @property
    def root_pem(self) -> bytes:
        """The last certificate of the chain: the trust anchor a reader of this studio's files uses."""
        marker = b"-----BEGIN CERTIFICATE-----"
        return marker + self.chain_pem.split(marker)[-1]


def make_test_chain(folder: Path) -> Identity:
    """A root certificate and an ES256 signing certificate it issued, valid ten years, written to
    `folder` (chain.pem, key.pem; the key readable by its owner only)."""
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_CHAIN_ORG)])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    now = dt.datetime.now(dt.UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: x509.Name, public, ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(name("Studio test root"))
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(usage(not ca), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))

    root = certificate(name("Studio test root"), root_key.public_key(), True).sign(root_key, hashes.SHA256())
    leaf = (certificate(name("Studio content signing"), key.public_key(), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chain.pem").write_bytes(chain)
    fd = os.open(folder / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    return Identity(chain, key_pem, test_chain=True)


def load_identity(chain: Path, key: Path) -> Identity:
    chain_pem, key_pem = chain.read_bytes(), key.read_bytes()
    if b"BEGIN CERTIFICATE" not in chain_pem:
        raise CredentialsError(f"{chain} holds no PEM certificate")
    if b"PRIVATE KEY" not in key_pem:
        raise CredentialsError(f"{key} holds no PEM private key")
    return Identity(chain_pem, key_pem, test_chain=TEST_CHAIN_ORG.encode() in chain_pem or _is_test(chain_pem))


def _is_test(chain_pem: bytes) -> bool:
    from cryptography import x509

    return any(TEST_CHAIN_ORG in c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(chain_pem))


def _algorithm(key_pem: bytes):
    """The C2PA signing algorithm for the key: ES256/384/512 by curve, PS256 for RSA, Ed25519."""
    import c2pa
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: c2pa.C2paSigningAlg.ES256, 384: c2pa.C2paSigningAlg.ES384,
                521: c2pa.C2paSigningAlg.ES512}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise CredentialsError(f"a {type(key).__name__} key cannot sign Content Credentials (EC, RSA or Ed25519)")


def can_hold(path: Path) -> bool:
    return path.suffix.lower() in MIME


def _store_uncompressed(path: Path, out: Path) -> None:
    """The same ZIP (an Office file) with every entry stored, not deflated, in the same order."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.external_attr = info.external_attr
            dst.writestr(entry, src.read(info), compress_type=zipfile.ZIP_STORED)


def sign(path: Path, claim: Claim, identity: Identity) -> None:
    """Embed the claim's manifest, signed, in the file at `path` (replaced when done; the original is
    kept if anything fails)."""
    import c2pa

    ext = path.suffix.lower()
    if ext not in MIME:
        raise CredentialsError(f"{ext or 'a file without extension'} cannot hold Content Credentials")
    # The SDK reads the file and writes the signed copy beside it, which then replaces it; a deck is read
    # from a copy with its entries stored.
    work = path.with_name(path.stem + ".c2pa-src" + ext) if ext in ZIPPED else path
    out = path.with_name(path.stem + ".c2pa" + ext)
    try:
        if ext in ZIPPED:
            _store_uncompressed(path, work)
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(_algorithm(identity.key_pem), identity.chain_pem,
                                                           identity.key_pem, None))
        with signer, c2pa.Builder(claim.manifest()) as builder:
            for ing in claim.ingredients:
                if ing.path is None or ing.mime not in MIME.values() or ing.path.suffix.lower() in ZIPPED:
                    continue
                with open(ing.path, "rb") as f:
                    builder.add_ingredient({"title": ing.title, "relationship": "inputTo"}, ing.mime, f)
            builder.sign_file(work, out, signer)
        out.replace(path)
    except c2pa.C2paError as e:
        raise CredentialsError(f"could not sign {path.name}: {e}") from e
    finally:
        if work != path:
            work.unlink(missing_ok=True)
        out.unlink(missing_ok=True)


def takes_sidecar(path: Path) -> bool:
    """Whether the file's Content Credentials go in a sidecar (`sign_sidecar`) rather than inside it."""
    return path.suffix.lower() in SIDECAR_MIME


def sidecar_of(path: Path) -> Path:
    """Where a file's sidecar manifest is kept: its full name plus .c2pa ("x.lrc" -> "x.lrc.c2pa"; a song's
    "x.lrc" and "x.mid" must not share one)."""
    return path.with_name(path.name + SIDECAR_EXT)


def is_sidecar(path: Path) -> bool:
    """A C2PA manifest store on its own (.c2pa, a JUMBF superbox): named so, or starting like one."""
    if path.suffix.lower() == SIDECAR_EXT:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:] == b"jumb"


def sign_sidecar(path: Path, claim: Claim, identity: Identity) -> Path:
    """Sign the claim's manifest for the file at `path` into its sidecar (`sidecar_of(path)`), bound to the
    file's bytes by a data hash; the file itself is not changed. Returns the sidecar's path."""
    import c2pa

    ext = path.suffix.lower()
    if ext not in SIDECAR_MIME:
        raise CredentialsError(f"{ext or 'a file without extension'} takes no sidecar manifest; "
                               f"those are for {', '.join(sorted(SIDECAR_MIME))} files")
    out = sidecar_of(path)
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(_algorithm(identity.key_pem), identity.chain_pem,
                                                           identity.key_pem, None))
        with signer, c2pa.Builder(claim.manifest()) as builder, open(path, "rb") as src:
            builder.set_no_embed()
            manifest = builder.sign(signer, SIDECAR_MIME[ext], src, io.BytesIO())
    except c2pa.C2paError as e:
        raise CredentialsError(f"could not sign {path.name}: {e}") from e
    if not manifest:
        raise CredentialsError(f"could not sign {path.name}: the SDK returned no manifest")
    out.write_bytes(manifest)
    return out


@dataclass(frozen=True)
class Reading:
    """What a file's Content Credentials say. `state` is the SDK's validation state: "Trusted" (valid
    and signed by a trusted chain), "Valid" (signature and hashes check, signer not on a trust list),
    "Invalid", or "" when the file carries no manifest."""

    present: bool
    state: str = ""
    failures: tuple[str, ...] = ()
    signer: str = ""
    studio: dict = field(default_factory=dict)
    actions: tuple[dict, ...] = ()
    ingredients: tuple[str, ...] = ()
    title: str = ""
    # A sidecar's binding to its file: "matches", "changed" (the file's bytes are not those signed), or
    # "not given" (the sidecar read alone: `state` is then what its signature alone is worth); "" for a
    # manifest inside the file (its binding is part of `state`).
    content: str = ""
    # The signature's own state ("Trusted", "Valid" or "Invalid"), whatever became of the content.
    signature_state: str = ""

    @property
    def intact(self) -> bool:
        """Signature valid and the content what was signed (the signer may be untrusted); for a sidecar read
        alone, the signature only."""
        return self.present and self.state in ("Valid", "Trusted")


# The validation code of a data hash that does not match the bytes read.
DATA_HASH_MISMATCH = "assertion.dataHash.mismatch"
# ... and of a signing certificate that is not among the trust anchors (the state stays "Valid").
UNTRUSTED = "signingCredential.untrusted"


def read(path: Path, trust_anchors_pem: bytes | None = None, sidecar: Path | None = None) -> Reading:
    """The active manifest of the file and its validation (against `trust_anchors_pem` when given).
    `sidecar`: the file's manifest is in that .c2pa file, bound to `path`'s bytes. `path` itself may be a
    sidecar read alone (`is_sidecar`): its signature is checked, the file it is for cannot be
    (`Reading.content_checked` is False)."""
    import c2pa

    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchors_pem.decode()}} \
        if trust_anchors_pem else None
    alone = sidecar is None and is_sidecar(path)
    try:
        context = c2pa.Context.from_dict(settings) if settings else None
        if sidecar is not None:
            manifest_data = Path(sidecar).read_bytes()
            with open(path, "rb") as f:
                reader = c2pa.Reader(_mime_of(path), f, manifest_data, context)
        elif alone:
            with open(path, "rb") as f:
                reader = c2pa.Reader("application/c2pa", f, None, context)
        elif context is not None:
            reader = c2pa.Reader(str(path), None, None, context)
        else:
            reader = c2pa.Reader(str(path))
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in str(e) or "NotFound" in str(e):
            return Reading(False)
        if "NotSupported" in type(e).__name__ and sidecar is None and not alone:
            return Reading(False)
        what = f"the sidecar {Path(sidecar).name}" if sidecar is not None else path.name
        raise CredentialsError(f"could not read the Content Credentials of {what}: {e}") from e
    with reader:
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state() or ""
        results = reader.get_validation_results() or {}
    active = results.get("activeManifest") or {}
    failures = tuple(x.get("code", "") for x in active.get("failure", []))
    # The signature's state, the data hash left aside (as the SDK states a file signed so).
    others = tuple(f for f in failures if f != DATA_HASH_MISMATCH)
    trusted = any(x.get("code") == "signingCredential.trusted" for x in active.get("success", []))
    signature_state = ("Trusted" if trusted and not others else "Valid") if set(others) <= {UNTRUSTED} else state
    content = ""
    if alone:  # nothing to hash: the data hash cannot match, which says nothing about the signature
        failures, state, content = others, signature_state, "not given"
    elif sidecar is not None:
        content = "changed" if DATA_HASH_MISMATCH in failures else "matches"
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    actions = tuple((assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", []))
    info = manifest.get("signature_info") or {}
    return Reading(True, state=state, failures=failures, signer=" / ".join(x for x in (info.get("issuer"),
                                                                                   info.get("common_name")) if x),
                   studio=assertions.get(STUDIO_ASSERTION) or {}, actions=actions,
                   ingredients=tuple(i.get("title", "") for i in manifest.get("ingredients", [])),
                   title=manifest.get("title", ""), content=content, signature_state=signature_state)


def _mime_of(path: Path) -> str:
    ext = path.suffix.lower()
    return MIME.get(ext) or SIDECAR_MIME.get(ext) or "application/octet-stream"
