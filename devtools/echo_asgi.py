"""The echo's HTTP side on another stack, for ``make bench`` to weigh the gateway's: uvicorn
(httptools, uvloop) and a starlette route, calling the same nameko ``@rpc`` echo
(``devtools.echo rpc``) over aio-pika in nameko's RPC wire format.

    python -m devtools.echo_asgi --amqp amqp://guest:guest@127.0.0.1:5672/vowbench --port 8098

The wire format is the one ``plumbing.framework`` documents (``rpc_request`` / ``rpc_result``):
a request ``{"args", "kwargs"}`` on ``nameko-rpc`` with routing key ``<service>.<method>``,
``reply_to`` and ``correlation_id``; the reply ``{"result", "error"}`` comes back on
``nameko-rpc`` routed by ``reply_to``, to one exclusive queue per process. No eventlet here.
"""
import argparse
import asyncio
import contextlib
import json
import uuid

import aio_pika
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

SERVICE, METHOD = "bench_echo", "echo"  # devtools.echo's Echo


class RpcClient:
    """One connection, one reply queue, a future per correlation id."""

    def __init__(self, amqp_uri, name="echo-asgi"):
        self.amqp_uri = amqp_uri
        self.name = name
        self.waiting = {}

    async def start(self):
        self.connection = await aio_pika.connect_robust(self.amqp_uri)
        self.channel = await self.connection.channel()
        self.exchange = await self.channel.declare_exchange("nameko-rpc", aio_pika.ExchangeType.TOPIC,
                                                            durable=True)
        self.reply_key = str(uuid.uuid4())
        queue = await self.channel.declare_queue("rpc.reply-%s-%s" % (self.name, self.reply_key), exclusive=True,
                                                 auto_delete=True)
        await queue.bind(self.exchange, routing_key=self.reply_key)
        await queue.consume(self.on_reply, no_ack=True)

    async def on_reply(self, message):
        future = self.waiting.pop(message.correlation_id, None)
        if future is not None and not future.done():
            future.set_result(json.loads(message.body))

    async def call(self, route, args, headers=None, timeout=5.0):
        """``route`` is ``<service>.<method>``; ``headers`` the worker context nameko reads
        (``nameko.auth_token``...). Returns the reply body, ``{"result", "error"}``."""
        correlation_id = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self.waiting[correlation_id] = future
        try:
            await self.exchange.publish(aio_pika.Message(
                json.dumps({"args": list(args), "kwargs": {}}).encode(), content_type="application/json",
                correlation_id=correlation_id, reply_to=self.reply_key, headers=headers or {}, expiration=timeout,
                delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT), routing_key=route)
            return await asyncio.wait_for(future, timeout)
        finally:
            self.waiting.pop(correlation_id, None)


def app(amqp_uri):
    client = RpcClient(amqp_uri)

    async def echo(request):
        body = await client.call("%s.%s" % (SERVICE, METHOD), [json.loads(await request.body())])
        if body.get("error"):
            raise RuntimeError(body["error"])
        return Response(json.dumps(body["result"]), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await client.start()
        yield

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])], lifespan=lifespan)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m devtools.echo_asgi")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args(argv)
    uvicorn.run(app(args.amqp), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
