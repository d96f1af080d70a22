"""GitLab CI pipelines generated from the definitions: `omnibus ci generate`.

`pipeline` turns platforms/*.yml and projects/*.yml into a plain dict (one job per builder
image, per package and per repository, a facts job that locks every git source, a license
check); `render` writes it as YAML with a header; `runners` reads the runner tags
(templates/ci/runners.yml); `licensecheck` judges every package's licenses before any build.
"""
