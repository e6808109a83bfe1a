"""Calls to workstation servers reach the right connector, and only that one."""

from tests.workstations.conftest import run


def test_each_person_reaches_only_their_own_workstation(personal, bob):
    dave = personal.person("dave2@acme.test")
    bobs = personal.connector(bob, mark="bob-laptop")
    daves = personal.connector(dave, mark="dave-laptop")
    assert bobs.welcome["serving"] == ["files"]
    assert [o["name"] for o in bobs.welcome["offered"]] == ["files"]
    assert bobs.welcome["offered"][0]["env_keys"] == ["FILES_ROOT"]

    for _ in range(2):
        assert personal.call(bob).content[0].text.startswith("bob-laptop ")
        assert personal.call(dave).content[0].text.startswith("dave-laptop ")
    assert len(bobs.pids()) == 1 and len(daves.pids()) == 1


def test_a_person_without_a_connector_is_told_the_command(personal, bob):
    erin = personal.person("erin@acme.test")
    personal.connector(bob, mark="bob-laptop")

    result = personal.call(erin)

    assert result.is_error
    text = result.content[0].text
    assert "No connector serves 'files' for you" in text
    assert "gatehouse-connect --platform" in text and "--allow files" in text


def test_several_calls_at_once_share_one_session(personal, bob):
    import asyncio

    connector = personal.connector(bob, mark="bob-laptop")
    token = personal.token_for(bob)

    async def scenario():
        async with personal.client(token) as client:
            return await asyncio.gather(
                *(client.call_tool("files__wait", {"seconds": 0.3}) for _ in range(6)),
                client.call_tool("files__whoami", {}),
            )

    results = run(scenario())
    assert [r.content[0].text for r in results[:6]] == ["waited"] * 6
    assert results[6].content[0].text.startswith("bob-laptop ")
    assert len(connector.pids()) == 1


def test_tools_appear_soon_after_the_person_starts_their_connector(personal, bob):
    import time

    token = personal.token_for(bob)

    async def names():
        async with personal.client(token) as client:
            return [t.name for t in (await client.list_tools()).tools]

    assert run(names()) == []
    personal.connector(bob, mark="bob-laptop")
    time.sleep(2.1)  # the catalog of a missing connector is fetched again at most 2 s later

    assert "files__whoami" in run(names())


def test_a_shared_server_asks_back_only_the_person_whose_call_it_is(shared, alice, bob):
    import asyncio

    from mcp_types import ElicitResult

    shared.connector(alice, mark="build-host")
    asked = {"alice": [], "bob": []}

    def answering(who, ok):
        async def on_elicit(context, params):
            asked[who].append(params.message)
            await asyncio.sleep(0.5)  # both calls are in flight when each is asked
            return ElicitResult(action="accept", content={"ok": ok})

        return on_elicit

    async def call(who, token, ok):
        async with shared.client(token, elicitation_callback=answering(who, ok)) as client:
            return await client.call_tool("files__confirm", {"question": f"{who}: delete it?"})

    alice_token, bob_token = shared.token_for(alice), shared.token_for(bob)

    async def scenario():
        return await asyncio.gather(call("alice", alice_token, True), call("bob", bob_token, False))

    alices, bobs = run(scenario())
    assert asked == {"alice": ["alice: delete it?"], "bob": ["bob: delete it?"]}
    assert alices.content[0].text == "confirmed: True"
    assert bobs.content[0].text == "confirmed: False"
