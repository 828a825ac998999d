#!/usr/bin/env bash
# The main job on the local bench: a full `cargo fargate deploy` of examples/hello — the image built
# by the Docker Engine from the default template, pushed with the token moto's ECR hands out,
# registered with its roles, run in the VPC `setup` made for the project as a real container (the bench agent
# in moto's process pulls the image and runs it; its output reaches CloudWatch Logs) — after its plan
# (--dry-run); then a second deploy that finds everything up to date and whose job fails, so that it
# ends with the container's own output and exit code.
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"

# No public image can be pulled here: the template's base images are the bench's local stand-ins.
export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
export CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE"

cd examples/hello
# The stage's prerequisites, the account's own VPC among them (never the default one): planned, then made.
"$bin" fargate setup --dry-run
"$bin" fargate setup
"$bin" fargate doctor
"$bin" fargate config --stage dev
"$bin" fargate package
"$bin" fargate deploy --dry-run
"$bin" fargate deploy
"$bin" fargate ps --all
# examples/hello exits with HELLO_EXIT_CODE, and deploy with the container's exit code.
code=0
"$bin" fargate deploy -e HELLO_EXIT_CODE=3 || code=$?
echo "deploy exited $code: the container's own exit code"
[ "$code" = 3 ]
