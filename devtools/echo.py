"""The messaging ceiling ``make bench`` measures the redemption path against: a bare nameko
HTTP -> RPC echo, as plain as nameko makes it (no plumbing, no database, no auth).

    python -m devtools.echo rpc  --amqp amqp://guest:guest@127.0.0.1:5672/vowbench
    python -m devtools.echo http --amqp ... --port 8099      # POST /echo -> rpc -> the same body

Two processes, as the gateway and a service are, so the figure includes the same hop.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402 (nameko's own runner does this first too)

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402

from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.web.handlers import http  # noqa: E402


class Echo:
    name = "bench_echo"

    @rpc
    def echo(self, value):
        return value


class EchoHttp:
    name = "bench_echo_http"
    echo = RpcProxy("bench_echo")

    @http("POST", "/echo")
    def post(self, request):
        answer = self.echo.echo(json.loads(request.get_data(as_text=True)))
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m devtools.echo")
    parser.add_argument("side", choices=("rpc", "http"))
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=10, help="nameko max_workers (the services' default)")
    args = parser.parse_args(argv)
    config = {"AMQP_URI": args.amqp, "WEB_SERVER_ADDRESS": "127.0.0.1:%d" % args.port,
              "max_workers": args.workers}
    runner = ServiceRunner(config)
    runner.add_service(Echo if args.side == "rpc" else EchoHttp)
    stopping = eventlet.event.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.send(True) if not stopping.ready() else None)
    signal.signal(signal.SIGINT, lambda *_: stopping.send(True) if not stopping.ready() else None)
    runner.start()
    print("echo %s ready" % args.side, flush=True)
    stopping.wait()
    runner.stop()


if __name__ == "__main__":
    main()
