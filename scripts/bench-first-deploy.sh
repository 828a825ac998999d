#!/usr/bin/env bash
# From nothing to the first container's output: `cargo fargate init`, `setup` (the project's VPC,
# repository, cluster, log group, roles) and `deploy` (build, push, register, run, the task's
# output and exit code) of examples/hello on the bench, timed — against the aws-cli walkthrough of
# the guides users follow (../shared/reference 003, plus the VPC and IAM steps of 000 and 004),
# whose commands and hand edits are listed below and counted. Writes the "First deploy" section
# of BENCHMARKS.md. Needs the bench (scripts/bench.sh up; eval "$(scripts/bench.sh env)").
# Usage: scripts/bench-first-deploy.sh [BIN] (default: target/debug/cargo-fargate).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/cargo-fargate}")"
[ -x "$bin" ] || { echo "error: no $bin: build it first (cargo build)" >&2; exit 1; }
[ -n "${CARGO_FARGATE_BENCH:-}" ] || { echo "error: the bench is not up: scripts/bench.sh up && eval \"\$(scripts/bench.sh env)\"" >&2; exit 1; }
work="$(mktemp -d)"
name="first$(date +%s)"
cleanup() {
  (cd "$work/app" && CARGO_FARGATE_NAME="$name" "$bin" fargate teardown --yes --force >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/app"
cp -r examples/hello/src examples/hello/Cargo.toml "$work/app/"
# The example already has its section: start from a project that has none, as a new user does.
python3 - "$work/app/Cargo.toml" <<'PY'
import sys
p = sys.argv[1]
keep, skipping = [], False
for line in open(p).read().splitlines(keepends=True):
    if line.startswith("["):
        skipping = line.startswith("[package.metadata.fargate")
    if not skipping:
        keep.append(line)
open(p, "w").write("".join(keep))
PY
# The bench's stand-ins for the builder and runtime base images (what the tests use).
export CARGO_FARGATE_BUILDER_IMAGE="$CARGO_FARGATE_TEST_BUILDER_IMAGE"
export CARGO_FARGATE_RUNTIME_IMAGE="$CARGO_FARGATE_TEST_RUNTIME_IMAGE"
export CARGO_FARGATE_NAME="$name"
ms() { echo $(( ($2 - $1) / 1000000 )); }

t0=$(date +%s%N)
(cd "$work/app" && "$bin" fargate init >/dev/null 2>&1)
t1=$(date +%s%N)
(cd "$work/app" && "$bin" fargate setup >"$work/setup.out" 2>&1) || { cat "$work/setup.out" >&2; exit 1; }
t2=$(date +%s%N)
(cd "$work/app" && "$bin" fargate deploy >"$work/deploy.out" 2>&1) || { cat "$work/deploy.out" >&2; exit 1; }
t3=$(date +%s%N)
grep -q "Hello" "$work/deploy.out" || { echo "error: the container's output did not come back" >&2; cat "$work/deploy.out" >&2; exit 1; }
made=$(grep -c "^ *\(Network\|Created\|Role\)" "$work/setup.out" || true)
init_ms=$(ms "$t0" "$t1"); setup_ms=$(ms "$t1" "$t2"); deploy_ms=$(ms "$t2" "$t3")
total_s=$(awk "BEGIN { printf \"%.1f\", ($t3 - $t0) / 1e9 }")

# The aws-cli walkthrough, one command per line ('#' lines are files written by hand).
walkthrough=$(cat <<'STEPS'
aws ec2 create-vpc --cidr-block 10.0.0.0/16
aws ec2 modify-vpc-attribute --vpc-id VPC --enable-dns-hostnames
aws ec2 create-subnet --vpc-id VPC --cidr-block 10.0.0.0/20 --availability-zone A
aws ec2 create-subnet --vpc-id VPC --cidr-block 10.0.16.0/20 --availability-zone B
aws ec2 create-internet-gateway
aws ec2 attach-internet-gateway --internet-gateway-id IGW --vpc-id VPC
aws ec2 create-route-table --vpc-id VPC
aws ec2 create-route --route-table-id RTB --destination-cidr-block 0.0.0.0/0 --gateway-id IGW
aws ec2 associate-route-table --route-table-id RTB --subnet-id SUBNET_A
aws ec2 associate-route-table --route-table-id RTB --subnet-id SUBNET_B
aws ec2 create-security-group --group-name app --description app --vpc-id VPC
# deployer-policy.json: the least-privilege deploy policy (000, 004)
aws iam create-policy --policy-name deploy --policy-document file://deployer-policy.json
aws iam create-user --user-name deploy
aws iam attach-user-policy --user-name deploy --policy-arn POLICY_ARN
aws iam create-access-key --user-name deploy
# ~/.aws/credentials + ~/.aws/config: the deploy profile with the new key (000, 004)
aws ecs create-cluster --cluster-name app
aws ecr create-repository --repository-name app
# lifecycle.json: expire untagged images (001)
aws ecr put-lifecycle-policy --repository-name app --lifecycle-policy-text file://lifecycle.json
aws logs create-log-group --log-group-name /ecs/app
# task-trust.json: ecs-tasks.amazonaws.com may assume the task role (003)
aws iam create-role --role-name app-task --assume-role-policy-document file://task-trust.json
aws iam create-role --role-name app-execution --assume-role-policy-document file://task-trust.json
aws iam attach-role-policy --role-name app-execution --policy-arn arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy
# Dockerfile: build the Rust binary and a runtime image (003)
docker build -t app .
aws ecr get-login-password | docker login --username AWS --password-stdin ACCOUNT.dkr.ecr.REGION.amazonaws.com
docker tag app:latest ACCOUNT.dkr.ecr.REGION.amazonaws.com/app:v1
docker push ACCOUNT.dkr.ecr.REGION.amazonaws.com/app:v1
# task-definition.json: image URI, roles, cpu/memory, awslogs, account and region filled in (003)
aws ecs register-task-definition --cli-input-json file://task-definition.json
aws ecs run-task --cluster app --launch-type FARGATE --task-definition app:1 --network-configuration awsvpcConfiguration={subnets=[SUBNET_A,SUBNET_B],securityGroups=[SG],assignPublicIp=ENABLED}
aws ecs wait tasks-stopped --cluster app --tasks TASK
aws ecs describe-tasks --cluster app --tasks TASK
aws logs get-log-events --log-group-name /ecs/app --log-stream-name ecs/app/TASK_ID
STEPS
)
cli_commands=$(grep -vc '^#' <<<"$walkthrough")
cli_edits=$(grep -c '^#' <<<"$walkthrough")
# Values read from one command's output and typed into a later one (VPC, IGW, RTB, SUBNET_A, ...).
cli_copies=$(grep -v '^#' <<<"$walkthrough" | grep -o '\b\(VPC\|IGW\|RTB\|SUBNET_A\|SUBNET_B\|SG\|POLICY_ARN\|ACCOUNT\|REGION\|TASK\|TASK_ID\)\b' | wc -l)
load=$(cut -d' ' -f1-3 /proc/loadavg)

section=$(cat <<MD
## First deploy

Written by \`scripts/bench-first-deploy.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $load,
binary \`${bin#"$PWD"/}\`, on the bench (moto + the bench agent; the image built by the Docker Engine). A project
with nothing of its own in the account (examples/hello without its \`[package.metadata.fargate]\`
section; the bench's one account, whose default VPC is all the network it has besides the tests').

| | cargo-fargate | aws-cli walkthrough (reference 003 + VPC/IAM of 000, 004) |
|---|---|---|
| commands | 3 (\`init\`, \`setup\`, \`deploy\`) | $cli_commands |
| files written by hand | 0 | $cli_edits (Dockerfile, task definition, trust and deploy policies, lifecycle policy, credentials profile) |
| IDs copied from one command into another | 0 | $cli_copies |
| long-lived access keys made | 0 (\`setup --ci\` / \`--deployer-trust\`: a role) | 1 |
| time: \`init\` | $init_ms ms | |
| time: \`setup\` ($made parts made: the network's, repository, cluster, log group, roles) | $setup_ms ms | |
| time: \`deploy\` (build, push, register, run to the container's exit, its output) | $deploy_ms ms | |
| total, empty account to the container's output | $total_s s | |

The walkthrough's commands are listed in the script; its time is not measured (most of it is a
person reading IDs out of JSON). \`deploy\`'s time is mostly the image build (\`builder = "docker"\`; the
Engine's build cache may hold the example's dependency layers from earlier runs).
MD
)
printf '%s\n' "$section" | python3 scripts/lib/benchmarks.py -
echo "$section"
