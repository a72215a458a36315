"""LocalStack's default gateway server (twisted) listens on the host ``GATEWAY_LISTEN`` names.

LocalStack 4.9.2's ``TwistedRuntimeServer.register`` passes the host of an IPv6 ``GATEWAY_LISTEN`` entry to
twisted but drops the host of an IPv4 one (``TCP4ServerEndpoint(reactor, port)``, marked ``TODO:
interface = host?``), so ``GATEWAY_LISTEN=127.0.0.1:4566`` listens on every interface. The project binds
everything it starts to 127.0.0.1, which is why the embedded cloud used the hypercorn server instead; but
hypercorn is not LocalStack's default (the official image runs twisted), and LocalStack answers every
hypercorn request that does not ask for keep-alive with ``Connection: close`` (its work-around for h11,
localstack#6557), so boto3 opened a new connection per call on the main port. Twisted keeps connections
alive as AWS does.

This replaces ``register`` with one that gives twisted the interface of every entry, IPv4 included; the
rest (the site, the TLS multiplexer on the same port) is as LocalStack builds it. It runs as an
``on_infra_start`` hook, which LocalStack runs before it registers the gateway server.

LocalStack bug fix: yes. Upstream code: ``TwistedRuntimeServer.register`` in
``localstack/runtime/server/twisted.py`` (the ``TODO: interface = host?`` line), unfixed in the archived
repository (2026-03); no upstream issue found.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.runtime.server.twisted",
        "TwistedRuntimeServer.register",
        "(self, gateway: rolo.gateway.gateway.Gateway, listen: list[localstack.config.HostAndPort], ssl_creds: tuple[str, str] | None = None)",  # noqa: E501 (a signature, as inspect prints it)
    ),
    Replaces(
        "localstack.aws.serving.twisted",
        "TLSMultiplexerFactory",
        "(contextFactory: 'SomeConnectionCreator', isClient: 'bool', wrappedFactory: 'IProtocolFactory', clock: 'IReactorTime | None' = None) -> 'None'",  # noqa: E501
    ),
    Replaces("rolo.serving.twisted", "TwistedGateway", "(gateway: rolo.gateway.gateway.Gateway)"),
)


@hooks.on_infra_start()
def twisted_listens_on_its_host() -> None:
    require_localstack_version("gateway_listen_host")
    from localstack import config
    from localstack.runtime.server import twisted as server

    def register(
        self: Any, gateway: Any, listen: list[Any], ssl_creds: tuple[str, str] | None = None
    ) -> None:
        from localstack.aws.serving.twisted import TLSMultiplexerFactory
        from rolo.serving.twisted import TwistedGateway
        from twisted.internet import endpoints, reactor, ssl

        site = TwistedGateway(gateway)
        factory: Any = site
        if ssl_creds:  # HTTP and HTTPS on the same port, as LocalStack serves them
            cert_file, key_file = ssl_creds
            context = ssl.DefaultOpenSSLContextFactory(key_file, cert_file)
            context.getContext().use_certificate_chain_file(cert_file)
            factory = TLSMultiplexerFactory(context, False, site)
        for address in listen:
            ipv6 = config.is_ipv6_address(address.host)
            endpoint = endpoints.TCP6ServerEndpoint if ipv6 else endpoints.TCP4ServerEndpoint
            endpoint(reactor, address.port, interface=address.host).listen(factory)

    server.TwistedRuntimeServer.register = register
    applied("gateway_listen_host")
