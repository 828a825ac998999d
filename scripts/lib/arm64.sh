# shellcheck shell=bash
# arm64 (Graviton) on an x86_64 bench, sourced by scripts/bench.sh (`ensure_arm64` in `up`):
#   - the cross toolchain the host builder finds: aarch64-linux-gnu-gcc and the arm64 C library
#     (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross), and a Rust standard library for
#     aarch64-unknown-linux-gnu. rustup cannot fetch targets here (no static.rust-lang.org), so it is
#     Debian's: rustc-web (bookworm's current Rust, at /usr/bin/rustc) with libstd-rust-web-dev:arm64
#     through dpkg multiarch;
#   - qemu's arm64 interpreter registered with binfmt_misc (flag F: the kernel keeps it open, so it
#     also runs in containers), which lets the Engine run arm64 containers, as the agent does for an
#     ARM64 task.
# Idempotent: does nothing when all is there. A machine whose kernel has no binfmt_misc says so and
# the arm64 tests fail (never skip). Needs root only when something is missing.

ARM64_RUST_STD_GLOB='/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-*.rlib'
ARM64_BINFMT=/proc/sys/fs/binfmt_misc/qemu-aarch64

arm64_rust_std() { compgen -G "$ARM64_RUST_STD_GLOB" >/dev/null; }

ensure_arm64() {
  [[ "$(uname -m)" == x86_64 ]] || { log "arm64: this is a $(uname -m) machine, nothing to cross"; return 0; }
  ensure_cmds aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static
  [[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ]] || ensure_pkgs libc6-dev-arm64-cross
  if ! arm64_rust_std; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      log "arm64: dpkg --add-architecture arm64 (for libstd-rust-web-dev:arm64)"
      dpkg --add-architecture arm64
      _BENCH_APT_UPDATED=0 # the arm64 package lists are new
    fi
    ensure_pkgs rustc-web libstd-rust-web-dev:arm64
    arm64_rust_std || die "arm64: no Rust standard library for aarch64 after installing libstd-rust-web-dev:arm64"
  fi
  ensure_binfmt_arm64
}

# Install packages by name (ensure_cmds goes by command); same apt-get update rule.
ensure_pkgs() {
  [[ "$(id -u)" == 0 ]] || die "missing packages $* and not root; install them first"
  if [[ "$_BENCH_APT_UPDATED" == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o Acquire::http::Timeout=60 update -qq >&2
    _BENCH_APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 \
    -o Acquire::http::Timeout=60 install -y -qq --no-install-recommends "$@" >&2
}

# qemu-aarch64 in binfmt_misc: mounted first if need be, then registered with Debian's magic and mask
# (/usr/lib/binfmt.d/qemu-aarch64.conf) but the static interpreter and flag F.
ensure_binfmt_arm64() {
  if [[ -f "$ARM64_BINFMT" ]] && grep -qx enabled "$ARM64_BINFMT"; then return 0; fi
  [[ "$(id -u)" == 0 ]] || die "arm64: qemu-aarch64 is not registered with binfmt_misc and not root to register it"
  if [[ ! -f /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
      die "arm64: binfmt_misc cannot be mounted here (the kernel lacks it, or this container may not mount it): arm64 containers cannot run on this Engine"
  fi
  [[ -f "$ARM64_BINFMT" ]] && echo 1 >"$ARM64_BINFMT" && return 0 # registered but disabled
  local magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
  local mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  log "arm64: registering /usr/bin/qemu-aarch64-static with binfmt_misc"
  echo ":qemu-aarch64:M::$magic:$mask:/usr/bin/qemu-aarch64-static:OCF" >/proc/sys/fs/binfmt_misc/register ||
    die "arm64: registering qemu-aarch64 with binfmt_misc failed"
}
