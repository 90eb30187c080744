"""The curl walk-through in the README works as printed."""

import os
import re
import subprocess
from pathlib import Path

from e2e_helpers import V1

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curl_script() -> str:
    text = README.read_text()
    section = text.split("## Try it with curl", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walkthrough_runs_as_printed(system, tmp_path):
    admin = system.client()
    demo = {"email": "admin@example.com", "name": "Demo", "role": "admin", "password": "demo-admin-password"}
    assert admin.post(system.url(f"{V1}/users"), json=demo).status_code in (201, 409)
    script = readme_curl_script().replace("http://127.0.0.1:8000", system.base_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CRM_ADMIN_PASSWORD": demo["password"]},  # as the README asks
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'ETag: "1"' in out or 'Etag: "1"' in out
    assert '"last_name": "King"' in out
    assert "quote.txt" in out  # sha256sum printed after cmp found the download identical
    assert '"kpis"' in out
    assert '"status": 422' in out and '"colour"' in out
