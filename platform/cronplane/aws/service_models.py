"""botocore's model loader, minus two costs a short-lived command pays on every run.

Building a client loads the service's JSON models (API shapes, endpoint rules, paginators).
botocore's stock ``Loader`` does two things a ``jobctl`` run does not need:

- before loading any model it lists every service it knows (``list_available_services``), to
  check that the name is one of them: a scan of ~420 folders, twice (service models and
  endpoint rule sets), ~20 ms. ``ServiceModelLoader`` asks only about the service it loads
  (``list_api_versions``: the same test, "a folder with a version holding that model", for one
  name); the full list is still there for anything that iterates it;
- it parses every file into ``OrderedDict``s (``object_pairs_hook``), from before dicts kept
  their order; plain ``json.loads`` builds the same mappings, in the same order, ~2x faster
  (~20 ms over a deploy's eight clients).

The models themselves, their search paths (``~/.aws/models``, ``AWS_DATA_PATH``) and the
extras merged into them are botocore's, unchanged.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, overload

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader


class PlainJsonFiles(JSONFileLoader):
    """botocore's JSON file loader, parsing into plain dicts."""

    def load_file(self, file_path: str) -> Any:
        # botocore's order: a plain .json beside a .json.gz (a model installed by hand) wins.
        if os.path.isfile(file_path + ".json"):
            with open(file_path + ".json", "rb") as plain:
                return json.loads(plain.read())
        if os.path.isfile(file_path + ".json.gz"):
            with gzip.open(file_path + ".json.gz", "rb") as packed:
                return json.loads(packed.read())
        return None


class ServiceModelLoader(Loader):
    def __init__(self, extra_search_paths: list[str] | None = None) -> None:
        super().__init__(extra_search_paths=extra_search_paths, file_loader=PlainJsonFiles())

    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        # A sequence, not a list: botocore only tests `name in` it, and the list costs ~10 ms.
        return _KnownServices(self, type_name)


class _KnownServices(Sequence[str]):
    """The services with a ``type_name`` model: ``name in`` looks at that one service's folder;
    iterating or indexing lists them all (botocore's full scan, done once)."""

    def __init__(self, loader: ServiceModelLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        try:
            self._loader.list_api_versions(name, self._type_name)
        except DataNotFoundError:
            return False
        return True

    def _all(self) -> list[str]:
        return list(Loader.list_available_services(self._loader, self._type_name))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def create_loader(data_path: str | None) -> ServiceModelLoader:
    """What ``botocore.loaders.create_loader`` makes of the ``data_path`` setting
    (``AWS_DATA_PATH``), as a ``ServiceModelLoader``."""
    if not data_path:
        return ServiceModelLoader()
    return ServiceModelLoader([os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)])
