"""examples/ask.py and examples/resolve.py, run as a user would, against the real server."""

import subprocess
import sys

from conftest import REPO


def run_example(name, *args):
    cmd = [sys.executable, str(REPO / "examples" / name), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_ask_example_prints_the_hits(server):
    r = run_example("ask.py", "how many hours can I listen after a full charge?", "--addr", server.grpc_addr, "--k", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("index v")
    assert "tech-001: Bluetooth headset battery life" in lines[1]
    assert any(line.startswith("2. ") for line in lines)


def test_resolve_example_answers_and_routes(server):
    r = run_example("resolve.py", "I forgot my password and cannot log in", "--addr", server.grpc_addr)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ANSWER: ")
    assert "answer [acct-001, en] Resetting your password" in r.stdout

    r = run_example("resolve.py", "I want to talk to a human", "--addr", server.grpc_addr, "--channel", "email", "--route")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HANDOFF: ")
    assert "queued at position" in r.stdout


def test_examples_exit_with_the_status_name_on_refusal(server):
    r = run_example("ask.py", "", "--addr", server.grpc_addr)
    assert r.returncode == 1
    assert r.stderr.strip() == "kefu: INVALID_ARGUMENT: question is empty"
