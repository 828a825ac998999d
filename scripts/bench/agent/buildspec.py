"""A CodeBuild buildspec (version 0.2), read and turned into ONE shell script that runs the whole build,
as CodeBuild runs it: every command in the same shell session (variables and `cd` carry over), a failing
command fails its phase (its other commands are skipped, its `finally` block still runs), an INSTALL or
PRE_BUILD failure ends the build, a BUILD failure still runs POST_BUILD with CODEBUILD_BUILD_SUCCEEDING=0.

The script reports to the agent on stdout with marker lines `<token> PHASE|DONE|EXPORT|END ...` (the token
is random per build and not in the build's environment); every other line is the build's log."""

import base64
import re
import secrets
from dataclasses import dataclass, field

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SHELLS = {"bash": "/bin/bash", "/bin/bash": "/bin/bash", "sh": "/bin/sh", "/bin/sh": "/bin/sh"}


class BuildspecError(Exception):
    """What CodeBuild reports as YAML_FILE_ERROR."""


@dataclass
class Phase:
    commands: list = field(default_factory=list)
    finally_: list = field(default_factory=list)
    on_failure: str = "ABORT"


@dataclass
class Buildspec:
    shell: str = "/bin/sh"
    variables: dict = field(default_factory=dict)
    exported: list = field(default_factory=list)
    phases: dict = field(default_factory=dict)  # name -> Phase


def _commands(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, (str, int, float, bool)) for c in value):
        raise BuildspecError(f"Expected Commands[*] to be of string type: found subkey with non-string type at {where}")
    return [str(c) for c in value]


def parse(text: str) -> Buildspec:
    """The buildspec's YAML; BuildspecError with CodeBuild's kind of message when it is not one."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BuildspecError(f"Error parsing YAML: {e}".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise BuildspecError("Invalid buildspec: the file is not a YAML mapping")
    version = str(doc.get("version", ""))
    if version not in ("0.2", "0.1"):
        raise BuildspecError(f"invalid buildspec version: {version or 'missing'} (expected 0.2)")
    spec = Buildspec()
    env = doc.get("env") or {}
    if not isinstance(env, dict):
        raise BuildspecError("Expected env to be of map type")
    shell = env.get("shell")
    if shell is not None:
        if str(shell) not in SHELLS:
            raise BuildspecError(f"Unsupported shell: {shell} (bash or /bin/sh on Linux)")
        spec.shell = SHELLS[str(shell)]
    variables = env.get("variables") or {}
    if not isinstance(variables, dict):
        raise BuildspecError("Expected env.variables to be of map type")
    spec.variables = {str(k): "" if v is None else str(v) for k, v in variables.items()}
    exported = env.get("exported-variables") or []
    if not isinstance(exported, list):
        raise BuildspecError("Expected env.exported-variables to be of list type")
    spec.exported = [str(v) for v in exported]
    for v in spec.exported:
        if not NAME.fullmatch(v):
            raise BuildspecError(f"env.exported-variables: {v!r} is not a variable name")
    for key in ("parameter-store", "secrets-manager"):
        if env.get(key):
            raise BuildspecError(f"env.{key} is not carried out by the bench agent (see its header)")
    phases = doc.get("phases") or {}
    if not isinstance(phases, dict):
        raise BuildspecError("Expected phases to be of map type")
    for name, body in phases.items():
        if name not in PHASES:
            raise BuildspecError(f"Unknown phase: {name}")
        body = body or {}
        if not isinstance(body, dict):
            raise BuildspecError(f"Expected phases.{name} to be of map type")
        on_failure = str(body.get("on-failure", "ABORT")).upper()
        if on_failure not in ("ABORT", "CONTINUE"):
            raise BuildspecError(f"phases.{name}.on-failure: {on_failure} is not carried out by the bench (ABORT or CONTINUE)")
        spec.phases[name] = Phase(
            commands=_commands(body.get("commands"), f"phases.{name}.commands"),
            finally_=_commands(body.get("finally"), f"phases.{name}.finally"),
            on_failure=on_failure,
        )
    return spec


def _q(s: str) -> str:
    """POSIX single-quoted."""
    return "'" + s.replace("'", "'\\''") + "'"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def script(spec: Buildspec, src_dir: str) -> tuple[str, str]:
    """(token, script). The script runs under `spec.shell`; it never exits non-zero on its own: the
    outcome is in its markers (a missing END marker means a command ended the shell)."""
    token = "@@cfb-" + secrets.token_hex(12)
    out = [
        f"__cfb_t={token}",
        '__cfb_mark() { printf \'%s %s\\n\' "$__cfb_t" "$*"; }',
        "__cfb_log() { printf '\\n[Container] %s %s\\n' \"$(date -u '+%Y/%m/%d %H:%M:%S.%6N')\" \"$*\"; }",
        # A command: logged, run in this shell, its status noted. Fails the phase when it fails.
        "__cfb_run() {",
        '  __cfb_log "Running command $(printf %s "$1" | base64 -d)"',
        '  eval "$(printf %s "$1" | base64 -d)"',
        "  __cfb_rc=$?",
        '  if [ "$__cfb_rc" -ne 0 ]; then',
        '    __cfb_log "Command did not exit successfully $(printf %s "$1" | base64 -d) exit status $__cfb_rc"',
        '    __cfb_ok=0; __cfb_cmd="$1"; __cfb_code="$__cfb_rc"',
        "  fi",
        "}",
        "export CODEBUILD_BUILD_SUCCEEDING=1",
        "__cfb_stop=0",
        f"cd {_q(src_dir)}",
    ]
    for name in PHASES:
        phase = spec.phases.get(name, Phase())
        upper = name.upper()
        # POST_BUILD runs after a failed BUILD; every phase is skipped once an earlier one aborted.
        out.append('if [ "$__cfb_stop" = 0 ]; then')
        out.append(f"  __cfb_mark PHASE {upper}")
        out.append(f'  __cfb_log "Entering phase {upper}"')
        out.append("  __cfb_ok=1; __cfb_cmd=; __cfb_code=0")
        for c in phase.commands:
            out.append(f'  if [ "$__cfb_ok" = 1 ]; then __cfb_run {_b64(c)}; fi')
        if phase.finally_:
            out.append('  __cfb_keep_ok=$__cfb_ok; __cfb_keep_cmd=$__cfb_cmd; __cfb_keep_code=$__cfb_code; __cfb_ok=1')
            for c in phase.finally_:
                out.append(f'  if [ "$__cfb_ok" = 1 ]; then __cfb_run {_b64(c)}; fi')
            # the first failure (commands before finally) is the one reported
            out.append('  if [ "$__cfb_keep_ok" = 0 ]; then __cfb_ok=0; __cfb_cmd=$__cfb_keep_cmd; __cfb_code=$__cfb_keep_code; fi')
        out.append('  if [ "$__cfb_ok" = 1 ]; then')
        out.append(f'    __cfb_log "Phase complete: {upper} State: SUCCEEDED"')
        out.append(f"    __cfb_mark DONE {upper} SUCCEEDED")
        out.append("  else")
        out.append("    export CODEBUILD_BUILD_SUCCEEDING=0")
        out.append(f'    __cfb_log "Phase complete: {upper} State: FAILED"')
        out.append(f'    __cfb_mark DONE {upper} FAILED "$__cfb_code" "$__cfb_cmd"')
        if name in ("install", "pre_build") and phase.on_failure == "ABORT":
            out.append("    __cfb_stop=1")
        out.append("  fi")
        out.append("fi")
    for var in spec.exported:
        # exported whether or not the build succeeded; unset ones are reported empty (AWS shows "")
        out.append(f'__cfb_mark EXPORT {var} "$(printf %s "${{{var}:-}}" | base64 -w0)"')
    out.append("__cfb_mark END")
    out.append("exit 0")
    return token, "\n".join(out) + "\n"
