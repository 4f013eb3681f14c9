"""The studio as an MCP server (GRADIO_MCP_SERVER=1), driven by the `mcp` Python client against the running
app: the tools an agent sees and how each is described, a speech made and fetched by its URL, a file given
back as a data: URL; and no MCP server with sign-in on."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import pytest
import soundfile as sf

from tests.conftest import AppProcess, free_port

# The endpoints an agent may call (a public contract, like the endpoints' names and parameters).
TOOLS = {"speak", "clone_voice", "create_voice", "consent_prompt", "list_voices", "talking_head", "write_lyrics",
         "compose_song", "mix", "scene_video", "music_video", "image_to_video", "make_deck", "narrate_pptx",
         "list_projects", "list_generations", "verify_media", "capabilities", "make_clone_video", "write_script"}
# Kept out of MCP: administration, sharing, cancelling, import and export, and the project plumbing.
NOT_TOOLS = {"list_users", "create_user", "set_user_disabled", "security_events", "cancel", "import_project",
             "export_project", "share_project", "unshare_project", "list_shares", "share_voice", "unshare_voice"}
SPOKEN = "Hello from an agent. The studio speaks this sentence, and hands the file back as a link."


@pytest.fixture(scope="module")
def mcp_app(tmp_path_factory):
    app = AppProcess(tmp_path_factory.mktemp("mcp-app") / "data", free_port(), env={"GRADIO_MCP_SERVER": "1"})
    yield app
    app.stop()


def in_session(app: AppProcess, work, headers: dict | None = None):
    """Run `await work(session)` in an MCP session over SSE (/gradio_api/mcp/sse); its result."""
    from mcp import ClientSession
    from mcp.client.sse import sse_client

    async def run():
        async with sse_client(app.url + "gradio_api/mcp/sse", headers=headers, timeout=30,
                              sse_read_timeout=300) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def tool_text(result) -> str:
    return " ".join(c.text for c in result.content if c.type == "text")


def test_the_tools_an_agent_sees_are_described_parameter_by_parameter(mcp_app):
    async def listed(session):
        return (await session.list_tools()).tools

    tools = {t.name: t for t in in_session(mcp_app, listed)}
    assert set(tools) == TOOLS, (set(tools) - TOOLS, TOOLS - set(tools))
    for name, tool in tools.items():
        assert len(tool.description) > 40, name
        for param, schema in tool.inputSchema["properties"].items():
            assert len(schema.get("description", "")) > 10, f"{name}({param}) has no description under Args:"
    speak = tools["speak"].inputSchema
    assert speak["required"] == ["text"]
    assert "0.5 to 2.0" in speak["properties"]["speed"]["description"]
    assert "profile:<id>" in speak["properties"]["voice"]["description"]


def test_the_schema_and_the_streamable_http_transport_answer_with_the_same_tools(mcp_app):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    r = httpx.get(mcp_app.url + "gradio_api/mcp/schema", timeout=30)
    assert r.status_code == 200
    schema = {t["name"]: t for t in r.json()}
    assert set(schema) == TOOLS
    assert schema["compose_song"]["inputSchema"]["properties"]["duration_s"]["description"].startswith("Length")

    async def over_http():
        async with streamable_http_client(mcp_app.url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return {t.name for t in (await session.list_tools()).tools}

    assert asyncio.run(over_http()) == TOOLS


def test_speak_gives_a_file_url_of_real_speech_and_files_go_back_as_data_urls(mcp_app):
    async def speak_then_verify(session):
        said = await session.call_tool("speak", {"text": SPOKEN})
        assert not said.isError, tool_text(said)
        url = tool_text(said).strip()
        audio = httpx.get(url, timeout=60)
        assert audio.status_code == 200, url
        data_url = "data:audio/wav;base64," + base64.b64encode(audio.content).decode()
        verified = await session.call_tool("verify_media", {"file": data_url})
        return url, audio.content, verified

    url, wav, verified = in_session(mcp_app, speak_then_verify)
    assert url.startswith(mcp_app.url + "gradio_api/file=") and url.endswith(".wav")
    samples, rate = sf.read(io.BytesIO(wav))
    assert len(samples) / rate > 1.0 and abs(samples).max() > 0.05
    assert not verified.isError, tool_text(verified)
    assert "'made_here': True" in tool_text(verified) and "speak generation" in tool_text(verified)


def test_tools_kept_out_of_mcp_cannot_be_called_by_name(mcp_app):
    async def call(session):
        return [await session.call_tool(name, {}) for name in ("list_users", "cancel", "export_project")]

    for result in in_session(mcp_app, call):
        assert result.isError and "Unknown tool" in tool_text(result)


def test_with_sign_in_on_the_mcp_server_is_not_started(tmp_path_factory):
    """Gradio's MCP server lists its tools to anyone and calls the app back through its own client, without the
    caller's session: with sign-in on it could act for no one, so the app does not start it, and says why."""
    app = AppProcess(tmp_path_factory.mktemp("mcp-accounts") / "data", free_port(),
                     env={"GRADIO_MCP_SERVER": "1", "AUTH": "alice:alice-password"})
    try:
        with httpx.Client() as browser:
            assert browser.post(app.url + "login", data={"username": "alice", "password": "alice-password"},
                                timeout=30).status_code == 200
            for path in ("gradio_api/mcp/schema", "gradio_api/mcp/sse", "gradio_api/mcp/"):
                assert httpx.get(app.url + path, timeout=30).status_code in (401, 404), path
                assert browser.get(app.url + path, timeout=30).status_code == 404, path
        assert "the MCP server is not started: sign-in is on" in app.log.read_text()
    finally:
        app.stop()
