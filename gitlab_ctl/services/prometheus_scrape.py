"""prometheus.yml's scrape jobs, as omnibus-gitlab's Prometheus library builds them: one per
service that is enabled on this node and exposes metrics, then prometheus['scrape_configs'],
then the Kubernetes jobs unless monitor_kubernetes is false. Consul service discovery is not
part of this package, so every job has static targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitlab_ctl.services.base import Context

#: what omnibus-gitlab rewrites so a local target's instance label reads localhost
LOCALHOST_RELABEL = [{"source_labels": ["__address__"], "regex": "127.0.0.1:(.*)",
                      "replacement": "localhost:$1", "target_label": "instance"}]
#: the exporters with a default job, named as prometheus.yml names it
EXPORTER_JOBS = (("node", "node_exporter"), ("postgres", "postgres_exporter"),
                 ("redis", "redis_exporter"))
K8S_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
K8S_API = "https://kubernetes.default.svc:443"


def static(job: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"job_name": job, **({"metrics_path": extra.pop("metrics_path")}
                                if "metrics_path" in extra else {}),
            "static_configs": [{"targets": [target]}], **extra}


def tls_config(scheme: Any, server_name: Any, skip_verify: Any) -> dict[str, Any]:
    """An https scrape's scheme and tls_config; nothing for http."""
    if scheme != "https":
        return {}
    return {"scheme": "https", "tls_config": {"server_name": server_name,
                                              "insecure_skip_verify": bool(skip_verify)}}


def enabled(context: Context, section: str) -> bool:
    return bool(context.section(section).get("enable"))


def gitaly(context: Context) -> list[dict]:
    address = (context.section("gitaly").get("configuration") or {}).get(
        "prometheus_listen_addr")
    if not enabled(context, "gitaly") or not address:
        return []
    return [static("gitaly", address)]


def gitlab_exporter(context: Context) -> list[dict]:
    exporter = context.section("gitlab_exporter")
    if not exporter.get("enable"):
        return []
    scheme = exporter.get("prometheus_scrape_scheme")
    if exporter.get("tls_enabled") and not scheme:
        scheme = "https"
    target = f"{exporter['listen_address']}:{exporter['listen_port']}"
    extra = tls_config(scheme, exporter.get("prometheus_scrape_tls_server_name")
                       or exporter["listen_address"],
                       exporter.get("prometheus_scrape_tls_skip_verification"))
    return [static(f"gitlab_exporter_{name}", target, metrics_path=f"/{name}", **extra)
            for name in ("database", "sidekiq", "ruby")]


def registry(context: Context) -> list[dict]:
    address = context.section("registry").get("debug_addr")
    if not enabled(context, "registry") or not address:
        return []
    return [static("registry", address)]


def sidekiq(context: Context) -> list[dict]:
    values = context.section("sidekiq")
    if not values.get("enable") or not values.get("metrics_enabled"):
        return []
    target = f"{values['listen_address']}:{values['listen_port']}"
    return [static("gitlab-sidekiq", target, relabel_configs=LOCALHOST_RELABEL)]


def rails(context: Context) -> list[dict]:
    puma = context.section("puma")
    if not puma.get("enable"):
        return []
    if puma.get("ssl_listen") and puma.get("ssl_port"):
        address, port = puma["ssl_listen"], puma["ssl_port"]
    else:
        address, port = puma["listen"], puma["port"]
    server_name = puma.get("prometheus_scrape_tls_server_name") or address
    server_name = "localhost" if server_name == "127.0.0.1" else server_name
    # Puma's own TLS listener makes https the scheme (omnibus-gitlab's Puma library)
    tls = bool(puma.get("ssl_listen") and puma.get("ssl_port"))
    scheme = puma.get("prometheus_scrape_scheme") or ("https" if tls else None)
    return [static("gitlab-rails", f"{address}:{port}", metrics_path="/-/metrics",
                   relabel_configs=LOCALHOST_RELABEL,
                   **tls_config(scheme, server_name,
                                puma.get("prometheus_scrape_tls_skip_verification")))]


def workhorse(context: Context) -> list[dict]:
    address = context.section("gitlab_workhorse").get("prometheus_listen_addr")
    if not enabled(context, "gitlab_workhorse") or not address:
        return []
    return [static("gitlab-workhorse", address)]


def nginx(context: Context) -> list[dict]:
    if not enabled(context, "nginx"):
        return []
    status = context.section("nginx").get("status") or {}
    if status.get("enable") is False or status.get("vts_enable") is False:
        return []
    return [static("nginx", f"{status.get('fqdn') or 'localhost'}:{status.get('port') or 8060}")]


def kubernetes(job: str, role: str, metrics_path: str | None) -> dict[str, Any]:
    """One of the three Kubernetes jobs (cadvisor, nodes: role node; pods: role pod)."""
    tls = {"ca_file": f"{K8S_DIR}/ca.crt", "insecure_skip_verify": True}
    discovery = [{"role": role, "api_server": K8S_API, "tls_config": {"ca_file": tls["ca_file"]},
                  "bearer_token_file": f"{K8S_DIR}/token"}]
    if role == "pod":
        return {"job_name": job, "tls_config": tls, "bearer_token_file": f"{K8S_DIR}/token",
                "kubernetes_sd_configs": discovery, "relabel_configs": POD_RELABEL}
    return {
        "job_name": job, "scheme": "https", "tls_config": tls,
        "bearer_token_file": f"{K8S_DIR}/token", "kubernetes_sd_configs": discovery,
        "relabel_configs": [
            {"action": "labelmap", "regex": "__meta_kubernetes_node_label_(.+)"},
            {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
            {"source_labels": ["__meta_kubernetes_node_name"], "regex": "(.+)",
             "target_label": "__metrics_path__", "replacement": metrics_path}],
        "metric_relabel_configs": [{"source_labels": ["pod_name"],
                                    "target_label": "environment", "regex": "(.+)-.+-.+"}]}


POD_RELABEL = [
    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
     "action": "keep", "regex": "true"},
    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
     "action": "replace", "target_label": "__metrics_path__", "regex": "(.+)"},
    {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
     "action": "replace", "regex": "([^:]+)(?::[0-9]+)?;([0-9]+)", "replacement": "$1:$2",
     "target_label": "__address__"},
    {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
    {"source_labels": ["__meta_kubernetes_namespace"], "action": "replace",
     "target_label": "kubernetes_namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "action": "replace",
     "target_label": "kubernetes_pod_name"},
]
KUBERNETES_JOBS = (
    ("kubernetes-cadvisor", "node", "/api/v1/nodes/${1}/proxy/metrics/cadvisor"),
    ("kubernetes-nodes", "node", "/api/v1/nodes/${1}/proxy/metrics"),
    ("kubernetes-pods", "pod", None))
#: the service jobs in the order omnibus-gitlab adds them; each is put in front of the
#: list so far, so prometheus.yml lists them in reverse
SERVICE_JOBS: tuple[Callable[[Context], list[dict]], ...] = (
    gitaly, gitlab_exporter, registry, sidekiq, rails, workhorse)


def exporter(context: Context, job: str, section: str, jobs: list[dict]) -> list[dict]:
    """An exporter's job, unless a job of that name is there already (gitlab.rb's wins)."""
    values: Mapping[str, Any] = context.section(section)
    if not values.get("enable") or any(config.get("job_name") == job for config in jobs):
        return []
    return [static(job, values["listen_address"])]


def scrape_configs(context: Context) -> list[dict]:
    prometheus = context.section("prometheus")
    jobs: list[dict] = [dict(config) for config in prometheus.get("scrape_configs") or []]
    for service_jobs in SERVICE_JOBS:
        jobs = service_jobs(context) + jobs
    for job, section in EXPORTER_JOBS:
        jobs = exporter(context, job, section, jobs) + jobs
    jobs = nginx(context) + jobs
    jobs = [static("prometheus", prometheus["listen_address"]), *jobs]
    if prometheus.get("monitor_kubernetes") is not False:
        jobs += [kubernetes(*job) for job in KUBERNETES_JOBS]
    return jobs
