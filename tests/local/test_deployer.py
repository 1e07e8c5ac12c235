import json

import boto3
import pytest
from moto import mock_aws

from local.deployer import Deployer, DeployError, Resolver, Resource, generate_secret_string, topo_order
from local.gateway import routes_from

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def resolver(**extra):
    registry = {
        "Table": Resource("Table", "AWS::DynamoDB::Table", "orders-table",
                          {"Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders-table"}),
        "Queue": Resource("Queue", "AWS::SQS::Queue", "http://q/url", {"Arn": "arn:q", "QueueName": "q"}),
    }
    template = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        },
    }
    return Resolver("S1", template, registry, {"Other:Export": "imported"}, **extra)


def test_refs_and_pseudo_parameters():
    r = resolver()
    assert r.resolve({"Ref": "Table"}) == "orders-table"
    assert r.resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert r.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert r.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert r.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert r.resolve({"Ref": "AWS::StackName"}) == "S1"
    assert r.resolve({"Ref": "Stage"}) == "dev"
    with pytest.raises(DeployError):
        r.resolve({"Ref": "Nope"})


def test_getatt_join_sub_select_split_import():
    r = resolver()
    assert r.resolve({"Fn::GetAtt": ["Table", "Arn"]}).endswith(":table/orders-table")
    assert r.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "q"
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Table"}, "b"]]}) == "a-orders-table-b"
    assert r.resolve({"Fn::Sub": "${AWS::Region}/${Table}/${Queue.Arn}/${!Literal}"}) == \
        "us-east-1/orders-table/arn:q/${Literal}"
    assert r.resolve({"Fn::Sub": ["${X}-${Table}", {"X": {"Ref": "AWS::AccountId"}}]}) == "123456789012-orders-table"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert r.resolve({"Fn::ImportValue": "Other:Export"}) == "imported"
    with pytest.raises(DeployError):
        r.resolve({"Fn::ImportValue": "Missing"})
    with pytest.raises(DeployError):
        r.resolve({"Fn::GetAtt": ["Table", "StreamArn"]})


def test_conditions_and_no_value():
    r = resolver()
    assert r.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "small"
    assert r.resolve({"Fn::If": ["NotProd", "yes", "no"]}) == "yes"
    assert r.resolve({"A": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}) == {"B": 2}
    assert r.resolve([1, {"Ref": "AWS::NoValue"}, 3]) == [1, 3]


def test_topological_order_follows_refs_and_depends_on():
    resources = {
        "Fn": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Env": {"Fn::Sub": "${Table}"}}},
        "Role": {"Properties": {}},
        "Table": {"Properties": {}, "DependsOn": "Role"},
    }
    order = topo_order(resources)
    assert order.index("Role") < order.index("Table") < order.index("Fn")


def test_generated_secret_with_template():
    value = json.loads(generate_secret_string(
        {"SecretStringTemplate": '{"provider": "x"}', "GenerateStringKey": "easypost", "ExcludePunctuation": True}))
    assert value["provider"] == "x" and len(value["easypost"]) == 32 and value["easypost"].isalnum()


def test_fixture_app_deploys_into_moto(fixture_templates):
    with mock_aws(config=MOTO_CONFIG):
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        deployer = Deployer(session)
        for name, template in fixture_templates:
            deployer.deploy_stack(name, template)
        dep = deployer.deployment
        assert [n for n, _ in fixture_templates] == ["FixData", "FixApp"]

        table = dep.resources("AWS::DynamoDB::Table")[0].ref
        ddb = session.client("dynamodb")
        desc = ddb.describe_table(TableName=table)["Table"]
        assert desc["GlobalSecondaryIndexes"][0]["IndexName"] == "by_status"
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expiration"

        echo = next(f for f in dep.functions.values() if f.logical_id.startswith("Echo"))
        assert echo.environment["TABLE_NAME"] == table  # Fn::ImportValue across stacks
        assert echo.environment["REGION_INFO"] == "us-east-1-123456789012"
        assert echo.handler == "fixture_fns.handlers.echo" and echo.code_dir.endswith("fixture_code")
        assert echo.timeout == 3 and echo.memory == 256

        sqs = session.client("sqs")
        jobs = next(r for r in dep.resources("AWS::SQS::Queue") if not r.logical_id.startswith("JobsDlq"))
        redrive = json.loads(sqs.get_queue_attributes(QueueUrl=jobs.ref, AttributeNames=["RedrivePolicy"])[
            "Attributes"]["RedrivePolicy"])
        assert redrive["maxReceiveCount"] == 2 and redrive["deadLetterTargetArn"].endswith("JobsDlqB53173A1")

        secret_arn = echo.environment["SECRET_ARN"]
        secret = json.loads(session.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
        assert secret["provider"] == "easypost" and secret["easypost"]
        assert "orders@example.com" in session.client("ses").list_identities()["Identities"]

        machine = dep.resources("AWS::StepFunctions::StateMachine")[0]
        definition = json.loads(session.client("stepfunctions").describe_state_machine(
            stateMachineArn=machine.ref)["definition"])
        assert definition["States"]["Pay"]["Resource"].endswith(":function:FixApp-Fail795F0B6F")

        pool = dep.resources("AWS::Cognito::UserPool")[0]
        assert pool.attrs["ProviderURL"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.ref}"
        groups = session.client("cognito-idp").list_groups(UserPoolId=pool.ref)["Groups"]
        assert [g["GroupName"] for g in groups] == ["ops"]
        assert dep.outputs["FixApp"]["ClientId"] == dep.resources("AWS::Cognito::UserPoolClient")[0].ref

        [source] = dep.event_sources
        assert source.batch_size == 5 and source.report_batch_item_failures

        routes = {(r.method, r.resource): r for r in routes_from(dep)}
        assert set(routes) == {("GET", "/items"), ("POST", "/items"), ("GET", "/items/{item_id}"),
                               ("POST", "/public")}
        post = routes[("POST", "/items")]
        assert post.authorization == "COGNITO_USER_POOLS" and post.pool_ids == [pool.ref]
        assert post.required_headers == ["Idempotency-Key"] and post.function_arn == echo.arn
        assert routes[("POST", "/public")].authorization == "NONE"
