#!/usr/bin/env bash
# Local stand-ins for the base images a Rust Dockerfile needs, because no
# public image can be pulled on this machine:
#   builder: cargo-fargate-bench/rust:<host rustc X.Y>-bookworm
#            (Debian bookworm minbase + gcc + the host's rustup toolchain)
#   runtime: cargo-fargate-bench/debian:bookworm-slim
#            (Debian bookworm minbase + ca-certificates + passwd/adduser),
#            also pushed to the bench registry as
#            127.0.0.1:<port>/cargo-fargate-bench/debian:bookworm-slim
#            for the host builder, which reads base images over the registry API
#   codebuild: cargo-fargate-bench/codebuild-standard:7.0
#            (Debian bookworm minbase + docker CLI + aws-cli + git, zip, unzip,
#            bash, ca-certificates): where the bench agent runs CodeBuild builds
#   codebuild arm64: cargo-fargate-bench/codebuild-aarch64-standard:3.0
#            (the same for linux/arm64: CodeBuild's ARM environment, run under qemu)
# Idempotent: an image already in the engine is skipped (unless it was built
# from another host CA set or toolchain, see image_key). The debootstrapped
# root filesystems are cached as tarballs in .bench/ so a rebuild after
# `docker image rm` (or a wiped /var/lib/docker) skips debootstrap.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SUITE=bookworm

# The Debian mirror this machine's apt uses for $SUITE main (deb822 .sources
# files and one-line sources.list), so nothing else is hard-coded here.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") &&
            (" " comps " ") ~ / main / && enabled != "no" && uris != "") {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        types = suites = comps = uris = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "") }
      key == "types" { types = $0 } key == "suites" { suites = $0 }
      key == "components" { comps = $0 } key == "uris" { uris = $0 }
      key == "enabled" { enabled = tolower($0) }
      END { if (!found) flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [options] URI suite components...
    sed -E 's/\[[^]]*\]//' "$f" |
      awk -v suite="$SUITE" '$1 == "deb" && $3 == suite && (" " $0 " ") ~ / main / { print $2 }'
  done
}

# Official slim images keep dpkg from installing docs later on; do the same
# so `apt-get install` in a Dockerfile FROM these images stays small.
slim_rootfs() {
  local root="$1"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/bench-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/{man,groff,info,lintian}/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # Docker provides these at run time; the debootstrap copies are the host's.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  echo localhost >"$root/etc/hostname"
}

# Temp dirs to remove however we exit (they hold a whole root filesystem).
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT

# debootstrap once into a temp dir, then keep only a tarball in .bench/.
# Another architecture (arm64): debootstrap's first stage unpacks, its second runs in the new root
# under qemu (binfmt_misc, flag F: no interpreter copied in). Sets ROOTFS_TAR.
rootfs_tarball() { # name include-list [arch]
  local name="$1" include="$2" arch="${3:-}" dir
  ROOTFS_TAR="$BENCH_DIR/rootfs-$name.tar"
  [[ -s "$ROOTFS_TAR" ]] && return
  dir="$(mktemp -d "$BENCH_DIR/rootfs-$name.XXXXXX")"
  CLEANUP+=("$dir")
  log "$name: debootstrap --variant=minbase ${arch:+--arch=$arch }--include=$include $SUITE $MIRROR"
  mkdir -p "$BENCH_DIR/debootstrap-cache"
  local log_file="$BENCH_DIR/debootstrap-$name.log"
  # shellcheck disable=SC2086 # the arch options are two words
  if ! { timeout 1800 debootstrap --variant=minbase --include="$include" ${arch:+--arch=$arch --foreign} \
    --cache-dir="$BENCH_DIR/debootstrap-cache" "$SUITE" "$dir" "$MIRROR" >"$log_file" 2>&1 &&
    { [[ -z "$arch" ]] || emulated_second_stage "$dir" >>"$log_file" 2>&1; }; }; then
    tail -n 20 "$log_file" >&2
    die "$name: debootstrap failed (log .bench/debootstrap-$name.log)"
  fi
  slim_rootfs "$dir"
  tar --numeric-owner -C "$dir" -cf "$ROOTFS_TAR.tmp" .
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
}

# debootstrap's second stage of a foreign root, under qemu. dpkg leaves out what slim_rootfs would
# delete anyway, and py3compile: byte-compiling the AWS CLI's Python under emulation was most of the
# time this took (Python compiles what it imports when it runs instead).
emulated_second_stage() { # dir
  mkdir -p "$1/etc/dpkg/dpkg.cfg.d"
  printf 'path-exclude %s\n' /usr/bin/py3compile '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/locale/*' \
    >"$1/etc/dpkg/dpkg.cfg.d/bench-emulated"
  timeout 1800 chroot "$1" /debootstrap/debootstrap --second-stage
  rm -f "$1/etc/dpkg/dpkg.cfg.d/bench-emulated"
}

# This machine reaches the registries through a TLS-intercepting egress
# proxy whose CA is trusted on the host via /usr/local/share/ca-certificates
# (one of them is regenerated when the machine boots). Containers need the
# same trust or cargo fails with "self-signed certificate in certificate
# chain", so those local CAs are copied into both images.
HOST_CA_DIR=/usr/local/share/ca-certificates

host_ca_files() { [[ -d "$HOST_CA_DIR" ]] && find "$HOST_CA_DIR" -type f -name '*.crt' | LC_ALL=C sort; }

# What an image was built from; stored as a label so an image built with
# another host CA or toolchain is rebuilt instead of silently reused.
image_key() { # extra text
  { echo "bench-base-images v1 $1"; host_ca_files | while read -r f; do cat "$f"; done; } |
    sha256sum | cut -c1-16
}

image_current() { # tag key
  local have
  have="$(docker image inspect --format '{{index .Config.Labels "cargo-fargate-bench.key"}}' "$1" 2>/dev/null)" || return 1
  [[ "$have" == "$2" ]]
}

add_host_cas() {
  local root="$1" f n=0
  while read -r f; do
    [[ -n "$f" ]] || continue
    mkdir -p "$root$HOST_CA_DIR"
    cp "$f" "$root$HOST_CA_DIR/host-$(basename "$f")"
    n=$((n + 1))
  done < <(host_ca_files || true)
  ((n)) || return 0
  # (its "rehash: warning: skipping ca-certificates.crt" is normal noise)
  chroot "$root" update-ca-certificates >/dev/null 2>&1
  log "added $n host CA certificate(s) from $HOST_CA_DIR"
}

# Extract a cached rootfs tarball into a fresh staging dir. Sets STAGE.
stage_rootfs() {
  STAGE="$(mktemp -d "$BENCH_DIR/stage.XXXXXX")"
  CLEANUP+=("$STAGE")
  tar -C "$STAGE" -xf "$ROOTFS_TAR"
  add_host_cas "$STAGE"
}

import_stage() { # tag key message --change...
  local tag="$1" key="$2" msg="$3"; shift 3
  local changes=() c
  for c in "$@" "LABEL cargo-fargate-bench.key=$key"; do changes+=(--change "$c"); done
  log "docker import -> $tag"
  tar --numeric-owner -C "$STAGE" -cf - . |
    docker import "${changes[@]}" --message "$msg" - "$tag" >/dev/null
  rm -rf "$STAGE"
}

build_runtime() {
  local key; key="$(image_key runtime)"
  if image_current "$BENCH_RUNTIME_IMAGE" "$key"; then log "runtime: $BENCH_RUNTIME_IMAGE exists, skipping"; return; fi
  rootfs_tarball runtime ca-certificates,passwd,adduser
  stage_rootfs
  import_stage "$BENCH_RUNTIME_IMAGE" "$key" "cargo-fargate bench stand-in for debian:$SUITE-slim" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["bash"]'
  docker run --rm --network none "$BENCH_RUNTIME_IMAGE" sh -c 'command -v useradd && command -v adduser' >/dev/null ||
    die "runtime: useradd/adduser missing in $BENCH_RUNTIME_IMAGE"
}

build_builder() {
  # The default toolchain's sysroot (from / so no rust-toolchain file in the
  # caller's cwd overrides it), e.g. ~/.rustup/toolchains/stable-x86_64-...
  local sysroot version key f
  sysroot="$(cd / && rustc --print sysroot)"
  version="$(cd / && rustc --version | awk '{print $2}')"
  key="$(image_key "builder $(cd / && rustc -vV | tr '\n' ' ')")"
  if image_current "$BENCH_BUILDER_IMAGE" "$key"; then log "builder: $BENCH_BUILDER_IMAGE exists, skipping"; return; fi
  [[ -x "$sysroot/bin/cargo" && -x "$sysroot/bin/rustc" ]] || die "builder: no cargo/rustc in $sysroot"
  rootfs_tarball builder gcc,libc6-dev,ca-certificates,pkg-config
  stage_rootfs

  # Toolchain at /usr/local/rust without docs (~800 MB), man pages, rust-src
  # or rustup's manifests; /usr/local/cargo/bin on PATH like the official image.
  log "builder: copying rust $version from $sysroot"
  mkdir -p "$STAGE/usr/local/rust" "$STAGE/usr/local/cargo/bin"
  tar -C "$sysroot" --exclude=./share/doc --exclude=./share/man \
    --exclude=./lib/rustlib/src --exclude='./lib/rustlib/manifest-*' \
    --exclude=./lib/rustlib/multirust-channel-manifest.toml -cf - . |
    tar -C "$STAGE/usr/local/rust" -xf -
  for f in "$STAGE"/usr/local/rust/bin/*; do
    ln -s "/usr/local/rust/bin/${f##*/}" "$STAGE/usr/local/cargo/bin/${f##*/}"
  done
  chmod -R a+rX,go-w "$STAGE/usr/local/rust" "$STAGE/usr/local/cargo"

  import_stage "$BENCH_BUILDER_IMAGE" "$key" "cargo-fargate bench stand-in for rust:${version%.*}-$SUITE" \
    'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV CARGO_HOME=/usr/local/cargo' \
    "ENV RUST_VERSION=$version" \
    'CMD ["bash"]'
  docker run --rm --network none "$BENCH_BUILDER_IMAGE" cargo --version >&2 ||
    die "builder: cargo does not run in $BENCH_BUILDER_IMAGE"
}

# CodeBuild's standard image holds Docker (BuildKit on by default since Docker 23), the AWS CLI, git,
# zip/unzip and bash. Debian's docker.io brings the CLI (and a dockerd that is never started: privileged
# builds talk to the bench Engine through its mounted socket); awscli is Debian's AWS CLI v2.
build_codebuild() {
  local key; key="$(image_key codebuild-v2)"
  if image_current "$BENCH_CODEBUILD_IMAGE" "$key"; then log "codebuild: $BENCH_CODEBUILD_IMAGE exists, skipping"; return; fi
  # (python3-cffi-backend: a virtual dependency of awscli that debootstrap does not resolve)
  rootfs_tarball codebuild docker.io,awscli,python3-cffi-backend,git,zip,unzip,bash,ca-certificates,curl,jq,less,xz-utils
  stage_rootfs
  # Only the docker CLI is used: builds reach the bench Engine through its socket. The daemon side
  # (dockerd, containerd, runc: ~180 MB) goes.
  rm -f "$STAGE"/usr/sbin/{dockerd,runc,docker-proxy} "$STAGE"/usr/bin/{containerd,containerd-shim,containerd-shim-runc-v1,containerd-shim-runc-v2,ctr} \
    "$STAGE/var/run/docker.pid"
  import_stage "$BENCH_CODEBUILD_IMAGE" "$key" "cargo-fargate bench stand-in for aws/codebuild/standard:7.0" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV DOCKER_BUILDKIT=1' \
    'ENV LC_ALL=C.UTF-8' \
    'CMD ["bash"]'
  docker run --rm --network none "$BENCH_CODEBUILD_IMAGE" sh -c \
    'docker --version && aws --version && git --version && zip -v >/dev/null && unzip -v >/dev/null' >&2 ||
    die "codebuild: a tool is missing in $BENCH_CODEBUILD_IMAGE"
}

# CodeBuild's ARM environment: the codebuild stand-in's tools for linux/arm64, loaded as an arm64 image
# (`docker import` gives an image the Engine's architecture, so this one is `docker load`ed from a
# config that names arm64). The agent runs ARM_CONTAINER builds in it, under qemu.
build_codebuild_arm64() {
  local key; key="$(image_key codebuild-arm64-v2)"
  if image_current "$BENCH_CODEBUILD_ARM64_IMAGE" "$key"; then log "codebuild arm64: $BENCH_CODEBUILD_ARM64_IMAGE exists, skipping"; return; fi
  [[ -f /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
    die "codebuild arm64: qemu-aarch64 is not registered with binfmt_misc (scripts/bench.sh up registers it)"
  local t0=$SECONDS timing=codebuild-arm64.seconds
  [[ -s "$BENCH_DIR/rootfs-codebuild-arm64.tar" ]] && timing=codebuild-arm64-cached.seconds
  rootfs_tarball codebuild-arm64 docker.io,awscli,python3-cffi-backend,git,zip,unzip,bash,ca-certificates,curl,jq,less,xz-utils arm64
  stage_rootfs
  rm -f "$STAGE"/usr/sbin/{dockerd,runc,docker-proxy} "$STAGE"/usr/bin/{containerd,containerd-shim,containerd-shim-runc-v1,containerd-shim-runc-v2,ctr} \
    "$STAGE/var/run/docker.pid"
  load_stage "$BENCH_CODEBUILD_ARM64_IMAGE" "$key" arm64 "cargo-fargate bench stand-in for aws/codebuild/amazonlinux-aarch64-standard:3.0"
  docker run --rm --network none --platform linux/arm64 "$BENCH_CODEBUILD_ARM64_IMAGE" sh -c \
    'test "$(uname -m)" = aarch64 && docker --version && aws --version && git --version' >&2 ||
    die "codebuild arm64: a tool is missing in $BENCH_CODEBUILD_ARM64_IMAGE (or it does not run as arm64)"
  # What it cost this machine, with the debootstrap or from the root filesystem cached in .bench/
  # (scripts/bench-arm64.sh reports both).
  echo "$((SECONDS - t0)) s (load average $(cut -d' ' -f1 /proc/loadavg) at the end)" >"$BENCH_DIR/$timing"
}

# `docker load` of the staged root as one layer, with a config for `arch` (the codebuild image's
# environment, label and command).
load_stage() { # tag key arch message
  local tag="$1" key="$2" arch="$3" msg="$4" dir diff config
  dir="$(mktemp -d "$BENCH_DIR/load.XXXXXX")"
  CLEANUP+=("$dir")
  tar --numeric-owner -C "$STAGE" -cf "$dir/layer.tar" .
  rm -rf "$STAGE"
  diff="sha256:$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)"
  jq -cn --arg arch "$arch" --arg diff "$diff" --arg key "$key" --arg msg "$msg" '{
    architecture: $arch, os: "linux",
    config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_BUILDKIT=1", "LC_ALL=C.UTF-8"],
             Cmd: ["bash"], Labels: {"cargo-fargate-bench.key": $key}},
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created_by: $msg}]}' >"$dir/config.json"
  config="$(sha256sum "$dir/config.json" | cut -d' ' -f1).json"
  mv "$dir/config.json" "$dir/$config"
  jq -cn --arg c "$config" --arg t "$tag" '[{Config: $c, RepoTags: [$t], Layers: ["layer.tar"]}]' >"$dir/manifest.json"
  log "docker load -> $tag ($arch)"
  tar -C "$dir" -cf - manifest.json "$config" layer.tar | docker load -q >/dev/null
  rm -rf "$dir"
}

# The config digest (= image ID) of the remote runtime tag in the bench registry; empty when absent.
remote_image_id() {
  curl -s --max-time 10 -u "$BENCH_REGISTRY_USER:$BENCH_REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$BENCH_REGISTRY_PORT/v2/${BENCH_RUNTIME_IMAGE%:*}/manifests/${BENCH_RUNTIME_IMAGE##*:}" |
    tr -d ' \n' | grep -o '"config":{[^}]*}' | grep -o 'sha256:[0-9a-f]\{64\}' || true
}

# Push the runtime stand-in to the bench registry unless it already holds this very image (an
# image's ID is its config digest, which the push keeps).
push_runtime() {
  local remote="$BENCH_RUNTIME_IMAGE_REMOTE" cfg
  if [[ "$(remote_image_id)" == "$(docker image inspect --format '{{.Id}}' "$BENCH_RUNTIME_IMAGE")" ]]; then
    log "runtime: $remote is current, skipping"
    return
  fi
  # A throwaway client config, so no registry login is left in ~/.docker.
  cfg="$(mktemp -d)"
  CLEANUP+=("$cfg")
  local said
  # (its "credentials are stored unencrypted" warning is about that throwaway dir: kept quiet)
  said="$(printf '%s' "$BENCH_REGISTRY_PASSWORD" |
    DOCKER_CONFIG="$cfg" docker login -u "$BENCH_REGISTRY_USER" --password-stdin "127.0.0.1:$BENCH_REGISTRY_PORT" 2>&1)" ||
    die "runtime: docker login to the bench registry failed: $said"
  docker tag "$BENCH_RUNTIME_IMAGE" "$remote"
  log "runtime: docker push $remote"
  DOCKER_CONFIG="$cfg" docker push -q "$remote" >/dev/null
  docker image rm "$remote" >/dev/null # the tag only; the image stays
  rm -rf "$cfg"
}

main() {
  mkdir -p "$BENCH_DIR"
  ensure_cmds debootstrap:debootstrap docker:docker.io curl:curl jq:jq
  # The toolchain comes from the host's rustup, never from Debian's rustc.
  command -v rustc >/dev/null || die "rustc not found on PATH (the builder image copies the host toolchain)"
  # The engine comes from the bench; start it if this runs on its own.
  docker_answers || "$BENCH_ROOT/scripts/bench.sh" up
  MIRROR="$(apt_mirror | head -n1)"
  [[ -n "$MIRROR" ]] || die "no Debian mirror for $SUITE main found in /etc/apt/sources.list(.d)"
  build_runtime
  build_builder
  build_codebuild
  build_codebuild_arm64
  push_runtime
  echo "$BENCH_BUILDER_IMAGE"
  echo "$BENCH_RUNTIME_IMAGE"
  echo "$BENCH_RUNTIME_IMAGE_REMOTE"
  echo "$BENCH_CODEBUILD_IMAGE"
  echo "$BENCH_CODEBUILD_ARM64_IMAGE"
}

main "$@"
