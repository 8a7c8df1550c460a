"""Fetching the images a client names by URL, for upstreams that take image bytes inline (Gemini).

Adapters do no I/O, so the gateway runs this before `chat_body` for adapters that declare
`inline_remote_images`: every http(s) `image_url` becomes a `data:` URL. A client URL is an
instruction to make a request from inside the gateway's network, so (OWASP SSRF prevention
cheat sheet) the host is resolved first and every address it resolves to must be public; the
connection then goes to that checked address (the Host header and TLS name stay the URL's), so a
second DNS answer cannot redirect it. Redirects are followed by hand and checked the same way.
Size and time are capped. Anything refused is a 400 `invalid_request_error`, code `invalid_image_url`.
Private addresses a deployment trusts (a local image server, the tests' emulator) are listed in
`server.image_fetch_allow` as host names, addresses or networks.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from relaygate.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# For servers that send `application/octet-stream`: the formats Gemini takes, by their magic bytes.
MAGIC = ((0, b"\x89PNG\r\n\x1a\n", "image/png"), (0, b"\xff\xd8\xff", "image/jpeg"), (0, b"GIF8", "image/gif"),
         (8, b"WEBP", "image/webp"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class FetchPolicy:
    names: frozenset[str] = frozenset()  # host names allowed although they resolve to private addresses
    networks: tuple[Network, ...] = ()  # addresses and networks allowed although private
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 10.0  # seconds for one image: DNS, connect, every redirect and the body
    max_redirects: int = 3
    resolve: Resolver = field(default=resolve_host, compare=False)

    def allows(self, host: str, address: IPAddress) -> bool:
        return is_public(address) or host.lower() in self.names or any(address in net for net in self.networks)


@lru_cache(maxsize=16)
def policy_for(allow: tuple[str, ...]) -> FetchPolicy:
    """The policy for `server.image_fetch_allow`: each entry a host name, an address or a network."""
    names, networks = set(), []
    for entry in allow:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower())
    return FetchPolicy(frozenset(names), tuple(networks))


def is_public(address: IPAddress) -> bool:
    """Globally routable, unicast, and not an IPv4 address hidden in an IPv6 one (mapped, 6to4,
    Teredo, NAT64), which would reach the IPv4 address it embeds."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public(embedded)
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address.teredo:
        return address.teredo[1]
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None


def refused(message: str, where: str) -> InvalidRequest:
    return InvalidRequest(message, param=where, code="invalid_image_url")


async def inline_remote_images(
    request: dict[str, Any], session: aiohttp.ClientSession, policy: FetchPolicy, cache: dict[str, str] | None = None
) -> dict[str, Any]:
    """The request with every http(s) image URL replaced by a data URL; the same object when it has none.
    `cache` (URL → data URL) spares a second fetch when the request is tried on another deployment."""
    spots = remote_image_spots(request["messages"])
    if not spots:
        return request
    cache = {} if cache is None else cache
    missing = {url: where for _, _, url, where in spots if url not in cache}
    results = await asyncio.gather(
        *(fetch_image(url, session, policy, where) for url, where in missing.items()), return_exceptions=True)
    for url, result in zip(missing, results):
        if isinstance(result, BaseException):
            raise result
        cache[url] = result
    return _replaced(request, spots, cache)


def remote_image_spots(messages: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    """(message index, part index, URL, param path) of every http(s) image URL."""
    spots = []
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else ()):
            image = part.get("image_url") if isinstance(part, dict) and part.get("type") == "image_url" else None
            url = image.get("url") if isinstance(image, dict) else None
            if isinstance(url, str) and url[:8].lower().startswith(("http://", "https://")):
                spots.append((i, j, url, f"messages[{i}].content[{j}].image_url.url"))
    return spots


def _replaced(request: dict[str, Any], spots: list[tuple[int, int, str, str]], data: dict[str, str]) -> dict[str, Any]:
    messages = list(request["messages"])
    for i, j, url, _ in spots:
        content = list(messages[i]["content"])
        content[j] = {**content[j], "image_url": {**content[j]["image_url"], "url": data[url]}}
        messages[i] = {**messages[i], "content": content}
    return {**request, "messages": messages}


async def fetch_image(url: str, session: aiohttp.ClientSession, policy: FetchPolicy, where: str) -> str:
    """The image at `url` as a data URL, within the policy; InvalidRequest otherwise."""
    try:
        async with asyncio.timeout(policy.timeout):
            return await _follow(url, session, policy, where)
    except TimeoutError:
        raise refused(f"Fetching the image at {url[:200]} took longer than {policy.timeout:g}s.", where) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise refused(f"The image at {url[:200]} could not be fetched ({type(exc).__name__}).", where) from None


async def _follow(url: str, session: aiohttp.ClientSession, policy: FetchPolicy, where: str) -> str:
    for _ in range(policy.max_redirects + 1):
        pinned, headers, server_hostname = await _checked_target(url, policy, where)
        async with session.get(pinned, headers=headers, server_hostname=server_hostname, allow_redirects=False,
                               timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status in REDIRECTS and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status != 200:
                raise refused(f"The image at {url[:200]} answered with HTTP status {response.status}.", where)
            return await _data_url(response, url, policy, where)
    raise refused(f"The image at {url[:200]} redirected more than {policy.max_redirects} times.", where)


async def _checked_target(url: str, policy: FetchPolicy, where: str) -> tuple[str, dict[str, str], str | None]:
    """The URL rewritten to a checked address, the Host header to send, and the TLS name to verify."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # "Invalid IPv6 URL", a port out of range
        raise refused("The image URL is not a valid URL.", where) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused("Image URLs must be http(s) URLs with a host name.", where)
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await policy.resolve(host, port)]
    except (OSError, ValueError):
        raise refused(f"The image host {host} could not be resolved.", where) from None
    if not addresses or not all(policy.allows(host, address) for address in addresses):
        raise refused(f"The image host {host} is a private, loopback, link-local or reserved address; "
                      "the gateway does not fetch from there.", where)
    literal = f"[{addresses[0]}]" if addresses[0].version == 6 else str(addresses[0])
    pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
    host_header = parts.netloc.rpartition("@")[2]
    return pinned, {"Host": host_header}, host if parts.scheme == "https" else None


async def _data_url(response: aiohttp.ClientResponse, url: str, policy: FetchPolicy, where: str) -> str:
    too_big = refused(f"The image at {url[:200]} is larger than {policy.max_bytes} bytes.", where)
    if (response.content_length or 0) > policy.max_bytes:
        raise too_big
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > policy.max_bytes:
            raise too_big
    mime = _image_type(response.headers.get("Content-Type", ""), bytes(body[:16]))
    if mime is None:
        raise refused(f"The URL {url[:200]} did not answer with an image.", where)
    return f"data:{mime};base64,{base64.b64encode(body).decode()}"


def _image_type(content_type: str, head: bytes) -> str | None:
    mime = content_type.split(";")[0].strip().lower()
    if mime.startswith("image/"):
        return mime
    return next((kind for offset, magic, kind in MAGIC if head[offset:offset + len(magic)] == magic), None)
