"""cronplane's botocore model loader finds and reads the very models botocore's own does, only
without the scan of every service folder and the OrderedDict parsing (aws.service_models)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from cronplane.aws.client import AwsClient
from cronplane.aws.service_models import ServiceModelLoader, create_loader
from cronplane.aws.session import AwsConfig

# Every service cronplane calls, on the deploy side and in the ops commands.
SERVICES = ["dynamodb", "events", "iam", "lambda", "logs", "resourcegroupstaggingapi", "scheduler", "sqs", "sts"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_same_models_as_botocores_loader(service: str) -> None:
    ours, stock = ServiceModelLoader(), Loader()
    for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1"):
        assert ours.load_service_model(service, type_name) == stock.load_service_model(service, type_name)
    assert ours.load_data("endpoints") == stock.load_data("endpoints")


def test_known_services_answer_as_botocores_list_without_scanning_it() -> None:
    ours, stock = ServiceModelLoader(), Loader()
    known = ours.list_available_services("service-2")
    for name in [*SERVICES, "s3", "no-such-service", "", "../lambda", ".hidden"]:
        assert (name in known) == (name in stock.list_available_services("service-2")), name
    assert not any(key[0] == "list_available_services" for key in ours._cache)  # no folder scan so far
    assert list(known) == stock.list_available_services("service-2")  # iterating still lists them all
    with pytest.raises(UnknownServiceError, match="Unknown service: 'no-such-service'"):
        ours.load_service_model("no-such-service", "service-2")


def test_a_model_in_aws_data_path_is_found_and_a_plain_json_beats_a_gzipped_one(tmp_path: Path) -> None:
    folder = tmp_path / "sqs" / "2099-01-01"
    folder.mkdir(parents=True)
    model = Loader().load_service_model("sqs", "service-2")
    (folder / "service-2.json.gz").write_bytes(gzip.compress(json.dumps(model).encode()))
    assert create_loader(str(tmp_path)).determine_latest_version("sqs", "service-2") == "2099-01-01"
    model["metadata"]["apiVersion"] = "2099-01-01"
    (folder / "service-2.json").write_text(json.dumps(model))
    assert create_loader(str(tmp_path)).load_service_model("sqs", "service-2")["metadata"]["apiVersion"] == "2099-01-01"


def test_every_client_cronplane_uses_is_built_through_it(aws: None) -> None:
    aws_client = AwsClient(AwsConfig(region="eu-west-1"))
    for service in SERVICES:
        client = aws_client.boto3_client(service)
        assert client.meta.service_model.service_name == service
    assert isinstance(aws_client._shared_session().get_component("data_loader"), ServiceModelLoader)
    assert aws_client.call("sts", "get_caller_identity")["Account"] == "123456789012"
