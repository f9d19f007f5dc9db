#!/usr/bin/env bash
# LocalStack ready hook: build and deploy template.yaml with samlocal.
set -euo pipefail
pip install --quiet "aws-sam-cli-local>=1.50" "aws-sam-cli>=1.120"
cd /project
samlocal build
samlocal deploy --stack-name mintaka --resolve-s3 --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \
  --no-confirm-changeset --no-fail-on-empty-changeset --parameter-overrides TablePrefix=local-
awslocal cloudformation describe-stacks --stack-name mintaka --query "Stacks[0].Outputs"
