"""service.client: the alias kept for existing imports names the very objects of learnseg_client."""

from __future__ import annotations

import learnseg_client
import service.client


def test_the_alias_exports_the_clients_own_objects() -> None:
    assert service.client.__all__
    for name in service.client.__all__:
        assert getattr(service.client, name) is getattr(learnseg_client, name), name
    assert set(service.client.__all__) <= set(learnseg_client.__all__)
