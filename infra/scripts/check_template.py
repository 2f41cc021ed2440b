#!/usr/bin/env python3
"""Deployability check of the SAM template, offline.

`sam validate --lint` passed on a template CloudFormation refused to deploy: the cycle
(function env -> HttpApi -> function ARN in the API's generated body) exists only AFTER the
SAM transform, and the pinned cfn-lint does not follow every reference there. So this script
transforms the template itself with samtranslator (as `sam validate` does, no AWS access) and
checks the result:

  (a) no circular dependency between resources (Ref, Fn::GetAtt, Fn::Sub, any nesting, DependsOn);
  (b) no reference to a name that is neither a resource, a parameter nor a pseudo parameter;
  (c) cfn-lint (the venv's version) reports no E-level error on the TRANSFORMED template.
      No cfn-lint rule is ignored. With --expect-cycle, E3004 (circular dependency) is expected
      and so not counted as an extra error: it is the same finding as (a).

Run it with the tool venv's python (samtranslator and cfn-lint come with aws-sam-cli):
  .tools/venv/bin/python infra/scripts/check_template.py template.yaml
  .tools/venv/bin/python infra/scripts/check_template.py --expect-cycle infra/scripts/fixtures/template_with_cycle.yaml

The functions here (load_template, transform_template, references, ...) are imported by
check_iam.py.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)

# ${Name}, ${Name.Attr}; ${!Literal} is an escaped literal, not a reference.
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """The template cannot be loaded or transformed; the message says why."""


# --------------------------------------------------------------------------- load + transform


def load_template(path: str) -> dict[str, Any]:
    """Parse a SAM/CFN template (YAML with short tags like !Ref, or JSON) into plain dicts."""
    from samtranslator.yaml_helper import yaml_parse

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        parsed = yaml_parse(text)
    except (OSError, ValueError) as e:
        raise TemplateError(f"{path}: cannot read template: {e}") from e
    except Exception as e:  # yaml errors carry their own position info
        raise TemplateError(f"{path}: cannot parse template: {e}") from e
    if not isinstance(parsed, dict) or not isinstance(parsed.get("Resources"), dict):
        raise TemplateError(f"{path}: not a template (no Resources mapping)")
    # Unquoted dates (AWSTemplateFormatVersion) come back as datetime.date: make it all JSON.
    return json.loads(json.dumps(parsed, default=str))


class BundledManagedPolicyLoader:
    """Managed policy name -> ARN map without calling IAM.

    SAM asks for this map only when `Policies` names an AWS managed policy that is missing from
    the map samtranslator ships (e.g. arn:aws:iam::aws:policy/service-role/AWSLambdaRole); the
    real loader would call iam:ListPolicies. Offline we can only answer with that same bundled
    map: an unknown name stays as is and then fails cfn-lint's ARN pattern, which is right.
    """

    def __init__(self, partition: str = "aws") -> None:
        self.partition = partition

    def load(self) -> dict[str, str]:
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

        return dict(get_bundled_managed_policy_map(self.partition) or {})


def _fake_s3_uris(template: dict[str, Any]) -> None:
    """Replace local code/definition paths by an S3 URI, as `sam validate` does.

    The translator only accepts S3 locations; before `sam package` they are local paths.
    """
    fake = "s3://bucket/value"
    glob_fn = template.get("Globals", {}).get("Function", {})
    if isinstance(glob_fn, dict) and isinstance(glob_fn.get("CodeUri"), str):
        glob_fn["CodeUri"] = fake
    keys = {
        "AWS::Serverless::Function": "CodeUri",
        "AWS::Serverless::LayerVersion": "ContentUri",
        "AWS::Serverless::Api": "DefinitionUri",
        "AWS::Serverless::HttpApi": "DefinitionUri",
        "AWS::Serverless::StateMachine": "DefinitionUri",
    }
    for res in template["Resources"].values():
        if not isinstance(res, dict):
            continue
        key = keys.get(res.get("Type", ""))
        props = res.get("Properties")
        if not key or not isinstance(props, dict):
            continue
        if res["Type"] == "AWS::Serverless::Function" and props.get("PackageType", "Zip") != "Zip":
            continue
        if key == "CodeUri" and key not in props and "InlineCode" not in props:
            if not isinstance(glob_fn, dict) or "CodeUri" not in glob_fn:
                props[key] = fake
            continue
        if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = fake


def transform_template(
    template: dict[str, Any],
    parameter_values: dict[str, str] | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """Run the SAM transform offline; returns the plain CloudFormation template.

    A template without the Serverless transform is returned as is (a deep copy).
    """
    transforms = template.get("Transform")
    transforms = transforms if isinstance(transforms, list) else [transforms]
    if "AWS::Serverless-2016-10-31" not in transforms:
        return copy.deepcopy(template)

    # samtranslator finds the region (for the partition) through boto3's normal resolution.
    os.environ["AWS_DEFAULT_REGION"] = region
    # It warns about unpublished metrics on exit; they are not ours to publish.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.transform import transform

    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    sam = copy.deepcopy(template)
    _fake_s3_uris(sam)
    try:
        out = transform(sam, dict(parameter_values or {}), BundledManagedPolicyLoader(ArnGenerator.get_partition_name(region)))
    except InvalidDocumentException as e:
        causes = " ".join(getattr(c, "message", str(c)) for c in e.causes)
        raise TemplateError(f"SAM transform failed: {e.message} {causes}") from e
    return json.loads(json.dumps(out))


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference:
    """One reference found in a template value.

    kind: "Ref", "GetAtt", "Sub" (a ${} name in Fn::Sub) or "DependsOn"; name: the target
    logical id / parameter; attr: the attribute for GetAtt and ${X.Attr}; path: where it is.
    """

    kind: str
    name: str
    attr: str | None
    path: str


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def sub_names(text: str) -> Iterator[tuple[str, str | None]]:
    """The (name, attr) pairs a Fn::Sub string refers to; escaped ${!X} are skipped."""
    for m in _SUB_VAR.finditer(text):
        inner = m.group(1).strip()
        if not inner or inner.startswith("!"):
            continue
        if inner.startswith("AWS::"):
            yield inner, None
            continue
        name, _, attr = inner.partition(".")
        yield name, attr or None


def references(node: Any, path: str = "") -> Iterator[Reference]:
    """Every Ref / Fn::GetAtt / Fn::Sub reference in a template value, at any depth.

    Fn::Sub variables defined in its own map are local, not references; the map's values are
    searched like any other value. Fn::If's first argument is a condition name, not a reference.
    """
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from references(item, _join(path, i))
        return
    if not isinstance(node, dict):
        return
    if len(node) == 1:
        (key, value), = node.items()
        here = _join(path, key)
        if key == "Ref" and isinstance(value, str):
            yield Reference("Ref", value, None, here)
            return
        if key == "Fn::GetAtt":
            if isinstance(value, str):
                name, _, attr = value.partition(".")
                yield Reference("GetAtt", name, attr or None, here)
                return
            if isinstance(value, list) and value and isinstance(value[0], str):
                attr = value[1] if len(value) > 1 and isinstance(value[1], str) else None
                yield Reference("GetAtt", value[0], attr, here)
                for i, item in enumerate(value[1:], start=1):  # a dynamic attribute may hold a Ref
                    yield from references(item, _join(here, i))
                return
        if key == "Fn::Sub":
            if isinstance(value, str):
                for name, attr in sub_names(value):
                    yield Reference("Sub", name, attr, here)
                return
            if isinstance(value, list) and value and isinstance(value[0], str):
                local = value[1] if len(value) > 1 and isinstance(value[1], dict) else {}
                for name, attr in sub_names(value[0]):
                    if attr is None and name in local:
                        continue
                    yield Reference("Sub", name, attr, here)
                yield from references(local, _join(here, 1))
                return
        if key == "Fn::If" and isinstance(value, list) and value:
            for i, item in enumerate(value[1:], start=1):
                yield from references(item, _join(here, i))
            return
    for key, value in node.items():
        yield from references(value, _join(path, key))


def resource_references(logical_id: str, resource: dict[str, Any]) -> Iterator[Reference]:
    """References of one resource: its DependsOn plus any intrinsic in its body.

    Type, Condition (a condition name) and DeletionPolicy-like literals hold no references.
    """
    depends = resource.get("DependsOn", [])
    for i, dep in enumerate([depends] if isinstance(depends, str) else depends or []):
        if isinstance(dep, str):
            yield Reference("DependsOn", dep, None, f"{logical_id}.DependsOn[{i}]")
    for key, value in resource.items():
        if key in ("Type", "Condition", "DependsOn"):
            continue
        yield from references(value, f"{logical_id}.{key}")


@dataclass
class Graph:
    """Resource dependency graph: edges[a][b] = first reference from a to b (for messages)."""

    nodes: list[str]
    edges: dict[str, dict[str, Reference]]
    reference_count: int

    @property
    def edge_count(self) -> int:
        return sum(len(v) for v in self.edges.values())


def build_graph(template: dict[str, Any]) -> tuple[Graph, list[str]]:
    """The dependency graph between resources, and every unresolved reference (as messages)."""
    resources = template.get("Resources", {})
    parameters = set(template.get("Parameters", {}) or {})
    edges: dict[str, dict[str, Reference]] = {r: {} for r in resources}
    unresolved: list[str] = []
    count = 0

    def check(ref: Reference, source: str | None) -> None:
        nonlocal count
        count += 1
        if ref.name in resources:
            if source is not None:
                edges[source].setdefault(ref.name, ref)
            return
        if ref.kind in ("GetAtt", "DependsOn") or (ref.kind == "Sub" and ref.attr):
            what = "resource"
        elif ref.name in parameters or ref.name in PSEUDO_PARAMETERS:
            return
        else:
            what = "resource, parameter or pseudo parameter"
        shown = f"{ref.name}.{ref.attr}" if ref.attr else ref.name
        unresolved.append(f"{ref.path}: {ref.kind} {shown!r} is no {what} of the template")

    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            unresolved.append(f"{logical_id}: resource is not a mapping")
            continue
        for ref in resource_references(logical_id, resource):
            check(ref, logical_id)
    for section in ("Outputs", "Conditions"):
        for ref in references(template.get(section, {}) or {}, section):
            check(ref, None)
    return Graph(list(resources), edges, count), unresolved


def find_cycles(graph: Graph) -> list[list[str]]:
    """Elementary cycles, one per (rotation of a) shortest cycle through each resource in a
    strongly connected component, rotated to start at its smallest name; sorted."""
    found: set[tuple[str, ...]] = set()
    for start in sorted(graph.nodes):
        # BFS for the shortest path start -> ... -> start.
        prev: dict[str, str] = {}
        queue = deque([start])
        seen = {start}
        end = None
        while queue and end is None:
            node = queue.popleft()
            for nxt in sorted(graph.edges.get(node, {})):
                if nxt == start:
                    end = node
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    prev[nxt] = node
                    queue.append(nxt)
        if end is None:
            continue
        path = [end]
        while path[-1] != start:
            path.append(prev[path[-1]])
        cycle = list(reversed(path))  # start ... end
        i = cycle.index(min(cycle))
        found.add(tuple(cycle[i:] + cycle[:i]))
    return [list(c) for c in sorted(found)]


def describe_cycle(graph: Graph, cycle: list[str]) -> str:
    """`A -> B -> A`, then one indented line per edge saying which reference makes it."""
    lines = [" -> ".join(cycle + [cycle[0]])]
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        ref = graph.edges[a][b]
        target = f"{ref.name}.{ref.attr}" if ref.attr else ref.name
        lines.append(f"    {a} -> {b}: {ref.kind} {target} at {ref.path}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- cfn-lint


def lint_errors(cfn: dict[str, Any], region: str) -> tuple[list[Any], list[Any]]:
    """cfn-lint matches on the transformed template, split into (errors, other levels)."""
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(json.dumps(cfn, indent=1), config=ManualArgs(regions=[region]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    others = [m for m in matches if not m.rule.id.startswith("E")]
    return errors, others


def _format_match(m: Any) -> str:
    path = getattr(m, "path", None)
    where = "/".join(str(p) for p in path) if path else f"line {m.linenumber} of the transformed JSON"
    message = m.message if len(m.message) <= 200 else m.message[:200] + "..."
    return f"{m.rule.id} {message} (at {where})"


def parse_key_values(items: list[str], option: str) -> dict[str, str]:
    """`Name=Value` option values -> dict; exits with a usage error on a malformed one."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"{option} expects Name=Value, got {item!r}", file=sys.stderr)
            raise SystemExit(2)
        out[key] = value
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Transform a SAM template offline and fail on circular dependencies, "
        "unresolved references and cfn-lint errors in the transformed template."
    )
    parser.add_argument("template", help="SAM template (YAML or JSON)")
    parser.add_argument(
        "--expect-cycle",
        action="store_true",
        help="succeed only if a circular dependency is found (and nothing else is wrong); for fixtures",
    )
    parser.add_argument("--param", action="append", default=[], metavar="Name=Value", help="template parameter value (repeatable)")
    parser.add_argument("--region", default="us-east-1", help="region for the transform and cfn-lint (default us-east-1)")
    parser.add_argument("--dump", metavar="FILE", help="also write the transformed template as JSON to FILE")
    args = parser.parse_args(argv)

    name = os.path.basename(args.template)
    try:
        cfn = transform_template(load_template(args.template), parse_key_values(args.param, "--param"), args.region)
    except TemplateError as e:
        print(f"check_template: FAIL {name}: {e}", file=sys.stderr)
        return 1
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            json.dump(cfn, f, indent=1, sort_keys=True)

    graph, unresolved = build_graph(cfn)
    cycles = find_cycles(graph)
    errors, others = lint_errors(cfn, args.region)
    if args.expect_cycle:
        errors = [m for m in errors if m.rule.id != "E3004"]

    for m in others:
        print(f"check_template: note (cfn-lint): {_format_match(m)}", file=sys.stderr)
    problems: list[str] = []
    if cycles and not args.expect_cycle:
        problems += [f"circular dependency: {describe_cycle(graph, c)}" for c in cycles]
    problems += [f"unresolved reference: {u}" for u in unresolved]
    problems += [f"cfn-lint: {_format_match(m)}" for m in errors]

    stats = (
        f"{len(graph.nodes)} resources after transform, {graph.reference_count} references, "
        f"{graph.edge_count} resource edges checked"
    )
    if args.expect_cycle:
        for c in cycles:
            print(f"check_template: expected cycle found: {describe_cycle(graph, c)}")
        if not cycles:
            problems.append("expected a circular dependency, found none")
    if problems:
        for p in problems:
            print(f"check_template: FAIL {name}: {p}", file=sys.stderr)
        print(f"check_template: FAIL {name}: {len(problems)} problem(s); {stats}", file=sys.stderr)
        return 1
    if args.expect_cycle:
        print(f"check_template: OK {name}: {len(cycles)} cycle(s) found as expected; {stats}")
    else:
        print(f"check_template: OK {name}: {stats}; no cycles, no unresolved references, cfn-lint clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
