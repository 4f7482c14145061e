"""Reading a failed build's output: the failing step, exit code, last output lines and
container file line, from BuildKit's plain progress and from the classic builder."""

from __future__ import annotations

from reconciler.driver.buildfail import OUTPUT_LINES, build_failed, parse_failure

BUILDKIT = """#1 [internal] load build definition from Containerfile
#1 transferring dockerfile: 120B done
#1 DONE 0.0s
#5 [1/3] FROM docker.io/library/busybox
#5 CACHED
#6 [2/3] RUN echo one
#6 DONE 0.3s
#7 [3/3] RUN echo boom-output && exit 7
#7 0.245 boom-output
#7 ERROR: process "/bin/sh -c echo boom-output && exit 7" did not complete successfully: \
exit code: 7
------
 > [3/3] RUN echo boom-output && exit 7:
0.245 boom-output
------
Containerfile:3
--------------------
   1 |     FROM busybox
   2 |     RUN echo one
   3 | >>> RUN echo boom-output && exit 7
--------------------
ERROR: failed to solve: process "/bin/sh -c echo boom-output && exit 7" did not complete \
successfully: exit code: 7""".splitlines()

CLASSIC = ["Step 1/4 : FROM busybox", " ---> cfc31b9b78ba", "Step 2/4 : RUN echo one",
           " ---> Running in 4c4ab22709f7", "one", "Removing intermediate container 4c4ab22709f7",
           " ---> 8459057dcf88", "Step 3/4 : RUN echo boom-output && echo more >&2 && exit 7",
           " ---> Running in b47ff0bd1435", "boom-output", "\x1b[91mmore", "\x1b[0m",
           "Removing intermediate container b47ff0bd1435",
           "The command '/bin/sh -c echo boom-output && echo more >&2 && exit 7' returned a "
           "non-zero code: 7"]
CLASSIC_FILE = ("# comment\nFROM busybox\nRUN echo \\\n  one\n\n"
                "RUN echo boom-output && echo more >&2 && exit 7\nEXPOSE 8080\n")


def test_buildkit_output_names_step_exit_code_output_and_line() -> None:
    """BuildKit's plain progress: the step that printed ERROR, its output, the file's line."""
    f = parse_failure(BUILDKIT, "/src/web/Containerfile")
    assert f.step == "[3/3] RUN echo boom-output && exit 7"
    assert f.exit_code == "7"
    assert f.output[0] == "boom-output" and f.output[-1].startswith('process "/bin/sh -c')
    assert f.where == "/src/web/Containerfile:3"


def test_classic_output_names_step_exit_code_output_and_line() -> None:
    """The classic builder's stream: the last Step, its output without the builder's own
    lines or colour codes, and the instruction's line counted in the container file."""
    f = parse_failure(CLASSIC, "/src/Containerfile", CLASSIC_FILE)
    assert f.step == "[3/4] RUN echo boom-output && echo more >&2 && exit 7"
    assert (f.exit_code, f.line, f.file) == ("7", 6, "/src/Containerfile")
    assert f.output == ("boom-output", "more", CLASSIC[-1])


def test_failure_without_a_step_keeps_the_last_lines() -> None:
    """Output that names no step (e.g. the CLI could not start): its last lines, no step."""
    lines = [f"line {i}" for i in range(40)]
    f = parse_failure(lines)
    assert (f.step, f.exit_code, f.where) == ("", "", "")
    assert f.output == tuple(lines[-OUTPUT_LINES:])
    exc = build_failed("img:1", lines, why="docker build exited with 1")
    assert str(exc).splitlines()[0] == "build of img:1 failed: docker build exited with 1"
    assert exc.failure == f


def test_older_buildkit_output_is_placed_by_the_step_text() -> None:
    """BuildKit that does not print the file's line: the failing step's instruction is found
    in the container file by its text (continuations joined)."""
    lines = ["#6 [2/3] RUN echo compiling &&   exit 7",
             "#6 0.157 compiling",
             "#6 ERROR: executor failed running [/bin/sh -c echo compiling && exit 7]: "
             "exit code: 7"]
    text = "FROM busybox\n# build it\nRUN echo compiling && \\\n    exit 7\nEXPOSE 80\n"
    f = parse_failure(lines, "/src/Containerfile", text)
    assert (f.step, f.exit_code, f.where) == ("[2/3] RUN echo compiling &&   exit 7", "7",
                                              "/src/Containerfile:3")
    assert f.output[0] == "compiling"
