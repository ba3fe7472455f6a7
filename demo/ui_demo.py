"""The demo's last part: the web UI of ``mk server`` over what the demo did.

Starts ``mk server`` on the demo's repository, signs in with a fresh token and checks that the
pages which show the demo's story answer (each 200, its size printed); then prints the URL and
the token. With ``--open`` the server stays up in the foreground (Ctrl-C ends it) with a note of
which page shows what.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from background import MK, background

GUIDE = [
    ("/ui/models", "every model, its latest version, aliases, protection and live deployments"),
    ("/ui/models/fraud", "auc across fraud's versions, with where production moved (promotion, rollback)"),
    ("/ui/models/fraud/versions/latest", "one version: params, metrics, data, code, environment, notes"),
    ("/ui/compare?v=fraud@1.0.0&v=fraud@latest", "the first and the latest fraud side by side"),
    ("/ui/lineage?ref=dataset:fraud-train@1&direction=down", "everything the first training data reaches"),
    ("/ui/datasets/fraud-train?a=1&b=2", "what the second version of the data changed, in files and rows"),
    ("/ui/approvals?status=all", "the promotion requests with their gates and reviews"),
    ("/ui/deployments/fraud-scorer", "the canary the gateway rolled back, with its evidence"),
    ("/ui/models/scorer", "the branches two people made and the merge that was accepted"),
    ("/ui/audit", "who did what, and whether the hash chain holds"),
]


def ui_demo(work: Path, mk: Callable[..., str], *, keep_open: bool = False) -> None:
    token = mk("token", "create", "admin", "--name", "web-ui-demo", show=False).strip().splitlines()[0]
    if keep_open:
        port = 8765
        print(f"web UI: http://127.0.0.1:{port}/ui/   token: {token}")
        for path, what in GUIDE:
            print(f"  {path:<58} {what}")
        print("Ctrl-C stops the server")
        subprocess.run([*MK, "server", "--port", str(port)], cwd=work, check=False)
        return
    with background(["server"], "/health", cwd=work) as url, \
            httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
        signed = client.post("/ui/signin", data={"token": token, "next": "/ui/models"})
        if signed.status_code != 200:
            raise SystemExit(f"demo step failed: signing in to the web UI answered {signed.status_code}")
        for path, what in GUIDE:
            page = client.get(path)
            if page.status_code != 200:
                raise SystemExit(f"demo step failed: {path} answered {page.status_code}: {page.text[:300]}")
            print(f"  {page.status_code} {len(page.content):>7,} B  {path:<58} {what}")
    print("\nopen it yourself:  cd demo/output && ../../.venv/bin/mk server --port 8765")
    print(f"then:              http://127.0.0.1:8765/ui/   sign in with {token}")
    print("(or: .venv/bin/python demo/demo.py --open, which ends by serving it with a guide to the pages)")
    sys.stdout.flush()
