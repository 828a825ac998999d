#!/usr/bin/env bash
# Benchmark of `cargo fargate push` on the local bench, side by side in one run:
#   template  the default Dockerfile template (dependency layer cached)
#   host      the host builder (cargo on the host, image assembled without Docker)
#   naive     a one-stage Dockerfile: `COPY . .` then `cargo build --release`
#   codebuild the codebuild builder (source zip to S3, the build carried out by the bench agent);
#             (needs the bench agent that carries out CodeBuild builds: branch cb-agent)
# For each: cold build+push, code-only rebuild+push, a no-change run, the image's size in the
# registry, and the bytes the registry stored after the code-only change. Figures go to
# BENCHMARKS.md (and target/bench/build.json). Usage: scripts/bench-build.sh [variant ...]
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p target/bench
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(template host naive codebuild)

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
registry_bytes() { du -sb .bench/registry-data | cut -f1; }
# Compressed size of an image in the registry: config + layers, from its manifest.
image_bytes() {
  curl -s -u "AWS:123456789012-auth-token" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' \
    "http://$BENCH_REGISTRY/v2/$1/manifests/$2" |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))'
}
field() { python3 -c "import json,sys; r=[json.loads(l) for l in open('$1') if l.strip().startswith('{')]; r=[x for x in r if x.get('type')=='result'][-1]; print(eval('r' + sys.argv[1]))" "$2"; }
# Bytes the codebuild builder uploaded to S3 in one run (0 when the archive was there or no build ran).
uploaded() { python3 -c "import json; r=[json.loads(l) for l in open('$1') if l.strip().startswith('{')]; r=[x for x in r if x.get('type')=='result'][-1]; print((r.get('codebuild') or {}).get('uploaded_bytes', 0))"; }

results=()
for v in "${variants[@]}"; do
  dir="$work/$v"
  cp -r tests/fixtures/bench-app "$dir"
  # A fresh nonce in the manifest and the code: no cache from an earlier run (the engine's layers,
  # the registry's blobs) may answer for this one, so "cold" is cold.
  nonce="$(date +%s%N)"
  sed -i "s/^version = \"0.1.0\"/version = \"0.1.0\"\ndescription = \"bench run $nonce\"/" "$dir/Cargo.toml"
  repo="bench-$v-$nonce"
  export CARGO_FARGATE_REPOSITORY="$repo"
  export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
  export CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE"
  unset CARGO_FARGATE_DOCKERFILE CARGO_FARGATE_BUILDER
  case "$v" in
    template) ;;
    host) export CARGO_FARGATE_BUILDER=host CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE" ;;
    naive) export CARGO_FARGATE_DOCKERFILE=naive.Dockerfile ;;
    codebuild) export CARGO_FARGATE_BUILDER=codebuild CARGO_FARGATE_NAME="bench-cb-${nonce: -9}" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  echo "== $v" >&2
  t0=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-cold.json"); t1=$(now)
  sed -i "s/revision: 1/revision: ${nonce: -9}/" "$dir/src/main.rs"
  b0=$(registry_bytes)
  t2=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-code.json"); t3=$(now)
  b1=$(registry_bytes)
  t4=$(now); (cd "$dir" && "$bin" fargate push --message-format json >"$work/$v-same.json"); t5=$(now)
  tag=$(field "$work/$v-code.json" '["tags"][0]')
  up="-"
  if [ "$v" = codebuild ]; then
    up="$(uploaded "$work/$v-cold.json") / $(uploaded "$work/$v-code.json") / $(uploaded "$work/$v-same.json")"
    unset CARGO_FARGATE_NAME
  fi
  results+=("$v|$(secs "$t0" "$t1")|$(secs "$t2" "$t3")|$(secs "$t4" "$t5")|$(image_bytes "$repo" "$tag")|$((b1 - b0))|$(field "$work/$v-code.json" '["layers_pushed"]')|$up")
done

{
  echo '['
  sep=''
  for r in "${results[@]}"; do
    IFS='|' read -r v cold code same size pushed layers up <<<"$r"
    printf '%s{"variant":"%s","cold_s":%s,"code_change_s":%s,"no_change_s":%s,"image_bytes":%s,"bytes_stored_after_code_change":%s,"layers_pushed_after_code_change":%s,"bytes_uploaded_cold_code_same":"%s"}\n' "$sep" "$v" "$cold" "$code" "$same" "$size" "$pushed" "$layers" "$up"
    sep=','
  done
  echo ']'
} >target/bench/build.json

mib() { python3 -c "print(f'{$1/1048576:.1f} MiB')"; }
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench-build.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), the local bench"
  echo "(registry on 127.0.0.1, moto's ECR). Project: \`tests/fixtures/bench-app\` (serde, serde_json)."
  echo "Each variant: \`cargo fargate push\` cold, again after a code-only change to src/main.rs, and once"
  echo "more with no change. Image size is the compressed size in the registry (config + layers); bytes"
  echo "stored is how much the registry's storage grew on the code-only push."
  echo
  echo "| variant | cold build+push | code-only rebuild+push | no change | image size | bytes stored after code change | layers pushed | bytes uploaded to S3 (cold / code / none) |"
  echo "|---|---|---|---|---|---|---|---|"
  for r in "${results[@]}"; do
    IFS='|' read -r v cold code same size pushed layers up <<<"$r"
    echo "| $v | ${cold} s | ${code} s | ${same} s | $(mib "$size") | $(mib "$pushed") | $layers | $up |"
  done
  echo
  echo "- template: the default \`task-templates/Dockerfile\` (dependencies in their own cached layer, only the binary in a slim runtime image)."
  echo "- host: \`builder = \"host\"\`: cargo on the host, the image assembled over the registry API without Docker."
  echo "- codebuild: \`builder = \"codebuild\"\`: the build context as a zip to S3 (skipped when S3 has it), built and pushed by CodeBuild (the bench agent runs the buildspec in a container of the standard-image stand-in on this Engine). Layers pushed: not counted (the build pushes)."
  echo "- naive: \`COPY . .\` then \`cargo build --release\` in one stage (\`tests/fixtures/bench-app/naive.Dockerfile\`)."
} >BENCHMARKS.md
cat BENCHMARKS.md
