#!/usr/bin/env bash
# Copies the three.js module files that kpanim's viewer (kpanim/data/viewer/) needs from the npm
# `three` package (version pinned in package.json) into kpanim/data/viewer/vendor/three/, keeping
# three's relative imports working (see the file map below). The viewer must work offline, so
# three.js is shipped inside the Python package rather than loaded from a CDN.
# Usage: bash scripts/vendor_three.sh   (runs `npm install` first if node_modules/three is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/three ] || npm install --no-audit --no-fund --silent
src=node_modules/three
dst=kpanim/data/viewer/vendor/three
# source file in the npm package → destination under vendor/three (build/ is flattened: the repo
# ignores folders named build/; three's relative imports still resolve).
files=(
  "build/three.module.js:three.module.js"    # re-exports three.core.js + the WebGL renderer
  "build/three.core.js:three.core.js"
  "examples/jsm/loaders/GLTFLoader.js:addons/loaders/GLTFLoader.js"
  "examples/jsm/utils/BufferGeometryUtils.js:addons/utils/BufferGeometryUtils.js"  # imported by GLTFLoader
  "examples/jsm/utils/SkeletonUtils.js:addons/utils/SkeletonUtils.js"              # imported by GLTFLoader
  "examples/jsm/controls/OrbitControls.js:addons/controls/OrbitControls.js"
  # decoders for compressed characters (kpanim view --avatar): meshopt (MIT, in its header) and Draco's
  # glTF build (Apache-2.0: its README, with the licence text copied below)
  "examples/jsm/libs/meshopt_decoder.module.js:addons/libs/meshopt_decoder.module.js"
  "examples/jsm/loaders/DRACOLoader.js:addons/loaders/DRACOLoader.js"
  "examples/jsm/libs/draco/gltf/draco_decoder.wasm:addons/libs/draco/gltf/draco_decoder.wasm"
  "examples/jsm/libs/draco/gltf/draco_wasm_wrapper.js:addons/libs/draco/gltf/draco_wasm_wrapper.js"
  "examples/jsm/libs/draco/README.md:addons/libs/draco/README.md"
  "LICENSE:LICENSE"
)
rm -rf "$dst"
for pair in "${files[@]}"; do
  from=${pair%%:*}; to=${pair#*:}
  mkdir -p "$dst/$(dirname "$to")"
  cp "$src/$from" "$dst/$to"
done
cp kpanim/data/LICENSE-MediaPipe-Apache-2.0.txt "$dst/addons/libs/draco/LICENSE"  # the Apache-2.0 text
version=$(node -p "require('./$src/package.json').version")
echo "$version" > "$dst/VERSION"
echo "vendored three.js $version into $dst ($(du -sh "$dst" | cut -f1))"
