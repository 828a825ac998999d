#!/usr/bin/env bash
# The main job on the local bench: a full `cargo fargate deploy` of examples/hello — the image built
# by the Docker Engine from the default template, pushed with the token moto's ECR hands out,
# registered with its roles, run in a VPC of the account's own as a real container (the bench agent
# in moto's process pulls the image and runs it; its output reaches CloudWatch Logs) — after its plan
# (--dry-run); then a second deploy that finds everything up to date and whose job fails, so that it
# ends with the container's own output and exit code.
set -euo pipefail
# shellcheck source=scripts/lib/ready.sh
source "$(dirname "$0")/lib/ready.sh"
aws() { "$BENCH_VENV/bin/aws" --output text "$@"; }

# The account's own VPC (never the default one): made once per moto run, found again after.
vpc=$(aws ec2 describe-vpcs --filters Name=tag:Name,Values=cargo-fargate-demo --query 'Vpcs[0].VpcId')
if [ "$vpc" = None ] || [ -z "$vpc" ]; then
  vpc=$(aws ec2 create-vpc --cidr-block 10.99.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=cargo-fargate-demo}]' --query Vpc.VpcId)
  aws ec2 modify-vpc-attribute --vpc-id "$vpc" --enable-dns-hostnames
  aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.99.1.0/24 --query Subnet.SubnetId >/dev/null
  aws ec2 create-security-group --vpc-id "$vpc" --group-name cargo-fargate-demo --description "cargo-fargate demo" --query GroupId >/dev/null
fi
CARGO_FARGATE_SUBNETS=$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc" --query 'Subnets[0].SubnetId')
CARGO_FARGATE_SECURITY_GROUPS=$(aws ec2 describe-security-groups --filters "Name=vpc-id,Values=$vpc" Name=group-name,Values=cargo-fargate-demo --query 'SecurityGroups[0].GroupId')
export CARGO_FARGATE_SUBNETS CARGO_FARGATE_SECURITY_GROUPS
# No public image can be pulled here: the template's base images are the bench's local stand-ins.
export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
export CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE"

cd examples/hello
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
