"""The commands resources run, and the error a resource that cannot be converged raises
(resources.py and accounts.py share them; resources.py re-exports both)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitlab_ctl.errors import GitlabCtlError


class ResourceError(GitlabCtlError):
    """A resource that could not be converged; the run stops there. `where` is the
    resource's id."""

    @property
    def resource(self) -> str:
        return self.where


def run_command(resource: str, argv: list[str], env: dict[str, str] | None = None,
                cwd: Path | None = None, timeout: float = 600) -> str:
    full_env = {**os.environ, **env} if env else None
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd,
                                timeout=timeout)
    except FileNotFoundError as error:
        raise ResourceError(resource, f"{argv[0]} is not installed ({error.strerror})") from error
    except subprocess.TimeoutExpired as error:
        raise ResourceError(resource, f"{' '.join(argv)} did not finish in {timeout:.0f} s") \
            from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise ResourceError(resource, f"{' '.join(argv)} exited {result.returncode}:\n    "
                            + "\n    ".join(output))
    return result.stdout
