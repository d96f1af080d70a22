"""The `omnibus` command line: verbs, options and their help texts."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from builder.definitions.model import PACKAGE_FORMATS

DESCRIPTION = """\
Build GitLab's all-in-one packages from declarative definitions.

Definitions live under a root directory (default: the current directory; or --root DIR):
software/*.yml, projects/*.yml, platforms/*.yml, templates/, licenses/.
"""

EPILOG = """\
examples:
  omnibus list                                   every software, project and platform
  omnibus show openssl                           one definition, as loaded
  omnibus graph gitlab-local --format dot | dot -Tsvg > graph.svg
  omnibus plan gitlab-local --platform debian-12 --arch amd64
"""


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Given before or after the verb; a verb's parser must not reset what the top level set.
    default = {"root": None, "debug": False} if top else dict.fromkeys(("root", "debug"),
                                                                       argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=default["root"],
                        help="definitions root (default: the current directory)")
    parser.add_argument("--debug", action="store_true", default=default["debug"],
                        help="show the traceback of an error")


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project name (see 'omnibus list projects')")
    parser.add_argument("--platform", default="debian-12", help="platform id (default: debian-12)")
    parser.add_argument("--arch", default="amd64", help="amd64, arm64 or armhf (default: amd64)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnibus", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, top=True)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    _add_inspection_verbs(verbs)
    _add_build_verbs(verbs)
    return parser


def _add_inspection_verbs(verbs: argparse._SubParsersAction) -> None:
    listing = verbs.add_parser("list", help="list software, projects and platforms")
    listing.add_argument("kind", nargs="?", choices=("software", "projects", "platforms"),
                         help="only this kind (default: all)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _common(listing)

    show = verbs.add_parser("show", help="show one software, project or platform as loaded")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    _common(show)

    graph = verbs.add_parser("graph", help="a project's dependency graph")
    _target(graph)
    graph.add_argument("--format", choices=("text", "dot"), default="text",
                       help="text tree (default) or Graphviz dot")
    _common(graph)


def _add_build_verbs(verbs: argparse._SubParsersAction) -> None:
    plan = verbs.add_parser("plan", help="what a build would do: keys, cache hits, and why")
    _target(plan)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    _cache_options(plan)
    _common(plan)

    fetch = verbs.add_parser(
        "fetch", help="fetch and verify every source a project needs",
        description="Fetch every source of a project into the download cache, verified by "
        "checksum, trying the mirror chain in order. Git refs are locked to commits.",
        epilog=MIRRORS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target(fetch)
    _cache_options(fetch)
    _fetch_options(fetch)
    fetch.add_argument("--jobs", type=_positive, default=4, help="parallel fetches (default 4)")
    fetch.add_argument("--locks-only", action="store_true",
                       help="only lock every git ref to a commit (git ls-remote) and write the "
                       "locks; download nothing (a pipeline's facts job)")
    _common(fetch)

    _add_build_verb(verbs)
    _add_toolchain_verbs(verbs)
    _add_publish_verb(verbs)
    _add_host_verbs(verbs)
    _add_ci_verb(verbs)


def _add_build_verb(verbs: argparse._SubParsersAction) -> None:
    build = verbs.add_parser(
        "build", help="fetch and build a project's software, in parallel, with a cache",
        description="Fetch every source, then build every software whose artifact is not "
        "cached, each in a fresh builder container that sees only its dependencies.",
        epilog=MIRRORS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target(build)
    _cache_options(build)
    _fetch_options(build)
    build.add_argument("--jobs", type=_positive, default=os.cpu_count() or 2,
                       help="CPU budget: parallel builds and make -j (default: all CPUs)")
    build.add_argument("--runner", choices=("docker", "host"), default="docker",
                       help="docker (default), or host inside an existing builder image")
    build.add_argument("--force", action="append", default=[], metavar="NAME",
                       help="rebuild NAME and its dependents even if cached (repeatable)")
    build.add_argument("--no-package", dest="package", action="store_false",
                       help="stop after building the artifacts")
    build.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="build only NAME and what it depends on (repeatable; implies "
                       "--no-package), e.g. the pipeline's assets job: --only gitlab-rails-assets")
    _package_options(build)
    _common(build)

    package = verbs.add_parser(
        "package", help="package a built project as .deb/.rpm (from the artifact cache)",
        description="Stage a project's cached artifacts and write its packages, each with "
        ".sha256, .size and .metadata.json files. Every software must be built already, in "
        "the local cache or the remote one ('omnibus build' builds and then packages in one "
        "go).",
        epilog=PACKAGE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target(package)
    _cache_options(package)
    _package_options(package)
    _common(package)


PACKAGE_HELP = """\
versions (omnibus-gitlab's scheme):
  release   17.5.0-ce.0                          the default
  nightly   17.5.0+rnightly.PIPELINE.SHA8-0      also when NIGHTLY=true
  branch    17.5.0+rfbranch.PIPELINE.SHA8-0
environment: SOURCE_DATE_EPOCH (every timestamp; default 2024-01-01), CI_PIPELINE_ID,
CI_COMMIT_SHA, OMNIBUS_SIGN_KEY, GNUPGHOME, GPG_PASSPHRASE.
"""


def _formats(text: str) -> tuple[str, ...]:
    # The registry is imported only when --format is given: it imports every format's
    # writer, which the quick verbs do without.
    from builder.formats import FORMATS

    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        names = list(FORMATS)
        listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise argparse.ArgumentTypeError(f"'{text}': formats are {listed}, comma-separated")
    return tuple(dict.fromkeys(formats))


def _compression(text: str) -> tuple[str, int]:
    kind, _, level = text.partition(":")
    limits = {"xz": (0, 9, 6), "zstd": (1, 22, 9), "gzip": (1, 9, 6)}
    if kind not in limits:
        raise argparse.ArgumentTypeError(f"'{kind}': compressions are {', '.join(limits)}")
    low, high, default = limits[kind]
    if level and not (level.isdigit() and low <= int(level) <= high):
        raise argparse.ArgumentTypeError(f"{kind} takes levels {low}..{high}")
    return kind, int(level) if level else default


def _package_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", dest="formats", type=_formats, default=None,
                        metavar=",".join(PACKAGE_FORMATS),
                        help="package formats (default: the platform's)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where packages go (default: ROOT/pkg)")
    parser.add_argument("--build-kind", choices=("release", "nightly", "branch"), default=None,
                        help="version scheme (default: nightly if NIGHTLY=true, else release)")
    parser.add_argument("--pipeline-id", default=None,
                        help="CI pipeline id of nightly/branch versions ($CI_PIPELINE_ID)")
    parser.add_argument("--commit", default=None,
                        help="commit sha of nightly/branch versions ($CI_COMMIT_SHA)")
    parser.add_argument("--sign-key", default=None, metavar="KEY",
                        help="GPG key to sign with ($OMNIBUS_SIGN_KEY; default: unsigned)")
    parser.add_argument("--compression", type=_compression, default=None, metavar="TYPE:LEVEL",
                        help="override the platform's compression, e.g. xz:6 or zstd:3")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="compression threads (default: one per CPU)")


def _host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(
        platform.machine(), "amd64")


def _add_toolchain_verbs(verbs: argparse._SubParsersAction) -> None:
    toolchains = verbs.add_parser(
        "toolchains", help="the build-only toolchains (Go, Node.js, yarn): list or fetch",
        description="Toolchains are platforms/toolchains/<name>.yml: pinned files per arch, "
        "unpacked once into CACHE_DIR/toolchains/ and mounted read-only into the builds of "
        "the software that name them (`toolchains:`); never packaged. A build fetches what it "
        "needs by itself; --fetch does it ahead (e.g. before an --offline build).")
    toolchains.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
    toolchains.add_argument("--fetch", action="store_true",
                            help="fetch, verify and unpack them for --arch")
    _toolchain_options(toolchains)

    path = verbs.add_parser(
        "toolchain-path", help="print where a toolchain is unpacked (fetching it if needed)",
        description="Print the directory builds see at the toolchain's mount point, e.g. "
        "`$(omnibus toolchain-path node)/bin/node` for this machine's arch.")
    path.add_argument("name", help="toolchain name (see `omnibus toolchains`)")
    _toolchain_options(path)


def _toolchain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=_host_arch(),
                        help="amd64, arm64 or armhf (default: this machine's)")
    parser.add_argument("--offline", action="store_true", help="use the download cache only")
    _cache_options(parser)
    _common(parser)


def _add_publish_verb(verbs: argparse._SubParsersAction) -> None:
    publish = verbs.add_parser(
        "publish", help="add packages to the platform's signed apt or yum repository",
        description="Add a project's packages (by default every version and arch of it in "
        "ROOT/pkg for the platform) to REPO/<platform>/: an apt repository for deb "
        "platforms, a yum/dnf repository for rpm ones, with signed indexes, the public key "
        "and source snippets for clients. Packages of the other format (--format) go to "
        "REPO/<platform>-<format>/. Publishing a package again changes nothing.",
    )
    publish.add_argument("project", help="project name (see 'omnibus list projects')")
    publish.add_argument("packages", nargs="*", type=Path, metavar="PACKAGE",
                         help="package files (default: the project's in --from)")
    publish.add_argument("--platform", default="debian-12",
                         help="platform id (default: debian-12)")
    publish.add_argument("--format", choices=tuple(PACKAGE_FORMATS), default=None,
                         help="which packages, hence apt or yum (default: the platform's)")
    publish.add_argument("--repo", type=Path, required=True, metavar="DIR",
                         help="repositories root; this platform's is DIR/<platform>")
    publish.add_argument("--from", dest="source", type=Path, default=None, metavar="DIR",
                         help="where built packages are (default: ROOT/pkg)")
    publish.add_argument("--sign-key", default=None, metavar="KEY",
                         help="GPG key that signs the indexes ($OMNIBUS_SIGN_KEY; required)")
    publish.add_argument("--base-url", default="http://localhost/", metavar="URL",
                         help="where clients reach the repositories root, for the snippets")
    publish.add_argument("--reproducible", action="store_true",
                         help="date the indexes with $SOURCE_DATE_EPOCH instead of now")
    _common(publish)


def _add_host_verbs(verbs: argparse._SubParsersAction) -> None:
    image = verbs.add_parser("image", help="builder images (one per platform and arch)")
    image_verbs = image.add_subparsers(dest="image_verb", metavar="ACTION", required=True)
    image_build = image_verbs.add_parser(
        "build", help="make the builder image of a platform and arch (if its inputs changed)",
        description="Make the builder image from Dockerfile.builder and the platform's data. "
        "Debian-family platforms bootstrap their base image locally with mmdebstrap; others "
        "pull it from a registry. The tag carries a digest of the inputs.",
    )
    image_build.add_argument("--platform", default="debian-12", help="platform id")
    image_build.add_argument("--arch", default="amd64", help="amd64, arm64 or armhf")
    image_build.add_argument("--tag", metavar="NAME",
                             help="also tag the image NAME (e.g. to docker push it)")
    _common(image_build)
    image_package = image_verbs.add_parser(
        "package", help="make the all-in-one container image from a built .deb",
        description="Install a built .deb of the project into the platform's base image: "
        "the all-in-one image (entrypoint `gitlab-ctl container-run`; volumes /etc/gitlab, "
        "/var/opt/gitlab, /var/log/gitlab; a HEALTHCHECK). Nothing is built again. Labels "
        "carry the version, the package's and version manifest's sha256 and the SPDX SBOM.",
        epilog="run it: docker run -d -p 80:80 -e GITLAB_OMNIBUS_CONFIG=\"external_url "
        "'http://gitlab.example.test'\" --stop-timeout 60 TAG",
    )
    image_package.add_argument("project", help="project name (see 'omnibus list projects')")
    image_package.add_argument("package", nargs="?", type=Path, metavar="PACKAGE",
                               help="the .deb (default: the project's newest in --from for "
                               "the platform and arch)")
    image_package.add_argument("--platform", default="debian-12", help="platform id")
    image_package.add_argument("--arch", default="amd64", help="amd64 or arm64")
    image_package.add_argument("--from", dest="source", type=Path, default=None,
                               metavar="DIR", help="where built packages are (default: ROOT/pkg)")
    image_package.add_argument("--tag", metavar="NAME",
                               help="the image's tag (default: PROJECT:VERSION-ARCH)")
    _common(image_package)
    _common(image)

    debsrc = verbs.add_parser(
        "setup-deb-src", help="let apt fetch Debian source packages (for the debian mirror)",
        description="Write deb-src twins of apt's deb entries (same mirrors and keys) to "
        "/etc/apt/sources.list.d/omnibus-deb-src.sources, then run apt-get update. Needs root.",
    )
    debsrc.add_argument("--also", action="append", default=[], metavar="CODENAME",
                        help="also a newer release's sources, e.g. --also trixie")
    _common(debsrc)


def _add_ci_verb(verbs: argparse._SubParsersAction) -> None:
    ci = verbs.add_parser("ci", help="GitLab CI pipelines made from the definitions")
    ci_verbs = ci.add_subparsers(dest="ci_verb", metavar="ACTION", required=True)
    generate = ci_verbs.add_parser(
        "generate", help="write the GitLab CI pipeline that packages projects everywhere",
        description="Write a GitLab CI pipeline (YAML) building each project on every "
        "platform and arch whose data lists its edition: builder images, a facts job locking "
        "every git source, a license check, package jobs sharing a remote cache, and publish "
        "jobs. The same definitions give the same file. Runner tags per arch: "
        "templates/ci/runners.yml.",
    )
    generate.add_argument("projects", nargs="+", metavar="PROJECT",
                          help="projects to package (see 'omnibus list projects')")
    generate.add_argument("--out", type=Path, metavar="FILE",
                          help="write it here, e.g. .gitlab-ci.yml (default: print it)")
    _common(generate)
    licenses = ci_verbs.add_parser(
        "check-licenses", help="judge every package's licenses by the policy, building nothing",
        description="Resolve each project for every platform and arch it is packaged for, "
        "and judge every software's license by licenses/policy.yml.",
    )
    licenses.add_argument("projects", nargs="+", metavar="PROJECT")
    _common(licenses)
    _common(ci)


MIRRORS_HELP = """\
mirrors (tried in order; whoever serves the bytes, the definition's checksum decides):
  upstream                the URL or git remote in the definition
  debian                  the .orig tarball of the definition's Debian source package, via apt
  https://HOST/{name}/{filename}   an HTTP mirror (also {version} {sha256} {sha512} {checksum})
  dir:/srv/sources        a directory laid out as DIR/NAME/FILENAME
  git:https://HOST/{name}.git      an alternative git remote
default chain: upstream, then debian. --mirrors FILE holds `mirrors: [{kind: http, url: ...}]`.
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mirror", action="append", metavar="SPEC",
                        help="add a mirror (repeatable; replaces the default chain)")
    parser.add_argument("--mirrors", type=Path, metavar="FILE", help="mirror chain from a file")
    parser.add_argument("--offline", action="store_true",
                        help="use only the download cache; list what is missing")
    parser.add_argument("--refresh", action="store_true",
                        help="re-resolve git branches and tags even when locked")


def _cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache (default: $OMNIBUS_CACHE_DIR or ROOT/cache)")
    parser.add_argument("--locks", type=Path, default=None, metavar="FILE",
                        help="git source locks (default: CACHE_DIR/source-locks.json)")
    parser.add_argument("--remote-cache", metavar="URL",
                        default=os.environ.get("OMNIBUS_REMOTE_CACHE") or None,
                        help="shared artifact cache over HTTP GET/HEAD/PUT "
                        "(default: $OMNIBUS_REMOTE_CACHE)")
