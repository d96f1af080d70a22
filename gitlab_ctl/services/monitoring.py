"""omnibus-gitlab's "monitoring" group, in its recipe order: Prometheus, Alertmanager and
the exporters (all off with prometheus_monitoring['enable'] = false)."""

from __future__ import annotations

from gitlab_ctl.services import alertmanager, exporters, gitlab_exporter, prometheus

SERVICES = (prometheus.SERVICE, alertmanager.SERVICE, *exporters.SERVICES,
            gitlab_exporter.SERVICE)
