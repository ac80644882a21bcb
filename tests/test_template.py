"""template.yaml (AWS SAM), checked offline: cfn-lint, the SAM transform with every IAM action each function's role
gets, the tables against bot/store/dynamodb/tables.py, the environment against bot/config.py, requirements.txt
(what `sam build` installs) against pyproject.toml, and LabelFunction's Dockerfile (its base image, what it installs
and copies) read as text. No AWS account, Docker or network is used."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from bot.aws_lambda import SWEEP_EVENT
from bot.config import DYNAMODB_TABLE_VARIABLES, ConfigError, load_config
from bot.oauth import INSTALL_PATH, REDIRECT_PATH
from bot.serve import EVENTS_PATH
from bot.store.dynamodb.tables import TABLES, TTL_ATTRIBUTE

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# A stand-in for the image `sam deploy` pushes to ECR (the repository --resolve-image-repos creates) for LabelFunction.
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/labelbot-labelfunction:python3.13-arm64"

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
    # What `sam deploy` puts there: the zip's S3 address, the image pushed to ECR.
    template["Resources"]["EventsFunction"]["Properties"]["CodeUri"] = "s3://bucket/labelbot.zip"
    template["Resources"]["LabelFunction"]["Properties"]["ImageUri"] = IMAGE_URI

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
        "EventsFunctionSlackInstallPermission": ({"Ref": "EventsFunction"}, "apigateway.amazonaws.com"),
        "EventsFunctionSlackOAuthRedirectPermission": ({"Ref": "EventsFunction"}, "apigateway.amazonaws.com"),
        "LabelFunctionSweepPermission": ({"Ref": "LabelFunction"}, "events.amazonaws.com"),
    }
    for permission, route in (
        ("EventsFunctionSlackPermission", "POST" + EVENTS_PATH),
        ("EventsFunctionSlackInstallPermission", "GET" + INSTALL_PATH),  # many workspaces: Add to Slack
        ("EventsFunctionSlackOAuthRedirectPermission", "GET" + REDIRECT_PATH),
    ):
        assert _render(permissions[permission]["SourceArn"]).endswith(":${ServerlessHttpApi}/*/" + route)
    assert permissions["LabelFunctionSweepPermission"]["SourceArn"] == {"Fn::GetAtt": ["LabelFunctionSweep", "Arn"]}


def test_functions_as_designed(translated):
    resources = translated["Resources"]
    events, label = resources["EventsFunction"]["Properties"], resources["LabelFunction"]["Properties"]
    assert "PackageType" not in events and events["Code"] == {"S3Bucket": "bucket", "S3Key": "labelbot.zip"}  # a zip
    assert (events["Handler"], events["Runtime"]) == ("bot.aws_lambda.handler", "python3.13")
    # The image's handler and Python are its Dockerfile's (tests below); a function of an image may name neither.
    assert label["PackageType"] == "Image" and label["Code"] == {"ImageUri": IMAGE_URI}
    assert "Handler" not in label and "Runtime" not in label
    for function in (events, label):
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
    assert {path: list(methods) for path, methods in routes.items()} == {
        EVENTS_PATH: ["post"],
        INSTALL_PATH: ["get"],
        REDIRECT_PATH: ["get"],
    }
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


# Variables the template sets for a library, not for the bot's config.
LIBRARY_VARIABLES = {"ORT_DISABLE_TELEMETRY": "ONNX Runtime: no telemetry (LabelFunction's local reader)"}


def test_environment_names_are_ones_the_config_reads(translated):
    config_source = (ROOT / "bot" / "config.py").read_text()
    read_by_config = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', config_source))
    for function in ("EventsFunction", "LabelFunction"):
        names = set(_environment(translated, function)) - set(LIBRARY_VARIABLES)
        assert names <= read_by_config, names - read_by_config
        for logical, variable in DYNAMODB_TABLE_VARIABLES.items():
            assert _environment(translated, function)[variable] == {"Ref": f"{logical}Table"}


def test_parameters_defaults_are_the_apps_and_the_environment_loads(source, translated):
    """With the parameters' defaults, the environment each function gets passes load_config(mode="lambda") and
    gives the same settings as leaving those variables out (the values the template writes itself stay in)."""
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
        **{name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec},
        "SlackBotToken": token,
        "SlackSigningSecret": "8f742231b10e8888abcd99yyyzzz85a5",
        **{f"{logical}Table": f"labelbot-{logical}Table-1A2B3C" for logical in TABLES},
        "LabelFunction": "labelbot-LabelFunction-1A2B3C",
    }
    tables = {variable: values[f"{logical}Table"] for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    bare = {"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": values["SlackSigningSecret"], **tables}
    for function, invokes in (("EventsFunction", values["LabelFunction"]), ("LabelFunction", None)):
        variables = _environment(translated, function)
        written = {name: value for name, value in variables.items() if isinstance(value, str)}
        assert {"LABELBOT_STORE": "dynamodb", "LOG_FORMAT": "json"}.items() <= written.items()
        defaults = load_config({**bare, **written}, mode="lambda")
        environ = {
            name: values[value["Ref"]] if isinstance(value, dict) else value for name, value in variables.items()
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
    assert _requirements(ROOT / "requirements.txt") == PYPROJECT["project"]["dependencies"]


def _requirements(path: Path) -> list[str]:
    """A requirements file's requirements, in order, without comments."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


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


# LabelFunction's container image: its Dockerfile and .dockerignore, read as text (no Docker here). Docker and
# `sam build` would catch a broken one only at deploy time, on a machine with Docker.
DOCKERFILE = ROOT / "Dockerfile"


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments): comments dropped, continued lines joined."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends in a continued line"
    return instructions


def _instructions(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in _dockerfile() if instruction == keyword]


def test_label_function_is_an_image_built_from_the_dockerfile(source):
    label = source["Resources"]["LabelFunction"]
    assert label["Properties"]["PackageType"] == "Image"
    assert "ImageUri" not in label["Properties"]  # sam build fills it in from the Metadata, sam deploy with ECR's
    metadata = label["Metadata"]
    assert metadata["DockerContext"] == "."
    assert (ROOT / metadata["DockerContext"] / metadata["Dockerfile"]).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file() and metadata["DockerTag"]
    events = source["Resources"]["EventsFunction"]["Properties"]
    assert events.get("PackageType", "Zip") == "Zip" and events["CodeUri"] == "."


def test_the_image_is_the_events_functions_python_on_arm64_and_runs_its_handler(translated):
    """The two functions run the same bot: one Python, one architecture, one handler."""
    events = translated["Resources"]["EventsFunction"]["Properties"]
    label = translated["Resources"]["LabelFunction"]["Properties"]
    (base,) = _instructions("FROM")  # one stage
    platform, image = base.split()
    assert events["Runtime"] == "python3.13"
    assert image == "public.ecr.aws/lambda/python:" + events["Runtime"].removeprefix("python")
    assert label["Architectures"] == events["Architectures"] == ["arm64"]
    assert platform == "--platform=linux/arm64"

    (command,) = _instructions("CMD")
    assert json.loads(command) == [events["Handler"]]
    module, _, name = events["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_the_image_installs_requirements_txt_and_the_ocr_extra_and_nothing_else():
    """The ranges are decided in pyproject.toml: the image installs the two lists kept equal to it."""
    copied = {}  # where in the image -> which file of the repo
    for arguments in _instructions("COPY"):
        *sources, destination = shlex.split(arguments)
        for name in sources:
            copied[destination.rstrip("/") + "/" + Path(name).name if destination.endswith("/") else destination] = name
    installs = [shlex.split(arguments) for arguments in _instructions("RUN") if " pip install " in f" {arguments} "]
    (install,) = installs
    assert install[:4] == ["python3", "-m", "pip", "install"]
    files, values, flags, named = [], {}, set(), []
    words = iter(install[4:])
    for word in words:
        if word == "-r":
            files.append(next(words))
        elif word in ("--target", "-t"):
            values["--target"] = next(words)
        elif word.startswith("-"):
            flags.add(word)
        else:
            named.append(word)
    assert named == []  # no package on the command line: only the lists
    assert {"--no-cache-dir", "--only-binary=:all:"} <= flags
    assert values == {"--target": "${LAMBDA_TASK_ROOT}"}  # beside the code, first on sys.path, as in the zip

    assert [copied[file] for file in files] == ["requirements.txt", "requirements-ocr.txt"]
    installed = [requirement for file in files for requirement in _requirements(ROOT / copied[file])]
    ocr = PYPROJECT["project"]["optional-dependencies"]["ocr"]
    assert ocr and installed == PYPROJECT["project"]["dependencies"] + ocr


def _dockerignore_rule(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regular expression (Docker's rules: `**` any number of folders, none too; `*` and
    `?` within one name)."""
    expression, at = "", 0
    while at < len(pattern):
        for token, regex in (("**/", "(?:.*/)?"), ("**", ".*"), ("*", "[^/]*"), ("?", "[^/]")):
            if pattern.startswith(token, at):
                expression, at = expression + regex, at + len(token)
                break
        else:
            expression, at = expression + re.escape(pattern[at]), at + 1
    return re.compile(expression)


def _build_context(paths: set[str]) -> set[str]:
    """Which of these paths (relative to the repo) .dockerignore lets into the build context: the last pattern that
    matches a path or a folder above it decides, `!` letting it in."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern = line.strip()
            rules.append((pattern.startswith("!"), _dockerignore_rule(os.path.normpath(pattern.lstrip("!")))))
    sent = set()
    for path in paths:
        parts = path.split("/")
        folders_and_path = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
        kept = True
        for negated, rule in rules:
            if any(rule.fullmatch(part) for part in folders_and_path):
                kept = negated
        if kept:
            sent.add(path)
    return sent


def test_the_image_gets_the_bots_modules_and_data_files_and_nothing_else():
    """The build context is what `pip install .` would put in bot/ (its modules and pyproject.toml's package data)
    plus the two requirements lists: no .env, database, .venv, tests or caches go into the image."""
    files = set()
    for folder, folders, names in os.walk(ROOT):
        folders[:] = [name for name in folders if name not in (".git", ".venv", ".aws-sam")]  # large; planted below
        files |= {Path(folder, name).relative_to(ROOT).as_posix() for name in names}
    planted = {".env", "labelbot.sqlite3", ".venv/bin/python", ".aws-sam/build/template.yaml"}
    planted |= {"bot/__pycache__/app.cpython-313.pyc", "bot/store/__pycache__/base.cpython-313.pyc"}

    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["bot"]
    data_files = {
        path.relative_to(ROOT).as_posix() for pattern in package_data for path in (ROOT / "bot").glob(pattern)
    }
    assert {"bot/emoji_map.txt", "bot/text_labels.txt", "bot/locales/ja/labels.tsv"} <= data_files
    assert "bot/locales/ja/LC_MESSAGES/labelbot.mo" in data_files
    modules = {path for path in files if path.startswith("bot/") and path.endswith(".py") and "__pycache__" not in path}
    assert "bot/aws_lambda.py" in modules and "bot/store/dynamodb/tables.py" in modules

    assert _build_context(files | planted) == modules | data_files | {"requirements.txt", "requirements-ocr.txt"}
    assert "COPY bot/ ${LAMBDA_TASK_ROOT}/bot/" in [f"COPY {arguments}" for arguments in _instructions("COPY")]


def test_onnx_runtime_telemetry_is_off_in_the_image_and_in_label_functions_environment(translated):
    """ONNX Runtime reads it when it loads (bench/README.md): set in the image and in the function's environment."""
    assert "ORT_DISABLE_TELEMETRY=1" in _instructions("ENV")
    assert _environment(translated, "LabelFunction")["ORT_DISABLE_TELEMETRY"] == "1"


def test_label_function_reads_one_image_at_a_time_on_its_one_vcpu(translated):
    label = translated["Resources"]["LabelFunction"]["Properties"]
    assert label["MemorySize"] == 1769  # Lambda gives one full vCPU at 1,769 MB
    assert _environment(translated, "LabelFunction")["LABELBOT_TEXT_READS_AT_ONCE"] == "1"
    assert "LABELBOT_TEXT_READS_AT_ONCE" not in _environment(translated, "EventsFunction")  # it reads no text


def test_text_engine_is_passed_to_both_functions_and_allows_what_the_config_accepts(source, translated):
    """TextEngine (LABELBOT_TEXT_ENGINE): the values the bot knows (bot.config.TEXT_ENGINES), auto by default; each
    loads, and anything else fails the deploy, not a cold start."""
    from bot.config import TEXT_ENGINES

    parameter = source["Parameters"]["TextEngine"]
    assert parameter["AllowedValues"] == list(TEXT_ENGINES)
    assert (parameter["Type"], parameter["Default"]) == ("String", "auto")
    for function in ("EventsFunction", "LabelFunction"):
        assert _environment(translated, function)["LABELBOT_TEXT_ENGINE"] == {"Ref": "TextEngine"}
    tables = {variable: f"labelbot-{logical}Table-1A2B3C" for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    environ = {"SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdefgh", "SLACK_SIGNING_SECRET": "8f742231b1", **tables}
    loaded = {value: load_config({**environ, "LABELBOT_TEXT_ENGINE": value}, mode="lambda") for value in TEXT_ENGINES}
    assert loaded["auto"] == load_config(environ, mode="lambda")  # the default, as leaving it out
    assert len({repr(config) for config in loaded.values()}) == len(TEXT_ENGINES)  # each value means something
    with pytest.raises(ConfigError, match="LABELBOT_TEXT_ENGINE"):
        load_config({**environ, "LABELBOT_TEXT_ENGINE": "tesseract"}, mode="lambda")


def test_many_workspaces_parameters_reach_both_functions_and_the_config_serves_add_to_slack(source, translated):
    parameters = source["Parameters"]
    assert parameters["SlackClientSecret"]["NoEcho"] and parameters["SlackBotToken"]["NoEcho"]
    assert all(parameters[name]["Default"] == "" for name in ("SlackBotToken", "SlackClientId", "SlackClientSecret"))
    assert re.fullmatch(parameters["SlackClientId"]["AllowedPattern"], "1111111111.2222222222")
    assert not re.fullmatch(parameters["SlackClientId"]["AllowedPattern"], "labelbot")
    # CloudFormation refuses a stack with neither a bot token nor a client ID, and one with both
    assertions = source["Rules"]["OneWorkspaceOrMany"]["Assertions"]
    assert [a["Assert"] for a in assertions] == [
        {"Fn::Or": [{"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]} for name in ("SlackBotToken", "SlackClientId")]},
        {"Fn::Or": [{"Fn::Equals": [{"Ref": name}, ""]} for name in ("SlackBotToken", "SlackClientId")]},
    ]
    names = {
        "SLACK_CLIENT_ID": "SlackClientId",
        "SLACK_CLIENT_SECRET": "SlackClientSecret",
        "SLACK_REDIRECT_URI": "SlackRedirectUri",
        "LABELBOT_TOTAL_MONTHLY_CALL_LIMIT": "TotalMonthlyCallLimit",
    }
    tables = {variable: f"labelbot-{logical}Table-1A2B3C" for logical, variable in DYNAMODB_TABLE_VARIABLES.items()}
    for function in ("EventsFunction", "LabelFunction"):
        variables = _environment(translated, function)
        assert {name: variables[name] for name in names} == {name: {"Ref": ref} for name, ref in names.items()}
    environ = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "8f742231b1",
        "SLACK_CLIENT_ID": "1111111111.2222222222",
        "SLACK_CLIENT_SECRET": "0123456789abcdef",
        "SLACK_REDIRECT_URI": "",
        "LABELBOT_TOTAL_MONTHLY_CALL_LIMIT": "5000",
        **tables,
    }
    config = load_config(environ, mode="lambda")
    assert config.many_workspaces and config.total_monthly_call_limit == 5000 and config.redirect_uri is None
