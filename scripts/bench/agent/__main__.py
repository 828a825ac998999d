"""`python -m agent --host 127.0.0.1 --port 5055 --registry 127.0.0.1:5000`: moto's server with the agent
in the same process (see __init__.py). Runs until SIGTERM/SIGINT."""

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m agent", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5055)
    ap.add_argument("--registry", required=True, help="host:port of the registry standing in for ECR's")
    ap.add_argument("--registry-log", help="the registry's access log, read for the image pushes (registrylog.py)")
    ap.add_argument("--codebuild-image", default="cargo-fargate-bench/codebuild-standard:7.0",
                    help="the local stand-in for CodeBuild's aws/codebuild/* images (scripts/base-images.sh)")
    ap.add_argument("--codebuild-arm64-image", default="cargo-fargate-bench/codebuild-aarch64-standard:3.0",
                    help="the linux/arm64 stand-in for the ARM environment's aws/codebuild/*aarch64* images")
    args = ap.parse_args()

    # Before moto is imported: the bench's moto knows AWS managed policies, and its own URLs use our port.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("MOTO_PORT", str(args.port))
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    log = logging.getLogger("agent")

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from . import VERSION
    from .codebuild import MINUTE_PATH, CodeBuildAgent
    from .creds import PREFIX, Credentials
    from . import accounts, autoscaling, ecrsync, lb, listeners, oidc, record, rollout, shifting
    from .ecs import Agent
    from .engine import Engine
    from .metadata import PREFIX as METADATA_PREFIX, Metadata
    from .network import Network
    from .services import install as install_services
    from . import simulate

    endpoint = f"{args.host}:{args.port}"
    base_url = f"http://{endpoint}"
    engine = Engine(endpoint)
    removed = engine.remove_leftovers()
    network = Network(engine, args.port)
    gateway = network.ensure()
    credentials = Credentials(base_url)
    metadata = Metadata(base_url)
    agent = Agent(engine, credentials, args.registry, base_url, network, metadata)
    agent.install()
    codebuild = CodeBuildAgent(engine, credentials, args.registry, base_url, args.codebuild_image,
                               args.codebuild_arm64_image)
    codebuild.install()
    accounts.install()
    autoscaling.install()
    oidc.install()
    record.registry_log = args.registry_log
    ecrsync.install(args.registry, base_url)
    install_services()
    simulate.install()
    balancers = lb.Balancers(tempfile.mkdtemp(prefix=f"cargo-fargate-bench-lb-{args.port}-"))
    lb.install(balancers)
    balancers.listeners = listeners.Listeners(balancers)
    listeners.install(balancers.listeners)
    rollout.LBS.append(balancers)
    rollout.start(agent)

    moto_app = record.wrap(DomainDispatcherApplication(create_backend_app))

    def app(environ, start_response):
        """The agent's own paths; everything else is moto's."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            return credentials.wsgi(environ, start_response)
        if path == lb.PREFIX:
            return balancers.wsgi(environ, start_response)
        if path.startswith(METADATA_PREFIX):
            return metadata.wsgi(environ, start_response)
        if path == MINUTE_PATH and environ.get("REQUEST_METHOD") == "POST":
            return codebuild.wsgi_minute(environ, start_response)
        if path == shifting.MINUTE_PATH and environ.get("REQUEST_METHOD") == "POST":
            return shifting.wsgi_minute(environ, start_response)
        if path.startswith(ecrsync.PREFIX):
            return ecrsync.wsgi(environ, start_response)
        if path.startswith(accounts.PREFIX):
            return accounts.wsgi(environ, start_response)
        if path.startswith(record.PREFIX):
            return record.wsgi(environ, start_response)
        if path == "/_bench/agent":
            body = json.dumps({"agent": "cargo-fargate-bench", "version": VERSION}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return moto_app(environ, start_response)

    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    # The same app on the bench network's gateway, which only the host and the tasks' namespaces reach:
    # their forwarders (network.py) bring it to the tasks' loopback.
    bridge = make_server(gateway, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=bridge.serve_forever, name="bridge-server", daemon=True).start()

    def shutdown(signum, frame):
        log.info("signal %s: exiting", signum)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("moto + agent on %s and %s:%d for the tasks (registry %s, its log %s; %d leftover containers removed)", base_url, gateway, args.port, args.registry,
             args.registry_log or "not read", removed)
    server.serve_forever()


if __name__ == "__main__":
    main()
