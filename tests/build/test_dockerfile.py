"""The Dockerfile parser: directives, continuations, comments, forms, errors with line numbers."""

from __future__ import annotations

import pytest

from berth.build.dockerfile import parse
from berth.errors import InvalidArgument


def test_three_line_build():
    df = parse("FROM busybox\nCOPY test /tmp/test\nRUN mkdir /tmp/testdir\n")
    assert [(i.line, i.cmd, i.args) for i in df.instructions] == [
        (1, "from", ("busybox",)), (2, "copy", ("test", "/tmp/test")),
        (3, "run", ("mkdir /tmp/testdir",))]


def test_comments_continuations_and_case():
    df = parse("# a comment\nfrom busybox AS Build\n\nrun echo a \\\n  # inside\n    b\\\n\n c\n")
    (frm, run) = df.instructions
    assert frm.args == ("busybox", "AS", "Build")
    assert run.line == 4 and run.args == ("echo a     b c",)


def test_escape_directive():
    df = parse("# escape=`\nFROM busybox\nRUN echo a `\n b\nCOPY c:\\x\\ /d\n")
    assert df.escape == "`"
    assert df.instructions[1].args == ("echo a  b",)
    assert df.instructions[2].args == ("c:\\x\\", "/d")


def test_directive_after_comment_is_a_comment():
    df = parse("# hello\n# escape=`\nFROM busybox\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.instructions[1].args == ("a  b",)


def test_exec_and_shell_forms():
    df = parse('FROM busybox\nCMD ["sh", "-c", "echo hi"]\nENTRYPOINT echo x\nRUN ["echo"]\n'
               'SHELL ["/bin/ash", "-c"]\nCMD [not json\n')
    cmd, ent, run, shell, bad = df.instructions[1:]
    assert cmd.exec_form and cmd.args == ("sh", "-c", "echo hi")
    assert not ent.exec_form and ent.args == ("echo x",)
    assert run.exec_form and shell.args == ("/bin/ash", "-c")
    assert not bad.exec_form and bad.args == ("[not json",)


def test_env_label_forms():
    df = parse('FROM busybox\nENV A=b C="d e" F=g\\ h\nENV LEGACY some value here\nLABEL "x y"=z k=v\n')
    env, legacy, label = df.instructions[1:]
    assert env.args == ("A", "b", "C", '"d e"', "F", "g\\ h")
    assert legacy.args == ("LEGACY", "some value here")
    assert label.args == ('"x y"', "z", "k", "v")


def test_flags_and_healthcheck_and_onbuild():
    df = parse("FROM busybox\nCOPY --from=build --chown=1:2 /a /b\n"
               "HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost\nHEALTHCHECK NONE\n"
               "ONBUILD RUN echo child\n")
    copy, hc, none, onbuild = df.instructions[1:]
    assert copy.flag("from") == "build" and copy.flag("chown") == "1:2"
    assert hc.args == ("CMD", "wget -q localhost") and hc.flag("interval") == "5s"
    assert none.args == ("NONE",)
    assert onbuild.args == ("RUN echo child",)


def test_arg_before_from():
    df = parse("ARG V=1\nFROM busybox:$V\nARG V\n")
    assert [i.cmd for i in df.instructions] == ["arg", "from", "arg"]


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nBOGUS x\n", "dockerfile parse error line 2: unknown instruction: BOGUS"),
    ("FROM busybox\n\n\nCOPY onlyone\n", "dockerfile parse error line 4: COPY requires at least two"),
    ("FROM busybox\nCOPY --bad=1 a b\n", "dockerfile parse error line 2: Unknown flag: bad"),
    ("FROM a b\n", "dockerfile parse error line 1: FROM requires either one or three arguments"),
    ("FROM busybox\nONBUILD FROM x\n", "line 2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM busybox\nSHELL sh -c\n", "line 2: SHELL requires the arguments to be in JSON form"),
    ("RUN true\n", "no build stage in current context"),
    ("# escape=x\nFROM busybox\n", "invalid escape token"),
    ("", "cannot be empty"),
])
def test_errors(text, message):
    with pytest.raises(InvalidArgument) as e:
        parse(text)
    assert message in str(e.value)
