import argparse

import uvicorn

from sandbox.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every ERP Sync vendor sandbox in one process.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
