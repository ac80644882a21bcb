"""template.yaml (AWS SAM), checked offline: cfn-lint, the SAM transform with every IAM action each function's role
gets, the tables against bot/store/dynamodb/tables.py, the environment against bot/config.py, and requirements.txt
(what `sam build` installs) against pyproject.toml. No AWS account or network is used."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import tomllib
from pathlib import Path

import pytest

from bot.aws_lambda import SWEEP_EVENT
from bot.config import DYNAMODB_TABLE_VARIABLES, ConfigError, load_config
from bot.serve import EVENTS_PATH
from bot.store.dynamodb.tables import TABLES, TTL_ATTRIBUTE

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

# The DynamoDBCrudPolicy template's actions, granted on a table and its indexes (table/NAME/index/*). A transaction
# (TransactWriteItems, TransactGetItems) has no action of its own: it needs those of the items' operations.
DYNAMODB_CRUD = {
    "dynamodb:GetItem": "read an item by key (a channel's settings, a job, a cached answer; TransactGetItems)",
    "dynamodb:BatchGetItem": "read up to 100 items by key in one call",
    "dynamodb:Query": "read a partition or an index in key order (queue by state, a channel's replies, find)",
    "dynamodb:Scan": "in the CRUD template; unused, the tables are read by key or index",
    "dynamodb:PutItem": "write an item (a message, a job, a cached answer, an index entry; transactions)",
    "dynamodb:UpdateItem": "conditional state changes (claim a job, settle a reply; transactions)",
    "dynamodb:DeleteItem": "remove items (a deleted image's jobs and index entries; transactions)",
    "dynamodb:BatchWriteItem": "put or delete up to 25 items a call (an image's index entries)",
    "dynamodb:ConditionCheckItem": "in the CRUD template: a ConditionCheck in TransactWriteItems (none used today)",
    "dynamodb:DescribeTable": "in the CRUD template; unused (the cold start checks each table with a GetItem)",
}
# RekognitionDetectOnlyPolicy's actions, on "*" (Rekognition's Detect* APIs have no resource-level permissions).
REKOGNITION_DETECT = {
    "rekognition:DetectLabels": "every image's labels",
    "rekognition:DetectFaces": "in RekognitionDetectOnlyPolicy; unused",
    "rekognition:DetectModerationLabels": "where moderation is on: before the labels",
    "rekognition:DetectText": "where text is read: after the labels",
}
LAMBDA_INVOKE = {"lambda:InvokeFunction": "start a lazy listener: an asynchronous invocation of LabelFunction"}
# An inline statement (SAM has no policy template for Amazon Translate), on "*": TranslateText names no resource.
TRANSLATE = {"translate:TranslateText": "a label name the label table lacks, translated once and kept"}
TRANSLATE_STATEMENT = {"Statement": [{"Effect": "Allow", "Action": list(TRANSLATE), "Resource": "*"}]}
# SAM attaches this AWS managed policy to every function's role: logs:* below on "*".
BASIC_EXECUTION_ACTIONS = {
    "logs:CreateLogGroup": "in the managed policy; unused, the template declares both log groups",
    "logs:CreateLogStream": "one log stream per Lambda instance",
    "logs:PutLogEvents": "write the log lines",
}
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"  # logs: SAM adds it

TABLE_ARN = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${%s}"
LABEL_FUNCTION_ARN = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${LabelFunction}*"
TABLE_RESOURCES = [f"{logical}Table" for logical in TABLES]
DYNAMODB_GRANTS = {
    (action, arn % table)
    for table in TABLE_RESOURCES
    for action in DYNAMODB_CRUD
    for arn in (TABLE_ARN, TABLE_ARN + "/index/*")
}


# cfn-lint and the SAM translator are imported where they are used: importing them takes 1.3 s of CPU, which every
# pytest-xdist process would pay at collection.
def _load(text: str) -> dict:
    from cfnlint.decode import decode_str

    template, problems = decode_str(text)
    assert not problems, problems
    return json.loads(json.dumps(template))  # cfn-lint's node types -> plain dicts and lists


@pytest.fixture(scope="module")
def source() -> dict:
    return _load(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def translated(source) -> dict:
    """The template after the SAM transform, as CloudFormation receives it (CodeUri stands in for the S3 upload)."""
    from cfnlint.data import Serverless
    from cfnlint.helpers import load_resource
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(source)
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/labelbot.zip"  # what `sam deploy` puts there

    class OfflineManagedPolicies:  # a ManagedPolicyLoader that asks no IAM: cfn-lint's bundled name -> ARN map
        def load(self) -> dict[str, str]:
            return load_resource(Serverless, "ManagedPolicies.json")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator's partition; nothing is called
        return transform(template, {}, OfflineManagedPolicies())


def _render(value) -> str:
    """An ARN as text: Fn::Sub's variables filled in, a Ref as ${LogicalId}."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        text, variables = value["Fn::Sub"]
        for name, filler in variables.items():
            text = text.replace("${" + name + "}", "${" + filler["Ref"] + "}" if isinstance(filler, dict) else filler)
        return text
    raise AssertionError(f"unexpected IAM resource {value!r}")


def role_grants(translated: dict, function: str) -> set[tuple[str, str]]:
    """Every (action, resource) the function's role allows through its inline policies."""
    role = translated["Resources"][f"{function}Role"]["Properties"]
    grants = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert set(statement) == {"Action", "Effect", "Resource"}, statement  # no NotAction, no Condition
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants |= {(action, _render(resource)) for action in statement["Action"] for resource in resources}
    return grants


def cfn_lint(template: Path) -> list[tuple[str, str]]:
    """cfn-lint's findings on a template as (rule id, message), with what `cfn-lint template.yaml` runs (its API in
    this process: the command's own interpreter start and imports cost 3.5 s of CPU a run)."""
    from cfnlint.api import lint_file

    return [(match.rule.id, match.message) for match in lint_file(template)]


def test_cfn_lint_finds_nothing():
    assert cfn_lint(TEMPLATE) == []


def test_cfn_lint_still_catches_a_misspelt_policy_template_and_a_dangling_ref(tmp_path):
    """The pinned cfn-lint runs the SAM transform: later versions were seen to let both of these through."""
    text = TEMPLATE.read_text()
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(text.replace("RekognitionDetectOnlyPolicy: {}", "RekognitionDetectOnlyPolicyy: {}", 1))
    dangling = tmp_path / "dangling.yaml"
    dangling.write_text(text.replace("TableName: !Ref TagsTable", "TableName: !Ref TagTable", 1))
    assert misspelt.read_text() != text and dangling.read_text() != text

    assert any(rule == "E0001" and "LabelFunction" in message for rule, message in cfn_lint(misspelt))
    assert any(rule == "E1020" and "'TagTable'" in message for rule, message in cfn_lint(dangling))


def test_label_function_may_detect_labels_translate_label_names_and_use_the_tables_and_nothing_else(translated):
    rekognition = {(action, "*") for action in REKOGNITION_DETECT}
    translate = {("translate:TranslateText", "*")}  # exactly the one action, and only the function that replies
    assert role_grants(translated, "LabelFunction") == rekognition | translate | DYNAMODB_GRANTS
    assert translated["Resources"]["LabelFunctionRole"]["Properties"]["ManagedPolicyArns"] == [BASIC_EXECUTION_ROLE]


def test_events_function_may_use_the_tables_and_invoke_only_the_label_function(translated):
    invoke = {("lambda:InvokeFunction", LABEL_FUNCTION_ARN)}
    assert role_grants(translated, "EventsFunction") == DYNAMODB_GRANTS | invoke
    assert translated["Resources"]["EventsFunctionRole"]["Properties"]["ManagedPolicyArns"] == [BASIC_EXECUTION_ROLE]


def test_every_iam_action_is_explained_and_printed(translated):
    """`pytest -s tests/test_template.py -k iam` prints the table README's "Deploy to AWS" section shows."""
    reasons = {**DYNAMODB_CRUD, **REKOGNITION_DETECT, **LAMBDA_INVOKE, **TRANSLATE}
    for function in ("EventsFunction", "LabelFunction"):
        actions = sorted({action for action, _ in role_grants(translated, function)})
        assert set(actions) <= set(reasons)
        print(f"\n{function}: {len(actions)} actions, and AWSLambdaBasicExecutionRole's {len(BASIC_EXECUTION_ACTIONS)}")
        for action in actions:
            print(f"  {action:36} {reasons[action]}")
        for action, reason in BASIC_EXECUTION_ACTIONS.items():
            print(f"  {action:36} {reason}")


def test_only_rekognitions_policy_template_and_translates_statement_use_a_wildcard_resource(source, translated):
    # The one "*" written here is Translate's statement's.
    assert json.dumps(source["Resources"]).replace("index/*", "").count("*") == 1
    assert TRANSLATE_STATEMENT in source["Resources"]["LabelFunction"]["Properties"]["Policies"]
    wide = {
        (function, action)
        for function in ("EventsFunction", "LabelFunction")
        for action, resource in role_grants(translated, function)
        if resource == "*"
    }
    assert wide == {("LabelFunction", action) for action in {**REKOGNITION_DETECT, **TRANSLATE}}


def test_only_api_gateway_and_the_schedule_may_invoke_the_functions(translated):
    permissions = {
        name: resource["Properties"]
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Permission"
    }
    assert {name: (p["FunctionName"], p["Principal"]) for name, p in permissions.items()} == {
        "EventsFunctionSlackPermission": ({"Ref": "EventsFunction"}, "apigateway.amazonaws.com"),
        "LabelFunctionSweepPermission": ({"Ref": "LabelFunction"}, "events.amazonaws.com"),
    }
    assert _render(permissions["EventsFunctionSlackPermission"]["SourceArn"]).endswith(
        ":${ServerlessHttpApi}/*/POST" + EVENTS_PATH
    )
    assert permissions["LabelFunctionSweepPermission"]["SourceArn"] == {"Fn::GetAtt": ["LabelFunctionSweep", "Arn"]}


def test_functions_as_designed(translated):
    resources = translated["Resources"]
    events, label = resources["EventsFunction"]["Properties"], resources["LabelFunction"]["Properties"]
    for function in (events, label):
        assert function["Handler"] == "bot.aws_lambda.handler"
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
    assert (events["Timeout"], events["MemorySize"]) == (10, 512)
    assert (label["Timeout"], label["MemorySize"]) == (120, 1769)
    assert "ReservedConcurrentExecutions" not in events
    assert label["ReservedConcurrentExecutions"] == {"Ref": "LabelConcurrency"}
    assert events["Environment"]["Variables"]["LABELBOT_LABEL_FUNCTION"] == {"Ref": "LabelFunction"}
    assert "LABELBOT_LABEL_FUNCTION" not in label["Environment"]["Variables"]

    invoke_config = resources["LabelFunctionEventInvokeConfig"]["Properties"]
    assert (invoke_config["MaximumEventAgeInSeconds"], invoke_config["MaximumRetryAttempts"]) == (240, 2)
    assert invoke_config["FunctionName"] == {"Ref": "LabelFunction"}

    (target,) = resources["LabelFunctionSweep"]["Properties"]["Targets"]
    assert resources["LabelFunctionSweep"]["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert json.loads(target["Input"]) == SWEEP_EVENT
    assert target["Arn"] == {"Fn::GetAtt": ["LabelFunction", "Arn"]}

    routes = resources["ServerlessHttpApi"]["Properties"]["Body"]["paths"]
    assert {path: list(methods) for path, methods in routes.items()} == {EVENTS_PATH: ["post"]}
    assert "${EventsFunction.Arn}" in routes[EVENTS_PATH]["post"]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]

    for function, group in (("EventsFunction", "EventsLogGroup"), ("LabelFunction", "LabelLogGroup")):
        assert resources[function]["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": group}}
        assert resources[group]["Properties"]["RetentionInDays"] == 30

    outputs = translated["Outputs"]
    assert outputs["SlackEventsUrl"]["Value"] == {
        "Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}" + EVENTS_PATH
    }
    assert outputs["EventsFunctionName"]["Value"] == {"Ref": "EventsFunction"}
    assert outputs["LabelFunctionName"]["Value"] == {"Ref": "LabelFunction"}


@pytest.mark.parametrize("logical", list(TABLES))
def test_table_matches_the_store(source, logical):
    resource = source["Resources"][f"{logical}Table"]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    properties = dict(resource["Properties"])
    definition = {key: value for key, value in TABLES[logical].items() if key != "ttl"}

    assert properties.pop("BillingMode") == "PAY_PER_REQUEST"
    assert properties.pop("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}
    ttl = properties.pop("TimeToLiveSpecification", None)
    assert ttl == ({"AttributeName": TTL_ATTRIBUTE, "Enabled": True} if TABLES[logical]["ttl"] else None)
    assert set(properties) == set(definition)  # nothing more, nothing less than the store declares

    by_name = lambda items, key: {item[key]: item for item in items}  # noqa: E731
    assert properties["KeySchema"] == definition["KeySchema"]
    assert by_name(properties["AttributeDefinitions"], "AttributeName") == by_name(
        definition["AttributeDefinitions"], "AttributeName"
    )
    if "GlobalSecondaryIndexes" in definition:
        assert by_name(properties["GlobalSecondaryIndexes"], "IndexName") == by_name(
            definition["GlobalSecondaryIndexes"], "IndexName"
        )


def _environment(translated: dict, function: str) -> dict:
    return translated["Resources"][function]["Properties"]["Environment"]["Variables"]


def test_environment_names_are_ones_the_config_reads(translated):
    config_source = (ROOT / "bot" / "config.py").read_text()
    read_by_config = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', config_source))
    for function in ("EventsFunction", "LabelFunction"):
        names = set(_environment(translated, function))
        assert names <= read_by_config, names - read_by_config
        for logical, variable in DYNAMODB_TABLE_VARIABLES.items():
            assert _environment(translated, function)[variable] == {"Ref": f"{logical}Table"}


def test_parameters_defaults_are_the_apps_and_the_environment_loads(source, translated):
    """With the parameters' defaults, the environment each function gets passes load_config(mode="lambda") and
    gives the same settings as leaving those variables out."""
    parameters = source["Parameters"]
    assert parameters["SlackBotToken"]["NoEcho"] and parameters["SlackSigningSecret"]["NoEcho"]
    assert parameters["LabelConcurrency"]["Default"] == 5 and parameters["LabelConcurrency"]["MinValue"] == 1
    for bound in ("Default", "MinValue", "MaxValue"):
        assert parameters["ModerationTps"][bound] == parameters["RekognitionTps"][bound]
        assert parameters["TextTps"][bound] == parameters["RekognitionTps"][bound]
    assert parameters["Text"]["AllowedValues"] == ["auto", "on", "off"]
    token = "xoxb-1234-5678-abcdefgh"
    assert re.fullmatch(parameters["SlackBotToken"]["AllowedPattern"], token)
    values = {
        "SlackBotToken": token,
        "SlackSigningSecret": "8f742231b10e8888abcd99yyyzzz85a5",
        **{name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec},
        **{f"{logical}Table": f"labelbot-{logical}Table-1A2B3C" for logical in TABLES},
        "LabelFunction": "labelbot-LabelFunction-1A2B3C",
    }
    tables = {variable: values[f"{logical}Table"] for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    bare = {"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": values["SlackSigningSecret"], **tables}
    defaults = load_config({**bare, "LABELBOT_STORE": "dynamodb", "LOG_FORMAT": "json"}, mode="lambda")
    for function, invokes in (("EventsFunction", values["LabelFunction"]), ("LabelFunction", None)):
        environ = {
            name: values[value["Ref"]] if isinstance(value, dict) else value
            for name, value in _environment(translated, function).items()
        }
        # The instances that may run at once share the Rekognition quota: 5 TPS over 5 instances, 1 a second each.
        expected = dataclasses.replace(defaults, label_function=invokes, label_concurrency=5)
        assert load_config(environ, mode="lambda") == expected
        assert expected.rekognition_tps_per_process == 1.0
        assert expected.moderation_tps_per_process == 1.0  # DetectModerationLabels' quota, split alike
        assert expected.text_tps_per_process == 1.0  # and DetectText's


def test_monthly_call_limit_is_passed_to_both_functions_and_its_pattern_admits_only_what_the_config_loads(
    source, translated
):
    """MonthlyCallLimit: empty (the default) is no cap, as LABELBOT_MONTHLY_CALL_LIMIT unset; a number the pattern
    admits loads as that cap, and one it refuses (zero, a fraction, past 10^12) fails the deploy, not a cold start."""
    parameter = source["Parameters"]["MonthlyCallLimit"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    for function in ("EventsFunction", "LabelFunction"):
        assert _environment(translated, function)["LABELBOT_MONTHLY_CALL_LIMIT"] == {"Ref": "MonthlyCallLimit"}

    tables = {variable: f"labelbot-{logical}Table-1A2B3C" for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    environ = {"SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdefgh", "SLACK_SIGNING_SECRET": "8f742231b1", **tables}
    admitted = {"": None, "1": 1, "50000": 50_000, "999999999999": 10**12 - 1, "1000000000000": 10**12}
    for value, limit in admitted.items():
        assert re.fullmatch(parameter["AllowedPattern"], value), value
        config = load_config({**environ, "LABELBOT_MONTHLY_CALL_LIMIT": value}, mode="lambda")
        assert config.monthly_call_limit == limit
    for value in ("0", "-5", "1.5", "1e6", "1000000000001", "99999999999999", "ten"):
        assert not re.fullmatch(parameter["AllowedPattern"], value), value
        with pytest.raises(ConfigError, match="LABELBOT_MONTHLY_CALL_LIMIT"):
            load_config({**environ, "LABELBOT_MONTHLY_CALL_LIMIT": value}, mode="lambda")
    for value in ("01", "1,000", "1_000", " 5"):  # the config would read these; the parameter asks for plain digits
        assert not re.fullmatch(parameter["AllowedPattern"], value), value


def test_requirements_txt_is_pyprojects_dependencies():
    """`sam build` installs requirements.txt beside CodeUri (the repo root); pyproject.toml stays the source."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    listed = [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
    assert listed == declared


def test_translate_is_passed_to_both_functions_on_by_default_and_off_turns_it_off(source, translated):
    """Translate (LABELBOT_TRANSLATE) as Language is: a parameter the config reads, its default the config's."""
    parameter = source["Parameters"]["Translate"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("on", ["on", "off"])
    for function in ("EventsFunction", "LabelFunction"):
        assert _environment(translated, function)["LABELBOT_TRANSLATE"] == {"Ref": "Translate"}
    tables = {variable: f"labelbot-{logical}Table-1A2B3C" for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    environ = {"SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdefgh", "SLACK_SIGNING_SECRET": "8f742231b1", **tables}
    for value, translate in (("on", True), ("off", False)):
        assert load_config({**environ, "LABELBOT_TRANSLATE": value}, mode="lambda").translate is translate
    with pytest.raises(ConfigError, match="LABELBOT_TRANSLATE must be on or off"):
        load_config({**environ, "LABELBOT_TRANSLATE": "yes"}, mode="lambda")
