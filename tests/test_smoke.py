from tests.support import Api, make_tenant


async def test_tenant_query_with_storefront_key(api: Api) -> None:
    t = await make_tenant(api.settings, "Acme Inc")
    d = await api.data("{ tenant { id name slug } }", storefront=t.storefront_key)
    assert d["tenant"] == {"id": t.id, "name": "Acme Inc", "slug": "acme-inc"}
