"""Independent check of a dpsynth release attestation (issue #19), using only the Python
standard library and `cryptography` (no dpsynth code).

It re-implements DSSE verification (Ed25519 over the pre-authentication encoding) and the
in-toto Statement v1 checks that docs/attestation.md describes, then tampers with every
subject file, the statement and the envelope of a copy of the release and checks that both
this checker and `dpsynth verify` refuse each copy.

Run by tests/governed.rs (`attestation_checked_by_an_independent_python_implementation`) as
    python -m unittest tests/python/test_attestation.py
with DPSYNTH_RELEASE (a signed release directory), DPSYNTH_PUBKEY (the holder's public key,
PEM) and DPSYNTH_BIN (the dpsynth binary).
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://dpsynth.dev/attestation/certificate/v2"
ENVELOPE = "certificate.dsse.json"


class NotVerified(Exception):
    pass


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(release: str, public_key_pem: bytes) -> dict:
    """Returns the statement when the release's attestation holds; raises NotVerified."""
    key = load_pem_public_key(public_key_pem)
    try:
        return _verify(release, key)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise NotVerified(f"malformed: {e}") from e


def _verify(release: str, key) -> dict:
    with open(os.path.join(release, ENVELOPE), encoding="utf-8") as f:
        env = json.load(f)
    payload = base64.b64decode(env["payload"], validate=True)
    if env["payloadType"] != PAYLOAD_TYPE:
        raise NotVerified("payload type")
    ok = False
    for s in env["signatures"]:
        try:
            key.verify(base64.b64decode(s["sig"], validate=True), pae(env["payloadType"], payload))
            ok = True
        except (InvalidSignature, ValueError):
            pass
    if not ok:
        raise NotVerified("no signature verifies")
    st = json.loads(payload)
    if st.get("_type") != STATEMENT_TYPE or st.get("predicateType") != PREDICATE_TYPE:
        raise NotVerified("statement or predicate type")
    with open(os.path.join(release, "certificate.json"), encoding="utf-8") as f:
        if json.load(f) != st["predicate"]:
            raise NotVerified("predicate is not certificate.json")
    names = set()
    for s in st["subject"]:
        name = s["name"]
        if "/" in name or "\\" in name or name.startswith(".") or name in names:
            raise NotVerified(f"bad subject name {name!r}")
        names.add(name)
        p = os.path.join(release, name)
        if not os.path.isfile(p) or sha256(p) != s["digest"]["sha256"]:
            raise NotVerified(f"subject {name} does not match")
    present = {n for n in os.listdir(release) if n != ENVELOPE and not n.startswith(".")}
    if present - names:
        raise NotVerified(f"unattested files {sorted(present - names)}")
    for o in st["predicate"]["outputs"]:
        if o["file"] not in names:
            raise NotVerified(f"output {o['file']} is not a subject")
    return st


def rewrite_envelope(release: str, edit):
    p = os.path.join(release, ENVELOPE)
    with open(p, encoding="utf-8") as f:
        env = json.load(f)
    edit(env)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(env, f)


def edit_statement(release: str, edit):
    """Changes the statement inside the envelope, keeping the old signature."""

    def go(env):
        st = json.loads(base64.b64decode(env["payload"]))
        edit(st)
        env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()

    rewrite_envelope(release, go)


class AttestationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.release = os.environ["DPSYNTH_RELEASE"]
        with open(os.environ["DPSYNTH_PUBKEY"], "rb") as f:
            cls.pem = f.read()
        cls.bin = os.environ["DPSYNTH_BIN"]
        cls.tmp = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, name):
        d = os.path.join(self.tmp, name)
        shutil.copytree(self.release, d)
        return d

    def dpsynth_verifies(self, release) -> bool:
        r = subprocess.run(
            [self.bin, "verify", release, "--public-key", os.environ["DPSYNTH_PUBKEY"]],
            capture_output=True,
        )
        return r.returncode == 0

    def refused_by_both(self, release, why):
        with self.assertRaises(NotVerified, msg=why):
            verify(release, self.pem)
        self.assertFalse(self.dpsynth_verifies(release), why)

    def test_release_verifies(self):
        st = verify(self.release, self.pem)
        names = {s["name"] for s in st["subject"]}
        self.assertTrue({"certificate.json", "README.txt", "model.json"} <= names, names)
        self.assertTrue(self.dpsynth_verifies(self.release))

    def test_tampered_subject_files_are_refused(self):
        for name in sorted(os.listdir(self.release)):
            if name == ENVELOPE:
                continue
            d = self.copy("subject-" + name)
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                b = bytearray(f.read())
            i = len(b) // 2
            b[i] = ord("1") if b[i] != ord("1") else ord("2")
            with open(p, "wb") as f:
                f.write(b)
            self.refused_by_both(d, f"tampered {name}")

    def test_tampered_statement_is_refused(self):
        def subject(st):
            st["subject"][0]["digest"]["sha256"] = "0" * 64

        def predicate(st):
            st["predicate"]["guarantee"]["epsilon"] = 0.01

        def ptype(st):
            st["predicateType"] = "https://example.com/other"

        def dropped(st):
            st["subject"] = [s for s in st["subject"] if s["name"] != "README.txt"]

        for edit in (subject, predicate, ptype, dropped):
            d = self.copy("statement-" + edit.__name__)
            edit_statement(d, edit)
            self.refused_by_both(d, edit.__name__)

    def test_tampered_envelope_is_refused(self):
        def sig(env):
            raw = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
            raw[0] ^= 1
            env["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()

        def ptype(env):
            env["payloadType"] = "application/json"

        def nosig(env):
            env["signatures"] = []

        def payload(env):
            env["payload"] = env["payload"][:-8] + "AAAAAAA="

        for edit in (sig, ptype, nosig, payload):
            d = self.copy("envelope-" + edit.__name__)
            rewrite_envelope(d, edit)
            self.refused_by_both(d, edit.__name__)
        d = self.copy("envelope-deleted")
        os.remove(os.path.join(d, ENVELOPE))
        with self.assertRaises(NotVerified):
            verify(d, self.pem)
        self.assertFalse(self.dpsynth_verifies(d))

    def test_added_file_is_refused(self):
        d = self.copy("added-file")
        with open(os.path.join(d, "extra.csv"), "w") as f:
            f.write("a\n1\n")
        self.refused_by_both(d, "an added file")


if __name__ == "__main__":
    unittest.main()
