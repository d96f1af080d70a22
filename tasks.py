"""Release workflows as invoke tasks. Run them through ./dev, which sets up the environment.

  ./dev build      the default project for debian-12/amd64: plan, fetch, build, package,
                   lintian and rpmlint, publish
  ./dev test       lint, unit tests and integration tests (what CI runs)
  ./dev bench      the benchmarks under bench/
  ./dev e2e        install the built packages from their repositories (apt and dnf), check
                   them, upgrade them
  ./dev nightly    build, then e2e: what CI has no time for
  ./dev image      the all-in-one container image from the built package
  ./dev ci         write .gitlab-ci.yml (the release team's nightly pipeline)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from invoke import Context, Exit, task

DEFAULT_PROJECT = "gitlab-local"
VENV_BIN = ".venv/bin"
#: Where `./dev build` keeps the key that signs its local repository (repo/), unless
#: OMNIBUS_SIGN_KEY names the release team's own.
LOCAL_GNUPG = Path(__file__).resolve().parent / "cache" / "gnupg"
LOCAL_KEY = "local-repository@omnibus.invalid"


def signing_env() -> dict[str, str]:
    """The environment that signs repositories: the caller's key, or a local one made once."""
    if os.environ.get("OMNIBUS_SIGN_KEY"):
        return {}
    home = LOCAL_GNUPG.resolve()
    listed = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--list-secret-keys",
                             LOCAL_KEY], capture_output=True)
    if listed.returncode != 0:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "",
                        "--quick-gen-key", f"Local omnibus repository <{LOCAL_KEY}>", "rsa3072",
                        "sign", "never"], check=True, capture_output=True)
    return {"GNUPGHOME": str(home), "OMNIBUS_SIGN_KEY": LOCAL_KEY}


def package_repositories(platform: str) -> dict[str, str]:
    """Package format -> its repository under repo/, the platform's own format first; deb
    platforms get rpm packages as well (for rpm hosts whose glibc is as new as the
    platform's), rpm platforms have no apt codename."""
    from builder.definitions.loader import load_catalog
    from builder.publish import repository_name

    facts = load_catalog(Path(__file__).resolve().parent).platforms[platform]
    own = facts.package_format
    return {fmt: repository_name(facts, fmt) for fmt in (["deb", "rpm"] if own == "deb"
                                                          else [own])}


def lint_packages(project: str, platform: str, arch: str, formats: list[str]) -> list[str]:
    """lintian and rpmlint on the packages the build wrote (README: what they report); their
    errors fail the build. The rpm's signature is checked with the key that signed it."""
    from builder.app.lint import built_packages, export_key, lintian, remembered, rpmlint
    from builder.digests import sha256_file

    root = Path(__file__).resolve().parent
    cache = root / "cache"
    rpmlintrc = root / "templates/package/rpmlintrc"
    packages = built_packages(root, project, platform, arch, formats)
    print(f"\n==> lintian and rpmlint on {', '.join(p.name for p in packages.values())}")
    tools = {"deb": "lintian", "rpm": "rpmlint"}
    missing = [tools[fmt] for fmt in packages if shutil.which(tools[fmt]) is None]
    if missing:
        note = (f"NOT CHECKED: {' and '.join(missing)} not installed "
                f"(apt-get install {' '.join(missing)})")
        print(f"  {note}")
        packages = {fmt: path for fmt, path in packages.items() if tools[fmt] not in missing}
        if not packages:
            return [note]
    signing = signing_env()
    key = signing.get("OMNIBUS_SIGN_KEY") or os.environ["OMNIBUS_SIGN_KEY"]
    with ThreadPoolExecutor(max_workers=2) as pool:  # each is mostly one process
        jobs = []
        deb, rpm = packages.get("deb"), packages.get("rpm")
        if deb is not None:
            jobs.append(pool.submit(remembered, lambda: lintian(deb), cache, "lintian", deb))
        if rpm is not None:
            public = export_key(key, signing.get("GNUPGHOME"))
            jobs.append(pool.submit(remembered, lambda: rpmlint(rpm, rpmlintrc, public), cache,
                                    "rpmlint", rpm, sha256_file(rpmlintrc),
                                    hashlib.sha256(public).hexdigest()))
        reports = [job.result() for job in jobs]
    for report in reports:
        for line in report.lines:
            print(f"  {line}")
        print(f"  {report.summary()}")
    failed = [report.tool for report in reports if report.errors]
    if failed:
        raise Exit(f"{' and '.join(failed)} found errors in the packages (above); fix the "
                   "packaging, or override what an omnibus package does by design, with the "
                   "reason, in templates/package/lintian-overrides.j2 or rpmlintrc", code=1)
    return [report.summary() for report in reports] + ([note] if missing else [])


@task(help={
    "project": f"project to build (default: {DEFAULT_PROJECT})",
    "platform": "platform id (default: debian-12)",
    "arch": "amd64, arm64 or armhf (default: amd64)",
})
def build(c: Context, project: str = DEFAULT_PROJECT, platform: str = "debian-12",
          arch: str = "amd64") -> None:
    """Plan, fetch and build a project's software, package it into pkg/, check the packages
    with lintian and rpmlint (their errors fail the build), publish them into repo/."""
    start = time.monotonic()
    target = f"{project} --platform {platform} --arch {arch}"
    repos = package_repositories(platform)
    formats = list(repos)
    print(f"==> build plan of {project} on {platform}/{arch}")
    c.run(f"{VENV_BIN}/omnibus plan {target}")
    print(f"\n==> fetch, build and package as {' and '.join(formats)} "
          "(logs: cache/logs/, artifacts: cache/artifacts/)")
    # Signed with the repository's key: dnf checks package signatures (gpgcheck=1).
    c.run(f"{VENV_BIN}/omnibus build {target} --format {','.join(formats)}",
          env=signing_env())
    lint = lint_packages(project, platform, arch, formats)
    # The local repositories are made anew from pkg/: a rebuilt package keeps its version, and
    # a repository (rightly) refuses a different file under a version it already serves.
    for fmt, repo in repos.items():
        print(f"\n==> publish the {fmt} packages into the signed repository repo/{repo}/ "
              "(made anew)")
        shutil.rmtree(Path("repo") / repo, ignore_errors=True)
        c.run(f"{VENV_BIN}/omnibus publish {project} --platform {platform} --format {fmt} "
              "--repo repo", env=signing_env())
    print(f"\n==> done in {time.monotonic() - start:.0f} s.\n"
          "  packages, with .sha256, .size, .metadata.json, license status, SBOM: pkg/\n"
          f"  signed repositories (key, .list/.sources or .repo for clients): "
          f"{', '.join(f'repo/{repo}/' for repo in repos.values())}\n"
          "  build logs: cache/logs/; artifacts: cache/artifacts/\n"
          + "".join(f"  {line}\n" for line in lint) +
          "next: `./dev e2e` installs it from the repository in a clean container, checks "
          "the services and upgrades it;\n      or `apt-get install ./pkg/NAME.deb` here.")


@task(help={
    "project": f"project whose packages in pkg/ are published (default: {DEFAULT_PROJECT})",
    "platform": "platform id (default: debian-12)",
    "repo": "repositories root (default: repo/); the platform's are repo/<platform>/ and, "
            "for the other format, repo/<platform>-<format>/",
    "sign_key": "GPG key for the indexes (default: $OMNIBUS_SIGN_KEY, else a local key "
                "kept in cache/gnupg)",
    "base_url": "where clients reach the repositories root (for the snippets)",
    "format": "deb or rpm (default: every format ./dev build makes for the platform)",
})
def publish(c: Context, project: str = DEFAULT_PROJECT, platform: str = "debian-12",
            repo: str = "repo", sign_key: str = "", base_url: str = "http://localhost/",
            format: str = "") -> None:
    """Add the project's packages in pkg/ to the platform's signed apt and yum repositories."""
    key = f" --sign-key {sign_key}" if sign_key else ""
    for fmt in [format] if format else package_repositories(platform):
        c.run(f"{VENV_BIN}/omnibus publish {project} --platform {platform} --repo {repo}{key} "
              f"--format {fmt} --base-url {base_url}", env={} if sign_key else signing_env())


@task(help={"project": f"project to install and upgrade (default: {DEFAULT_PROJECT})"})
def e2e(c: Context, project: str = DEFAULT_PROJECT) -> None:
    """Install from repo/ with apt and dnf in clean containers, check, upgrade, check."""
    c.run(f"{VENV_BIN}/python bench/e2e.py --project {project}", env=signing_env(), pty=False)


@task(help={
    "project": f"project whose .deb in pkg/ the image is made from (default: {DEFAULT_PROJECT})",
    "arch": "amd64 or arm64 (default: amd64)",
    "tag": "the image's tag (default: PROJECT:VERSION-ARCH)",
})
def image(c: Context, project: str = DEFAULT_PROJECT, arch: str = "amd64", tag: str = "") -> None:
    """The all-in-one container image, made from the built package (./dev build first)."""
    c.run(f"{VENV_BIN}/omnibus image package {project} --arch {arch}"
          + (f" --tag {tag}" if tag else ""))


@task(help={"project": f"project to build, install and upgrade (default: {DEFAULT_PROJECT})"})
def nightly(c: Context, project: str = DEFAULT_PROJECT) -> None:
    """Build and publish, then e2e with apt and dnf: what CI has no time for.

    Cold about half an hour here, warm about four minutes."""
    start = time.monotonic()
    build(c, project=project)
    e2e(c, project=project)
    print(f"==> nightly passed in {time.monotonic() - start:.0f} s")


@task
def lint(c: Context) -> None:
    """ruff over the whole tree, then mypy over builder/ and gitlab_ctl/ (pyproject.toml)."""
    c.run(f"{VENV_BIN}/ruff check .")
    c.run(f"{VENV_BIN}/mypy")


@task(help={"unit_only": "skip the integration tier"})
def test(c: Context, unit_only: bool = False) -> None:
    """Lint, then unit and integration tests in one pytest run."""
    lint(c)
    marker = "not integration" if unit_only else "integration or not integration"
    c.run(f'{VENV_BIN}/pytest -m "{marker}" -p no:cacheprovider', pty=False)


@task
def bench(c: Context) -> None:
    """Run the benchmarks; copy their tables into BENCHMARKS.md."""
    c.run(f"{VENV_BIN}/python bench/plan_speed.py")
    c.run(f"{VENV_BIN}/python bench/incremental.py")
    c.run(f"{VENV_BIN}/python bench/build_speed.py")
    c.run(f"{VENV_BIN}/python bench/multiarch.py")
    c.run(f"{VENV_BIN}/python bench/package_speed.py")
    c.run(f"{VENV_BIN}/python bench/health_check_speed.py")
    c.run(f"{VENV_BIN}/python bench/toolchains.py")


@task(help={
    "projects": "comma-separated projects (default: gitlab-ce,gitlab-ee,gitlab-fips)",
    "out": "the pipeline file to write (default: .gitlab-ci.yml)",
})
def ci(c: Context, projects: str = "gitlab-ce,gitlab-ee,gitlab-fips",
       out: str = ".gitlab-ci.yml") -> None:
    """Write .gitlab-ci.yml from platforms/ and projects/; check it with GitLab's schema.

    docs/ci.md explains the pipeline."""
    names = " ".join(name.strip() for name in projects.split(",") if name.strip())
    c.run(f"{VENV_BIN}/omnibus ci generate {names} --out {out}")
    c.run(f"{VENV_BIN}/check-jsonschema --builtin-schema vendor.gitlab-ci {out}")
