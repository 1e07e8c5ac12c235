"""The OMS CDK app (see infra.app)."""

import os

# aws-cdk-lib runs on Node 20 here; silence jsii's end-of-life banner before anything imports aws_cdk.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
