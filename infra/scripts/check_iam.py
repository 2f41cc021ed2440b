#!/usr/bin/env python3
"""Prove that each function's IAM role allows every AWS call the function makes.

Tests that run the functions against moto pass whatever the IAM policies say (moto does not
enforce IAM), so a missing permission would only show up after a deploy. This script takes the
calls a test run recorded and checks each one against the execution role the SAM transform
gives the function:

  calls.json: [{"function": "SyncWorkerFunction", "action": "dynamodb:PutItem",
                "resource": "arn:aws:dynamodb:us-east-1:123456789012:table/lambda-suite-abc"}, ...]

`function` is the SAM logical id; `action` is "<service>:<Action>" as IAM spells it; `resource`
is the ARN IAM authorizes the call on ("*" for actions without resource-level permissions).

The role is the function's `Role` (Fn::GetAtt <Role>.Arn, SAM names it <Function>Role); its
statements are the role's inline `Policies` plus AWS::IAM::Policy / AWS::IAM::ManagedPolicy
resources of the template attached to it. AWS managed policies (arn:aws:iam::aws:policy/...,
e.g. AWSLambdaBasicExecutionRole) are listed but not evaluated: their documents are not here,
and the calls our code makes must be granted by our own statements.

Refs in a statement's Resource are resolved with the physical ids given on the command line
(--resource Table=arn:...), the parameters (--param, else the template's defaults) and the
pseudo parameters (--region, --account, partition from the region).

A call is granted when an Allow statement without a Condition matches both its action
(case-insensitive, * and ? wildcards) and its resource (case-sensitive, * and ?), and no Deny
statement matches it. Being conservative, an Allow with a Condition never grants (it cannot be
evaluated here) and a Deny with a Condition, or with a Resource that cannot be resolved, denies.

Exit codes: 0 all calls granted, 1 some call not granted (each is listed), 2 bad input.

  .tools/venv/bin/python infra/scripts/check_iam.py --template template.yaml --calls calls.json \\
      --resource Table=arn:aws:dynamodb:us-east-1:123456789012:table/t \\
      --param Stage=dev --region us-east-1 --account 123456789012
  .tools/venv/bin/python infra/scripts/check_iam.py --self-test
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

sys.dont_write_bytecode = True  # no __pycache__ left in infra/scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_template import (  # noqa: E402  (the sibling script, made importable above)
    TemplateError,
    load_template,
    parse_key_values,
    sub_names,
    transform_template,
)


class Unresolved(Exception):
    """A value in a policy that cannot be resolved with the given mapping."""


class InputError(Exception):
    """Bad command-line input or calls file; exit code 2."""


# --------------------------------------------------------------------------- intrinsics


def _region_partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass
class Resolver:
    """Evaluates Ref / Fn::GetAtt / Fn::Sub / Fn::Join / Fn::Select / Fn::Split to strings."""

    template: dict[str, Any]
    physical: dict[str, str]  # logical id -> ARN given on the command line
    params: dict[str, str]
    region: str
    account: str

    def pseudo(self) -> dict[str, str]:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": _region_partition(self.region),
            "AWS::URLSuffix": "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com",
        }
        values.update({k: v for k, v in self.params.items() if k.startswith("AWS::")})
        return values

    def _arn(self, name: str) -> str:
        if name not in self.physical:
            rtype = self.template.get("Resources", {}).get(name, {}).get("Type", "?")
            raise Unresolved(f"no physical id for {name} ({rtype}); pass --resource {name}=<ARN>")
        return self.physical[name]

    def ref(self, name: str) -> str:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        parameters = self.template.get("Parameters", {}) or {}
        if name in parameters:
            if "Default" not in parameters[name]:
                raise Unresolved(f"parameter {name} has no default; pass --param {name}=<value>")
            return str(parameters[name]["Default"])
        resources = self.template.get("Resources", {})
        if name not in resources:
            raise Unresolved(f"Ref {name}: no such parameter or resource")
        rtype = resources[name].get("Type", "")
        arn = self._arn(name)
        # What Ref returns differs by type; these are the ones a function policy names.
        if rtype == "AWS::DynamoDB::Table":
            return arn.split(":table/", 1)[-1]
        if rtype == "AWS::SQS::Queue":
            parts = arn.split(":")
            return f"https://sqs.{parts[3]}.amazonaws.com/{parts[4]}/{parts[5]}"
        if rtype == "AWS::S3::Bucket":
            return arn.split(":::", 1)[-1]
        if rtype in ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Events::EventBus"):
            return re.split(r"[:/]", arn)[-1]
        if rtype in (
            "AWS::SecretsManager::Secret",
            "AWS::SNS::Topic",
            "AWS::IAM::ManagedPolicy",
            "AWS::KMS::Key",
            "AWS::StepFunctions::StateMachine",
        ):
            return arn
        raise Unresolved(f"Ref {name}: what Ref returns for {rtype} is not known to this script")

    def get_att(self, name: str, attr: str) -> str:
        resources = self.template.get("Resources", {})
        if name not in resources:
            raise Unresolved(f"GetAtt {name}.{attr}: no such resource")
        arn = self._arn(name)
        if attr == "Arn":
            return arn
        if attr in ("QueueName", "TopicName"):
            return arn.split(":")[-1]
        if attr == "QueueUrl":
            return self.ref(name)
        raise Unresolved(f"GetAtt {name}.{attr}: only Arn (and queue name/URL) can be resolved")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            raise Unresolved(f"unexpected value {value!r}")
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (key, arg), = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            name, attr = (arg.split(".", 1) + [""])[:2] if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return self.get_att(name, attr)
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            local = {k: self.resolve(v) for k, v in local.items()}

            def one(m: re.Match) -> str:
                inner = m.group(1).strip()
                if inner.startswith("!"):
                    return "${" + inner[1:] + "}"
                if inner in local:
                    return str(local[inner])
                (name, attr), = list(sub_names("${" + inner + "}"))
                return self.get_att(name, attr) if attr else self.ref(name)

            return re.sub(r"\$\{([^}]*)\}", one, text)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if key.startswith("Fn::") or key == "Condition":
            raise Unresolved(f"{key} is not evaluated by this script")
        return {key: self.resolve(arg)}


# --------------------------------------------------------------------------- policies


def glob_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    """IAM wildcard pattern -> regex: * any run of characters (also : and /), ? one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@dataclass
class Statement:
    """One policy statement with its Resource resolved (or the reason it could not be)."""

    label: str  # e.g. AdminApiFunctionRole/AdminApiFunctionRolePolicy0#1
    effect: str
    actions: list[str]
    not_action: bool
    resources: list[str]
    not_resource: bool
    has_condition: bool
    unresolved: str | None = None

    def action_matches(self, action: str) -> bool:
        hit = any(glob_regex(a, True).fullmatch(action) for a in self.actions)
        return hit != self.not_action

    def resource_matches(self, resource: str) -> bool:
        hit = any(glob_regex(r, False).fullmatch(resource) for r in self.resources)
        return hit != self.not_resource


@dataclass
class Role:
    """A function's execution role: its evaluable statements and what was not evaluated."""

    function: str
    logical_id: str
    statements: list[Statement] = field(default_factory=list)
    aws_managed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _statements(label: str, document: Any, resolver: Resolver) -> list[Statement]:
    out = []
    for i, st in enumerate(_as_list((document or {}).get("Statement", []))):
        action_key = "NotAction" if "NotAction" in st else "Action"
        resource_key = "NotResource" if "NotResource" in st else "Resource"
        statement = Statement(
            label=f"{label}#{i}",
            effect=st.get("Effect", ""),
            actions=[],
            not_action=action_key == "NotAction",
            resources=[],
            not_resource=resource_key == "NotResource",
            has_condition="Condition" in st,
        )
        try:
            statement.actions = [str(a) for a in _as_list(resolver.resolve(st.get(action_key, [])))]
            statement.resources = [str(r) for r in _as_list(resolver.resolve(st.get(resource_key, [])))]
        except Unresolved as e:
            statement.unresolved = str(e)
        out.append(statement)
    return out


def _refers_to(value: Any, logical_id: str) -> bool:
    return isinstance(value, dict) and (
        value.get("Ref") == logical_id or _as_list(value.get("Fn::GetAtt", [None]))[0] == logical_id
    )


def function_role(cfn: dict[str, Any], function: str, resolver: Resolver) -> Role:
    """The execution role of `function` in the transformed template, with its statements."""
    resources = cfn["Resources"]
    fn = resources.get(function)
    if not fn or fn.get("Type") != "AWS::Lambda::Function":
        raise InputError(f"{function}: no AWS::Lambda::Function of that logical id after the transform")
    role_ref = fn.get("Properties", {}).get("Role")
    role_id = None
    if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref:
        target = role_ref["Fn::GetAtt"]
        role_id = target.split(".", 1)[0] if isinstance(target, str) else target[0]
    if not role_id or resources.get(role_id, {}).get("Type") != "AWS::IAM::Role":
        raise InputError(f"{function}: its Role is not an AWS::IAM::Role of this template ({role_ref!r})")
    role = Role(function, role_id)
    props = resources[role_id].get("Properties", {})
    for policy in props.get("Policies", []) or []:
        role.statements += _statements(f"{role_id}/{policy.get('PolicyName', '?')}", policy.get("PolicyDocument"), resolver)
    for arn in props.get("ManagedPolicyArns", []) or []:
        if isinstance(arn, str) and re.match(r"arn:[^:]+:iam::aws:policy/", arn):
            role.aws_managed.append(arn)
        elif isinstance(arn, dict) and "Ref" in arn and resources.get(arn["Ref"], {}).get("Type") == "AWS::IAM::ManagedPolicy":
            pass  # evaluated below with the other attached policy resources
        else:
            role.notes.append(f"managed policy {arn!r} is not in this template: not evaluated")
    if "PermissionsBoundary" in props:
        role.notes.append("has a PermissionsBoundary: not evaluated")
    for logical_id, res in resources.items():
        if res.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        p = res.get("Properties", {})
        attached = any(_refers_to(r, role_id) for r in p.get("Roles", []) or []) or any(
            _refers_to(a, logical_id) for a in props.get("ManagedPolicyArns", []) or []
        )
        if attached:
            role.statements += _statements(logical_id, p.get("PolicyDocument"), resolver)
    return role


@dataclass
class Verdict:
    call: dict[str, str]
    count: int
    granted: bool
    by: str  # the granting statement, or why not


def evaluate(role: Role, action: str, resource: str) -> Verdict:
    """IAM's rule for one identity policy set: an explicit Deny wins, else some Allow must match."""
    denies, allows, skipped = [], [], []
    for st in role.statements:
        if st.unresolved:
            if st.effect == "Deny" and st.action_matches(action):
                denies.append(f"{st.label} (unresolved Resource: {st.unresolved})")
            elif st.effect == "Allow" and st.action_matches(action):
                skipped.append(f"{st.label} not evaluated: {st.unresolved}")
            continue
        if not (st.action_matches(action) and st.resource_matches(resource)):
            continue
        if st.effect == "Deny":
            denies.append(st.label + (" (with a Condition)" if st.has_condition else ""))
        elif st.effect == "Allow":
            if st.has_condition:
                skipped.append(f"{st.label} has a Condition (not evaluated, so not counted)")
            else:
                allows.append(st.label)
    call = {"function": role.function, "action": action, "resource": resource}
    if denies:
        return Verdict(call, 1, False, "denied by " + ", ".join(denies))
    if allows:
        return Verdict(call, 1, True, allows[0])
    why = "no Allow statement matches"
    if skipped:
        why += "; " + "; ".join(skipped)
    if role.aws_managed:
        why += "; AWS managed policies not evaluated: " + ", ".join(p.rsplit("/", 1)[-1] for p in role.aws_managed)
    return Verdict(call, 1, False, why)


# --------------------------------------------------------------------------- run + report


def load_calls(path: str) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            calls = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from e
    if not isinstance(calls, list):
        raise InputError(f"{path}: expected a JSON array of calls")
    for i, c in enumerate(calls):
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) and c.get(k) for k in ("function", "action", "resource")):
            raise InputError(f"{path}[{i}]: expected {{\"function\", \"action\", \"resource\"}} strings, got {c!r}")
    return calls


def check(
    sam_template: dict[str, Any],
    calls: list[dict[str, str]],
    physical: dict[str, str],
    params: dict[str, str],
    region: str,
    account: str,
) -> tuple[list[Verdict], dict[str, Role]]:
    """Transform, find each called function's role and judge every distinct call."""
    cfn = transform_template(sam_template, {k: v for k, v in params.items() if not k.startswith("AWS::")}, region)
    unknown = sorted(set(physical) - set(cfn["Resources"]))
    if unknown:
        raise InputError(f"--resource names no resource of the template: {', '.join(unknown)}")
    resolver = Resolver(cfn, physical, params, region, account)
    roles: dict[str, Role] = {}
    counted: dict[tuple[str, str, str], Verdict] = {}
    for c in calls:
        key = (c["function"], c["action"], c["resource"])
        if key in counted:
            counted[key].count += 1
            continue
        if c["function"] not in roles:
            roles[c["function"]] = function_role(cfn, c["function"], resolver)
        counted[key] = evaluate(roles[c["function"]], c["action"], c["resource"])
    return list(counted.values()), roles


def report(verdicts: list[Verdict], roles: dict[str, Role], out: TextIO) -> int:
    """Print the table and the failures; return the exit code."""
    rows = [("FUNCTION", "ACTION", "RESOURCE", "N", "VERDICT", "GRANTED BY")]
    for v in sorted(verdicts, key=lambda v: (v.call["function"], v.call["action"], v.call["resource"])):
        rows.append((v.call["function"], v.call["action"], v.call["resource"], str(v.count), "ok" if v.granted else "DENIED", v.by if v.granted else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5], file=out)
    for role in sorted(roles.values(), key=lambda r: r.logical_id):
        for note in role.notes:
            print(f"note: {role.logical_id}: {note}", file=out)
        if role.aws_managed:
            print(f"note: {role.logical_id}: AWS managed policies not evaluated: {', '.join(role.aws_managed)}", file=out)
    denied = [v for v in verdicts if not v.granted]
    if denied:
        print(f"check_iam: FAIL {len(denied)} of {len(verdicts)} distinct calls not granted:", file=out)
        for v in denied:
            print(f"  {v.call['function']}: {v.call['action']} on {v.call['resource']}: {v.by}", file=out)
        return 1
    print(f"check_iam: OK all {len(verdicts)} distinct calls ({sum(v.count for v in verdicts)} recorded) granted", file=out)
    return 0


def self_test() -> int:
    """A small in-memory template and calls with known verdicts, through the whole pipeline."""
    import io

    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": ".", "Handler": "bootstrap", "Runtime": "provided.al2023",
                "Policies": [{"Statement": [
                    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": {"Fn::GetAtt": "Table.Arn"}},
                    {"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": {
                        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:app/${Stage}/*"}},
                    {"Effect": "Deny", "Action": "dynamodb:Query", "Resource": {"Fn::Sub": ["arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${T}", {"T": {"Ref": "Table"}}]}},
                ]}]}},
        },
    }
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t-1"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/dev/x-AbCdEf"
    expected = [
        ({"function": "Fn", "action": "dynamodb:GetItem", "resource": table}, True),  # allowed
        ({"function": "Fn", "action": "DynamoDB:getitem", "resource": table}, True),  # action case-insensitive
        ({"function": "Fn", "action": "dynamodb:PutItem", "resource": table}, False),  # not allowed
        ({"function": "Fn", "action": "dynamodb:Query", "resource": table}, False),  # explicit Deny wins
        ({"function": "Fn", "action": "secretsmanager:GetSecretValue", "resource": secret}, True),  # Sub + wildcards
        ({"function": "Fn", "action": "secretsmanager:GetSecretValue", "resource": secret.replace("/dev/", "/prod/")}, False),
    ]
    calls = [c for c, _ in expected] + [expected[0][0]]  # a repeated call is counted, not re-judged
    verdicts, roles = check(template, calls, {"Table": table}, {}, "us-east-1", "123456789012")
    buf = io.StringIO()
    code = report(verdicts, roles, buf)
    failures = []
    got = {(v.call["action"], v.call["resource"]): v for v in verdicts}
    for call, want in expected:
        v = got[(call["action"], call["resource"])]
        if v.granted != want:
            failures.append(f"{call['action']} on {call['resource']}: expected {'granted' if want else 'denied'}, got {v.by}")
    if code != 1:
        failures.append(f"exit code {code}, expected 1 (some calls are not granted)")
    if got[("dynamodb:GetItem", table)].count != 2:
        failures.append("the repeated call was not counted twice")
    if "FnRole/FnRolePolicy0#0" != got[("dynamodb:GetItem", table)].by:
        failures.append(f"granting statement {got[('dynamodb:GetItem', table)].by!r}, expected FnRole/FnRolePolicy0#0")
    if failures:
        print(buf.getvalue(), file=sys.stderr)
        for f in failures:
            print(f"check_iam: self-test FAIL: {f}", file=sys.stderr)
        return 1
    print(f"check_iam: self-test OK ({len(expected)} verdicts: {sum(w for _, w in expected)} granted, {sum(not w for _, w in expected)} denied as expected)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check that each function's IAM role (after the SAM transform) grants every recorded AWS call."
    )
    parser.add_argument("--template", help="SAM template (e.g. template.yaml)")
    parser.add_argument("--calls", help="JSON array of {function, action, resource}")
    parser.add_argument("--resource", action="append", default=[], metavar="LogicalId=ARN", help="physical ARN of a template resource (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="Name=Value", help="template parameter value (repeatable); default: the template's Default")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account", default="123456789012")
    parser.add_argument("--self-test", action="store_true", help="check the verdicts of a built-in case and exit")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.template or not args.calls:
        parser.error("--template and --calls are required (or --self-test)")
    try:
        verdicts, roles = check(
            load_template(args.template),
            load_calls(args.calls),
            parse_key_values(args.resource, "--resource"),
            parse_key_values(args.param, "--param"),
            args.region,
            args.account,
        )
    except (InputError, TemplateError) as e:
        print(f"check_iam: {e}", file=sys.stderr)
        return 2
    return report(verdicts, roles, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
