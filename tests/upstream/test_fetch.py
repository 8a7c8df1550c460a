"""Image URL fetching and its SSRF rules (upstream/fetch.py), against a local aiohttp server."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from relaygate.errors import InvalidRequest
from relaygate.upstream.fetch import FetchPolicy, fetch_image, inline_remote_images, is_public, policy_for

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==")
LOCAL = policy_for(("127.0.0.1",))


def app(hits: list[str]) -> web.Application:
    async def image(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return web.Response(body=PNG, content_type="image/png")

    async def host(request: web.Request) -> web.StreamResponse:
        return web.Response(body=request.headers["Host"].encode(), content_type="image/x-host")

    async def octet(request: web.Request) -> web.StreamResponse:
        return web.Response(body=PNG, content_type="application/octet-stream")

    async def text(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html></html>", content_type="text/html")

    async def big(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\0" * 2048, content_type="image/png")

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(8):
            await response.write(b"\0" * 256)
        return response

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(body=PNG, content_type="image/png")

    def redirect(to: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(to)
        return handler

    application = web.Application()
    application.router.add_get("/cat.png", image)
    application.router.add_get("/host", host)
    application.router.add_get("/octet", octet)
    application.router.add_get("/text", text)
    application.router.add_get("/big", big)
    application.router.add_get("/big-chunked", big_chunked)
    application.router.add_get("/slow", slow)
    application.router.add_get("/redirect", redirect("/cat.png"))
    application.router.add_get("/redirect-private", redirect("http://10.0.0.7/cat.png"))
    application.router.add_get("/loop", redirect("/loop"))
    return application


def serve(test: Callable[[str, aiohttp.ClientSession, list[str]], Awaitable[Any]]) -> Any:
    """Run `test(base_url, session, hits)` with a local image server on 127.0.0.1."""
    async def main() -> Any:
        hits: list[str] = []
        runner = web.AppRunner(app(hits), shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                return await test(f"http://127.0.0.1:{port}", session, hits)
        finally:
            await runner.cleanup()
    return asyncio.run(main())


def fake_resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


def data_of(url: str) -> tuple[str, bytes]:
    header, _, data = url.partition(",")
    return header, base64.b64decode(data)


def test_loopback_is_refused_without_the_allow_setting_and_nothing_is_requested():
    async def test(base, session, hits):
        with pytest.raises(InvalidRequest) as caught:
            await fetch_image(f"{base}/cat.png", session, FetchPolicy(), "messages[0].content[1].image_url.url")
        return caught.value, hits
    error, hits = serve(test)
    assert error.status == 400 and error.type == "invalid_request_error" and error.code == "invalid_image_url"
    assert error.param == "messages[0].content[1].image_url.url"
    assert "private, loopback" in error.message
    assert hits == []


def test_allowed_loopback_is_fetched_as_a_data_url():
    url = serve(lambda base, session, hits: fetch_image(f"{base}/cat.png", session, LOCAL, "p"))
    assert data_of(url) == ("data:image/png;base64", PNG)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]", "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]", "[2002:7f00:1::1]", "[64:ff9b::a00:1]", "[ff02::1]",
])
def test_private_loopback_link_local_reserved_and_embedded_addresses_are_refused(host):
    async def test():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(InvalidRequest) as caught:
                await fetch_image(f"http://{host}/x.png", session, FetchPolicy(), "p")
            return caught.value
    assert asyncio.run(test()).code == "invalid_image_url"


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("addresses", [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["fd12::1"]])
def test_a_name_resolving_to_any_private_address_is_refused(addresses):
    policy = FetchPolicy(resolve=fake_resolver({"images.example.com": addresses}))
    async def test():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(InvalidRequest) as caught:
                await fetch_image("https://images.example.com/cat.png", session, policy, "p")
            return caught.value
    assert "images.example.com is a private" in asyncio.run(test()).message


def test_localhost_by_name_is_refused_too():
    async def test(base, session, hits):
        with pytest.raises(InvalidRequest):
            await fetch_image(base.replace("127.0.0.1", "localhost") + "/cat.png", session, FetchPolicy(), "p")
        return hits
    assert serve(test) == []


def test_the_connection_goes_to_the_checked_address_with_the_urls_host_header():
    async def test(base, session, hits):
        port = base.rsplit(":", 1)[1]
        policy = FetchPolicy(names=frozenset({"images.internal"}),
                             resolve=fake_resolver({"images.internal": ["127.0.0.1"]}))
        return await fetch_image(f"http://images.internal:{port}/host", session, policy, "p"), port
    url, port = serve(test)
    assert data_of(url) == ("data:image/x-host;base64", f"images.internal:{port}".encode())


def test_an_unresolvable_host_is_a_400():
    policy = FetchPolicy(resolve=fake_resolver({}))
    async def test():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(InvalidRequest) as caught:
                await fetch_image("http://no-such-host.invalid/cat.png", session, policy, "p")
            return caught.value
    assert "could not be resolved" in asyncio.run(test()).message


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_the_size_cap_holds_with_and_without_a_content_length(path):
    policy = dataclasses.replace(LOCAL, max_bytes=1000)
    async def test(base, session, hits):
        with pytest.raises(InvalidRequest) as caught:
            await fetch_image(base + path, session, policy, "p")
        return caught.value
    assert "larger than 1000 bytes" in serve(test).message


def test_a_slow_image_times_out():
    policy = dataclasses.replace(LOCAL, timeout=0.3)
    async def test(base, session, hits):
        with pytest.raises(InvalidRequest) as caught:
            await fetch_image(base + "/slow", session, policy, "p")
        return caught.value
    assert "longer than 0.3s" in serve(test).message


@pytest.mark.parametrize(("path", "message"), [
    ("/text", "did not answer with an image"),
    ("/missing", "HTTP status 404"),
    ("/redirect-private", "10.0.0.7 is a private"),
    ("/loop", "redirected more than 3 times"),
])
def test_refusals(path, message):
    async def test(base, session, hits):
        with pytest.raises(InvalidRequest) as caught:
            await fetch_image(base + path, session, LOCAL, "p")
        return caught.value
    assert message in serve(test).message


def test_redirects_are_followed_and_octet_streams_are_sniffed():
    urls = serve(lambda base, session, hits: asyncio.gather(
        fetch_image(base + "/redirect", session, LOCAL, "p"), fetch_image(base + "/octet", session, LOCAL, "p")))
    assert [data_of(url) for url in urls] == [("data:image/png;base64", PNG)] * 2


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http:///nohost.png", "http://[::1/x.png", "http://h:99999/x.png"])
def test_only_valid_http_urls_are_fetched(url):
    async def test():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(InvalidRequest) as caught:
                await fetch_image(url, session, LOCAL, "p")
            return caught.value
    assert asyncio.run(test()).code == "invalid_image_url"


def test_inline_remote_images_replaces_http_urls_once_each_and_keeps_the_rest():
    async def test(base, session, hits):
        url = f"{base}/cat.png"
        request = {"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [
                {"type": "text", "text": "Two cats"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGOD=="}},
                {"type": "image_url", "image_url": {"url": url}},
            ]},
        ]}
        cache: dict[str, str] = {}
        out = await inline_remote_images(request, session, LOCAL, cache)
        again = await inline_remote_images(request, session, LOCAL, cache)
        plain = {"model": "m", "messages": [{"role": "user", "content": "no images"}]}
        return request, out, again, hits, plain is await inline_remote_images(plain, session, LOCAL)
    request, out, again, hits, untouched = serve(test)
    parts = out["messages"][1]["content"]
    assert data_of(parts[1]["image_url"]["url"]) == ("data:image/png;base64", PNG)
    assert parts[1]["image_url"]["detail"] == "low"
    assert parts[2] == request["messages"][1]["content"][2]
    assert parts[3]["image_url"]["url"] == parts[1]["image_url"]["url"]
    assert request["messages"][1]["content"][1]["image_url"]["url"].startswith("http://"), "the input is not changed"
    assert again == out and hits == ["/cat.png"], "one fetch per URL, and none for a cached one"
    assert untouched
