import os

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
FIXTURE_APP = "tests.local.cdk_app:create_app"


@pytest.fixture(scope="session")
def fixture_templates():
    """The fixture CDK app, synthesized once per session (the first synth costs ~5-8 s)."""
    from local.synth import synthesize

    return synthesize(FIXTURE_APP)
