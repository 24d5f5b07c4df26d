"""The README's tour, command by command, parsed from README.md and run against the sandboxes (so it cannot drift).

Every fenced bash block of "A 5-minute tour" is read; `cwsync ...` lines run (in-process, with the tour's exported
environment), `curl` lines are sent with httpx, `export` lines set the environment. The two long-running commands
(`cwsync sandbox serve`, `cwsync serve`) run as real processes on loopback until the tour is done. The only changes to
the text: the ports (8710, 8720) become free ones, `--records` is capped at 2000 to keep the test short, and
`init --sandbox` is told where the sandbox listens. A command's expected exit code is 0 unless its comment says
"exit code N".
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from tests.loopback import free_port, wait_for

pytestmark = pytest.mark.loopback
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@dataclass(frozen=True)
class Command:
    """One command of the tour: its words, the exit code its comment promises, and where it is in README.md."""

    words: list[str]
    expected: int
    line: int


def tour_commands(readme: str) -> list[Command]:
    """The commands of the tour's bash blocks, in order (continuations joined, comments dropped, `&&` split)."""
    section = readme.split("## A 5-minute tour", 1)[1].split("\n## ", 1)[0]
    offset = readme[: readme.index("## A 5-minute tour")].count("\n")
    commands: list[Command] = []
    for block in re.finditer(r"```bash\n(.*?)```", section, flags=re.S):
        first = offset + section[: block.start()].count("\n") + 2
        logical: list[tuple[int, str]] = []
        for n, raw in enumerate(block.group(1).splitlines()):
            if logical and logical[-1][1].endswith("\\"):
                logical[-1] = (logical[-1][0], logical[-1][1][:-1] + " " + raw.strip())
            else:
                logical.append((first + n, raw.strip()))
        for line, text in logical:
            if not text or text.startswith("#"):
                continue
            comment = text.split(" # ", 1)[1] if " # " in text else ""
            found = re.search(r"exit code (\d+)", comment)
            for part in _split_and(text):
                commands.append(Command(part, int(found.group(1)) if found else 0, line))
    return commands


def _split_and(text: str) -> list[list[str]]:
    words = shlex.split(text, comments=True)
    parts: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return [p for p in parts if p]


@dataclass
class Tour:
    """The state of a tour being run: environment, ports, the background processes."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    sandbox_port: int = 0
    server_port: int = field(default_factory=free_port)
    processes: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)

    def ports(self, word: str) -> str:
        return word.replace(":8710", f":{self.sandbox_port}").replace(":8720", f":{self.server_port}")

    def run(self, command: Command) -> None:
        where = f"README.md:{command.line}: {shlex.join(command.words)}"
        head, *args = [self.ports(w) for w in command.words]
        if head == "export":
            self.env.update(dict(a.split("=", 1) for a in args))
            return
        if head == "curl":
            self.curl(args, where)
            return
        assert head == "cwsync", f"{where}: the tour should only run cwsync, curl and export"
        if args[:2] == ["sandbox", "serve"]:
            self.start_sandbox(args, where)
            return
        if args[:1] == ["serve"]:
            self.start_server(args, where)
            return
        if args[:1] == ["init"] and "--sandbox" in args:
            url = f"http://127.0.0.1:{self.sandbox_port}"
            args += ["--sandbox-url", url, "--server-port", str(self.server_port)]
        result = runner.invoke(app, args, env=self.env, catch_exceptions=False)
        assert result.exit_code == command.expected, f"{where}: exit {result.exit_code}\n{result.output}"

    def curl(self, args: list[str], where: str) -> None:
        method, headers, body, url = "GET", {}, None, ""
        words = iter(args)
        for word in words:
            if word == "-X":
                method = next(words)
            elif word == "-H":
                name, value = next(words).split(":", 1)
                headers[name.strip()] = value.strip()
            elif word == "-d":
                body, method = next(words), method if method != "GET" else "POST"
            else:
                url = word if "://" in word else f"http://{word}"
        answer = httpx.request(method, url, headers=headers, content=body, timeout=30)
        assert answer.status_code < 400, f"{where}: {answer.status_code} {answer.text}"

    def start_sandbox(self, args: list[str], where: str) -> None:
        if "--records" in args:
            i = args.index("--records") + 1
            args[i] = str(min(int(args[i]), 2000))
        proc = self._spawn([*args, "--port", "0"])
        site: list[str] = []

        def started() -> bool:
            assert proc.poll() is None, f"{where}: exited {proc.returncode}"
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"site\s*│\s*(http://127\.0\.0\.1:(\d+))", line)
            if found:
                site.append(found.group(2))
            return bool(site)

        wait_for(started, f"{where} to print its site")
        self.sandbox_port = int(site[0])
        self.processes.append((where, proc))
        wait_for(lambda: _answers(f"http://127.0.0.1:{self.sandbox_port}/_sandbox"), f"{where} to serve")

    def start_server(self, args: list[str], where: str) -> None:
        proc = self._spawn(args)
        self.processes.append((where, proc))
        base = f"http://127.0.0.1:{self.server_port}"

        def healthy() -> bool:
            assert proc.poll() is None, f"{where}: exited {proc.returncode}: {proc.communicate()}"
            return _answers(f"{base}/api/health")

        wait_for(healthy, f"{where} to serve")

    def _spawn(self, args: list[str]) -> subprocess.Popen[str]:
        env = {**os.environ, **self.env, "COLUMNS": "200", "CWSYNC_LOG_LEVEL": "warning"}
        return subprocess.Popen(
            [sys.executable, "-m", "cwsync", *args],
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    def stop(self, keep: int = 0) -> list[tuple[str, int]]:
        """Ctrl+C the background processes started after the first `keep` (newest first); what each exited with."""
        exits = []
        while len(self.processes) > keep:
            where, proc = self.processes.pop()
            proc.send_signal(signal.SIGINT)
            try:
                exits.append((where, proc.wait(timeout=30)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                exits.append((where, -9))
        return exits


def tour_serve_line(commands: list[Command]) -> str:
    """How the `cwsync serve` step is named in failures (its README line and words)."""
    serve = next(c for c in commands if c.words[:2] == ["cwsync", "serve"])
    return f"README.md:{serve.line}: {shlex.join(serve.words)}"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def test_the_parser_finds_the_whole_tour() -> None:
    """The tour has every step's commands, and the exit code a comment promises is read."""
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    heads = [" ".join(c.words[:2]) for c in commands]
    for expected in ("cwsync sandbox", "cwsync doctor", "cwsync init", "cwsync hudu", "cwsync changes", "curl -X"):
        assert expected in heads
    assert [c.expected for c in commands if c.expected] == [7]
    assert ["cwsync", "catalog", "sync"] in [c.words for c in commands]  # `a && b` is two commands


def test_every_readme_tour_command_exits_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a fresh folder holding only the repository's examples, every tour command exits 0 (or as it says)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    tour = Tour(cwd=tmp_path)
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    try:
        for command in commands:
            tour.run(command)
            if command.words[0] == "curl" and any(":8720" in w for w in command.words):
                # the REST API of `cwsync serve` answered: stop the server (the next steps run their own commands)
                assert tour.stop(keep=1) == [(tour_serve_line(commands), 0)]
    finally:
        exits = tour.stop()
    assert exits == [(exits[0][0], 0)], exits  # the sandbox, stopped with Ctrl+C
    assert (tmp_path / "cwsync.db").exists()  # the store sits next to cwsync.yaml
