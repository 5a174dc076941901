"""Start `lockstep serve` (or any server command that prints its URL) on 127.0.0.1 and talk to it
over real HTTP (requests): shared by the serve tests."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import requests


class Server:
    """A server process started on a free port; `url` is parsed from its stderr line
    "listening on http://...". stop() sends SIGTERM and returns (exit code, stderr)."""

    def __init__(self, argv, env=None, timeout=120):
        self.proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        self.lines = []
        self._ready = threading.Event()
        self.url = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or self.url is None:
            self.proc.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.lines))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        time.sleep(0.1)
        return rc, "".join(self.lines)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url, proc, timeout, log=lambda: ""):
    """Polls url/health until it answers 200; fails with `log()` if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url + "/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy:\n" + log())
        time.sleep(0.3)


def post(url, path, body, headers=None, timeout=300):
    return requests.post(url + path, json=body, headers=headers or {}, timeout=timeout)


def stream(url, path, body, headers=None, timeout=300):
    """The decoded `data:` messages of a streamed answer, [DONE] last."""
    messages = []
    with requests.post(url + path, json={**body, "stream": True}, headers=headers or {}, stream=True,
                       timeout=timeout) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/event-stream")
        for raw in r.iter_lines():
            line = raw.decode("utf-8")   # SSE is UTF-8 whatever the Content-Type says
            if not line:
                continue
            assert line.startswith("data: "), line
            payload = line[len("data: "):]
            messages.append(payload if payload == "[DONE]" else json.loads(payload))
    return messages


def bits(answer, index=0):
    """What decides bit-equality of a choice: its prompt and output ids and every step's logits SHA-256."""
    record = next(c for c in answer["lockstep"]["choices"] if c["index"] == index)["record"]
    return record["prompt_ids"], record["output_ids"], record["step_logits_sha256"]
