"""template.yaml as data: a YAML loader that keeps CloudFormation tags, and the DataBucket applied to S3.

Tests use it to create a bucket on the loopback S3 endpoint with the template's own properties
(versioning, encryption, public access block, lifecycle), instead of a hand-made one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": X}`` and ``!Sub s`` into ``{"Fn::Sub": s}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)


def resolve(value: Any, template: dict[str, Any]) -> Any:
    """A ``{"Ref": Parameter}`` replaced by the parameter's default; anything else as is."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.get("Parameters", {}):
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def create_bucket_like_template(client: Any, name: str, template: dict[str, Any] | None = None) -> None:
    """Create ``name`` with the DataBucket's properties (the bucket policy is left out: the loopback
    endpoint speaks plain HTTP, which that policy denies in AWS)."""
    template = template or load_template()
    props = template["Resources"]["DataBucket"]["Properties"]
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    sse = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in rules]
    client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": sse})
    client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    lifecycle = [_lifecycle_rule(rule, template) for rule in props["LifecycleConfiguration"]["Rules"]]
    client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})


def _lifecycle_rule(rule: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's spelling."""
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(resolve(rule["ExpirationInDays"], template))}
    if "NoncurrentVersionExpiration" in rule:
        days = resolve(rule["NoncurrentVersionExpiration"]["NoncurrentDays"], template)
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out
