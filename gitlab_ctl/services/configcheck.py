"""A service's new configuration, checked by the service's own program before it replaces
the live files.

The step is planned just before the service's File resources and acts only when one of
them would change: it writes the new files into a scratch copy of the live directory, runs the
program on the copy, and removes the copy. When the program refuses the configuration the
run stops there, naming the file and quoting the program. Nothing was written, so nothing
is reloaded: the running service keeps its previous configuration, and a later restart
starts with it.

Which services have a check (see each service module): nginx (`nginx -t`), PostgreSQL
(`postgres -C`, which parses postgresql.conf and what it includes, but not pg_hba.conf or
pg_ident.conf), Prometheus (`promtool check config --syntax-only` on prometheus.yml, and
`promtool check rules` on the rules files, a second check on a copy of the rules
directory) and Alertmanager (`amtool check-config`). omnibus-gitlab ships neither promtool
nor amtool; the package builds them from the same sources as the programs they check, since
neither server has a mode that only reads its configuration. Gitaly has one too (`gitaly
configuration validate`, reading config.toml on stdin), not used yet: no Gitaly build has
been at hand to test it against. The others have none that reads a file without starting a
server: Redis 7 (`redis-server --test-memory` tests RAM), Puma, Sidekiq, gitlab-workhorse,
the registry and the exporters; logrotate reads its config afresh on each rotation and is
never reloaded.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitlab_ctl.engine.resources import File, ResourceError, Run, Step

MAX_OUTPUT_LINES = 15
CHECK_TIMEOUT = 60.0


@dataclass(frozen=True)
class ConfigCheck:
    """`argv(scratch)` checks the copy of `live_dir` at `scratch`; `copy_live` starts the
    copy from the live directory (for includes of files reconfigure does not write);
    `owner`/`group` must be able to read the copy when the program runs as them; `hint`
    turns the program's output into advice; `name` tells apart two checks of one service
    (the step is check[name], check[service] without one)."""

    service: str
    program: Path
    files: tuple[File, ...]
    live_dir: Path
    argv: Callable[[Path], list[str]]
    copy_live: bool = False
    owner: str | None = None
    group: str | None = None
    hint: Callable[[str], str] = lambda output: ""
    name: str = ""

    @property
    def step_id(self) -> str:
        return f"check[{self.name or self.service}]"

    def changed(self) -> list[File]:
        return [file for file in self.files if file.content_differs()]

    def step(self) -> Step:
        def check(run: Run) -> list[str] | None:
            if not self.program.exists() or not self.changed():
                return None  # nothing new to check, or no program to check it with
            return [f"check the new configuration with {self.program.name}"]

        return Step(self.step_id, check, lambda run: self.run())

    def run(self) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f".{self.live_dir.name}.check-",
                                        dir=self.live_dir.parent))
        argv = self.argv(scratch)
        try:
            self._stage(scratch)
            result = subprocess.run(argv, capture_output=True, text=True, cwd="/",
                                    timeout=CHECK_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ResourceError(self.step_id, f"{' '.join(argv)} could not check "
                                f"the new configuration: {error}") from error
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if result.returncode != 0:
            raise self._failure((result.stderr + result.stdout).replace(str(scratch),
                                                                        str(self.live_dir)))

    def _stage(self, scratch: Path) -> None:
        if self.copy_live and self.live_dir.is_dir():
            shutil.copytree(self.live_dir, scratch, symlinks=True, dirs_exist_ok=True)
        for file in self.files:
            target = scratch / file.path.relative_to(self.live_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.content)
        if self.owner or self.group:
            uid = pwd.getpwnam(self.owner).pw_uid if self.owner else -1
            gid = grp.getgrnam(self.group).gr_gid if self.group else -1
            for directory, _subdirs, names in os.walk(scratch):
                for path in (directory, *(os.path.join(directory, n) for n in names)):
                    os.chown(path, uid, gid, follow_symlinks=False)

    def _failure(self, output: str) -> ResourceError:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        quoted = "\n    ".join(lines[-MAX_OUTPUT_LINES:]) or "(no output)"
        names = ", ".join(str(file.path) for file in self.changed())
        hint = self.hint(output) or "correct gitlab.rb and run reconfigure again"
        return ResourceError(
            self.step_id,
            f"{self.program.name} rejects the new configuration ({names}). Nothing was "
            f"written: {self.service} keeps its previous configuration. "
            f"{self.program.name} said:\n    {quoted}", hint=hint)

