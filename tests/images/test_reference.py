from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.images.reference import parse_normalized


@pytest.mark.parametrize(("text", "full", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("registry:5000/team/app:2", "registry:5000/team/app:2", "registry:5000/team/app:2"),
    ("ghcr.io/a/b", "ghcr.io/a/b:latest", "ghcr.io/a/b:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64,
     "busybox@sha256:" + "a" * 64),
    ("a_b.c-d__e", "docker.io/library/a_b.c-d__e:latest", "a_b.c-d__e:latest"),
])
def test_normalize_and_familiar(text, full, familiar):
    ref = parse_normalized(text).with_default_tag()
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize(("text", "message"), [
    ("Foo", "invalid reference format: repository name (library/Foo) must be lowercase"),
    ("user/Foo:1", "invalid reference format: repository name (user/Foo) must be lowercase"),
    ("", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("-bad", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("x/" + "a" * 260, "must not be more than 255 characters"),
])
def test_invalid(text, message):
    with pytest.raises(InvalidArgument) as e:
        parse_normalized(text)
    assert message in str(e.value)


def test_parts():
    ref = parse_normalized("registry:5000/team/app:2")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("registry:5000", "team/app", "2", None)
    assert ref.name == "registry:5000/team/app"
    assert parse_normalized("busybox").familiar_name == "busybox"
