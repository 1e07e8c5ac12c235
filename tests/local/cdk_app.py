"""A small CDK app using the same resource types as infra/ (the deployer's unit-test fixture)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

CODE = str(Path(__file__).parent / "fixture_code")


class DataStack(cdk.Stack):
    def __init__(self, scope, cid: str, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.table = ddb.Table(
            self, "Items",
            partition_key=ddb.Attribute(name="pk", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="sk", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
        )
        self.table.add_global_secondary_index(
            index_name="by_status",
            partition_key=ddb.Attribute(name="status", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="created_key", type=ddb.AttributeType.STRING),
        )


class AppStack(cdk.Stack):
    def __init__(self, scope, cid: str, table: ddb.Table, **kw) -> None:
        super().__init__(scope, cid, **kw)
        code = lambda_.Code.from_asset(CODE)

        def fn(name: str, handler: str, **env: str) -> lambda_.Function:
            return lambda_.Function(
                self, name, runtime=lambda_.Runtime.PYTHON_3_12, code=code, handler=handler,
                timeout=cdk.Duration.seconds(3), memory_size=256,
                environment={"TABLE_NAME": table.table_name, "POWERTOOLS_SERVICE_NAME": name, **env},
            )

        dlq = sqs.Queue(self, "JobsDlq")
        queue = sqs.Queue(
            self, "Jobs", visibility_timeout=cdk.Duration.seconds(3),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=2),
        )
        topic = sns.Topic(self, "Alerts")
        secret = sm.Secret(
            self, "WebhookSecrets",
            generate_secret_string=sm.SecretStringGenerator(
                secret_string_template='{"provider":"easypost"}', generate_string_key="easypost",
                exclude_punctuation=True,
            ),
        )
        ses.EmailIdentity(self, "Sender", identity=ses.Identity.email("orders@example.com"))

        echo = fn("Echo", "fixture_fns.handlers.echo", QUEUE_URL=queue.queue_url,
                  TOPIC_ARN=topic.topic_arn, SECRET_ARN=secret.secret_arn,
                  WAREHOUSES="w1,w2", REGION_INFO=cdk.Fn.sub("${AWS::Region}-${AWS::AccountId}"))
        fail = fn("Fail", "fixture_fns.handlers.fail")
        batch = fn("Batch", "fixture_fns.handlers.batch")
        batch.add_event_source(sources.SqsEventSource(queue, batch_size=5, report_batch_item_failures=True))
        table.grant_read_write_data(echo)

        pay = tasks.LambdaInvoke(self, "Pay", lambda_function=fail, payload_response_only=True,
                                 payload=sfn.TaskInput.from_object({"kind.$": "$.kind"}))
        pay.add_retry(errors=["TransientError"], interval=cdk.Duration.seconds(2), max_attempts=2)
        closed = tasks.LambdaInvoke(self, "Close", lambda_function=echo, payload_response_only=True)
        pay.add_catch(closed, errors=["PaymentDeclined"], result_path="$.error")
        done = tasks.LambdaInvoke(self, "Done", lambda_function=echo, payload_response_only=True)
        self.machine = sfn.StateMachine(
            self, "Workflow", definition_body=sfn.DefinitionBody.from_chainable(pay.next(done)),
        )

        pool = cognito.UserPool(self, "Users", sign_in_aliases=cognito.SignInAliases(email=True),
                                self_sign_up_enabled=False)
        client = pool.add_client("Web", auth_flows=cognito.AuthFlow(admin_user_password=True, user_password=True))
        cognito.CfnUserPoolGroup(self, "Ops", user_pool_id=pool.user_pool_id, group_name="ops")

        api = apigw.RestApi(self, "Api", deploy_options=apigw.StageOptions(stage_name="v1"))
        auth = apigw.CognitoUserPoolsAuthorizer(self, "Auth", cognito_user_pools=[pool])
        integ = apigw.LambdaIntegration(echo)
        items = api.root.add_resource("items")
        items.add_method("GET", integ, authorizer=auth, authorization_type=apigw.AuthorizationType.COGNITO)
        items.add_method(
            "POST", integ, authorizer=auth, authorization_type=apigw.AuthorizationType.COGNITO,
            request_parameters={"method.request.header.Idempotency-Key": True},
            request_validator_options=apigw.RequestValidatorOptions(validate_request_parameters=True),
        )
        item = items.add_resource("{item_id}")
        item.add_method("GET", integ, authorizer=auth, authorization_type=apigw.AuthorizationType.COGNITO)
        api.root.add_resource("public").add_method("POST", integ)
        # Two gateway responses; the other answers keep API Gateway's defaults.
        api.add_gateway_response("Unauthorized", type=apigw.ResponseType.UNAUTHORIZED, status_code="401",
                                 templates={"application/json": '{"code":"unauthorized","message":'
                                                                '$context.error.messageString}'})
        api.add_gateway_response("NoRoute", type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, status_code="404",
                                 templates={"application/json": '{"code":"not_found","request":"$context.requestId"}'})
        cdk.CfnOutput(self, "ClientId", value=client.user_pool_client_id)


def create_app(context: dict | None = None) -> cdk.App:
    app = cdk.App(context=context or {})
    env = cdk.Environment(account="123456789012", region="us-east-1")
    data = DataStack(app, "FixData", env=env)
    AppStack(app, "FixApp", table=data.table, env=env)
    return app
