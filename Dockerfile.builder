# The builder image of one platform and arch. Every fact comes from platforms/<id>.yml through
# build arguments (see builder/images.py); nothing here is specific to a distro.
#   BASE_IMAGE       the platform's base image: pulled from a registry, or bootstrapped locally
#   PACKAGE_INSTALL  the platform's install command, with {packages} already filled in
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PACKAGE_INSTALL
RUN sh -ec "${PACKAGE_INSTALL}"
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
# Sources are mounted at /src and the install prefix at /opt/gitlab for each build.
WORKDIR /src
