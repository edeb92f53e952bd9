#!/usr/bin/env bash
# Refreshes the vendored Swagger UI that GET /docs serves, from the npm
# registry, at the pinned version (npm checks the tarball's integrity):
#
#   go generate ./internal/web
#
# The files are committed and embedded in the binary, so neither the build
# nor the running server needs the network or a CDN.
set -euo pipefail
version=5.35.0
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tar -xzf "$tmp/swagger-ui-dist-$version.tgz" -C "$tmp"
dst=docs/swagger-ui
rm -rf "$dst"
mkdir -p "$dst"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE; do
	cp "$tmp/package/$f" "$dst/$f"
done
# The source maps are not vendored; drop the comments that point at them.
sed -i '/^\/\/# sourceMappingURL=/d' "$dst/swagger-ui-bundle.js"
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$dst/swagger-ui.css"
echo "swagger-ui-dist@$version" >"$dst/VERSION"
